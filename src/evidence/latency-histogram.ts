import type { LatencyHistogram } from '../contracts/index.js';

/**
 * The log-bucketed latency histogram, in ONE place: the ingest side builds and merges it, the detectors read it.
 * OTel exponential-histogram convention: at scale s, bucket i covers (b_i, b_{i+1}] ms with b_i = 2^(i / 2^s)
 * (base 2^(2^-s)); durations <= 0 are in `zeroCount`.
 *
 * Pure and dependency-free (it imports only contracts types): the one module outside src/contracts and
 * src/errors.ts that detectors/ may import. Keep it that way: no I/O, no clock, no config, no logger.
 *
 * Everything here is exact on the bucket lattice: "value > b_i" is "bucket index >= i", so tail counts at bucket
 * bounds are exact counts of the underlying spans, never interpolated.
 */

/** Scale 3: base 2^(1/8) ≈ 1.0905, so a bucket spans ~9% of its value (quantile error < 4.5%). */
export const HISTOGRAM_SCALE = 3;

/** Lowest and highest scale accepted (OTel allows -10..20). */
const MIN_SCALE = -10;
const MAX_SCALE = 20;

export function emptyHistogram(scale = HISTOGRAM_SCALE): LatencyHistogram {
  return { scale, zeroCount: 0, counts: {} };
}

/** Index i covers (base^i, base^(i+1)] with base = 2^(2^-scale). O(1). */
export function bucketIndex(valueMs: number, scale: number): number {
  return Math.ceil(Math.log2(valueMs) * 2 ** scale) - 1;
}

/** Lattice bound b_i = 2^(i / 2^scale) (ms): the lower bound of bucket i, the upper bound of bucket i - 1. O(1). */
export function latticeBound(i: number, scale: number): number {
  return 2 ** (i / 2 ** scale);
}

export function recordHistogram(h: LatencyHistogram, valueMs: number, count = 1): void {
  if (!(valueMs > 0)) {
    h.zeroCount += count;
    return;
  }
  const i = bucketIndex(valueMs, h.scale);
  h.counts[i] = (h.counts[i] ?? 0) + count;
}

/** Adds `from` into `into` (same scale). O(buckets of `from`). */
export function mergeHistogram(into: LatencyHistogram, from: LatencyHistogram): void {
  if (into.scale !== from.scale) throw new Error(`histogram scales differ (${into.scale} vs ${from.scale})`);
  into.zeroCount += from.zeroCount;
  for (const [k, c] of Object.entries(from.counts)) {
    const i = Number(k);
    into.counts[i] = (into.counts[i] ?? 0) + c;
  }
}

/** zeroCount + all bucket counts. O(buckets). */
export function histogramCount(h: LatencyHistogram): number {
  let n = h.zeroCount;
  for (const c of Object.values(h.counts)) n += c;
  return n;
}

/**
 * Index i of the bucket holding the p-quantile (rank ceil(p N), 1-based) of a sparse histogram given as a
 * plain map index -> count at its own scale, or undefined when the rank falls among the zero durations or the
 * histogram is empty. The bucket's upper bound b_{i+1} is >= the p-quantile. O(buckets log buckets).
 */
export function quantileBucket(counts: Record<number, number>, zeroCount: number, p: number): number | undefined {
  const keys = Object.keys(counts)
    .map(Number)
    .sort((a, b) => a - b);
  let total = zeroCount;
  for (const k of keys) total += counts[k] ?? 0;
  if (total === 0) return undefined;
  const rank = Math.max(1, Math.ceil(p * total));
  if (rank <= zeroCount) return undefined;
  let seen = zeroCount;
  for (const k of keys) {
    seen += counts[k] ?? 0;
    if (seen >= rank) return k;
  }
  return keys[keys.length - 1];
}

/**
 * Upper bound (ms) of the bucket holding quantile q (in [0, 1]); 0 when empty or when the quantile is a zero
 * duration. O(buckets log buckets).
 */
export function histogramQuantile(h: LatencyHistogram, q: number): number {
  const i = quantileBucket(h.counts, h.zeroCount, q);
  return i === undefined ? 0 : latticeBound(i + 1, h.scale);
}

/** Why a histogram cannot be used, or undefined when it is sound. O(buckets). */
export function histogramProblem(cohort: string, h: LatencyHistogram | undefined): string | undefined {
  if (h === undefined || h === null || typeof h !== 'object') return `${cohort} latency histogram is missing`;
  if (!(Number.isInteger(h.scale) && h.scale >= MIN_SCALE && h.scale <= MAX_SCALE))
    return `${cohort} histogram scale must be an integer in [${MIN_SCALE}, ${MAX_SCALE}], got ${h.scale}`;
  if (!(Number.isInteger(h.zeroCount) && h.zeroCount >= 0))
    return `${cohort} histogram zeroCount must be an integer >= 0, got ${h.zeroCount}`;
  if (h.counts === null || typeof h.counts !== 'object') return `${cohort} histogram counts must be an object`;
  for (const k in h.counts) {
    const c = h.counts[k as unknown as number];
    if (!Number.isInteger(Number(k)) || k.trim() === '')
      return `${cohort} histogram bucket index must be an integer, got "${k}"`;
    if (!(c !== undefined && Number.isInteger(c) && c >= 0))
      return `${cohort} histogram bucket ${k} count must be an integer >= 0, got ${c}`;
  }
  return undefined;
}

/** Sparse bucket counts at one scale, sorted by bucket index (ascending). */
export interface SortedHistogram {
  scale: number;
  zeroCount: number;
  /** Bucket indices, ascending. */
  index: number[];
  /** Counts, aligned with `index` (all > 0). */
  count: number[];
  /** zeroCount + sum(count). */
  total: number;
}

/**
 * The histogram at a coarser (or equal) scale `to` <= h.scale, sorted: bucket i at scale s falls into bucket
 * floor(i / 2^(s - to)) at scale `to` (2^(s - to) consecutive buckets merge exactly). O(buckets log buckets).
 */
export function sortedAtScale(h: LatencyHistogram, to: number): SortedHistogram {
  if (to > h.scale) throw new RangeError(`cannot refine a histogram from scale ${h.scale} to ${to}`);
  const shift = 2 ** (h.scale - to);
  const pairs: [number, number][] = [];
  for (const k in h.counts) {
    const c = h.counts[k as unknown as number] as number;
    if (c > 0) pairs.push([Math.floor(Number(k) / shift), c]);
  }
  pairs.sort((a, b) => a[0] - b[0]);
  const index: number[] = [];
  const count: number[] = [];
  let total = h.zeroCount;
  for (const [i, c] of pairs) {
    total += c;
    if (index.length > 0 && index[index.length - 1] === i)
      count[count.length - 1] = (count[count.length - 1] as number) + c;
    else {
      index.push(i);
      count.push(c);
    }
  }
  return { scale: to, zeroCount: h.zeroCount, index, count, total };
}

/**
 * Counts of spans ABOVE each lattice bound b_{first}, b_{first+1}, ..., b_{first+len-1}: out[k] = number of
 * spans with bucket index >= first + k (value > b_{first+k}). Non-increasing in k. O(buckets + len).
 */
export function tailCounts(h: SortedHistogram, first: number, len: number): number[] {
  const out = new Array<number>(len).fill(0);
  // suffix sums over the sorted buckets, walked from the top
  let j = h.index.length - 1;
  let above = 0;
  for (let k = len - 1; k >= 0; k--) {
    const bound = first + k;
    while (j >= 0 && (h.index[j] as number) >= bound) {
      above += h.count[j] as number;
      j--;
    }
    out[k] = above;
  }
  return out;
}
