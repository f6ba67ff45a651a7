import { logGamma } from './log-gamma.js';

/**
 * Lindon & Malek's anytime-valid test for multinomial counts ("Anytime-valid inference for multinomial count
 * data", NeurIPS 2022): the Bayes factor of a Dirichlet(k theta0) mixture against the point null theta0,
 *
 *   BF_n = Gamma(k) / Gamma(k + n) * prod_i Gamma(k theta0_i + x_i) / Gamma(k theta0_i) / prod_i theta0_i^x_i,
 *
 * with x_i the cumulative counts of each category and n = sum x_i. Under H0 (i.i.d. draws with probabilities
 * theta0) BF_n is a nonnegative martingale with mean 1, so P(sup_n BF_n >= 1/alpha) <= alpha (Ville), and
 * p_n = min(p_{n-1}, 1/BF_n) is an always-valid p-value. It depends on the counts only through their totals,
 * so evaluating it at the end of each look (batches) samples the same martingale. Two-sided by construction:
 * any departure from theta0 grows it. k (the concentration) sets how far from theta0 the prior looks: the
 * prior sd of a share theta is sqrt(theta (1 - theta) / (k + 1)).
 * Complexity: O(categories) log-gamma evaluations.
 */
export function dirichletMultinomialLogBF(
  counts: readonly number[],
  theta0: readonly number[],
  concentration: number,
): number {
  let n = 0;
  let logBF = logGamma(concentration);
  for (let i = 0; i < counts.length; i++) {
    const x = counts[i] as number;
    const t = theta0[i] as number;
    n += x;
    if (x === 0) continue;
    const a = concentration * t;
    logBF += logGamma(a + x) - logGamma(a) - x * Math.log(t);
  }
  return logBF - logGamma(concentration + n);
}

/** Two arms (baseline, canary) with expected canary share `canaryShare`: the binomial case of the above. */
export function twoArmLogBF(baseline: number, canary: number, canaryShare: number, concentration: number): number {
  return dirichletMultinomialLogBF([baseline, canary], [1 - canaryShare, canaryShare], concentration);
}
