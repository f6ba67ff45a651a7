/**
 * Promotion plans (issue 17, `rollouts[].promote`): the pure rule that walks a canary through its shares. Given the
 * plan, where the rollout stands and what the analysis's last look showed, it says what to do next; the agent does it
 * (sets the share through the connector, records it, waits for a person). No clock, no I/O.
 *
 * - A step is left only when the analysis has run `minLooksPerStep` looks at that share, each cohort has at least
 *   `minSamples` samples since the share was set, no acting metric failed (a failure is the decision engine's
 *   rollback, never a step), and no acting verdict holds promotion (srm: the split does not follow the set share).
 * - A step listed in `approve` waits for an approval recorded for that share before it is set.
 * - A share that could not be set (connector error) holds the rollout where it is: it never advances past a share
 *   that is not in place.
 * - At the last step (100%), once its looks and samples are in, the rollout is complete: the agent promotes.
 *
 * Where a rollout stands is kept in the analysis itself (`Analysis.promotion`, a PromotionRecord), so a checkpoint, a
 * restart and a cluster handover carry it. Each share set is a ShareSpan: the srm guard is told the share a look's
 * window was served at (`windowShare`), and nothing for a window a change may have split.
 */
import type { MetricVerdict } from '../contracts/index.js';
import type { PromotionView } from './analysis-types.js';
import { gateWorse, type StepGate } from './step-gate.js';

export interface PromotionPlan {
  via: string;
  /** Canary shares in percent, increasing, ending at 100. */
  steps: readonly number[];
  minLooksPerStep: number;
  /** Shares that wait for an approval. */
  approve: readonly number[];
}

/** Where a rollout stands: the share in place (index into steps; -1 before the first is set). */
export interface PromotionState {
  step: number;
  /** The analysis's look when the share in place was set. */
  sinceLook: number;
  /** Each cohort's samples (requests) at that look. */
  samplesAtStep: { baseline: number; canary: number };
  /** Shares approved (with who and why, kept by the agent). */
  approved: readonly number[];
  /** Set when the last attempt to set a share failed: the rollout holds until it is set. */
  failed?: { share: number; error: string };
}

export interface LookFacts {
  look: number;
  /** Running totals per cohort. */
  samples: { baseline: number; canary: number };
  verdicts: readonly MetricVerdict[];
  /** The step gate (step-gate.ts): looks it has seen at the current share, and the metrics that look worse there. */
  gate?: { looks: number; worse: readonly string[] };
}

export type PromotionAction =
  | { kind: 'set-share'; share: number; step: number }
  | { kind: 'await-approval'; share: number; step: number }
  | { kind: 'wait'; why: string }
  | { kind: 'hold'; why: string }
  | { kind: 'restart-gate'; why: string }
  | { kind: 'complete' };

/**
 * A canary share the plan set: the change happened after the look ending at `afterUnixMs` (requests before it were
 * served at the earlier share) and is certain for requests ending from `fromUnixMs` on (the service's latest event
 * time when the connector answered, plus the allowed lateness: what was still in flight then arrives within it).
 */
export interface ShareSpan {
  percent: number;
  afterUnixMs: number;
  fromUnixMs: number;
}

/** A rollout as the analysis keeps it (plain data: checkpoints serialise it). */
export interface PromotionRecord {
  /** The plan's shares (what the dashboard shows as "step 2 of 5"). */
  steps: readonly number[];
  state: PromotionState;
  /** The share waiting for an approval, while one is awaited. */
  awaiting?: number;
  /** Why it did not move at the last look ("1 of 6 looks at 5%"), absent once it moved. */
  why?: string;
  /** Every share set, oldest first (at most one per step: bounded by the plan). */
  shares: ShareSpan[];
  /** Moves at each share set and each restart of the step gate: the gate's evidence is that epoch's (step-gate.ts). */
  epoch: number;
}

/** What the API and the dashboard show of a rollout. */
export function promotionView(r: PromotionRecord, gate?: StepGate): PromotionView {
  const { step, approved } = r.state;
  const current = gate !== undefined && gate.epoch === r.epoch;
  return {
    steps: [...r.steps],
    share: step < 0 ? null : (r.steps[step] ?? null),
    ...(r.awaiting === undefined ? {} : { awaiting: r.awaiting }),
    approved: [...approved],
    ...(r.why === undefined ? {} : { why: r.why }),
    ...(current ? { gate: { looks: gate.looks, worse: gateWorse(gate) } } : {}),
  };
}

/** The record of a plan before its first share. */
export function newPromotion(plan: PromotionPlan): PromotionRecord {
  return { steps: [...plan.steps], state: initialPromotion(), shares: [], epoch: 0 };
}

/**
 * The expected canary share (a fraction strictly between 0 and 1) of the requests of a look's window [startMs,
 * endMs): the share set before the window started and not changed before it ended; `before` (the config's, or
 * undefined) for a window that ended before the first change; undefined for a window a change may have split, and
 * at 0% or 100% (nothing to test). O(shares).
 */
export function windowShare(
  shares: readonly ShareSpan[],
  startMs: number,
  endMs: number,
  before: number | undefined,
): number | undefined {
  for (let i = shares.length - 1; i >= 0; i--) {
    const s = shares[i]!;
    if (startMs < s.fromUnixMs) continue;
    const next = shares[i + 1];
    if (next !== undefined && endMs > next.afterUnixMs) return undefined;
    return s.percent > 0 && s.percent < 100 ? s.percent / 100 : undefined;
  }
  const first = shares[0];
  return first === undefined || endMs <= first.afterUnixMs ? before : undefined;
}

export function initialPromotion(): PromotionState {
  return { step: -1, sinceLook: 0, samplesAtStep: { baseline: 0, canary: 0 }, approved: [] };
}

/** What to do after a look. O(verdicts). */
export function nextPromotion(
  plan: PromotionPlan,
  state: PromotionState,
  facts: LookFacts,
  minSamples: number,
): PromotionAction {
  const acting = facts.verdicts.filter((v) => !v.shadow);
  if (acting.some((v) => v.phase === 'fail')) return { kind: 'hold', why: 'a metric failed: the rollback plan runs' };
  if (state.failed !== undefined)
    return {
      kind: 'hold',
      why: `the share ${state.failed.share}% could not be set (${state.failed.error}): held at ${shareOf(plan, state)}`,
    };
  const next = state.step + 1;
  if (state.step >= 0) {
    const looks = facts.look - state.sinceLook;
    const share = plan.steps[state.step]!;
    if (looks < plan.minLooksPerStep)
      return { kind: 'wait', why: `${looks} of ${plan.minLooksPerStep} looks at ${share}%` };
    const canary = facts.samples.canary - state.samplesAtStep.canary;
    const baseline = facts.samples.baseline - state.samplesAtStep.baseline;
    // at 100% the baseline serves nothing more: only the canary's samples count there
    const lacking = canary < minSamples || (share < 100 && baseline < minSamples);
    if (lacking)
      return {
        kind: 'wait',
        why: `${canary} canary and ${baseline} baseline samples at ${share}% (needs ${minSamples} per cohort)`,
      };
    const held = acting.find((v) => v.hold !== undefined);
    if (held !== undefined) return { kind: 'hold', why: `${held.metric} holds promotion: ${held.hold!}` };
    const gated = gateAction(plan, share, facts.gate);
    if (gated !== undefined) return gated;
    if (next >= plan.steps.length) return { kind: 'complete' };
  }
  const share = plan.steps[next]!;
  if (plan.approve.includes(share) && !state.approved.includes(share))
    return { kind: 'await-approval', share, step: next };
  return { kind: 'set-share', share, step: next };
}

/**
 * The step gate's say: hold while a metric looks worse within the step (restart the gate on fresh looks once that has
 * lasted 2 x minLooksPerStep of its looks: a chance alarm costs one more step), wait until it has seen minLooksPerStep
 * looks at this share; undefined when it lets the rollout go on (or there is none).
 */
function gateAction(plan: PromotionPlan, share: number, gate: LookFacts['gate']): PromotionAction | undefined {
  if (gate === undefined) return undefined;
  const min = plan.minLooksPerStep;
  if (gate.worse.length > 0) {
    const worse = gate.worse.join('; ');
    if (gate.looks >= 2 * min)
      return {
        kind: 'restart-gate',
        why: `${worse} within ${share}% for ${gate.looks} looks without a rollback: the step gate starts again on fresh looks`,
      };
    return {
      kind: 'hold',
      why: `looks worse within ${share}%: ${worse}; held here while the analysis gathers evidence`,
    };
  }
  if (gate.looks < min) return { kind: 'wait', why: `the step gate has ${gate.looks} of ${min} looks at ${share}%` };
  return undefined;
}

/** The state after a share was set at `facts`' look. */
export function shareSet(state: PromotionState, step: number, facts: LookFacts): PromotionState {
  const { failed: _failed, ...rest } = state;
  return { ...rest, step, sinceLook: facts.look, samplesAtStep: { ...facts.samples } };
}

/** "5%" for the share in place, "no share set yet" before the first step. */
function shareOf(plan: PromotionPlan, state: PromotionState): string {
  return state.step < 0 ? 'no share set yet' : `${plan.steps[state.step]}%`;
}
