import { describe, expect, it } from 'vitest';
import { bonferroni } from '../../../../detectors/lib/bonferroni.js';
import { VigilError } from '../../../../src/errors.js';
import { relErr } from '../../../helpers/detectors.js';

describe('bonferroni (reference section I)', () => {
  // I.per_metric_alpha[m, FWER=0.05]: bonferroni and e_value_threshold_bonferroni = 1/alpha_i
  const reference: Array<[number, number, number]> = [
    [1, 0.05, 20],
    [2, 0.025, 40],
    [3, 0.0166666666667, 60],
    [5, 0.01, 100],
    [10, 0.005, 200],
    [20, 0.0025, 400],
  ];
  it.each(reference)('m = %d equal weights: alpha_i = %d, e-value threshold %d', (m, alphaI, threshold) => {
    const out = bonferroni(0.05, new Array<number>(m).fill(1));
    expect(out).toHaveLength(m);
    for (const a of out) {
      expect(relErr(a, alphaI)).toBeLessThan(1e-9);
      expect(relErr(1 / a, threshold)).toBeLessThan(1e-9);
    }
  });
  it('splits by weights and sums to alpha', () => {
    const out = bonferroni(0.05, [2, 1, 1]);
    expect(out[0]).toBeCloseTo(0.025, 15);
    expect(out[1]).toBeCloseTo(0.0125, 15);
    expect(out.reduce((s, a) => s + a, 0)).toBeCloseTo(0.05, 15);
    expect(bonferroni(0.05, [1, 0])).toEqual([0.05, 0]);
  });
  it('rejects bad input with VIGIL_ERR_DETECTOR_OPTIONS', () => {
    for (const [alpha, w] of [
      [0, [1]],
      [1, [1]],
      [0.05, []],
      [0.05, [-1, 2]],
      [0.05, [0, 0]],
      [0.05, [Number.NaN]],
    ] as Array<[number, number[]]>) {
      expect(() => bonferroni(alpha, w)).toThrow(VigilError);
    }
    try {
      bonferroni(0.05, [-1]);
    } catch (e) {
      expect((e as VigilError).code).toBe('VIGIL_ERR_DETECTOR_OPTIONS');
    }
  });
});
