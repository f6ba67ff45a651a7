/**
 * Decision reports in cluster mode, on the suite's real Redis: two replicas, real OpenTelemetry SDK traffic to one of
 * them (it takes the service's lease), a regressed canary rolled back by a plan run through the shared BullMQ queue.
 * The replica that does not own the service answers the same report as the owner: the decision from the shared list,
 * the looks and the analysis from the owner (forwarded `?format=sources`), the plan's steps from whichever replica's
 * audit log holds them.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TrafficGenerator } from '../../../src/demo/traffic-generator.js';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { startTestAgent, type StartedAgent } from '../../helpers/test-agent.js';
import { cohortTraffic } from '../../helpers/traffic.js';

/** The cluster's keys, deleted after the file (not after each test: the tests read the same cluster). */
const PREFIX = `vigil-test-report:${randomUUID()}:`;
const TOKEN = 'cluster-r3port';
const ANALYSIS = 'basket:1.1.0';
let one: StartedAgent;
let two: StartedAgent;
let traffic: TrafficGenerator;

beforeAll(async () => {
  const config = [
    `server: { auth: { tokens: ["${TOKEN}"] } }`,
    `queue: { redis: "${inject('redisUrl')}", prefix: "${PREFIX}" }`,
    'cluster: { enabled: true, leaseTtl: 3s, handoverQuiet: 1m }',
    'analysis: { interval: 10s, minSamples: 25, maxDuration: 30m }',
    'connectors: [{ name: mark, type: noop }, { name: mark-again, type: noop }]',
    'plan: [mark, mark-again]',
    '',
  ].join('\n');
  one = await startTestAgent(config, 'cluster-report-one');
  two = await startTestAgent(config, 'cluster-report-two');
  traffic = cohortTraffic({ otlpHttpUrl: one.otlpHttpUrl, service: 'basket', canaryErrorRate: 0.2, seed: 5 });
  const t0 = Math.floor(Date.now() / 10_000) * 10_000 - 300_000;
  for (let k = 0; k < 16 && one.agent.registry.get(ANALYSIS)?.phase !== 'rollback'; k++) {
    await traffic.emit(t0 + k * 5_000, 5_000, { baseline: 100, canary: 100 });
    await one.agent.settle();
  }
  await one.agent.settle();
  await two.agent.settle();
}, 60_000);

afterAll(async () => {
  await traffic?.shutdown();
  await two?.agent.stop();
  await one?.agent.stop();
  const redis = new Redis(inject('redisUrl'));
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

const get = async (s: StartedAgent, id: string) => {
  const res = await fetch(`${s.apiUrl}/api/v1/decisions/${id}/report`, {
    headers: { accept: 'text/markdown', authorization: `Bearer ${TOKEN}` },
  });
  expect(res.status).toBe(200);
  return res.text();
};

/** The report without what differs between replicas and requests: when it was made, and where it was read. */
const stable = (md: string) =>
  md
    .slice(0, md.indexOf('## Sources'))
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, 'API') // each answers with its own address (no publicUrl here)
    .replace(/generated at \S+/, 'generated at T')
    .replace(/\(.* ago\)/, '(age)');

describe('a decision report in cluster mode', () => {
  it('the replica that does not own the service answers the same report as the owner', async () => {
    const analysis = one.agent.registry.get(ANALYSIS);
    expect(analysis?.phase).toBe('rollback');
    expect(two.agent.registry.get(ANALYSIS)).toBeUndefined(); // two holds neither the analysis nor its looks
    const id = analysis!.decisionId!;
    const fromOwner = await get(one, id);
    const fromOther = await get(two, id);
    expect(stable(fromOther)).toBe(stable(fromOwner));
    expect(fromOther).toContain('## Evidence per look');
    expect(fromOther).not.toContain('no longer in memory');
    expect(fromOther).toContain('All 2 steps done.');
    expect(fromOther).toMatch(/\| 1 \| mark \| changed \|/);
    expect(fromOther).toMatch(/\| 2 \| mark-again \| changed \|/);
    // both replicas' audit logs were read, by the replica asked and by the other for it
    const sources = fromOther
      .slice(fromOther.indexOf('## Sources'))
      .split('\n')
      .filter((l) => l.startsWith('- replica'));
    expect(sources).toHaveLength(2);
  });

  it("?format=sources answers what one replica alone knows, as JSON (the other replicas' question)", async () => {
    const id = one.agent.registry.get(ANALYSIS)!.decisionId!;
    const res = await fetch(`${two.apiUrl}/api/v1/decisions/${id}/report?format=sources`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { decision?: { id: string }; looks?: unknown[]; audit: { path: string } };
    expect(body.decision?.id).toBe(id); // from the shared list
    expect(body.looks).toBeUndefined(); // two does not hold the analysis
    expect(body.audit.path).toBe(`${two.dir}/audit.jsonl`);
  });
});
