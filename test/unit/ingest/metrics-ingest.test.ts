import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, MeterProvider } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import type { LimitHit } from '../../../src/limits/limits.js';
import type { CohortRules } from '../../../src/ingest/cohort.js';
import { MetricsIngest } from '../../../src/ingest/metrics-ingest.js';
import { CollectingReader } from '../../helpers/otlp/sdk-metrics.js';

const RULES: CohortRules = { attribute: 'vigil.cohort', podLabels: ['track'], canaryVersion: null };

/** A live SDK pipeline: record, then collect and serialise the way an exporter would. */
function sdk(resource: Record<string, string>, temporality = AggregationTemporality.CUMULATIVE) {
  const reader = new CollectingReader({ aggregationTemporalitySelector: () => temporality });
  const provider = new MeterProvider({ resource: resourceFromAttributes(resource), readers: [reader] });
  const meter = provider.getMeter('@opentelemetry/instrumentation-http');
  const stable = meter.createHistogram('http.server.request.duration', {
    unit: 's',
    advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] },
  });
  const legacy = meter.createHistogram('http.server.duration', {
    unit: 'ms',
    advice: { explicitBucketBoundaries: [5, 10, 25, 50, 100, 250, 500, 1000] },
  });
  return {
    stable,
    legacy,
    async export(encoding: 'protobuf' | 'json' = 'protobuf'): Promise<Buffer> {
      // the SDK's clock has ms resolution: make sure the collection time is after the series' start
      await new Promise((resolve) => setTimeout(resolve, 3));
      const { resourceMetrics } = await reader.collect();
      const s = encoding === 'protobuf' ? ProtobufMetricsSerializer : JsonMetricsSerializer;
      return Buffer.from(s.serializeRequest(resourceMetrics)!);
    },
  };
}

describe('MetricsIngest', () => {
  it('a cumulative SDK series started after the agent: first export counts in full, then only what is new', async () => {
    const ingest = new MetricsIngest({ rules: RULES, agentStartUnixMs: Date.now() - 60_000 });
    const app = sdk({ 'service.name': 'checkout', 'service.version': '2.0', 'vigil.cohort': 'canary' });
    for (let i = 0; i < 10; i++)
      app.stable.record(0.02, { 'http.route': '/a', 'http.response.status_code': i < 3 ? 503 : 200 });
    const first = ingest.ingest(await app.export(), 'protobuf');
    expect(first.increments).toHaveLength(1); // both series share service, version, cohort and time
    expect(first.increments[0]).toMatchObject({
      service: 'checkout',
      version: '2.0',
      cohort: 'canary',
      batch: { requests: 10, errors: 3 },
    });
    app.stable.record(0.3, { 'http.route': '/a', 'http.response.status_code': 200 });
    app.stable.record(0.3, { 'http.route': '/a', 'http.response.status_code': 200 });
    const second = ingest.ingest(await app.export('json'), 'json');
    expect(second.increments[0]!.batch).toMatchObject({ requests: 2, errors: 0, logLatency: { n: 2 } });
    expect(second.increments[0]!.batch.logLatency.mean).toBeCloseTo(Math.log(Math.sqrt(250 * 500)), 12);
    const third = ingest.ingest(await app.export(), 'protobuf');
    expect(third.increments).toEqual([]); // nothing recorded since
    expect(ingest.tracker.counters).toMatchObject({ baselines: 2, deltas: 3, duplicates: 0 }); // 2 fresh series + 1 subtraction
  });

  it('metric points get their cohort from the same rules as spans, rollouts[].canaryVersion included', async () => {
    const ingest = new MetricsIngest({
      rules: { ...RULES, canaryVersionByService: new Map([['pay', '3.1']]) },
      agentStartUnixMs: 0,
    });
    const cohorts: string[] = [];
    for (const [service, version, cohort] of [
      ['pay', '3.1', undefined],
      ['pay', '3.0', undefined],
      ['pay', '3.1', 'baseline'],
      ['cart', '3.1', undefined],
    ] as const) {
      const app = sdk(
        { 'service.name': service, 'service.version': version, ...(cohort ? { 'vigil.cohort': cohort } : {}) },
        AggregationTemporality.DELTA,
      );
      app.stable.record(0.01, {});
      cohorts.push(...ingest.ingest(await app.export(), 'protobuf').increments.map((i) => i.cohort));
    }
    expect(cohorts).toEqual(['canary', 'baseline', 'baseline', 'unknown']);
  });

  it('a series older than the agent starts as a baseline; delta temporality needs no baseline', async () => {
    const ingest = new MetricsIngest({ rules: RULES, agentStartUnixMs: Date.now() + 60_000 });
    const cumulative = sdk({ 'service.name': 'a', 'vigil.cohort': 'baseline' });
    cumulative.stable.record(0.01, {});
    expect(ingest.ingest(await cumulative.export(), 'protobuf').increments).toEqual([]);
    const delta = sdk({ 'service.name': 'b', 'vigil.cohort': 'baseline' }, AggregationTemporality.DELTA);
    delta.stable.record(0.01, {});
    expect(ingest.ingest(await delta.export(), 'protobuf').increments[0]!.batch.requests).toBe(1);
  });

  it('drops the legacy HTTP metric of a resource that also sends the stable one (dual emission)', async () => {
    const ingest = new MetricsIngest({ rules: RULES, agentStartUnixMs: 0 });
    const dual = sdk({ 'service.name': 'dual', 'vigil.cohort': 'canary' });
    dual.stable.record(0.02, {});
    dual.legacy.record(20, {});
    expect(ingest.ingest(await dual.export(), 'protobuf').increments.map((i) => i.batch.requests)).toEqual([1]);
    const old = sdk({ 'service.name': 'old', 'vigil.cohort': 'canary' });
    old.legacy.record(20, {});
    old.legacy.record(30, {});
    expect(ingest.ingest(await old.export(), 'protobuf').increments.map((i) => i.batch.requests)).toEqual([2]);
    expect(ingest.counters.legacyDuplicates).toBe(1);
  });

  it('passes rejected points through and warns once per service about exports rarer than looks', () => {
    const warnings: string[] = [];
    const ingest = new MetricsIngest({
      rules: RULES,
      agentStartUnixMs: 0,
      intervalMs: 10_000,
      logger: { warn: (_o, m) => warnings.push(m) },
    });
    const body = (t: number, count: number, zero = false) =>
      JSON.stringify({
        resourceMetrics: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'pay' } }] },
            scopeMetrics: [
              {
                metrics: [
                  {
                    name: 'http.server.request.duration',
                    unit: 's',
                    histogram: {
                      aggregationTemporality: 2,
                      dataPoints: [
                        {
                          startTimeUnixNano: '1000',
                          timeUnixNano: String(t * 1e6),
                          count,
                          bucketCounts: [count, 0],
                          explicitBounds: [1],
                        },
                        ...(zero
                          ? [
                              {
                                startTimeUnixNano: '1000',
                                timeUnixNano: '0',
                                count: 1,
                                bucketCounts: [1, 0],
                                explicitBounds: [1],
                                attributes: [{ key: 'k', value: { stringValue: 'v' } }],
                              },
                            ]
                          : []),
                      ],
                    },
                  },
                ],
              },
            ],
          },
        ],
      });
    ingest.ingest(Buffer.from(body(1_767_225_600_000, 5)), 'json');
    const r = ingest.ingest(Buffer.from(body(1_767_225_660_000, 9, true)), 'json'); // 60 s later
    expect(r.increments[0]!.batch.requests).toBe(4);
    expect(r.rejected).toBe(1);
    expect(r.message).toBe('rejected 1 data point(s): 1 with time_unix_nano 0');
    ingest.ingest(Buffer.from(body(1_767_225_720_000, 12)), 'json');
    expect(ingest.counters.wideWindows).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('OTEL_METRIC_EXPORT_INTERVAL');
  });

  it('reports the stream limit once and counts the dropped points', async () => {
    const hits: LimitHit[] = [];
    const evicted: number[] = [];
    const ingest = new MetricsIngest({
      rules: RULES,
      agentStartUnixMs: 0,
      maxStreams: 1,
      onLimitReached: (h) => hits.push(h),
      onLimitEvicted: (_limit, n) => evicted.push(n),
    });
    const app = sdk({ 'service.name': 'checkout', 'vigil.cohort': 'canary' });
    app.stable.record(0.02, { 'http.route': '/a' });
    expect(ingest.ingest(await app.export(), 'protobuf').increments[0]!.batch.requests).toBe(1);
    // '/a' has sent its second point: it holds its place, and the new streams are refused
    for (const route of ['/a', '/b', '/c']) app.stable.record(0.02, { 'http.route': route });
    expect(ingest.ingest(await app.export(), 'protobuf').increments[0]!.batch.requests).toBe(1);
    expect(hits).toEqual([{ limit: 'metric-streams', max: 1 }]);
    expect(ingest.guard.refused).toBe(2);
    expect(evicted).toEqual([]);
  });

  it('at the stream limit, streams seen once give way to new ones (counted per request)', async () => {
    const evicted: number[] = [];
    const ingest = new MetricsIngest({
      rules: RULES,
      agentStartUnixMs: 0,
      maxStreams: 1,
      onLimitEvicted: (limit, n) => {
        expect(limit).toBe('metric-streams');
        evicted.push(n);
      },
    });
    const app = sdk({ 'service.name': 'checkout', 'vigil.cohort': 'canary' });
    for (const route of ['/a', '/b', '/c']) app.stable.record(0.02, { 'http.route': route });
    expect(ingest.ingest(await app.export(), 'protobuf').increments[0]!.batch.requests).toBe(3);
    expect(evicted).toEqual([2]);
    expect(ingest.guard.refused).toBe(0);
  });
});
