/**
 * No sender can hold the door (issue "No sender can crash, stall or steer Vigil"): a running agent with short
 * timeouts, attacked through raw sockets while the REAL OpenTelemetry JS exporters (OTLP/HTTP protobuf and
 * OTLP/gRPC) export next to the attackers.
 * - OTLP/HTTP: sockets that announce a 16 MiB body and send none (or trickle it), and one that never finishes
 *   its headers. Before: every OTLP request got 503 while they stayed (admission held the announced length,
 *   and no server timeout ever closed them).
 * - OTLP/gRPC: 64 streams opened on one HTTP/2 connection and never ended. Before: they held the whole
 *   ingest budget and every export was refused with UNAVAILABLE.
 */
import { once } from 'node:events';
import { connect as connectHttp2, constants as http2Constants } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { TRACE_EXPORT_PATH } from '../../src/ingest/otlp/grpc-receiver.js';
import { exportWith, shopSpans } from '../helpers/otel-spans.js';
import { startTestAgent, type StartedAgent } from '../helpers/test-agent.js';

const BODY_TIMEOUT_MS = 2000;
const HEADERS_TIMEOUT_MS = 1000;
const STREAMS_PER_CONNECTION = 16;
/** How late after its timeout the server may close a socket (timer slack, the connection checks, a busy CI). */
const SLACK_MS = 1200;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startAgent(): Promise<StartedAgent> {
  const started = await startTestAgent(
    [
      'server: { otlpGrpc: { host: 127.0.0.1 }, otlpHttp: { host: 127.0.0.1 } }',
      `ingest: { bodyTimeout: ${BODY_TIMEOUT_MS}ms, headersTimeout: ${HEADERS_TIMEOUT_MS}ms, maxStreamsPerConnection: ${STREAMS_PER_CONNECTION} }`,
    ].join('\n'),
    'slow-senders',
  );
  cleanups.push(() => started.agent.stop());
  return started;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RawClient {
  socket: Socket;
  openedAt: number;
  closedAt?: number;
  received: string;
  closed: Promise<void>;
}

/** A raw TCP client that writes `head` and then only what `drip` sends. */
async function rawClient(url: string, head: string, drip?: (s: Socket) => void): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  const c: RawClient = { socket, openedAt: Date.now(), received: '', closed: Promise.resolve() };
  socket.on('data', (d: Buffer) => (c.received += d.toString('latin1')));
  socket.on('error', () => undefined);
  c.closed = new Promise((resolve) =>
    socket.once('close', () => {
      c.closedAt = Date.now();
      resolve();
    }),
  );
  socket.write(head);
  drip?.(socket);
  cleanups.push(() => {
    socket.destroy();
  });
  return c;
}

const MiB = 1024 * 1024;
const announce = (contentType: string, length = 16 * MiB) =>
  `POST /v1/traces HTTP/1.1\r\nHost: vigil\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\n\r\n`;
/** Two JSON bodies of this length were charged the whole default budget (128 MiB) by an admission that held the
 *  announced length (wire + 4x decoded, each): 8 bytes were left for everyone else. */
const HALF_THE_BUDGET_OF_JSON = Math.floor((128 * MiB) / 10);

/** The status line and the body of the one HTTP answer a raw client got. */
function answerOf(raw: string): { status: number; headers: string; body: string } {
  const [head = '', body = ''] = raw.split('\r\n\r\n', 2);
  return { status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body };
}

async function waitClosed(clients: RawClient[], withinMs: number): Promise<void> {
  await Promise.race([Promise.all(clients.map((c) => c.closed)), sleep(withinMs)]);
}

function exporters(s: StartedAgent): { name: string; exporter: SpanExporter }[] {
  const http = new ProtoExporter({ url: `${s.otlpHttpUrl}/v1/traces`, timeoutMillis: 4000 });
  const grpc = new GrpcExporter({ url: s.grpcUrl, timeoutMillis: 4000 });
  cleanups.push(
    () => http.shutdown(),
    () => grpc.shutdown(),
  );
  return [
    { name: 'http', exporter: http },
    { name: 'grpc', exporter: grpc },
  ];
}

/** Exports `batches` in turn over each exporter; the answer time of each. */
async function exportAll(
  list: { name: string; exporter: SpanExporter }[],
  batches: ReadableSpan[][],
): Promise<{ name: string; ok: boolean; ms: number }[]> {
  const out: { name: string; ok: boolean; ms: number }[] = [];
  for (let i = 0; i < batches.length; i++) {
    const { name, exporter } = list[i % list.length]!;
    const t0 = performance.now();
    const r = await exportWith(exporter, batches[i]!);
    out.push({ name, ok: r.code === ExportResultCode.SUCCESS, ms: performance.now() - t0 });
  }
  return out;
}

describe('slow OTLP/HTTP senders', () => {
  it('cut at the body timeout (408 + google.rpc.Status) and the header timeout, while the real exporters get every span in at once', async () => {
    const started = await startAgent();
    const { agent, otlpHttpUrl } = started;
    const list = exporters(started);
    const batches = Array.from({ length: 12 }, () => shopSpans(25, { scope: 'slow-senders' })); // 50 spans each
    // warm both exporters up (connections, the first decode) before the attack
    expect(await exportAll(list, batches.slice(0, 2))).toEqual([
      expect.objectContaining({ ok: true }),
      expect.objectContaining({ ok: true }),
    ]);

    const silent = [
      await rawClient(otlpHttpUrl, announce('application/json', HALF_THE_BUDGET_OF_JSON)),
      await rawClient(otlpHttpUrl, announce('application/json', HALF_THE_BUDGET_OF_JSON)),
      await rawClient(otlpHttpUrl, announce('application/x-protobuf')),
    ];
    const trickle = await rawClient(otlpHttpUrl, announce('application/json'), (s) => {
      const t = setInterval(() => s.write('{'), 100);
      s.once('close', () => clearInterval(t));
    });
    const headers = await rawClient(otlpHttpUrl, 'POST /v1/traces HTTP/1.1\r\nHost: vigil\r\nContent-Type: applic');
    await sleep(100); // the body attackers are admitted
    const results = await exportAll(list, batches.slice(2));
    const exportsDoneAt = Date.now();

    // every batch accepted at once, over both transports, while the attackers were still connected
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(agent.registry.counters.samples).toBe(12 * 50);
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(1000);
    for (const c of [...silent, trickle]) expect(c.closedAt ?? Number.POSITIVE_INFINITY).toBeGreaterThan(exportsDoneAt);

    // the attackers are cut off: the header stall after headersTimeout, the body stalls after bodyTimeout
    await waitClosed([...silent, trickle, headers], BODY_TIMEOUT_MS + SLACK_MS + 500);
    const heldHeaders = (headers.closedAt ?? Number.POSITIVE_INFINITY) - headers.openedAt;
    expect(heldHeaders).toBeLessThanOrEqual(HEADERS_TIMEOUT_MS + SLACK_MS);
    expect(answerOf(headers.received).status).toBe(408);
    for (const c of [...silent, trickle]) {
      const held = (c.closedAt ?? Number.POSITIVE_INFINITY) - c.openedAt;
      expect(held).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      expect(held).toBeLessThanOrEqual(BODY_TIMEOUT_MS + SLACK_MS);
      const answer = answerOf(c.received);
      expect(answer.status).toBe(408);
      expect(answer.headers).toContain('connection: close');
    }
    // the google.rpc.Status in the request's encoding: DEADLINE_EXCEEDED (4)
    expect(JSON.parse(answerOf(silent[0]!.received).body)).toMatchObject({
      code: 4,
      message: expect.stringMatching(/body/),
    });
    expect(answerOf(silent[2]!.received).headers).toContain('content-type: application/x-protobuf');
    expect(agent.gate.stats()).toMatchObject({ inFlightRequests: 0, inFlightBytes: 0, refused: 0 });
    const metrics = await agent.metrics.registry.metrics();
    expect(metrics).toContain('vigil_otlp_requests_rejected_total{transport="http",status="408"} 5');
  });
});

describe('idle OTLP/gRPC streams', () => {
  it(`64 streams held on one connection: at most ${STREAMS_PER_CONNECTION} are taken, cancelled at the deadline, and the real gRPC exporter is served meanwhile`, async () => {
    const started = await startAgent();
    const { agent, grpcUrl } = started;
    const list = exporters(started).filter((e) => e.name === 'grpc');
    const batches = Array.from({ length: 8 }, () => shopSpans(25, { scope: 'held-streams' }));

    const session = connectHttp2(grpcUrl);
    session.on('error', () => undefined);
    cleanups.push(() => {
      session.destroy();
    });
    const openedAt = Date.now();
    const streams = Array.from({ length: 64 }, () => {
      const s = session.request(
        { ':method': 'POST', ':path': TRACE_EXPORT_PATH, 'content-type': 'application/grpc', te: 'trailers' },
        { endStream: false },
      );
      const state = {
        status: undefined as number | undefined,
        at: undefined as number | undefined,
        refused: false,
        closed: false,
      };
      s.on('response', (h) => {
        if (h['grpc-status'] !== undefined) {
          state.status = Number(h['grpc-status']);
          state.at = Date.now();
        }
      });
      s.on('trailers', (h) => {
        state.status = Number(h['grpc-status']);
        state.at = Date.now();
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        state.closed = true;
        if (s.rstCode === http2Constants.NGHTTP2_REFUSED_STREAM) state.refused = true;
      });
      s.resume();
      return state;
    });
    await sleep(200);

    const results = await exportAll(list, batches);
    const exportsDoneAt = Date.now();
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(agent.gate.stats().inFlightRequests).toBeLessThanOrEqual(STREAMS_PER_CONNECTION);
    expect(agent.registry.counters.samples).toBe(8 * 50);
    expect(Math.max(...results.map((r) => r.ms))).toBeLessThan(1000);
    expect(exportsDoneAt - openedAt).toBeLessThan(BODY_TIMEOUT_MS); // all of it while the streams were held

    await sleep(BODY_TIMEOUT_MS + SLACK_MS - (Date.now() - openedAt));
    const answered = streams.filter((s) => s.status !== undefined);
    // each stream the server took was cancelled at the deadline; the others were refused or are still queued
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.length).toBeLessThanOrEqual(STREAMS_PER_CONNECTION);
    for (const s of answered) {
      expect(s.status).toBe(4); // DEADLINE_EXCEEDED
      expect(s.at! - openedAt).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      expect(s.at! - openedAt).toBeLessThanOrEqual(BODY_TIMEOUT_MS + SLACK_MS);
    }
    // and reset by the server (the client never ended them): they no longer hold the connection's streams
    expect(answered.filter((s) => !s.closed)).toEqual([]);
    expect(streams.filter((s) => s.status === undefined && !s.refused)).toEqual([]);
    expect(agent.gate.stats()).toMatchObject({ inFlightRequests: 0, inFlightBytes: 0, refused: 0 });
    const metrics = await agent.metrics.registry.metrics();
    expect(metrics).toContain(`vigil_otlp_requests_rejected_total{transport="grpc",status="4"} ${answered.length}`);
  });
});
