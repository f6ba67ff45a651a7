import { describe, expect, it } from 'vitest';
import { BUILTIN_DETECTORS } from '../../../detectors/index.js';

/** The smallest valid options of each built-in detector (a new detector must add its entry here). */
const minimal: Record<string, unknown> = {
  'error-rate-sequential': {},
  'latency-sequential': {},
  'latency-quantile': {},
  'kayenta-mann-whitney': {},
  srm: {},
  'slo-guard': { maxErrorRate: 0.01 },
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

  it('has no fallback for unknown types', () => {
    expect(BUILTIN_DETECTORS.get('prometheus-threshold')).toBeUndefined();
  });
});
