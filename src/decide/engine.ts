/**
 * The decision engine: pure and synchronous (no clock, no I/O). Given the verdicts of one look it says
 * whether the analysis ends, and how. Same inputs, same Decision, byte for byte: that is what makes replay
 * and golden tests exact.
 *
 * Policy, in order:
 *  1. any ACTING (non-shadow) metric `fail` → rollback (its alpha_i came from the Bonferroni split, so the
 *     family-wise false-rollback probability over the whole analysis is <= alpha);
 *  2. every acting metric `pass` (its anytime-valid bounds exclude harm) → promote;
 *  3. elapsed event time >= maxDuration → promote (nothing failed within the budget);
 *  4. otherwise continue. Shadow metrics are recorded in every decision, never decide.
 * Holds: while any ACTING verdict carries `hold` (e.g. `srm`, a broken traffic split), steps 2 and 3 never
 * promote; the analysis keeps running (step 1 still rolls back). `holdReason` says why for status displays.
 * Storm guard: a rollback for a service that already had `maxRollbacks` within the window keeps its
 * outcome but runs no plan (recorded as held), so a flapping release cannot thrash the fleet.
 */
import { createHash } from 'node:crypto';
import type { Decision, MetricVerdict, Outcome } from '../contracts/index.js';

export interface DecideInput {
  analysisId: string;
  /** Which analysis of this canary version this is: 0 for the first, n after the n-th resume. A resumed
   *  version's new analysis must not reuse the ids of the one before (its jobs would be refused as duplicates). */
  incarnation?: number;
  service: string;
  route?: string;
  canaryVersion: string;
  baselineVersion: string;
  look: number;
  atUnixMs: number;
  elapsedMs: number;
  verdicts: MetricVerdict[];
}

export interface DecidePolicy {
  maxDurationMs: number;
  plan: readonly string[];
  dryRun: boolean;
  configHash: string;
  maxRollbacks: number;
  /** Rollbacks of this service already decided within the storm window. */
  recentRollbacks: number;
}

/** Deterministic decision id: the same analysis incarnation, look and outcome always give the same id. The
 *  first incarnation keeps the id it always had (`analysis|look|outcome`); a later one adds `#n`. */
export function decisionId(analysisId: string, look: number, outcome: Outcome, incarnation = 0): string {
  const key = incarnation > 0 ? `${analysisId}#${incarnation}` : analysisId;
  return `d-${createHash('sha256').update(`${key}|${look}|${outcome}`).digest('hex').slice(0, 16)}`;
}

function describe(v: MetricVerdict): string {
  return `${v.metric}: ${v.summary}`;
}

function holding(verdicts: readonly MetricVerdict[]): MetricVerdict[] {
  return verdicts.filter((v) => !v.shadow && v.hold !== undefined);
}

/**
 * Why an analysis that `decide` left running is held, or undefined when no acting verdict holds: names each
 * hold and its metric, and says when maxDuration has passed (promotion would otherwise have happened). O(m).
 */
export function holdReason(
  input: Pick<DecideInput, 'verdicts' | 'elapsedMs'>,
  policy: Pick<DecidePolicy, 'maxDurationMs'>,
): string | undefined {
  const held = holding(input.verdicts);
  if (held.length === 0) return undefined;
  const what = held.map((v) => `${v.hold ?? ''} (${describe(v)})`).join('; ');
  if (input.elapsedMs >= policy.maxDurationMs) {
    return `maxDuration (${Math.round(policy.maxDurationMs / 1000)}s) has passed but promotion is held: ${what}; the analysis keeps running until the hold clears or a metric fails`;
  }
  return `promotion is held: ${what}`;
}

export function decide(input: DecideInput, policy: DecidePolicy): Decision | null {
  const acting = input.verdicts.filter((v) => !v.shadow);
  const failed = acting.filter((v) => v.phase === 'fail');
  const held = holding(input.verdicts).length > 0;
  let outcome: Outcome | null = null;
  let reason = '';
  let plan: readonly string[] = [];
  if (failed.length > 0) {
    outcome = 'rollback';
    reason = `canary is worse: ${failed.map(describe).join('; ')}`;
    plan = policy.plan;
    if (policy.recentRollbacks >= policy.maxRollbacks) {
      plan = [];
      reason += ` (storm guard: ${policy.recentRollbacks} rollbacks of ${input.service} within the window; plan held)`;
    }
  } else if (held) {
    // never promote while held (holdReason says why); a failure above still rolls back
  } else if (acting.length > 0 && acting.every((v) => v.phase === 'pass')) {
    outcome = 'promote';
    reason = `every metric's confidence bounds exclude harm: ${acting.map(describe).join('; ')}`;
  } else if (input.elapsedMs >= policy.maxDurationMs) {
    outcome = 'promote';
    reason = `no metric failed within maxDuration (${Math.round(input.elapsedMs / 1000)}s of event time)`;
  }
  if (outcome === null) return null;
  return record(input, outcome, reason, plan, policy);
}

/** An analysis that ends because its canary went silent: no plan, recorded and notified. */
export function abandon(
  input: Omit<DecideInput, 'elapsedMs'>,
  policy: Pick<DecidePolicy, 'configHash' | 'dryRun'>,
  silentMs: number,
): Decision {
  const reason = `the canary sent no telemetry for ${Math.round(silentMs / 1000)}s of event time while the baseline did`;
  return record(input, 'abandoned', reason, [], policy);
}

function record(
  input: Omit<DecideInput, 'elapsedMs'>,
  outcome: Outcome,
  reason: string,
  plan: readonly string[],
  policy: Pick<DecidePolicy, 'configHash' | 'dryRun'>,
): Decision {
  return {
    id: decisionId(input.analysisId, input.look, outcome, input.incarnation),
    analysis: input.analysisId,
    service: input.service,
    ...(input.route === undefined ? {} : { route: input.route }),
    outcome,
    reason,
    canaryVersion: input.canaryVersion,
    baselineVersion: input.baselineVersion,
    look: input.look,
    eventTimeUnixMs: input.atUnixMs,
    verdicts: input.verdicts,
    configHash: policy.configHash,
    plan: [...plan],
    dryRun: policy.dryRun,
  };
}

/**
 * Bonferroni split of the family-wise alpha across ACTING metrics by weight. A shadow metric gets the
 * alpha it would get if it were acting (so its trial verdicts mean what they would mean in production).
 */
export function splitAlpha(alpha: number, metrics: readonly { weight: number; shadow: boolean }[]): number[] {
  const actingWeight = metrics.reduce((s, m) => s + (m.shadow ? 0 : m.weight), 0);
  return metrics.map((m) => (alpha * m.weight) / (m.shadow ? actingWeight + m.weight : actingWeight));
}
