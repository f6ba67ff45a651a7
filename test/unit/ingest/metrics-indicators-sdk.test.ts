import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { ValueType } from '@opentelemetry/api';
import {
  AggregationTemporalityPreference,
  OTLPMetricExporter as HttpJsonExporter,
} from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CohortBatch } from '../../../src/contracts/evidence.js';
import type { MetricIndicatorSpec } from '../../../src/contracts/telemetry.js';
import type { CohortRules } from '../../../src/ingest/cohort.js';
import { MetricsIngest, type MetricsIngestResult } from '../../../src/ingest/metrics-ingest.js';
import { compileMetricIndicators } from '../../../src/ingest/metrics/indicators.js';
import { decodeMetricsJson } from '../../../src/ingest/otlp/decode-metrics-json.js';
import { decodeMetricsProtobuf } from '../../../src/ingest/otlp/decode-metrics-protobuf.js';
import { CollectingReader } from '../../helpers/otlp/sdk-metrics.js';

/**
 * Metric indicators (issue 16) with the real OpenTelemetry JS SDK: a counter, an UpDownCounter, an observable gauge
 * and a histogram, exported by the real OTLP exporters (JSON over HTTP and protobuf) with both temporality
 * preferences to a local receiver, ingested with indicators; and the SDK's protobuf and JSON serializations of the
 * same collection decoded into deep-equal models.
 */

const RULES: CohortRules = { attribute: 'vigil.cohort', podLabels: ['track'], canaryVersion: null };
const RESOURCE = {
  'service.name': 'shop',
  'service.version': '2.0',
  'service.instance.id': 'pod-7',
  'vigil.cohort': 'canary',
};

const INDICATORS: MetricIndicatorSpec[] = [
  { key: 'conv', kind: 'counter', metric: 'checkout.completed', where: { 'checkout.result': 'ok' } },
  { key: 'started', kind: 'counter', metric: 'checkout.started', where: {} },
  { key: 'conn', kind: 'gauge', metric: 'db.connections', where: {} },
  { key: 'mem', kind: 'gauge', metric: 'process.memory.usage', where: { 'service.instance.id': 'pod-7' } },
  { key: 'queue', kind: 'histogram', metric: 'queue.wait', where: {} },
];

interface Received {
  contentType: string;
  body: Buffer;
}

let server: Server;
let url = '';
const received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const contentType = String(req.headers['content-type']);
      received.push({ contentType, body });
      res.writeHead(200, { 'content-type': contentType });
      res.end(contentType.includes('json') ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/metrics`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The instruments of the test application; `memory` is what the observable gauge reports per pool. */
function app(reader: MetricReader) {
  const provider = new MeterProvider({ resource: resourceFromAttributes(RESOURCE), readers: [reader] });
  const meter = provider.getMeter('shop-instrumentation', '1.0.0');
  const memory: Record<string, number> = {};
  meter.createObservableGauge('process.memory.usage', { unit: 'By' }).addCallback((o) => {
    for (const [pool, v] of Object.entries(memory)) o.observe(v, { pool });
  });
  return {
    provider,
    memory,
    completed: meter.createCounter('checkout.completed', { valueType: ValueType.INT }),
    started: meter.createCounter('checkout.started'),
    connections: meter.createUpDownCounter('db.connections', { valueType: ValueType.INT }),
    queue: meter.createHistogram('queue.wait', { unit: 's', advice: { explicitBucketBoundaries: [0.1, 1] } }),
  };
}

type App = ReturnType<typeof app>;

function look1(a: App): void {
  a.completed.add(3, { 'checkout.result': 'ok' });
  a.completed.add(4, { 'checkout.result': 'ok' });
  a.completed.add(2, { 'checkout.result': 'failed' });
  a.started.add(10);
  a.connections.add(5);
  a.connections.add(-2);
  a.memory.heap = 100;
  a.memory.stack = 50;
  a.queue.record(0.05);
  a.queue.record(0.05, { 'error.type': 'timeout' });
  a.queue.record(0.5, { 'error.type': 'timeout' });
}

function look2(a: App): void {
  a.completed.add(5, { 'checkout.result': 'ok' });
  a.completed.add(1, { 'checkout.result': 'failed' });
  a.started.add(8);
  a.connections.add(4);
  a.memory.heap = 120;
  a.queue.record(0.5);
}

/** Every indicator's evidence of a request, summed over its increments (one per collection time here). */
function evidence(r: MetricsIngestResult): Record<string, CohortBatch> {
  const out: Record<string, CohortBatch> = {};
  expect(r.increments.every((i) => i.batch.requests === 0 && i.cohort === 'canary')).toBe(true);
  for (const inc of r.increments)
    for (const [key, b] of Object.entries(inc.batch.indicators ?? {})) {
      expect(out[key]).toBeUndefined();
      out[key] = b;
    }
  return out;
}

const cases = [
  ['JSON', 'DELTA'],
  ['JSON', 'CUMULATIVE'],
  ['protobuf', 'DELTA'],
  ['protobuf', 'CUMULATIVE'],
] as const;

describe('metric indicators through the real OTel JS SDK and OTLP exporters', () => {
  it.each(cases)('%s exporter, %s temporality preference: exact counts and cells per look', async (enc, pref) => {
    const temporalityPreference = AggregationTemporalityPreference[pref];
    const exporter =
      enc === 'JSON'
        ? new HttpJsonExporter({ url, temporalityPreference })
        : new ProtoExporter({ url, temporalityPreference });
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const a = app(reader);
    const ingest = new MetricsIngest({ rules: RULES, indicators: INDICATORS, agentStartUnixMs: 0 });
    const looks: Record<string, CohortBatch>[] = [];
    for (const record of [look1, look2]) {
      record(a);
      await new Promise((resolve) => setTimeout(resolve, 5)); // the SDK's clock has ms resolution
      received.length = 0;
      await a.provider.forceFlush();
      expect(received).toHaveLength(1);
      const { contentType, body } = received[0]!;
      expect(contentType).toContain(enc === 'JSON' ? 'application/json' : 'application/x-protobuf');
      const r = ingest.ingest(body, enc === 'JSON' ? 'json' : 'protobuf');
      expect(r.rejected).toBe(0);
      looks.push(evidence(r));
    }
    await a.provider.shutdown();
    const [one, two] = looks as [Record<string, CohortBatch>, Record<string, CohortBatch>];
    expect([one.conv!.requests, two.conv!.requests]).toEqual([7, 5]);
    expect([one.started!.requests, two.started!.requests]).toEqual([10, 8]);
    // the UpDownCounter is exported cumulatively under either preference: a level
    expect(one.conn!.instances).toEqual({ 'pod-7\n': { sum: 3, count: 1 } });
    expect(two.conn!.instances).toEqual({ 'pod-7\n': { sum: 7, count: 1 } });
    expect(one.mem!.instances).toEqual({
      'pod-7\n"pool"="heap"': { sum: 100, count: 1 },
      'pod-7\n"pool"="stack"': { sum: 50, count: 1 },
    });
    expect(two.mem!.instances).toEqual({
      'pod-7\n"pool"="heap"': { sum: 120, count: 1 },
      'pod-7\n"pool"="stack"': { sum: 50, count: 1 },
    });
    expect([one.queue!.requests, one.queue!.errors, two.queue!.requests, two.queue!.errors]).toEqual([3, 2, 1, 0]);
    expect(two.queue!.logLatency.mean).toBeCloseTo(Math.log(Math.sqrt(100 * 1000)), 12); // (0.1, 1] s in ms
    // matching points: 7 per look; under DELTA the SDK leaves out look 2's error series of queue.wait (no record)
    expect(ingest.counters).toMatchObject({
      indicatorPoints: pref === 'DELTA' ? 13 : 14,
      deltaUpDownPoints: 0,
      rejectedDataPoints: 0,
    });
  });

  it('the SDK protobuf and JSON serializations of every kind decode to deep-equal models', async () => {
    const compiled = compileMetricIndicators([
      ...INDICATORS,
      { key: 'failed', kind: 'counter', metric: 'checkout.completed', where: { 'checkout.result': ['failed'] } },
    ]);
    for (const temporality of [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA]) {
      const reader = new CollectingReader({ aggregationTemporalitySelector: () => temporality });
      const a = app(reader);
      look1(a);
      await new Promise((resolve) => setTimeout(resolve, 3));
      const { resourceMetrics } = await reader.collect();
      await a.provider.shutdown();
      const pb = decodeMetricsProtobuf(
        Buffer.from(ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!),
        RULES,
        compiled,
      );
      const json = decodeMetricsJson(
        Buffer.from(JsonMetricsSerializer.serializeRequest(resourceMetrics)!),
        RULES,
        compiled,
      );
      expect(json).toEqual(pb);
      expect(pb.points.map((p) => [p.metric, p.count, p.error, p.indicatorOnly])).toEqual([
        ['queue.wait', 1, false, true],
        ['queue.wait', 2, true, true],
      ]);
      const numbers = (pb.numberPoints ?? []).map((p) => [p.metric, p.role, p.count, p.indicators]);
      // every temporality DELTA (a reader that asks for it even for UpDownCounters): db.connections is ignored
      expect(numbers).toEqual([
        ['process.memory.usage', 'gauge', 100, ['mem']],
        ['process.memory.usage', 'gauge', 50, ['mem']],
        ['checkout.completed', 'counter', 7, ['conv']],
        ['checkout.completed', 'counter', 2, ['failed']],
        ['checkout.started', 'counter', 10, ['started']],
        ...(temporality === AggregationTemporality.CUMULATIVE ? [['db.connections', 'gauge', 3, ['conn']]] : []),
      ]);
      expect(pb.deltaUpDownPoints).toBe(temporality === AggregationTemporality.DELTA ? 1 : undefined);
    }
  });
});
