import { describe, expect, it } from 'vitest';
import {
  initialPromotion,
  nextPromotion,
  shareSet,
  type LookFacts,
  windowShare,
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

/** Connectors that cannot set a share: a webhook, a deployer noop, a flagd flag without canaryVariant. */
const OTHERS = [
  '{ name: hook, type: webhook, options: { url: "http://127.0.0.1:9/hook" } }',
  '{ name: deploy, type: noop, options: { kind: deployer } }',
  '{ name: flag, type: flagd, options: { path: /tmp/flags.json, flag: checkout, variant: "off" } }',
  '{ name: ld, type: launchdarkly, options: { apiKey: k, project: p, flag: f, environment: e, variation: "off" } }',
  '{ name: fs, type: flagsmith, options: { apiKey: k, environmentKey: e, feature: f } }',
].join(', ');

describe('rollouts[].promote in the config', () => {
  const load = (promote: string) =>
    parseConfig(
      `connectors: [{ name: router, type: noop, options: { kind: traffic } }, ${OTHERS}]\nplan: [router]\nrollouts:\n  - service: checkout\n    promote: ${promote}\n`,
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
    [
      '{ via: hook, steps: [5, 100] }',
      'rollouts[0].promote.via',
      '"hook" (type webhook), which cannot set a canary share',
    ],
    ['{ via: deploy, steps: [5, 100] }', 'rollouts[0].promote.via', 'use a connector that can: nginx, haproxy'],
    ['{ via: flag, steps: [5, 100] }', 'rollouts[0].promote.via', 'give it options.canaryVariant'],
    ['{ via: ld, steps: [5, 100] }', 'rollouts[0].promote.via', 'give it options.canaryVariation'],
    ['{ via: fs, steps: [5, 100] }', 'rollouts[0].promote.via', 'give it options.canaryValue'],
  ])('refuses %s, naming the key and the fix', (promote, key, message) => {
    expect(() => load(promote)).toThrow(message);
    try {
      load(promote);
    } catch (e) {
      expect(String((e as Error).message)).toContain(key);
    }
  });
});

describe('windowShare: the share a look was served at, for the srm guard', () => {
  // 5% set after the look ending at 100 s, certain from 103 s (latest event time 102 s + 1 s lateness); 25% after
  // the look ending at 160 s, certain from 171 s
  const shares = [
    { percent: 5, afterUnixMs: 100_000, fromUnixMs: 103_000 },
    { percent: 25, afterUnixMs: 160_000, fromUnixMs: 171_000 },
  ];
  it('before the first change: the config share (or none)', () => {
    expect(windowShare(shares, 90_000, 100_000, 0.5)).toBe(0.5);
    expect(windowShare(shares, 90_000, 100_000, undefined)).toBeUndefined();
    expect(windowShare([], 0, 10_000, 0.2)).toBe(0.2);
  });
  it('a window a change may have split: none', () => {
    expect(windowShare(shares, 100_000, 110_000, 0.5)).toBeUndefined(); // 5% set somewhere in [100 s, 103 s]
    expect(windowShare(shares, 160_000, 170_000, 0.5)).toBeUndefined();
    expect(windowShare(shares, 170_000, 180_000, 0.5)).toBeUndefined(); // starts before 25% is certain
    expect(windowShare(shares, 150_000, 170_000, 0.5)).toBeUndefined(); // 25% set after 160 s
  });
  it('a window wholly at one share: that share as a fraction', () => {
    expect(windowShare(shares, 110_000, 120_000, 0.5)).toBe(0.05);
    expect(windowShare(shares, 150_000, 160_000, 0.5)).toBe(0.05);
    expect(windowShare(shares, 180_000, 190_000, 0.5)).toBe(0.25);
  });
  it('0% and 100% leave nothing to test', () => {
    const all = [...shares, { percent: 100, afterUnixMs: 200_000, fromUnixMs: 201_000 }];
    expect(windowShare(all, 210_000, 220_000, 0.5)).toBeUndefined();
    expect(windowShare([{ percent: 0, afterUnixMs: 0, fromUnixMs: 0 }], 10_000, 20_000, 0.5)).toBeUndefined();
  });
});

describe('the step gate in the rule', () => {
  // 5% in place since look 10 with 500 samples per cohort; look 20: 10 looks and 4000 samples since
  const at5 = shareSet(initialPromotion(), 1, facts(10, 500, 500));
  const look = (gate: LookFacts['gate']) => ({ ...facts(20, 4500, 4500), ...(gate ? { gate } : {}) });
  const PLAN6 = { ...PLAN, approve: [] };
  it('lets the rollout go on when nothing looks worse within the step and it saw minLooksPerStep looks', () => {
    expect(nextPromotion(PLAN6, at5, look({ looks: 6, worse: [] }), 25)).toEqual({
      kind: 'set-share',
      share: 25,
      step: 2,
    });
    expect(nextPromotion(PLAN6, at5, look(undefined), 25).kind).toBe('set-share');
  });
  it('waits until the gate saw minLooksPerStep looks (after a restart)', () => {
    expect(nextPromotion(PLAN6, at5, look({ looks: 2, worse: [] }), 25)).toEqual({
      kind: 'wait',
      why: 'the step gate has 2 of 6 looks at 5%',
    });
  });
  it('holds while a metric looks worse within the step, then restarts the gate after 2 x minLooksPerStep', () => {
    const worse = ['error-rate (error rate 9x baseline)'];
    expect(nextPromotion(PLAN6, at5, look({ looks: 7, worse }), 25)).toEqual({
      kind: 'hold',
      why: 'looks worse within 5%: error-rate (error rate 9x baseline); held here while the analysis gathers evidence',
    });
    expect(nextPromotion(PLAN6, at5, look({ looks: 12, worse }), 25)).toEqual({
      kind: 'restart-gate',
      why: 'error-rate (error rate 9x baseline) within 5% for 12 looks without a rollback: the step gate starts again on fresh looks',
    });
  });
});
