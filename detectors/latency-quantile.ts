import { z } from 'zod';
import { histogramMetricOption, histogramReads } from './lib/options.js';
import type { DetectorFactory, DetectorLookResult, LookInput, Phase } from '../src/contracts/detector.js';
import type { LatencyHistogram } from '../src/contracts/evidence.js';
import {
  histogramCount,
  histogramProblem,
  quantileBucket,
  sortedAtScale,
  tailCounts,
} from '../src/evidence/latency-histogram.js';
import type { DetectorMethods, SequentialEvaluation } from './lib/detector-kit.js';
import { alphaProblem, defineDetector, sequentialPhase, verdictWriter, withEffect } from './lib/detector-kit.js';
import { mixtureGrid } from './lib/discrete-mixture.js';
import type { Alternatives } from './lib/exceedance-mixture.js';
import { addLook, alternativesOf, crossingRung, rungLogM } from './lib/exceedance-mixture.js';
import { formatBounds, formatCohortBurnIn, formatLooks, formatP, formatRatio, formatTolerance } from './lib/format.js';
import { alwaysValidPValue } from './lib/p-value.js';
import type { BetLedger, BinomialStratum } from './lib/robust-looks.js';
import { BET_SCALES, addBets, binomialLookBets, ledgerLogM } from './lib/robust-looks.js';
import { lookStrata } from './lib/route-strata.js';

/**
 * `latency-quantile`: tail guard. Is the canary's p-quantile latency (default p99) more than (1 + tolerance) x
 * the baseline's? Catches a regression of the slowest requests that leaves the median (and so
 * `latency-sequential`) untouched.
 *
 * Method: a stratified exceedance test on the look's latency histograms, contrasted WITHIN each look.
 *  1. Threshold (predictable): t_j = b_l, the upper bound of the bucket holding the p-quantile of the baseline's
 *     spans of all PREVIOUS looks (not this one). Look 1 only seeds it.
 *  2. Counts: y_j = baseline spans of look j above t_j; for each rung k of a ladder of ratios s_k = b^k
 *     (b = bucket ratio, 2^(1/8) ≈ 1.09 at scale 3; s from 1/2 to 4), x_jk = canary spans above s_k t_j.
 *     Both are exact on the bucket lattice (value > b_i <=> bucket index >= i), never interpolated.
 *  3. Test per rung: the conditional-binomial discrete mixture of `error-rate-sequential` with null ratio 1,
 *     rho_j = n_c/(n_c + n_b) from the look's realised span counts, half-normal grid prior on ln r (K = `grid`,
 *     scale `priorScale`), accumulated across looks (detectors/lib/exceedance-mixture.ts).
 *  4. `fail` when the rung s_f = b^ceil(log_b(1 + tolerance)) (the tolerance rounded UP to the lattice: +10%
 *     acts as +19% at scale 3) rejects at level alpha, after burn-in. `pass` when the mirrored test rejects at
 *     s_p = b^floor(log_b(1 + tolerance)) (rounded DOWN). p_t = min(p_{t-1}, 1/M_t) of the fail rung.
 *
 * What is guaranteed (validity). The tested null in look j at ratio s is H0(s): P(C_j > s t_j) <= P(B_j > t_j)
 * (C_j, B_j: the canary's and the baseline's latency in look j). It holds in every look whenever the canary's
 * latency is stochastically at most (1 + tolerance) x the baseline's in that look (C_j <=st (1 + tol) B_j),
 * for every threshold: identical cohorts (A/A), however the level, the split, the volume or the latency of BOTH
 * cohorts drift between looks (each look is its own stratum), a canary at most (1 + tol) x slower everywhere,
 * or faster. Proof: t_j is fixed by earlier looks, so given the past and the look's span counts, x_jk and y_j are
 * independent binomials; given m = x + y, x is Fisher's noncentral hypergeometric with odds ratio <= 1, hence
 * stochastically at most the central one, whose mgf is at most Bin(m, rho)'s (Hoeffding 1963); so each look's
 * likelihood ratio has conditional expectation <= 1, the grid mixture of their products is a nonnegative
 * supermartingale, and Ville gives P(ever M_t >= 1/alpha) <= alpha however often it looks. s_f >= 1 + tol and
 * rounding the canary's threshold up only lowers x. Because x_jk falls as s_k rises, M is monotone along the
 * ladder, so the bounds below are anytime-valid too. Measured (100 looks): at the null's boundary (A/A with
 * tolerance 0, or a canary exactly b^2 slower with tolerance 0.1: the same test) 0.017 false alarms at alpha 0.05
 * and 0.11 at alpha 0.2 (300 runs, 50 spans/look); with the defaults 0 of 350 in every null scenario of
 * `npm run bench:detectors` (ramp with drift, heavy tails, 20 to 1800 spans/look).
 * Relation to the quantile null q_c(p) <= (1 + tol) q_b(p): at a threshold at the baseline's true p-quantile the
 * two coincide (P(B > q_b(p)) = 1 - p); at a threshold off it, H0(s) is a local tail-dominance statement around
 * q_b(p). A canary whose distribution crosses (1 + tol) x the baseline's right at the tested threshold can be
 * flagged although its p-quantile is within tolerance: the test then reports, correctly, that its tail is
 * heavier there. A per-look test cannot target the quantile null itself (one threshold's exceedances do not
 * identify it), and comparing cumulative quantiles (Howard & Ramdas' quantile A/B test) would fall into the
 * Simpson's trap of STATISTICS.md during a ramp with drift.
 *
 * Estimate and bounds (canary/baseline p-quantile ratio): estimate = the ratio s where the stratified
 * Mantel-Haenszel exceedance ratio sum x_jk (1 - rho_j) / sum y_j rho_j crosses 1 (interpolated between rungs;
 * at t_j = q_b(p) that is q_c(p)/q_b(p)). lower = the largest rung whose 'up' mixture rejects at alpha (the
 * tail ratio is above it), upper = the smallest rung whose mirrored mixture rejects (below it): lattice values,
 * each one-sided at alpha, so [lower, upper] is a 1 - 2 alpha confidence sequence; lower = 0 / upper absent when
 * no rung rejects. `fail` <=> lower >= s_f.
 *
 * Reference: Howard & Ramdas, "Sequential estimation of quantiles with applications to A/B-testing and
 * best-arm identification", Bernoulli 2022 (bounds that hold for every x hold at bucket bounds; quantile tests
 * through exceedance counts); the conditional-binomial mixture and Ville's inequality as in
 * `error-rate-sequential` (reference section G: a one-point grid is the conditional-binomial SPRT).
 * Assumptions: spans within a look are independent given the look's split (count requests, never retries); the
 * histograms of a look hold that look's spans only, with EXACT counts per bucket (as span ingestion builds
 * them, and OTel exponential histograms of scale >= 3 in ms); a fixed histogram scale per analysis (finer
 * scales are coarsened to 3 so the state stays bounded). Histograms estimated from coarse explicit-bucket
 * metrics (src/ingest/metrics/histogram-to-batch.ts spreads each source bucket log-uniformly) are exact only at
 * the source buckets' bounds: a threshold inside a source bucket then rests on that interpolation, so the
 * guarantee is approximate there (the same spreading for both cohorts keeps A/A symmetric).
 * Complexity: O(buckets log buckets + rungs x K) per look (25 rungs x 64 alternatives at scale 3, K = 32; ~0.1 ms);
 * state O(rungs x K + baseline buckets), independent of the number of looks.
 */

export const LATENCY_QUANTILE = 'latency-quantile';

const optionsSchema = z.strictObject({
  /** The quantile guarded: 0.99 = p99, 0.9 = p90. */
  quantile: z.number().min(0.5).max(0.999).default(0.99),
  /** H0: canary quantile <= (1 + tolerance) x baseline quantile (rounded up to the histogram's bucket ratio). */
  tolerance: z.number().min(0).max(2).default(0.1),
  /** K, grid points per side. */
  grid: z.number().int().min(8).max(128).default(32),
  /** Scale of the half-normal prior on ln(exceedance ratio). */
  priorScale: z.number().positive().max(10).default(1),
  /**
   * How looks are combined: `robust` (default) bets a bounded amount per look on its route-stratified exceedances
   * (lib/robust-looks.ts), so a look where one cohort was slow as a whole cannot decide alone; `independent` is
   * the discrete mixture over every span of the whole look.
   */
  combine: z.enum(['robust', 'independent']).default('robust'),
  /** An OTLP histogram by name instead of the request durations (lib/options.ts `histogramMetricOption`). */
  metric: histogramMetricOption,
});

export type LatencyQuantileOptions = z.output<typeof optionsSchema>;

/** Finest scale the detector works at (coarser data is used as is). */
const MAX_WORK_SCALE = 3;
/** The ladder spans ratios 1/2 .. 4: rungs -2^w .. 2 x 2^w. */
const LADDER_LOW_LOG2 = -1;
const LADDER_HIGH_LOG2 = 2;

/** Plain JSON state. */
export interface LatencyQuantileState {
  looks: number;
  canarySamples: number;
  baselineSamples: number;
  /** Working scale (fixed at the first look with spans), null before. */
  scale: number | null;
  /** Lowest rung (k of s_k = b^k); rungs are lowRung .. lowRung + llr.length - 1. */
  lowRung: number;
  /** Baseline spans of all previous looks at the working scale (sparse), for the threshold. */
  baselineCounts: Record<number, number>;
  baselineZero: number;
  /** Cumulative LLR per rung per alternative (K up, then K down). `independent` only (empty rows when robust). */
  llr: number[][];
  /** `robust` only: per rung, the log-wealth of each bet scale (rung-major): 'worse' tests the rung's 'up'
   *  null, 'better' the mirrored one. */
  bets?: BetLedger;
  /** Mantel-Haenszel numerator per rung and denominator. */
  mhNum: number[];
  mhDen: number;
  /** Spans above the threshold: canary at the fail rung, baseline at the threshold (for the summary). */
  canaryAbove: number;
  baselineAbove: number;
  /** Spans in looks that were contrasted (both cohorts, a threshold). */
  canaryTested: number;
  baselineTested: number;
  pValue: number;
}

interface Ladder {
  scale: number;
  low: number;
  rungs: number;
  failRow: number;
  passRow: number;
  ratio: (k: number) => number;
}

function ladderOf(scale: number, tolerance: number): Ladder {
  const perOctave = 2 ** scale;
  const pos = perOctave * Math.log2(1 + tolerance);
  const failRung = Math.ceil(pos - 1e-9);
  const passRung = Math.floor(pos + 1e-9);
  const low = Math.min(-1, Math.floor(LADDER_LOW_LOG2 * perOctave));
  const high = Math.max(1, failRung, Math.ceil(LADDER_HIGH_LOG2 * perOctave));
  return {
    scale,
    low,
    rungs: high - low + 1,
    failRow: failRung - low,
    passRow: passRung - low,
    ratio: (k: number) => 2 ** (k / perOctave),
  };
}

function evaluate(s: LatencyQuantileState, ladder: Ladder, alt: Alternatives, alpha: number): SequentialEvaluation {
  const logInv = Math.log(1 / alpha);
  const bets = s.bets;
  const up = (r: number): number =>
    bets === undefined ? rungLogM(s.llr[r] as number[], alt, 'up') : ledgerLogM(bets.worse, r);
  const down = (r: number): number =>
    bets === undefined ? rungLogM(s.llr[r] as number[], alt, 'down') : ledgerLogM(bets.better, r);
  const logM = up(ladder.failRow);
  const passEvidence = down(ladder.passRow);
  const e: SequentialEvaluation = { logM, passEvidence };
  if (s.canaryTested === 0) return e;
  // up(r) is non-increasing and down(r) non-decreasing along the ladder: binary searches, O(K log rungs).
  const last = s.llr.length - 1;
  let lo = logM >= logInv ? ladder.failRow : -1; // largest row known to reject (-1: none)
  let hi = logM >= logInv ? last + 1 : ladder.failRow; // smallest row known not to reject
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (up(mid) >= logInv) lo = mid;
    else hi = mid;
  }
  e.lower = lo < 0 ? 0 : ladder.ratio(ladder.low + lo);
  let a = passEvidence >= logInv ? -1 : ladder.passRow; // largest row known not to reject
  let b = passEvidence >= logInv ? ladder.passRow : last + 1; // smallest row known to reject (last + 1: none)
  while (b - a > 1) {
    const mid = (a + b) >> 1;
    if (down(mid) >= logInv) b = mid;
    else a = mid;
  }
  if (b <= last) e.upper = ladder.ratio(ladder.low + b);
  const cross = crossingRung(s.mhNum, s.mhDen);
  if (cross !== undefined) e.estimate = ladder.ratio(ladder.low + cross);
  return e;
}

function pLabel(q: number): string {
  return `p${Number((100 * q).toPrecision(4))}`;
}

function summarize(
  phase: Phase,
  s: LatencyQuantileState,
  e: SequentialEvaluation,
  o: LatencyQuantileOptions,
  ladder: Ladder | undefined,
  minSamples: number,
  burnIn: boolean,
): string {
  const q = pLabel(o.quantile);
  const at = ladder === undefined ? '' : `${formatRatio(ladder.ratio(ladder.low + ladder.failRow))}x `;
  const exceedances = `canary ${s.canaryAbove}/${s.canaryTested} spans above ${at}the baseline's running ${q}, baseline ${s.baselineAbove}/${s.baselineTested} above it`;
  if (burnIn) {
    const samples = { canary: s.canarySamples, baseline: s.baselineSamples };
    return `${formatCohortBurnIn(samples, minSamples, 'spans', s.looks, formatP(s.pValue))}; ${exceedances}`;
  }
  const tail = `${formatP(s.pValue)} ${formatLooks(s.looks)}; ${exceedances}`;
  if (ladder === undefined || s.canaryTested === 0)
    return `${q} not comparable yet (needs a look with both cohorts after one with baseline spans), ${tail}`;
  const failAt = ladder.ratio(ladder.low + ladder.failRow);
  const tol =
    o.tolerance > 0
      ? `, tolerance ${formatTolerance(o.tolerance)} tested at ${formatRatio(failAt)}x on the histogram's buckets`
      : '';
  const est =
    e.estimate === undefined ? `${q} ratio not estimable yet` : `${q} latency ${formatRatio(e.estimate)}x baseline`;
  const side = phase === 'fail' ? 'lower' : phase === 'pass' ? 'upper' : 'both';
  return `${est} (${formatBounds(e.lower, e.upper, side)}${tol}), ${tail}`;
}

const EFFECT_OF = (q: number): string =>
  `${pLabel(q)} latency ratio canary/baseline (exceedances of the baseline's running ${pLabel(q)}, stratified by look)`;

function histogramScale(c: LatencyHistogram, b: LatencyHistogram, cn: number, bn: number): number {
  const scales = [...(cn > 0 ? [c.scale] : []), ...(bn > 0 ? [b.scale] : [])];
  return Math.min(MAX_WORK_SCALE, ...scales);
}

/** Adds one (look, stratum)'s exceedances to the estimate's sums and the summary's counts, in place. */
function tallyExceedances(
  s: LatencyQuantileState,
  ladder: Ladder,
  rho: number,
  y: number,
  x: readonly number[],
  cn: number,
  bn: number,
): void {
  s.mhNum = s.mhNum.map((v, r) => v + (x[r] as number) * (1 - rho));
  s.mhDen += y * rho;
  s.canaryAbove += x[ladder.failRow] as number;
  s.baselineAbove += y;
  s.canaryTested += cn;
  s.baselineTested += bn;
}

/**
 * `combine: robust`: the look's exceedances per route both cohorts served (the same threshold t_j for every
 * route: under the null each route's canary exceeds s t_j no more often than its baseline exceeds t_j), one
 * bounded bet per rung over the route strata (lib/robust-looks.ts). Updates `s` (a fresh copy) in place.
 */
function robustLook(s: LatencyQuantileState, input: LookInput, ladder: Ladder, threshold: number): void {
  const perRung: BinomialStratum[][] = Array.from({ length: ladder.rungs }, () => []);
  for (const pair of lookStrata(input.batch, (x) => histogramCount(x.latencyHistogram)).compared) {
    const cn = histogramCount(pair.canary.latencyHistogram);
    const bn = histogramCount(pair.baseline.latencyHistogram);
    const rho = cn / (cn + bn);
    const y = tailCounts(sortedAtScale(pair.baseline.latencyHistogram, ladder.scale), threshold, 1)[0] as number;
    const x = tailCounts(
      sortedAtScale(pair.canary.latencyHistogram, ladder.scale),
      threshold + ladder.low,
      ladder.rungs,
    );
    x.forEach((xk, r) => {
      if (xk + y > 0) perRung[r]!.push({ rho, failures: xk + y, canaryFailures: xk });
    });
    tallyExceedances(s, ladder, rho, y, x, cn, bn);
  }
  // a state without bets (one written by the independent combination) starts betting now
  const n = ladder.rungs * BET_SCALES.length;
  const bets = {
    worse: s.bets?.worse.slice() ?? new Array<number>(n).fill(0),
    better: s.bets?.better.slice() ?? new Array<number>(n).fill(0),
  };
  const t = new Array<number>(BET_SCALES.length).fill(0);
  perRung.forEach((strata, r) => {
    if (binomialLookBets(strata, 0, BET_SCALES, t)) addBets(bets, r, t);
  });
  s.bets = bets;
}

function latencyQuantileMethods(
  name: string,
  opts: LatencyQuantileOptions,
  burnInSamples: number,
): DetectorMethods<LatencyQuantileState> {
  const alt = alternativesOf(mixtureGrid(opts.grid, opts.priorScale));
  const robust = opts.combine === 'robust';
  const out = verdictWriter<LatencyQuantileState>(
    { detector: LATENCY_QUANTILE, metric: name, effect: EFFECT_OF(opts.quantile) },
    (s) => ({ baseline: s.baselineSamples, canary: s.canarySamples }),
  );

  return {
    init(): LatencyQuantileState {
      return {
        looks: 0,
        canarySamples: 0,
        baselineSamples: 0,
        scale: null,
        lowRung: 0,
        baselineCounts: {},
        baselineZero: 0,
        llr: [],
        mhNum: [],
        mhDen: 0,
        canaryAbove: 0,
        baselineAbove: 0,
        canaryTested: 0,
        baselineTested: 0,
        pValue: 1,
      };
    },
    look(state: LatencyQuantileState, input: LookInput, alpha: number): DetectorLookResult<LatencyQuantileState> {
      const problem =
        alphaProblem(alpha) ??
        histogramProblem('canary', input.batch.canary.latencyHistogram) ??
        histogramProblem('baseline', input.batch.baseline.latencyHistogram);
      if (problem !== undefined) return { state, verdict: out.errorVerdict(state, problem) };
      const ch = input.batch.canary.latencyHistogram;
      const bh = input.batch.baseline.latencyHistogram;

      const cn = histogramCount(ch);
      const bn = histogramCount(bh);
      const s: LatencyQuantileState = {
        ...state,
        looks: state.looks + 1,
        canarySamples: state.canarySamples + cn,
        baselineSamples: state.baselineSamples + bn,
      };
      if (s.scale === null && cn + bn > 0) {
        const ladder = ladderOf(histogramScale(ch, bh, cn, bn), opts.tolerance);
        s.scale = ladder.scale;
        s.lowRung = ladder.low;
        s.llr = Array.from({ length: ladder.rungs }, () => new Array<number>(robust ? 0 : alt.logR.length).fill(0));
        if (robust) {
          const n = ladder.rungs * BET_SCALES.length;
          s.bets = { worse: new Array<number>(n).fill(0), better: new Array<number>(n).fill(0) };
        }
        s.mhNum = new Array<number>(ladder.rungs).fill(0);
      }
      const ladder = s.scale === null ? undefined : ladderOf(s.scale, opts.tolerance);
      if (ladder !== undefined && ((cn > 0 && ch.scale < ladder.scale) || (bn > 0 && bh.scale < ladder.scale))) {
        return {
          state,
          verdict: out.errorVerdict(
            state,
            `histogram scale ${Math.min(ch.scale, bh.scale)} is coarser than the analysis' scale ${ladder.scale}`,
          ),
        };
      }

      if (ladder !== undefined) {
        const c = sortedAtScale(ch, ladder.scale);
        const b = sortedAtScale(bh, ladder.scale);
        const q = quantileBucket(s.baselineCounts, s.baselineZero, opts.quantile);
        if (q !== undefined && cn > 0 && bn > 0) {
          const threshold = q + 1; // t_j = b_{q+1}, the upper bound of the quantile's bucket
          if (robust) robustLook(s, input, ladder, threshold);
          else {
            const rho = cn / (cn + bn);
            const y = tailCounts(b, threshold, 1)[0] as number;
            const x = tailCounts(c, threshold + ladder.low, ladder.rungs);
            s.llr = addLook(s.llr, alt, rho, y, x);
            tallyExceedances(s, ladder, rho, y, x, cn, bn);
          }
        }
        if (bn > 0) {
          const counts = { ...s.baselineCounts };
          b.index.forEach((i, j) => (counts[i] = (counts[i] ?? 0) + (b.count[j] as number)));
          s.baselineCounts = counts;
          s.baselineZero += b.zeroCount;
        }
      }

      const e: SequentialEvaluation =
        ladder === undefined ? { logM: 0, passEvidence: 0 } : evaluate(s, ladder, alt, alpha);
      s.pValue = alwaysValidPValue(state.pValue, e.logM);
      const burnIn = s.canarySamples < burnInSamples || s.baselineSamples < burnInSamples;
      const phase = sequentialPhase(e, alpha, burnIn);
      const verdict = out.verdict(s, phase, summarize(phase, s, e, opts, ladder, burnInSamples, burnIn));
      return { state: s, verdict: withEffect(verdict, e) };
    },
  };
}

const definition = defineDetector({
  type: LATENCY_QUANTILE,
  anytimeValid: true,
  options: optionsSchema,
  threshold: (o) => 1 + o.tolerance,
  reads: histogramReads,
  methods: latencyQuantileMethods,
});
/** Builds one tail-latency detector; exported for tests and direct use. */
export const createLatencyQuantile = definition.create;
export const latencyQuantile: DetectorFactory = definition.factory;
