import { logBeta, logBetaTails } from './incomplete-beta.js';

/**
 * One-sided anytime-valid test of a Bernoulli rate: H0 p <= p0 (`side: 'above'`, alternatives p > p0) or
 * H0 p >= p0 (`side: 'below'`), from n trials with x successes.
 *
 * Method: the likelihood ratio prod_i p1^X_i (1 - p1)^(1 - X_i) / (p0^X_i (1 - p0)^(1 - X_i)) mixed over
 * p1 ~ Beta(k p0, k (1 - p0)) TRUNCATED to the alternative side (Lindon & Malek's one-sided form; k the
 * concentration, prior mean p0). Closed form with the incomplete beta function:
 *   M = B(a + x, b + n - x) T(a + x, b + n - x) / (B(a, b) T(a, b)) / (p0^x (1 - p0)^(n - x)),
 * a = k p0, b = k (1 - p0), T = P(Beta > p0) for 'above' and P(Beta < p0) for 'below'.
 * Why it holds: for p1 > p0 each factor has conditional mean <= 1 whenever the true rate is <= p0 at that
 * trial (monotone likelihood ratio), so every LR and their mixture are nonnegative supermartingales under the
 * composite H0, even when the true rate drifts below p0 over time; Ville gives P(sup M >= 1/alpha) <= alpha.
 * Depends only on (n, x): batching trials into looks samples the same process.
 * Complexity: two incomplete-beta evaluations (see incomplete-beta.ts).
 */
export function truncatedBetaLogM(
  n: number,
  x: number,
  p0: number,
  concentration: number,
  side: 'above' | 'below',
): number {
  const a = concentration * p0;
  const b = concentration * (1 - p0);
  const post = logBetaTails(p0, a + x, b + n - x);
  const prior = logBetaTails(p0, a, b);
  const tail = side === 'above' ? post.logUpper - prior.logUpper : post.logLower - prior.logLower;
  const logLik0 = (x > 0 ? x * Math.log(p0) : 0) + (n - x > 0 ? (n - x) * Math.log1p(-p0) : 0);
  return logBeta(a + x, b + n - x) - logBeta(a, b) + tail - logLik0;
}
