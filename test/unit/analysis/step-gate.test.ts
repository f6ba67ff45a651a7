/**
 * The step gate (step-gate.ts): the detectors on the current step's looks only, at GATE_ALPHA per acting metric,
 * restarted when the promotion record's epoch moves; a metric that fails there is named by `gateWorse`.
 */
import { describe, expect, it } from 'vitest';
import { GATE_ALPHA, gateWorse, runStepGate } from '../../../src/analysis/step-gate.js';
import type { Detector, LookInput } from '../../../src/contracts/index.js';
import { emptyPair } from '../../../src/evidence/cohort-batch.js';
import { oneMetric } from '../../helpers/registry-settings.js';

/** Fails once the canary's errors in the totals it is given reach 3; records each look's alpha and look number. */
function probe(seen: { alpha: number; look: number; canaryErrors: number }[]): Detector<number> {
  return {
    type: 'probe',
    name: 'errors',
    init: () => 0,
    look: (state, input, alpha) => {
      seen.push({ alpha, look: input.look, canaryErrors: input.totals.canary.errors });
      const fail = input.totals.canary.errors >= 3;
      const samples = { baseline: input.totals.baseline.requests, canary: input.totals.canary.requests };
      const summary = `${input.totals.canary.errors} canary errors`;
      return {
        state: state + 1,
        verdict: {
          detector: 'probe',
          metric: 'errors',
          phase: fail ? 'fail' : 'inconclusive',
          pValue: 1,
          samples,
          summary,
        },
      };
    },
  };
}

function lookInput(n: number, canaryErrors: number): LookInput {
  const batch = emptyPair();
  batch.canary.requests = 10;
  batch.baseline.requests = 10;
  batch.canary.errors = canaryErrors;
  return { analysisId: 'a', look: n, atUnixMs: n * 10_000, batch, totals: emptyPair() };
}

describe('the step gate', () => {
  it("sees only the current epoch's looks, at GATE_ALPHA, and names what looks worse", () => {
    const seen: { alpha: number; look: number; canaryErrors: number }[] = [];
    const settings = { metrics: oneMetric(probe(seen)) };
    let g = runStepGate(undefined, 1, settings, [0.003], lookInput(7, 2), []);
    g = runStepGate(g, 1, settings, [0.003], lookInput(8, 2), []);
    expect(seen).toEqual([
      { alpha: GATE_ALPHA, look: 1, canaryErrors: 2 },
      { alpha: GATE_ALPHA, look: 2, canaryErrors: 4 },
    ]);
    expect(gateWorse(g)).toEqual(['errors (4 canary errors)']);
    // a new share: the evidence starts again
    g = runStepGate(g, 2, settings, [0.003], lookInput(9, 1), []);
    expect(g).toMatchObject({ epoch: 2, looks: 1, states: [1] });
    expect(seen.at(-1)).toEqual({ alpha: GATE_ALPHA, look: 1, canaryErrors: 1 });
    expect(gateWorse(g)).toEqual([]);
    expect(gateWorse(undefined)).toEqual([]);
  });

  it('a shadow metric never holds, a metric without alpha is tested at 0, and a detector that throws gives an error', () => {
    const seen: { alpha: number; look: number; canaryErrors: number }[] = [];
    const shadow = [{ ...oneMetric(probe(seen))[0]!, shadow: true }];
    const g = runStepGate(undefined, 1, { metrics: shadow }, [0], lookInput(1, 5), []);
    expect(seen[0]!.alpha).toBe(0);
    expect(gateWorse(g)).toEqual([]);
    const broken: Detector<null> = {
      type: 'broken',
      name: 'x',
      init: () => null,
      look: () => {
        throw new Error('boom');
      },
    };
    const e = runStepGate(undefined, 1, { metrics: oneMetric(broken) }, [0.01], lookInput(1, 0), []);
    expect(e.verdicts[0]).toMatchObject({ phase: 'error', summary: 'detector error: boom', shadow: false });
    expect(gateWorse(e)).toEqual([]);
  });
});
