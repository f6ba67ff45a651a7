/**
 * Span indicators end to end through the REAL OpenTelemetry JS SDK and its OTLP/HTTP exporters (protobuf and JSON):
 * a tracer records a shop's spans, the exporters send them to a local HTTP endpoint, and Vigil's decoders mark each
 * request with the indicators whose `where` matches.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_COHORT_RULES, type CohortRules } from '../../../../src/ingest/cohort.js';
import { decodeTracesJson } from '../../../../src/ingest/otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../../../../src/ingest/otlp/decode-traces-protobuf.js';
import { exportWith } from '../../../helpers/otel-spans.js';

const rules: CohortRules = {
  ...DEFAULT_COHORT_RULES,
  spanIndicators: [
    { key: 'checkout-errors', where: { 'http.route': '/checkout', 'http.response.status_code': [500, 502, 503] } },
    { key: 'cache-miss', where: { 'cache.hit': false } },
    { key: 'eu', where: { 'cloud.region': 'eu-west-1' } },
  ],
};

/** What the shop does, request by request; the span's position + 1 is its duration in ms. */
const REQUESTS = [
  { route: '/checkout', status: 503, cacheHit: undefined, expect: ['checkout-errors', 'eu'] },
  { route: '/checkout', status: 200, cacheHit: true, expect: ['eu'] },
  { route: '/cart', status: 500, cacheHit: false, expect: ['cache-miss', 'eu'] },
  { route: '/cart', status: 200, cacheHit: true, expect: ['eu'] },
] as const;

function shopSpans(): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'shop',
      'service.version': '1.1',
      'vigil.cohort': 'canary',
      'cloud.region': 'eu-west-1',
    }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('shop');
  const t0 = Date.now() - 60_000;
  REQUESTS.forEach((r, i) => {
    const attributes = { 'http.route': r.route, 'http.response.status_code': r.status };
    const span = tracer.startSpan(`GET ${r.route}`, {
      kind: SpanKind.SERVER,
      attributes: r.cacheHit === undefined ? attributes : { ...attributes, 'cache.hit': r.cacheHit },
      startTime: t0 + i * 100,
    });
    if (r.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    // the cache lookup behind it: a CLIENT span with cache.hit=false is no request and counts nowhere
    tracer
      .startSpan('GET redis', { kind: SpanKind.CLIENT, attributes: { 'cache.hit': false }, startTime: t0 + i * 100 })
      .end(t0 + i * 100 + 0.5);
    span.end(t0 + i * 100 + i + 1);
  });
  return memory.getFinishedSpans();
}

let server: Server;
let url: string;
const bodies: { contentType: string; body: Buffer }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const contentType = req.headers['content-type'] ?? '';
      bodies.push({ contentType, body: Buffer.concat(chunks) });
      const json = contentType.includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('span indicators through the OpenTelemetry SDK exporters', () => {
  it('OTLP/HTTP protobuf and JSON exports decode to the same samples with the right indicators', async () => {
    const spans = shopSpans();
    for (const exporter of [new ProtoExporter({ url }), new JsonExporter({ url })]) {
      const result = await exportWith(exporter, spans);
      expect(result.code).toBe(0);
      await exporter.shutdown();
    }
    expect(bodies.map((b) => b.contentType)).toEqual(['application/x-protobuf', 'application/json']);
    const fromPb = decodeTracesProtobuf(bodies[0]!.body, rules);
    const fromJson = decodeTracesJson(bodies[1]!.body, rules);
    expect(fromJson).toStrictEqual(fromPb);
    expect(fromPb.nonRequestSpans).toBe(REQUESTS.length);
    const got = [...fromPb.samples].sort((a, b) => a.durationMs - b.durationMs);
    expect(got.map((s) => [s.route, s.cohort, s.error, s.indicators])).toEqual(
      REQUESTS.map((r) => [r.route, 'canary', r.status >= 500, r.expect]),
    );
  });
});
