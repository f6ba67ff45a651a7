import { z } from 'zod';
import type { DetectorFactory, DetectorLookResult, LookInput } from '../src/contracts/detector.js';
import type { LatencyHistogram } from '../src/contracts/evidence.js';
import { latticeBound } from '../src/evidence/latency-histogram.js';
import { batchProblem } from './lib/batch-check.js';
import { truncatedBetaLogM } from './lib/bernoulli-mixture.js';
import type { DetectorMethods } from './lib/detector-kit.js';
import { alphaProblem, defineDetector, sequentialPhase, verdictWriter, withEffect } from './lib/detector-kit.js';
import { formatBounds, formatBurnIn, formatLooks, formatP } from './lib/format.js';
import { alwaysValidPValue } from './lib/p-value.js';
import { bisect } from './lib/root-finding.js';

/**
 * `slo-guard`: absolute guard on the CANARY alone, no baseline needed. Is the canary breaking its SLO?
 * - error mode (`maxErrorRate`): H0 "failed requests / requests <= maxErrorRate";
 * - latency mode (`quantile`, `maxLatencyMs`): H0 "the `quantile` of latency <= maxLatencyMs", i.e. the
 *   share of requests slower than maxLatencyMs is <= 1 - quantile.
 * Both are one Bernoulli rate p against p0 (maxErrorRate, or 1 - quantile), counted over all looks.
 *
 * Method: Lindon & Malek's one-sided Beta mixture (lib/bernoulli-mixture.ts): M_fail mixes the likelihood
 * ratio over p1 ~ Beta(k p0, k (1 - p0)) truncated to p1 > p0; `fail` when M_fail >= 1/alpha (after
 * burn-in: `minSamples` canary requests). The mirrored mixture over p1 < p0 (H0 "p >= p0") gives `pass` when
 * it reaches 1/alpha. p_t = min(p_{t-1}, 1/M_fail). Valid for a composite H0 whose rate may drift below p0
 * between looks (each factor has conditional mean <= 1), so volume and daily cycles are harmless.
 * k = `concentration`, default 1 / min(p0, 1 - p0): a prior sd about p0 for small p0 (alternatives a few
 * times the SLO), fixed from the threshold, never from the data.
 * Latency counts come from the look's histogram (bucket i covers (b^i, b^(i+1)] ms, b = 2^(2^-scale),
 * durations <= 0 in zeroCount): a bucket entirely above maxLatencyMs counts as slower, entirely at or
 * below as not; the bucket that straddles it counts as NOT slower for the fail test and as slower for the
 * pass test, so histogram resolution can only delay a decision, never make a wrong one more likely.
 * Estimate and bounds: as a ratio to the allowed rate p0 (1 = exactly at the SLO): estimate from the sure
 * counts; lower from inverting the fail mixture over p0' (the p0' where it stops rejecting p <= p0'), upper
 * from the pass mixture (straddling bucket counted), each one-sided at level alpha (a 1 - 2 alpha confidence
 * sequence); `fail` <=> lower > 1, `pass` <=> upper < 1, decided on the mixtures at p0.
 *
 * Reference: Lindon & Malek, "Anytime-valid inference for multinomial count data", NeurIPS 2022 (one-sided
 * form); Howard, Ramdas, McAuliffe & Sekhon, Ann. Statist. 2021 (confidence sequences by inversion).
 * Assumptions: requests fail (or are slow) independently given the past, each with probability <= p0 under
 * H0; count requests (server spans), never retries or error events.
 * Complexity: O(buckets) per look to read the histogram; the test is two incomplete-beta evaluations
 * (O(sqrt(min(a, b))) continued-fraction terms); the bounds ~2 x 60 more. State O(1).
 */

export const SLO_GUARD = 'slo-guard';

const optionsSchema = z
  .strictObject({
    maxErrorRate: z.number().gt(0).lt(1).optional(),
    /** Latency quantile the SLO is about, e.g. 0.99. */
    quantile: z.number().gt(0).lt(1).optional(),
    maxLatencyMs: z.number().positive().optional(),
    /** Beta prior concentration k; default 1 / min(p0, 1 - p0). */
    concentration: z.number().positive().max(1e9).optional(),
  })
  .superRefine((o, ctx) => {
    const latency = o.quantile !== undefined || o.maxLatencyMs !== undefined;
    if (o.maxErrorRate !== undefined && latency) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxErrorRate'],
        message: 'set maxErrorRate, or quantile and maxLatencyMs, not both (use two metrics)',
      });
    } else if (o.maxErrorRate === undefined && !latency) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxErrorRate'],
        message: 'required: set maxErrorRate, or quantile and maxLatencyMs',
      });
    } else if (latency && o.quantile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['quantile'], message: 'required with maxLatencyMs (e.g. 0.99)' });
    } else if (latency && o.maxLatencyMs === undefined) {
      ctx.addIssue({ code: 'custom', path: ['maxLatencyMs'], message: 'required with quantile' });
    }
  });

export type SloGuardOptions = z.output<typeof optionsSchema>;

/** Plain JSON state: O(1). */
export interface SloGuardState {
  looks: number;
  /** Canary trials: requests (error mode) or latency samples in the histograms (latency mode). */
  trials: number;
  /** Sure exceedances: failed requests, or samples in buckets entirely above maxLatencyMs. */
  sure: number;
  /** Possible exceedances: `sure` plus samples in the bucket straddling maxLatencyMs. */
  possible: number;
  canaryRequests: number;
  baselineRequests: number;
  pValue: number;
}

interface Exceedances {
  trials: number;
  sure: number;
  possible: number;
}

/** Counts of a histogram above `thresholdMs` (see the file comment), or a reason it is unusable. */
export function histogramExceedances(h: LatencyHistogram, thresholdMs: number): Exceedances | string {
  if (!Number.isInteger(h.scale)) return `latency histogram scale must be an integer, got ${h.scale}`;
  if (!(Number.isInteger(h.zeroCount) && h.zeroCount >= 0))
    return `latency histogram zeroCount must be an integer >= 0, got ${h.zeroCount}`;
  let trials = h.zeroCount;
  let sure = 0;
  let straddle = 0;
  for (const [key, count] of Object.entries(h.counts)) {
    const i = Number(key);
    if (!Number.isInteger(i) || !(Number.isInteger(count) && count >= 0))
      return `latency histogram bucket ${key} has a bad count ${count}`;
    trials += count;
    const lower = latticeBound(i, h.scale);
    const upper = latticeBound(i + 1, h.scale);
    if (lower >= thresholdMs) sure += count;
    else if (upper > thresholdMs) straddle += count;
  }
  return { trials, sure, possible: sure + straddle };
}

const EDGE = 1e-12;

/** Largest p' the fail mixture still rejects (H0: p <= p'), i.e. the lower confidence bound; 0 when none. */
function lowerRate(n: number, x: number, k: number, threshold: number): number {
  const f = (p: number): number => truncatedBetaLogM(n, x, p, k, 'above') - threshold;
  const top = n > 0 ? x / n : 0;
  if (top <= EDGE || f(EDGE) < 0) return 0;
  return bisect(f, EDGE, top, 1e-12);
}

/** Smallest p' the pass mixture still rejects (H0: p >= p'), i.e. the upper confidence bound; 1 when none. */
function upperRate(n: number, x: number, k: number, threshold: number): number {
  const f = (p: number): number => threshold - truncatedBetaLogM(n, x, p, k, 'below');
  const bottom = Math.max(EDGE, n > 0 ? x / n : 1);
  if (bottom >= 1 - EDGE || f(1 - EDGE) > 0) return 1;
  return bisect(f, bottom, 1 - EDGE, 1e-12);
}

function sloGuardMethods(name: string, opts: SloGuardOptions, burnIn: number): DetectorMethods<SloGuardState> {
  const errorMode = opts.maxErrorRate !== undefined;
  const p0 = opts.maxErrorRate ?? 1 - (opts.quantile as number);
  const thresholdMs = opts.maxLatencyMs ?? 0;
  const k = opts.concentration ?? 1 / Math.min(p0, 1 - p0);
  const pct = (x: number): string => `${Number((100 * x).toPrecision(3))}%`;
  const slo = errorMode
    ? `error rate ≤ ${pct(p0)}`
    : `p${Number((100 * (opts.quantile as number)).toPrecision(4))} ≤ ${thresholdMs} ms`;
  const what = errorMode ? 'of requests failed' : `of requests slower than ${thresholdMs} ms`;
  const effect = errorMode
    ? 'canary error rate / maxErrorRate (no baseline)'
    : `canary share of requests slower than maxLatencyMs / (1 - quantile) (no baseline)`;

  const out = verdictWriter<SloGuardState>({ detector: SLO_GUARD, metric: name, effect }, (s) => ({
    baseline: s.baselineRequests,
    canary: s.canaryRequests,
  }));

  return {
    init(): SloGuardState {
      return { looks: 0, trials: 0, sure: 0, possible: 0, canaryRequests: 0, baselineRequests: 0, pValue: 1 };
    },
    look(state: SloGuardState, input: LookInput, alpha: number): DetectorLookResult<SloGuardState> {
      const bad = (why: string): DetectorLookResult<SloGuardState> => ({
        state,
        verdict: out.errorVerdict(state, why),
      });
      const problem =
        alphaProblem(alpha) ??
        batchProblem('canary', input.batch.canary, 'counts') ??
        batchProblem('baseline', input.batch.baseline, 'counts');
      if (problem !== undefined) return bad(problem);
      const { canary, baseline } = input.batch;
      const add = errorMode
        ? { trials: canary.requests, sure: canary.errors, possible: canary.errors }
        : histogramExceedances(canary.latencyHistogram, thresholdMs);
      if (typeof add === 'string') return bad(`canary ${add}`);

      const s: SloGuardState = {
        looks: state.looks + 1,
        trials: state.trials + add.trials,
        sure: state.sure + add.sure,
        possible: state.possible + add.possible,
        canaryRequests: state.canaryRequests + canary.requests,
        baselineRequests: state.baselineRequests + baseline.requests,
        pValue: state.pValue,
      };
      const logFail = truncatedBetaLogM(s.trials, s.sure, p0, k, 'above');
      const logPass = truncatedBetaLogM(s.trials, s.possible, p0, k, 'below');
      s.pValue = alwaysValidPValue(state.pValue, logFail);
      const logInv = Math.log(1 / alpha);
      if (s.trials < burnIn) {
        const seen = `${s.trials}/${burnIn} canary ${errorMode ? 'requests' : 'latency samples'} (canary only, SLO ${slo})`;
        const summary = formatBurnIn(seen, s.looks, formatP(s.pValue), `the canary reaches ${burnIn}`);
        return { state: s, verdict: out.verdict(s, 'inconclusive', summary) };
      }
      const tail = `${formatP(s.pValue)} ${formatLooks(s.looks)}, canary only`;

      const lower = lowerRate(s.trials, s.sure, k, logInv);
      const upper = upperRate(s.trials, s.possible, k, logInv);
      const rate = s.trials > 0 ? s.sure / s.trials : 0;
      const phase = sequentialPhase({ logM: logFail, passEvidence: logPass }, alpha, false);
      const obs = `${pct(rate)} ${what} (${s.sure}/${s.trials})`;
      let summary: string;
      if (phase === 'fail') summary = `SLO ${slo} broken: ${obs}, ${formatBounds(lower, upper, 'lower', pct)}, ${tail}`;
      else if (phase === 'pass')
        summary = `SLO ${slo} met: ${obs}, ${formatBounds(lower, upper, 'upper', pct)}, ${tail}`;
      else summary = `SLO ${slo} undecided: ${obs}, ${formatBounds(lower, upper, 'both', pct)}, ${tail}`;
      return {
        state: s,
        verdict: withEffect(out.verdict(s, phase, summary), {
          estimate: s.trials > 0 ? rate / p0 : undefined,
          lower: lower / p0,
          upper: upper / p0,
        }),
      };
    },
  };
}

const definition = defineDetector({
  type: SLO_GUARD,
  anytimeValid: true,
  options: optionsSchema,
  methods: sloGuardMethods,
});
/** Builds one SLO guard; exported for tests and direct use. */
export const createSloGuard = definition.create;
export const sloGuard: DetectorFactory = definition.factory;
