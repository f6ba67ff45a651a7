import type { Decision } from '../../src/contracts/decision.js';
import type { DecisionNotification, Notification, OperatorNotification } from '../../src/contracts/connector.js';
import {
  FAILURE_ADVICE,
  decidingVerdicts,
  describeConfidence,
  describeEffect,
  describeEvidence,
  describeFailureCause,
  describeOperator,
  describeOperatorEffect,
  describePlan,
  describeStep,
  explainNotification,
  explainOperator,
  formatCount,
  otherVerdicts,
  subjectOf,
} from './explain.js';

/**
 * What every chat notifier shows, as plain (unescaped, unformatted) strings: each vendor builder escapes
 * and lays these out in its own format. Built from explain.ts, so all notifiers explain a notification the same
 * way: title, the lead (a decision's reason; for action-failed first which connector failed, its error and what
 * that means; for an operator's pause or resume what it means), the facts (By and Why of an action by hand, then
 * service, outcome, versions, look, analysis), one entry per deciding metric (effect with bounds, p-value, alpha,
 * samples), the one confidence statement for all their bounds, the other metrics, what the plan does / did, the link
 * and the footer. An operator's pause or resume has no metrics and no plan (`action` absent).
 */
export interface NotificationView {
  title: string;
  /** Drives colours: danger (rollback, failed step), warning (rolled back, paused), good (promote), neutral. */
  tone: 'danger' | 'warning' | 'good' | 'neutral';
  /** For action-failed: "Connector X failed: <error> [CODE]" and the advice; absent otherwise. */
  failure?: { cause: string; advice: string };
  /** The lead: the decision's reason, or what an operator's pause or resume means. */
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
  /** What the plan does or did; absent for an operator's pause or resume. */
  action?: PlanView;
  /** The link, only when it is an absolute http(s) URL: to the decision, or to the analysis an operator acted on. */
  link?: string;
  /** What the message is about (footer, link label): `heading` "Decision" or "Analysis", and its id. */
  ref: { heading: 'Decision' | 'Analysis'; id: string };
  /** Footer notes after the ref: "config <hash>" for a decision. */
  footnotes: string[];
  /** "checkout · canary v1.8.0 vs baseline v1.7.3" (card subtitles). */
  subtitle: string;
  /** The decision's event time, or when the operator acted (wall clock). */
  atUnixMs: number;
  /** What a chat thread groups: a decision's notifications (its id), or an analysis' pauses and resumes (its id). */
  threadId: string;
  dryRun: boolean;
  /** The dry-run marker of the footer (`DRY_RUN_NOTE`, or `OPERATOR_DRY_RUN_NOTE`). */
  dryRunNote: string;
  /** The whole explanation as plain lines (fallback texts, PagerDuty details). */
  lines: string[];
}

/** A decision's view: the decision as shown (`dryRun` set when the delivery is a dry run), and always a plan. */
export interface DecisionView extends NotificationView {
  decision: Decision;
  action: PlanView;
}

/** Steps done (plan-completed), the plan with the failed step marked (action-failed), or one line. */
export type PlanView =
  | { kind: 'steps'; steps: string[] }
  | { kind: 'plan'; steps: { connector: string; failed: boolean }[] }
  | { kind: 'text'; text: string };

export const DRY_RUN_NOTE = 'DRY RUN: decided and notified, nothing was changed';
export const OPERATOR_DRY_RUN_NOTE = 'DRY RUN: Vigil decides and notifies, it changes nothing';

/** "Decision dec-1" / "Analysis checkout:v1.8.0". */
export function refLabel(v: Pick<NotificationView, 'ref'>): string {
  return `${v.ref.heading} ${v.ref.id}`;
}

/** The text of a link button: "Open the decision" / "Open the analysis". */
export function openLinkText(v: Pick<NotificationView, 'ref'>): string {
  return `Open the ${v.ref.heading.toLowerCase()}`;
}

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

function toneOf(n: DecisionNotification, d: Decision): NotificationView['tone'] {
  if (n.kind === 'action-failed') return 'danger';
  if (n.kind === 'plan-completed') return 'warning';
  if (d.outcome === 'rollback') return 'danger';
  return d.outcome === 'promote' ? 'good' : 'neutral';
}

function planView(n: DecisionNotification, d: Decision): PlanView {
  if (n.kind === 'plan-completed' && n.steps && n.steps.length > 0)
    return { kind: 'steps', steps: n.steps.map(describeStep) };
  const failed = n.kind === 'action-failed' ? n.failure?.connector : undefined;
  if (failed !== undefined && d.plan.includes(failed)) {
    return { kind: 'plan', steps: d.plan.map((c) => ({ connector: c, failed: c === failed })) };
  }
  return { kind: 'text', text: describePlan(d) };
}

/** The facts of an action by hand, first in its message: "By: alice (token ops-bot)", "Why: <reason verbatim>". */
function byHandFacts(who: { by: string; reason: string; token: string }): NotificationView['facts'] {
  return [
    { label: 'By', value: describeOperator(who) },
    { label: 'Why', value: who.reason },
  ];
}

/** The decision as a delivery shows it: a dry-run delivery marks a decision that was not one as a dry run. */
export function shownDecision(d: Decision, dryRun: boolean): Decision {
  return dryRun && !d.dryRun ? { ...d, dryRun: true } : d;
}

/**
 * The view of one notification about a decision. `dryRun` marks it as a dry run even when the decision itself was
 * not one (the delivery context says so). Pure; O(verdicts + plan).
 */
export function decisionView(n: DecisionNotification, opts: { dryRun: boolean; maxMetrics: number }): DecisionView {
  const d = shownDecision(n.decision, opts.dryRun);
  const note: DecisionNotification = { ...n, decision: d };
  const explained = explainNotification(note);
  const deciding = decidingVerdicts(d);
  const others = otherVerdicts(d);
  const view: DecisionView = {
    decision: d,
    title: explained.title,
    tone: toneOf(note, d),
    reason: d.reason,
    facts: [
      ...(d.manual ? byHandFacts(d.manual) : []),
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
    ref: { heading: 'Decision', id: d.id },
    footnotes: [`config ${d.configHash}`],
    subtitle: `${subjectOf(d)} · canary ${d.canaryVersion} vs baseline ${d.baselineVersion}`,
    atUnixMs: d.eventTimeUnixMs,
    threadId: d.id,
    dryRun: d.dryRun,
    dryRunNote: DRY_RUN_NOTE,
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

const TONE: Record<OperatorNotification['operator']['action'], NotificationView['tone']> = {
  pause: 'warning',
  resume: 'neutral',
  approve: 'good',
  'approval-needed': 'warning',
  'promotion-held': 'danger',
};

/**
 * The view of an operator's action or the promotion plan's call: the title, what it means as the lead, By and Why, then service,
 * versions, look and analysis as facts; no metrics, no plan. `dryRun` as for a decision. Pure; O(1).
 */
export function operatorView(n: OperatorNotification, opts: { dryRun: boolean }): NotificationView {
  const note: OperatorNotification = opts.dryRun && !n.dryRun ? { ...n, dryRun: true } : n;
  const { operator: o, analysis: a } = note;
  const explained = explainOperator(note);
  const view: NotificationView = {
    title: explained.title,
    tone: TONE[o.action],
    reason: describeOperatorEffect(note),
    facts: [
      ...byHandFacts(o),
      { label: 'Service', value: a.service },
      { label: 'Canary', value: a.canaryVersion },
      { label: 'Baseline', value: a.baselineVersion },
      { label: 'Look', value: formatCount(a.look) },
      { label: 'Analysis', value: a.id },
    ],
    metrics: [],
    moreMetrics: 0,
    ref: { heading: 'Analysis', id: a.id },
    footnotes: [],
    subtitle: `${a.service} · canary ${a.canaryVersion} vs baseline ${a.baselineVersion}`,
    atUnixMs: o.atUnixMs,
    threadId: a.id,
    dryRun: note.dryRun,
    dryRunNote: OPERATOR_DRY_RUN_NOTE,
    lines: explained.lines,
  };
  const link = safeHttpUrl(note.link);
  if (link !== undefined) view.link = link;
  return view;
}

/** The view of any notification (`decisionView` or `operatorView`). */
export function notificationView(n: Notification, opts: { dryRun: boolean; maxMetrics: number }): NotificationView {
  return n.kind === 'operator' ? operatorView(n, opts) : decisionView(n, opts);
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
