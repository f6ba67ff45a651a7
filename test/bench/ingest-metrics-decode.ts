/**
 * Decode-only benchmark of the OTLP metrics decoders, one core, no I/O: one request of 20 resources as the JS
 * SDK exports it (the HTTP request-duration histogram over 20 series, and 14 other metrics: counters, a gauge, an
 * UpDownCounter, a DB histogram), decoded by Vigil's protobuf and JSON decoders, without indicators and with
 * indicators configured on three of the other metrics. Interleaved rounds, the median round is reported.
 *
 * Run: node --import tsx test/bench/ingest-metrics-decode.ts [rounds] [roundMs]
 */
import { pathToFileURL } from 'node:url';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { MetricIndicatorSpec } from '../../src/contracts/telemetry.js';
import { DEFAULT_COHORT_RULES } from '../../src/ingest/cohort.js';
import { decodeMetricsJson } from '../../src/ingest/otlp/decode-metrics-json.js';
import { decodeMetricsProtobuf } from '../../src/ingest/otlp/decode-metrics-protobuf.js';
import { compileMetricIndicators } from '../../src/ingest/metrics/indicators.js';
import { CollectingReader } from '../helpers/otlp/sdk-metrics.js';

let sink: unknown;

function roundUs(fn: () => unknown, ms: number): number {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 5; i++) sink = fn();
    n += 5;
    t = performance.now();
  }
  return ((t - t0) * 1000) / n;
}

async function resource(i: number): Promise<ResourceMetrics> {
  const reader = new CollectingReader({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      'service.name': `svc-${i % 5}`,
      'service.version': i % 2 === 0 ? '1.0' : '1.1',
      'service.instance.id': `pod-${i}`,
      'vigil.cohort': i % 2 === 0 ? 'baseline' : 'canary',
    }),
    readers: [reader],
  });
  const meter = provider.getMeter('@opentelemetry/instrumentation-http', '0.1.0');
  const http = meter.createHistogram('http.server.request.duration', { unit: 's' });
  for (let r = 0; r < 10; r++)
    for (const status of [200, 503])
      http.record(0.01 * (r + 1), { 'http.route': `/r${r}`, 'http.response.status_code': status });
  const app = provider.getMeter('app', '1.0');
  for (let c = 0; c < 10; c++) for (let s = 0; s < 3; s++) app.createCounter(`app.noise.${c}`).add(s + 1, { shard: s });
  for (let s = 0; s < 5; s++) app.createCounter('checkout.completed').add(s + 1, { 'http.route': `/c${s}` });
  app.createObservableGauge('system.cpu.utilization').addCallback((o) => {
    for (let s = 0; s < 4; s++) o.observe(0.1 * s, { cpu: s });
  });
  const memory = app.createUpDownCounter('process.memory.usage', { unit: 'By' });
  for (const pool of ['heap', 'stack', 'code']) memory.add(1_000_000, { pool });
  const db = app.createHistogram('db.client.operation.duration', { unit: 's' });
  for (let s = 0; s < 5; s++) db.record(0.002 * (s + 1), { 'db.operation.name': `op${s}` });
  await new Promise((resolve) => setTimeout(resolve, 2));
  const { resourceMetrics } = await reader.collect();
  await provider.shutdown();
  return resourceMetrics;
}

export const BENCH_INDICATORS: MetricIndicatorSpec[] = [
  { key: 'conv', kind: 'counter', metric: 'checkout.completed', where: { 'http.route': ['/c1', '/c2'] } },
  { key: 'mem', kind: 'gauge', metric: 'process.memory.usage', where: {} },
  { key: 'db', kind: 'histogram', metric: 'db.client.operation.duration', where: {} },
];

/** The benchmark request in both encodings (protobuf: the resources' messages concatenated, a valid request). */
export async function benchRequest(): Promise<{ pb: Buffer; json: Buffer }> {
  const all = await Promise.all(Array.from({ length: 20 }, (_, i) => resource(i)));
  const pb = Buffer.concat(all.map((rm) => Buffer.from(ProtobufMetricsSerializer.serializeRequest(rm)!)));
  const jsonParts = all.map(
    (rm) =>
      JSON.parse(Buffer.from(JsonMetricsSerializer.serializeRequest(rm)!).toString()) as { resourceMetrics: unknown[] },
  );
  return { pb, json: Buffer.from(JSON.stringify({ resourceMetrics: jsonParts.flatMap((p) => p.resourceMetrics) })) };
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 15);
  const roundMs = Number(process.argv[3] ?? 300);
  const { pb, json } = await benchRequest();
  const rules = DEFAULT_COHORT_RULES;
  const compiled = compileMetricIndicators(BENCH_INDICATORS);
  const cases: { name: string; bytes: number; fn: () => unknown }[] = [
    { name: 'protobuf, no indicators', bytes: pb.length, fn: () => decodeMetricsProtobuf(pb, rules) },
    { name: 'JSON, no indicators', bytes: json.length, fn: () => decodeMetricsJson(json, rules) },
    // BASELINE-CUT-START
    { name: 'protobuf, 3 indicators', bytes: pb.length, fn: () => decodeMetricsProtobuf(pb, rules, compiled) },
    { name: 'JSON, 3 indicators', bytes: json.length, fn: () => decodeMetricsJson(json, rules, compiled) },
    // BASELINE-CUT-END
  ];
  for (const c of cases) roundUs(c.fn, 300);
  const per = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) cases.forEach((c, i) => per[i]!.push(roundUs(c.fn, roundMs)));
  console.log(`request: 20 resources, protobuf ${pb.length} B, JSON ${json.length} B`);
  cases.forEach((c, i) => {
    const us = [...per[i]!].sort((a, b) => a - b)[Math.floor(rounds / 2)]!;
    console.log(
      `${c.name.padEnd(28)} ${us.toFixed(1).padStart(8)} us/request ${(c.bytes / us).toFixed(1).padStart(6)} MB/s`,
    );
  });
  if (sink === Symbol.for('never')) console.log(sink);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
