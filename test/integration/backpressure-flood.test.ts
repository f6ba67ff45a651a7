/**
 * Backpressure under a flood: a running agent with a small ingest queue receives many concurrent OTLP/HTTP
 * requests. The ones past the queue get 503 + Retry-After + google.rpc.Status(UNAVAILABLE) at once; every
 * span of every 200-acknowledged request is counted; a client that retries as Collectors do (honouring
 * Retry-After) gets everything in, exactly once.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { createAgent, type Agent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { encodeJson, encodeProtobuf, fleet, makeResources } from '../bench/ingest-payload.js';
import { readFields } from '../helpers/otlp/pb-writer.js';

const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
});

async function startAgent(ingest: string): Promise<{ agent: Agent; url: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-flood-'));
  const loaded = parseConfig(
    `audit: { path: "${join(dir, 'audit.jsonl')}" }\ningest: ${ingest}\n`,
    'flood.yaml',
    BUILTIN_REGISTRIES,
    {},
  );
  const agent = createAgent({
    loaded,
    registries: BUILTIN_REGISTRIES,
    logger: silentLogger(),
    ports: { otlpHttp: 0, otlpGrpc: 0, api: 0 },
  });
  agents.push(agent);
  const { otlpHttpUrl } = await agent.start();
  return { agent, url: `${otlpHttpUrl}/v1/traces` };
}

const SPANS = 500;
const services = fleet(20);

interface Req {
  body: Buffer;
  headers: Record<string, string>;
}

/** `n` distinct requests (distinct span ids: a repeated body would be a duplicate, counted once), cycling over protobuf, gzip protobuf and JSON. */
function requests(n: number): Req[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i): Req => {
    const resources = makeResources({
      services,
      spans: SPANS,
      spansPerResource: 50,
      endMs: now,
      seed: i + 1,
      offset: i,
    });
    if (i % 3 === 2)
      return { body: Buffer.from(encodeJson(resources)), headers: { 'content-type': 'application/json' } };
    const pb = encodeProtobuf(resources);
    return i % 3 === 1
      ? { body: gzipSync(pb), headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' } }
      : { body: pb, headers: { 'content-type': 'application/x-protobuf' } };
  });
}

async function post(
  url: string,
  r: Req,
): Promise<{ status: number; retryAfter: string | null; contentType: string | null; body: Buffer }> {
  const res = await fetch(url, { method: 'POST', headers: r.headers, body: r.body });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    contentType: res.headers.get('content-type'),
    body: Buffer.from(await res.arrayBuffer()),
  };
}

async function metricValue(agent: Agent, line: string): Promise<number> {
  const text = await agent.metrics.registry.metrics();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

describe('backpressure', () => {
  it('answers a flood past the queue with 503 + Retry-After, and counts every span of every 200', async () => {
    const { agent, url } = await startAgent('{ maxInflightRequests: 3, retryAfter: 2s }');
    const flood = requests(60);
    const answers = await Promise.all(flood.map((r) => post(url, r)));
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 503);
    expect(ok.length + refused.length).toBe(flood.length);
    expect(ok.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const a of refused) {
      expect(a.retryAfter).toBe('2');
      if (a.contentType === 'application/json') expect(JSON.parse(a.body.toString())).toMatchObject({ code: 14 });
      else expect(readFields(a.body).get(1)).toEqual([14n]);
    }
    // nothing acknowledged is lost
    expect(agent.registry.counters.samples).toBe(ok.length * SPANS);
    const accepted =
      (await metricValue(agent, 'vigil_otlp_spans_accepted_total{transport="http",encoding="protobuf"}')) +
      (await metricValue(agent, 'vigil_otlp_spans_accepted_total{transport="http",encoding="json"}'));
    expect(accepted).toBe(ok.length * SPANS);
    expect(await metricValue(agent, 'vigil_otlp_requests_rejected_total{transport="http",status="503"}')).toBe(
      refused.length,
    );
    expect(await metricValue(agent, 'vigil_ingest_throttled_total{transport="http",reason="requests"}')).toBe(
      refused.length,
    );
    expect(agent.gate.stats()).toMatchObject({ inFlightRequests: 0, inFlightBytes: 0, refused: refused.length });
  });

  it('a client that honours Retry-After gets the whole flood in, exactly once', async () => {
    const { agent, url } = await startAgent('{ maxInflightRequests: 2, maxInflightBytes: 2097152, retryAfter: 1s }');
    const flood = requests(30);
    let retries = 0;
    await Promise.all(
      flood.map(async (r) => {
        for (;;) {
          const a = await post(url, r);
          if (a.status === 200) return;
          expect(a.status).toBe(503);
          retries++;
          await new Promise((resolve) =>
            setTimeout(resolve, Number(a.retryAfter) * 1000 * (0.2 + Math.random() * 0.8)),
          );
        }
      }),
    );
    expect(retries).toBeGreaterThan(0);
    expect(agent.registry.counters.samples).toBe(flood.length * SPANS);
    expect(
      (await metricValue(agent, 'vigil_request_samples_total{cohort="canary"}')) +
        (await metricValue(agent, 'vigil_request_samples_total{cohort="baseline"}')),
    ).toBe(flood.length * SPANS);
    expect(agent.gate.stats().peakBytes).toBeLessThanOrEqual(2 * 1024 * 1024 + 2 * 500 * 1024);
  });

  it('decodes bodies past ingest.workerDecodeBytes in worker threads, with the same answers as inline decoding', async () => {
    const { agent, url } = await startAgent('{ workerDecodeBytes: 100000 }');
    const bodies = requests(3);
    for (const r of bodies) expect((await post(url, r)).status).toBe(200);
    expect(agent.registry.counters.samples).toBe(3 * SPANS);
    // gzip bodies are judged after inflation: all three went to a worker
    expect(agent.decodePool.counts).toEqual({ inline: 0, offloaded: 3 });
    const bad = Buffer.concat([Buffer.from([0x0a, 0xff, 0xff, 0x0f]), Buffer.alloc(200_000)]);
    const res = await post(url, { body: bad, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: 3, message: expect.stringMatching(/invalid JSON/) });
    const small = await post(url, { body: Buffer.from('{}'), headers: { 'content-type': 'application/json' } });
    expect(small.status).toBe(200);
    expect(agent.decodePool.counts).toEqual({ inline: 1, offloaded: 4 });
  });
});
