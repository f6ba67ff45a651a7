import { describe, expect, it } from 'vitest';
import { erfc, logErfc, normalCdf, normalLogCdf, normalPdf } from '../../../../detectors/lib/normal.js';
import { relErr, simpson } from '../../../helpers/detectors.js';

describe('normal cdf / erfc', () => {
  // Published values (Abramowitz & Stegun tables; scipy.special to 16 digits).
  const table: Array<[number, number]> = [
    [-10, 7.619853024160527e-24],
    [-5, 2.866515718791939e-7],
    [-3, 0.0013498980316301035],
    [-1, 0.15865525393145705],
    [0, 0.5],
    [1.96, 0.9750021048517795],
  ];
  it.each(table)('Phi(%d) matches the reference value to 1e-12 relative', (z, want) => {
    expect(relErr(normalCdf(z), want)).toBeLessThan(1e-12);
  });

  it('erfc matches reference values on both sides of the series / continued-fraction switch', () => {
    expect(relErr(erfc(0.5), 0.4795001221869535)).toBeLessThan(1e-13);
    expect(relErr(erfc(1), 0.1572992070502851)).toBeLessThan(1e-13);
    expect(relErr(erfc(3), 2.209049699858544e-5)).toBeLessThan(1e-12);
    expect(relErr(erfc(-1), 2 - 0.1572992070502851)).toBeLessThan(1e-14);
    // continuity at the switch point x = 2.5
    expect(relErr(erfc(2.5 - 1e-12), erfc(2.5))).toBeLessThan(1e-10);
  });

  it('Phi agrees with a numerical integral of the density', () => {
    for (const z of [-6, -2.2, -0.3, 0.7, 2.9]) {
      const integral = simpson(normalPdf, -40, z, 200_000);
      expect(relErr(normalCdf(z), integral)).toBeLessThan(1e-10);
    }
  });

  it('Phi(z) + Phi(-z) = 1', () => {
    for (const z of [0.1, 1.3, 2.6, 4.4]) expect(normalCdf(z) + normalCdf(-z)).toBeCloseTo(1, 15);
  });

  it('log Phi is finite and follows the Mills-ratio asymptote far in the lower tail', () => {
    for (const z of [-40, -1e3, -1e5]) {
      const asymptote =
        -0.5 * z * z -
        Math.log(-z) -
        0.5 * Math.log(2 * Math.PI) +
        Math.log1p(-1 / z ** 2 + 3 / z ** 4 - 15 / z ** 6 + 105 / z ** 8);
      expect(relErr(normalLogCdf(z), asymptote)).toBeLessThan(1e-12);
    }
    expect(normalLogCdf(-3)).toBeCloseTo(Math.log(0.0013498980316301035), 13);
    expect(normalLogCdf(Number.NEGATIVE_INFINITY)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('log Phi keeps precision for large positive z (log Phi(8) = -Phi(-8))', () => {
    expect(relErr(normalLogCdf(8), -6.22096057427178e-16)).toBeLessThan(1e-10);
  });

  it('logErfc matches log(erfc) where erfc does not underflow', () => {
    for (const x of [0.2, 2.49, 2.51, 10, 20]) expect(relErr(logErfc(x), Math.log(erfc(x)))).toBeLessThan(1e-13);
  });
});
