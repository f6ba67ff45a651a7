import type { LatencyHistogram } from '../contracts/index.js';

/** Scale 3: base 2^(1/8) ≈ 1.0905, so a bucket spans ~9% of its value (quantile error < 4.5%). */
export const HISTOGRAM_SCALE = 3;

export function emptyHistogram(scale = HISTOGRAM_SCALE): LatencyHistogram {
  return { scale, zeroCount: 0, counts: {} };
}

/** Index i covers (base^i, base^(i+1)] with base = 2^(2^-scale). O(1). */
export function bucketIndex(valueMs: number, scale: number): number {
  return Math.ceil(Math.log2(valueMs) * 2 ** scale) - 1;
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

export function histogramCount(h: LatencyHistogram): number {
  let n = h.zeroCount;
  for (const c of Object.values(h.counts)) n += c;
  return n;
}

/** Upper bound (ms) of the bucket holding quantile q (0..1); 0 when empty. O(buckets log buckets). */
export function histogramQuantile(h: LatencyHistogram, q: number): number {
  const total = histogramCount(h);
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil(q * total));
  if (rank <= h.zeroCount) return 0;
  let seen = h.zeroCount;
  const keys = Object.keys(h.counts).map(Number).sort((a, b) => a - b);
  for (const i of keys) {
    seen += h.counts[i] ?? 0;
    if (seen >= rank) return 2 ** ((i + 1) / 2 ** h.scale);
  }
  const last = keys[keys.length - 1] ?? 0;
  return 2 ** ((last + 1) / 2 ** h.scale);
}
