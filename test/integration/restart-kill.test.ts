/**
 * `vigil serve` killed with SIGKILL and started again (real processes: the CLI from the sources through tsx; real
 * OTLP/HTTP JSON telemetry; real webhook connectors posting to a local HTTP peer):
 * - mid-analysis, embedded queue: the analyses continue from their checkpoint (look numbers continue, same start
 *   and id), the rolled-back version stays rolled back (no second decision, its plan not run again) and the
 *   decisions list is served again;
 * - with Redis (BullMQ and the checkpoint in Redis): after a restart, a new rollback of ANOTHER version runs its
 *   plan, and the first version stays rolled back.
 */
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { AnalysisSnapshot } from '../../src/analysis/analysis-registry.js';
import type { Decision } from '../../src/contracts/index.js';
import { HttpPeer } from '../helpers/http-peer.js';
import { killAll, look, serveConfig, postTraces, serve, waitUntil, type Serving } from '../helpers/serve-process.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  killAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function analyses(s: Serving): Promise<AnalysisSnapshot[]> {
  return ((await (await fetch(`${s.api}/api/v1/analyses`)).json()) as { analyses: AnalysisSnapshot[] }).analyses;
}

async function decisions(s: Serving): Promise<Decision[]> {
  return ((await (await fetch(`${s.api}/api/v1/decisions`)).json()) as { decisions: Decision[] }).decisions;
}

const byId = (list: AnalysisSnapshot[], id: string): AnalysisSnapshot | undefined => list.find((a) => a.id === id);

async function setup(extra: string): Promise<{ peer: HttpPeer; dir: string; cfg: string }> {
  const peer = await HttpPeer.start(() => ({ status: 200, body: 'ok' }));
  cleanups.push(() => peer.close());
  const { dir, cfg } = serveConfig(
    'restart',
    `analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }
state: { checkpointInterval: 200ms }
connectors:
  - { name: router, type: webhook, options: { url: "${peer.url}/router" } }
plan: [router]
${extra}`,
  );
  return { peer, dir, cfg };
}

/**
 * Looks sent for a 5x canary of `look()` that must be rolled back. One look never decides (the default detectors place
 * one bounded bet per look: docs/detectors.md, "Real traffic"): it is rolled back at its look 7, the fewest the robust
 * default allows (1.94^6 < 1/alpha_i = 60 < 1.94^7), when the spans of its 8th look close its 7th (measured); 10 leave
 * 2 looks of margin.
 */
const ROLLBACK_LOOKS = 10;

const routerCalls = (peer: HttpPeer, analysis: string): number =>
  peer.requests.filter((r) => r.path === '/router' && r.text.includes(`"${analysis}"`)).length;

describe('vigil serve killed with SIGKILL and started again', () => {
  it('embedded queue, mid-analysis: looks continue from the checkpoint, the rolled-back version stays rolled back', async () => {
    const { peer, dir, cfg } = await setup('');
    const first = await serve(cfg);
    for (let n = 0; n < ROLLBACK_LOOKS; n++) {
      expect(await postTraces(first.otlpHttp, look(n, { service: 'cart', canaryErrorEvery: 5 }))).toBe(200);
      expect(await postTraces(first.otlpHttp, look(n, { service: 'shop', canaryErrorEvery: 100 }))).toBe(200);
    }
    await waitUntil(
      () => routerCalls(peer, 'cart:2') === 1,
      20_000,
      () => first.output(),
    );
    const before = await analyses(first);
    const shopBefore = byId(before, 'shop:2')!;
    const cartBefore = byId(before, 'cart:2')!;
    expect(shopBefore).toMatchObject({ phase: 'running', look: ROLLBACK_LOOKS - 1 });
    expect(cartBefore.phase).toBe('rollback');
    await new Promise((r) => setTimeout(r, 600)); // a checkpoint (every 200 ms) has been taken since
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await serve(cfg);
    const restored = await analyses(second);
    // the same analyses, where they were: same id, start, look, totals, phase and decision
    expect(byId(restored, 'shop:2')).toEqual(shopBefore);
    expect(byId(restored, 'cart:2')).toEqual(cartBefore);
    expect((await decisions(second)).map((d) => d.id)).toEqual([cartBefore.decisionId]);
    for (let n = ROLLBACK_LOOKS; n < ROLLBACK_LOOKS + 4; n++) {
      expect(await postTraces(second.otlpHttp, look(n, { service: 'cart', canaryErrorEvery: 5 }))).toBe(200);
      expect(await postTraces(second.otlpHttp, look(n, { service: 'shop', canaryErrorEvery: 100 }))).toBe(200);
    }
    expect(second.lines().filter((l) => l.msg === 'analyses restored')).toEqual([
      expect.objectContaining({ running: 1, decided: 1, restarted: 0, unrecorded: 0 }),
    ]);
    const after = await analyses(second);
    const shopAfter = byId(after, 'shop:2')!;
    expect(shopAfter.look).toBe(ROLLBACK_LOOKS - 1 + 4); // 4 more looks closed after the restart: the look numbers continue
    expect(shopAfter.startedAtUnixMs).toBe(shopBefore.startedAtUnixMs);
    expect(shopAfter.totals.canary.requests).toBe(shopBefore.totals.canary.requests + 4 * 200);
    expect(byId(after, 'cart:2')).toMatchObject({ phase: 'rollback', decisionId: cartBefore.decisionId });
    await new Promise((r) => setTimeout(r, 300));
    expect(routerCalls(peer, 'cart:2')).toBe(1); // the plan ran once, before the kill
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n');
    expect(audit.filter((l) => l.includes('"type":"decision"'))).toHaveLength(1);
    expect(second.lines().filter((l) => (l.level as number) >= 50)).toEqual([]);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 90_000);

  it('with Redis: after a restart, a new rollback of another version runs its plan; the first stays rolled back', async () => {
    const prefix = `vigil-restart-${process.pid}-${Date.now()}`;
    cleanups.push(async () => {
      // the test's own keys only: the queues' and the checkpoint's
      const redis = new Redis(inject('redisUrl'));
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });
    const { peer, cfg } = await setup(`queue: { redis: "${inject('redisUrl')}", prefix: "${prefix}" }\n`);
    const first = await serve(cfg);
    const v2Until = ROLLBACK_LOOKS;
    for (let n = 0; n < v2Until; n++) {
      expect(await postTraces(first.otlpHttp, look(n, { canaryVersion: '2', canaryErrorEvery: 5 }))).toBe(200);
    }
    await waitUntil(
      () => routerCalls(peer, 'cart:2') === 1,
      20_000,
      () => first.output(),
    );
    await new Promise((r) => setTimeout(r, 600));
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await serve(cfg);
    expect(byId(await analyses(second), 'cart:2')).toMatchObject({ phase: 'rollback' });
    // version 2 keeps sending (stays rolled back: no new analysis), then version 3 ships and regresses too
    for (let n = v2Until; n < v2Until + 2; n++) {
      expect(await postTraces(second.otlpHttp, look(n, { canaryVersion: '2', canaryErrorEvery: 5 }))).toBe(200);
    }
    for (let n = v2Until + 2; n < v2Until + 2 + ROLLBACK_LOOKS; n++) {
      expect(await postTraces(second.otlpHttp, look(n, { canaryVersion: '3', canaryErrorEvery: 5 }))).toBe(200);
    }
    await waitUntil(
      () => routerCalls(peer, 'cart:3') === 1,
      20_000,
      () => second.output(),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(routerCalls(peer, 'cart:2')).toBe(1);
    expect(routerCalls(peer, 'cart:3')).toBe(1);
    expect((await decisions(second)).map((d) => d.analysis)).toEqual(['cart:2', 'cart:3']);
    const errors = second.lines().filter((l) => (l.level as number) >= 50);
    expect(errors).toEqual([]); // no "job refused"
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, 90_000);
});
