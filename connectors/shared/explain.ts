import type { Decision, MetricVerdict } from '../../src/contracts/decision.js';
import type { Notification } from '../../src/contracts/connector.js';

/**
 * Human explanations of decisions, shared by every notifier and the CLI. Pure functions of the decision:
 * decisions carry no secrets, and nothing here adds any. Numbers: ratios with 2 decimals, probabilities
 * with 2 significant digits (or "<0.0001"), counts with thousands separators.
 */
export interface Explanation {
  title: string;
  lines: string[];
}

/** A ratio with 2 decimals; "∞" for an unbounded side, "n/a" when missing or not a number. */
export function formatRatio(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return 'n/a';
  if (x === Infinity) return '∞';
  if (x === -Infinity) return '-∞';
  return x.toFixed(2);
}

/** A p-value or alpha with 2 significant digits, "<0.0001" below that; "n/a" when not a number. */
export function formatProbability(p: number): string {
  if (Number.isNaN(p)) return 'n/a';
  if (p < 0.0001) return '<0.0001';
  return p.toPrecision(2);
}

export function formatCount(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

/** "checkout" or "checkout /pay" when the analysis is per route. */
export function subjectOf(d: Decision): string {
  return d.route ? `${d.service} ${d.route}` : d.service;
}

/**
 * The verdicts that made the decision: for a rollback the failing metrics, for a promote every metric;
 * shadow metrics never decide. An abandoned analysis has none (the canary went silent).
 */
export function decidingVerdicts(d: Decision): MetricVerdict[] {
  const acting = d.verdicts.filter((v) => !v.shadow);
  if (d.outcome === 'rollback') return acting.filter((v) => v.phase === 'fail');
  if (d.outcome === 'promote') return acting;
  return [];
}

/** Every verdict that `decidingVerdicts` leaves out (shadow metrics included, marked as such). */
export function otherVerdicts(d: Decision): MetricVerdict[] {
  const deciding = new Set(decidingVerdicts(d));
  return d.verdicts.filter((v) => !deciding.has(v));
}

/** "error-rate ratio canary/baseline 2.10 (bounds 1.45–3.05)", or "no estimate yet". */
export function describeEffect(v: MetricVerdict): string {
  if (v.estimate === undefined) return 'no estimate yet';
  const bounds = v.lower !== undefined || v.upper !== undefined
    ? ` (bounds ${formatRatio(v.lower)}–${formatRatio(v.upper)})`
    : '';
  return `${v.effect ?? 'ratio canary/baseline'} ${formatRatio(v.estimate)}${bounds}`;
}

export function describeEvidence(v: MetricVerdict): string {
  return `p-value ${formatProbability(v.pValue)} (alpha ${formatProbability(v.alpha)}), samples baseline ` +
    `${formatCount(v.samples.baseline)} / canary ${formatCount(v.samples.canary)}`;
}

/** One line per verdict: "error-rate: FAIL, <effect>, p-value … (alpha …), samples …". */
export function describeVerdict(v: MetricVerdict): string {
  const shadow = v.shadow ? ' (shadow, not acted on)' : '';
  return `${v.metric}: ${v.phase.toUpperCase()}${shadow}, ${describeEffect(v)}, ${describeEvidence(v)}`;
}

function briefVerdict(v: MetricVerdict): string {
  return `${v.metric} ${v.phase}${v.shadow ? ' (shadow)' : ''}`;
}

function titleOf(d: Decision): string {
  const who = subjectOf(d);
  const prefix = d.dryRun ? '[dry-run] ' : '';
  switch (d.outcome) {
    case 'rollback':
      return `${prefix}Rollback ${who}: canary ${d.canaryVersion} is worse than baseline ${d.baselineVersion}`;
    case 'promote':
      return `${prefix}Promote ${who}: canary ${d.canaryVersion} holds up against baseline ${d.baselineVersion}`;
    case 'abandoned':
      return `${prefix}Abandoned ${who}: analysis of canary ${d.canaryVersion} ended without a verdict`;
  }
}

/** What the plan does about the decision, in one line. */
export function describePlan(d: Decision): string {
  if (d.outcome !== 'rollback') return 'No action: nothing is rolled back.';
  const plan = d.plan.length > 0 ? d.plan.join(' → ') : '(none configured)';
  if (d.dryRun) return `Dry run: the rollback plan ${plan} is NOT applied; no connector is touched.`;
  return `Rollback plan: ${plan}.`;
}

/** Title and lines explaining a decision: why, the numbers behind it, and what the plan does. */
export function explainDecision(d: Decision): Explanation {
  const lines = [
    d.reason,
    `${subjectOf(d)}: canary ${d.canaryVersion} vs baseline ${d.baselineVersion}, look ${d.look}, ` +
      `analysis ${d.analysis}.`,
  ];
  for (const v of decidingVerdicts(d)) lines.push(describeVerdict(v));
  const others = otherVerdicts(d);
  if (others.length > 0) lines.push(`Other metrics: ${others.map(briefVerdict).join(', ')}.`);
  lines.push(describePlan(d));
  lines.push(`Decision ${d.id}, config ${d.configHash}.`);
  return { title: titleOf(d), lines };
}

/** What an operator should know after a failed step (DESIGN.md: a permanent failure stops the plan). */
export const FAILURE_ADVICE =
  'The plan stopped at this step: the canary may still be serving; fix the connector and retry, or roll back by hand.';

/** "Connector X failed: <error> [CODE]" for an action-failed notification. */
export function describeFailureCause(n: Notification): string {
  if (!n.failure) return 'A rollback step failed (no detail recorded)';
  const code = n.failure.code ? ` [${n.failure.code}]` : '';
  return `Connector ${n.failure.connector} failed: ${n.failure.error}${code}`;
}

/** What went wrong and what it means, for an action-failed notification. */
export function describeFailure(n: Notification): string {
  return `${describeFailureCause(n)}. ${FAILURE_ADVICE}`;
}

export function describeStep(s: { connector: string; changed: boolean; detail: string }): string {
  return `${s.connector}: ${s.changed ? 'changed' : 'already in place'}, ${s.detail}`;
}

/** The decision's explanation, adapted to the notification kind (failure first, steps, link last). */
export function explainNotification(n: Notification): Explanation {
  const base = explainDecision(n.decision);
  const prefix = n.decision.dryRun ? '[dry-run] ' : '';
  const who = subjectOf(n.decision);
  let title = base.title;
  let lines = base.lines;
  if (n.kind === 'action-failed') {
    const connector = n.failure ? `: connector ${n.failure.connector}` : '';
    title = `${prefix}Rollback of ${who} canary ${n.decision.canaryVersion} FAILED${connector}`;
    lines = [describeFailure(n), ...lines];
  } else if (n.kind === 'plan-completed') {
    title = `${prefix}Rolled back ${who}: canary ${n.decision.canaryVersion} → baseline ${n.decision.baselineVersion}`;
    lines = [...lines, ...(n.steps ?? []).map((s) => `Step ${describeStep(s)}`)];
  }
  if (n.link) lines = [...lines, `Details: ${n.link}`];
  return { title, lines };
}
