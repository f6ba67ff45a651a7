/**
 * The start's recovery (src/agent/recovery.ts) with a stand-in runner: which plans are handed on, what a plan that
 * cannot be enqueued does to the others, the age bound, and the counts it reports and exports.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reconcileAnalyses, recoverFromAudit, type RecoveryDeps } from '../../../src/agent/recovery.js';
import type { Decision } from '../../../src/contracts/decision.js';
import { createAuditLog } from '../../../src/decide/audit-log.js';
import { createMetrics } from '../../../src/http/metrics.js';
import { captureLogs } from '../../helpers/log-lines.js';

const NOW = Date.UTC(2026, 5, 1, 12);

function decision(id: string): Decision {
  return {
    id,
    analysis: `a-${id}`,
    service: 'cart',
    outcome: 'rollback',
    reason: 'r',
    canaryVersion: id,
    baselineVersion: '1',
    look: 1,
    eventTimeUnixMs: 0,
    verdicts: [],
    configHash: 'h',
    plan: ['flag', 'router'],
    dryRun: false,
  };
}

function logWith(lines: object[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'vigil-recovery-')), 'audit.jsonl');
  writeFileSync(path, lines.map((l) => `${JSON.stringify(l)}\n`).join('') + '{"type":"act');
  return path;
}

const decided = (d: Decision, agoMs: number) => ({
  type: 'decision',
  ...d,
  loggedAt: new Date(NOW - agoMs).toISOString(),
});

async function run(path: string, over: Partial<RecoveryDeps> = {}) {
  const calls: string[] = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const logs = captureLogs('info');
  const audit = createAuditLog(path);
  const report = await recoverFromAudit({
    audit,
    runner: {
      recover: (d, nextStep) => {
        calls.push(`${d.id}@${nextStep}`);
        if (d.id === 'boom') return Promise.reject(new Error('redis is down'));
        return Promise.resolve({ added: d.id !== 'queued' });
      },
    },
    logger: logs.logger,
    metrics,
    recoverPlans: true,
    now: () => NOW,
    ...over,
  });
  const exported = (await metrics.registry.getSingleMetricAsString('vigil_plans_recovered_total'))
    .split('\n')
    .filter((l) => !l.startsWith('#'));
  return { calls, report, exported, logs: logs.parsed(), audit };
}

describe('recoverFromAudit', () => {
  const path = logWith([
    decided(decision('old'), 24 * 3600_000 + 1),
    decided(decision('boom'), 60_000),
    decided(decision('fresh'), 24 * 3600_000),
    { type: 'action', decisionId: 'fresh', step: 0, connector: 'flag', changed: true, detail: 'd' },
    decided(decision('queued'), 1_000),
  ]);

  it('hands every plan young enough to the runner, in order; one that fails to enqueue does not stop the others', async () => {
    const { calls, report, exported, logs, audit } = await run(path);
    expect(calls).toEqual(['boom@0', 'fresh@1', 'queued@0']);
    expect(report).toEqual({
      entries: 5,
      skippedLines: 1,
      torn: true,
      from: 0,
      decisions: 4,
      plansEnqueued: 1,
      plansAlreadyQueued: 1,
      plansFailed: 1,
      plansTooOld: 1,
      versionsDecided: 0,
      versionsResumed: 0,
      pausesApplied: 0,
      decisionsRedispatched: 0,
    });
    expect(exported).toEqual([
      'vigil_plans_recovered_total{outcome="too_old"} 1',
      'vigil_plans_recovered_total{outcome="error"} 1',
      'vigil_plans_recovered_total{outcome="enqueued"} 1',
      'vigil_plans_recovered_total{outcome="already_queued"} 1',
    ]);
    expect(logs.filter((l) => (l.level as number) >= 40).map((l) => [l.level, l.decisionId, l.msg])).toEqual([
      [40, 'old', 'an interrupted rollback plan is too old to be finished automatically: finish or drop it by hand'],
      [50, 'boom', 'an interrupted rollback plan could not be enqueued again; the next start tries again'],
      [
        40,
        undefined,
        'audit log read back: 4 decision(s) restored, 4 interrupted rollback plan(s) found, 1 unreadable line(s) skipped (the last one torn by a crash)',
      ],
    ]);
    expect(audit.recentDecisions().map((d) => d.id)).toEqual(['old', 'boom', 'fresh', 'queued']);
  });

  it('without recoverPlans, only restores the decisions list', async () => {
    const { calls, report, exported, audit } = await run(path, { recoverPlans: false });
    expect(calls).toEqual([]);
    expect(report).toMatchObject({ decisions: 4, plansEnqueued: 0, plansTooOld: 0, plansFailed: 0 });
    expect(exported).toEqual([]);
    expect(audit.recentDecisions()).toHaveLength(4);
  });

  it('maxAgeMs moves the bound; a decision entry without loggedAt counts as too old', async () => {
    expect((await run(path, { maxAgeMs: 30 * 3600_000 })).calls).toEqual(['old@0', 'boom@0', 'fresh@1', 'queued@0']);
    const { loggedAt: _, ...undated } = decided(decision('undated'), 0);
    expect((await run(logWith([undated]))).report).toMatchObject({ plansTooOld: 1, plansEnqueued: 0 });
  });
});

describe('reconcileAnalyses: what the audit log recorded after the checkpoint', () => {
  const entry = (d: Decision) => ({ type: 'decision', ...d, loggedAt: new Date(NOW).toISOString() });
  const resume = (version: string) => ({
    type: 'resume',
    service: 'cart',
    canaryVersion: version,
    by: 'op',
    reason: 'r',
  });

  it('resumes, then the last decision after them, then the unrecorded decisions not in the log', () => {
    const calls: string[] = [];
    const registry = {
      resumeTo: (service: string, version: string, n: number) => (calls.push(`resumeTo ${version} ${n}`), n > 0),
      markDecided: (d: Decision) => (calls.push(`decided ${d.id}`), d.id !== 'known'),
      pauseTo: (id: string, p: { paused: unknown; atUnixMs: number }) => (
        calls.push(`pauseTo ${id} ${p.paused ? 'paused' : 'unpaused'} ${p.atUnixMs}`),
        true
      ),
    };
    const dispatched: string[] = [];
    const [a1, a2, b, known, lost] = ['a1', 'a2', 'b', 'known', 'lost'].map((id) => ({
      ...decision(id),
      canaryVersion: id.startsWith('a') ? 'A' : id,
    }));
    const out = reconcileAnalyses({ registry, unrecorded: [b!, lost!], dispatch: (d) => dispatched.push(d.id) }, [
      entry(a1!),
      resume('A'),
      entry(a2!),
      entry(b!),
      entry(known!),
      {
        type: 'pause',
        analysis: 'x',
        service: 's',
        canaryVersion: 'A',
        by: 'al',
        reason: 'look',
        token: 't',
        atUnixMs: 5,
      },
      {
        type: 'unpause',
        analysis: 'x',
        service: 's',
        canaryVersion: 'A',
        by: 'al',
        reason: 'ok',
        token: 't',
        atUnixMs: 9,
      },
      { type: 'pause', analysis: 'y', service: 's', canaryVersion: 'B', by: 'bo', reason: 'hm', atUnixMs: 7 },
      { type: 'pause', analysis: 'z', service: 's', canaryVersion: 'C', by: 'bo', reason: 'no time' },
    ]);
    // A: one resume, then a2 (a1 came before the resume); b and known: no resume
    expect(calls).toEqual([
      'resumeTo A 1',
      'decided a2',
      'resumeTo b 0',
      'decided b',
      'resumeTo known 0',
      'decided known',
      // the last pause or unpause of each analysis (x: lifted at 9); an entry without its time is not applied
      'pauseTo x unpaused 9',
      'pauseTo y paused 7',
    ]);
    expect(out).toEqual({ versionsDecided: 2, versionsResumed: 1, pausesApplied: 2, decisionsRedispatched: 1 });
    expect(dispatched).toEqual(['lost']); // b is in the log already
  });
});
