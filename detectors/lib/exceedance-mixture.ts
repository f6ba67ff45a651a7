import type { MixtureGrid } from './discrete-mixture.js';
import { logSumExp } from './log-sum-exp.js';

/**
 * The stratified exceedance test behind `latency-quantile`: a family of conditional-binomial discrete mixtures
 * (the same likelihood as `error-rate-sequential`, detectors/lib/discrete-mixture.ts) run side by side for a
 * ladder of scale ratios s_k = b^k (b = the histogram's bucket ratio, k = lo..hi).
 *
 * In look j, with the predictable baseline threshold t_j: y_j = baseline spans above t_j, x_jk = canary spans
 * above s_k t_j, rho_j = n_c / (n_c + n_b) (realised span counts of the look), m_jk = x_jk + y_j. Given m_jk,
 * a null of "the canary exceeds s_k t_j no more often than the baseline exceeds t_j" makes x_jk at most a
 * central hypergeometric draw, whose moment generating function is dominated by Bin(m_jk, rho_j) (Hoeffding
 * 1963, Thm 4: sampling without replacement is smaller in convex order), so every
 *   LR_r(x, m) = r^x / (1 + rho (r - 1))^m
 * has conditional expectation <= 1 for r > 1 ('up' alternatives); the mirrored null ("at least as often")
 * gives the same for r < 1 ('down' alternatives). Mixed over a grid fixed in advance and multiplied over looks,
 * each is a nonnegative supermartingale under its null; Ville's inequality applies.
 *
 * State per rung k: the cumulative log-likelihood ratio of every alternative, 2K numbers (K up: r = g_k, then
 * K down: r = 1/g_k). Update O(rungs x K) per look, mixture O(K) per rung.
 */

/** Alternatives and their log prior weights: up half (r = g) then down half (r = 1/g), each half normalised. */
export interface Alternatives {
  /** ln r for each of the 2K alternatives. */
  logR: number[];
  /** log prior weight, each half summing to 1. */
  logW: number[];
  /** K. */
  half: number;
}

export function alternativesOf(grid: MixtureGrid): Alternatives {
  return {
    logR: [...grid.logG, ...grid.logG.map((g) => -g)],
    logW: [...grid.logW, ...grid.logW],
    half: grid.logG.length,
  };
}

/**
 * Adds one look to every rung: llr[k][a] += x_k ln r_a - (x_k + y) ln(1 + rho (r_a - 1)). Returns new arrays
 * (the input is not modified). `x` has one canary tail count per rung; `y` is the baseline tail count.
 * O(rungs x 2K), with the 2K logarithms computed once per look.
 */
export function addLook(
  llr: readonly (readonly number[])[],
  alt: Alternatives,
  rho: number,
  y: number,
  x: readonly number[],
): number[][] {
  const nA = alt.logR.length;
  const logDen = new Float64Array(nA);
  for (let a = 0; a < nA; a++) logDen[a] = Math.log1p(rho * Math.expm1(alt.logR[a] as number));
  return llr.map((row, k) => {
    const xk = x[k] as number;
    const m = xk + y;
    if (m === 0) return row.slice();
    const out = new Array<number>(nA);
    for (let a = 0; a < nA; a++) out[a] = (row[a] as number) + xk * (alt.logR[a] as number) - m * (logDen[a] as number);
    return out;
  });
}

/**
 * log M of one rung: 'up' mixes the r > 1 alternatives (test of "canary exceeds s_k t no more often than the
 * baseline exceeds t"), 'down' the r < 1 ones (the mirrored test). O(K).
 */
export function rungLogM(row: readonly number[], alt: Alternatives, side: 'up' | 'down'): number {
  const from = side === 'up' ? 0 : alt.half;
  const terms = new Array<number>(alt.half);
  for (let i = 0; i < alt.half; i++) terms[i] = (alt.logW[from + i] as number) + (row[from + i] as number);
  return logSumExp(terms);
}

/**
 * Where the stratified Mantel-Haenszel exceedance ratio R_k = num_k / den crosses 1 (num_k = sum_j x_jk
 * (1 - rho_j), den = sum_j y_j rho_j), as a fractional rung position: R_k >= 1 > R_{k+1} gives
 * k + (R_k - 1) / (R_k - R_{k+1}). At thresholds at the baseline's p-quantile this estimates
 * log_b(q_c(p) / q_b(p)). undefined when den = 0 or the crossing lies outside the ladder. O(rungs).
 */
export function crossingRung(num: readonly number[], den: number): number | undefined {
  if (!(den > 0)) return undefined;
  const r = num.map((v) => v / den);
  if ((r[0] as number) < 1) return undefined;
  for (let k = 0; k + 1 < r.length; k++) {
    const a = r[k] as number;
    const b = r[k + 1] as number;
    if (a >= 1 && b < 1) return k + (a - 1) / (a - b);
  }
  return undefined;
}
