import { describe, expect, it } from 'vitest';
import { AnalysisRegistry, type MetricSetup } from '../../../src/analysis/analysis-registry.js';
import type { IndicatorMissing } from '../../../src/analysis/analysis-types.js';
import { MISSING_INDICATOR_LOOKS } from '../../../src/analysis/look-runner.js';
import { compileIndicators, projectLook, type Projection } from '../../../src/analysis/indicators.js';
import type {
  CohortBatch,
  CohortIncrement,
  CohortPair,
  Detector,
  RequestSample,
} from '../../../src/contracts/index.js';
import { addRequest, emptyBatch, emptyPair, mergeBatch } from '../../../src/evidence/cohort-batch.js';
import { registrySettings } from '../../helpers/registry-settings.js';

/** A detector that records what it was given: the projection is under test, not the statistics. */
function recorder(name: string) {
  const seen: { batch: CohortPair; totals: CohortPair }[] = [];
  const detector: Detector<null> = {
    type: 'test-record',
    name,
    init: () => null,
    look: (s, input) => {
      seen.push({ batch: structuredClone(input.batch), totals: structuredClone(input.totals) });
      return {
        state: s,
        verdict: {
          detector: 'test-record',
          metric: name,
          phase: 'inconclusive',
          pValue: 1,
          samples: { baseline: 0, canary: 0 },
          summary: 'nothing decided',
        },
      };
    },
  };
  return { detector, seen };
}

const T0 = 1_767_225_600_000;
const counts = (requests: number): CohortBatch => ({ ...emptyBatch(), requests });

function inc(cohort: 'baseline' | 'canary', t: number, batch: CohortBatch): CohortIncrement {
  return { service: 'shop', version: cohort === 'canary' ? '2.0' : '1.0', cohort, endUnixMs: T0 + t, batch };
}
const withIndicators = (requests: number, indicators: Record<string, CohortBatch>): CohortBatch => {
  const b = emptyBatch();
  for (let i = 0; i < requests; i++) addRequest(b, 20, false);
  return { ...b, indicators };
};
const span = (cohort: 'baseline' | 'canary', t: number): RequestSample => ({
  service: 'shop',
  version: cohort === 'canary' ? '2.0' : '1.0',
  cohort,
  endUnixMs: T0 + t,
  durationMs: 20,
  error: false,
});

describe('compileIndicators', () => {
  it('compiles each kind of metric into the specs the decoders fill and one projection per metric', () => {
    const c = compileIndicators([
      { name: 'error-rate' },
      { name: 'checkout-errors', source: 'auto', where: { 'http.route': '/checkout' } },
      {
        name: 'conversion',
        reads: {
          kind: 'ratio',
          numerator: { metric: 'checkout.completed' },
          denominator: { metric: 'checkout.started', where: { tier: ['gold', 'silver'] } },
        },
      },
      {
        name: 'misses',
        reads: {
          kind: 'ratio',
          numerator: { source: 'spans', where: { 'cache.hit': false } },
          denominator: { source: 'spans' },
        },
      },
      {
        name: 'memory',
        where: { region: 'eu' },
        reads: { kind: 'gauge', metric: 'process.memory.usage', where: { type: 'heap' } },
      },
      { name: 'db', source: 'spans', reads: { kind: 'histogram', metric: 'db.client.operation.duration' } },
    ]);
    expect(c.byMetric[0]).toBeUndefined();
    expect(c.byMetric.map((p) => p?.kind)).toEqual([undefined, 'requests', 'ratio', 'ratio', 'batch', 'batch']);
    expect(c.spans).toEqual([
      { key: 'checkout-errors', where: { 'http.route': '/checkout' } },
      { key: 'misses#numerator', where: { 'cache.hit': false } },
      { key: 'misses#denominator', where: {} },
    ]);
    expect(c.metrics).toEqual([
      ...[
        'http.server.request.duration',
        'http.server.duration',
        'rpc.server.call.duration',
        'rpc.server.duration',
      ].map((metric) => ({
        key: 'checkout-errors#metrics',
        kind: 'histogram',
        metric,
        where: { 'http.route': '/checkout' },
      })),
      { key: 'conversion#numerator', kind: 'counter', metric: 'checkout.completed', where: {} },
      {
        key: 'conversion#denominator',
        kind: 'counter',
        metric: 'checkout.started',
        where: { tier: ['gold', 'silver'] },
      },
      { key: 'memory', kind: 'gauge', metric: 'process.memory.usage', where: { region: 'eu', type: 'heap' } },
      { key: 'db', kind: 'histogram', metric: 'db.client.operation.duration', where: {} },
    ]);
    expect(c.byMetric[2]).toMatchObject({
      otlp: 'checkout.completed per checkout.started (tier=gold|silver)',
      none: 'checkout.completed or checkout.started (tier=gold|silver) points',
    });
    expect(c.byMetric[3]).toMatchObject({ otlp: 'request spans (cache.hit=false) per request spans' });
    expect(c.byMetric[4]).toMatchObject({ none: 'process.memory.usage (region=eu, type=heap) points' });
  });

  it('a request metric with where picks spans or metrics per look like `auto`, and sums them for `both`', () => {
    const projection = (source: 'auto' | 'both'): Projection =>
      compileIndicators([{ name: 'e', source, where: { 'http.route': '/x' } }]).byMetric[0]!;
    const auto = projection('auto');
    const both = projection('both');
    const spans = emptyPair();
    spans.baseline.indicators = { e: counts(3) };
    spans.canary.indicators = { e: counts(1) };
    const metrics = emptyPair();
    metrics.baseline.indicators = { 'e#metrics': counts(30) };
    metrics.canary.indicators = { 'e#metrics': counts(10) };
    expect(projectLook(auto, spans, metrics).canary.requests).toBe(1);
    expect(projectLook(both, spans, metrics).canary.requests).toBe(11);
    expect(projectLook(auto, emptyPair(), metrics).baseline.requests).toBe(30);
  });
});

describe('indicators through the registry', () => {
  const conversion = compileIndicators([
    {
      name: 'conversion',
      reads: {
        kind: 'ratio',
        numerator: { metric: 'checkout.completed' },
        denominator: { metric: 'checkout.started' },
      },
    },
  ]).byMetric[0]!;
  const memory = compileIndicators([{ name: 'memory', reads: { kind: 'gauge', metric: 'process.memory.usage' } }])
    .byMetric[0]!;

  it('a ratio metric sees each look’s numerator and denominator counts per cohort, and their running totals', () => {
    const r = recorder('conversion');
    const setup: MetricSetup = {
      name: 'conversion',
      shadow: false,
      weight: 1,
      detector: r.detector,
      projection: conversion,
    };
    const reg = new AnalysisRegistry(registrySettings([setup]), { onDecision: () => {} });
    const ratio = (num: number, den: number) => ({
      'conversion#numerator': counts(num),
      'conversion#denominator': counts(den),
    });
    // business counters only (no request in these increments): they start the analysis and fill its looks
    reg.ingestBatches([
      inc('baseline', 1000, withIndicators(0, ratio(4, 200))),
      inc('canary', 2000, withIndicators(0, ratio(1, 100))),
    ]);
    reg.ingestBatches([
      inc('baseline', 11_000, withIndicators(0, ratio(6, 210))),
      inc('canary', 12_000, withIndicators(0, ratio(3, 90))),
    ]);
    reg.ingestBatches([inc('baseline', 21_000, withIndicators(0, {})), inc('canary', 21_000, withIndicators(0, {}))]);
    expect(reg.list().map((a) => a.id)).toEqual(['shop:2.0']);
    expect(r.seen.map((s) => [s.batch.canary.ratio, s.batch.baseline.ratio])).toEqual([
      [
        { numerator: 1, denominator: 100 },
        { numerator: 4, denominator: 200 },
      ],
      [
        { numerator: 3, denominator: 90 },
        { numerator: 6, denominator: 210 },
      ],
    ]);
    expect(r.seen[1]!.totals.canary.ratio).toEqual({ numerator: 4, denominator: 190 });
  });

  it('a gauge metric sees the look’s instance cells of both cohorts', () => {
    const r = recorder('memory');
    const setup: MetricSetup = { name: 'memory', shadow: false, weight: 1, detector: r.detector, projection: memory };
    const reg = new AnalysisRegistry(registrySettings([setup]), { onDecision: () => {} });
    const cells = (instances: CohortBatch['instances']) =>
      withIndicators(1, { memory: { ...emptyBatch(), instances } });
    reg.ingestBatches([
      inc('baseline', 1000, cells({ 'b1\n': { sum: 100, count: 1 }, 'b2\n': { sum: 110, count: 1 } })),
      inc('baseline', 6000, cells({ 'b1\n': { sum: 104, count: 1 } })),
      inc('canary', 2000, cells({ 'c1\n': { sum: 150, count: 1 } })),
    ]);
    reg.ingestBatches([inc('baseline', 11_000, cells({}))]);
    expect(r.seen[0]!.batch.baseline.instances).toEqual({
      'b1\n': { sum: 204, count: 2 },
      'b2\n': { sum: 110, count: 1 },
    });
    expect(r.seen[0]!.batch.canary.instances).toEqual({ 'c1\n': { sum: 150, count: 1 } });
  });

  it('after 12 looks without any point of its metric, the verdict says so and the hook fires once', () => {
    const r = recorder('memory');
    const setup: MetricSetup = { name: 'memory', shadow: false, weight: 1, detector: r.detector, projection: memory };
    const missing: IndicatorMissing[] = [];
    const reg = new AnalysisRegistry(registrySettings([setup]), {
      onDecision: () => {},
      onIndicatorMissing: (e) => missing.push(e),
    });
    for (let look = 0; look <= MISSING_INDICATOR_LOOKS + 2; look++)
      reg.ingest([span('baseline', look * 10_000 + 1000), span('canary', look * 10_000 + 2000)]);
    const a = reg.list()[0]!;
    expect(a.look).toBe(MISSING_INDICATOR_LOOKS + 2);
    expect(missing).toEqual([
      { service: 'shop', analysisId: 'shop:2.0', metric: 'memory', reads: 'process.memory.usage points', looks: 12 },
    ]);
    expect(a.verdicts[0]!.summary).toBe(
      'no process.memory.usage points from either cohort in 14 looks; nothing decided',
    );
  });
});

describe('mergeBatch of indicator evidence', () => {
  it('merges indicators recursively, gauge cells and ratio counts by addition', () => {
    const a: CohortBatch = {
      ...emptyBatch(),
      indicators: { x: counts(2) },
      instances: { 'i\n': { sum: 1, count: 1 } },
    };
    const b: CohortBatch = {
      ...emptyBatch(),
      indicators: { x: counts(3), y: counts(1) },
      instances: { 'i\n': { sum: 2, count: 2 }, 'j\n': { sum: 5, count: 1 } },
      ratio: { numerator: 1, denominator: 4 },
    };
    mergeBatch(a, b);
    expect(a.indicators?.x?.requests).toBe(5);
    expect(a.indicators?.y?.requests).toBe(1);
    expect(a.instances).toEqual({ 'i\n': { sum: 3, count: 3 }, 'j\n': { sum: 5, count: 1 } });
    expect(a.ratio).toEqual({ numerator: 1, denominator: 4 });
    b.instances!['j\n']!.sum = 99; // the merge copied the cells
    expect(a.instances?.['j\n']?.sum).toBe(5);
  });
});

describe('why a running analysis runs', () => {
  const fixed = (name: string, samples: number, pValue: number): MetricSetup => ({
    name,
    shadow: false,
    weight: 1,
    detector: {
      type: 'test-fixed',
      name,
      init: () => null,
      look: (s) => ({
        state: s,
        verdict: {
          detector: 'test-fixed',
          metric: name,
          phase: 'inconclusive',
          pValue,
          samples: { baseline: samples, canary: samples },
          summary: '',
        },
      }),
    },
  });
  const whyWith = (metrics: MetricSetup[]): string => {
    const reg = new AnalysisRegistry(registrySettings(metrics), { onDecision: () => {} });
    reg.ingest([span('baseline', 1000), span('canary', 2000), span('baseline', 11_000)]);
    return reg.list()[0]!.why;
  };

  it('names the metrics still without samples while another one (a business metric) has evidence', () => {
    expect(whyWith([fixed('error-rate', 0, 1), fixed('conversion', 400, 0.3)])).toBe(
      'no metric has failed yet (lowest p-value 0.30); keeps looking every interval; no samples in both cohorts yet for error-rate',
    );
    expect(whyWith([fixed('error-rate', 0, 1), fixed('memory', 0, 1)])).toBe('waiting for samples in both cohorts');
  });
});
