/**
 * The registry's operator actions (manual.ts): pause holds a look's decision (recorded as `held` in the look history),
 * unpause lets the next look decide, a decision by hand is dispatched like a look's (plan, manual note, storm guard
 * not applied), checkpoints keep all of it, and the audit log's later pause or unpause wins at a restart.
 */
import { serialize, deserialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { AnalysisRegistry } from '../../../src/analysis/analysis-registry.js';
import type { Decision, Detector, RequestSample } from '../../../src/contracts/index.js';
import { decisionId } from '../../../src/decide/engine.js';
import { oneMetric, registrySettings } from '../../helpers/registry-settings.js';

/** Fails once the canary's running error count reaches `failAt`; its estimate is the look index, threshold 1.5. */
function detector(failAt: number): Detector<null> {
  return {
    type: 'test',
    name: 'errors',
    threshold: 1.5,
    init: () => null,
    look: (_s, input) => {
      const fail = input.totals.canary.errors >= failAt;
      return {
        state: null,
        verdict: {
          detector: 'test',
          metric: 'errors',
          phase: fail ? 'fail' : 'inconclusive',
          pValue: fail ? 0.001 : 0.5,
          estimate: input.look,
          lower: input.look - 1,
          samples: { baseline: input.totals.baseline.requests, canary: input.totals.canary.requests },
          summary: fail ? 'too many errors' : 'ok',
        },
      };
    },
  };
}

const settings = (failAt: number) =>
  // the storm guard holds every automatic plan: a person's rollback is not held
  registrySettings(oneMetric(detector(failAt)), { planFor: () => ['hook'], maxRollbacks: 0 });

const T0 = 1_767_225_600_000;
/** One look's requests: 3 per cohort, the canary's all failing when `bad`. */
function look(i: number, bad = false): RequestSample[] {
  const out: RequestSample[] = [];
  for (let k = 0; k < 3; k++) {
    const t = T0 + i * 10_000 + k;
    out.push({ service: 'cart', version: '1', cohort: 'baseline', endUnixMs: t, durationMs: 5, error: false });
    out.push({ service: 'cart', version: '2', cohort: 'canary', endUnixMs: t, durationMs: 5, error: bad });
  }
  return out;
}

const note = (by: string, atUnixMs: number) => ({ by, reason: `${by} says so`, token: 'tok', atUnixMs });

function registry(failAt: number) {
  const decisions: Decision[] = [];
  const reg = new AnalysisRegistry(settings(failAt), { onDecision: (d) => decisions.push(d) });
  return { reg, decisions };
}

describe('operator actions on the registry', () => {
  it('a paused analysis keeps looking and holds its rollback; unpaused, the next look decides', () => {
    const { reg, decisions } = registry(3);
    reg.ingest(look(0));
    const id = reg.list()[0]!.id;
    expect(reg.operate(id, 'pause', note('alice', 1))).toMatchObject({
      changed: true,
      analysis: { paused: note('alice', 1) },
    });
    expect(reg.operate(id, 'pause', note('bob', 2))).toMatchObject({
      changed: false,
      analysis: { paused: { by: 'alice' } },
    });
    for (let i = 1; i < 5; i++) reg.ingest(look(i, true));
    expect(decisions).toEqual([]);
    const history = reg.history(id)!;
    expect(history.map((p) => [p.look, p.held ?? null])).toEqual([
      [1, null],
      [2, 'rollback'],
      [3, 'rollback'],
      [4, 'rollback'],
    ]);
    expect(history[1]).toEqual({
      look: 2,
      atUnixMs: T0 + 20_000,
      requests: { baseline: 3, canary: 3 },
      errors: { baseline: 0, canary: 3 },
      metrics: [{ metric: 'errors', phase: 'fail', pValue: 0.001, alpha: 0.05, estimate: 2, lower: 1, threshold: 1.5 }],
      held: 'rollback',
    });
    expect(reg.get(id)!.why).toBe(
      'paused by alice (alice says so): nothing is decided until it is resumed; its last look would have decided rollback: canary is worse: errors: too many errors (storm guard: 0 rollbacks of cart within the window; plan held)',
    );
    expect(reg.operate(id, 'unpause', note('alice', 3))).toMatchObject({ changed: true });
    reg.ingest(look(5, true));
    expect(decisions.map((d) => [d.outcome, d.look, d.manual ?? null])).toEqual([['rollback', 5, null]]);
    expect(reg.history(id)!.at(-1)!.decided).toBe('rollback');
  });

  it('a rollback by hand: the plan runs whatever the storm guard, the note is on the decision, the analysis is decided', () => {
    const { reg, decisions } = registry(Infinity);
    reg.ingest(look(0));
    reg.ingest(look(1));
    const id = reg.list()[0]!.id;
    reg.operate(id, 'pause', note('alice', 1));
    const r = reg.operate(id, 'rollback', note('bob', 2));
    expect(r).toMatchObject({ changed: true, analysis: { phase: 'rollback' } });
    expect(r && 'analysis' in r ? r.analysis.paused : 'x').toBeUndefined(); // a decision ends the pause
    expect(decisions).toEqual([
      expect.objectContaining({
        id: decisionId(id, 1, 'rollback'),
        outcome: 'rollback',
        reason: 'rollback by hand: bob: bob says so',
        plan: ['hook'],
        look: 1,
        eventTimeUnixMs: T0 + 10_000 + 2, // the service's watermark
        manual: note('bob', 2),
        used: { baseline: 1, canary: 1 },
      }),
    ]);
    expect(reg.operate(id, 'promote', note('carol', 3))).toEqual({
      refused: `analysis ${id} is already decided (rollback, decision ${decisionId(id, 1, 'rollback')})`,
    });
    expect(reg.operate('nope', 'pause', note('x', 4))).toBeUndefined();
  });

  it("a checkpoint keeps the pause and the looks; the audit log's later pause or unpause wins at a restart", () => {
    const { reg } = registry(Infinity);
    reg.ingest(look(0));
    reg.ingest(look(1));
    const id = reg.list()[0]!.id;
    reg.operate(id, 'pause', note('alice', 100));
    const restored = new AnalysisRegistry(settings(Infinity), { onDecision: () => undefined });
    restored.importState(deserialize(serialize(reg.exportState())) as ReturnType<typeof reg.exportState>);
    expect(restored.get(id)!.paused).toEqual(note('alice', 100));
    expect(restored.history(id)).toEqual(reg.history(id));
    // an entry older than the checkpoint's own action changes nothing; a later unpause, then a later pause, apply
    expect(restored.pauseTo(id, { paused: undefined, atUnixMs: 50 })).toBe(false);
    expect(restored.pauseTo(id, { paused: undefined, atUnixMs: 150 })).toBe(true);
    expect(restored.get(id)!.paused).toBeUndefined();
    expect(restored.pauseTo(id, { paused: note('bob', 200), atUnixMs: 200 })).toBe(true);
    expect(restored.get(id)!.paused).toEqual(note('bob', 200));
    expect(restored.pauseTo(id, { paused: note('bob', 200), atUnixMs: 200 })).toBe(false);
  });
});
