import { describe, expect, it } from 'vitest';
import { mixtureGrid } from '../../../../detectors/lib/discrete-mixture.js';
import type { Alternatives } from '../../../../detectors/lib/exceedance-mixture.js';
import { addLook, alternativesOf, crossingRung, rungLogM } from '../../../../detectors/lib/exceedance-mixture.js';
import { llrByTheta, relErr, REFERENCE_F_COUNTS } from '../../../helpers/detectors.js';

// stats-reference.txt, sections F and G
const F_COUNTS = REFERENCE_F_COUNTS;
const G_PATH = [
  0.378363041351, 0.52116001139, 1.35710416199, 3.57934267371, 3.02899246319, 4.15261868624, 6.2570741623,
  6.68755320479, 7.23581528294, 8.00609239902,
];

describe('exceedance-mixture', () => {
  it('reproduces G.conditional_binomial_sprt[rho=.5, r=2] when the exceedances are the F counts (one rung, one-point grid)', () => {
    const alt: Alternatives = { logR: [Math.LN2, -Math.LN2], logW: [0, 0], half: 1 };
    let llr: number[][] = [[0, 0]];
    F_COUNTS.forEach(([y, x], j) => {
      llr = addLook(llr, alt, 0.5, y, [x]);
      expect(relErr(llr[0]![0]!, G_PATH[j]!)).toBeLessThan(1e-9);
      expect(rungLogM(llr[0]!, alt, 'up')).toBeCloseTo(llr[0]![0]!, 12);
    });
  });

  it('adds, per rung and alternative, the conditional-binomial LLR written with theta(r) (unequal split)', () => {
    const alt = alternativesOf(mixtureGrid(16, 1));
    const rho = 0.2;
    const y = 7;
    const x = [12, 9, 4, 0];
    const llr = addLook(
      x.map(() => new Array<number>(32).fill(0)),
      alt,
      rho,
      y,
      x,
    );
    x.forEach((xk, k) => {
      alt.logR.forEach((lr, a) => {
        expect(llr[k]![a]!).toBeCloseTo(llrByTheta(rho, xk + y, xk, Math.exp(lr), 1), 10);
      });
    });
    // a rung where nothing exceeded adds nothing; the input is not modified
    const again = addLook(llr, alt, rho, 0, [0, 0, 0, 0]);
    expect(again).toEqual(llr);
    expect(again[0]).not.toBe(llr[0]);
  });

  it('mixes each half with its own normalised weights', () => {
    const alt = alternativesOf(mixtureGrid(8, 0.5));
    const row = alt.logR.map((lr) => 3 * lr);
    const up = Math.log(alt.logR.slice(0, 8).reduce((s, lr, i) => s + Math.exp(alt.logW[i]! + 3 * lr), 0));
    const down = Math.log(alt.logR.slice(8).reduce((s, lr, i) => s + Math.exp(alt.logW[8 + i]! + 3 * lr), 0));
    expect(rungLogM(row, alt, 'up')).toBeCloseTo(up, 12);
    expect(rungLogM(row, alt, 'down')).toBeCloseTo(down, 12);
    expect(rungLogM(new Array<number>(16).fill(0), alt, 'up')).toBeCloseTo(0, 12);
  });

  it('crossingRung interpolates where the Mantel-Haenszel ratio crosses 1', () => {
    expect(crossingRung([30, 20, 10, 5], 10)).toBeCloseTo(2, 12); // R = 3, 2, 1, 0.5 -> crosses at rung 2
    expect(crossingRung([30, 15, 5], 10)).toBeCloseTo(1 + 0.5 / 1, 12); // R = 3, 1.5, 0.5
    expect(crossingRung([5, 4], 10)).toBeUndefined(); // below the ladder
    expect(crossingRung([50, 40], 10)).toBeUndefined(); // above the ladder
    expect(crossingRung([5, 4], 0)).toBeUndefined(); // no baseline exceedance yet
  });
});
