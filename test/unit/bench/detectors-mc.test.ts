import { describe, expect, it } from 'vitest';
import { QUICK_REPLICATES, renderGoals, renderMarkdown, runInProcess, toJson } from '../../bench/mc/benchmark.js';
import { METHODS } from '../../bench/mc/methods.js';
import { wilson } from '../../bench/mc/report.js';
import { SCENARIOS } from '../../bench/mc/scenarios.js';
import { studentTUpper } from '../../bench/mc/student-t.js';
import { EXACT_LIMIT, binomial, cohortBatch, logNormal, tailOnly } from '../../bench/mc/traffic.js';
import { histogramCount, histogramQuantile } from '../../../src/evidence/latency-histogram.js';
import { seededRandom } from '../../../src/demo/traffic-generator.js';

/** Smoke test of `npm run bench:detectors`: the --quick harness in-process on two scenarios, structure and sane values. */
describe('bench:detectors harness', () => {
  const scenarios = ['errors-5x', 'tail-only'];
  const r = runInProcess({ replicates: 6, scenarios, baseSeed: 1, chunk: 4 });

  it('fills one cell per scenario and method, each with its runs, rates and Wilson interval', () => {
    const applicable = (id: string): number =>
      METHODS.filter((m) => m.scenarios === undefined || m.scenarios.includes(id)).length;
    expect(r.cells.size).toBe(applicable('errors-5x') + applicable('tail-only'));
    expect(r.cells.has('errors-5x|kayenta-errors-matched')).toBe(false); // run only where the speed goal needs it
    for (const c of r.cells.values()) {
      expect(c.runs).toBe(6);
      expect(c.rate).toBeGreaterThanOrEqual(0);
      expect(c.rate).toBeLessThanOrEqual(1);
      expect(c.wilsonLow).toBeLessThanOrEqual(c.rate);
      expect(c.wilsonHigh).toBeGreaterThanOrEqual(c.rate);
      if (c.isNull) expect(c.medianLooks).toBeNull();
    }
  });

  it('knows which cells are false alarms and which are detections, and the detections are real', () => {
    const cell = (s: string, m: string) => r.cells.get(`${s}|${m}`)!;
    expect(cell('errors-5x', 'vigil-error-rate').isNull).toBe(false);
    expect(cell('errors-5x', 'vigil-error-rate').rate).toBe(1);
    // one bounded bet per look: even 5x needs ~log2(1/alpha) looks (the independent mixture takes 1-3)
    expect(cell('errors-5x', 'vigil-error-rate').medianLooks!).toBeLessThanOrEqual(6);
    expect(cell('errors-5x', 'today-error-rate').medianLooks!).toBeLessThanOrEqual(3);
    expect(cell('errors-5x', 'vigil-latency').isNull).toBe(true);
    expect(cell('errors-5x', 'vigil-decision').isNull).toBe(false);
    expect(cell('tail-only', 'vigil-latency-quantile').isNull).toBe(false);
    expect(cell('tail-only', 'vigil-latency-quantile').rate).toBeGreaterThanOrEqual(0.5);
    expect(cell('tail-only', 'vigil-error-rate').isNull).toBe(true);
    expect(cell('tail-only', 'fixed-z').isNull).toBe(true);
  });

  it('gives the same numbers however the replicates are split into tasks', () => {
    const again = runInProcess({ replicates: 6, scenarios, baseSeed: 1, chunk: 1 });
    expect([...again.cells.values()]).toEqual([...r.cells.values()]);
    const other = runInProcess({ replicates: 6, scenarios: ['errors-5x'], baseSeed: 2, chunk: 6 });
    expect(other.cells.get('errors-5x|fixed-z')!.runs).toBe(6);
  });

  it('renders the tables, the goals and JSON', () => {
    const md = renderMarkdown(r);
    expect(md).toContain('### Error-rate methods');
    expect(md).toContain('### Latency methods');
    expect(md).toContain('| tail-only: slowest 5% twice as slow | 200 |');
    const goals = renderGoals(r);
    expect(goals.split('\n')).toHaveLength(r.goals.length);
    expect(goals).toMatch(/^(PASS|FAIL) {2}what rolls back \(default metrics/);
    expect(r.goals.find((g) => g.goal.startsWith('tail-only'))!.pass).toBe(true);
    const json = JSON.parse(JSON.stringify(toJson(r, { quick: true }))) as {
      cells: unknown[];
      goals: unknown[];
      scenarios: unknown[];
    };
    expect(json.cells).toHaveLength(r.cells.size);
    expect(json.scenarios).toHaveLength(2);
    expect(QUICK_REPLICATES).toBeGreaterThan(0);
    expect(SCENARIOS.map((s) => s.id)).toEqual(
      expect.arrayContaining([
        'aa',
        'errors-1.5x',
        'latency+10%-lognormal',
        'tail-only',
        'ramp-drift',
        'low-traffic',
        'base-30%',
      ]),
    );
  });
});

describe('bench:detectors traffic and helpers', () => {
  it('the shortcut batch (n > EXACT_LIMIT) matches the exact path in distribution: counts, histogram, log-moments', () => {
    const rand = seededRandom(42);
    const d = logNormal(100, 0.5);
    const n = 1000;
    let sumMean = 0;
    let sumVar = 0;
    let errors = 0;
    const reps = 300;
    for (let i = 0; i < reps; i++) {
      const b = cohortBatch(rand, n, 0.02, d);
      expect(b.requests).toBe(n);
      expect(histogramCount(b.latencyHistogram)).toBe(n);
      expect(b.logLatency.n).toBe(n);
      // moments describe the histogram's spans: the mean lies within the histogram's range
      expect(Math.exp(b.logLatency.mean)).toBeLessThanOrEqual(histogramQuantile(b.latencyHistogram, 1));
      sumMean += b.logLatency.mean;
      sumVar += b.logLatency.m2 / (n - 1);
      errors += b.errors;
    }
    expect(n).toBeGreaterThan(EXACT_LIMIT);
    expect(Math.abs(sumMean / reps - Math.log(100))).toBeLessThan(4 * Math.sqrt(0.25 / (n * reps)));
    expect(Math.abs(sumVar / reps - 0.25)).toBeLessThan(0.003); // + bucket width^2/12 = 0.0006 at most
    expect(Math.abs(errors / (n * reps) - 0.02)).toBeLessThan(4 * Math.sqrt((0.02 * 0.98) / (n * reps)));
  });

  it('tail-only doubles exactly the spans above the cut, in cdf and in samples', () => {
    const base = logNormal(100, 0.5);
    const q = 100 * Math.exp(0.5 * 1.6448536269514722);
    const t = tailOnly(base, q, 2);
    expect(t.cdf(q)).toBeCloseTo(0.95, 12);
    expect(t.cdf(1.5 * q)).toBeCloseTo(0.95, 12); // nothing between q and 2q
    expect(t.cdf(3 * q)).toBeCloseTo(base.cdf(1.5 * q), 12);
    const rand = seededRandom(1);
    for (let i = 0; i < 1000; i++) {
      const v = t.sample(rand);
      expect(v <= q || v > 2 * q).toBe(true);
    }
  });

  it('binomial draws have the right mean and variance on both branches', () => {
    const rand = seededRandom(7);
    for (const [n, p] of [
      [1000, 0.01],
      [1000, 0.3],
      [5000, 0.4],
      [20, 0.9],
    ] as const) {
      const xs = Array.from({ length: 4000 }, () => binomial(rand, n, p));
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
      expect(Math.abs(mean - n * p)).toBeLessThan(4 * Math.sqrt((n * p * (1 - p)) / xs.length));
      expect(Math.abs(v / (n * p * (1 - p)) - 1)).toBeLessThan(0.1);
    }
  });

  it('Student t tail and Wilson interval reproduce reference values (stats-reference A; Wilson 1927)', () => {
    expect(2 * studentTUpper(2.61639709471, 23.9847766394)).toBeCloseTo(0.0151366680658, 10);
    expect(2 * studentTUpper(2.57815996794, 24)).toBeCloseTo(0.016497884387, 10);
    expect(studentTUpper(-1, 10)).toBeCloseTo(1 - studentTUpper(1, 10), 14);
    const [lo, hi] = wilson(10, 400);
    expect(lo).toBeCloseTo(0.013635, 5);
    expect(hi).toBeCloseTo(0.045402, 5);
  });
});
