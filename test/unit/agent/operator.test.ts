/** operate (src/agent/operator.ts): what goes to the audit log for each action, and an action the audit log could not
 *  record is undone. */
import { describe, expect, it } from 'vitest';
import { operate, type OperatorDeps } from '../../../src/agent/operator.js';
import type { AnalysisSnapshot } from '../../../src/analysis/analysis-registry.js';

const snap = (over: Partial<AnalysisSnapshot> = {}) =>
  ({ id: 'cart:2', service: 'cart', canaryVersion: '2', phase: 'running', ...over }) as AnalysisSnapshot;

function deps(state: { paused?: AnalysisSnapshot['paused']; phase?: AnalysisSnapshot['phase'] }, failAudit = false) {
  const calls: string[] = [];
  const entries: Record<string, unknown>[] = [];
  const d: OperatorDeps = {
    registry: {
      get: (id) => (id === 'cart:2' ? snap({ ...state }) : undefined),
      operate: (id, action, note) => {
        calls.push(`${action} ${note.by}`);
        if (action === 'pause') state.paused = note;
        if (action === 'unpause') delete state.paused;
        return { changed: true, analysis: snap({ ...state }) };
      },
    },
    audit: {
      append: async (e) => {
        if (failAudit) throw new Error('ENOSPC: no space left on device');
        entries.push(e);
      },
    },
    resumeVersion: async (service, version, { by, reason, token, analysis, atUnixMs }) => {
      calls.push(`resumeVersion ${service} ${version} ${by} ${reason} ${token} ${analysis} ${atUnixMs}`);
      return true;
    },
    dispatched: async () => undefined,
    now: () => 1_000,
  };
  return { d, calls, entries };
}

const who = { by: 'alice', reason: 'why not', token: 'ops' };

describe('operate', () => {
  it('a pause is written with who, why, token and time; a resume of a decided analysis resumes its version', async () => {
    const { d, entries, calls } = deps({});
    expect(await operate(d, 'cart:2', 'pause', who)).toMatchObject({ status: 'done', action: 'pause', changed: true });
    expect(entries).toEqual([
      { type: 'pause', analysis: 'cart:2', service: 'cart', canaryVersion: '2', ...who, atUnixMs: 1_000 },
    ]);
    const decided = deps({ phase: 'rollback' });
    expect(await operate(decided.d, 'cart:2', 'resume', who)).toMatchObject({ status: 'done', changed: true });
    expect(decided.calls).toEqual(['resumeVersion cart 2 alice why not ops cart:2 1000']); // the action's own time
    expect(calls).toEqual(['pause alice']);
    expect(await operate(d, 'nope', 'pause', who)).toEqual({ status: 'unknown' });
  });

  it('a pause (or its lifting) the audit log could not record is undone, and the error goes to the caller', async () => {
    const state: { paused?: AnalysisSnapshot['paused'] } = {};
    const { d, calls } = deps(state, true);
    await expect(operate(d, 'cart:2', 'pause', who)).rejects.toThrow(/ENOSPC/);
    expect(calls).toEqual(['pause alice', 'unpause alice']);
    expect(state.paused).toBeUndefined();
    const earlier = { ...who, by: 'bob', atUnixMs: 5 };
    const paused: { paused?: AnalysisSnapshot['paused'] } = { paused: earlier };
    const again = deps(paused, true);
    await expect(operate(again.d, 'cart:2', 'resume', who)).rejects.toThrow(/ENOSPC/);
    expect(again.calls).toEqual(['unpause alice', 'pause bob']); // paused again, by the pause that stood
    expect(paused.paused).toEqual(earlier);
  });
});
