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
import { startRedis, stopAllRedis } from '../../helpers/redis-server.js';
import { killAll, look, postTraces, serve, serveConfig, waitUntil, type Serving } from '../../helpers/serve-process.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  killAll();
  stopAllRedis();
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

async function cluster(
  name: string,
  opts: { responder?: Responder; extra?: string; queue?: string; redisUrl?: string } = {},
): Promise<Cluster> {
  const peer = await HttpPeer.start(opts.responder ?? (() => ({ status: 200, body: 'ok' })));
  cleanups.push(() => peer.close());
  const redisUrl = opts.redisUrl ?? inject('redisUrl');
  const prefix = `vigil-cluster-${name}-${process.pid}-${Date.now()}`;
  // the shared Redis keeps other tests' keys: this test's are deleted (a test's own Redis is killed instead)
  if (opts.redisUrl === undefined)
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
queue: { redis: "${redisUrl}", prefix: "${prefix}"${opts.queue ?? ''} }
cluster: { enabled: true, leaseTtl: 3s, handoverQuiet: 1s }
connectors:
  - { name: router, type: webhook, options: { url: "${peer.url}/router" } }
notifiers:
  - { name: chat, type: webhook, options: { url: "${peer.url}/notify" } }
plan: [router]
${opts.extra ?? ''}`,
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

  it('the same spans sent to two replicas at once (a ring change): one owner takes them, the other answers 503; one decision', async () => {
    const c = await cluster('both');
    const a = await serve(c.cfg);
    const b = await serve(c.cfg);
    let refused = 0;
    for (let n = 0; n < ROLLBACK_LOOKS; n++) {
      const body = look(n, { service: 'cart', canaryErrorEvery: 5 });
      const [sa, sb] = await Promise.all([postTraces(a.otlpHttp, body), postTraces(b.otlpHttp, body)]);
      // exactly one of them took the look (the owner); the other's 503 is retryable: nothing was taken there
      expect([sa, sb].sort()).toEqual([200, 503]);
      refused++;
    }
    await waitUntil(
      () => notified(c.peer, 'cart:2', 'plan-completed') === 1,
      20_000,
      () => a.output() + b.output(),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(refused).toBe(ROLLBACK_LOOKS);
    expect(calls(c.peer, '/router', 'cart:2')).toBe(1);
    expect(notified(c.peer, 'cart:2', 'decision')).toBe(1);
    // both replicas list the one decision; the owner's analysis counted every look once
    expect((await decisions(a)).map((d) => d.analysis)).toEqual(['cart:2']);
    expect((await decisions(b)).map((d) => d.analysis)).toEqual(['cart:2']);
    const cart = (await analyses(b)).find((x) => x.id === 'cart:2')!;
    expect(cart.totals.canary.requests).toBeLessThanOrEqual(ROLLBACK_LOOKS * 200);
    const view = (await (await fetch(`${b.api}/api/v1/cluster`)).json()) as {
      replicas: { id: string; services: string[] }[];
    };
    expect(view.replicas).toHaveLength(2);
    expect(view.replicas.flatMap((r) => r.services)).toEqual(['cart']);
    // an operator's resume works on any replica: the one that does not own the service forwards it to the owner
    const owner = view.replicas.find((r) => r.services.includes('cart'))!.id;
    const other = [a, b].find((s) => !s.output().includes(`"replica":"${owner}"`))!;
    const res = await fetch(`${other.api}/api/v1/analyses/cart:2/resume`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'sre@example.com', reason: 'fixed forward' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      action: 'resume',
      changed: true,
      analysis: { id: 'cart:2', phase: 'rollback' },
    });
    const redis = new Redis(c.redisUrl);
    expect(await redis.hgetall(`${c.prefix}:cluster:resumes:cart`)).toEqual({ '2': '1' });
    await redis.quit();
  }, 90_000);

  it('kill -9 in the middle of a rollback plan: a survivor runs the cut step again and the plan completes once', async () => {
    let routerCalls = 0;
    const c = await cluster('plan', {
      // the first call of the plan's step never answers: the replica running it is killed meanwhile
      responder: (r) => (r.path === '/router' && ++routerCalls === 1 ? 'hang' : { status: 200, body: 'ok' }),
      queue: ', jobLock: 2s',
      extra: 'actions: { stepTimeout: 1500ms }\n',
    });
    const a = await serve(c.cfg);
    for (let n = 0; n < ROLLBACK_LOOKS; n++) await send(a, look(n, { service: 'cart', canaryErrorEvery: 5 }));
    await waitUntil(
      () => routerCalls === 1,
      20_000,
      () => a.output(),
    );
    a.child.kill('SIGKILL');
    await a.exited;
    const b = await serve(c.cfg); // its worker finds the job stalled once the dead replica's lock expired
    await waitUntil(
      () => notified(c.peer, 'cart:2', 'plan-completed') === 1,
      30_000,
      () => b.output(),
    );
    await new Promise((r) => setTimeout(r, 3_000)); // two more lock periods: nothing runs again
    expect(routerCalls).toBe(2); // the cut attempt and the one that completed
    expect(notified(c.peer, 'cart:2', 'plan-completed')).toBe(1);
    // the decision's notification job may have been cut by the kill too (delivered, not yet marked done): BullMQ
    // runs it again, with the same CloudEvents id (the receiver's idempotency key), so it is ONE event
    const decisionEvents = c.peer.requests.filter(
      (r) => r.path === '/notify' && r.text.includes('"cart:2"') && r.text.includes('notification.decision"'),
    );
    expect(new Set(decisionEvents.map((r) => (JSON.parse(r.text) as { id: string }).id)).size).toBe(1);
    expect((await decisions(b)).map((d) => d.analysis)).toEqual(['cart:2']);
  }, 90_000);

  it('Redis frozen for 20 s: the replica stops acting (not ready, 503s, no decision), then resumes from its checkpoint and rolls back once', async () => {
    const redis = await startRedis();
    const c = await cluster('partition', { redisUrl: redis.url });
    const a = await serve(c.cfg);
    for (let n = 0; n < 3; n++) {
      await send(a, look(n, { service: 'cart', canaryErrorEvery: 5 }));
      await send(a, look(n, { service: 'shop', canaryErrorEvery: 100 }));
    }
    await new Promise((r) => setTimeout(r, 600)); // checkpointed
    const ready = async (): Promise<number> => (await fetch(`${a.api}/readyz`)).status;
    expect(await ready()).toBe(200);
    redis.freeze();
    const frozenAt = Date.now();
    // the senders keep sending through the outage, a look a second, retrying every 503 (the Collector's sending
    // queue); the looks this replica accepted before it stopped trusting its leases are lost with them (at most
    // leaseTtl x 0.9 + state.checkpointInterval of telemetry): 4 more looks than a rollback needs cover them
    const sending = (async () => {
      let refused = 0;
      for (let n = 3; n < 3 + ROLLBACK_LOOKS + 4; n++) {
        refused += (await send(a, look(n, { service: 'cart', canaryErrorEvery: 5 }), 60_000)).refused;
        refused += (await send(a, look(n, { service: 'shop', canaryErrorEvery: 100 }), 60_000)).refused;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      return refused;
    })();
    await waitUntil(
      () => a.output().includes('service lease lost'),
      10_000,
      () => a.output(),
    );
    expect(await ready()).toBe(503);
    // the API still answers: the cluster's view needs Redis (503), the decisions fall back to this replica's own
    expect((await fetch(`${a.api}/api/v1/cluster`)).status).toBe(503);
    expect((await fetch(`${a.api}/api/v1/decisions`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - frozenAt))));
    // nothing was rolled back while this replica could not trust its leases
    expect(calls(c.peer, '/router', 'cart:2')).toBe(0);
    redis.thaw();
    const refused = await sending;
    expect(refused).toBeGreaterThan(0);
    await waitUntil(
      () => notified(c.peer, 'cart:2', 'plan-completed') === 1,
      30_000,
      () => a.output(),
    );
    for (let i = 0; (await ready()) !== 200; i++) {
      if (i > 50) throw new Error(`never ready again\n${a.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(calls(c.peer, '/router', 'cart:2')).toBe(1);
    expect(calls(c.peer, '/router', 'shop:2')).toBe(0);
    const restored = a.lines().filter((l) => l.msg === 'service restored from its checkpoint in Redis');
    expect(restored.map((l) => l.service).sort()).toEqual(['cart', 'shop']); // taken again after the outage
    const shop = (await analyses(a)).find((x) => x.id === 'shop:2')!;
    expect(shop.phase).toBe('running');
  }, 120_000);
});
