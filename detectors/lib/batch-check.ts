import type { CohortBatch } from '../../src/contracts/evidence.js';

/**
 * Why a look's batch cannot be used, or undefined when it is sound: counts must be finite integers >= 0 with
 * errors <= requests; log-latency moments need finite n >= 0, mean and m2 >= 0 (a Welford m2 a hair below 0
 * from rounding is accepted). O(1).
 */
export function batchProblem(cohort: string, b: CohortBatch, what: 'counts' | 'latency'): string | undefined {
  if (what === 'counts') {
    if (!(Number.isInteger(b.requests) && b.requests >= 0))
      return `${cohort} requests must be an integer >= 0, got ${b.requests}`;
    if (!(Number.isInteger(b.errors) && b.errors >= 0))
      return `${cohort} errors must be an integer >= 0, got ${b.errors}`;
    if (b.errors > b.requests) return `${cohort} errors (${b.errors}) exceed requests (${b.requests})`;
    return undefined;
  }
  const m = b.logLatency;
  if (!(Number.isInteger(m.n) && m.n >= 0)) return `${cohort} latency n must be an integer >= 0, got ${m.n}`;
  if (m.n === 0) return undefined;
  if (!Number.isFinite(m.mean)) return `${cohort} latency mean is not finite`;
  if (!(Number.isFinite(m.m2) && m.m2 >= -1e-9 * Math.max(1, m.n)))
    return `${cohort} latency m2 must be finite and >= 0, got ${m.m2}`;
  return undefined;
}
