import type { LookInput } from '../../src/contracts/detector.js';
import type { CohortBatch, LogMoments } from '../../src/contracts/evidence.js';
import { seededRandom } from '../../src/demo/traffic-generator.js';

/** A cohort batch with the given counts and log-latency moments (histogram left empty: unused here). */
export function batch(
  requests: number,
  errors: number,
  logLatency: LogMoments = { n: 0, mean: 0, m2: 0 },
): CohortBatch {
  return { requests, errors, logLatency, latencyHistogram: { scale: 0, zeroCount: 0, counts: {} } };
}

export function lookInput(look: number, canary: CohortBatch, baseline: CohortBatch): LookInput {
  return {
    analysisId: 'a1',
    look,
    atUnixMs: 1_700_000_000_000 + look * 10_000,
    batch: { canary, baseline },
    totals: { canary, baseline },
  };
}

/** Welford moments of a sample. */
export function moments(ys: readonly number[]): LogMoments {
  let n = 0;
  let mean = 0;
  let m2 = 0;
  for (const y of ys) {
    n += 1;
    const d = y - mean;
    mean += d / n;
    m2 += d * (y - mean);
  }
  return { n, mean, m2 };
}

/** Seeded PRNG (mulberry32) so simulations in tests are deterministic. */
export const rng = seededRandom;

export function binomial(rand: () => number, n: number, p: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (rand() < p) k++;
  return k;
}

export function gaussian(rand: () => number): number {
  const u = 1 - rand();
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Simpson's rule on [a, b] with n (even) intervals. */
export function simpson(f: (x: number) => number, a: number, b: number, n = 20_000): number {
  const h = (b - a) / n;
  let s = f(a) + f(b);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * f(a + i * h);
  return (s * h) / 3;
}

/** Relative closeness for exact-value checks. */
export function relErr(got: number, want: number): number {
  return Math.abs(got - want) / Math.max(Math.abs(want), 1e-300);
}

/**
 * The spec's per-look conditional-binomial LLR written out with theta(r) = rho r / (rho r + 1 - rho),
 * independent of the library's simplified form.
 */
export function llrByTheta(rho: number, m: number, x: number, r: number, r0: number): number {
  const t = (q: number): number => (rho * q) / (rho * q + 1 - rho);
  return x * Math.log(t(r) / t(r0)) + (m - x) * Math.log((1 - t(r)) / (1 - t(r0)));
}

/** stats-reference.txt section F: counts_per_interval, (baseline, canary) failures per look. */
export const REFERENCE_F_COUNTS: [baseline: number, canary: number][] = [
  [9, 14],
  [11, 16],
  [10, 17],
  [8, 19],
  [12, 15],
  [10, 18],
  [9, 20],
  [11, 17],
  [10, 16],
  [13, 21],
];
