/**
 * The audit log read back (src/decide/audit-replay.ts): which rollback plans a restart interrupted and where each
 * goes on, and what each canary version went through. Entries are written as the agent writes them
 * (audit-log.ts recordDecision, plan-runner.ts step and failure entries, pipeline.ts resume).
 */
import { describe, expect, it } from 'vitest';
import type { Decision } from '../../../src/contracts/decision.js';
import { planDecision } from '../../helpers/decisions.js';
import { decisionOf, unfinishedPlans, versionHistory, type AuditEntry } from '../../../src/decide/audit-replay.js';

const decision = (over: Partial<Decision> = {}): Decision =>
  planDecision({ id: 'checkout:1.4.0#1:look-7:rollback', analysis: 'checkout:1.4.0', ...over });

let clock = 0;
const at = (): string => new Date(Date.UTC(2026, 0, 1, 0, 0, clock++)).toISOString();

const decided = (d: Decision): AuditEntry => ({ type: 'decision', ...d, loggedAt: at() });

function action(d: Decision, step: number, over: Record<string, unknown> = {}): AuditEntry {
  return {
    type: 'action',
    decisionId: d.id,
    analysis: d.analysis,
    service: d.service,
    connector: d.plan[step],
    step,
    changed: true,
    detail: `${d.plan[step]} step ${step}`,
    dryRun: d.dryRun,
    attempt: 1,
    loggedAt: at(),
    ...over,
  };
}

const failed = (d: Decision, step: number): AuditEntry => ({
  type: 'action-failed',
  decisionId: d.id,
  analysis: d.analysis,
  service: d.service,
  connector: d.plan[step],
  step,
  dryRun: d.dryRun,
  attempt: 3,
  error: 'vendor rejected the request: 403',
  code: 'VIGIL_ERR_CONNECTOR_HTTP_4XX',
  loggedAt: at(),
});

const resumed = (service: string, canaryVersion: string): AuditEntry => ({
  type: 'resume',
  service,
  canaryVersion,
  by: 'alice',
  reason: 'false alarm',
  loggedAt: at(),
});

const result = (d: Decision, step: number, detail = `${d.plan[step]} step ${step}`) => ({
  connector: d.plan[step],
  changed: true,
  detail,
});

describe('decisionOf', () => {
  it('gives back the recorded decision without the entry type and loggedAt', () => {
    const d = decision({ route: '/cart', late: { baseline: 1, canary: 2 } });
    expect(decisionOf(decided(d))).toEqual(d);
  });

  it('is undefined for other entries and for decision entries missing a field the agent relies on', () => {
    const d = decision();
    expect(decisionOf(action(d, 0))).toBeUndefined();
    const { plan: _plan, ...noPlan } = decided(d);
    expect(decisionOf(noPlan)).toBeUndefined();
    expect(decisionOf({ ...decided(d), outcome: 'explode' })).toBeUndefined();
    expect(decisionOf({ ...decided(d), plan: ['a', 3] })).toBeUndefined();
    expect(decisionOf({ ...decided(d), dryRun: 'no' })).toBeUndefined();
  });
});

/** `unfinishedPlans` without the `loggedAt` of each plan (its own test checks it). */
const unfinished = (entries: readonly AuditEntry[]) => unfinishedPlans(entries).map(({ loggedAt: _, ...p }) => p);

describe('unfinishedPlans', () => {
  it('tells when the plan was decided: the loggedAt of its decision entry, as written', () => {
    const d = decision();
    const entry = { ...decided(d), loggedAt: '2026-03-04T05:06:07.089Z' };
    expect(unfinishedPlans([entry])).toEqual([
      { decision: d, nextStep: 0, done: [], loggedAt: '2026-03-04T05:06:07.089Z' },
    ]);
    const { loggedAt: _, ...undated } = entry;
    expect(unfinishedPlans([undated])).toEqual([{ decision: d, nextStep: 0, done: [] }]);
  });

  it('is empty for an empty log and for a finished plan', () => {
    const d = decision();
    expect(unfinished([])).toEqual([]);
    expect(unfinished([decided(d), action(d, 0), action(d, 1), action(d, 2)])).toEqual([]);
  });

  it('a plan with no step done goes on from step 0; one with steps done from the first step not done, with their results', () => {
    const a = decision({ id: 'a' });
    const b = decision({ id: 'b', service: 'cart', analysis: 'cart:2', canaryVersion: '2' });
    expect(unfinished([decided(a), decided(b), action(b, 0, { detail: 'flag off' }), action(b, 1)])).toEqual([
      { decision: a, nextStep: 0, done: [] },
      { decision: b, nextStep: 2, done: [result(b, 0, 'flag off'), result(b, 1)] },
    ]);
  });

  it('counts steps by index, not by connector name: a connector named three times is three steps', () => {
    const d = decision({ plan: ['hook', 'hook', 'hook'] });
    expect(unfinished([decided(d), action(d, 0, { detail: 'first' })])).toEqual([
      { decision: d, nextStep: 1, done: [{ connector: 'hook', changed: true, detail: 'first' }] },
    ]);
    expect(unfinished([decided(d), action(d, 0), action(d, 1)])).toEqual([
      { decision: d, nextStep: 2, done: [result(d, 0), result(d, 1)] },
    ]);
    expect(unfinished([decided(d), action(d, 0), action(d, 1), action(d, 2)])).toEqual([]);
  });

  it('a step re-run by a retry (its action entry twice) is one step done, with the result of the last run', () => {
    const d = decision();
    const entries = [
      decided(d),
      action(d, 0, { detail: 'run 1', changed: true }),
      action(d, 0, { detail: 'run 2', changed: false, attempt: 2 }),
    ];
    expect(unfinished(entries)).toEqual([
      { decision: d, nextStep: 1, done: [{ connector: 'kill-flag', changed: false, detail: 'run 2' }] },
    ]);
  });

  it('a plan that failed for good stops: never unfinished, whichever step failed', () => {
    const d = decision({ id: 'failed-at-1' });
    const e = decision({ id: 'failed-at-0', service: 'cart', analysis: 'cart:2', canaryVersion: '2' });
    expect(unfinished([decided(d), action(d, 0), failed(d, 1), decided(e), failed(e, 0)])).toEqual([]);
  });

  it('dry-run decisions are recovered too (their plan runs in dry run); test decisions are ignored', () => {
    const dry = decision({ id: 'dry', dryRun: true });
    const test = decision({ id: 'test', test: true, dryRun: true });
    expect(unfinished([decided(dry), action(dry, 0, { changed: false }), decided(test)])).toEqual([
      { decision: dry, nextStep: 1, done: [{ connector: 'kill-flag', changed: false, detail: 'kill-flag step 0' }] },
    ]);
  });

  it('only rollbacks with a plan: promote, abandoned and an empty plan have nothing to finish', () => {
    expect(
      unfinished([
        decided(decision({ id: 'p', outcome: 'promote', plan: [] })),
        decided(decision({ id: 'x', outcome: 'abandoned', plan: [] })),
        decided(decision({ id: 'e', plan: [] })),
      ]),
    ).toEqual([]);
  });

  it('a resume of the version after the decision cancels its unfinished plan; a resume of another version does not', () => {
    const d = decision();
    expect(unfinished([decided(d), action(d, 0), resumed('checkout', '1.4.0')])).toEqual([]);
    expect(unfinished([decided(d), action(d, 0), resumed('checkout', '1.5.0'), resumed('cart', '1.4.0')])).toEqual([
      { decision: d, nextStep: 1, done: [result(d, 0)] },
    ]);
    // resumed before, decided again after: the new decision's plan is unfinished
    expect(unfinished([resumed('checkout', '1.4.0'), decided(d)])).toEqual([{ decision: d, nextStep: 0, done: [] }]);
  });

  it('ignores entries of decisions not read back, of other decisions, and action entries that do not fit the plan', () => {
    const d = decision();
    const entries = [
      action(decision({ id: 'older' }), 0),
      decided(d),
      action(decision({ id: 'other' }), 0),
      failed(decision({ id: 'other' }), 1),
      action(d, 0, { connector: 'shift-traffic' }), // step 0 is kill-flag
      action(d, 0, { step: 7 }),
      action(d, 0, { step: 0.5 }),
      action(d, 0, { changed: 'yes' }),
      action(d, 0, { detail: undefined }),
      { type: 'notify-failed', decisionId: d.id, notifier: 'ops', kind: 'decision' },
    ];
    expect(unfinished(entries)).toEqual([{ decision: d, nextStep: 0, done: [] }]);
  });

  it('a decision id recorded again (ids can repeat across restarts) starts over: later entries belong to it', () => {
    const d = decision();
    const again = decision({ look: 9 });
    const entries = [decided(d), action(d, 0), action(d, 1), action(d, 2), decided(again)];
    expect(unfinished(entries)).toEqual([{ decision: again, nextStep: 0, done: [] }]);
    expect(unfinished([decided(d), action(d, 0), decided(again), action(again, 0), action(again, 1)])).toEqual([
      { decision: again, nextStep: 2, done: [result(again, 0), result(again, 1)] },
    ]);
  });
});

describe('versionHistory', () => {
  it('counts resumes per service and canary version and keeps the last decision after the last resume', () => {
    const first = decision({ id: 'd1' });
    const second = decision({ id: 'd2', look: 12 });
    const third = decision({ id: 'd3', look: 20, outcome: 'promote', plan: [] });
    const cart = decision({ id: 'c1', service: 'cart', analysis: 'cart:2', canaryVersion: '2' });
    const entries = [
      decided(first), // 00:00:00
      resumed('checkout', '1.4.0'), // 01
      decided(cart), // 02
      decided(second), // 03
      resumed('checkout', '1.4.0'), // 04
      decided(third), // 05
    ];
    const stamped = entries.map((e, i) => ({ ...e, loggedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() }));
    expect(versionHistory(stamped)).toEqual([
      {
        service: 'checkout',
        canaryVersion: '1.4.0',
        resumes: 2,
        lastResumeAt: '2026-01-01T00:00:04.000Z',
        lastDecision: third,
        lastDecisionAt: '2026-01-01T00:00:05.000Z',
      },
      {
        service: 'cart',
        canaryVersion: '2',
        resumes: 0,
        lastDecision: cart,
        lastDecisionAt: '2026-01-01T00:00:02.000Z',
      },
    ]);
  });

  it('a version resumed after its last decision has no decision since', () => {
    const d = decision();
    const entries = [decided(d), { ...resumed('checkout', '1.4.0'), loggedAt: '2026-01-02T00:00:00.000Z' }];
    expect(versionHistory(entries)).toEqual([
      { service: 'checkout', canaryVersion: '1.4.0', resumes: 1, lastResumeAt: '2026-01-02T00:00:00.000Z' },
    ]);
  });

  it('ignores test decisions, malformed entries and other entry types', () => {
    const d = decision();
    expect(
      versionHistory([
        decided(decision({ id: 't', test: true })),
        { type: 'resume', service: 'checkout' },
        { type: 'decision', id: 'broken' },
        action(d, 0),
        { type: 'notify-failed', decisionId: d.id },
      ]),
    ).toEqual([]);
  });
});
