import { describe, expect, it } from 'vitest';
import { bisect, brent } from '../../../../detectors/lib/root-finding.js';

describe('bisect and brent', () => {
  const cases: Array<[string, (x: number) => number, number, number, number]> = [
    ['sqrt 2', (x) => x * x - 2, 0, 2, Math.SQRT2],
    ['decreasing cubic', (x) => 8 - x ** 3, 0, 10, 2],
    ['exp - 5', (x) => Math.exp(x) - 5, -30, 30, Math.log(5)],
    ['flat then steep', (x) => (x < 1 ? -1e-12 : (x - 1) ** 9 - 1e-12), 0, 3, 1 + 1e-12 ** (1 / 9)],
  ];
  it.each(cases)('finds the root of %s', (_name, f, lo, hi, root) => {
    expect(Math.abs(bisect(f, lo, hi, 1e-12) - root)).toBeLessThan(1e-11);
    expect(Math.abs(brent(f, lo, hi, 1e-12) - root)).toBeLessThan(1e-11);
  });
  it('returns an end point that is already a root', () => {
    expect(bisect((x) => x - 1, 1, 3)).toBe(1);
    expect(brent((x) => x - 3, 1, 3)).toBe(3);
  });
  it('throws when the root is not bracketed', () => {
    expect(() => bisect((x) => x * x + 1, -1, 1)).toThrow(RangeError);
    expect(() => brent((x) => x * x + 1, -1, 1)).toThrow(RangeError);
  });
  it('brent needs far fewer evaluations than bisection on a smooth function', () => {
    let nb = 0;
    let nr = 0;
    bisect((x) => (nb++, Math.exp(x) - 5), -30, 30, 1e-10);
    brent((x) => (nr++, Math.exp(x) - 5), -30, 30, 1e-10);
    expect(nr).toBeLessThan(nb);
  });
});
