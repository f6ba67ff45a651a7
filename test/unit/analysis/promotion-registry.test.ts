/**
 * The promotion record in the registry (issue 17): `keepPromotion` stores where a rollout stands in the analysis, with
 * a ShareSpan per share set (certain from the service's latest event time plus the allowed lateness); each look's
 * detectors are told the share its window was served at (none for a window a change may have split); the snapshot
 * shows it; a checkpoint keeps it.
 */
import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { AnalysisRegistry } from '../../../src/analysis/analysis-registry.js';
import { newPromotion, shareSet } from '../../../src/analysis/promotion.js';
import { GATE_ALPHA } from '../../../src/analysis/step-gate.js';
import type { Detector, RequestSample } from '../../../src/contracts/index.js';
import { oneMetric, registrySettings } from '../../helpers/registry-settings.js';

const T0 = 1_767_225_600_000; // a multiple of the 10 s interval

/** Records the expected canary share each look of the analysis was given (null: none); the step gate's looks (at
 *  GATE_ALPHA) are not recorded. */
function recorder(seen: (number | null)[]): Detector<null> {
  return {
    type: 'test',
    name: 'srm-like',
    init: () => null,
    look: (_s, input, alpha) => {
      if (alpha !== GATE_ALPHA) seen.push(input.expectedCanaryShare ?? null);
      const samples = { baseline: input.totals.baseline.requests, canary: input.totals.canary.requests };
      return {
        state: null,
        verdict: { detector: 'test', metric: 'srm', phase: 'inconclusive', pValue: 1, samples, summary: '' },
      };
    },
  };
}

/** Look i's requests, the last ending `tailMs` into the window. */
function look(i: number, tailMs = 9_000): RequestSample[] {
  const out: RequestSample[] = [];
  for (const t of [T0 + i * 10_000 + 1, T0 + i * 10_000 + tailMs]) {
    out.push({ service: 'cart', version: '1', cohort: 'baseline', endUnixMs: t, durationMs: 5, error: false });
    out.push({ service: 'cart', version: '2', cohort: 'canary', endUnixMs: t, durationMs: 5, error: false });
  }
  return out;
}

const PLAN = { via: 'router', steps: [5, 25, 100], minLooksPerStep: 1, approve: [] };

describe('the promotion record in the registry', () => {
  it('tells each look the share its window was served at, shows the rollout, and survives a checkpoint', () => {
    const seen: (number | null)[] = [];
    const settings = registrySettings(oneMetric(recorder(seen)), {
      allowedLatenessMs: 2_000,
      expectedCanaryShare: () => 0.5,
    });
    const reg = new AnalysisRegistry(settings, { onDecision: () => undefined });
    for (let i = 0; i < 3; i++) reg.ingest(look(i));
    const a = reg.list()[0]!;
    expect(reg.promotion(a.id)).toBeUndefined();
    // the plan sets 5% after the look it just saw; the latest event time is look 2's last request (T0 + 29 s)
    const facts = { look: a.look, samples: { baseline: 2, canary: 2 }, verdicts: [] };
    const r = { ...newPromotion(PLAN), state: shareSet(newPromotion(PLAN).state, 0, facts) };
    expect(reg.keepPromotion(a.id, r, { percent: 5, afterLook: a.look })).toBe(true);
    const after = T0 + (a.look + (a.startedAtUnixMs - T0) / 10_000) * 10_000;
    expect(reg.promotion(a.id)!.shares).toEqual([{ percent: 5, afterUnixMs: after, fromUnixMs: T0 + 29_000 + 2_000 }]);
    expect(reg.get(a.id)!.promotion).toEqual({ steps: [5, 25, 100], share: 5, approved: [] });
    const before = seen.length;
    for (let i = 3; i < 8; i++) reg.ingest(look(i));
    // windows [20 s, 30 s) and [30 s, 40 s) may hold requests served before the change (certain from 31 s): no share;
    // the later ones were served at 5%
    expect(seen.slice(before)).toEqual([null, null, 0.05, 0.05, 0.05]);
    expect(seen.slice(0, before).every((s) => s === 0.5)).toBe(true); // the config's before the plan moved it

    const restored = new AnalysisRegistry(settings, { onDecision: () => undefined });
    restored.importState(deserialize(serialize(reg.exportState())) as ReturnType<typeof reg.exportState>);
    expect(restored.promotion(a.id)).toEqual(reg.promotion(a.id));
    // the step gate ran on the five looks at 5%, and found nothing worse
    const shown = { steps: [5, 25, 100], share: 5, approved: [], gate: { looks: 5, worse: [] } };
    expect(reg.get(a.id)!.promotion).toEqual(shown);
    expect(restored.get(a.id)!.promotion).toEqual(shown);
    expect(reg.keepPromotion('cart:nope', r)).toBe(false);
  });
});

describe("a promotion plan's analysis and the decision engine's promotion", () => {
  /** Every look passes: the decision engine would promote at once. */
  const passing: Detector<null> = {
    type: 'test',
    name: 'errors',
    init: () => null,
    look: (_s, input) => ({
      state: null,
      verdict: {
        detector: 'test',
        metric: 'errors',
        phase: 'pass',
        pValue: 1,
        samples: { baseline: input.totals.baseline.requests, canary: input.totals.canary.requests },
        summary: 'fine',
      },
    }),
  };

  it('is held while the last share is not in place (the share would stay where it is), then promotes', () => {
    const decisions: string[] = [];
    const settings = registrySettings(oneMetric(passing), { promotionSteps: () => PLAN.steps });
    const reg = new AnalysisRegistry(settings, { onDecision: (d) => decisions.push(d.outcome) });
    for (let i = 0; i < 4; i++) reg.ingest(look(i));
    const a = reg.list()[0]!;
    expect(decisions).toEqual([]);
    expect(a.phase).toBe('running');
    expect(a.why).toBe(
      "every metric's bounds exclude harm: the promotion plan moves the share on, and promotes after its last step",
    );
    const facts = (look: number) => ({ look, samples: { baseline: 2, canary: 2 }, verdicts: [] });
    const at25 = shareSet(newPromotion(PLAN).state, 1, facts(a.look));
    reg.keepPromotion(a.id, { ...newPromotion(PLAN), state: at25 }, { percent: 25, afterLook: a.look });
    for (let i = 4; i < 6; i++) reg.ingest(look(i));
    expect(decisions).toEqual([]);
    const at100 = shareSet(at25, 2, facts(reg.get(a.id)!.look));
    reg.keepPromotion(
      a.id,
      { ...reg.promotion(a.id)!, state: at100 },
      { percent: 100, afterLook: reg.get(a.id)!.look },
    );
    reg.ingest(look(6));
    reg.ingest(look(7));
    expect(decisions).toEqual(['promote']);
  });

  it('a service without a plan (or the backtest, which has no plans) promotes as before', () => {
    const decisions: string[] = [];
    const reg = new AnalysisRegistry(registrySettings(oneMetric(passing)), {
      onDecision: (d) => decisions.push(d.outcome),
    });
    for (let i = 0; i < 3; i++) reg.ingest(look(i));
    expect(decisions).toEqual(['promote']);
  });
});
