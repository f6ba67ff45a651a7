import { describe, expect, it } from 'vitest';
import { addRequest, emptyBatch, mergeBatch, removeRequest } from '../../../src/evidence/cohort-batch.js';
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

  it('removeRequest takes back exactly what addRequest added: counts, retries, histogram, route, moments', () => {
    const xs = [12.1, 15.3, 9.8, 0, 20, 11.4, 13.3, 15.3, 18.7];
    const kept = emptyBatch();
    const b = emptyBatch();
    xs.forEach((x, i) => {
      addRequest(kept, x, i % 3 === 0, `/r${i % 2}`, i % 4);
      addRequest(b, x, i % 3 === 0, `/r${i % 2}`, i % 4);
    });
    // add three more (one on a route of its own, one with a zero duration), then take them back
    const extra: [number, boolean, string, number][] = [
      [250, true, '/only', 2],
      [15.3, false, '/r1', 0],
      [0, true, '/r0', 1],
    ];
    for (const [d, e, r, n] of extra) addRequest(b, d, e, r, n);
    mergeBatch(b, emptyBatch());
    for (const [d, e, r, n] of extra.reverse()) removeRequest(b, d, e, r, n);
    expect([b.requests, b.errors, b.retries]).toEqual([kept.requests, kept.errors, kept.retries]);
    expect(b.latencyHistogram).toEqual(kept.latencyHistogram);
    expect(b.logLatency.n).toBe(kept.logLatency.n);
    expect(b.logLatency.mean).toBeCloseTo(kept.logLatency.mean, 12);
    expect(b.logLatency.m2).toBeCloseTo(kept.logLatency.m2, 12);
    expect(Object.keys(b.routes!).sort()).toEqual(['/r0', '/r1']);
    for (const r of ['/r0', '/r1']) {
      expect(b.routes![r]!.latencyHistogram).toEqual(kept.routes![r]!.latencyHistogram);
      expect(b.routes![r]!.retries).toBe(kept.routes![r]!.retries);
    }
    // the last request out leaves an empty batch: no moments, no buckets, no retries
    const one = emptyBatch();
    addRequest(one, 42, true, undefined, 3);
    removeRequest(one, 42, true, undefined, 3);
    expect(one).toEqual(emptyBatch());
  });

  it('merging adds retries', () => {
    const a = emptyBatch();
    const b = emptyBatch();
    addRequest(a, 10, false, undefined, 2);
    addRequest(b, 10, false, undefined, 1);
    addRequest(b, 10, false);
    mergeBatch(a, b);
    expect([a.requests, a.retries]).toEqual([3, 3]);
  });
});
