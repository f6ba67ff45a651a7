import { createHash } from 'node:crypto';
import type { Notification } from '../../src/contracts/connector.js';
import type { MetricVerdict } from '../../src/contracts/decision.js';
import { decidingVerdicts, subjectOf } from '../shared/explain.js';
import { notificationView } from '../shared/notification-view.js';
import { truncate } from './slack-message.js';

/**
 * PagerDuty Events API v2 (alert events) limits: `payload.summary` at most 1024 characters, `dedup_key` at
 * most 255, the whole event at most 512 KB. Texts in `custom_details` are cut so a decision with many
 * metrics stays far below that: at most `maxMetrics` metrics, texts of at most `detailText` characters.
 */
export const PAGERDUTY_LIMITS = {
  summary: 1024,
  dedupKey: 255,
  source: 255,
  detailText: 2000,
  explanation: 8000,
  maxMetrics: 50,
} as const;

export type Severity = 'critical' | 'error' | 'warning' | 'info';

export interface PagerDutyTrigger {
  routing_key: string;
  event_action: 'trigger';
  dedup_key: string;
  payload: {
    summary: string;
    source: string;
    severity: Severity;
    timestamp: string;
    component: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
  client: 'Vigil';
  client_url?: string;
  links?: { href: string; text: string }[];
}

export interface PagerDutyResolve {
  routing_key: string;
  event_action: 'resolve';
  dedup_key: string;
}

export type PagerDutyEvent = PagerDutyTrigger | PagerDutyResolve;

export interface PagerDutyEventOptions {
  routingKey: string;
  /** Severity of a rollback (and of its completed plan); a failed step is always critical. */
  severity: Severity;
  source?: string;
  onAbandoned: 'ignore' | 'trigger';
  resolveAfterRollback: boolean;
  dryRun: boolean;
  /** Unix ms: the timestamp of failure and completion events (a decision uses its own event time). */
  nowMs: number;
}

/** The analysis id, or a hash of it when it is longer than PagerDuty accepts (kept stable either way). */
export function dedupKeyOf(analysisId: string): string {
  if (analysisId.length <= PAGERDUTY_LIMITS.dedupKey) return analysisId;
  return `${analysisId.slice(0, 180)}…sha256:${createHash('sha256').update(analysisId).digest('hex')}`;
}

/** The explanation lines, each cut, joined until the budget is spent: O(budget), whatever the decision. */
function explanationOf(lines: string[]): string {
  let out = '';
  for (const line of lines) {
    const next =
      out === ''
        ? truncate(line, PAGERDUTY_LIMITS.detailText)
        : `${out}\n${truncate(line, PAGERDUTY_LIMITS.detailText)}`;
    if (next.length > PAGERDUTY_LIMITS.explanation) return truncate(next, PAGERDUTY_LIMITS.explanation);
    out = next;
  }
  return out;
}

/** JSON has no Infinity: unbounded sides are written "Infinity" / "-Infinity", missing values null. */
function num(x: number | undefined): number | string | null {
  if (x === undefined || Number.isNaN(x)) return null;
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  return x;
}

function metricDetails(v: MetricVerdict): Record<string, unknown> {
  return {
    metric: truncate(v.metric, 200),
    detector: truncate(v.detector, 200),
    phase: v.phase,
    shadow: v.shadow,
    effect: v.effect === undefined ? null : truncate(v.effect, 200),
    estimate: num(v.estimate),
    lower: num(v.lower),
    upper: num(v.upper),
    p_value: num(v.pValue),
    alpha: num(v.alpha),
    samples_baseline: v.samples.baseline,
    samples_canary: v.samples.canary,
    summary: truncate(v.summary, 500),
  };
}

/**
 * The event for one notification, or undefined when nothing is sent:
 * - decision rollback → trigger (`severity`); promote → resolve; abandoned → nothing, or a `warning`
 *   trigger with `onAbandoned: trigger`;
 * - action-failed → trigger, critical (the plan stopped: a human must act);
 * - plan-completed → trigger (`severity`): PagerDuty appends it to the open alert's log; with
 *   `resolveAfterRollback` it resolves the alert instead.
 * `dedup_key` is the analysis id, so every event of one canary lands on one alert. A dry run triggers with
 * severity `info` and a "[dry-run]" summary. Pure.
 */
export function buildPagerDutyEvent(n: Notification, opts: PagerDutyEventOptions): PagerDutyEvent | undefined {
  const v = notificationView(n, { dryRun: opts.dryRun, maxMetrics: PAGERDUTY_LIMITS.maxMetrics });
  const d = v.decision;
  const dedup = dedupKeyOf(d.analysis);
  const resolve = (): PagerDutyResolve => ({ routing_key: opts.routingKey, event_action: 'resolve', dedup_key: dedup });

  let severity: Severity;
  if (n.kind === 'decision') {
    if (d.outcome === 'promote') return resolve();
    if (d.outcome === 'abandoned' && opts.onAbandoned === 'ignore') return undefined;
    severity = d.outcome === 'abandoned' ? 'warning' : opts.severity;
  } else if (n.kind === 'plan-completed') {
    if (opts.resolveAfterRollback) return resolve();
    severity = opts.severity;
  } else {
    severity = 'critical';
  }
  if (d.dryRun) severity = 'info';

  const deciding = decidingVerdicts(d);
  const details: Record<string, unknown> = {
    explanation: explanationOf([v.title, ...v.lines]),
    kind: n.kind,
    outcome: d.outcome,
    dry_run: d.dryRun,
    service: d.service,
    ...(d.route ? { route: d.route } : {}),
    canary_version: d.canaryVersion,
    baseline_version: d.baselineVersion,
    analysis: d.analysis,
    decision: d.id,
    look: d.look,
    config_hash: d.configHash,
    plan: d.plan,
    metrics: d.verdicts.slice(0, PAGERDUTY_LIMITS.maxMetrics).map(metricDetails),
  };
  if (v.confidence) details.confidence = v.confidence;
  if (n.kind === 'action-failed' && n.failure) {
    details.failure = {
      connector: n.failure.connector,
      error: truncate(n.failure.error, PAGERDUTY_LIMITS.detailText),
      ...(n.failure.code ? { code: n.failure.code } : {}),
    };
    details.advice = v.failure?.advice;
  }
  if (n.kind === 'plan-completed' && n.steps) {
    details.steps = n.steps.map((s) => ({
      connector: s.connector,
      changed: s.changed,
      detail: truncate(s.detail, PAGERDUTY_LIMITS.detailText),
    }));
  }

  const event: PagerDutyTrigger = {
    routing_key: opts.routingKey,
    event_action: 'trigger',
    dedup_key: dedup,
    payload: {
      summary: truncate(v.title, PAGERDUTY_LIMITS.summary),
      source: truncate(opts.source ?? subjectOf(d), PAGERDUTY_LIMITS.source),
      severity,
      timestamp: new Date(n.kind === 'decision' ? d.eventTimeUnixMs : opts.nowMs).toISOString(),
      component: truncate(d.service, PAGERDUTY_LIMITS.source),
      class: truncate(
        deciding.length > 0 ? deciding.map((x) => x.metric).join(', ') : `canary ${d.outcome}`,
        PAGERDUTY_LIMITS.source,
      ),
      custom_details: details,
    },
    client: 'Vigil',
  };
  if (v.link) {
    event.client_url = v.link;
    event.links = [{ href: v.link, text: `Decision ${d.id} in Vigil` }];
  }
  return event;
}
