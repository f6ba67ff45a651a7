/**
 * The OTLP/gRPC receiver of a running agent (createAgent, ephemeral ports) against the REAL OpenTelemetry
 * JS gRPC trace exporter (@opentelemetry/exporter-trace-otlp-grpc), plain and gzip; then bad data and
 * throttling through the agent's shared ingest queue.
 */
import { Client, Metadata, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { TRACE_EXPORT_PATH } from '../../src/ingest/otlp/grpc-receiver.js';
import type { Agent } from '../../src/main.js';
import { exportWith, shopSpans } from '../helpers/otel-spans.js';
import { startTestAgent } from '../helpers/test-agent.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startAgent(extra = ''): Promise<{ agent: Agent; grpcUrl: string }> {
  const { agent, grpcUrl } = await startTestAgent(`server: { otlpGrpc: { host: 127.0.0.1 } }\n${extra}`, 'grpc');
  cleanups.push(() => agent.stop());
  return { agent, grpcUrl };
}

/** Every 10th request of each cohort fails. */
const spans = (n: number): ReadableSpan[] => shopSpans(n, { failEvery: 10, scope: 'grpc-test' });

function exporter(url: string, compression = CompressionAlgorithm.NONE): OTLPTraceExporter {
  const e = new OTLPTraceExporter({ url, compression, timeoutMillis: 5000 });
  cleanups.push(() => e.shutdown());
  return e;
}

async function metric(agent: Agent, name: string): Promise<string[]> {
  const text = await agent.metrics.registry.metrics();
  return text.split('\n').filter((l) => l.startsWith(name));
}

describe('OTLP/gRPC with the OpenTelemetry JS gRPC exporter', () => {
  it('ingests plain and gzip exports into the analysis, counted per transport', async () => {
    const { agent, grpcUrl } = await startAgent();
    expect((await exportWith(exporter(grpcUrl), spans(30))).code).toBe(ExportResultCode.SUCCESS);
    expect((await exportWith(exporter(grpcUrl, CompressionAlgorithm.GZIP), spans(20))).code).toBe(
      ExportResultCode.SUCCESS,
    );
    expect(agent.registry.counters.samples).toBe(100);
    expect(await metric(agent, 'vigil_otlp_spans_accepted_total')).toEqual([
      'vigil_otlp_spans_accepted_total{transport="grpc",encoding="protobuf"} 100',
    ]);
    expect(await metric(agent, 'vigil_request_samples_total')).toEqual(
      expect.arrayContaining([
        'vigil_request_samples_total{cohort="baseline"} 50',
        'vigil_request_samples_total{cohort="canary"} 50',
      ]),
    );
    expect(agent.registry.list().map((a) => [a.service, a.canaryVersion, a.baselineVersion])).toEqual([
      ['shop', '1.1', '1.0'],
    ]);
    expect(agent.gate.stats()).toMatchObject({ inFlightRequests: 0, inFlightBytes: 0 });
  });

  it('answers UNAVAILABLE while the ingest queue is full (nothing counted), and accepts the same export afterwards', async () => {
    const { agent, grpcUrl } = await startAgent('ingest: { maxInflightRequests: 1, retryAfter: 2s }');
    const e = exporter(grpcUrl);
    const held = agent.gate.tryAdmit(1); // another request in flight
    const refused = await exportWith(e, spans(10));
    expect(refused.code).toBe(ExportResultCode.FAILED);
    expect((refused.error as Partial<ServiceError> | undefined)?.code).toBe(status.UNAVAILABLE);
    expect(agent.registry.counters.samples).toBe(0);
    expect(await metric(agent, 'vigil_ingest_throttled_total')).toEqual([
      'vigil_ingest_throttled_total{transport="grpc",reason="requests"} 1',
    ]);
    if (held.ok) held.release();
    expect((await exportWith(e, spans(10))).code).toBe(ExportResultCode.SUCCESS);
    expect(agent.registry.counters.samples).toBe(20);
  });

  it('answers INVALID_ARGUMENT for undecodable data and counts it', async () => {
    const { agent, grpcUrl } = await startAgent();
    const client = new Client(grpcUrl.replace('http://', ''), credentials.createInsecure());
    cleanups.push(() => client.close());
    const err = await new Promise<ServiceError | null>((resolve) => {
      client.makeUnaryRequest(
        TRACE_EXPORT_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0x05, 0x12]),
        new Metadata(),
        {},
        (e) => resolve(e),
      );
    });
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/ResourceSpans|ExportTraceServiceRequest/);
    expect(await metric(agent, 'vigil_otlp_requests_rejected_total')).toEqual([
      'vigil_otlp_requests_rejected_total{transport="grpc",status="3"} 1',
    ]);
  });

  it('stop() closes the gRPC port', async () => {
    const { agent, grpcUrl } = await startAgent();
    await agent.stop();
    cleanups.pop();
    const result = await exportWith(exporter(grpcUrl), spans(1));
    expect(result.code).toBe(ExportResultCode.FAILED);
    expect(agent.registry.counters.samples).toBe(0);
  });
});
