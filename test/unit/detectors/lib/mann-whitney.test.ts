import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  averageRanks,
  commonLanguageEffectSize,
  mannWhitneyU,
  shiftInterval,
  wilcoxonDiff,
} from '../../../../detectors/lib/mann-whitney.js';
import { normalQuantile } from '../../../../detectors/lib/normal-quantile.js';
import { zeroin } from '../../../../detectors/lib/zeroin.js';
import { relErr } from '../../../helpers/detectors.js';

// stats-reference.txt section A
const A_BASE = [12.1, 15.3, 9.8, 15.3, 20.0, 11.4, 13.3, 15.3, 18.7, 10.2, 14.4, 16.0];
const A_CAN = [14.9, 17.2, 15.3, 21.5, 11.4, 19.9, 16.8, 25.3, 13.0, 18.1, 22.7, 17.2, 16.6, 20.4];

describe('normalQuantile (AS 241)', () => {
  it('reproduces B: kayenta.zQuant(0.02/2) and the familiar quantiles', () => {
    expect(Math.abs(normalQuantile(0.01) - -2.326347874)).toBeLessThan(1e-9);
    expect(Math.abs(normalQuantile(0.025) - -1.9599639845400536)).toBeLessThan(1e-14);
    expect(normalQuantile(0.5)).toBe(0);
    expect(relErr(normalQuantile(1e-10), -6.361340902404056)).toBeLessThan(1e-13);
    expect(relErr(normalQuantile(0.975), 1.959963984540054)).toBeLessThan(1e-14);
    expect(normalQuantile(0)).toBe(Number.NEGATIVE_INFINITY);
    expect(normalQuantile(1.5)).toBeNaN();
  });
});

describe('averageRanks', () => {
  it('gives ties the mean of their positions and the tie term sum(t^3 - t)', () => {
    const { ranks, tieTerm } = averageRanks([3, 1, 3, 2, 3, 1]);
    expect(ranks).toEqual([5, 1.5, 5, 3, 5, 1.5]);
    expect(tieTerm).toBe(24 + 6);
  });
});

describe('mannWhitneyU: section A (scipy)', () => {
  it('U1, tie-corrected sigma, and the p-values of every alternative with and without continuity', () => {
    const cases: Array<[Parameters<typeof mannWhitneyU>[2], boolean, number]> = [
      ['two-sided', true, 0.0218167878786],
      ['two-sided', false, 0.0203780871188],
      ['greater', true, 0.0109083939393],
      ['greater', false, 0.0101890435594],
      ['less', true, 0.990488573857],
      ['less', false, 0.989810956441],
    ];
    for (const [alt, cont, p] of cases) {
      const r = mannWhitneyU(A_CAN, A_BASE, alt, cont);
      expect(r.u).toBe(129);
      expect(relErr(r.sigma, 19.4022996258)).toBeLessThan(1e-10);
      expect(relErr(r.pValue, p)).toBeLessThan(1e-9);
    }
    expect(relErr(mannWhitneyU(A_CAN, A_BASE, 'greater').z, 2.29354256239)).toBeLessThan(1e-10);
    // baseline vs canary: U1 = 39, greater and less swap
    expect(mannWhitneyU(A_BASE, A_CAN, 'greater').u).toBe(39);
    expect(relErr(mannWhitneyU(A_BASE, A_CAN, 'less').pValue, 0.0109083939393)).toBeLessThan(1e-9);
  });

  it('CLES = U1 / (n1 n2) (A.manual)', () => {
    expect(relErr(commonLanguageEffectSize(A_CAN, A_BASE), 0.767857142857)).toBeLessThan(1e-11);
  });

  it('is NaN when every observation is tied or a sample is empty', () => {
    expect(mannWhitneyU([2, 2], [2, 2, 2], 'greater').pValue).toBeNaN();
    expect(mannWhitneyU([], [1], 'greater').pValue).toBeNaN();
  });
});

describe('zeroin (R uniroot)', () => {
  it('finds a smooth root to within tol and returns an exact zero at an end', () => {
    const f = (x: number): number => x * x - 2;
    expect(Math.abs(zeroin(f, 0, 2, f(0), f(2), 1e-10) - Math.SQRT2)).toBeLessThan(1e-9);
    expect(zeroin(f, Math.SQRT2, 2, 0, f(2))).toBe(Math.SQRT2);
  });

  it('lands within tol of the jump of a step function', () => {
    const step = (x: number): number => (x < 0.3 ? 1 : -1);
    expect(Math.abs(zeroin(step, -5, 5, 1, -1) - 0.3)).toBeLessThan(1e-4);
  });
});

describe('shiftInterval: section B (Kayenta / R wilcox.test conf.int)', () => {
  it('kayenta.MW[10,20,30,40 vs 1,2,3,4] at 98%: [6, 39], estimate 22.5', () => {
    const r = shiftInterval([10, 20, 30, 40], [1, 2, 3, 4], 0.98);
    expect(Math.abs(r.lower - 6)).toBeLessThan(1e-4);
    expect(Math.abs(r.upper - 39)).toBeLessThan(1e-4);
    expect(Math.abs(r.estimate - 22.5)).toBeLessThan(1e-4);
  });

  it('kayenta.MW[R tie-out] at 95%: ends at the jumps -0.5 and 0, estimate, and wdiff(-0.5, 0)', () => {
    // Input of the CHECK: Kayenta's MannWhitneySuite "tie out with R version" (values on a 0.5 grid, many ties).
    const control = [
      1.5, 6.0, 5.0, 2.5, 2.5, 2.0, 2.0, 3.5, 3.0, 3.0, 3.0, 2.0, 3.0, 8.0, 4.0, 2.5, 3.0, 2.5, 2.5, 2.0, 2.5, 2.0, 2.0,
      2.5, 3.5, 3.0, 1.5, 5.0, 2.5, 5.5, 2.0, 2.5, 3.5, 2.0, 2.5, 4.0, 2.0, 2.0, 2.0, 2.0, 5.5, 4.5, 4.0, 3.0, 3.0, 3.5,
      2.5, 3.0, 2.5, 4.0, 6.0, 2.0, 5.0, 6.0, 3.5, 3.0, 54.5, 3.0, 5.0, 6.0, 3.5, 4.5, 2.5, 2.0, 6.0, 5.0, 2.5, 3.5,
      2.0, 3.0, 2.5, 3.5, 3.5, 2.5, 3.0, 4.5, 3.0, 15.5, 5.0, 2.5, 3.0, 4.0, 3.5, 4.0, 4.0, 2.0, 4.5, 2.5, 4.0, 3.0,
    ];
    const experiment = [
      2.5, 2.5, 2.0, 2.5, 3.5, 2.0, 3.5, 1.5, 3.0, 3.0, 2.5, 3.5, 2.0, 2.5, 2.0, 2.0, 5.0, 3.0, 2.0, 1.5, 2.0, 4.0, 3.0,
      2.5, 3.0, 2.0, 2.0, 2.0, 2.5, 3.5, 1.5, 1.5, 3.5, 2.0, 2.5, 2.5, 3.0, 3.5, 2.5, 6.5, 2.5, 4.0, 2.5, 3.0, 2.5, 6.5,
      2.5, 3.0, 1.5, 2.0, 2.5, 3.0, 7.5, 1.5, 2.0, 4.0, 2.5, 2.0, 2.5, 3.5, 4.0, 2.5, 3.0, 2.5, 2.0, 3.5, 3.0, 16.5,
      3.0, 3.0, 7.0, 4.5, 5.0, 2.0, 3.5, 6.0, 1.5, 3.0, 2.5, 4.0, 3.0, 1.5, 5.0, 3.0, 2.5, 5.5, 3.0, 1.5, 2.5, 6.0,
    ];
    const r = shiftInterval(experiment, control, 0.95);
    expect(Math.abs(r.lower - -0.5000025217)).toBeLessThan(2e-4);
    expect(Math.abs(r.upper - -3.486287506e-5)).toBeLessThan(2e-4);
    expect(Math.abs(r.estimate - -0.4999393907)).toBeLessThan(2e-4);
    // R's own zeroin steps: the ends agree with R to ~1e-10, not only within the tolerance
    expect(Math.abs(r.lower - -0.5000025217)).toBeLessThan(1e-9);
    expect(Math.abs(r.upper - -3.486287506e-5)).toBeLessThan(1e-12);
    expect(relErr(wilcoxonDiff(experiment, control, -0.5, 0), 1.09568547469)).toBeLessThan(1e-10);
  });

  it('returns mu_min / mu_max when W does not cross inside (R: wilcox.test(1, 2:60, conf.int = TRUE))', () => {
    const baseline = Array.from({ length: 59 }, (_, i) => i + 2);
    const r = shiftInterval([1], baseline, 0.95);
    expect(r.lower).toBe(1 - 60);
    expect(r.upper).toBeLessThanOrEqual(1 - 2);
    expect(r.upper).toBeGreaterThan(r.lower);
  });

  it('tie-heavy data on a 0.5 grid: every end and the estimate sit within 2e-4 of a jump where W crosses its target', () => {
    // Many ties and a step function whose jumps sit at multiples of 0.5, like Kayenta's "R tie-out" suite
    // (reference B's CHECK kayenta.MW[R tie-out]: ends at the jumps -0.5 and 0).
    const canary = [0, 0, 0, 0.5, 0.5, 1, 1, 1, 1.5, 2, 0, 0.5, 1, 1, 0, 2.5, 0.5, 1, 0, 0];
    const baseline = [0.5, 0.5, 1, 1, 1.5, 1.5, 1, 2, 0.5, 1, 1.5, 0.5, 1, 2, 1, 0.5, 1.5, 1, 0.5, 1, 3, 1];
    const r = shiftInterval(canary, baseline, 0.98);
    const zq = -normalQuantile(0.01);
    const crosses = (v: number, z: number): void => {
      expect(wilcoxonDiff(canary, baseline, v - 2e-4, z)).toBeGreaterThan(0);
      expect(wilcoxonDiff(canary, baseline, v + 2e-4, z)).toBeLessThan(0);
      // the nearest jump is a pairwise difference: a multiple of 0.5
      expect(Math.abs(v - Math.round(v * 2) / 2)).toBeLessThan(2e-4);
    };
    crosses(r.lower, zq);
    crosses(r.upper, -zq);
    crosses(r.estimate, 0);
    expect(r.lower).toBeLessThanOrEqual(r.estimate);
    expect(r.estimate).toBeLessThanOrEqual(r.upper);
  });

  it('both samples constant: the single difference (R and Kayenta throw here)', () => {
    expect(shiftInterval([5, 5], [3, 3, 3], 0.98)).toEqual({ lower: 2, upper: 2, estimate: 2 });
  });

  it('property: the interval brackets the estimate and shifts with the canary', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 3, maxLength: 25 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 3, maxLength: 25 }),
        fc.integer({ min: -20, max: 20 }),
        (c, b, shift) => {
          fc.pre(new Set([...c, ...b]).size > 1);
          const r = shiftInterval(c, b, 0.98);
          expect(r.lower).toBeLessThanOrEqual(r.estimate + 2e-4);
          expect(r.estimate).toBeLessThanOrEqual(r.upper + 2e-4);
          const s = shiftInterval(
            c.map((v) => v + shift),
            b,
            0.98,
          );
          expect(Math.abs(s.lower - (r.lower + shift))).toBeLessThan(2e-4);
          expect(Math.abs(s.upper - (r.upper + shift))).toBeLessThan(2e-4);
        },
      ),
      { numRuns: 60 },
    );
  });
});
