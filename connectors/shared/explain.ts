import type { Decision, MetricVerdict } from '../../src/contracts/decision.js';
import type { DecisionNotification, OperatorNotification } from '../../src/contracts/connector.js';

/**
 * Human explanations of decisions, shared by every notifier and the CLI. Pure functions of the decision:
 * decisions carry no secrets, and nothing here adds any. Numbers: ratios with 2 decimals, probabilities
 * with 2 significant digits (or "<0.0001"), counts with thousands separators. A value that is missing or not a
 * number is left out (never "n/a"); an infinite bound reads "unbounded above" / "unbounded below".
 *
 * Confidence: a message states ONE level, the family-wise level of the decision's alpha split
 * (`describeConfidence`): each side of a metric's bounds is one-sided at its alpha_i (src/contracts/detector.ts), the
 * alpha_i of the acting metrics sum to the analysis' alpha (Bonferroni), so all lower bounds hold together with
 * confidence 1 - alpha, and so do all upper bounds. Per-metric texts (bounds, detector summaries) state no level.
 */
export interface Explanation {
  title: string;
  lines: string[];
}

/** A finite ratio with 2 decimals (callers word missing and infinite values: `describeBounds`). */
export function formatRatio(x: number): string {
  return x.toFixed(2);
}

/** A finite p-value or alpha with 2 significant digits, "<0.0001" below that (callers leave out NaN). */
export function formatProbability(p: number): string {
  if (p < 0.0001) return '<0.0001';
  return p.toPrecision(2);
}

/** A count with thousands separators; "unknown" when not a finite number. */
export function formatCount(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'unknown';
}

/** A confidence level in percent from the probability that it misses: 0.05 → "95%", 0.025 → "97.5%". */
export function formatConfidence(miss: number): string {
  const pct = (100 * (1 - miss)).toFixed(2).replace(/\.?0+$/, '');
  return `${pct}%`;
}

function isNumber(x: number | undefined): x is number {
  return x !== undefined && !Number.isNaN(x);
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

/**
 * A verdict's bounds in words, without a confidence level (the message states it once: `describeConfidence`):
 * "bounds 1.45–3.05"; an infinite side reads "unbounded above" / "unbounded below" ("at least 1.21, unbounded
 * above"); a missing (or NaN) side is left out ("at least 1.45"); undefined when the verdict has no bound.
 */
export function describeBounds(v: Pick<MetricVerdict, 'lower' | 'upper'>): string | undefined {
  const lo = isNumber(v.lower) ? v.lower : undefined;
  const hi = isNumber(v.upper) ? v.upper : undefined;
  const loFinite = lo !== undefined && Number.isFinite(lo);
  const hiFinite = hi !== undefined && Number.isFinite(hi);
  if (loFinite && hiFinite) return `bounds ${formatRatio(lo)}–${formatRatio(hi)}`;
  const parts: string[] = [];
  if (loFinite) parts.push(`at least ${formatRatio(lo)}`);
  if (hiFinite) parts.push(`at most ${formatRatio(hi)}`);
  if (lo === -Infinity) parts.push('unbounded below');
  if (hi === Infinity) parts.push('unbounded above');
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/** True when `describeBounds` says something about this verdict. */
export function hasBounds(v: Pick<MetricVerdict, 'lower' | 'upper'>): boolean {
  return describeBounds(v) !== undefined;
}

/**
 * "error-rate ratio canary/baseline 2.10 (bounds 1.45–3.05)", "… 1.52 (at least 1.21, unbounded above)",
 * "…: no point estimate (at least 11.44)" when only bounds exist, or "no estimate yet". A verdict that says which
 * way is worse ends with it: "conversion ratio canary/baseline 0.83 (bounds 0.71–0.95): lower is worse".
 */
export function describeEffect(v: MetricVerdict): string {
  const bounds = describeBounds(v);
  const within = bounds === undefined ? '' : ` (${bounds})`;
  const what = v.effect ?? 'ratio canary/baseline';
  const worse = v.worse === undefined ? '' : `: ${v.worse} is worse`;
  if (!isNumber(v.estimate)) return bounds === undefined ? 'no estimate yet' : `${what}: no point estimate${within}`;
  if (!Number.isFinite(v.estimate))
    return `${what} ${v.estimate > 0 ? 'unbounded above' : 'unbounded below'}${within}${worse}`;
  return `${what} ${formatRatio(v.estimate)}${within}${worse}`;
}

/** "p-value 0.0031 (alpha 0.025), samples baseline 12,480 / canary 1,315"; a p-value or alpha that is not a
 *  number is left out. The p-value of a verdict that is not anytime-valid says so: "(alpha 0.025; not
 *  anytime-valid)". */
export function describeEvidence(v: MetricVerdict): string {
  const parts: string[] = [];
  if (isNumber(v.pValue)) {
    const notes = [
      ...(isNumber(v.alpha) ? [`alpha ${formatProbability(v.alpha)}`] : []),
      ...(v.anytimeValid === false ? ['not anytime-valid'] : []),
    ];
    parts.push(`p-value ${formatProbability(v.pValue)}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`);
  } else if (isNumber(v.alpha)) parts.push(`alpha ${formatProbability(v.alpha)}`);
  parts.push(`samples baseline ${formatCount(v.samples.baseline)} / canary ${formatCount(v.samples.canary)}`);
  // gauges: the unit of evidence is the instance (few instances, little power)
  if (v.instances !== undefined)
    parts.push(`instances baseline ${formatCount(v.instances.baseline)} / canary ${formatCount(v.instances.canary)}`);
  return parts.join(', ');
}

/**
 * The family-wise alpha of a decision: the sum of its acting (non-shadow) metrics' alpha_i, i.e. the analysis'
 * alpha the Bonferroni split came from. Undefined when no acting metric has an alpha in (0, 1).
 */
export function familyAlpha(d: Decision): { alpha: number; metrics: number } | undefined {
  const acting = d.verdicts.filter((v) => !v.shadow && isNumber(v.alpha) && v.alpha >= 0);
  const alpha = acting.reduce((sum, v) => sum + v.alpha, 0);
  if (acting.length === 0 || !(alpha > 0 && alpha < 1)) return undefined;
  return { alpha, metrics: acting.length };
}

/**
 * The one confidence statement of a message, or undefined when the message shows no bound (no deciding metric has
 * one) or the decision has no alpha split. One level for every metric of the decision, derived from the split:
 * each side of each acting metric's bounds misses with probability at most alpha_i, so the lower bounds hold
 * together with confidence 1 - sum(alpha_i) = 1 - alpha, and so do the upper bounds (at every look: the bounds are
 * anytime-valid). A two-sided statement about both sides of every metric would hold at 1 - 2 alpha; this one is
 * the level that matters for the decision (lower bounds for a rollback, upper bounds for a promote).
 */
export function describeConfidence(d: Decision): string | undefined {
  if (!decidingVerdicts(d).some(hasBounds)) return undefined;
  const family = familyAlpha(d);
  if (family === undefined) return undefined;
  const level = formatConfidence(family.alpha);
  const alpha = formatProbability(family.alpha);
  if (family.metrics === 1) {
    return `Confidence: the lower bound holds with ${level} confidence, and so does the upper bound (alpha ${alpha}; anytime-valid).`;
  }
  return (
    `Confidence: all lower bounds hold together with ${level} confidence, and so do all upper bounds ` +
    `(alpha ${alpha} split across ${family.metrics} acting metrics; anytime-valid).`
  );
}

/**
 * The caution of a decision that a detector which is not anytime-valid took part in (a deciding verdict marked
 * `anytimeValid: false`, acting by `acknowledgeNotAnytimeValid: true`), or undefined: "Not anytime-valid:
 * latency-kayenta (kayenta-mann-whitney) acts though its false alarms grow with the number of looks
 * (acknowledgeNotAnytimeValid: true): alpha does not bound them, so this rollback may be a false alarm."
 * For a promote: "…: its pass carries no anytime-valid guarantee."
 */
export function describeValidity(d: Decision): string | undefined {
  const invalid = decidingVerdicts(d).filter((v) => v.anytimeValid === false);
  if (invalid.length === 0) return undefined;
  const who = invalid.map((v) => `${v.metric} (${v.detector})`).join(', ');
  const verb = invalid.length === 1 ? 'acts though its' : 'act though their';
  const risk =
    d.outcome === 'rollback'
      ? 'alpha does not bound them, so this rollback may be a false alarm'
      : `${invalid.length === 1 ? 'its pass carries' : 'their passes carry'} no anytime-valid guarantee`;
  return `Not anytime-valid: ${who} ${verb} false alarms grow with the number of looks (acknowledgeNotAnytimeValid: true): ${risk}.`;
}

/** One line per verdict: "error-rate: FAIL, <effect>, p-value … (alpha …), samples …". */
export function describeVerdict(v: MetricVerdict): string {
  const shadow = v.shadow ? ' (shadow, not acted on)' : '';
  return `${v.metric}: ${v.phase.toUpperCase()}${shadow}, ${describeEffect(v)}, ${describeEvidence(v)}`;
}

function briefVerdict(v: MetricVerdict): string {
  return `${v.metric} ${v.phase}${v.shadow ? ' (shadow)' : ''}`;
}

/** A wall-clock instant as ISO 8601 (UTC), or "an unknown time" when it is not a finite number. */
export function formatInstant(unixMs: number): string {
  return Number.isFinite(unixMs) ? new Date(unixMs).toISOString() : 'an unknown time';
}

/** "alice (token ops-bot)": who acted by hand, and the name of the API token they used. */
export function describeOperator(who: { by: string; token: string }): string {
  return `${who.by} (token ${who.token})`;
}

/** "by hand (alice)" for a decision an operator took, or undefined for the detectors' decisions. */
function byHand(d: Decision): string | undefined {
  return d.manual ? `by hand (${d.manual.by})` : undefined;
}

function titleOf(d: Decision): string {
  const who = subjectOf(d);
  const prefix = `${d.drill ? '[DRILL] ' : ''}${d.dryRun ? '[dry-run] ' : ''}`;
  const hand = byHand(d);
  switch (d.outcome) {
    case 'rollback':
      return hand
        ? `${prefix}Rollback ${hand}: ${who} canary ${d.canaryVersion} → baseline ${d.baselineVersion}`
        : `${prefix}Rollback ${who}: canary ${d.canaryVersion} is worse than baseline ${d.baselineVersion}`;
    case 'promote':
      return hand
        ? `${prefix}Promoted ${hand}: ${who} canary ${d.canaryVersion}`
        : `${prefix}Promote ${who}: canary ${d.canaryVersion} holds up against baseline ${d.baselineVersion}`;
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
  const lines = [d.reason];
  if (d.manual) lines.push(`By hand: ${describeOperator(d.manual)}, at ${formatInstant(d.manual.atUnixMs)}.`);
  lines.push(
    `${subjectOf(d)}: canary ${d.canaryVersion} vs baseline ${d.baselineVersion}, look ${d.look}, ` +
      `analysis ${d.analysis}.`,
  );
  for (const v of decidingVerdicts(d)) lines.push(describeVerdict(v));
  const validity = describeValidity(d);
  if (validity !== undefined) lines.push(validity);
  const confidence = describeConfidence(d);
  if (confidence !== undefined) lines.push(confidence);
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
export function describeFailureCause(n: DecisionNotification): string {
  if (!n.failure) return 'A rollback step failed (no detail recorded)';
  const code = n.failure.code ? ` [${n.failure.code}]` : '';
  return `Connector ${n.failure.connector} failed: ${n.failure.error}${code}`;
}

/** What went wrong and what it means, for an action-failed notification. */
export function describeFailure(n: DecisionNotification): string {
  return `${describeFailureCause(n)}. ${FAILURE_ADVICE}`;
}

export function describeStep(s: { connector: string; changed: boolean; detail: string }): string {
  return `${s.connector}: ${s.changed ? 'changed' : 'already in place'}, ${s.detail}`;
}

/** The decision's explanation, adapted to the notification kind (failure first, steps, link last). */
export function explainNotification(n: DecisionNotification): Explanation {
  const base = explainDecision(n.decision);
  const prefix = n.decision.dryRun ? '[dry-run] ' : '';
  const who = subjectOf(n.decision);
  const hand = byHand(n.decision);
  let title = base.title;
  let lines = base.lines;
  if (n.kind === 'action-failed') {
    const connector = n.failure ? `: connector ${n.failure.connector}` : '';
    const rollback = hand ? `Rollback ${hand} of` : 'Rollback of';
    title = `${prefix}${rollback} ${who} canary ${n.decision.canaryVersion} FAILED${connector}`;
    lines = [describeFailure(n), ...lines];
  } else if (n.kind === 'plan-completed') {
    const rolledBack = hand ? `Rolled back ${hand}: ${who} canary` : `Rolled back ${who}: canary`;
    title = `${prefix}${rolledBack} ${n.decision.canaryVersion} → baseline ${n.decision.baselineVersion}`;
    lines = [...lines, ...(n.steps ?? []).map((s) => `Step ${describeStep(s)}`)];
  }
  if (n.link) lines = [...lines, `Details: ${n.link}`];
  return { title, lines };
}

/** "25%", or "no share yet" before the plan set its first. */
const inPlace = (n: OperatorNotification): string =>
  n.promotion?.inPlace == null ? 'no share yet' : `${n.promotion.inPlace}%`;

/** What happened, after "checkout canary 1.2.3: " in the title. */
function operatorHeadline(n: OperatorNotification): string {
  const o = n.operator;
  const share = n.promotion ? `${n.promotion.share}%` : 'the next step';
  switch (o.action) {
    case 'pause':
      return `analysis paused by ${o.by}`;
    case 'resume':
      return `analysis resumed by ${o.by}`;
    case 'approve':
      return `promotion to ${share} approved by ${o.by}`;
    case 'approval-needed':
      return `promotion to ${share} waits for an approval`;
    case 'promotion-held':
      return `promotion HELD at ${inPlace(n)}: ${share} could not be set`;
  }
}

/** What an action means for the analysis, in one sentence (two for a held promotion: what failed, what to do). */
export function describeOperatorEffect(n: OperatorNotification): string {
  const a = n.analysis;
  const share = n.promotion ? `${n.promotion.share}%` : 'the next step';
  switch (n.operator.action) {
    case 'pause':
      return 'Looks still run and are shown; nothing is decided until the analysis is resumed.';
    case 'approve':
      return `The promotion plan sets the canary share to ${share} at its next look.`;
    case 'approval-needed':
      return (
        `The canary stays at ${inPlace(n)} until someone approves ${share}: the dashboard's Approve, ` +
        `\`vigil approve ${a.id} --by <who> --reason <why>\`, or POST /api/v1/analyses/${a.id}/approve.`
      );
    case 'promotion-held': {
      const p = n.promotion;
      const cause = p?.connector ? `Connector ${p.connector} failed: ${p.error ?? 'no detail recorded'}. ` : '';
      return (
        `${cause}The canary stays at ${inPlace(n)}: the plan tries ${share} again at each look and never goes past a ` +
        'share that is not in place; fix the connector, or roll back by hand.'
      );
    }
    case 'resume':
      break;
  }
  if (a.phase === 'running') return 'The pause is lifted: the next look decides as usual.';
  return (
    `The earlier decision (${a.phase}) stands; canary ${a.canaryVersion} can be analysed again: ` +
    'a new analysis starts with its next requests.'
  );
}

/**
 * An operator's action or the promotion plan's call: the title "checkout canary 1.2.3: analysis paused by alice"
 * ("[dry-run] " first in a dry run), then why (verbatim), who with which token and when, what it means, the analysis, and the link.
 */
export function explainOperator(n: OperatorNotification): Explanation {
  const { operator: o, analysis: a } = n;
  const prefix = n.dryRun ? '[dry-run] ' : '';
  const lines = [
    `Why: ${o.reason}`,
    `By: ${describeOperator(o)}, at ${formatInstant(o.atUnixMs)}.`,
    describeOperatorEffect(n),
    `${a.service}: canary ${a.canaryVersion} vs baseline ${a.baselineVersion}, look ${a.look}, analysis ${a.id}.`,
  ];
  if (n.link) lines.push(`Details: ${n.link}`);
  return { title: `${prefix}${a.service} canary ${a.canaryVersion}: ${operatorHeadline(n)}`, lines };
}
