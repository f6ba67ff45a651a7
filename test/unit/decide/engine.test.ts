import { describe, expect, it } from 'vitest';
import type { MetricVerdict } from '../../../src/contracts/index.js';
import {
  decide,
  decisionId,
  holdReason,
  splitAlpha,
  type DecideInput,
  type DecidePolicy,
} from '../../../src/decide/engine.js';

const v = (metric: string, phase: MetricVerdict['phase'], shadow = false): MetricVerdict => ({
  detector: 'd',
  metric,
  phase,
  pValue: phase === 'fail' ? 0.001 : 0.5,
  samples: { baseline: 100, canary: 100 },
  summary: `${metric} ${phase}`,
  alpha: 0.025,
  shadow,
});
const input = (verdicts: MetricVerdict[], elapsedMs = 60_000): DecideInput => ({
  analysisId: 'svc:2',
  service: 'svc',
  canaryVersion: '2',
  baselineVersion: '1',
  look: 6,
  atUnixMs: 1000,
  elapsedMs,
  verdicts,
});
const policy: DecidePolicy = {
  maxDurationMs: 1_800_000,
  plan: ['a', 'b'],
  dryRun: false,
  configHash: 'abc',
  maxRollbacks: 3,
  recentRollbacks: 0,
};

describe('decide (pure)', () => {
  it('rolls back on an acting failure, with the plan and the config hash', () => {
    const d = decide(input([v('errors', 'fail'), v('latency', 'inconclusive')]), policy)!;
    expect(d).toMatchObject({
      outcome: 'rollback',
      plan: ['a', 'b'],
      configHash: 'abc',
      look: 6,
      id: decisionId('svc:2', 6, 'rollback'),
    });
    expect(d.reason).toContain('errors fail');
  });
  it('never acts on a shadow failure', () => {
    expect(decide(input([v('errors', 'inconclusive'), v('trial', 'fail', true)]), policy)).toBeNull();
  });
  it('promotes when every acting metric passes, or at maxDuration', () => {
    expect(decide(input([v('errors', 'pass'), v('latency', 'pass'), v('t', 'fail', true)]), policy)?.outcome).toBe(
      'promote',
    );
    expect(decide(input([v('errors', 'pass'), v('latency', 'inconclusive')]), policy)).toBeNull();
    const d = decide(input([v('errors', 'inconclusive')], 1_800_000), policy)!;
    expect(d.outcome).toBe('promote');
    expect(d.plan).toEqual([]);
  });
  it('is deterministic: same input, same decision', () => {
    const a = decide(input([v('errors', 'fail')]), policy);
    expect(decide(input([v('errors', 'fail')]), policy)).toEqual(a);
    expect(decisionId('x', 1, 'rollback')).not.toBe(decisionId('x', 2, 'rollback'));
  });
  it('storm guard keeps the outcome but holds the plan', () => {
    const d = decide(input([v('errors', 'fail')]), { ...policy, recentRollbacks: 3 })!;
    expect(d.outcome).toBe('rollback');
    expect(d.plan).toEqual([]);
  });
});

describe('decide: holds (e.g. srm)', () => {
  const held = (metric: string, shadow = false): MetricVerdict => ({
    ...v(metric, 'inconclusive', shadow),
    hold: 'srm',
    summary: 'sample-ratio mismatch',
  });
  const heldPass = (metric: string): MetricVerdict => ({ ...v(metric, 'pass'), hold: 'srm' });

  it('an acting hold prevents the all-pass promote', () => {
    expect(decide(input([v('errors', 'pass'), heldPass('srm')]), policy)).toBeNull();
    expect(decide(input([v('errors', 'pass'), v('latency', 'pass'), held('srm')]), policy)).toBeNull();
  });

  it('an acting hold prevents the maxDuration promote, and holdReason says why; the analysis keeps running', () => {
    const inp = input([v('errors', 'inconclusive'), held('srm')], 1_800_000);
    expect(decide(inp, policy)).toBeNull();
    const why = holdReason(inp, policy)!;
    expect(why).toContain('maxDuration (1800s) has passed but promotion is held');
    expect(why).toContain('srm (srm: sample-ratio mismatch)');
    expect(holdReason(input([held('srm')], 60_000), policy)).toBe(
      'promotion is held: srm (srm: sample-ratio mismatch)',
    );
  });

  it('a failure still rolls back while held', () => {
    expect(decide(input([v('errors', 'fail'), held('srm')], 1_800_000), policy)?.outcome).toBe('rollback');
  });

  it('a shadow hold never holds', () => {
    expect(decide(input([v('errors', 'pass'), held('srm', true)]), policy)?.outcome).toBe('promote');
    expect(decide(input([v('errors', 'inconclusive'), held('srm', true)], 1_800_000), policy)?.outcome).toBe('promote');
    expect(holdReason(input([held('srm', true)]), policy)).toBeUndefined();
  });
});

describe('splitAlpha (Bonferroni, reference section I)', () => {
  it('equal split matches I.per_metric_alpha', () => {
    const ms = (n: number) => Array.from({ length: n }, () => ({ weight: 1, shadow: false }));
    expect(splitAlpha(0.05, ms(2))).toEqual([0.025, 0.025]);
    expect(splitAlpha(0.05, ms(3))[0]).toBeCloseTo(0.0166666666667, 12);
    expect(splitAlpha(0.05, ms(5))[0]).toBeCloseTo(0.01, 15);
    expect(splitAlpha(0.05, ms(20))[0]).toBeCloseTo(0.0025, 15);
  });
  it('weights and shadow metrics: acting alphas sum to alpha; a shadow gets what it would get if acting', () => {
    const a = splitAlpha(0.05, [
      { weight: 3, shadow: false },
      { weight: 1, shadow: false },
      { weight: 1, shadow: true },
    ]);
    expect(a[0]! + a[1]!).toBeCloseTo(0.05, 15);
    expect(a[0]).toBeCloseTo(0.0375, 15);
    expect(a[2]).toBeCloseTo(0.01, 15);
  });
});
