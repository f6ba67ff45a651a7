import type { CohortBatch, CohortPair } from '../contracts/index.js';
import { bucketIndex, emptyHistogram, mergeHistogram, recordHistogram } from './latency-histogram.js';

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
 * bounds them per service), the request is also added to that route's batch in `b.routes`. `retries`: attempts
 * beyond the first that this request stands for (see CohortBatch.retries).
 */
export function addRequest(b: CohortBatch, durationMs: number, error: boolean, route?: string, retries = 0): void {
  if (route !== undefined) {
    const routes = (b.routes ??= {});
    addRequest((routes[route] ??= emptyBatch()), durationMs, error, undefined, retries);
  }
  b.requests += 1;
  if (error) b.errors += 1;
  if (retries > 0) b.retries = (b.retries ?? 0) + retries;
  const y = Math.log(Math.max(durationMs, MIN_DURATION_MS));
  const m = b.logLatency;
  m.n += 1;
  const delta = y - m.mean;
  m.mean += delta / m.n;
  m.m2 += delta * (y - m.mean);
  recordHistogram(b.latencyHistogram, durationMs);
}

/**
 * Takes back one request `addRequest` added with the same arguments (the grouping of attempts into requests
 * replaces a request it counted by the merged one: src/analysis/open-traces.ts): the exact inverse for the counts,
 * the histogram (a bucket that drops to 0 is removed) and the route's batch (removed when it has no request
 * left); the Welford moments are downdated (mean and m2 back to what they were up to rounding; exactly 0 with no
 * request left). O(1).
 */
export function removeRequest(b: CohortBatch, durationMs: number, error: boolean, route?: string, retries = 0): void {
  if (route !== undefined && b.routes !== undefined) {
    const r = b.routes[route];
    if (r !== undefined) {
      removeRequest(r, durationMs, error, undefined, retries);
      if (r.requests <= 0) delete b.routes[route];
    }
  }
  b.requests -= 1;
  if (error) b.errors -= 1;
  if (retries > 0 && b.retries !== undefined) {
    b.retries -= retries;
    if (b.retries <= 0) delete b.retries;
  }
  const m = b.logLatency;
  if (m.n <= 1) {
    m.n = 0;
    m.mean = 0;
    m.m2 = 0;
  } else {
    const y = Math.log(Math.max(durationMs, MIN_DURATION_MS));
    const n = m.n - 1;
    const mean = m.mean - (y - m.mean) / n;
    m.m2 = Math.max(0, m.m2 - (y - mean) * (y - m.mean));
    m.mean = mean;
    m.n = n;
  }
  const h = b.latencyHistogram;
  if (!(durationMs > 0)) h.zeroCount -= 1;
  else {
    const i = bucketIndex(durationMs, h.scale);
    const c = (h.counts[i] ?? 0) - 1;
    if (c === 0) delete h.counts[i];
    else h.counts[i] = c;
  }
}

/** Adds `from` into `into` (Chan et al. parallel merge of the moments); indicators, gauge cells and ratio counts
 *  merge too (indicators recursively, cells and counts by addition). */
export function mergeBatch(into: CohortBatch, from: CohortBatch): void {
  into.requests += from.requests;
  into.errors += from.errors;
  if (from.retries !== undefined && from.retries > 0) into.retries = (into.retries ?? 0) + from.retries;
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
  if (from.indicators !== undefined) {
    const all = (into.indicators ??= {});
    for (const [key, b] of Object.entries(from.indicators)) mergeBatch((all[key] ??= emptyBatch()), b);
  }
  if (from.instances !== undefined) {
    const cells = (into.instances ??= {});
    for (const [key, c] of Object.entries(from.instances)) {
      const to = cells[key];
      if (to === undefined) cells[key] = { sum: c.sum, count: c.count };
      else {
        to.sum += c.sum;
        to.count += c.count;
      }
    }
  }
  if (from.ratio !== undefined) {
    const r = (into.ratio ??= { numerator: 0, denominator: 0 });
    r.numerator += from.ratio.numerator;
    r.denominator += from.ratio.denominator;
  }
}

export function mergePair(into: CohortPair, from: CohortPair): void {
  mergeBatch(into.baseline, from.baseline);
  mergeBatch(into.canary, from.canary);
}
