import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CohortBatch } from '../../../../src/contracts/evidence.js';
import { addRequest, emptyBatch } from '../../../../src/evidence/cohort-batch.js';
import { histogramCount, histogramQuantile } from '../../../../src/evidence/latency-histogram.js';
import { deltaToBatch } from '../../../../src/ingest/metrics/histogram-to-batch.js';
import type { ExponentialBuckets, HistogramPoint } from '../../../../src/ingest/metrics/metric-model.js';
import type { HistogramDelta } from '../../../../src/ingest/metrics/stream-state.js';

function delta(opts: {
  msPerUnit?: number;
  error?: boolean;
  bounds?: number[];
  counts?: number[];
  exp?: Partial<ExponentialBuckets>;
}): HistogramDelta {
  const point = { error: opts.error ?? false, msPerUnit: opts.msPerUnit ?? 1 } as HistogramPoint;
  if (opts.exp !== undefined) {
    const x: ExponentialBuckets = {
      scale: 3,
      zeroCount: 0,
      zeroThreshold: 0,
      positiveOffset: 0,
      positive: [],
      negativeOffset: 0,
      negative: [],
      ...opts.exp,
    };
    const count = x.zeroCount + [...x.positive, ...x.negative].reduce((a, b) => a + b, 0);
    return { point, count, exponential: x, startUnixMs: 0, endUnixMs: 1, whole: false };
  }
  const counts = opts.counts ?? [];
  return {
    point,
    count: counts.reduce((a, b) => a + b, 0),
    explicit: { bounds: opts.bounds ?? [], counts },
    startUnixMs: 0,
    endUnixMs: 1,
    whole: false,
  };
}

const sumCounts = (b: CohortBatch): number => histogramCount(b.latencyHistogram);
const allIntegers = (b: CohortBatch): boolean =>
  Object.values(b.latencyHistogram.counts).every((c) => Number.isInteger(c) && c > 0);

/** Moments of values given as [representative ms, count] pairs, computed directly. */
function moments(pairs: [number, number][]): { n: number; mean: number; m2: number } {
  const n = pairs.reduce((a, [, c]) => a + c, 0);
  const mean = pairs.reduce((a, [v, c]) => a + c * Math.log(v), 0) / n;
  return { n, mean, m2: pairs.reduce((a, [v, c]) => a + c * (Math.log(v) - mean) ** 2, 0) };
}

describe('deltaToBatch: counts', () => {
  it('requests = count; errors = count when the point says failed', () => {
    expect(deltaToBatch(delta({ bounds: [10], counts: [3, 4] }))).toMatchObject({ requests: 7, errors: 0 });
    expect(deltaToBatch(delta({ bounds: [10], counts: [3, 4], error: true }))).toMatchObject({
      requests: 7,
      errors: 7,
    });
  });

  it('a histogram without bounds counts requests but carries no latency', () => {
    const b = deltaToBatch(delta({ bounds: [], counts: [5] }));
    expect(b).toMatchObject({ requests: 5, logLatency: { n: 0 } });
    expect(sumCounts(b)).toBe(0);
  });
});

describe('deltaToBatch: explicit buckets', () => {
  it("puts each request at its bucket's log midpoint; open ends one bucket ratio away", () => {
    // (−inf, 10] → (5, 10]; (10, 20]; (20, +inf) → (20, 40]
    const b = deltaToBatch(delta({ bounds: [10, 20], counts: [2, 3, 1] }));
    const want = moments([
      [Math.sqrt(50), 2],
      [Math.sqrt(200), 3],
      [Math.sqrt(800), 1],
    ]);
    expect(b.logLatency.n).toBe(6);
    expect(b.logLatency.mean).toBeCloseTo(want.mean, 12);
    expect(b.logLatency.m2).toBeCloseTo(want.m2, 12);
  });

  it('spreads counts over the Vigil buckets a bucket overlaps, as whole requests, total kept', () => {
    // bounds on powers of two in ms align with Vigil's buckets (8 per doubling): (1, 2] ms is buckets 0..7
    const b = deltaToBatch(delta({ bounds: [1, 2], counts: [0, 16, 0] }));
    expect(b.latencyHistogram.counts).toEqual({ 0: 2, 1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 2 });
    const odd = deltaToBatch(delta({ bounds: [1, 2], counts: [0, 11, 0] }));
    expect(sumCounts(odd)).toBe(11);
    expect(Object.values(odd.latencyHistogram.counts).sort()).toEqual([1, 1, 1, 2, 2, 2, 1, 1].sort());
  });

  it('bounds at or below zero hold zero durations (as spans of 0 ms do)', () => {
    const b = deltaToBatch(delta({ bounds: [0, 5, 10], counts: [3, 1, 0, 0] }));
    expect(b.latencyHistogram.zeroCount).toBe(3);
    const spans = emptyBatch();
    for (let i = 0; i < 3; i++) addRequest(spans, 0, false);
    addRequest(spans, Math.sqrt(2.5 * 5), false); // (0, 5] → (2.5, 5] by the next bucket's ratio
    expect(b.logLatency.n).toBe(4);
    expect(b.logLatency.mean).toBeCloseTo(spans.logLatency.mean, 12);
    expect(b.logLatency.m2).toBeCloseTo(spans.logLatency.m2, 10);
  });

  it('seconds and milliseconds give the same evidence for the same buckets', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 1000 }), { minLength: 15, maxLength: 15 }), (counts) => {
        const secBounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
        const s = deltaToBatch(delta({ msPerUnit: 1000, bounds: secBounds, counts }));
        const ms = deltaToBatch(delta({ msPerUnit: 1, bounds: secBounds.map((x) => x * 1000), counts }));
        expect(s.logLatency.n).toBe(ms.logLatency.n);
        if (s.logLatency.n > 0) {
          expect(s.logLatency.mean).toBeCloseTo(ms.logLatency.mean, 9);
          expect(s.logLatency.m2).toBeCloseTo(ms.logLatency.m2, 6);
        }
        expect(sumCounts(s)).toBe(counts.reduce((a, b) => a + b, 0));
        expect(sumCounts(ms)).toBe(sumCounts(s));
        expect(allIntegers(s) && allIntegers(ms)).toBe(true);
      }),
    );
  });
});

describe('deltaToBatch: exponential buckets', () => {
  it('in ms at scale >= 3 each bucket lands in exactly one Vigil bucket (index >> (scale - 3))', () => {
    const b3 = deltaToBatch(delta({ exp: { scale: 3, positiveOffset: -4, positive: [1, 2, 3] } }));
    expect(b3.latencyHistogram.counts).toEqual({ [-4]: 1, [-3]: 2, [-2]: 3 });
    const b5 = deltaToBatch(delta({ exp: { scale: 5, positiveOffset: 4, positive: [1, 1, 1, 1, 5] } }));
    expect(b5.latencyHistogram.counts).toEqual({ 1: 4, 2: 5 });
  });

  it('the zero bucket and negative buckets are zero durations', () => {
    const b = deltaToBatch(delta({ exp: { zeroCount: 2, negative: [1, 1], positive: [3] } }));
    expect(b.latencyHistogram.zeroCount).toBe(4);
    expect(b.requests).toBe(7);
    expect(b.logLatency.n).toBe(7);
  });

  it('extreme scales and offsets stay finite, integral and complete', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -10, max: 20 }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        fc.array(fc.nat({ max: 50 }), { maxLength: 20 }),
        fc.constantFrom(1, 1000, 1e-6),
        (scale, offset, positive, msPerUnit) => {
          const b = deltaToBatch(delta({ msPerUnit, exp: { scale, positiveOffset: offset, positive } }));
          const total = positive.reduce((a, c) => a + c, 0);
          expect(sumCounts(b)).toBe(total);
          expect(allIntegers(b)).toBe(true);
          expect(Object.keys(b.latencyHistogram.counts).every((k) => Number.isSafeInteger(Number(k)))).toBe(true);
          if (total > 0) expect(Number.isFinite(b.logLatency.mean) && b.logLatency.m2 >= 0).toBe(true);
        },
      ),
    );
  });
});

describe('deltaToBatch: approximation quality on real-looking latencies', () => {
  /** Log-normal durations (median 80 ms) from a seeded generator. */
  function durations(seed: number, n: number): number[] {
    let s = seed >>> 0;
    const u = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
    return Array.from(
      { length: n },
      () => 80 * Math.exp(0.6 * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u())),
    );
  }

  function exact(values: number[]): CohortBatch {
    const b = emptyBatch();
    for (const v of values) addRequest(b, v, false);
    return b;
  }

  it('exponential scale 5: moments and quantiles match the raw requests closely', () => {
    const values = durations(7, 20_000);
    const scale = 5;
    const idx = values.map((v) => Math.ceil(Math.log2(v) * 2 ** scale) - 1);
    const offset = Math.min(...idx);
    const positive = new Array<number>(Math.max(...idx) - offset + 1).fill(0);
    for (const i of idx) positive[i - offset]!++;
    const b = deltaToBatch(delta({ exp: { scale, positiveOffset: offset, positive } }));
    const raw = exact(values);
    expect(Math.abs(b.logLatency.mean - raw.logLatency.mean)).toBeLessThan(0.002);
    expect(b.logLatency.m2 / b.logLatency.n).toBeCloseTo(raw.logLatency.m2 / raw.logLatency.n, 2);
    for (const q of [0.5, 0.9, 0.99])
      expect(histogramQuantile(b.latencyHistogram, q)).toBe(histogramQuantile(raw.latencyHistogram, q));
  });

  it('semconv explicit buckets: quantiles within the bucket, mean of log within a few percent', () => {
    const values = durations(11, 20_000);
    const bounds = [5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];
    const counts = new Array<number>(bounds.length + 1).fill(0);
    for (const v of values)
      counts[bounds.findIndex((x) => v <= x) === -1 ? bounds.length : bounds.findIndex((x) => v <= x)]!++;
    const b = deltaToBatch(delta({ bounds, counts }));
    const raw = exact(values);
    expect(Math.abs(b.logLatency.mean - raw.logLatency.mean)).toBeLessThan(0.05);
    for (const q of [0.5, 0.9]) {
      const got = histogramQuantile(b.latencyHistogram, q);
      const want = histogramQuantile(raw.latencyHistogram, q);
      expect(got / want).toBeGreaterThan(0.75);
      expect(got / want).toBeLessThan(1.33);
    }
  });
});
