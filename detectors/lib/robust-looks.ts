import { logBetaTails } from './incomplete-beta.js';
import { logSumExp } from './log-sum-exp.js';
import { normalPdf } from './normal.js';
import { normalQuantile } from './normal-quantile.js';

/**
 * Robust combination of looks: one bounded bet per look, so that a shock hitting ONE cohort for a whole look
 * (a bad node, a cold cache, a pod restarting) is the noise it is, not overwhelming evidence.
 *
 * Why: the conditional-binomial and normal-mixture tests treat every request as independent. When a whole look
 * of one cohort is hit (10x errors, 1.3x slower), the look's likelihood ratio is astronomical, and a healthy
 * canary is rolled back (measured: 40% of healthy canaries with a 10x burst in 20% of looks, either cohort).
 * No test can tell a burst that hit the canary for one look from a regression in its first look, so one look
 * must never decide alone.
 *
 * Method (testing by betting: Shafer, "Testing by betting", JRSS A 2021; Waudby-Smith & Ramdas, "Estimating
 * means of bounded random variables by betting", JRSS B 2023). Each look j gives a score z_j whose
 * conditional distribution, under the null at ratio r, is SYMMETRIC about 0 (or stochastically smaller):
 *  - failures (a conditional binomial per look and route): the randomised probability-integral transform
 *    z = Phi^-1(U), U ~ Uniform(F(x - 1), F(x)), F the Binomial(m, theta(r)) cdf, is exactly N(0, 1) when the
 *    look is binomial; the bet below is averaged over U in closed form (a 1-D integral), so it is deterministic;
 *  - latency: the look's standardised difference of mean log-latency (symmetric for normal log-latency and,
 *    approximately, by the CLT).
 * The look's wealth factor, per bet scale a, is 1 + tanh(a clip(z)) in (0, 2): its conditional mean is 1 when
 * z is symmetric (tanh and clip are odd), at most 1 when z is stochastically smaller. Wealth is the product over
 * looks; the e-process is the average of the wealths of the scales a in BET_SCALES (a mixture fixed in advance);
 * Ville's inequality gives P(sup_t M_t >= 1/alpha) <= alpha. 1 + tanh(a z) is the optimal (log-optimal) bet
 * against a symmetric null when z ~ N(a, 1) under the alternative: 2 p_a(z) / (p_a(z) + p_a(-z)).
 *
 * What the promise now assumes (the working model): within a look, requests of one (cohort, route) are
 * independent given that look's conditions; a shock that hits one cohort for a whole look is as likely to hit
 * either cohort (a bad node in the canary as often as one in the baseline, relative to their sizes): then z is
 * symmetric, shocks included. Looks are independent given the past. A cohort that is hit MORE often than the
 * other is, for this test, a worse cohort: a canary that bursts alone is rolled back.
 * Cost: every look's factor is below 1.94, so a regression needs at least ln(1/alpha_i) / ln 1.94 looks (7 at alpha 0.05
 * split three ways) however strong it is. That is the price of not letting one look decide.
 *
 * Several strata in one look (routes) give ONE bet: the information-weighted average of their bets,
 * sum_r pi_r (1 + tanh(a c_r z_r)), pi_r = I_r / sum I, c_r = sqrt(sum I / I_r) (I_r the stratum's Fisher
 * information under the null). Each term has conditional mean <= 1, so does the average, whatever the
 * dependence between routes (a bad node hits all its routes at once: still one bounded factor per look).
 *
 * Bounds: the e-process is kept on a grid of null ratios r_k = r0 step^k, k = -half..half (both sides: "canary
 * worse than r_k" and "canary better than r_k"). The lower bound is the largest grid ratio whose "worse" test
 * rejects, the upper the smallest whose "better" test rejects: anytime-valid at alpha each, on the grid.
 * Complexity per look: O(grid x strata) score evaluations (two incomplete-beta tails and a 8-24 point
 * quadrature per binomial stratum; O(1) per z-score), O(grid x scales) state.
 */

/** The bet scales a (uniform mixture). Measured on the benchmark: a = 0.3 .. 1.2 covers 1.2x to 5x regressions. */
export const BET_SCALES: readonly number[] = [0.3, 0.6, 1.2];
/** Scores are clipped to +-Z_CLIP (an odd function: symmetry kept): beyond it the normal tail is below 1e-17. */
export const Z_CLIP = 8.5;
/**
 * The look's log wealth factor for a bet t in (-1, 1): ln(1 + (1 - SHRINK) t - SHRINK t^2). With SHRINK = 0 it is
 * ln(1 + t), a martingale at the null's boundary; SHRINK > 0 makes it a strict supermartingale whose drift grows
 * with the look's volatility (t^2), which keeps false alarms below alpha with a margin when shocks make the looks
 * volatile. The factor stays in [0, 2 - 2 SHRINK]. 0.03, measured on the benchmark: A/A false alarms of the
 * error-rate test alone at alpha 0.05 from 0.047 to 0.030 while the median delay at errors 1.5x stays 9 looks.
 */
export const SHRINK = 0.03;
export function betLogFactor(t: number): number {
  return Math.log1p((1 - SHRINK) * t - SHRINK * t * t);
}

/** Default grid of null ratios for the bounds: r0 x 1.1^k, k = -24..24 (r0 / 9.8 to 9.8 r0). */
export const GRID_STEP = 1.1;
export const GRID_HALF = 24;

/** The grid of null ratios (ascending): ln r_k; index `atR0` holds ln r0. */
export interface NullGrid {
  logR: number[];
  atR0: number;
}

export function nullGrid(r0: number, step = GRID_STEP, half = GRID_HALF): NullGrid {
  const logR: number[] = [];
  for (let k = -half; k <= half; k++) logR.push(Math.log(r0) + k * Math.log(step));
  return { logR, atR0: half };
}

/** Log-wealth per (grid point, scale), row-major: [k * scales + s]. Plain JSON. */
export interface BetLedger {
  /** Betting that the canary is worse than r_k (tests H0: ratio <= r_k). */
  worse: number[];
  /** Betting that the canary is better than r_k (tests H0: ratio >= r_k). */
  better: number[];
}

export function emptyLedger(grid: NullGrid, scales: readonly number[] = BET_SCALES): BetLedger {
  const n = grid.logR.length * scales.length;
  return { worse: new Array<number>(n).fill(0), better: new Array<number>(n).fill(0) };
}

/**
 * One look. `bets(logR, out)` writes, for the null ln r, the look's mean tanh per scale into `out` (values in
 * (-1, 1)) and returns true, or returns false when the look says nothing at that null (no stratum). Returns a
 * new ledger (the input is not changed).
 */
export function addLook(
  ledger: BetLedger,
  grid: NullGrid,
  bets: (logR: number, out: number[]) => boolean,
  scales: readonly number[] = BET_SCALES,
): BetLedger {
  const next = { worse: ledger.worse.slice(), better: ledger.better.slice() };
  const out = new Array<number>(scales.length).fill(0);
  for (let k = 0; k < grid.logR.length; k++) if (bets(grid.logR[k] as number, out)) addBets(next, k, out);
  return next;
}

/** Adds one look's bets `t` (one per scale) to row k of a ledger, in place: both sides. */
export function addBets(ledger: BetLedger, k: number, t: readonly number[]): void {
  const s = t.length;
  for (let j = 0; j < s; j++) {
    const x = t[j] as number;
    ledger.worse[k * s + j] = (ledger.worse[k * s + j] as number) + betLogFactor(x);
    ledger.better[k * s + j] = (ledger.better[k * s + j] as number) + betLogFactor(-x);
  }
}

/** ln M at grid point k: ln of the mean over scales of the wealths. */
export function ledgerLogM(row: readonly number[], k: number, scales = BET_SCALES.length): number {
  return logSumExp(row.slice(k * scales, (k + 1) * scales)) - Math.log(scales);
}

/**
 * Anytime-valid bounds on the grid at level alpha each: lower = the largest r_k whose "worse" test rejects
 * (undefined: none does), upper = the smallest r_k whose "better" test rejects (undefined: none does).
 */
export function ledgerBounds(
  ledger: BetLedger,
  grid: NullGrid,
  alpha: number,
  scales = BET_SCALES.length,
): { lower?: number; upper?: number } {
  const bar = Math.log(1 / alpha);
  const out: { lower?: number; upper?: number } = {};
  for (let k = grid.logR.length - 1; k >= 0; k--) {
    if (ledgerLogM(ledger.worse, k, scales) >= bar) {
      out.lower = Math.exp(grid.logR[k] as number);
      break;
    }
  }
  for (let k = 0; k < grid.logR.length; k++) {
    if (ledgerLogM(ledger.better, k, scales) >= bar) {
      out.upper = Math.exp(grid.logR[k] as number);
      break;
    }
  }
  return out;
}

/** Gauss-Legendre nodes and weights on [-1, 1], 8 points. */
const GL_X = [
  -0.9602898564975363, -0.7966664774136267, -0.525532409916329, -0.1834346424956498, 0.1834346424956498,
  0.525532409916329, 0.7966664774136267, 0.9602898564975363,
];
const GL_W = [
  0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.362683783378362, 0.362683783378362, 0.3137066458778873,
  0.2223810344533745, 0.1012285362903763,
];
/** Widest quadrature panel (z units): 8 points per panel integrate tanh(a z) phi(z) to ~1e-9 at a <= 10. */
const PANEL = 1;

/** Phi^-1 of a probability given by its log and the log of its complement (accurate in both tails), clipped. */
function clippedQuantile(logP: number, logQ: number): number {
  if (logP < logQ) {
    const p = Math.exp(logP);
    return p === 0 ? -Z_CLIP : Math.max(-Z_CLIP, normalQuantile(p));
  }
  const q = Math.exp(logQ);
  return q === 0 ? Z_CLIP : Math.min(Z_CLIP, -normalQuantile(q));
}

/** z_k = Phi^-1(P(X <= k)) for X ~ Binomial(m, theta), clipped; k = -1 gives -Z_CLIP, k = m gives +Z_CLIP. */
function binomialZ(m: number, k: number, theta: number): number {
  if (k < 0) return -Z_CLIP;
  if (k >= m) return Z_CLIP;
  // P(X <= k) = P(Beta(m - k, k + 1) <= 1 - theta)
  const t = logBetaTails(1 - theta, m - k, k + 1);
  return clippedQuantile(t.logLower, t.logUpper);
}

/**
 * The mean of tanh(a clip(Z)) for Z ~ N(0, 1) restricted to [zl, zh] (the randomised PIT of one binomial
 * outcome), for each scale in `scales`, written to `out`. Composite 8-point Gauss-Legendre, normalised by the
 * same quadrature of the normal mass (so a sliver of mass far in a tail keeps its precision).
 */
function meanTanhOnInterval(zl: number, zh: number, scales: readonly number[], out: number[]): void {
  if (zh - zl < 1e-9) {
    const z = (zl + zh) / 2;
    for (let s = 0; s < scales.length; s++) out[s] = Math.tanh((scales[s] as number) * z);
    return;
  }
  const panels = Math.max(1, Math.ceil((zh - zl) / PANEL));
  const width = (zh - zl) / panels;
  let mass = 0;
  for (let s = 0; s < scales.length; s++) out[s] = 0;
  for (let p = 0; p < panels; p++) {
    const mid = zl + (p + 0.5) * width;
    for (let i = 0; i < GL_X.length; i++) {
      const z = mid + (width / 2) * (GL_X[i] as number);
      const w = (GL_W[i] as number) * normalPdf(z);
      mass += w;
      for (let s = 0; s < scales.length; s++) out[s] = (out[s] as number) + w * Math.tanh((scales[s] as number) * z);
    }
  }
  for (let s = 0; s < scales.length; s++) out[s] = (out[s] as number) / mass;
}

/**
 * The bet of one binomial outcome: for each scale a, E[tanh(a clip(Phi^-1(U)))], U ~ Uniform(F(x - 1), F(x)),
 * F the Binomial(m, theta) cdf. Under X ~ Binomial(m, theta') with theta' <= theta its mean over X is <= 0
 * (exactly 0 at theta' = theta). Written to `out`. O(sqrt(m)) for the tails plus the quadrature.
 */
export function binomialBet(m: number, x: number, theta: number, scales: readonly number[], out: number[]): void {
  meanTanhOnInterval(binomialZ(m, x - 1, theta), binomialZ(m, x, theta), scales, out);
}

/** The bet of a score that is symmetric under the null: tanh(a clip(z)) per scale, written to `out`. */
export function symmetricBet(z: number, scales: readonly number[], out: number[]): void {
  const c = Math.max(-Z_CLIP, Math.min(Z_CLIP, z));
  for (let s = 0; s < scales.length; s++) out[s] = Math.tanh((scales[s] as number) * c);
}

/** One conditional-binomial stratum of a look (a route): canary share of requests, failures, canary failures. */
export interface BinomialStratum {
  rho: number;
  failures: number;
  canaryFailures: number;
}

/**
 * The look's bet over its binomial strata at null ln r: sum_r pi_r tanh-bet(a c_r) (see the file comment),
 * theta_r = rho r / (rho r + 1 - rho). False when no stratum has failures.
 */
export function binomialLookBets(
  strata: readonly BinomialStratum[],
  logR: number,
  scales: readonly number[],
  out: number[],
): boolean {
  const r = Math.exp(logR);
  let info = 0;
  const thetas: number[] = [];
  for (const s of strata) {
    const theta = (s.rho * r) / (s.rho * r + 1 - s.rho);
    thetas.push(theta);
    info += s.failures * theta * (1 - theta);
  }
  if (!(info > 0)) return false;
  for (let j = 0; j < scales.length; j++) out[j] = 0;
  const one = new Array<number>(scales.length).fill(0);
  const scaled = new Array<number>(scales.length).fill(0);
  strata.forEach((s, i) => {
    const theta = thetas[i] as number;
    const ir = s.failures * theta * (1 - theta);
    if (!(ir > 0)) return;
    const c = Math.sqrt(info / ir);
    for (let j = 0; j < scales.length; j++) scaled[j] = (scales[j] as number) * c;
    binomialBet(s.failures, s.canaryFailures, theta, scaled, one);
    for (let j = 0; j < scales.length; j++) out[j] = (out[j] as number) + (ir / info) * (one[j] as number);
  });
  return true;
}
