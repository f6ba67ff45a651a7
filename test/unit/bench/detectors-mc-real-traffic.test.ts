import { describe, expect, it } from 'vitest';
import type { CohortBatch } from '../../../src/contracts/evidence.js';
import { seededRandom } from '../../../src/demo/traffic-generator.js';
import { histogramCount } from '../../../src/evidence/latency-histogram.js';
import { renderGoals, renderMarkdown, runInProcess } from '../../bench/mc/benchmark.js';
import type { MethodSpec } from '../../bench/mc/methods.js';
import { METHODS } from '../../bench/mc/methods.js';
import { BURST_RATIO, SCENARIOS, STICKY_MEAN_ATTEMPTS, scenarioById } from '../../bench/mc/scenarios.js';
import { drawLook, runReplicate } from '../../bench/mc/simulate.js';
import { binomial, cohortBatch, logNormal, multinomial, retriesOf } from '../../bench/mc/traffic.js';

/** Smoke checks of the issue-13 rows: routes add up, the two views of sticky retries, the per-look draws. */

const NEW_ROWS = [
  'pod-shock-errors',
  'pod-shock-latency',
  'canary-bursts',
  'sticky-retries',
  'route-mix',
  'new-endpoint',
  'errors-3x',
  'latency+20%-lognormal',
];
const ROUTED = new Set(['route-mix', 'new-endpoint']);

/** The routes of `b` add up to `b`: counts exactly, log-moments by the parallel merge, histogram bucket by bucket. */
function expectRoutesAddUp(b: CohortBatch): void {
  const routes = Object.values(b.routes ?? {});
  expect(routes.length).toBeGreaterThan(0);
  const sum = (f: (r: CohortBatch) => number): number => routes.reduce((a, r) => a + f(r), 0);
  expect(sum((r) => r.requests)).toBe(b.requests);
  expect(sum((r) => r.errors)).toBe(b.errors);
  expect(sum((r) => r.logLatency.n)).toBe(b.logLatency.n);
  expect(sum(retriesOf)).toBe(retriesOf(b));
  const n = b.logLatency.n;
  const mean = sum((r) => r.logLatency.n * r.logLatency.mean) / n;
  const m2 = sum((r) => r.logLatency.m2 + r.logLatency.n * (r.logLatency.mean - mean) ** 2);
  expect(Math.abs(b.logLatency.mean - mean)).toBeLessThan(1e-9 * Math.max(1, Math.abs(mean)));
  expect(Math.abs(b.logLatency.m2 - m2)).toBeLessThan(1e-9 * m2);
  const buckets: Record<number, number> = {};
  for (const r of routes) {
    expect(r.routes).toBeUndefined();
    expect(r.latencyHistogram.scale).toBe(b.latencyHistogram.scale);
    for (const [k, c] of Object.entries(r.latencyHistogram.counts)) buckets[Number(k)] = (buckets[Number(k)] ?? 0) + c;
  }
  expect(buckets).toEqual(b.latencyHistogram.counts);
  expect(sum((r) => r.latencyHistogram.zeroCount)).toBe(b.latencyHistogram.zeroCount);
}

describe('bench:detectors issue-13 rows', () => {
  it('registers every new row after the issue-3 rows, tagged issue 13, with the truth the issue gives', () => {
    const ids = SCENARIOS.filter((s) => s.issue !== 16).map((s) => s.id); // issue 16's rows come last
    expect(ids.slice(-NEW_ROWS.length)).toEqual(NEW_ROWS);
    for (const id of NEW_ROWS) expect(scenarioById(id).issue).toBe(13);
    expect(SCENARIOS.filter((s) => s.issue === 13).map((s) => s.id)).toEqual(NEW_ROWS);
    expect(BURST_RATIO).toBeCloseTo(0.8 * 1 + 0.2 * 10, 12);
    expect(scenarioById('canary-bursts').truth).toEqual({
      errorRatio: BURST_RATIO,
      gmRatio: 1,
      p99Ratio: 1,
      stRatio: 1,
    });
    expect(scenarioById('errors-3x').truth.errorRatio).toBe(3);
    expect(scenarioById('latency+20%-lognormal').truth.gmRatio).toBe(1.2);
    for (const id of ['pod-shock-errors', 'pod-shock-latency', 'sticky-retries', 'route-mix', 'new-endpoint'])
      expect(scenarioById(id).truth).toEqual({ errorRatio: 1, gmRatio: 1, p99Ratio: 1, stRatio: 1 });
  });

  it.each(NEW_ROWS)('%s: every batch is sound and its route breakdown adds up to it', (id) => {
    const scenario = scenarioById(id);
    const rand = seededRandom(11);
    for (let look = 1; look <= 25; look++) {
      const views = drawLook(scenario, look, rand);
      if (id !== 'sticky-retries') expect(views.request).toBe(views.span); // nothing retried: one view
      for (const pair of [views.span, views.request]) {
        for (const b of [pair.canary, pair.baseline]) {
          expect(b.logLatency.n).toBe(b.requests);
          expect(histogramCount(b.latencyHistogram)).toBe(b.requests);
          expect(b.errors).toBeLessThanOrEqual(b.requests);
          if (ROUTED.has(id)) expectRoutesAddUp(b);
          else expect(b.routes).toBeUndefined();
        }
      }
      if (ROUTED.has(id)) {
        expect(views.span.canary.requests).toBe(1000);
        expect(views.span.baseline.requests).toBe(1000);
        expect(Object.keys(views.span.baseline.routes ?? {})).not.toContain('GET /new');
      }
    }
  });

  it('route-mix: the canary serves the slow route 30% of the time, the baseline 10%; new-endpoint: only the canary has GET /new', () => {
    const share = (id: string, route: string, cohort: 'canary' | 'baseline'): number => {
      const rand = seededRandom(5);
      let n = 0;
      let on = 0;
      for (let look = 1; look <= 60; look++) {
        const b = drawLook(scenarioById(id), look, rand).span[cohort];
        n += b.requests;
        on += b.routes?.[route]?.requests ?? 0;
      }
      return on / n;
    };
    const tol = (p: number): number => 4 * Math.sqrt((p * (1 - p)) / 60_000);
    expect(Math.abs(share('route-mix', 'POST /slow', 'canary') - 0.3)).toBeLessThan(tol(0.3));
    expect(Math.abs(share('route-mix', 'POST /slow', 'baseline') - 0.1)).toBeLessThan(tol(0.1));
    expect(Math.abs(share('new-endpoint', 'GET /new', 'canary') - 0.1)).toBeLessThan(tol(0.1));
    expect(share('new-endpoint', 'GET /new', 'baseline')).toBe(0);
    expect(Math.abs(share('new-endpoint', 'POST /slow', 'baseline') - 0.1)).toBeLessThan(tol(0.1));
  });

  it('sticky-retries: the span view is the request view plus the retried attempts, all failed', () => {
    const scenario = scenarioById('sticky-retries');
    const rand = seededRandom(3);
    let failed = 0;
    let retries = 0;
    const looks = 300;
    for (let look = 1; look <= looks; look++) {
      const { span, request } = drawLook(scenario, look, rand);
      for (const cohort of ['canary', 'baseline'] as const) {
        const s = span[cohort];
        const r = request[cohort];
        const extra = retriesOf(r);
        expect(r.requests).toBe(1000);
        expect(s.requests).toBe(r.requests + extra);
        expect(s.errors).toBe(r.errors + extra);
        expect(s.logLatency.n).toBe(s.requests);
        expect(histogramCount(s.latencyHistogram)).toBe(s.requests);
        expect(retriesOf(s)).toBe(0); // the span view knows nothing of retries
        if (r.errors === 0) expect(extra).toBe(0);
        failed += r.errors;
        retries += extra;
      }
    }
    // more requests and more errors in the span view, by the retries: Geometric attempts of mean 2 => 1 extra each
    expect(retries).toBeGreaterThan(0);
    const sd = Math.sqrt(2 / failed); // Geometric(1/2) extra attempts: variance 2
    expect(Math.abs(retries / failed - (STICKY_MEAN_ATTEMPTS - 1))).toBeLessThan(4 * sd);
    expect(Math.abs(failed / (2 * looks * 1000) - 0.01)).toBeLessThan(4 * Math.sqrt(0.0099 / (2 * looks * 1000)));
  });

  it('pod shocks hit one cohort in 20% of looks, either equally often; canary-bursts hit only the canary', () => {
    const rand = seededRandom(9);
    const count = { canary: 0, baseline: 0, both: 0 };
    const looks = 5000;
    for (let look = 1; look <= looks; look++) {
      const plan = scenarioById('pod-shock-errors').plan(look, rand);
      if (!('errCanary' in plan)) throw new Error('pod-shock-errors has no routes');
      expect([0.01, 0.1]).toContain(plan.errCanary);
      expect([0.01, 0.1]).toContain(plan.errBaseline);
      if (plan.errCanary === 0.1 && plan.errBaseline === 0.1) count.both += 1;
      else if (plan.errCanary === 0.1) count.canary += 1;
      else if (plan.errBaseline === 0.1) count.baseline += 1;
    }
    expect(count.both).toBe(0);
    const sd = Math.sqrt((0.1 * 0.9) / looks);
    expect(Math.abs(count.canary / looks - 0.1)).toBeLessThan(4 * sd);
    expect(Math.abs(count.baseline / looks - 0.1)).toBeLessThan(4 * sd);
    let slowCanary = 0;
    let slowBaseline = 0;
    let bursts = 0;
    for (let look = 1; look <= looks; look++) {
      const lat = scenarioById('pod-shock-latency').plan(look, rand);
      const burst = scenarioById('canary-bursts').plan(look, rand);
      if (!('latCanary' in lat) || !('errCanary' in burst)) throw new Error('no routes expected');
      const slow = (d: typeof lat.latCanary): boolean => d.cdf(100) < 0.5; // median 130 instead of 100
      if (slow(lat.latCanary)) slowCanary += 1;
      if (slow(lat.latBaseline)) slowBaseline += 1;
      expect(slow(lat.latCanary) && slow(lat.latBaseline)).toBe(false);
      expect(burst.errBaseline).toBe(0.01);
      if (burst.errCanary === 0.1) bursts += 1;
    }
    expect(Math.abs(slowCanary / looks - 0.1)).toBeLessThan(4 * sd);
    expect(Math.abs(slowBaseline / looks - 0.1)).toBeLessThan(4 * sd);
    expect(Math.abs(bursts / looks - 0.2)).toBeLessThan(4 * Math.sqrt(0.16 / looks));
  });

  it('draws the issue-3 rows exactly as before (same stream: split, canary, baseline), so their numbers do not move', () => {
    const d = logNormal(100, 0.5);
    const a = seededRandom(77);
    const b = seededRandom(77);
    const aa = drawLook(scenarioById('aa'), 1, a);
    expect(aa.request).toBe(aa.span);
    expect(aa.span).toEqual({ canary: cohortBatch(b, 1000, 0.01, d), baseline: cohortBatch(b, 1000, 0.01, d) });
    const ramp = drawLook(scenarioById('ramp'), 1, a);
    const nc = binomial(b, 2000, 0.05);
    expect(ramp.span).toEqual({ canary: cohortBatch(b, nc, 0.01, d), baseline: cohortBatch(b, 2000 - nc, 0.01, d) });
    expect(a()).toBe(b());
  });

  it('multinomial splits exactly n, skips zero shares and rejects shares that do not add up to 1', () => {
    const rand = seededRandom(2);
    for (let i = 0; i < 50; i++) {
      const c = multinomial(rand, 1000, [0.81, 0.09, 0.1, 0]);
      expect(c.reduce((x, y) => x + y, 0)).toBe(1000);
      expect(c[3]).toBe(0);
    }
    expect(multinomial(rand, 7, [0, 1, 0])).toEqual([0, 7, 0]);
    expect(() => multinomial(rand, 10, [0.5, 0.4])).toThrow(/add up to 1/);
  });

  it('gives each method the view it declares (span by default, request when it says so)', () => {
    const seen: Record<string, CohortBatch[]> = { span: [], request: [] };
    const probe = (unit: 'span' | 'request' | undefined): MethodSpec => ({
      id: `probe-${unit ?? 'default'}`,
      label: 'probe',
      metric: 'errors',
      vigil: false,
      isNull: () => true,
      ...(unit === undefined ? {} : { unit }),
      create: () => ({
        look: (input) => {
          seen[unit ?? 'span']!.push(input.batch.canary, input.totals.canary);
          return input.look >= 3;
        },
      }),
    });
    const alarms = runReplicate(scenarioById('sticky-retries'), [probe(undefined), probe('request')], 123);
    expect(alarms).toEqual([3, 3]);
    const [spanBatch, spanTotals] = seen.span as [CohortBatch, CohortBatch];
    const [requestBatch, requestTotals] = seen.request as [CohortBatch, CohortBatch];
    expect(requestBatch.requests).toBe(1000);
    expect(spanBatch.requests).toBe(1000 + retriesOf(requestBatch));
    expect(spanBatch.errors).toBe(requestBatch.errors + retriesOf(requestBatch));
    // totals after 3 looks (the same objects, accumulated): retries add up in the request view
    expect(requestTotals.requests).toBe(3000);
    expect(spanTotals.requests).toBe(3000 + retriesOf(requestTotals));
    expect(spanTotals.errors).toBe(requestTotals.errors + retriesOf(requestTotals));
    expect(retriesOf(requestTotals)).toBeGreaterThan(0);
  });

  it('runs every method on the new rows, knows which are false alarms, and renders the issue-13 goals', () => {
    const r = runInProcess({ replicates: 2, scenarios: NEW_ROWS, baseSeed: 1, chunk: 2 });
    const general = METHODS.filter((m) => m.scenarios === undefined);
    for (const id of NEW_ROWS) for (const m of general) expect(r.cells.has(`${id}|${m.id}`)).toBe(true);
    const cell = (s: string, m: string) => r.cells.get(`${s}|${m}`)!;
    for (const id of ['pod-shock-errors', 'pod-shock-latency', 'sticky-retries', 'route-mix', 'new-endpoint'])
      for (const m of general) expect(cell(id, m.id).isNull).toBe(true);
    expect(cell('canary-bursts', 'vigil-error-rate').isNull).toBe(false);
    expect(cell('canary-bursts', 'vigil-decision').isNull).toBe(false);
    expect(cell('canary-bursts', 'vigil-latency').isNull).toBe(true);
    expect(cell('errors-3x', 'vigil-decision').isNull).toBe(false);
    expect(cell('latency+20%-lognormal', 'vigil-decision').isNull).toBe(false);
    const goals = renderGoals(r);
    expect(goals).toMatch(
      /^(PASS|FAIL) {2}what rolls back .*real traffic \(issue 13\) \(upper 95% bound <= 0\.060\): 5 cells/m,
    );
    expect(goals).toMatch(/^(PASS|FAIL) {2}canary-bursts .* caught/m);
    expect(goals).toMatch(/^(PASS|FAIL) {2}errors 3x still caught/m);
    expect(goals).toMatch(/^(PASS|FAIL) {2}latency \+20% .* still caught/m);
    expect(goals).toMatch(
      /^(PASS|FAIL) {2}each Vigil detector alone at alpha 0\.05, every healthy row \(rate <= 0\.050\): 20 cells/m,
    );
    expect(renderMarkdown(r)).toContain('| A/A per route, route mix differs');
  });
});

describe('bench:detectors issue-16 rows', () => {
  it('draw ratio counts and gauge instances; instance offsets persist within a replicate', () => {
    const rand = seededRandom(5);
    const memo: Record<string, number[]> = {};
    const levels: number[][] = [];
    for (let look = 1; look <= 3; look++) {
      const v = drawLook(scenarioById('gauge-aa'), look, rand, memo);
      expect(Object.keys(v.span.canary.instances!)).toHaveLength(3);
      expect(Object.keys(v.span.baseline.instances!)).toHaveLength(10);
      levels.push(Object.values(v.span.canary.instances!).map((c) => c.sum / c.count));
    }
    expect(memo.canary).toHaveLength(3);
    // the same instance stays within its offset +- noise (3%), far tighter than the +-15% offsets
    for (let i = 0; i < 3; i++) expect(Math.abs(levels[2]![i]! / levels[0]![i]! - 1)).toBeLessThan(0.15);
    const r = drawLook(scenarioById('conversion-10%'), 1, rand).span;
    expect(r.canary.ratio!.denominator).toBe(200);
    expect(r.baseline.ratio!.numerator).toBeGreaterThanOrEqual(0);
    expect(scenarioById('conversion-10%').truth.indicatorRatio).toBe(0.9);
    expect(scenarioById('memory+20%').truth.indicatorRatio).toBe(1.2);
  });
});
