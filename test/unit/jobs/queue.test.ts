import { describe, expect, it } from 'vitest';
import { backoffDelayMs, checkJobId, checkPolicy } from '../../../src/jobs/queue.js';

describe('retry policy helpers', () => {
  it('doubles the backoff after each failed attempt', () => {
    const p = { attempts: 5, backoffMs: 100 };
    expect([1, 2, 3, 4].map((a) => backoffDelayMs(p, a))).toEqual([100, 200, 400, 800]);
  });

  it('rejects nonsense policies and empty ids', () => {
    expect(() => checkPolicy({ attempts: 0, backoffMs: 10 })).toThrow(RangeError);
    expect(() => checkPolicy({ attempts: 1.5, backoffMs: 10 })).toThrow(RangeError);
    expect(() => checkPolicy({ attempts: 2, backoffMs: -1 })).toThrow(RangeError);
    expect(checkPolicy({ attempts: 2, backoffMs: 0 })).toEqual({ attempts: 2, backoffMs: 0 });
    expect(() => checkJobId('')).toThrow(RangeError);
    expect(() => checkJobId('x')).not.toThrow();
  });
});
