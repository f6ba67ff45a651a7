/**
 * Standard normal distribution: cdf, log-cdf and the complementary error function, to near machine precision
 * and without underflow far in the lower tail.
 *
 * Method: for x < 2.5, erf(x) = (2/sqrt(pi)) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)) (all terms
 * positive, no cancellation; Abramowitz & Stegun 7.1.6). For x >= 2.5, the continued fraction
 * erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) (A&S 7.1.14), evaluated with the
 * modified Lentz algorithm; its logarithm is formed without computing exp(-x^2), so log Phi(z) stays finite
 * for any finite z (log Phi(-1e5) = -5e9 - ...). Relative error below 1e-13 in the tested range.
 * Complexity: O(1) (at most ~120 terms).
 */

const SQRT_PI = Math.sqrt(Math.PI);
const SQRT2 = Math.SQRT2;
const LN_SQRT_PI = Math.log(SQRT_PI);
const SERIES_LIMIT = 2.5;

/** sum_n 2^n x^(2n+1) / (2n+1)!!, so that erf(x) = 2/sqrt(pi) exp(-x^2) * series(x) for x >= 0. */
function erfSeries(x: number): number {
  const x2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= x2 / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/**
 * log of the continued fraction K(x) with erfc(x) = exp(-x^2) / sqrt(pi) * K(x), x >= 2.5.
 * K(x) = 1/(x + a1/(x + a2/(x + ...))), a_n = n/2.
 */
function logErfcFraction(x: number): number {
  const tiny = 1e-300;
  // Lentz for b0 + a1/(b1 + a2/(b2 + ...)) with b_n = x, a_n = n/2; K = 1 / that.
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return -Math.log(f);
}

/** Complementary error function erfc(x) = 1 - erf(x), accurate in relative terms for x > 0. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < SERIES_LIMIT) return 1 - (2 / SQRT_PI) * Math.exp(-x * x) * erfSeries(x);
  return Math.exp(logErfc(x));
}

/** log erfc(x), finite for every finite x (for x -> +inf it is about -x^2 - log(x sqrt(pi))). */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < SERIES_LIMIT) return Math.log(erfc(x));
  return -x * x - LN_SQRT_PI + logErfcFraction(x);
}

/** Standard normal cdf Phi(z). */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  // Phi(z) = erfc(-z/sqrt2)/2; for z > 0 that is 1 - erfc(z/sqrt2)/2, exact in absolute terms.
  return z < 0 ? erfc(-z / SQRT2) / 2 : 1 - erfc(z / SQRT2) / 2;
}

/** log Phi(z), stable for very negative z (no underflow) and accurate near 0 for large positive z. */
export function normalLogCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  if (z === Number.NEGATIVE_INFINITY) return Number.NEGATIVE_INFINITY;
  if (z < 0) return logErfc(-z / SQRT2) - Math.LN2;
  return Math.log1p(-erfc(z / SQRT2) / 2);
}

/** Standard normal density. */
export function normalPdf(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}
