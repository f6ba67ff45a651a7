import type { CohortBatch } from '../../../src/contracts/evidence.js';
import { addRequest, emptyBatch, mergeBatch } from '../../../src/evidence/cohort-batch.js';
import { HISTOGRAM_SCALE, recordHistogram } from '../../../src/evidence/latency-histogram.js';
import { normalCdf } from '../../../detectors/lib/normal.js';

/**
 * Synthetic traffic for the Monte Carlo benchmark: what one cohort served during one look, as the CohortBatch
 * production builds (src/evidence/cohort-batch.ts).
 *
 * Two paths, same distribution:
 *  - exact (n <= EXACT_LIMIT requests): every request drawn and fed through `addRequest`, byte for byte what
 *    ingestion does;
 *  - shortcut (larger n, the 1000-requests-per-look scenarios): failed requests ~ Binomial(n, p); the latency
 *    histogram ~ Multinomial(n, bucket probabilities from the distribution's cdf) by sequential conditional
 *    binomials (exact counts per bucket, recorded with `recordHistogram`); the log-latency moments are derived
 *    from THAT histogram (values uniform in log within their bucket: a 9% wide bucket adds 0.0006 to a
 *    log-variance of ~0.25), so the moments and the histogram describe the same spans. Binomials with mean
 *    above 500 use the normal approximation (their skewness is below 0.05).
 * Failures are independent of latency (Bernoulli per request).
 *
 * Real traffic (issue 13) adds two things on top, each built from such batches (`cohortViews`):
 *  - routes: a cohort's requests split over routes (Multinomial), one batch per route, merged into the cohort's
 *    batch whose `routes` keeps them (the routes add up to the batch, as production's addRequest/mergeBatch make
 *    them);
 *  - sticky retries: a failed request fails again on the same cohort a Geometric number of attempts; the SPAN view
 *    counts every attempt (the request's batch plus a batch of failed retry spans), the REQUEST view counts the
 *    request once and carries the extra attempts in `retries`.
 */

export type Rand = () => number;

/** A latency distribution in ms: cdf for the shortcut, sample for the exact path. */
export interface LatencyDist {
  cdf(x: number): number;
  sample(rand: Rand): number;
}

export function gaussian(rand: Rand): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Log-normal with the given median (ms) and log-sd. */
export function logNormal(median: number, sigma: number): LatencyDist {
  const mu = Math.log(median);
  return {
    cdf: (x) => (x <= 0 ? 0 : normalCdf((Math.log(x) - mu) / sigma)),
    sample: (rand) => Math.exp(mu + sigma * gaussian(rand)),
  };
}

/** Pareto with minimum xm (ms) and tail index a (a = 1.5: infinite variance). */
export function pareto(xm: number, a: number): LatencyDist {
  return {
    cdf: (x) => (x <= xm ? 0 : 1 - (xm / x) ** a),
    sample: (rand) => xm * (1 - rand()) ** (-1 / a),
  };
}

/** Every duration multiplied by s. */
export function scaled(d: LatencyDist, s: number): LatencyDist {
  if (s === 1) return d;
  return { cdf: (x) => d.cdf(x / s), sample: (rand) => s * d.sample(rand) };
}

/** Durations above q (the distribution's upper quantile, e.g. its p95) multiplied by `factor`: a tail-only regression. */
export function tailOnly(d: LatencyDist, q: number, factor: number): LatencyDist {
  const fq = d.cdf(q);
  return {
    cdf: (x) => d.cdf(Math.min(x, q)) + Math.max(0, d.cdf(x / factor) - fq),
    sample: (rand) => {
      const v = d.sample(rand);
      return v > q ? v * factor : v;
    },
  };
}

/** Exact binomial by inversion for small means, normal approximation above 500. */
export function binomial(rand: Rand, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(rand, n, 1 - p);
  const mean = n * p;
  if (mean > 500) {
    const k = Math.round(mean + Math.sqrt(mean * (1 - p)) * gaussian(rand));
    return Math.min(n, Math.max(0, k));
  }
  // inversion: walk the pmf from 0 (q^n >= e^-(mean/(1-p)) > 1e-300 here)
  const q = 1 - p;
  const ratio = p / q;
  let pmf = q ** n;
  let cdf = pmf;
  const u = rand();
  let k = 0;
  while (u > cdf && k < n) {
    pmf *= (ratio * (n - k)) / (k + 1);
    k += 1;
    cdf += pmf;
    if (pmf < 1e-300 && k > mean) break;
  }
  return k;
}

/** Requests per cohort per look above which the shortcut is used. */
export const EXACT_LIMIT = 250;
const SCALE = HISTOGRAM_SCALE;
const PER_OCTAVE = 2 ** SCALE;
const BUCKET_LOG_WIDTH = Math.LN2 / PER_OCTAVE;
const EDGE = 1e-10;

/** Bucket range [lo, hi] holding all but 2e-10 of the mass, and the bucket probabilities (edges lumped). */
const probCache = new WeakMap<LatencyDist, { lo: number; probs: number[] }>();

function bucketProbabilities(d: LatencyDist): { lo: number; probs: number[] } {
  const cached = probCache.get(d);
  if (cached !== undefined) return cached;
  let lo = 0;
  while (d.cdf(2 ** (lo / PER_OCTAVE)) > EDGE) lo -= PER_OCTAVE;
  while (d.cdf(2 ** ((lo + 1) / PER_OCTAVE)) <= EDGE) lo += 1;
  const probs: number[] = [];
  let prev = 0;
  for (let i = lo; prev < 1 - EDGE && i < lo + 4000; i++) {
    const c = d.cdf(2 ** ((i + 1) / PER_OCTAVE));
    probs.push(c - prev);
    prev = c;
  }
  probs[probs.length - 1] = (probs[probs.length - 1] as number) + (1 - prev);
  const out = { lo, probs };
  probCache.set(d, out);
  return out;
}

/** Welford accumulation of log-values of one bucket; exact draws for small counts, moments for large ones. */
function bucketMoments(rand: Rand, c: number, lowLog: number): { n: number; mean: number; m2: number } {
  const w = BUCKET_LOG_WIDTH;
  if (c <= 12) {
    let n = 0;
    let mean = 0;
    let m2 = 0;
    for (let i = 0; i < c; i++) {
      const y = lowLog + w * (1 - rand()); // (low, high]
      n += 1;
      const dlt = y - mean;
      mean += dlt / n;
      m2 += dlt * (y - mean);
    }
    return { n, mean, m2 };
  }
  const v = (w * w) / 12;
  return { n: c, mean: lowLog + w / 2 + Math.sqrt(v / c) * gaussian(rand), m2: (c - 1) * v };
}

/** One cohort's look: `n` requests, failure probability `p`, latency `d`. */
export function cohortBatch(rand: Rand, n: number, p: number, d: LatencyDist): CohortBatch {
  const b = emptyBatch();
  if (n <= EXACT_LIMIT) {
    for (let i = 0; i < n; i++) addRequest(b, d.sample(rand), rand() < p);
    return b;
  }
  b.requests = n;
  b.errors = binomial(rand, n, p);
  const { lo, probs } = bucketProbabilities(d);
  let left = n;
  let mass = 1;
  const m = b.logLatency;
  for (let j = 0; j < probs.length && left > 0; j++) {
    const pj = probs[j] as number;
    const c = j === probs.length - 1 ? left : binomial(rand, left, Math.min(1, pj / mass));
    mass -= pj;
    if (c === 0) continue;
    left -= c;
    const i = lo + j;
    recordHistogram(b.latencyHistogram, 2 ** ((i + 0.5) / PER_OCTAVE), c);
    const bm = bucketMoments(rand, c, i * BUCKET_LOG_WIDTH);
    // Chan et al. merge of the bucket's moments into the batch
    const total = m.n + bm.n;
    const delta = bm.mean - m.mean;
    m.mean += (delta * bm.n) / total;
    m.m2 += bm.m2 + (delta * delta * m.n * bm.n) / total;
    m.n = total;
  }
  return b;
}

/**
 * A cohort's look in the REQUEST view: one entry per request however many attempts it took (a request is failed
 * when its attempts failed), plus `retries`, the extra attempts its failed requests made on the same cohort.
 * `retries` is absent when the scenario does not retry: the request view is then the span view itself.
 */
export interface RequestBatch extends CohortBatch {
  retries?: number;
  routes?: Record<string, RequestBatch>;
}

/** Extra attempts recorded in a request-view batch (0 when absent: nothing was retried). */
export function retriesOf(b: CohortBatch): number {
  return b.retries ?? 0;
}

/**
 * What one cohort served during a look, in both units: SPAN view (every attempt is a server span, failed or not:
 * what Vigil counted until issue 13) and REQUEST view. The same objects when nothing was retried.
 */
export interface CohortViews {
  span: CohortBatch;
  request: RequestBatch;
}

/** One route of a cohort's traffic: its share of the cohort's requests, failure probability and latency. */
export interface RouteTraffic {
  route: string;
  share: number;
  err: number;
  lat: LatencyDist;
}

/** A cohort's traffic in a look: one pool (no route breakdown), or routes whose shares add up to 1. */
export type CohortTraffic = { err: number; lat: LatencyDist } | { routes: readonly RouteTraffic[] };

/** Multinomial(n, shares) by sequential conditional binomials; shares must add up to 1. */
export function multinomial(rand: Rand, n: number, shares: readonly number[]): number[] {
  const total = shares.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-9) throw new Error(`route shares must add up to 1, got ${total}`);
  let left = n;
  let mass = 1;
  return shares.map((s, i) => {
    const last = shares.slice(i + 1).every((x) => x === 0);
    const c = last ? left : s === 0 ? 0 : binomial(rand, left, Math.min(1, s / mass));
    mass -= s;
    left -= c;
    return c;
  });
}

/**
 * `n` requests with failure probability `p` and latency `d`, in both views. With `meanAttempts` > 1 failures are
 * sticky: a failed request is retried on the same cohort and fails again, Geometric attempts in all (support 1, 2,
 * ...; mean `meanAttempts`); each retry is a failed span with its own latency drawn from `d` (exact path or
 * shortcut like any batch). The request view holds the requests themselves (one span each, the first attempt).
 */
function pooledViews(rand: Rand, n: number, p: number, d: LatencyDist, meanAttempts: number): CohortViews {
  const request: RequestBatch = cohortBatch(rand, n, p, d);
  if (!(meanAttempts > 1)) return { span: request, request };
  const again = 1 - 1 / meanAttempts;
  let retries = 0;
  for (let i = 0; i < request.errors; i++) while (rand() < again) retries += 1;
  request.retries = retries;
  const span = emptyBatch();
  mergeBatch(span, request);
  mergeBatch(span, cohortBatch(rand, retries, 1, d));
  delete span.retries; // the span view counts every attempt as a request: nothing is folded
  return { span, request };
}

/**
 * One cohort's look: `n` requests of `traffic`, failures sticky with Geometric attempts of mean `meanAttempts`
 * (1: independent requests, nothing retried). With routes, each request picks its route independently
 * (Multinomial split of `n`); every route with requests gets its own batch (built like any batch, exact path or
 * shortcut), kept in the parent's `routes` under its key, and the parent is their merge (mergeBatch), so the
 * routes add up to the parent, as in production (src/evidence/cohort-batch.ts). Routes without requests in the
 * look have no entry, as in production.
 */
export function cohortViews(rand: Rand, n: number, traffic: CohortTraffic, meanAttempts = 1): CohortViews {
  if (!('routes' in traffic)) return pooledViews(rand, n, traffic.err, traffic.lat, meanAttempts);
  const shares = traffic.routes.map((r) => r.share);
  const counts = multinomial(rand, n, shares);
  const retried = meanAttempts > 1;
  const span = emptyBatch();
  const request: RequestBatch = retried ? { ...emptyBatch(), retries: 0 } : span;
  const spanRoutes: Record<string, CohortBatch> = {};
  const requestRoutes: Record<string, RequestBatch> = retried ? {} : spanRoutes;
  traffic.routes.forEach((r, i) => {
    const c = counts[i] as number;
    if (c === 0) return;
    if (r.route in spanRoutes) throw new Error(`route ${r.route} appears twice`);
    const v = pooledViews(rand, c, r.err, r.lat, meanAttempts);
    spanRoutes[r.route] = v.span;
    mergeBatch(span, v.span);
    if (retried) {
      requestRoutes[r.route] = v.request;
      mergeBatch(request, v.request); // retries included (CohortBatch.retries)
    }
  });
  span.routes = spanRoutes;
  request.routes = requestRoutes;
  return { span, request };
}

/** Adds a request-view batch into running totals (mergeBatch adds the retries too, overall and per route). */
export function mergeRequestBatch(into: RequestBatch, from: RequestBatch): void {
  mergeBatch(into, from);
}
