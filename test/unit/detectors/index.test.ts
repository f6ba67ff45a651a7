import { describe, expect, it } from 'vitest';
import { BUILTIN_DETECTORS } from '../../../detectors/index.js';
import { batch, lookInput } from '../../helpers/detectors.js';

/** The smallest valid options of each built-in detector (a new detector must add its entry here). */
const minimal: Record<string, unknown> = {
  'error-rate-sequential': {},
  'latency-sequential': {},
  'latency-quantile': {},
  'kayenta-mann-whitney': {},
  srm: {},
  'slo-guard': { maxErrorRate: 0.01 },
  'ratio-sequential': { numerator: { metric: 'checkout.completed' }, denominator: { metric: 'checkout.started' } },
  'gauge-sequential': { metric: 'process.memory.usage' },
};

describe('BUILTIN_DETECTORS', () => {
  it('lists every built-in detector keyed by its own type', () => {
    expect([...BUILTIN_DETECTORS.keys()].sort()).toEqual(Object.keys(minimal).sort());
    for (const [type, factory] of BUILTIN_DETECTORS) {
      expect(factory.type).toBe(type);
      const d = factory.create('m', minimal[type], { minSamples: 25 });
      expect(d.type).toBe(type);
      expect(d.name).toBe('m');
    }
  });

  it('declares which are anytime-valid: every one but kayenta-mann-whitney, whose verdicts are marked', () => {
    for (const [type, factory] of BUILTIN_DETECTORS) {
      expect(factory.anytimeValid, type).toBe(type !== 'kayenta-mann-whitney');
      const d = factory.create('m', minimal[type], { minSamples: 25 });
      const { verdict } = d.look(d.init(), lookInput(1, batch(10, 1), batch(10, 0)), 0.05);
      if (factory.anytimeValid) expect('anytimeValid' in verdict, type).toBe(false);
      else expect(verdict.anytimeValid, type).toBe(false);
    }
  });

  it('every burn-in summary shows the p-value in the same words: not used, no verdict before the burn-in ends', () => {
    for (const [type, factory] of BUILTIN_DETECTORS) {
      const d = factory.create('m', minimal[type], { minSamples: 25 });
      let state = d.init();
      for (let look = 1; look <= 2; look++) {
        const input = {
          ...lookInput(look, batch(6, 3, { n: 6, mean: 4, m2: 1 }), batch(15, 0, { n: 15, mean: 3.5, m2: 1 })),
          expectedCanaryShare: 0.3,
        };
        const r = d.look(state, input, 0.05);
        state = r.state;
        expect(r.verdict.phase, type).toBe('inconclusive');
        expect(r.verdict.summary, type).toMatch(
          new RegExp(`^burn-in: .+ after ${look} looks?; .*p(=| )\\S+.* shown, no verdict before .+`),
        );
      }
    }
  });

  it('has no fallback for unknown types', () => {
    expect(BUILTIN_DETECTORS.get('prometheus-threshold')).toBeUndefined();
  });
});
