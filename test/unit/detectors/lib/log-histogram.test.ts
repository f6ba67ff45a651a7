import { describe, expect, it } from 'vitest';
import { histogramProblem, latticeBound, quantileBucket, sortedAtScale, tailCounts } from '../../../../detectors/lib/log-histogram.js';
import { bucketIndex, emptyHistogram, histogramQuantile, recordHistogram } from '../../../../src/evidence/latency-histogram.js';
import { rng } from '../helpers.js';

function histogramOf(values: readonly number[], scale = 3): ReturnType<typeof emptyHistogram> {
  const h = emptyHistogram(scale);
  for (const v of values) recordHistogram(h, v);
  return h;
}

describe('log-histogram', () => {
  it('tailCounts counts exactly the values above each lattice bound', () => {
    const rand = rng(7);
    const values = Array.from({ length: 500 }, () => 100 * Math.exp(0.7 * (rand() - 0.5) * 4));
    values.push(0, 0); // zero durations never exceed a bound
    const h = sortedAtScale(histogramOf(values), 3);
    const first = bucketIndex(40, 3);
    const counts = tailCounts(h, first, 30);
    counts.forEach((c, k) => {
      const bound = latticeBound(first + k, 3);
      // value > b_i <=> bucket index >= i (random values never sit exactly on a bound)
      expect(c).toBe(values.filter((v) => v > 0 && bucketIndex(v, 3) >= first + k).length);
      expect(c).toBe(values.filter((v) => v > bound).length);
    });
    for (let k = 1; k < counts.length; k++) expect(counts[k]).toBeLessThanOrEqual(counts[k - 1] as number);
  });

  it('sortedAtScale merges 2^(s - to) buckets exactly and keeps the total', () => {
    const rand = rng(3);
    const values = Array.from({ length: 300 }, () => 5 + 2000 * rand() ** 3);
    const fine = histogramOf(values, 5);
    const coarse = histogramOf(values, 3);
    const merged = sortedAtScale(fine, 3);
    const direct = sortedAtScale(coarse, 3);
    expect(merged.index).toEqual(direct.index);
    expect(merged.count).toEqual(direct.count);
    expect(merged.total).toBe(300);
    expect(() => sortedAtScale(coarse, 4)).toThrow(RangeError);
  });

  it('quantileBucket agrees with the production histogramQuantile (upper bound of that bucket)', () => {
    const rand = rng(11);
    const h = histogramOf(Array.from({ length: 1000 }, () => 100 * Math.exp(0.5 * (rand() + rand() + rand() - 1.5) * 2)));
    for (const p of [0.5, 0.9, 0.99, 0.999]) {
      const i = quantileBucket(h.counts, h.zeroCount, p);
      expect(i).toBeDefined();
      expect(latticeBound((i as number) + 1, 3)).toBeCloseTo(histogramQuantile(h, p), 9);
    }
    expect(quantileBucket({}, 0, 0.99)).toBeUndefined();
    expect(quantileBucket({ 10: 1 }, 99, 0.99)).toBeUndefined(); // rank among the zero durations
  });

  it('histogramProblem names what is wrong', () => {
    expect(histogramProblem('canary', histogramOf([1, 2, 3]))).toBeUndefined();
    expect(histogramProblem('canary', { scale: 3.5, zeroCount: 0, counts: {} })).toMatch(/scale/);
    expect(histogramProblem('canary', { scale: 3, zeroCount: -1, counts: {} })).toMatch(/zeroCount/);
    expect(histogramProblem('baseline', { scale: 3, zeroCount: 0, counts: { 4: 1.5 } })).toMatch(/baseline histogram bucket 4/);
    expect(histogramProblem('canary', { scale: 3, zeroCount: 0, counts: { x: 1 } as unknown as Record<number, number> })).toMatch(/index/);
    expect(histogramProblem('canary', undefined as never)).toMatch(/missing/);
  });
});
