/**
 * ln Gamma(x) for x > 0.
 *
 * Method: Lanczos approximation with g = 607/128 and 15 coefficients (Godfrey's set, the one Boost and
 * Apache Commons Math use for ln Gamma), relative error ~1e-15; for x < 0.5 the reflection
 * ln Gamma(x) = ln(pi / sin(pi x)) - ln Gamma(1 - x). Large arguments lose only what the double
 * representation of ln Gamma(x) itself loses (absolute ~1e-16 x ln x). NaN for x <= 0 or NaN. O(1).
 */

const G = 607 / 128;
const C = [
  0.9999999999999971, 57.15623566586292, -59.59796035547549, 14.136097974741746, -0.4919138160976202,
  3.399464998481189e-5, 4.652362892704858e-5, -9.837447530487956e-5, 1.580887032249125e-4, -2.1026444172410488e-4,
  2.1743961811521265e-4, -1.643181065367639e-4, 8.441822398385275e-5, -2.6190838401581408e-5, 3.6899182659531625e-6,
];
const HALF_LN_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln Gamma(x) (see the file comment). */
export function logGamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = C[0] as number;
  for (let i = 1; i < C.length; i++) sum += (C[i] as number) / (z + i);
  const t = z + G + 0.5;
  return HALF_LN_2PI + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}
