import { z } from 'zod';
import type {
  CounterSelector,
  DetectorFactory,
  DetectorLookResult,
  LookInput,
  Phase,
  WorseDirection,
} from '../src/contracts/detector.js';
import { whereText } from '../src/contracts/detector.js';
import type { CohortBatch, RatioCounts } from '../src/contracts/evidence.js';
import type { DetectorMethods, SequentialEvaluation } from './lib/detector-kit.js';
import { alphaProblem, defineDetector, sequentialPhase, verdictWriter, withEffect } from './lib/detector-kit.js';
import { formatBounds, formatCohortBurnIn, formatLooks, formatP, formatRatio, formatTolerance } from './lib/format.js';
import { alwaysValidPValue } from './lib/p-value.js';
import type { RateCore, RateTest } from './lib/rate-test.js';
import { rateTest } from './lib/rate-test.js';
import { directedThreshold, whereOption } from './lib/options.js';

/**
 * `ratio-sequential`: is the canary's rate of business events per exposure (conversions per checkout started,
 * payments failed per payment attempted) worse than the baseline's by more than the tolerance, in the configured
 * direction?
 *
 * Method: the two-Poisson conditional-binomial test of `error-rate-sequential` (lib/rate-test.ts; STATISTICS.md,
 * "Error rate"), STRATIFIED BY LOOK, with events = numerator and exposures = denominator. Per look j where both
 * cohorts had exposures: rho_j = d_c / (d_c + d_b) from the realised denominators, m_j = events of both cohorts,
 * x_j the canary's; given m_j, x_j ~ Binomial(m_j, theta_j(r)), theta_j(r) = rho_j r / (rho_j r + 1 - rho_j), r the
 * canary/baseline rate ratio. Events may outnumber exposures (a rate, not a proportion). `combine`, `grid` and
 * `priorScale` work as in error-rate-sequential (`robust`: one bounded bet per look; `independent`: the discrete
 * mixture of likelihood ratios). `fail` when M_t >= 1/alpha after burn-in; `pass` when the mirrored test rejects;
 * p_t = min(p_{t-1}, 1/M_t).
 *  - `worse: higher` (default): H0 r <= r0 = 1 + tolerance.
 *  - `worse: lower`: H0 r >= 1 - tolerance. Run as the same test on the SWAPPED cohorts (the baseline's events
 *    against the canary's, null ratio 1/(1 - tolerance)); estimate and bounds are mapped back to canary/baseline
 *    (inverted, lower and upper swapped).
 * Estimate: Mantel-Haenszel ratio sum x (1 - rho) / sum (m - x) rho (canary rate / baseline rate for one look).
 * Bounds: one-sided at alpha each, by inverting the test over its null ratio (as error-rate-sequential).
 *
 * Reference: Wald's SPRT conditioned on the event total (the two-Poisson conditional binomial test), mixed over
 * alternatives (Robbins) or combined by betting (Shafer, JRSS A 2021); Ville's inequality for the anytime guarantee.
 * Assumptions: numerator events are independent counts (Poisson given each look's exposures; count the events once,
 * never retried attempts); the two counters are increments of the same look. A numerator event counted in a look
 * whose own exposure fell in the previous look is noise, not bias, as long as it is so in both cohorts.
 * Burn-in (`minSamples`) counts denominator exposures per cohort. Looks where a cohort had no exposure or nothing
 * happened add nothing. A canary without events can never fail `worse: higher` (nor a baseline without events
 * fail `worse: lower`).
 * Complexity: as error-rate-sequential with one stratum per look: O(K) per look for the test, the bounds O(K x
 * strata x ~22) (`independent`) or O(grid x quadrature) (`robust`); state O(K + looks with events) / O(grid).
 */

export const RATIO_SEQUENTIAL = 'ratio-sequential';

const selectorSchema = z.union(
  [
    z.strictObject({ metric: z.string().min(1), where: whereOption.optional() }),
    z.strictObject({ source: z.literal('spans'), where: whereOption.optional() }),
  ],
  { error: 'expected { metric: <OTLP counter name>, where?: {...} } or { source: spans, where?: {...} }' },
);

const optionsSchema = z
  .strictObject({
    /** Events: an OTLP monotonic Sum by name, or spans (`source: spans`) matching `where`. */
    numerator: selectorSchema,
    /** Exposures, the same way. */
    denominator: selectorSchema,
    /** Which direction of the rate is a regression. */
    worse: z.enum(['higher', 'lower']).default('higher'),
    /** H0 (higher): canary rate <= (1 + tolerance) x baseline; (lower): canary rate >= (1 - tolerance) x baseline. */
    tolerance: z.number().min(0).default(0),
    /** As error-rate-sequential: `robust` (default) bounded bets per look, or the `independent` mixture. */
    combine: z.enum(['robust', 'independent']).default('robust'),
    /** K, the number of grid points (`independent`). */
    grid: z.number().int().min(8).max(256).default(48),
    /** Scale of the half-normal prior on ln(r / r0) (`independent`). */
    priorScale: z.number().positive().max(10).default(0.5),
  })
  .refine((o) => o.worse === 'higher' || o.tolerance < 1, {
    message: 'must be < 1 with worse: lower (a rate cannot drop by 100% or more)',
    path: ['tolerance'],
  });

export type RatioOptions = z.output<typeof optionsSchema>;

/** Plain JSON state. */
export interface RatioState extends RateCore {
  /** Looks seen (including empty ones). */
  looks: number;
  canaryEvents: number;
  canaryExposures: number;
  baselineEvents: number;
  baselineExposures: number;
  pValue: number;
}

const EFFECT = 'rate ratio canary/baseline (numerator per denominator, stratified by look)';

/** What a selector counts, for summaries: "checkout.completed", "checkout.completed{region=eu}", "requests". */
export function selectorLabel(s: CounterSelector): string {
  const w = whereText(s.where);
  if ('metric' in s) return w === '' ? s.metric : `${s.metric}{${w}}`;
  return w === '' ? 'requests' : `matching spans{${w}}`;
}

/** "34/2000 (1.70%)", or "(1.5 per)" when events outnumber exposures. */
function rateText(events: number, exposures: number): string {
  if (!(exposures > 0)) return `${events}/${exposures}`;
  const r = events / exposures;
  return `${events}/${exposures} (${r <= 1 ? `${(100 * r).toFixed(2)}%` : `${formatRatio(r)} per`})`;
}

/** Why a cohort's ratio counts cannot be used, or undefined. */
function countsProblem(cohort: string, r: RatioCounts): string | undefined {
  if (!(Number.isInteger(r.numerator) && r.numerator >= 0))
    return `${cohort} numerator must be an integer >= 0, got ${r.numerator}`;
  if (!(Number.isFinite(r.denominator) && r.denominator >= 0))
    return `${cohort} denominator must be finite and >= 0, got ${r.denominator}`;
  return undefined;
}

function ratioOf(b: CohortBatch): RatioCounts {
  return b.ratio ?? { numerator: 0, denominator: 0 };
}

/** The swapped test's evaluation on the canary/baseline scale: estimate inverted, bounds inverted and swapped. */
function unswapped(e: SequentialEvaluation): SequentialEvaluation {
  const inv = (x: number | undefined): number | undefined => (x !== undefined && x > 0 ? 1 / x : undefined);
  return {
    logM: e.logM,
    passEvidence: e.passEvidence,
    estimate: inv(e.estimate),
    lower: inv(e.upper),
    upper: inv(e.lower),
  };
}

interface Wording {
  name: string;
  numerator: string;
  denominator: string;
  worse: WorseDirection;
  tolerance: number;
  minSamples: number;
}

function summarize(phase: Phase, s: RatioState, e: SequentialEvaluation, w: Wording, burnIn: boolean): string {
  const counts = `canary ${rateText(s.canaryEvents, s.canaryExposures)} vs baseline ${rateText(s.baselineEvents, s.baselineExposures)} ${w.numerator} per ${w.denominator}`;
  if (burnIn) {
    const samples = { canary: s.canaryExposures, baseline: s.baselineExposures };
    return `${formatCohortBurnIn(samples, w.minSamples, w.denominator, s.looks, formatP(s.pValue))}; ${counts}`;
  }
  const tail = `${w.worse} is worse; ${formatP(s.pValue)} ${formatLooks(s.looks)}; ${counts}`;
  if (e.estimate === undefined && e.lower === undefined && e.upper === undefined)
    return `${w.name}: nothing compared yet (no ${w.numerator} in looks where both cohorts had ${w.denominator}): ${tail}`;
  const tol = w.tolerance > 0 ? `, tolerance ${formatTolerance(w.tolerance).slice(1)}` : '';
  const est = e.estimate !== undefined ? `${formatRatio(e.estimate)}x baseline` : 'not estimable yet';
  const claimed = w.worse === 'higher' ? 'lower' : 'upper';
  const side = phase === 'fail' ? claimed : phase === 'pass' ? (claimed === 'lower' ? 'upper' : 'lower') : 'both';
  return `${w.name} ${est} (${formatBounds(e.lower, e.upper, side)}${tol}): ${tail}`;
}

function lookProblem(input: LookInput, alpha: number): string | undefined {
  return (
    alphaProblem(alpha) ??
    countsProblem('canary', ratioOf(input.batch.canary)) ??
    countsProblem('baseline', ratioOf(input.batch.baseline))
  );
}

/** The look's state after the test saw it. */
function addLook(state: RatioState, test: RateTest, c: RatioCounts, b: RatioCounts, swap: boolean): RatioState {
  const m = c.numerator + b.numerator;
  let core: RateCore = { llr: state.llr, strata: state.strata };
  if (state.ledger !== undefined) core.ledger = state.ledger;
  if (state.mh !== undefined) core.mh = state.mh;
  if (c.denominator > 0 && b.denominator > 0 && m > 0) {
    const [first, second] = swap ? [b, c] : [c, b];
    const rho = first.denominator / (first.denominator + second.denominator);
    core = test.add(core, [{ rho, failures: m, canaryFailures: first.numerator }]);
  }
  return {
    ...state,
    ...core,
    looks: state.looks + 1,
    canaryEvents: state.canaryEvents + c.numerator,
    canaryExposures: state.canaryExposures + c.denominator,
    baselineEvents: state.baselineEvents + b.numerator,
    baselineExposures: state.baselineExposures + b.denominator,
  };
}

function ratioMethods(name: string, opts: RatioOptions, burnInSamples: number): DetectorMethods<RatioState> {
  const swap = opts.worse === 'lower';
  const test = rateTest(opts, swap ? 1 / (1 - opts.tolerance) : 1 + opts.tolerance);
  const out = verdictWriter<RatioState>({ detector: RATIO_SEQUENTIAL, metric: name, effect: EFFECT }, (s) => ({
    baseline: s.baselineExposures,
    canary: s.canaryExposures,
  }));
  const wording: Wording = {
    name,
    numerator: selectorLabel(opts.numerator),
    denominator: selectorLabel(opts.denominator),
    worse: opts.worse,
    tolerance: opts.tolerance,
    minSamples: burnInSamples,
  };
  return {
    init: () => ({
      looks: 0,
      canaryEvents: 0,
      canaryExposures: 0,
      baselineEvents: 0,
      baselineExposures: 0,
      ...test.init(),
      pValue: 1,
    }),
    look(state: RatioState, input: LookInput, alpha: number): DetectorLookResult<RatioState> {
      const problem = lookProblem(input, alpha);
      if (problem !== undefined) return { state, verdict: { ...out.errorVerdict(state, problem), worse: opts.worse } };
      const next = addLook(state, test, ratioOf(input.batch.canary), ratioOf(input.batch.baseline), swap);
      const raw = test.evaluate(next, alpha);
      const e = swap ? unswapped(raw) : raw;
      next.pValue = alwaysValidPValue(state.pValue, e.logM);
      const burnIn = next.canaryExposures < burnInSamples || next.baselineExposures < burnInSamples;
      const phase = sequentialPhase(e, alpha, burnIn);
      const verdict = out.verdict(next, phase, summarize(phase, next, e, wording, burnIn));
      verdict.worse = opts.worse;
      return { state: next, verdict: withEffect(verdict, e) };
    },
  };
}

const definition = defineDetector({
  type: RATIO_SEQUENTIAL,
  anytimeValid: true,
  options: optionsSchema,
  threshold: directedThreshold,
  reads: (o) => ({ kind: 'ratio', numerator: o.numerator, denominator: o.denominator }),
  methods: ratioMethods,
});
/** Builds one ratio detector; exported for tests and direct use. */
export const createRatioSequential = definition.create;
export const ratioSequential: DetectorFactory = definition.factory;
