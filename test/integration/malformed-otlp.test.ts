/**
 * Malformed means 4xx (issue "No sender can crash, stall or steer Vigil"): a running agent answers oddly typed
 * OTLP/JSON (arrays and objects where scalars belong, a `kind` nested 5,000 arrays deep), JSON that Fastify's
 * own parser would refuse, and HTTP framing that Node's parser refuses (Content-Length / Transfer-Encoding
 * conflicts) with a 4xx carrying a google.rpc.Status in the request's encoding: never a 500, never a body the
 * OTLP clients cannot read, and the agent keeps serving.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFields } from '../helpers/otlp/pb-writer.js';
import { startTestAgent, type StartedAgent } from '../helpers/test-agent.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let started: StartedAgent;
beforeAll(async () => {
  started = await startTestAgent('server: { otlpHttp: { host: 127.0.0.1 } }', 'malformed');
});
afterAll(() => started.agent.stop());

let spanIds = 0;
/** A valid request with one SERVER span never sent before (a repeated span would be a duplicate, counted once). */
const fresh = () => request({ spanId: (++spanIds).toString(16).padStart(16, '0').replace(/^0/, 'a') });

/** The agent still accepts a valid request, and counts it. */
async function stillServes(): Promise<void> {
  const before = started.agent.registry.counters.samples;
  expect((await post(`${started.otlpHttpUrl}/v1/traces`, fresh(), 'application/json')).status).toBe(200);
  expect(started.agent.registry.counters.samples).toBe(before + 1);
}

const span = (fields: Record<string, unknown>) => ({
  traceId: '5b8efff798038103d269b633813fc60c',
  spanId: 'eee19b7ec3c1b174',
  name: 'GET /',
  kind: 2,
  startTimeUnixNano: '1700000000000000000',
  endTimeUnixNano: '1700000000100000000',
  ...fields,
});
const request = (spanFields: Record<string, unknown>, resourceSpan: Record<string, unknown> = {}) =>
  JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'cart' } }] },
        scopeSpans: [{ spans: [span(spanFields)] }],
        ...resourceSpan,
      },
    ],
  });

const deep = (depth: number, leaf = '') => '['.repeat(depth) + leaf + ']'.repeat(depth);

/** Bodies that must be refused with 400 (the message must name the field). */
const badJson: [string, string, RegExp][] = [
  ['kind as a 5k-deep array', request({}).replace('"kind":2', `"kind":${deep(5000)}`), /kind/],
  ['kind as a 100k-deep array', request({}).replace('"kind":2', `"kind":${deep(100_000)}`), /kind/],
  ['kind as an object', request({ kind: { SERVER: 2 } }), /kind/],
  ['status.code as an array', request({ status: { code: [2] } }), /status\.code/],
  ['status as an array', request({ status: [] }), /status/],
  ['startTimeUnixNano as an object', request({ startTimeUnixNano: { n: 1 } }), /startTimeUnixNano/],
  [
    'endTimeUnixNano as a deep array',
    request({}).replace('"endTimeUnixNano":"1700000000100000000"', `"endTimeUnixNano":${deep(6000, '1')}`),
    /endTimeUnixNano/,
  ],
  ['attributes as an object', request({ attributes: { 'http.route': '/' } }), /attributes/],
  ['an attribute as a deep array', request({ attributes: [JSON.parse(deep(50))] }), /attributes\[0\]/],
  ['spans as a string', JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: 'x' }] }] }), /spans/],
  ['resourceSpans as a number', '{"resourceSpans":1}', /resourceSpans/],
  ['the request as an array', '[]', /object/],
  ['the request as a 10k-deep array', deep(10_000), /object/],
  ['startTimeUnixNano as a 1 MiB string', request({ startTimeUnixNano: 'x'.repeat(1024 * 1024) }), /startTimeUnixNano/],
  ['invalid JSON', '{"resourceSpans":[', /invalid JSON/],
  ['an empty body', '', /invalid JSON/],
  ['a JSON string', '"resourceSpans"', /object/],
  ['a byte-order mark and garbage', '\uFEFF{]', /invalid JSON/],
];

const metricsBody = (point: Record<string, unknown>) =>
  JSON.stringify({
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              {
                name: 'http.server.request.duration',
                histogram: {
                  aggregationTemporality: 1,
                  dataPoints: [{ timeUnixNano: '1700000000000000000', ...point }],
                },
              },
            ],
          },
        ],
      },
    ],
  });
const badMetricsJson: [string, string][] = [
  ['count as a deep array', metricsBody({}).replace('"timeUnixNano"', `"count":${deep(5000)},"timeUnixNano"`)],
  ['bucketCounts as an object', metricsBody({ bucketCounts: { a: 1 } })],
  ['explicitBounds with an array inside', metricsBody({ explicitBounds: [[1]], bucketCounts: ['1', '1'] })],
  [
    'aggregationTemporality as an object',
    metricsBody({}).replace('"aggregationTemporality":1', '"aggregationTemporality":{}'),
  ],
];

async function post(url: string, body: string | Buffer, contentType: string) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body });
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    body: Buffer.from(await res.arrayBuffer()),
  };
}

/** One raw HTTP/1.1 exchange: what the client sees, and whether the server closed the connection. */
async function raw(url: string, bytes: string): Promise<{ status: number; head: string; body: Buffer }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  cleanups.push(() => {
    socket.destroy();
  });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => undefined);
  socket.write(bytes);
  await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, 3000))]);
  const all = Buffer.concat(chunks);
  const split = all.indexOf('\r\n\r\n');
  const head = all.subarray(0, split).toString('latin1');
  return { status: Number(head.split(' ')[1]), head: head.toLowerCase(), body: all.subarray(split + 4) };
}

describe('malformed OTLP/JSON', () => {
  it.each(badJson)('%s: 400 with a google.rpc.Status (INVALID_ARGUMENT) in JSON', async (_name, body, message) => {
    const before = started.agent.registry.counters.samples;
    const res = await post(`${started.otlpHttpUrl}/v1/traces`, body, 'application/json');
    expect(res.status).toBe(400);
    expect(res.contentType).toBe('application/json');
    const status = JSON.parse(res.body.toString()) as { code: number; message: string };
    expect(status.code).toBe(3);
    expect(status.message).toMatch(message);
    expect(status.message.length).toBeLessThan(1000); // never the offending value echoed back whole
    expect(started.agent.registry.counters.samples).toBe(before);
    await stillServes();
  });

  it.each(badMetricsJson)('metrics, %s: 400 with a google.rpc.Status', async (_name, body) => {
    const res = await post(`${started.otlpHttpUrl}/v1/metrics`, body, 'application/json');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: 3 });
    await stillServes();
  });

  it('JSON that Fastify would refuse but that is valid OTLP/JSON (a __proto__ key, a constructor.prototype) is read as data, nothing else', async () => {
    const before = started.agent.registry.counters.samples;
    const body = fresh().replace(
      '"name":"GET /"',
      '"__proto__":{"kind":3},"constructor":{"prototype":{"x":1}},"name":"GET /"',
    );
    const res = await post(`${started.otlpHttpUrl}/v1/traces`, body, 'application/json');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('{}');
    expect(started.agent.registry.counters.samples).toBe(before + 1);
    expect(({} as Record<string, unknown>).kind).toBeUndefined();
  });
});

describe('HTTP framing Node refuses', () => {
  const good = request({});
  const head = (contentType: string, extra: string) =>
    `POST /v1/traces HTTP/1.1\r\nHost: vigil\r\nContent-Type: ${contentType}\r\n${extra}\r\n`;
  const cases: [string, string][] = [
    ['Content-Length and Transfer-Encoding: chunked', `Content-Length: 5\r\nTransfer-Encoding: chunked\r\n`],
    ['two different Content-Lengths', `Content-Length: 5\r\nContent-Length: 6\r\n`],
    ['a Transfer-Encoding that does not end in chunked', `Transfer-Encoding: gzip\r\n`],
    ['a negative Content-Length', `Content-Length: -1\r\n`],
  ];

  it.each(cases)(
    '%s: 400 with a google.rpc.Status in the request encoding, and the agent keeps serving',
    async (_name, extra) => {
      const url = started.otlpHttpUrl;
      const json = await raw(url, `${head('application/json', extra)}${good}`);
      expect(json.status).toBe(400);
      expect(json.head).toContain('content-type: application/json');
      expect(JSON.parse(json.body.toString())).toMatchObject({ code: 3, message: expect.any(String) });
      const pb = await raw(url, `${head('application/x-protobuf', extra)}xxxxx`);
      expect(pb.status).toBe(400);
      expect(pb.head).toContain('content-type: application/x-protobuf');
      expect(readFields(pb.body).get(1)).toEqual([3n]);
      await stillServes();
    },
  );
});
