import type { Decision } from '../../src/contracts/decision.js';
import type { Notification } from '../../src/contracts/connector.js';
import {
  FAILURE_ADVICE,
  decidingVerdicts,
  describeConfidence,
  describeEffect,
  describeEvidence,
  describeFailureCause,
  describePlan,
  describeStep,
  explainNotification,
  formatCount,
  otherVerdicts,
  subjectOf,
} from './explain.js';

/**
 * What every chat notifier shows, as plain (unescaped, unformatted) strings: each vendor builder escapes
 * and lays these out in its own format. Built from explain.ts, so all notifiers explain a decision the same
 * way: title, the reason (for action-failed: which connector failed, its error and what that means), the
 * facts (service, outcome, versions, look, analysis), one entry per deciding metric (effect with bounds,
 * p-value, alpha, samples), the one confidence statement for all their bounds, the other metrics, what the plan
 * does / did, the link and the footer.
 */
export interface NotificationView {
  /** The decision as shown: `dryRun` set when the delivery is a dry run. */
  decision: Decision;
  title: string;
  /** Drives colours: danger (rollback, failed step), warning (rolled back), good (promote), neutral. */
  tone: 'danger' | 'warning' | 'good' | 'neutral';
  /** For action-failed: "Connector X failed: <error> [CODE]" and the advice; absent otherwise. */
  failure?: { cause: string; advice: string };
  reason: string;
  facts: { label: string; value: string }[];
  /** Deciding metrics, at most `maxMetrics`; `moreMetrics` counts the ones left out. */
  metrics: { name: string; detector: string; phase: string; effect: string; evidence: string; summary?: string }[];
  moreMetrics: number;
  /** The message's one confidence level, stated once for the bounds of every metric (explain.ts
   *  `describeConfidence`); absent when no metric shown has bounds. Builders show it after the metrics. */
  confidence?: string;
  /** "latency inconclusive, latency-p99 fail (shadow)", or undefined when there are none. */
  otherMetrics?: string;
  action: PlanView;
  /** The decision link, only when it is an absolute http(s) URL. */
  link?: string;
  decisionId: string;
  configHash: string;
  dryRun: boolean;
  /** The whole explanation as plain lines (fallback texts, PagerDuty details). */
  lines: string[];
}

/** Steps done (plan-completed), the plan with the failed step marked (action-failed), or one line. */
export type PlanView =
  | { kind: 'steps'; steps: string[] }
  | { kind: 'plan'; steps: { connector: string; failed: boolean }[] }
  | { kind: 'text'; text: string };

export const DRY_RUN_NOTE = 'DRY RUN: decided and notified, nothing was changed';

/** The URL if it is an absolute http(s) URL (links in chat must never be javascript: or data:). */
export function safeHttpUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

function toneOf(n: Notification, d: Decision): NotificationView['tone'] {
  if (n.kind === 'action-failed') return 'danger';
  if (n.kind === 'plan-completed') return 'warning';
  if (d.outcome === 'rollback') return 'danger';
  return d.outcome === 'promote' ? 'good' : 'neutral';
}

function planView(n: Notification, d: Decision): PlanView {
  if (n.kind === 'plan-completed' && n.steps && n.steps.length > 0)
    return { kind: 'steps', steps: n.steps.map(describeStep) };
  const failed = n.kind === 'action-failed' ? n.failure?.connector : undefined;
  if (failed !== undefined && d.plan.includes(failed)) {
    return { kind: 'plan', steps: d.plan.map((c) => ({ connector: c, failed: c === failed })) };
  }
  return { kind: 'text', text: describePlan(d) };
}

/**
 * The view of one notification. `dryRun` marks it as a dry run even when the decision itself was not
 * one (the delivery context says so). Pure; O(verdicts + plan).
 */
export function notificationView(n: Notification, opts: { dryRun: boolean; maxMetrics: number }): NotificationView {
  const d: Decision = opts.dryRun && !n.decision.dryRun ? { ...n.decision, dryRun: true } : n.decision;
  const note: Notification = { ...n, decision: d };
  const explained = explainNotification(note);
  const deciding = decidingVerdicts(d);
  const others = otherVerdicts(d);
  const view: NotificationView = {
    decision: d,
    title: explained.title,
    tone: toneOf(note, d),
    reason: d.reason,
    facts: [
      { label: 'Service', value: subjectOf(d) },
      { label: 'Outcome', value: d.dryRun ? `${d.outcome} (dry run)` : d.outcome },
      { label: 'Canary', value: d.canaryVersion },
      { label: 'Baseline', value: d.baselineVersion },
      { label: 'Look', value: formatCount(d.look) },
      { label: 'Analysis', value: d.analysis },
    ],
    metrics: deciding.slice(0, opts.maxMetrics).map((v) => ({
      name: v.metric,
      detector: v.detector,
      phase: v.phase.toUpperCase(),
      effect: describeEffect(v),
      evidence: describeEvidence(v),
      ...(v.summary ? { summary: v.summary } : {}),
    })),
    moreMetrics: Math.max(0, deciding.length - opts.maxMetrics),
    action: planView(note, d),
    decisionId: d.id,
    configHash: d.configHash,
    dryRun: d.dryRun,
    lines: explained.lines,
  };
  if (note.kind === 'action-failed') view.failure = { cause: describeFailureCause(note), advice: FAILURE_ADVICE };
  const confidence = describeConfidence(d);
  if (confidence !== undefined) view.confidence = confidence;
  if (others.length > 0)
    view.otherMetrics = others.map((v) => `${v.metric} ${v.phase}${v.shadow ? ' (shadow)' : ''}`).join(', ');
  const link = safeHttpUrl(note.link);
  if (link !== undefined) view.link = link;
  return view;
}

/** "…and 3 more metrics (see the decision record)." */
export function moreMetricsLine(count: number): string {
  return `…and ${count} more metric${count === 1 ? '' : 's'} (see the decision record).`;
}

/**
 * Builds a payload with per-text limits from `TEXT_LIMITS`, largest first, and returns the first one whose
 * `size` fits `max` (bytes or characters, as the vendor counts). Each step roughly halves every long text,
 * so a pathological decision still posts, cut; the last (smallest) attempt is returned even if too big,
 * and the vendor's 4xx then says so. O(steps × payload size).
 */
export function fitWithin<T>(build: (textLimit: number) => T, size: (payload: T) => number, max: number): T {
  let payload = build(TEXT_LIMITS[0]);
  for (const limit of TEXT_LIMITS.slice(1)) {
    if (size(payload) <= max) return payload;
    payload = build(limit);
  }
  return payload;
}

export const TEXT_LIMITS = [4000, 1000, 400, 160, 80] as const;

/** UTF-8 size of a payload serialised as JSON (what vendors with byte limits count). */
export function jsonBytes(payload: unknown): number {
  return Buffer.byteLength(JSON.stringify(payload), 'utf8');
}
