import { describe, expect, it } from 'vitest';
import {
  initialPromotion,
  nextPromotion,
  shareSet,
  type LookFacts,
  type PromotionPlan,
} from '../../../src/analysis/promotion.js';
import type { MetricVerdict } from '../../../src/contracts/index.js';
import { parseConfig } from '../../../src/config/load.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';

const PLAN: PromotionPlan = { via: 'router', steps: [1, 5, 25, 50, 100], minLooksPerStep: 6, approve: [50] };

const verdict = (phase: MetricVerdict['phase'], over: Partial<MetricVerdict> = {}): MetricVerdict => ({
  detector: 'error-rate-sequential',
  metric: 'error-rate',
  phase,
  pValue: 0.5,
  alpha: 0.05,
  shadow: false,
  samples: { baseline: 0, canary: 0 },
  summary: '',
  ...over,
});
const facts = (look: number, canary: number, baseline: number, verdicts = [verdict('inconclusive')]): LookFacts => ({
  look,
  samples: { baseline, canary },
  verdicts,
});

describe('promotion plans: the step rule', () => {
  it('sets the first share at once, then each next one after minLooksPerStep looks and minSamples per cohort', () => {
    let s = initialPromotion();
    expect(nextPromotion(PLAN, s, facts(1, 0, 0), 25)).toEqual({ kind: 'set-share', share: 1, step: 0 });
    s = shareSet(s, 0, facts(1, 0, 0));
    expect(nextPromotion(PLAN, s, facts(4, 50, 5000), 25)).toEqual({ kind: 'wait', why: '3 of 6 looks at 1%' });
    expect(nextPromotion(PLAN, s, facts(7, 20, 5000), 25)).toEqual({
      kind: 'wait',
      why: '20 canary and 5000 baseline samples at 1% (needs 25 per cohort)',
    });
    expect(nextPromotion(PLAN, s, facts(7, 30, 5000), 25)).toEqual({ kind: 'set-share', share: 5, step: 1 });
    // samples count from the step: the 30 of the first share do not count for the second
    s = shareSet(s, 1, facts(7, 30, 5000));
    expect(nextPromotion(PLAN, s, facts(13, 40, 9000), 25).kind).toBe('wait');
    expect(nextPromotion(PLAN, s, facts(13, 60, 9000), 25)).toEqual({ kind: 'set-share', share: 25, step: 2 });
  });

  it('waits for an approval before a gated share, then sets it; completes after the last step', () => {
    let s = shareSet(initialPromotion(), 2, facts(20, 100, 1000));
    expect(nextPromotion(PLAN, s, facts(26, 200, 2000), 25)).toEqual({ kind: 'await-approval', share: 50, step: 3 });
    s = { ...s, approved: [50] };
    expect(nextPromotion(PLAN, s, facts(26, 200, 2000), 25)).toEqual({ kind: 'set-share', share: 50, step: 3 });
    s = shareSet(s, 4, facts(40, 300, 3000));
    // at 100% only the canary's samples count (the baseline serves nothing any more)
    expect(nextPromotion(PLAN, s, facts(46, 330, 3000), 25)).toEqual({ kind: 'complete' });
  });

  it('never advances on a failed metric, a holding verdict (srm) or a share that could not be set', () => {
    const s = shareSet(initialPromotion(), 1, facts(7, 30, 5000));
    expect(nextPromotion(PLAN, s, facts(20, 500, 9000, [verdict('fail')]), 25).kind).toBe('hold');
    const srm = verdict('inconclusive', { metric: 'srm', detector: 'srm', hold: 'the split is 2% where 5% is set' });
    expect(nextPromotion(PLAN, s, facts(20, 500, 9000, [verdict('pass'), srm]), 25)).toEqual({
      kind: 'hold',
      why: 'srm holds promotion: the split is 2% where 5% is set',
    });
    // a shadow metric's failure does not hold
    expect(nextPromotion(PLAN, s, facts(20, 500, 9000, [verdict('fail', { shadow: true })]), 25).kind).toBe(
      'set-share',
    );
    const failed = { ...s, failed: { share: 25, error: 'nginx -t failed' } };
    expect(nextPromotion(PLAN, failed, facts(20, 500, 9000), 25)).toEqual({
      kind: 'hold',
      why: 'the share 25% could not be set (nginx -t failed): held at 5%',
    });
    expect(shareSet(failed, 2, facts(21, 500, 9000)).failed).toBeUndefined();
  });
});

describe('rollouts[].promote in the config', () => {
  const load = (promote: string) =>
    parseConfig(
      `connectors: [{ name: router, type: noop, options: { kind: traffic } }]\nplan: [router]\nrollouts:\n  - service: checkout\n    promote: ${promote}\n`,
      'p.yaml',
      BUILTIN_REGISTRIES,
      {},
    );
  it('accepts a plan and applies its defaults', () => {
    expect(load('{ via: router, steps: [1, 5, 25, 50, 100], approve: [50] }').config.rollouts[0]!.promote).toEqual({
      via: 'router',
      steps: [1, 5, 25, 50, 100],
      minLooksPerStep: 6,
      approve: [50],
    });
  });
  it.each([
    ['{ via: routr, steps: [5, 100] }', 'rollouts[0].promote.via', 'did you mean "router"'],
    ['{ via: router, steps: [5, 1, 100] }', 'rollouts[0].promote.steps', 'steps must increase'],
    ['{ via: router, steps: [5, 50] }', 'rollouts[0].promote.steps', 'the last step must be 100'],
    ['{ via: router, steps: [5, 100], approve: [50] }', 'rollouts[0].promote.approve', 'one of steps'],
  ])('refuses %s, naming the key and the fix', (promote, key, message) => {
    expect(() => load(promote)).toThrow(message);
    try {
      load(promote);
    } catch (e) {
      expect(String((e as Error).message)).toContain(key);
    }
  });
});
