import { brent } from './root-finding.js';
import { logSumExp } from './log-sum-exp.js';

/**
 * The conditional-binomial discrete mixture behind `error-rate-sequential` (STATISTICS.md, "Error rate").
 *
 * In look j the canary served n_c requests and the baseline n_b, rho_j = n_c / (n_c + n_b) (REALISED counts),
 * m_j requests failed in all, x_j of them in the canary. Given m_j, a failure comes from the canary with
 * probability theta_j(r) = rho_j r / (rho_j r + 1 - rho_j), r = canary/baseline error-rate ratio. The per-look
 * log-likelihood ratio of r against r0 is
 *   x ln(theta(r)/theta(r0)) + (m - x) ln((1 - theta(r))/(1 - theta(r0)))
 *     = x ln(r/r0) + m [ln(1 - rho + rho r0) - ln(1 - rho + rho r)]        (same thing, fewer logs)
 * and the mixture over a fixed grid r_k = r0 g_k with prior weights w_k is M = sum_k w_k exp(sum_j LLR_jk).
 * Because the binomial family has a monotone likelihood ratio, M is a nonnegative supermartingale under every
 * r <= r0; Ville's inequality makes P(sup_t M_t >= 1/alpha) <= alpha. Mirroring the grid (alternatives r0/g_k)
 * gives the test of H0: r >= r0. Inverting both over r0 gives anytime-valid lower / upper bounds.
 */

/** One look's stratum: realised canary share, failures in all, failures in the canary. */
export interface Stratum {
  rho: number;
  failures: number;
  canaryFailures: number;
}

/** The fixed grid: g_k (multipliers >= 1.02) and log prior weights (normalised). */
export interface MixtureGrid {
  logG: number[];
  logW: number[];
}

/** Lowest and highest grid multiplier: alternatives from 1.02x to 20x the null ratio. */
const G_MIN = 1.02;
const G_MAX = 20;

/**
 * g_k = exp(ln 1.02 + (k-1)/(K-1) ln(20/1.02)), k = 1..K (K >= 2), and w_k ∝ exp(-(ln g_k)^2 / (2 scale^2))
 * (half-normal prior on ln(r/r0)), normalised so sum w_k = 1. O(K).
 */
export function mixtureGrid(k: number, priorScale: number): MixtureGrid {
  const logG: number[] = [];
  const raw: number[] = [];
  const step = Math.log(G_MAX / G_MIN) / (k - 1);
  for (let i = 0; i < k; i++) {
    const lg = Math.log(G_MIN) + i * step;
    logG.push(lg);
    raw.push(-(lg * lg) / (2 * priorScale * priorScale));
  }
  const norm = logSumExp(raw);
  return { logG, logW: raw.map((v) => v - norm) };
}

/** theta(r) = rho r / (rho r + 1 - rho): the chance that a failure of the look is a canary failure. */
export function canaryShareOfFailures(rho: number, r: number): number {
  return (rho * r) / (rho * r + 1 - rho);
}

/**
 * Per-look log-likelihood ratio of ratio `r` against `r0`, conditional on the look's failure total `m`
 * (x of them in the canary, canary share of requests rho). A one-point grid (K = 1 at r) of the mixture is
 * the conditional-binomial SPRT (reference G). O(1).
 */
export function lookLogLikelihoodRatio(rho: number, m: number, x: number, r: number, r0: number): number {
  if (m === 0) return 0;
  return x * Math.log(r / r0) + m * (Math.log1p(rho * (r0 - 1)) - Math.log1p(rho * (r - 1)));
}

/**
 * log M of the mixture testing H0: r <= rNull (direction 'upper-alternatives', alternatives rNull g_k) or
 * H0: r >= rNull ('lower-alternatives', alternatives rNull / g_k), from the per-look strata.
 * The first is decreasing in rNull, the second increasing. O(K x strata).
 */
export function stratifiedMixtureLogM(
  strata: readonly Stratum[],
  grid: MixtureGrid,
  rNull: number,
  direction: 'upper-alternatives' | 'lower-alternatives',
): number {
  return packedMixtureLogM(pack(strata), grid, rNull, direction);
}

/** Strata as flat typed arrays for the inner loops of the root finder. */
interface PackedStrata {
  rho: Float64Array;
  failures: Float64Array;
  canaryFailures: number;
}

function pack(strata: readonly Stratum[]): PackedStrata {
  const rho = new Float64Array(strata.length);
  const failures = new Float64Array(strata.length);
  let canaryFailures = 0;
  strata.forEach((s, j) => {
    rho[j] = s.rho;
    failures[j] = s.failures;
    canaryFailures += s.canaryFailures;
  });
  return { rho, failures, canaryFailures };
}

function packedMixtureLogM(
  p: PackedStrata,
  grid: MixtureGrid,
  rNull: number,
  direction: 'upper-alternatives' | 'lower-alternatives',
): number {
  const sign = direction === 'upper-alternatives' ? 1 : -1;
  const { rho, failures } = p;
  const n = rho.length;
  let nullTerm = 0;
  for (let j = 0; j < n; j++) nullTerm += (failures[j] as number) * Math.log1p((rho[j] as number) * (rNull - 1));
  const terms = new Array<number>(grid.logG.length);
  for (let k = 0; k < grid.logG.length; k++) {
    const lg = sign * (grid.logG[k] as number);
    const rkMinus1 = rNull * Math.exp(lg) - 1;
    let altTerm = 0;
    for (let j = 0; j < n; j++) altTerm += (failures[j] as number) * Math.log1p((rho[j] as number) * rkMinus1);
    terms[k] = (grid.logW[k] as number) + p.canaryFailures * lg + nullTerm - altTerm;
  }
  return logSumExp(terms);
}

/** Search range for the bounds, in ratio units: [1e-6, 1e6]. */
const LN_R_MIN = Math.log(1e-6);
const LN_R_MAX = Math.log(1e6);

/**
 * Root in ln r of a monotone f (`increasing` or not) over [LN_R_MIN, LN_R_MAX]: bracket outward from `start`
 * (steps 0.25, 0.5, 1, ... in ln r, towards the root) and finish with Brent's method on that small bracket;
 * ~8-12 evaluations instead of ~40 for bisection over the whole range. When f keeps its sign up to the end
 * of the range, returns -Infinity / +Infinity (the root lies beyond it).
 */
function rootFrom(f: (u: number) => number, start: number, increasing: boolean): number {
  const u0 = Math.min(LN_R_MAX, Math.max(LN_R_MIN, start));
  const f0 = f(u0);
  if (f0 === 0) return u0;
  const up = f0 < 0 === increasing; // the root lies above u0
  let a = u0;
  let step = 0.25;
  for (;;) {
    const b = up ? Math.min(LN_R_MAX, a + step) : Math.max(LN_R_MIN, a - step);
    const fb = f(b);
    if (fb === 0) return b;
    if (Math.sign(fb) !== Math.sign(f0)) return brent(f, Math.min(a, b), Math.max(a, b), 1e-10);
    if (b === LN_R_MAX) return Number.POSITIVE_INFINITY;
    if (b === LN_R_MIN) return Number.NEGATIVE_INFINITY;
    a = b;
    step *= 2;
  }
}

/**
 * Anytime-valid bounds on r at level alpha each (one-sided), by inverting the two mixtures over the null
 * ratio: lower = the r' where the test of H0: r <= r' stops rejecting (log M = log(1/alpha); that log M
 * decreases in r'), upper = the r' where the mirrored test of H0: r >= r' stops rejecting (increasing in r').
 * Roots on ln r' by Brent's method (bisection-safeguarded) to 1e-10, bracketed outward from `start` (e.g. the
 * point estimate). Search range r' in [1e-6, 1e6]: lower = 0 when even r' = 1e-6 is not rejected, upper =
 * +Infinity when r' = 1e6 is not rejected (e.g. the baseline has no failures yet); a root beyond the other
 * end is reported as that end. Complexity: O(K x strata x ~20).
 */
export function mixtureBounds(
  strata: readonly Stratum[],
  grid: MixtureGrid,
  alpha: number,
  start = 1,
): { lower: number; upper: number } {
  const logInv = Math.log(1 / alpha);
  const packed = pack(strata);
  const lowerFn = (u: number): number => packedMixtureLogM(packed, grid, Math.exp(u), 'upper-alternatives') - logInv;
  const upperFn = (u: number): number => packedMixtureLogM(packed, grid, Math.exp(u), 'lower-alternatives') - logInv;
  const u0 = start > 0 && Number.isFinite(start) ? Math.log(start) : 0;
  const lo = rootFrom(lowerFn, u0, false);
  const hi = rootFrom(upperFn, u0, true);
  return {
    lower: lo === Number.NEGATIVE_INFINITY ? 0 : Math.exp(Math.min(lo, LN_R_MAX)),
    upper: hi === Number.POSITIVE_INFINITY ? hi : Math.exp(Math.max(hi, LN_R_MIN)),
  };
}

/**
 * Mantel-Haenszel-type estimate of r across looks: sum_j x_j (1 - rho_j) / sum_j (m_j - x_j) rho_j (for one
 * look: canary error rate / baseline error rate). NaN when there are no failures; +Infinity when only the
 * canary failed. O(strata).
 */
export function mantelHaenszelRatio(strata: readonly Stratum[]): number {
  let num = 0;
  let den = 0;
  for (const s of strata) {
    num += s.canaryFailures * (1 - s.rho);
    den += (s.failures - s.canaryFailures) * s.rho;
  }
  if (num === 0 && den === 0) return Number.NaN;
  return num / den;
}
