import { describe, expect, it } from 'vitest';
import { addRequest, emptyBatch, mergeBatch } from '../../../src/evidence/cohort-batch.js';
import { bucketIndex, histogramCount, histogramQuantile } from '../../../src/evidence/latency-histogram.js';

describe('cohort batches', () => {
  it('Welford moments of ln(duration) match the direct computation, and merging equals adding', () => {
    const xs = [12.1, 15.3, 9.8, 15.3, 20, 11.4, 13.3, 15.3, 18.7, 10.2, 14.4, 16];
    const all = emptyBatch();
    const a = emptyBatch();
    const b = emptyBatch();
    xs.forEach((x, i) => {
      addRequest(all, x, i % 5 === 0);
      addRequest(i < 5 ? a : b, x, i % 5 === 0);
    });
    const ys = xs.map(Math.log);
    const mean = ys.reduce((p, q) => p + q, 0) / ys.length;
    const m2 = ys.reduce((p, y) => p + (y - mean) ** 2, 0);
    expect(all.logLatency.mean).toBeCloseTo(mean, 12);
    expect(all.logLatency.m2).toBeCloseTo(m2, 12);
    mergeBatch(a, b);
    expect(a.requests).toBe(12);
    expect(a.errors).toBe(3);
    expect(a.logLatency.mean).toBeCloseTo(mean, 12);
    expect(a.logLatency.m2).toBeCloseTo(m2, 12);
    expect(a.latencyHistogram.counts).toEqual(all.latencyHistogram.counts);
  });

  it('histogram buckets follow the OTel exponential convention (base^i, base^(i+1)]', () => {
    expect(bucketIndex(1, 3)).toBe(-1);
    expect(bucketIndex(2, 3)).toBe(7);
    expect(bucketIndex(2.0001, 3)).toBe(8);
    const b = emptyBatch();
    for (let i = 1; i <= 100; i++) addRequest(b, i, false);
    expect(histogramCount(b.latencyHistogram)).toBe(100);
    const p50 = histogramQuantile(b.latencyHistogram, 0.5);
    expect(p50).toBeGreaterThanOrEqual(50);
    expect(p50 / 50).toBeLessThan(2 ** (1 / 8) + 1e-9);
  });
});
