/**
 * Duplicates are not double-counted (issue 11), with the REAL OpenTelemetry JS exporters (OTLP/gRPC and
 * OTLP/HTTP protobuf) against a running agent: the same spans exported twice count once, and a batch first
 * refused (503 / UNAVAILABLE: the ingest queue is full), retried by the SDK, then re-sent once more (as a
 * Collector that lost the answer would), counts once.
 */
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/main.js';
import { exportWith, shopSpans } from '../helpers/otel-spans.js';
import { startTestAgent } from '../helpers/test-agent.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Started {
  agent: Agent;
  grpcUrl: string;
  httpUrl: string;
}

async function startAgent(extra = ''): Promise<Started> {
  const s = await startTestAgent(
    `server: { otlpGrpc: { host: 127.0.0.1 }, otlpHttp: { host: 127.0.0.1 } }\n${extra}`,
    'dedup',
  );
  cleanups.push(() => s.agent.stop());
  return { agent: s.agent, grpcUrl: s.grpcUrl, httpUrl: `${s.otlpHttpUrl}/v1/traces` };
}

const spans = (n: number): ReadableSpan[] => shopSpans(n, { scope: 'dedup-test' });

/** `sdkRetries`: the JS SDK's HTTP exporters retry a 503 themselves; its gRPC exporter does not (a Collector's does). */
const transports: { name: string; sdkRetries: boolean; make: (s: Started) => SpanExporter }[] = [
  { name: 'OTLP/gRPC', sdkRetries: false, make: (s) => new GrpcExporter({ url: s.grpcUrl, timeoutMillis: 8000 }) },
  {
    name: 'OTLP/HTTP protobuf',
    sdkRetries: true,
    make: (s) => new ProtoExporter({ url: s.httpUrl, timeoutMillis: 8000 }),
  },
];

async function metric(agent: Agent, name: string): Promise<string[]> {
  const text = await agent.metrics.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(name));
}

async function samplesMetric(agent: Agent): Promise<string[]> {
  return (await metric(agent, 'vigil_request_samples_total')).filter((l) => !l.includes('unknown'));
}

describe.each(transports)('duplicates with the real SDK exporter over $name', ({ make, sdkRetries }) => {
  it('counts the same spans exported twice once', async () => {
    const started = await startAgent();
    const { agent } = started;
    const exporter = make(started);
    cleanups.push(() => exporter.shutdown());
    const batch = spans(25);
    expect((await exportWith(exporter, batch)).code).toBe(ExportResultCode.SUCCESS);
    expect((await exportWith(exporter, batch)).code).toBe(ExportResultCode.SUCCESS);
    expect(agent.registry.counters.samples).toBe(50);
    expect((await samplesMetric(agent)).sort()).toEqual([
      'vigil_request_samples_total{cohort="baseline"} 25',
      'vigil_request_samples_total{cohort="canary"} 25',
    ]);
    expect(await metric(agent, 'vigil_spans_duplicate_total')).toEqual(['vigil_spans_duplicate_total 50']);
    expect(await metric(agent, 'vigil_dedup_tracked_spans')).toEqual(['vigil_dedup_tracked_spans 50']);
    // new spans still count
    expect((await exportWith(exporter, spans(5))).code).toBe(ExportResultCode.SUCCESS);
    expect(agent.registry.counters.samples).toBe(60);
  });

  it('counts a batch refused with 503 / UNAVAILABLE, retried, then re-sent, once', async () => {
    const started = await startAgent('ingest: { maxInflightRequests: 1, retryAfter: 1s }');
    const { agent } = started;
    const exporter = make(started);
    cleanups.push(() => exporter.shutdown());
    const batch = spans(20);
    const held = agent.gate.tryAdmit(1); // another request in flight: the first attempt is refused
    expect(held.ok).toBe(true);
    const first = exportWith(exporter, batch);
    for (let i = 0; i < 100; i++) {
      if ((await metric(agent, 'vigil_ingest_throttled_total')).length > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(agent.registry.counters.samples).toBe(0);
    if (held.ok) held.release();
    if (sdkRetries) {
      expect((await first).code).toBe(ExportResultCode.SUCCESS); // the SDK's own retry (after Retry-After) got in
    } else {
      expect((await first).code).toBe(ExportResultCode.FAILED); // UNAVAILABLE: the caller retries
      expect((await exportWith(exporter, batch)).code).toBe(ExportResultCode.SUCCESS);
    }
    expect(agent.registry.counters.samples).toBe(40);
    expect((await exportWith(exporter, batch)).code).toBe(ExportResultCode.SUCCESS); // a Collector's re-send
    expect(agent.registry.counters.samples).toBe(40);
    expect((await samplesMetric(agent)).sort()).toEqual([
      'vigil_request_samples_total{cohort="baseline"} 20',
      'vigil_request_samples_total{cohort="canary"} 20',
    ]);
    expect((await metric(agent, 'vigil_ingest_throttled_total')).length).toBe(1);
    expect(await metric(agent, 'vigil_spans_duplicate_total')).toEqual(['vigil_spans_duplicate_total 40']);
  });
});

describe('ingest.dedup: false', () => {
  it('counts a batch sent twice twice (the switch for the benchmark)', async () => {
    const started = await startAgent('ingest: { dedup: false }');
    const exporter = new GrpcExporter({ url: started.grpcUrl, timeoutMillis: 8000 });
    cleanups.push(() => exporter.shutdown());
    const batch = spans(5);
    await exportWith(exporter, batch);
    await exportWith(exporter, batch);
    expect(started.agent.registry.counters.samples).toBe(20);
  });
});
