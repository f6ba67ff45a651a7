import { brent } from './root-finding.js';
import { normalLogCdf } from './normal.js';

/**
 * Normal-mixture e-processes for an approximately normal effect estimate d ~ N(theta, s2), and their
 * confidence-sequence radii. Reference: Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric,
 * nonasymptotic confidence sequences", Ann. Statist. 2021 (normal mixture, one- and two-sided); Johari,
 * Koomen, Pekelis & Walsh, "Always valid inference", Oper. Res. 2022 (mSPRT, the two-sided one).
 *
 * With the likelihood ratio exp(theta d / s2 - theta^2 / (2 s2)) of effect theta against 0 (s2 = the variance
 * of d, e.g. V/n) and a prior on theta fixed in advance:
 *   two-sided, theta ~ N(0, tau2):
 *     log M = 1/2 log(s2/(s2+tau2)) + tau2 d^2 / (2 s2 (s2+tau2))
 *   one-sided, theta ~ N+(0, tau2) (half-normal, H0: theta <= 0):
 *     log M = log 2 + 1/2 log(s2/(s2+tau2)) + tau2 d^2 / (2 s2 (s2+tau2)) + log Phi(tau d / sqrt(s2 (s2+tau2)))
 * In confseq's intrinsic time (v = 1/s2, rho = 1/tau2 in units of the sum) these are normal_log_mixture.
 * All functions are O(1) (the one-sided radius: ~10-50 evaluations of an O(1) function).
 */

export type Sidedness = 'one-sided' | 'two-sided';

/**
 * Howard et al.'s tuning of the mixture variance: tau2 = V (2 ln(1/a) + ln(1 + 2 ln(1/a))) / nOpt, which
 * makes the boundary tightest at nOpt samples for crossing probability a (confseq's best_rho, inverted). V is
 * the variance of ONE unit (for a two-cohort difference: one canary-minus-baseline pair). Two-sided tests use
 * a = alpha, one-sided a = 2 alpha. Example (reference C): howardTau2(2, 100, 0.05) = 0.158723092035.
 */
export function howardTau2(vPlan: number, nOpt: number, a: number): number {
  const l = Math.log(1 / a);
  return (vPlan * (2 * l + Math.log(1 + 2 * l))) / nOpt;
}

/** log M of the normal mixture for effect estimate `d` with variance `s2`, mixture variance `tau2`. */
export function normalMixtureLogM(d: number, s2: number, tau2: number, sided: Sidedness): number {
  const denom = s2 + tau2;
  const twoSided = -0.5 * Math.log1p(tau2 / s2) + (tau2 * d * d) / (2 * s2 * denom);
  if (sided === 'two-sided') return twoSided;
  return Math.LN2 + twoSided + normalLogCdf((Math.sqrt(tau2) * d) / Math.sqrt(s2 * denom));
}

/**
 * Radius of the normal-mixture confidence sequence at level alpha: the r > 0 with log M(r) = log(1/alpha).
 * Two-sided (closed form): d +/- r covers theta for all times with probability >= 1 - alpha,
 *   r = sqrt(2 s2 (s2+tau2) / tau2 * (log(1/alpha) + 1/2 log((s2+tau2)/s2))).
 * One-sided: d - r is a lower bound (and d + r an upper bound, by the mirrored mixture) valid for all times
 * with probability >= 1 - alpha each; found by Brent's method on [0, two-sided radius] (the one-sided log M
 * is increasing in d and lies between the two-sided log M and log 2 + it for d >= 0), to 1e-13 relative.
 * Example (reference D): normalMixtureRadius(1/100, howardTau2(1, 100, 0.1), 0.05, 'one-sided') = 0.2766...
 */
export function normalMixtureRadius(s2: number, tau2: number, alpha: number, sided: Sidedness): number {
  const logInv = Math.log(1 / alpha);
  const r2 = Math.sqrt(((2 * s2 * (s2 + tau2)) / tau2) * (logInv + 0.5 * Math.log1p(tau2 / s2)));
  if (sided === 'two-sided') return r2;
  return brent((r) => normalMixtureLogM(r, s2, tau2, 'one-sided') - logInv, 0, r2, r2 * 1e-13);
}
