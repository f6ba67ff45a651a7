/**
 * A promotion plan in cluster mode (issue 17), two agents on the suite's real Redis: real OTel SDK spans of
 * `checkout` go to replica one (test/helpers/promotion-drive.ts), which takes the service's lease and runs the plan
 * (the `noop` traffic connector as the router). An approval sent to replica two, which holds no analysis, is forwarded
 * to the owner with the caller's token: recorded in the OWNER's audit log with who, why and the token's name, and the
 * owner sets the share it waited at, then goes on to 100% and promotes. An approval of an analysis no replica runs is
 * a 404.
 * A graceful stop of the owner while a share is being set (samples handed to it directly close the look that asks for
 * 10%, then it stops at once): the handover waits for the share, so its checkpoint carries it; replica two takes the
 * service at its next request and sets 50% at its next look, not 10% again (one 10% step in both audit logs).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { AnalysisSnapshot } from '../../../src/analysis/analysis-registry.js';
import type { RequestSample } from '../../../src/contracts/index.js';
import { auditEntries, regressed } from '../../helpers/api-agent.js';
import { type Cleanups, promotionConfig, promotionDrive } from '../../helpers/promotion-drive.js';
import { look, postTraces } from '../../helpers/serve-process.js';
import { type StartedAgent, startTestAgent } from '../../helpers/test-agent.js';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TOKEN = 'cluster-pr0mote';
const ID = 'checkout:2.0';
const healthy = { canaryErrors: () => 0.01 };

function config(prefix: string, promote?: string): string {
  return promotionConfig(
    promote,
    `server: { auth: { tokens: [ { name: release-bot, token: "${TOKEN}", scopes: [read, operate] } ] } }
queue: { redis: "${inject('redisUrl')}", prefix: "${prefix}" }
cluster: { enabled: true, leaseTtl: 3s, handoverQuiet: 1m }`,
  );
}

/** The cluster's keys (queues, leases, checkpoints, decisions), deleted after the test. */
function clusterPrefix(): string {
  const prefix = `vigil-test-promotion:${randomUUID()}`;
  cleanups.push(async () => {
    const redis = new Redis(inject('redisUrl'));
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  return prefix;
}

const auth = { authorization: `Bearer ${TOKEN}` };

function approve(apiUrl: string, id: string, reason: string): Promise<Response> {
  return fetch(`${apiUrl}/api/v1/analyses/${encodeURIComponent(id)}/approve`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ by: 'alice', reason }),
  });
}

describe('a promotion plan in cluster mode', () => {
  it('an approval sent to the replica that does not own the service reaches the owner, which sets the next share', async () => {
    const yaml = config(clusterPrefix());
    const owner = await promotionDrive(yaml, 'cluster-promote-one', cleanups);
    const two = await startTestAgent(yaml, 'cluster-promote-two');
    cleanups.push(async () => {
      await two.agent.stop();
      rmSync(two.dir, { recursive: true, force: true });
    });
    for (let i = 0; i < 12 && owner.started.agent.registry.get(ID)?.promotion?.awaiting === undefined; i++)
      await owner.run({ ...healthy, maxLooks: 1 });
    expect(owner.started.agent.registry.get(ID)?.promotion).toMatchObject({ share: 10, awaiting: 50, approved: [] });
    expect(two.agent.registry.get(ID)).toBeUndefined(); // the owner alone runs the analysis
    // the other replica shows the owner's rollout
    const shown = await fetch(`${two.apiUrl}/api/v1/analyses/${ID}`, { headers: auth });
    expect(shown.status).toBe(200);
    expect(((await shown.json()) as AnalysisSnapshot).promotion).toMatchObject({ share: 10, awaiting: 50 });

    const approved = await approve(two.apiUrl, ID, 'approved through the other replica');
    expect(approved.status).toBe(200);
    expect(await approved.json()).toEqual({ approved: 50, analysis: ID });
    // recorded by the owner, in its audit log, with the caller's token name; the other replica recorded nothing
    expect(owner.audit().filter((e) => e.type === 'approve')).toEqual([
      expect.objectContaining({
        analysis: ID,
        share: 50,
        by: 'alice',
        reason: 'approved through the other replica',
        token: 'release-bot',
      }),
    ]);
    const twoAudit = join(two.dir, 'audit.jsonl');
    expect(existsSync(twoAudit) ? auditEntries(twoAudit).filter((e) => e.type === 'approve') : []).toEqual([]);
    expect(owner.started.agent.registry.get(ID)?.promotion).toMatchObject({ share: 10, approved: [50] });
    expect(owner.started.agent.registry.get(ID)?.promotion?.awaiting).toBeUndefined();
    // the owner's refusal comes back through the other replica: nothing is awaited any more
    expect((await approve(two.apiUrl, ID, 'twice')).status).toBe(409);

    await owner.run({ ...healthy, maxLooks: 1 });
    expect(owner.promoteSteps()).toEqual([10, 50]); // the owner set the share it waited at, at its next look
    await owner.run({ ...healthy, maxLooks: 20 });
    expect(owner.promoteSteps()).toEqual([10, 50, 100]);
    expect(owner.decisions).toEqual([
      expect.objectContaining({
        analysis: ID,
        outcome: 'promote',
        manual: expect.objectContaining({ by: 'promotion plan' }),
      }),
    ]);

    // no replica runs this analysis: 404, from the owner as from the other
    for (const apiUrl of [two.apiUrl, owner.started.apiUrl]) {
      const unknown = await approve(apiUrl, 'checkout:9.9', 'nothing to approve');
      expect(unknown.status).toBe(404);
    }
  }, 90_000);
});

/** Healthy requests of `checkout` (baseline 1, canary 2) at look `n`: as OTLP/HTTP JSON (admitted: the lease), or as
 *  samples handed to the agent directly (no network, no admission). */
const healthyLook = (n: number): string => look(n, { service: 'checkout', canaryErrorEvery: 100 });
const healthySamples = (n: number): RequestSample[] => regressed(n, 100).map((s) => ({ ...s, service: 'checkout' }));

/** The shares of the `promote-step` entries of a replica's audit log (none before its first entry). */
function promoteSteps(s: StartedAgent): number[] {
  const path = join(s.dir, 'audit.jsonl');
  return existsSync(path)
    ? auditEntries(path).flatMap((e) => (e.type === 'promote-step' ? [e.share as number] : []))
    : [];
}

describe('a promotion plan across a graceful stop in cluster mode', () => {
  it('a share being set when the owner stops is in its handover checkpoint: the next owner does not set it again', async () => {
    const yaml = config(clusterPrefix(), '{ via: router, steps: [10, 50, 100], minLooksPerStep: 1 }');
    const [one, two] = [await startTestAgent(yaml, 'cluster-stop-one'), await startTestAgent(yaml, 'cluster-stop-two')];
    for (const s of [one, two])
      cleanups.push(async () => {
        await s.agent.stop();
        rmSync(s.dir, { recursive: true, force: true });
      });
    const id = 'checkout:2';
    expect(await postTraces(one.otlpHttpUrl, healthyLook(0))).toBe(200); // one takes the service's lease
    expect(one.agent.registry.get(id)?.look).toBe(0);
    one.agent.ingest(healthySamples(1)); // closes look 0, the analysis's first: the plan asks for 10%
    expect(one.agent.registry.get(id)?.promotion).toBeUndefined(); // its look has not run yet: nothing set
    expect(await one.agent.shutdown()).toEqual({ timedOut: false, undone: [] }); // at once, before the share is set
    expect(promoteSteps(one)).toEqual([10]); // the stop waited for it
    expect(one.agent.registry.hasService('checkout')).toBe(false); // handed over
    expect(two.agent.registry.hasService('checkout')).toBe(false);

    // the lease was released at the stop: two takes the service at its next request, from the handover checkpoint
    expect(await postTraces(two.otlpHttpUrl, healthyLook(2))).toBe(200); // closes look 1: its look at 10%
    await two.agent.settle();
    // one promote-step for 10% in both audit logs: two, restored with 10% in place, set 50% (not 10% again)
    expect({ one: promoteSteps(one), two: promoteSteps(two) }).toEqual({ one: [10], two: [50] });
    expect(two.agent.registry.get(id)?.promotion).toMatchObject({ share: 50, approved: [] });
  }, 30_000);
});
