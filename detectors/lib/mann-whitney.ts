import { normalCdf } from './normal.js';
import { normalQuantile } from './normal-quantile.js';
import { zeroin } from './zeroin.js';

/**
 * Mann-Whitney U test (normal approximation) and the Hodges-Lehmann shift with its confidence interval, as
 * R's `wilcox.test(x, y, conf.int = TRUE, exact = FALSE)` and Kayenta's `MannWhitney` compute them.
 *
 * This is a FIXED-HORIZON test: valid for one look at a sample size fixed in advance, not when re-run at every
 * look (STATISTICS.md). Vigil uses it only for Kayenta compatibility and as the peeking baseline of the
 * benchmark.
 *
 * Conventions: `canary` is R's x (Kayenta's experiment), `baseline` is y (control); the location shift is
 * canary - baseline. Ties get average ranks (exact float equality). Complexity: O(n log n) per test,
 * n = n_canary + n_baseline; the interval sorts once, then three root searches of ~10-40 O(n) merges each.
 */

export interface RankResult {
  /** Average ranks (1-based), in input order. */
  ranks: number[];
  /** sum over tie groups of (t^3 - t). */
  tieTerm: number;
}

/** Average ranks of `values` (ties share the mean of their positions) and the tie term. O(n log n). */
export function averageRanks(values: readonly number[]): RankResult {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (values[i] as number) - (values[j] as number));
  const ranks = new Array<number>(n);
  let tieTerm = 0;
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && values[order[j] as number] === values[order[i] as number]) j++;
    const t = j - i;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) ranks[order[k] as number] = rank;
    if (t > 1) tieTerm += t * t * t - t;
    i = j;
  }
  return { ranks, tieTerm };
}

export type Alternative = 'greater' | 'less' | 'two-sided';

export interface MannWhitneyTest {
  /** U of the canary: number of (canary, baseline) pairs with canary > baseline, ties counted 1/2. */
  u: number;
  /** Tie-corrected standard deviation of U under H0. */
  sigma: number;
  z: number;
  /** NaN when every observation is tied (sigma 0) or a sample is empty. */
  pValue: number;
}

/**
 * Mann-Whitney U test with the tie-corrected normal approximation (scipy.stats.mannwhitneyu with
 * method='asymptotic'). `greater`: H1 canary stochastically larger. `continuity` subtracts 1/2 from |U - mu|
 * (scipy and R default). O(n log n).
 */
export function mannWhitneyU(
  canary: readonly number[],
  baseline: readonly number[],
  alternative: Alternative,
  continuity = true,
): MannWhitneyTest {
  const n1 = canary.length;
  const n2 = baseline.length;
  if (n1 === 0 || n2 === 0) return { u: Number.NaN, sigma: Number.NaN, z: Number.NaN, pValue: Number.NaN };
  const { ranks, tieTerm } = averageRanks([...canary, ...baseline]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i] as number;
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (!(sigma > 0)) return { u: u1, sigma, z: Number.NaN, pValue: Number.NaN };
  const u = alternative === 'less' ? n1 * n2 - u1 : alternative === 'greater' ? u1 : Math.max(u1, n1 * n2 - u1);
  const z = (u - mu - (continuity ? 0.5 : 0)) / sigma;
  const sf = normalCdf(-z);
  return { u: u1, sigma, z, pValue: Math.min(1, alternative === 'two-sided' ? 2 * sf : sf) };
}

/** Common-language effect size P(canary > baseline) + P(tie) / 2 = U / (n1 n2). NaN for an empty sample. */
export function commonLanguageEffectSize(canary: readonly number[], baseline: readonly number[]): number {
  if (canary.length === 0 || baseline.length === 0) return Number.NaN;
  const { ranks } = averageRanks([...canary, ...baseline]);
  let r1 = 0;
  for (let i = 0; i < canary.length; i++) r1 += ranks[i] as number;
  return (r1 - (canary.length * (canary.length + 1)) / 2) / (canary.length * baseline.length);
}

/**
 * R's W(d) - zq for the shift d (wilcox.test.R, two-sample asymptotic interval, `correct = TRUE`,
 * two-sided): ranks of (canary - d, baseline), dz = rank sum of the canary - nx(nx+1)/2 - nx ny/2,
 * (dz - sign(dz)/2) / sigma(d) - zq, sigma tie-corrected at d. Kayenta keeps the continuity correction for the
 * estimate too (R drops it there); this follows Kayenta. NaN when every shifted observation is tied.
 * O(n log n); `shiftInterval` uses the O(n) merge form on pre-sorted samples.
 */
export function wilcoxonDiff(canary: readonly number[], baseline: readonly number[], d: number, zq: number): number {
  const byValue = (a: number, b: number): number => a - b;
  return wilcoxonDiffSorted([...canary].sort(byValue), [...baseline].sort(byValue), d, zq);
}

/**
 * W(d) - zq on ascending samples: one merge of (canary - d) with baseline, grouping exactly equal values
 * (the same ties a sort-based ranking finds). O(n).
 */
function wilcoxonDiffSorted(cs: readonly number[], bs: readonly number[], d: number, zq: number): number {
  const nx = cs.length;
  const ny = bs.length;
  let i = 0;
  let j = 0;
  let pos = 0;
  let rx = 0;
  let tieTerm = 0;
  while (i < nx || j < ny) {
    const xv = i < nx ? (cs[i] as number) - d : Number.POSITIVE_INFINITY;
    const yv = j < ny ? (bs[j] as number) : Number.POSITIVE_INFINITY;
    const v = Math.min(xv, yv);
    let cx = 0;
    let cy = 0;
    while (i < nx && (cs[i] as number) - d === v) {
      cx++;
      i++;
    }
    while (j < ny && bs[j] === v) {
      cy++;
      j++;
    }
    const t = cx + cy;
    rx += cx * (pos + (t + 1) / 2);
    if (t > 1) tieTerm += t * t * t - t;
    pos += t;
  }
  const dz = rx - (nx * (nx + 1)) / 2 - (nx * ny) / 2;
  const n = nx + ny;
  const sigma = Math.sqrt(((nx * ny) / 12) * (n + 1 - tieTerm / (n * (n - 1))));
  if (!(sigma > 0)) return Number.NaN;
  return (dz - Math.sign(dz) * 0.5) / sigma - zq;
}

function extent(values: readonly number[]): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

export interface ShiftInterval {
  /** Lower and upper end of the two-sided `confidenceLevel` interval for the shift canary - baseline. */
  lower: number;
  upper: number;
  /** Hodges-Lehmann-type estimate: the root of W(d) = 0. */
  estimate: number;
}

/**
 * Asymptotic Hodges-Lehmann confidence interval for the shift canary - baseline (R's wilcox.test conf.int
 * algorithm, as ported by Kayenta): mu_min = min(canary) - max(baseline), mu_max = max(canary) -
 * min(baseline); each end is the root of W(d) = -+ z_{alpha/2} by `zeroin` (tol 1e-4), or mu_min / mu_max
 * when W does not cross inside (R's "extreme cases"); the estimate is the root of W(d) = 0. W is a step
 * function, so ends and estimate sit within ~1e-4 of a jump (pairwise difference). When both samples are
 * constant every shift ties all observations (R and Kayenta throw): the interval is then the single
 * difference. Requires two non-empty samples of finite values. O(n log n + n x ~100).
 */
export function shiftInterval(
  canary: readonly number[],
  baseline: readonly number[],
  confidenceLevel: number,
): ShiftInterval {
  if (canary.length === 0 || baseline.length === 0)
    throw new RangeError('shiftInterval: both samples must be non-empty');
  const [cMin, cMax] = extent(canary);
  const [bMin, bMax] = extent(baseline);
  const muMin = cMin - bMax;
  const muMax = cMax - bMin;
  if (cMin === cMax && bMin === bMax) return { lower: muMin, upper: muMin, estimate: muMin };
  const cs = [...canary].sort((a, b) => a - b);
  const bs = [...baseline].sort((a, b) => a - b);
  const w = (d: number, zq: number): number => wilcoxonDiffSorted(cs, bs, d, zq);
  const zq = -normalQuantile((1 - confidenceLevel) / 2);
  const root = (z: number): number => {
    const fLower = w(muMin, z);
    if (fLower <= 0) return muMin;
    const fUpper = w(muMax, z);
    if (fUpper >= 0) return muMax;
    return zeroin((d) => w(d, z), muMin, muMax, fLower, fUpper);
  };
  const lower = root(zq);
  const upper = root(-zq);
  const estimate = zeroin((d) => w(d, 0), muMin, muMax, w(muMin, 0), w(muMax, 0));
  return { lower, upper, estimate };
}
