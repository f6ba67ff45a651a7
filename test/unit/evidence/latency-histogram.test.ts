import { describe, expect, it } from 'vitest';
import {
  bucketIndex,
  emptyHistogram,
  histogramProblem,
  histogramQuantile,
  latticeBound,
  quantileBucket,
  recordHistogram,
  sortedAtScale,
  tailCounts,
} from '../../../src/evidence/latency-histogram.js';
import { rng } from '../../helpers/detectors.js';

function histogramOf(values: readonly number[], scale = 3): ReturnType<typeof emptyHistogram> {
  const h = emptyHistogram(scale);
  for (const v of values) recordHistogram(h, v);
  return h;
}

describe('latency histogram', () => {
  it('bucketIndex and latticeBound agree: a value lies in (b_i, b_{i+1}] of its bucket i', () => {
    const rand = rng(5);
    for (const scale of [-2, 0, 3, 5]) {
      for (let n = 0; n < 200; n++) {
        const v = Math.exp(12 * (rand() - 0.3));
        const i = bucketIndex(v, scale);
        expect(v).toBeGreaterThan(latticeBound(i, scale) * (1 - 1e-12));
        expect(v).toBeLessThanOrEqual(latticeBound(i + 1, scale) * (1 + 1e-12));
      }
    }
    expect(latticeBound(8, 3)).toBe(2);
    expect(latticeBound(-8, 3)).toBe(0.5);
  });

  it('histogramQuantile is the upper bound of the bucket holding the rank-ceil(pN) value; 0 among zeros or when empty', () => {
    const rand = rng(13);
    const values = Array.from({ length: 777 }, () => 3 + 400 * rand() ** 2);
    const h = histogramOf(values);
    const sorted = [...values].sort((a, b) => a - b);
    for (const p of [0, 0.25, 0.5, 0.9, 0.99, 1]) {
      const v = sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1]!;
      expect(histogramQuantile(h, p)).toBe(latticeBound(bucketIndex(v, 3) + 1, 3));
    }
    expect(histogramQuantile(emptyHistogram(), 0.5)).toBe(0);
    expect(histogramQuantile(histogramOf([0, 0, 0, 10]), 0.5)).toBe(0);
  });

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
    const h = histogramOf(
      Array.from({ length: 1000 }, () => 100 * Math.exp(0.5 * (rand() + rand() + rand() - 1.5) * 2)),
    );
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
    expect(histogramProblem('baseline', { scale: 3, zeroCount: 0, counts: { 4: 1.5 } })).toMatch(
      /baseline histogram bucket 4/,
    );
    expect(
      histogramProblem('canary', { scale: 3, zeroCount: 0, counts: { x: 1 } as unknown as Record<number, number> }),
    ).toMatch(/index/);
    expect(histogramProblem('canary', undefined as never)).toMatch(/missing/);
  });
});
