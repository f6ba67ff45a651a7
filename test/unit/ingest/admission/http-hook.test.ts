/**
 * The ingest queue on the OTLP/HTTP server (registerHttpAdmission) with the real receiver plugin: what a
 * request holds is what has arrived of its body, a request whose announced body cannot fit is refused at once,
 * and a body whose bytes do not fit while it arrives is refused with 503 + Retry-After (connection closed).
 */
import { Readable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { IngestGate } from '../../../../src/ingest/admission/gate.js';
import { registerHttpAdmission } from '../../../../src/ingest/admission/http-hook.js';
import { DEFAULT_COHORT_RULES } from '../../../../src/ingest/cohort.js';
import { otlpHttpPlugin } from '../../../../src/ingest/otlp/http-receiver.js';
import { otlpFixture } from '../../../helpers/otlp/fixtures.js';

const PB = 'application/x-protobuf';
const pb = otlpFixture('sdk-trace-20.pb');

let current: FastifyInstance | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

async function build(gate: IngestGate) {
  const events = { throttled: [] as [string, string][], rejected: [] as [string, number][] };
  const app = Fastify();
  registerHttpAdmission(app, {
    gate,
    maxBodyBytes: 1024 * 1024,
    onThrottled: (reason, _seconds, stage) => events.throttled.push([reason, stage]),
  });
  await app.register(otlpHttpPlugin, {
    maxBodyBytes: 1024 * 1024,
    cohortRules: DEFAULT_COHORT_RULES,
    onTraces: () => ({ kind: 'accepted' }),
    onRejected: (reason, status) => events.rejected.push([reason, status]),
  });
  await app.ready();
  current = app;
  return { app, events };
}

/** A body stream whose chunks the test pushes; it ends when `end` is called. */
function manualBody() {
  const stream = new Readable({ read() {} });
  return { stream, push: (b: Buffer) => stream.push(b), end: () => stream.push(null) };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe('registerHttpAdmission', () => {
  it('charges a body as it arrives: an announced length holds nothing, the bytes received do', async () => {
    const gate = new IngestGate({ maxBytes: 1024 * 1024, maxRequests: 10, retryAfterSeconds: 1 });
    const { app } = await build(gate);
    const body = manualBody();
    const answer = app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB, 'content-length': String(pb.length) },
      payload: body.stream,
    });
    await tick();
    expect(gate.stats()).toMatchObject({ inFlightRequests: 1, inFlightBytes: 0 });
    body.push(pb.subarray(0, 100));
    await tick();
    expect(gate.stats().inFlightBytes).toBe(200); // protobuf: wire + decoded, of what arrived
    body.push(pb.subarray(100));
    body.end();
    expect((await answer).statusCode).toBe(200);
    expect(gate.stats()).toMatchObject({ inFlightRequests: 0, inFlightBytes: 0, admitted: 1, refused: 0 });
  });

  it('refuses at once, unread, a request whose announced body does not fit next to the bytes held', async () => {
    const gate = new IngestGate({ maxBytes: 4000, maxRequests: 10, retryAfterSeconds: 3 });
    const { app, events } = await build(gate);
    const held = gate.tryAdmit(3000);
    const res = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB, 'content-length': '1000' },
      payload: Buffer.alloc(1000),
    });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('3');
    expect(events.throttled).toEqual([['bytes', 'arrival']]);
    expect(events.rejected).toEqual([]); // answered by the hook, not the receiver
    if (held.ok) held.release();
  });

  it('refuses a body whose bytes do not fit while it arrives: 503 + Retry-After, connection closed, nothing more buffered', async () => {
    const gate = new IngestGate({ maxBytes: 4000, maxRequests: 10, retryAfterSeconds: 2 });
    const { app, events } = await build(gate);
    // both announce a body that fits while nothing is held: both are admitted
    const first = manualBody();
    const firstAnswer = app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB, 'content-length': String(pb.length) },
      payload: first.stream,
    });
    const second = manualBody();
    const secondAnswer = app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': PB, 'content-length': '1000' },
      payload: second.stream,
    });
    await tick();
    expect(gate.stats()).toMatchObject({ inFlightRequests: 2, inFlightBytes: 0 });
    first.push(pb.subarray(0, 1500)); // holds 3000
    await tick();
    expect(gate.stats().inFlightBytes).toBe(3000);
    second.push(Buffer.alloc(1000)); // would hold 2000: 5000 > 4000
    const res = await secondAnswer;
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.headers.connection).toBe('close');
    expect(res.headers['content-type']).toBe(PB);
    expect(res.rawPayload.toString('latin1')).toContain('ingest queue is full (bytes); retry after 2 s');
    expect(events.throttled).toEqual([['bytes', 'body']]);
    expect(events.rejected).toEqual([['throttled', 503]]);
    expect(gate.stats().inFlightBytes).toBe(3000);
    // the first request is unaffected
    first.push(pb.subarray(1500));
    first.end();
    expect((await firstAnswer).statusCode).toBe(200);
    expect(gate.stats()).toMatchObject({ inFlightRequests: 0, inFlightBytes: 0, refused: 1 });
  });
});
