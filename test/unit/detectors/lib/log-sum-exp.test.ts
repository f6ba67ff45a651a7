import { describe, expect, it } from 'vitest';
import { logSumExp, logWeightedSumExp } from '../../../../detectors/lib/log-sum-exp.js';

describe('logSumExp', () => {
  it('equals the naive formula for moderate values', () => {
    const xs = [-1.5, 0.2, 3.3, 2];
    const naive = Math.log(xs.reduce((s, x) => s + Math.exp(x), 0));
    expect(logSumExp(xs)).toBeCloseTo(naive, 14);
  });
  it('does not overflow or underflow', () => {
    expect(logSumExp([1000, 1000])).toBeCloseTo(1000 + Math.LN2, 12);
    expect(logSumExp([-1000, -1000 - Math.log(3)])).toBeCloseTo(-1000 + Math.log(4 / 3), 12);
  });
  it('handles empty input and infinities', () => {
    expect(logSumExp([])).toBe(Number.NEGATIVE_INFINITY);
    expect(logSumExp([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY])).toBe(Number.NEGATIVE_INFINITY);
    expect(logSumExp([Number.NEGATIVE_INFINITY, 2])).toBe(2);
    expect(logSumExp([1, Number.POSITIVE_INFINITY])).toBe(Number.POSITIVE_INFINITY);
  });
  it('weighted form: log(sum w exp(a))', () => {
    expect(logWeightedSumExp([Math.log(0.25), Math.log(0.75)], [0, Math.log(2)])).toBeCloseTo(Math.log(0.25 + 1.5), 14);
    expect(() => logWeightedSumExp([0], [1, 2])).toThrow(RangeError);
  });
});
