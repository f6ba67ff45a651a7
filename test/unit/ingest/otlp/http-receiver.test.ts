import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { DecodedTraces } from '../../../../src/contracts/telemetry.js';
import { DEFAULT_COHORT_RULES } from '../../../../src/ingest/cohort.js';
import { otlpHttpPlugin, type IngestOutcome, type OtlpHttpOptions } from '../../../../src/ingest/otlp/http-receiver.js';
import { otlpFixture } from '../../../helpers/otlp/fixtures.js';
import { readFields, request as pbRequest, span } from '../../../helpers/otlp/pb-writer.js';

const PB = 'application/x-protobuf';
const JSON_CT = 'application/json';
const LIMIT = 64 * 1024;

interface Harness {
  app: FastifyInstance;
  traces: DecodedTraces[];
  rejected: [string, number][];
  dropped: [string, number][];
}

let current: FastifyInstance | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function build(
  over: Partial<OtlpHttpOptions> = {},
  outcome: () => IngestOutcome = () => ({ kind: 'accepted' }),
): Promise<Harness> {
  const h: Harness = { app: Fastify(), traces: [], rejected: [], dropped: [] };
  await h.app.register(otlpHttpPlugin, {
    maxBodyBytes: LIMIT,
    cohortRules: DEFAULT_COHORT_RULES,
    onTraces: (d) => {
      h.traces.push(d);
      return outcome();
    },
    onRejected: (reason, status) => h.rejected.push([reason, status]),
    onDropped: (signal, bytes) => h.dropped.push([signal, bytes]),
    ...over,
  });
  await h.app.ready();
  current = h.app;
  return h;
}

function status(body: Buffer, contentType: string): { code: number; message: string } {
  if (contentType.startsWith(JSON_CT)) return JSON.parse(body.toString('utf8')) as { code: number; message: string };
  const f = readFields(body);
  return { code: Number(f.get(1)?.[0] ?? 0n), message: (f.get(2)?.[0] as Buffer | undefined)?.toString('utf8') ?? '' };
}

const pb = otlpFixture('sdk-trace-20.pb');
const json = otlpFixture('sdk-trace-20.json');

describe('OTLP/HTTP receiver: success', () => {
  it('accepts protobuf: 200, empty ExportTraceServiceResponse, same Content-Type', async () => {
    const h = await build();
    const res = await h.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': PB }, payload: pb });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(PB);
    expect(res.rawPayload.length).toBe(0);
    expect(h.traces).toHaveLength(1);
    expect(h.traces[0]!.samples).toHaveLength(20);
    expect(h.traces[0]!.samples[0]).toMatchObject({ service: 'checkout', version: '1.4.2', error: true });
  });

  it('accepts JSON with parameters in the media type and answers {}', async () => {
    const h = await build();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'Application/JSON; charset=utf-8' },
      payload: json,
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(JSON_CT);
    expect(res.payload).toBe('{}');
    expect(h.traces[0]!.samples).toHaveLength(20);
  });

  it('accepts the opentelemetry-proto example trace.json', async () => {
    const h = await build();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': JSON_CT },
      payload: otlpFixture('spec-trace.json'),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({});
    expect(h.traces[0]!.samples.map((s) => s.service)).toEqual(['my.service']);
  });

  it('inflates gzip bodies to the same samples', async () => {
    const h = await build();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB, 'content-encoding': 'gzip' },
      payload: gzipSync(pb),
    });
    expect(res.statusCode).toBe(200);
    const plain = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB },
      payload: pb,
    });
    expect(plain.statusCode).toBe(200);
    expect(h.traces[0]).toEqual(h.traces[1]);
  });

  it('accepts an empty body as an empty request', async () => {
    const h = await build();
    const res = await h.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': PB } });
    expect(res.statusCode).toBe(200);
    expect(h.traces[0]!.spans).toBe(0);
  });

  it('answers a partial success when spans are rejected (protobuf field numbers)', async () => {
    const h = await build();
    const body = pbRequest([], [span({ kind: 2, start: 0n, end: 5n }), span({ kind: 2, start: 5n, end: 9n })]);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB },
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    const partial = readFields(readFields(res.rawPayload).get(1)![0] as Buffer);
    expect(partial.get(1)).toEqual([1n]);
    expect((partial.get(2)![0] as Buffer).toString()).toMatch(
      /rejected 1 span\(s\): 1 with start_time_unix_nano or end_time_unix_nano 0/,
    );
    expect(h.traces[0]!.samples).toHaveLength(1);
  });

  it('answers a partial success in JSON', async () => {
    const h = await build();
    const doc = {
      resourceSpans: [{ scopeSpans: [{ spans: [{ kind: 2, startTimeUnixNano: '0', endTimeUnixNano: '1' }] }] }],
    };
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': JSON_CT },
      payload: JSON.stringify(doc),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringContaining('rejected 1 span') },
    });
  });

  it('serves configured paths', async () => {
    const h = await build({ tracesPath: '/otlp/t' });
    expect(
      (await h.app.inject({ method: 'POST', url: '/otlp/t', headers: { 'content-type': PB }, payload: pb })).statusCode,
    ).toBe(200);
    expect(
      (await h.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': PB }, payload: pb }))
        .statusCode,
    ).toBe(404);
  });
});

describe('OTLP/HTTP receiver: errors carry a google.rpc.Status', () => {
  it('400 INVALID_ARGUMENT for undecodable protobuf, naming the offset', async () => {
    const h = await build();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB },
      payload: pb.subarray(0, 100),
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe(PB);
    const s = status(res.rawPayload, PB);
    expect(s.code).toBe(3);
    expect(s.message).toMatch(/at offset \d+ in /);
    expect(h.rejected).toEqual([['decode', 400]]);
    expect(h.traces).toHaveLength(0);
  });

  it('400 for invalid JSON, in JSON', async () => {
    const h = await build();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': JSON_CT },
      payload: '{"resourceSpans": [',
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toBe(JSON_CT);
    expect(res.json()).toEqual({ code: 3, message: expect.stringContaining('invalid JSON') });
  });

  it('400 for a corrupt gzip body', async () => {
    const h = await build();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB, 'content-encoding': 'gzip' },
      payload: Buffer.from('not gzip at all'),
    });
    expect(res.statusCode).toBe(400);
    expect(status(res.rawPayload, PB).message).toMatch(/gzip/);
  });

  it.each([
    ['an unsupported media type', { 'content-type': 'text/plain' }],
    ['no Content-Type', {}],
    ['a Content-Type fastify cannot parse', { 'content-type': '%%%; ===' }],
  ])('415 for %s, as JSON', async (_name, headers) => {
    const h = await build();
    const res = await h.app.inject({ method: 'POST', url: '/v1/traces', headers, payload: pb });
    expect(res.statusCode).toBe(415);
    expect(res.headers['content-type']).toBe(JSON_CT);
    expect(res.json()).toEqual({
      code: 3,
      message: expect.stringContaining('application/x-protobuf or application/json'),
    });
    expect(h.rejected).toEqual([['media-type', 415]]);
  });

  it('415 for an unsupported Content-Encoding, in the request encoding', async () => {
    const h = await build();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB, 'content-encoding': 'br' },
      payload: pb,
    });
    expect(res.statusCode).toBe(415);
    expect(res.headers['content-type']).toBe(PB);
    expect(status(res.rawPayload, PB)).toEqual({
      code: 3,
      message: expect.stringContaining('unsupported content encoding "br"'),
    });
  });

  it('413 RESOURCE_EXHAUSTED when Content-Length is over the limit', async () => {
    const h = await build({ maxBodyBytes: 1000 });
    const res = await h.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': PB }, payload: pb });
    expect(res.statusCode).toBe(413);
    expect(status(res.rawPayload, PB)).toEqual({ code: 8, message: expect.stringContaining('exceeds 1000 bytes') });
    expect(h.traces).toHaveLength(0);
  });

  it('413 when a streamed body without Content-Length crosses the limit', async () => {
    const h = await build({ maxBodyBytes: 1000 });
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(500, 1));
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB },
      payload: Readable.from(chunks),
    });
    expect(res.statusCode).toBe(413);
    expect(h.rejected).toEqual([['too-large', 413]]);
  });

  it('413 for a gzip bomb: small compressed, over the limit once inflated', async () => {
    const h = await build({ maxBodyBytes: LIMIT });
    const bomb = gzipSync(Buffer.alloc(50 * LIMIT));
    expect(bomb.length).toBeLessThan(LIMIT);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': JSON_CT, 'content-encoding': 'gzip' },
      payload: bomb,
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ code: 8, message: expect.stringContaining(`exceeds ${LIMIT} bytes`) });
  });

  it('413 when the compressed body itself is over the limit', async () => {
    const h = await build({ maxBodyBytes: 100 });
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB, 'content-encoding': 'gzip' },
      payload: gzipSync(pb),
    });
    expect(res.statusCode).toBe(413);
  });

  it.each(['GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const)(
    '405 with Allow: POST for %s',
    async (method) => {
      const h = await build();
      const res = await h.app.inject({ method, url: '/v1/traces' });
      expect(res.statusCode).toBe(405);
      expect(res.headers.allow).toBe('POST');
      if (method !== 'HEAD') expect(res.json()).toEqual({ code: 12, message: 'use POST on /v1/traces' });
    },
  );

  it('503 UNAVAILABLE with Retry-After when the consumer throttles', async () => {
    const h = await build({}, () => ({ kind: 'throttled', retryAfterSeconds: 2.2 }));
    const res = await h.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': PB }, payload: pb });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('3');
    expect(status(res.rawPayload, PB).code).toBe(14);
    expect(h.rejected).toEqual([['throttled', 503]]);
  });

  it('408 DEADLINE_EXCEEDED, in the request encoding, when the body is not complete within bodyTimeoutMs; the connection is closed', async () => {
    const h = await build({ bodyTimeoutMs: 150 });
    const stalled = new Readable({ read() {} }); // never ends
    stalled.push(pb.subarray(0, 10));
    const started = Date.now();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB, 'content-length': String(pb.length) },
      payload: stalled,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(res.statusCode).toBe(408);
    expect(res.headers['content-type']).toBe(PB);
    expect(res.headers.connection).toBe('close');
    expect(status(res.rawPayload, PB)).toEqual({
      code: 4,
      message: 'the request body did not arrive within 150 ms',
    });
    expect(h.rejected).toEqual([['timeout', 408]]);
    expect(h.traces).toHaveLength(0);
    // a body that does arrive in time is not affected
    const ok = await h.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': PB }, payload: pb });
    expect(ok.statusCode).toBe(200);
  });

  it('500 INTERNAL when the consumer throws, and the next request is unaffected', async () => {
    let fail = true;
    const h = await build({}, () => {
      if (fail) {
        fail = false;
        throw new Error('boom');
      }
      return { kind: 'accepted' };
    });
    const first = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': JSON_CT },
      payload: json,
    });
    expect(first.statusCode).toBe(500);
    expect(first.json()).toEqual({ code: 13, message: expect.any(String) });
    const second = await h.app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': JSON_CT },
      payload: json,
    });
    expect(second.statusCode).toBe(200);
  });
});

describe('OTLP/HTTP receiver: metrics and logs', () => {
  it('metrics without a consumer: 200 with an empty response, counted as dropped', async () => {
    const h = await build();
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/metrics',
      headers: { 'content-type': JSON_CT },
      payload: otlpFixture('spec-metrics.json'),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({});
    expect(h.dropped).toEqual([['metrics', otlpFixture('spec-metrics.json').length]]);
  });

  it('metrics are handed over inflated, with their encoding; partial success uses rejectedDataPoints', async () => {
    const seen: [string, string][] = [];
    const h = await build({
      onMetrics: (body, type) => {
        seen.push([body.toString('utf8'), type]);
        return { kind: 'accepted', rejected: 2, message: 'two points without time' };
      },
    });
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/metrics',
      headers: { 'content-type': JSON_CT, 'content-encoding': 'gzip' },
      payload: gzipSync('{"resourceMetrics":[]}'),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      partialSuccess: { rejectedDataPoints: '2', errorMessage: 'two points without time' },
    });
    expect(seen).toEqual([['{"resourceMetrics":[]}', 'json']]);
  });

  it('logs: 200 with an empty body in the request encoding, dropped', async () => {
    const h = await build();
    const j = await h.app.inject({
      method: 'POST',
      url: '/v1/logs',
      headers: { 'content-type': JSON_CT },
      payload: otlpFixture('spec-logs.json'),
    });
    expect(j.statusCode).toBe(200);
    expect(j.json()).toEqual({});
    const p = await h.app.inject({
      method: 'POST',
      url: '/v1/logs',
      headers: { 'content-type': PB },
      payload: Buffer.from([0x0a, 0x00]),
    });
    expect(p.statusCode).toBe(200);
    expect(p.headers['content-type']).toBe(PB);
    expect(p.rawPayload.length).toBe(0);
    expect(h.dropped.map(([s]) => s)).toEqual(['logs', 'logs']);
  });
});

describe('OTLP/HTTP receiver: encapsulation', () => {
  it('leaves the body parsing of routes outside the plugin alone', async () => {
    const app = Fastify();
    app.post('/api/echo', (req, reply) => reply.send({ got: req.body }));
    await app.register(otlpHttpPlugin, { onTraces: () => ({ kind: 'accepted' }) });
    await app.ready();
    current = app;
    const res = await app.inject({ method: 'POST', url: '/api/echo', payload: { a: 1 } });
    expect(res.json()).toEqual({ got: { a: 1 } });
    const otlp = await app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': PB }, payload: pb });
    expect(otlp.statusCode).toBe(200);
  });
});
