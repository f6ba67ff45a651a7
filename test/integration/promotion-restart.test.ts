/**
 * A promotion plan's progress survives graceful restarts (issue 17: the rollout is kept in the analysis, so the
 * checkpoint taken at shutdown carries it): real agents (createAgent) started one after the other on the same audit
 * log and checkpoint (the embedded queue's file beside the audit log), fed real OTel SDK spans in one synthetic time
 * (test/helpers/promotion-drive.ts, `continues`), the `noop` traffic connector as the router.
 * - stopped while the plan waits for the approval of 50%: the next agent shows the rollout where it was (10% in place,
 *   50% awaited) and does not start it over (no second 10% step), and an approval given to it through the API is
 *   recorded;
 * - stopped again after that approval and before the 50% step: the approval is kept (50% is not awaited again), and
 *   the following looks set 50%, then 100%, then the plan promotes;
 * - stopped while the share its last look asked for is being set: the shutdown waits for it, and its last checkpoint
 *   holds it (the next agent does not set it again).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnalysisSnapshot } from '../../src/analysis/analysis-registry.js';
import { auditEntries, regressed } from '../helpers/api-agent.js';
import { type Cleanups, type PromotionDrive, promotionConfig, promotionDrive } from '../helpers/promotion-drive.js';
import { startTestAgent } from '../helpers/test-agent.js';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const CONFIG = promotionConfig();

const ID = 'checkout:2.0';
const healthy = { canaryErrors: () => 0.01 };

async function snapshot(drive: PromotionDrive): Promise<AnalysisSnapshot> {
  const res = await fetch(`${drive.started.apiUrl}/api/v1/analyses/${ID}`);
  expect(res.status).toBe(200);
  return (await res.json()) as AnalysisSnapshot;
}

function approve(drive: PromotionDrive, reason: string): Promise<Response> {
  return fetch(`${drive.started.apiUrl}/api/v1/analyses/${ID}/approve`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ by: 'alice', reason }),
  });
}

/** Looks one at a time until the plan waits for an approval (at most `max`). */
async function untilAwaiting(drive: PromotionDrive, max: number): Promise<AnalysisSnapshot> {
  for (let i = 0; i < max; i++) {
    await drive.run({ ...healthy, maxLooks: 1 });
    const a = drive.started.agent.registry.get(ID);
    if (a?.promotion?.awaiting !== undefined) return snapshot(drive);
  }
  throw new Error(`the plan did not wait for an approval within ${max} looks`);
}

/** Stops the drive's agent gracefully (the checkpoint is saved at shutdown) and starts a new one on its directory. */
async function restart(drive: PromotionDrive): Promise<PromotionDrive> {
  const report = await drive.started.agent.shutdown();
  expect(report).toEqual({ timedOut: false, undone: [] });
  const stateDir = join(drive.started.dir, 'vigil-state');
  expect(existsSync(stateDir) && readdirSync(stateDir).length > 0).toBe(true); // the embedded queue's checkpoint file
  return promotionDrive(CONFIG, 'promotion-restart', cleanups, { continues: drive });
}

describe('a promotion plan across graceful restarts', () => {
  it('keeps the rollout where it stands: the awaited share, then the approval; it goes on to 100% and promotes', async () => {
    const first = await promotionDrive(CONFIG, 'promotion-restart', cleanups);
    const waiting = await untilAwaiting(first, 12);
    expect(waiting.promotion).toEqual({
      steps: [10, 50, 100],
      share: 10,
      awaiting: 50,
      approved: [],
      why: 'waiting for an approval of 50%',
      gate: { looks: expect.any(Number) as number, worse: [] },
    });
    expect(first.promoteSteps()).toEqual([10]);

    // restart 1, while the plan waits for the approval of 50%
    const second = await restart(first);
    const restored = await snapshot(second);
    expect(restored).toMatchObject({ phase: 'running', look: waiting.look, startedAtUnixMs: waiting.startedAtUnixMs });
    expect(restored.promotion).toEqual(waiting.promotion);
    await second.run({ ...healthy, maxLooks: 2 }); // looks after the restart: it still waits, 10% is not set again
    expect((await snapshot(second)).look).toBe(waiting.look + 2);
    expect(second.promoteSteps()).toEqual([10]);
    expect((await snapshot(second)).promotion).toMatchObject({ share: 10, awaiting: 50, approved: [] });

    const approved = await approve(second, 'approved after the restart');
    expect(approved.status).toBe(200);
    expect(await approved.json()).toEqual({ approved: 50, analysis: ID });
    expect((await approve(second, 'twice')).status).toBe(409); // nothing awaited any more
    const afterApproval = (await snapshot(second)).promotion;
    expect(afterApproval).toMatchObject({
      steps: [10, 50, 100],
      share: 10,
      approved: [50],
      why: '50% approved by alice',
    });
    expect(afterApproval?.awaiting).toBeUndefined();

    // restart 2, after the approval and before the look that sets 50%: the approval is kept
    const third = await restart(second);
    expect((await snapshot(third)).promotion).toEqual(afterApproval);
    await third.run({ ...healthy, maxLooks: 1 });
    expect(third.promoteSteps()).toEqual([10, 50]); // set at the first look: not awaited again
    await third.run({ ...healthy, maxLooks: 20 });

    const audit = third.audit();
    const steps = audit.filter((e) => e.type === 'promote-step');
    expect(steps.map((e) => [e.share, e.step, e.changed])).toEqual([
      [10, 0, true],
      [50, 1, true],
      [100, 2, true],
    ]);
    // the looks the shares were set at continue across the restarts
    expect(steps[1]!.look as number).toBeGreaterThan(waiting.look + 2);
    const approvals = audit.filter((e) => e.type === 'approve');
    expect(approvals).toEqual([
      expect.objectContaining({ analysis: ID, share: 50, by: 'alice', reason: 'approved after the restart' }),
    ]);
    expect(audit.indexOf(approvals[0]!)).toBeLessThan(audit.indexOf(steps[1]!));
    expect(third.decisions).toHaveLength(1);
    expect(third.decisions[0]).toMatchObject({ analysis: ID, outcome: 'promote', manual: { by: 'promotion plan' } });
    expect(first.decisions).toEqual([]);
    expect(second.decisions).toEqual([]);
  }, 90_000);

  it('a share being set when the agent stops is in its last checkpoint: the next agent does not set it again', async () => {
    // samples handed to the agent directly (no network): the stop below comes before their look has run
    const config = `analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }
connectors: [{ name: router, type: noop, options: { kind: traffic } }]
plan: [router]
rollouts:
  - service: cart
    promote: { via: router, steps: [10, 50, 100], minLooksPerStep: 1 }
`;
    const first = await startTestAgent(config, 'promotion-stop');
    cleanups.push(async () => {
      await first.agent.stop();
      rmSync(first.dir, { recursive: true, force: true });
    });
    first.agent.ingest(regressed(0, 100)); // cart 1 vs 2, healthy
    first.agent.ingest(regressed(1, 100)); // closes look 0, the analysis's first: it asks for 10%
    expect(await first.agent.shutdown()).toEqual({ timedOut: false, undone: [] });
    const auditPath = join(first.dir, 'audit.jsonl');
    const steps = () => auditEntries(auditPath).flatMap((e) => (e.type === 'promote-step' ? [e.share] : []));
    expect(steps()).toEqual([10]); // the shutdown waited for it

    const second = await startTestAgent(config, 'promotion-stop', first.dir);
    cleanups.push(() => second.agent.stop());
    expect(second.agent.registry.get('cart:2')?.promotion).toMatchObject({ share: 10, approved: [] });
    second.agent.ingest(regressed(2, 100)); // closes look 1: its look at 10%, so 50% next
    await second.agent.settle();
    expect(steps()).toEqual([10, 50]); // not 10% again
  }, 30_000);
});

describe('an approval and a crash', () => {
  it('an approval is checkpointed when it is given: an agent started after a crash (no final checkpoint) keeps it', async () => {
    const first = await promotionDrive(CONFIG, 'promotion-crash', cleanups);
    await untilAwaiting(first, 12);
    expect((await approve(first, 'approved before the crash')).status).toBe(200);
    // a crash: the first agent writes nothing more (it is not stopped before the next one reads its directory)
    const stateDir = join(first.started.dir, 'vigil-state');
    const files = readdirSync(stateDir);
    expect(files.length).toBeGreaterThan(0);
    const second = await startTestAgent(CONFIG, 'promotion-crash', first.started.dir);
    cleanups.push(() => second.agent.stop());
    expect(second.agent.registry.get(ID)?.promotion).toMatchObject({ share: 10, approved: [50] });
    expect(second.agent.registry.get(ID)?.promotion?.awaiting).toBeUndefined();
  }, 60_000);
});
