import { createHash } from 'node:crypto';
import type { DecisionNotification, Notification, OperatorNotification } from '../../src/contracts/connector.js';
import type { Decision, MetricVerdict } from '../../src/contracts/decision.js';
import { decidingVerdicts, formatInstant, subjectOf } from '../shared/explain.js';
import { decisionView, operatorView } from '../shared/notification-view.js';
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

/**
 * A change event (Events API v2, `POST /v2/change/enqueue`, same routing key): something changed that is not a
 * problem. PagerDuty notifies nobody; it lists the change on the service ("Recent Changes") and on its incidents.
 */
export interface PagerDutyChange {
  routing_key: string;
  payload: {
    summary: string;
    source: string;
    timestamp: string;
    custom_details: Record<string, unknown>;
  };
  links?: { href: string; text: string }[];
}

export type PagerDutyEvent = PagerDutyTrigger | PagerDutyResolve | PagerDutyChange;

/** True for an alert event (trigger, resolve: `/v2/enqueue`), false for a change event (`/v2/change/enqueue`). */
export function isAlertEvent(e: PagerDutyEvent): e is PagerDutyTrigger | PagerDutyResolve {
  return 'event_action' in e;
}

/** Where change events go: `change/enqueue` next to the alert events' `enqueue` (`url` resolved relative to it). */
export function changeEventsUrl(alertEventsUrl: string): string {
  return new URL('change/enqueue', alertEventsUrl).href;
}

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
 * - operator (an operator paused or resumed an analysis) → a change event: not an incident, nobody is paged;
 *   responders see it among the service's recent changes (`operatorChange`).
 * `dedup_key` is the analysis id, so every event of one canary lands on one alert. A dry run triggers with
 * severity `info` and a "[dry-run]" summary. A decision taken by hand carries `manual` (by, reason, token, at) in
 * `custom_details`. Pure.
 */
export function buildPagerDutyEvent(n: Notification, opts: PagerDutyEventOptions): PagerDutyEvent | undefined {
  return n.kind === 'operator' ? operatorChange(n, opts) : decisionEvent(n, opts);
}

/** Who took a decision by hand, why (verbatim), with which token and when; absent on the detectors' decisions. */
function manualDetails(d: Decision): Record<string, unknown> {
  if (!d.manual) return {};
  const { by, reason, token, atUnixMs } = d.manual;
  const cut = (x: string) => truncate(x, PAGERDUTY_LIMITS.detailText);
  return { manual: { by: cut(by), reason: cut(reason), token: cut(token), at: formatInstant(atUnixMs) } };
}

function decisionEvent(n: DecisionNotification, opts: PagerDutyEventOptions): PagerDutyEvent | undefined {
  const v = decisionView(n, { dryRun: opts.dryRun, maxMetrics: PAGERDUTY_LIMITS.maxMetrics });
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
    ...manualDetails(d),
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

/**
 * The change event of an operator's pause or resume: summary "checkout canary 1.2.3: analysis paused by alice"
 * ("[dry-run] " first in a dry run), `source` as for alerts, the time of the action, who, why (verbatim), the token
 * and the analysis in `custom_details`, the analysis link in `links`. Pure.
 */
function operatorChange(n: OperatorNotification, opts: PagerDutyEventOptions): PagerDutyChange {
  const v = operatorView(n, { dryRun: opts.dryRun });
  const { operator: o, analysis: a } = n;
  const event: PagerDutyChange = {
    routing_key: opts.routingKey,
    payload: {
      summary: truncate(v.title, PAGERDUTY_LIMITS.summary),
      source: truncate(opts.source ?? a.service, PAGERDUTY_LIMITS.source),
      timestamp: new Date(Number.isFinite(o.atUnixMs) ? o.atUnixMs : opts.nowMs).toISOString(),
      custom_details: {
        explanation: explanationOf([v.title, ...v.lines]),
        kind: n.kind,
        action: o.action,
        by: truncate(o.by, PAGERDUTY_LIMITS.detailText),
        reason: truncate(o.reason, PAGERDUTY_LIMITS.detailText),
        token: truncate(o.token, PAGERDUTY_LIMITS.detailText),
        dry_run: v.dryRun,
        service: a.service,
        canary_version: a.canaryVersion,
        baseline_version: a.baselineVersion,
        analysis: a.id,
        look: a.look,
        phase: a.phase,
        why: truncate(a.why, PAGERDUTY_LIMITS.detailText),
      },
    },
  };
  if (v.link) event.links = [{ href: v.link, text: `Analysis ${a.id} in Vigil` }];
  return event;
}
