/**
 * Several `vigil serve` replicas on one Redis (issue 14), as real processes (the CLI from the sources through tsx),
 * with real OTLP/HTTP JSON telemetry and real webhook connectors and notifiers posting to a local HTTP peer. The
 * senders behave as the Collector's loadbalancing exporter does: a 503 is retried after a pause (to the same
 * replica, or to the one the ring now names).
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { AnalysisSnapshot } from '../../../src/analysis/analysis-registry.js';
import type { Decision } from '../../../src/contracts/index.js';
import { HttpPeer, type Responder } from '../../helpers/http-peer.js';
import { killAll, look, postTraces, serve, serveConfig, waitUntil, type Serving } from '../../helpers/serve-process.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  killAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Rolled back at its look 7 (one bounded bet per look: docs/detectors.md, "Real traffic"); 10 leave a margin. */
const ROLLBACK_LOOKS = 10;

interface Cluster {
  peer: HttpPeer;
  cfg: string;
  prefix: string;
  redisUrl: string;
}

async function cluster(name: string, responder?: Responder, extra = ''): Promise<Cluster> {
  const peer = await HttpPeer.start(responder ?? (() => ({ status: 200, body: 'ok' })));
  cleanups.push(() => peer.close());
  const redisUrl = inject('redisUrl');
  const prefix = `vigil-cluster-${name}-${process.pid}-${Date.now()}`;
  cleanups.push(async () => {
    const redis = new Redis(redisUrl);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  const { cfg } = serveConfig(
    `cluster-${name}`,
    `analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }
state: { checkpointInterval: 200ms }
queue: { redis: "${redisUrl}", prefix: "${prefix}" }
cluster: { enabled: true, leaseTtl: 3s, handoverQuiet: 1s }
connectors:
  - { name: router, type: webhook, options: { url: "${peer.url}/router" } }
notifiers:
  - { name: chat, type: webhook, options: { url: "${peer.url}/notify" } }
plan: [router]
${extra}`,
  );
  return { peer, cfg, prefix, redisUrl };
}

/** Sends like the Collector: a 503 (not the owner yet, lease of a dead replica not expired) is retried after a pause. */
async function send(s: Serving, body: string, timeoutMs = 30_000): Promise<{ refused: number }> {
  const deadline = Date.now() + timeoutMs;
  let refused = 0;
  for (;;) {
    const status = await postTraces(s.otlpHttp, body);
    if (status === 200) return { refused };
    if (status !== 503 || Date.now() > deadline) throw new Error(`OTLP answered ${status}\n${s.output()}`);
    refused++;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function analyses(s: Serving): Promise<AnalysisSnapshot[]> {
  return ((await (await fetch(`${s.api}/api/v1/analyses`)).json()) as { analyses: AnalysisSnapshot[] }).analyses;
}

async function decisions(s: Serving): Promise<Decision[]> {
  return ((await (await fetch(`${s.api}/api/v1/decisions`)).json()) as { decisions: Decision[] }).decisions;
}

const calls = (peer: HttpPeer, path: string, analysis: string): number =>
  peer.requests.filter((r) => r.path === path && r.text.includes(`"${analysis}"`)).length;

const notified = (peer: HttpPeer, analysis: string, type: string): number =>
  peer.requests.filter(
    (r) => r.path === '/notify' && r.text.includes(`"${analysis}"`) && r.text.includes(`notification.${type}"`),
  ).length;

describe('replicas on one Redis', () => {
  it('kill -9 of the owner mid-analysis: a survivor continues the analysis and rolls the regression back once; the healthy service is never rolled back', async () => {
    const c = await cluster('failover');
    const a = await serve(c.cfg);
    const b = await serve(c.cfg);
    for (let n = 0; n < 4; n++) {
      await send(a, look(n, { service: 'cart', canaryErrorEvery: 5 }));
      await send(a, look(n, { service: 'shop', canaryErrorEvery: 100 }));
    }
    await new Promise((r) => setTimeout(r, 600)); // checkpoints every 200 ms
    const before = await analyses(b); // any replica answers for every service
    expect(before.find((x) => x.id === 'cart:2')).toMatchObject({ phase: 'running', look: 3 });
    a.child.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();
    const first = await send(b, look(4, { service: 'cart', canaryErrorEvery: 5 }));
    const tookOverMs = Date.now() - killedAt;
    expect(first.refused).toBeGreaterThan(0); // the dead replica's lease held the service until it expired
    expect(tookOverMs).toBeLessThan(3_000 + 2_000);
    await send(b, look(4, { service: 'shop', canaryErrorEvery: 100 }));
    for (let n = 5; n < 4 + ROLLBACK_LOOKS; n++) {
      await send(b, look(n, { service: 'cart', canaryErrorEvery: 5 }));
      await send(b, look(n, { service: 'shop', canaryErrorEvery: 100 }));
    }
    await waitUntil(
      () => notified(c.peer, 'cart:2', 'plan-completed') === 1,
      20_000,
      () => b.output(),
    );
    expect(b.lines().filter((l) => l.msg === 'service restored from its checkpoint in Redis')).toEqual([
      expect.objectContaining({ service: 'cart', running: 1, look: 3 }),
      expect.objectContaining({ service: 'shop', running: 1, look: 3 }),
    ]);
    const after = await analyses(b);
    const cart = after.find((x) => x.id === 'cart:2')!;
    expect(cart.phase).toBe('rollback');
    // the evidence continued: the rollback came at look 7 of ONE analysis, not 7 looks after the takeover
    expect(cart.startedAtUnixMs).toBe(before.find((x) => x.id === 'cart:2')!.startedAtUnixMs);
    expect(after.find((x) => x.id === 'shop:2')).toMatchObject({ phase: 'running', look: 3 + ROLLBACK_LOOKS });
    await new Promise((r) => setTimeout(r, 500));
    expect(calls(c.peer, '/router', 'cart:2')).toBe(1);
    expect(notified(c.peer, 'cart:2', 'decision')).toBe(1);
    expect(calls(c.peer, '/router', 'shop:2')).toBe(0);
    expect((await decisions(b)).map((d) => d.analysis)).toEqual(['cart:2']);
    expect(b.lines().filter((l) => (l.level as number) >= 50)).toEqual([]);
    b.child.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 90_000);
});
