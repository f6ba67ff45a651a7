import type { CohortBatch, CohortPair } from '../contracts/index.js';
import { emptyHistogram, mergeHistogram, recordHistogram } from './latency-histogram.js';

export function emptyBatch(): CohortBatch {
  return { requests: 0, errors: 0, logLatency: { n: 0, mean: 0, m2: 0 }, latencyHistogram: emptyHistogram() };
}

export function emptyPair(): CohortPair {
  return { baseline: emptyBatch(), canary: emptyBatch() };
}

/** Smallest duration used for ln(duration): sub-microsecond spans are clock noise. */
const MIN_DURATION_MS = 0.001;

/**
 * Adds one request. Welford update on y = ln(duration ms). O(1). With a `route` (a stratum key: the registry
 * bounds them per service), the request is also added to that route's batch in `b.routes`.
 */
export function addRequest(b: CohortBatch, durationMs: number, error: boolean, route?: string): void {
  if (route !== undefined) {
    const routes = (b.routes ??= {});
    addRequest((routes[route] ??= emptyBatch()), durationMs, error);
  }
  b.requests += 1;
  if (error) b.errors += 1;
  const y = Math.log(Math.max(durationMs, MIN_DURATION_MS));
  const m = b.logLatency;
  m.n += 1;
  const delta = y - m.mean;
  m.mean += delta / m.n;
  m.m2 += delta * (y - m.mean);
  recordHistogram(b.latencyHistogram, durationMs);
}

/** Adds `from` into `into` (Chan et al. parallel merge of the moments). */
export function mergeBatch(into: CohortBatch, from: CohortBatch): void {
  into.requests += from.requests;
  into.errors += from.errors;
  const a = into.logLatency;
  const b = from.logLatency;
  if (b.n > 0) {
    const n = a.n + b.n;
    const delta = b.mean - a.mean;
    a.mean += (delta * b.n) / n;
    a.m2 += b.m2 + (delta * delta * a.n * b.n) / n;
    a.n = n;
  }
  mergeHistogram(into.latencyHistogram, from.latencyHistogram);
  if (from.routes !== undefined) {
    const routes = (into.routes ??= {});
    for (const [route, b] of Object.entries(from.routes)) mergeBatch((routes[route] ??= emptyBatch()), b);
  }
}

export function mergePair(into: CohortPair, from: CohortPair): void {
  mergeBatch(into.baseline, from.baseline);
  mergeBatch(into.canary, from.canary);
}
