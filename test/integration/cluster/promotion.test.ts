/**
 * A promotion plan in cluster mode (issue 17), two agents on the suite's real Redis: real OTel SDK spans of
 * `checkout` go to replica one (test/helpers/promotion-drive.ts), which takes the service's lease and runs the plan
 * (the `noop` traffic connector as the router). An approval sent to replica two, which holds no analysis, is forwarded
 * to the owner with the caller's token: recorded in the OWNER's audit log with who, why and the token's name, and the
 * owner sets the share it waited at, then goes on to 100% and promotes. An approval of an analysis no replica runs is
 * a 404.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { AnalysisSnapshot } from '../../../src/analysis/analysis-registry.js';
import { auditEntries } from '../../helpers/api-agent.js';
import { type Cleanups, promotionConfig, promotionDrive } from '../../helpers/promotion-drive.js';
import { startTestAgent } from '../../helpers/test-agent.js';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TOKEN = 'cluster-pr0mote';
const ID = 'checkout:2.0';
const healthy = { canaryErrors: () => 0.01 };

function config(prefix: string): string {
  return promotionConfig(
    undefined,
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
