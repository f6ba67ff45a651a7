import type { LatencyHistogram } from '../../src/contracts/evidence.js';

/**
 * Read-only helpers over the log-bucketed latency histograms of a look's CohortBatch (OTel exponential-histogram
 * convention: at scale s, bucket i covers (b_i, b_{i+1}] ms with b_i = 2^(i / 2^s); durations <= 0 are in
 * `zeroCount`). Detectors may not import src/, so this mirrors the small part of src/evidence they need.
 *
 * Everything here is exact on the bucket lattice: "value > b_i" is "bucket index >= i", so tail counts at bucket
 * bounds are exact counts of the underlying spans, never interpolated.
 */

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

/** Lowest and highest scale accepted (OTel allows -10..20). */
const MIN_SCALE = -10;
const MAX_SCALE = 20;

/** Why a histogram cannot be used, or undefined when it is sound. O(buckets). */
export function histogramProblem(cohort: string, h: LatencyHistogram | undefined): string | undefined {
  if (h === undefined || h === null || typeof h !== 'object') return `${cohort} latency histogram is missing`;
  if (!(Number.isInteger(h.scale) && h.scale >= MIN_SCALE && h.scale <= MAX_SCALE)) return `${cohort} histogram scale must be an integer in [${MIN_SCALE}, ${MAX_SCALE}], got ${h.scale}`;
  if (!(Number.isInteger(h.zeroCount) && h.zeroCount >= 0)) return `${cohort} histogram zeroCount must be an integer >= 0, got ${h.zeroCount}`;
  if (h.counts === null || typeof h.counts !== 'object') return `${cohort} histogram counts must be an object`;
  for (const k in h.counts) {
    const c = h.counts[k as unknown as number];
    if (!Number.isInteger(Number(k)) || k.trim() === '') return `${cohort} histogram bucket index must be an integer, got "${k}"`;
    if (!(c !== undefined && Number.isInteger(c) && c >= 0)) return `${cohort} histogram bucket ${k} count must be an integer >= 0, got ${c}`;
  }
  return undefined;
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
    if (index.length > 0 && index[index.length - 1] === i) count[count.length - 1] = (count[count.length - 1] as number) + c;
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

/**
 * Index i of the bucket holding the p-quantile (rank ceil(p N), 1-based) of a sparse histogram given as a
 * plain map index -> count at its own scale, or undefined when the rank falls among the zero durations or the
 * histogram is empty. The bucket's upper bound b_{i+1} is >= the p-quantile. O(buckets log buckets).
 */
export function quantileBucket(counts: Record<number, number>, zeroCount: number, p: number): number | undefined {
  const keys = Object.keys(counts).map(Number).sort((a, b) => a - b);
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

/** Upper bound b_i = 2^(i / 2^scale) of lattice index i (ms). */
export function latticeBound(i: number, scale: number): number {
  return 2 ** (i / 2 ** scale);
}
