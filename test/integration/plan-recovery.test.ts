/**
 * Plans a restart interrupted are finished from the audit log, exactly once: a real agent (createAgent with
 * `recoverPlans`, as `vigil serve` composes it), real webhook connectors and notifier posting to a real local HTTP
 * peer, an audit log written by hand as the agent writes it; the embedded queue, then BullMQ on the real Redis
 * (test/setup/global-redis.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Decision } from '../../src/contracts/decision.js';
import { readAuditTail } from '../../src/decide/audit-log.js';
import { createBullmqQueue } from '../../src/jobs/bullmq-queue.js';
import { stepJobId } from '../../src/jobs/plan-job-ids.js';
import type { StepJob } from '../../src/jobs/plan-runner.js';
import { silentLogger } from '../../src/logger.js';
import { createAgent, type Agent } from '../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { runReplay } from '../../src/replay/run-replay.js';
import { HttpPeer, type RecordedRequest } from '../helpers/http-peer.js';
import { captureLogs } from '../helpers/log-lines.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PLAN = ['flag', 'router', 'deploy'];

function decision(id: string, over: Partial<Decision> = {}): Decision {
  return {
    id,
    analysis: 'cart:2',
    service: 'cart',
    outcome: 'rollback',
    reason: 'error rate doubled',
    canaryVersion: '2',
    baselineVersion: '1',
    look: 4,
    eventTimeUnixMs: 1_767_225_640_000,
    verdicts: [],
    configHash: 'cfg',
    plan: PLAN,
    dryRun: false,
    ...over,
  };
}

/** The lines the agent writes: its decision, then one `action` entry per step done; logged a minute ago unless
 *  `agoMs` says otherwise. */
function auditLines(entries: { d: Decision; stepsDone: number; agoMs?: number }[]): string {
  const lines: object[] = [];
  for (const { d, stepsDone, agoMs = 60_000 } of entries) {
    const loggedAt = new Date(Date.now() - agoMs).toISOString();
    lines.push({ type: 'decision', ...d, loggedAt });
    for (let step = 0; step < stepsDone; step++) {
      lines.push({
        type: 'action',
        decisionId: d.id,
        analysis: d.analysis,
        service: d.service,
        connector: d.plan[step],
        step,
        changed: true,
        detail: `POSTed before the restart (step ${step})`,
        dryRun: false,
        attempt: 1,
        loggedAt,
      });
    }
  }
  return lines.map((l) => `${JSON.stringify(l)}\n`).join('');
}

function config(peer: HttpPeer, auditPath: string, queue = ''): string {
  const hooks = PLAN.map((c) => `  - { name: ${c}, type: webhook, options: { url: "${peer.url}/${c}" } }`).join('\n');
  return `audit: { path: "${auditPath}" }
server: { auth: { open: true } }
connectors:
${hooks}
notifiers:
  - { name: chat, type: webhook, options: { url: "${peer.url}/notify" } }
plan: [${PLAN.join(', ')}]
${queue}`;
}

async function startAgent(yaml: string, logger = silentLogger()): Promise<Agent> {
  const agent = createAgent({
    loaded: parseConfig(yaml, 'recovery.yaml', BUILTIN_REGISTRIES, {}),
    registries: BUILTIN_REGISTRIES,
    logger,
    ports: { otlpHttp: 0, otlpGrpc: 0, api: 0 },
    recoverPlans: true,
  });
  await agent.start();
  cleanups.push(() => agent.stop());
  return agent;
}

/** What the peer received: rollback events per connector (path) and decision id, notifications by kind. */
function received(reqs: readonly RecordedRequest[]): { steps: string[]; notifications: string[] } {
  const steps: string[] = [];
  const notifications: string[] = [];
  for (const r of reqs) {
    const event = JSON.parse(r.text) as { id: string; type: string };
    if (r.path === '/notify') notifications.push(event.type.replace('dev.vigil.notification.', ''));
    else steps.push(`${event.id} ${r.path.slice(1)}`);
  }
  return { steps, notifications };
}

async function metric(agent: Agent, name: string): Promise<string[]> {
  const text = (await agent.apiApp.inject('/metrics')).body;
  return text.split('\n').filter((l) => l.startsWith(name));
}

describe('plans interrupted by a restart (embedded queue)', () => {
  it('runs the steps not done exactly once, then nothing on the next start; the decisions list survives', async () => {
    const peer = await HttpPeer.start();
    cleanups.push(() => peer.close());
    const dir = mkdtempSync(join(tmpdir(), 'vigil-recover-'));
    const auditPath = join(dir, 'audit.jsonl');
    const d = decision('cart:2#1:look-4:rollback');
    const finished = decision('cart:3#1:look-2:rollback', { analysis: 'cart:3', canaryVersion: '3' });
    const stale = decision('shop:9#1:look-5:rollback', { analysis: 'shop:9', service: 'shop', canaryVersion: '9' });
    writeFileSync(
      auditPath,
      auditLines([
        { d: stale, stepsDone: 1, agoMs: 25 * 3600_000 }, // interrupted 25 h ago: too old to finish by itself
        { d: finished, stepsDone: 3 },
        { d, stepsDone: 1 },
      ]),
    );

    const logs = captureLogs('info');
    const first = await startAgent(config(peer, auditPath), logs.logger);
    await first.settle();
    expect(received(peer.requests)).toEqual({
      steps: [`${d.id} router`, `${d.id} deploy`], // step 0 not again; the finished plan not at all
      notifications: ['plan-completed'], // no 'decision' notification again: step 0 had run
    });
    const completed = JSON.parse(peer.requests.find((r) => r.path === '/notify')!.text) as {
      data: { steps: { connector: string; detail: string }[] };
    };
    expect(completed.data.steps.map((s) => [s.connector, s.detail.startsWith('POSTed before the restart')])).toEqual([
      ['flag', true],
      ['router', false],
      ['deploy', false],
    ]);
    expect((await metric(first, 'vigil_plans_recovered_total')).sort()).toEqual([
      'vigil_plans_recovered_total{outcome="enqueued"} 1',
      'vigil_plans_recovered_total{outcome="too_old"} 1',
    ]);
    const warned = logs.parsed().filter((l) => l.level === 40 && /rollback plan|audit log/.test(String(l.msg)));
    expect(warned.map((l) => [l.decisionId, l.step, String(l.msg).split(':')[0]])).toEqual([
      [stale.id, 1, 'an interrupted rollback plan is too old to be finished automatically'],
      [d.id, 1, 'resuming a rollback plan interrupted by a restart'],
      [undefined, undefined, 'audit log read back'],
    ]);
    const listed = (await first.apiApp.inject('/api/v1/decisions')).json<{ decisions: Decision[] }>().decisions;
    expect(listed.map((x) => x.id)).toEqual([stale.id, finished.id, d.id]);
    expect((await first.apiApp.inject(`/api/v1/decisions/${encodeURIComponent(d.id)}`)).json()).toEqual(d);
    await first.stop();

    const steps = (await readAuditTail(auditPath)).entries
      .filter((e) => e.type === 'action' && e.decisionId === d.id)
      .map((e) => e.step);
    expect(steps).toEqual([0, 1, 2]);

    const before = peer.requests.length;
    const second = await startAgent(config(peer, auditPath));
    await second.settle();
    expect(peer.requests.slice(before)).toEqual([]);
    expect(await metric(second, 'vigil_plans_recovered_total')).toEqual([
      'vigil_plans_recovered_total{outcome="too_old"} 1',
    ]);
    expect(second.audit.recentDecisions().map((x) => x.id)).toEqual([stale.id, finished.id, d.id]);
  });
});

describe('vigil replay', () => {
  it('never finishes a plan of the audit log it writes to: only the agent does', async () => {
    const peer = await HttpPeer.start();
    cleanups.push(() => peer.close());
    const dir = mkdtempSync(join(tmpdir(), 'vigil-recover-'));
    const auditPath = join(dir, 'audit.jsonl');
    const text = auditLines([{ d: decision('cart:2#1:look-4:rollback'), stepsDone: 1 }]);
    writeFileSync(auditPath, text);
    const recording = join(dir, 'recording.jsonl');
    writeFileSync(recording, '');
    const out: string[] = [];
    const summary = await runReplay({
      loaded: parseConfig(config(peer, auditPath), 'recovery.yaml', BUILTIN_REGISTRIES, {}),
      registries: BUILTIN_REGISTRIES,
      files: [recording],
      logger: silentLogger(),
      format: 'json',
      out: (l) => out.push(l),
      auditPath,
    });
    expect(summary.lines).toBe(0);
    expect(readFileSync(auditPath, 'utf8')).toBe(text); // no action entry: no step ran, not even in dry run
    expect(peer.requests).toEqual([]);
  });
});

describe('plans interrupted by a restart (BullMQ on Redis)', () => {
  const redisUrl = inject('redisUrl');

  it('a step whose job is still in Redis is not enqueued again: run once by the worker, or never when it ran', async () => {
    const peer = await HttpPeer.start();
    cleanups.push(() => peer.close());
    const prefix = `vigil-test-${randomUUID()}`;
    cleanups.push(async () => {
      for (const name of ['actions', 'notifications']) {
        const admin = new Queue(name, { connection: { url: redisUrl }, prefix });
        await admin.obliterate({ force: true });
        await admin.close();
      }
    });
    const dir = mkdtempSync(join(tmpdir(), 'vigil-recover-'));
    const auditPath = join(dir, 'audit.jsonl');
    // ran: its step 1 job completed in Redis before the restart; waiting: its step 1 job was enqueued, never taken
    const ran = decision('cart:2#1:look-4:rollback');
    const waiting = decision('shop:7#1:look-3:rollback', { analysis: 'shop:7', service: 'shop', canaryVersion: '7' });
    writeFileSync(
      auditPath,
      auditLines([
        { d: ran, stepsDone: 1 },
        { d: waiting, stepsDone: 1 },
      ]),
    );
    const policy = { attempts: 1, backoffMs: 10 };
    const done = [{ connector: 'flag', changed: true, detail: 'before' }];
    const job = (d: Decision) => ({ id: stepJobId(d, 1), name: 'rollback-step', data: { decision: d, step: 1, done } });
    // before the restart: `ran`'s step 1 job was taken and completed (by a stand-in that does nothing) ...
    const before = createBullmqQueue<StepJob>('actions', policy, { connection: redisUrl, prefix });
    expect(await before.add(job(ran))).toEqual({ added: true });
    const handled: string[] = [];
    before.process(async (j) => {
      handled.push(j.data.decision.id);
    });
    await before.drain(10_000);
    await before.close();
    expect(handled).toEqual([ran.id]);
    // ... and `waiting`'s step 1 job was enqueued, then the process died before a worker took it
    const enqueuer = createBullmqQueue<StepJob>('actions', policy, { connection: redisUrl, prefix });
    expect(await enqueuer.add(job(waiting))).toEqual({ added: true });
    await enqueuer.close();

    const logs = captureLogs('info');
    const agent = await startAgent(
      config(peer, auditPath, `queue: { redis: "${redisUrl}", prefix: "${prefix}" }`),
      logs.logger,
    );
    await waitUntil(() => received(peer.requests).steps.length >= 2, 20_000);
    await agent.settle();
    expect(received(peer.requests)).toEqual({
      steps: [`${waiting.id} router`, `${waiting.id} deploy`],
      notifications: ['plan-completed'],
    });
    const lines = logs.parsed();
    expect(lines.filter((l) => String(l.msg).includes('job refused'))).toEqual([]);
    expect(lines.filter((l) => l.level === 50)).toEqual([]);
    expect(
      lines
        .filter((l) => String(l.msg).startsWith('plan already queued'))
        .map((l) => [l.level, l.decisionId, l.jobId])
        .sort(),
    ).toEqual([
      [30, ran.id, stepJobId(ran, 1)],
      [30, waiting.id, stepJobId(waiting, 1)],
    ]);
    expect(await metric(agent, 'vigil_plans_recovered_total')).toEqual([
      'vigil_plans_recovered_total{outcome="already_queued"} 2',
    ]);
    expect(await metric(agent, 'vigil_jobs_refused_total')).toEqual([]);
  });
});

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}
