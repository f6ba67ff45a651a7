/**
 * Invariance to the order of looks where the methods promise it: the stratified evidence of both sequential
 * detectors is a sum over looks, so after the same set of looks (in any order) the e-value, the estimate and
 * the bounds are the same. (The always-valid p-value is a running minimum over the path, so it is not.)
 */
import { describe, expect, it } from 'vitest';
import { createErrorRateSequential } from '../../../detectors/error-rate-sequential.js';
import { createLatencySequential } from '../../../detectors/latency-sequential.js';
import type { CohortBatch } from '../../../src/contracts/evidence.js';
import { batch, lookInput } from '../../helpers/detectors.js';

const looks: [CohortBatch, CohortBatch][] = [
  [batch(120, 6, { n: 120, mean: 3.3, m2: 40 }), batch(880, 9, { n: 880, mean: 3.2, m2: 300 })],
  [batch(300, 11, { n: 300, mean: 3.4, m2: 90 }), batch(700, 8, { n: 700, mean: 3.25, m2: 260 })],
  [batch(500, 12, { n: 500, mean: 3.35, m2: 170 }), batch(500, 7, { n: 500, mean: 3.2, m2: 160 })],
  [batch(50, 3, { n: 50, mean: 3.5, m2: 20 }), batch(950, 10, { n: 950, mean: 3.22, m2: 330 })],
];

function runAll<S>(
  d: {
    init(): S;
    look(
      s: S,
      i: ReturnType<typeof lookInput>,
      a: number,
    ): { state: S; verdict: { estimate?: number; lower?: number; upper?: number } };
  },
  order: number[],
) {
  let s = d.init();
  let v: { estimate?: number; lower?: number; upper?: number } = {};
  order.forEach((k, i) => {
    const [c, b] = looks[k]!;
    const r = d.look(s, lookInput(i + 1, c, b), 0.05);
    s = r.state;
    v = r.verdict;
  });
  return { s, v };
}

describe('order of looks', () => {
  it('error-rate-sequential (robust): the same bets, p-value, estimate and bounds for any order of the same looks', () => {
    const d = createErrorRateSequential('errors', {}, 25);
    const a = runAll(d, [0, 1, 2, 3]);
    const b = runAll(d, [3, 1, 0, 2]);
    expect(a.v.estimate).toBeGreaterThan(1);
    expect(a.s.ledger!.worse.some((x) => x !== 0)).toBe(true);
    a.s.ledger!.worse.forEach((x, k) => expect(b.s.ledger!.worse[k]).toBeCloseTo(x, 9));
    a.s.ledger!.better.forEach((x, k) => expect(b.s.ledger!.better[k]).toBeCloseTo(x, 9));
    expect(b.v.estimate).toBeCloseTo(a.v.estimate!, 9);
    expect(b.v.lower).toBe(a.v.lower);
    expect(b.v.upper).toBe(a.v.upper);
  });

  it('error-rate-sequential: same LLRs, estimate and bounds for any order of the same looks', () => {
    const d = createErrorRateSequential('errors', { combine: 'independent' }, 25);
    const a = runAll(d, [0, 1, 2, 3]);
    const b = runAll(d, [3, 1, 0, 2]);
    expect(a.v.estimate).toBeGreaterThan(1);
    expect(a.s.llr.length).toBeGreaterThan(8);
    a.s.llr.forEach((x, k) => expect(b.s.llr[k]).toBeCloseTo(x, 9));
    expect(b.v.estimate).toBeCloseTo(a.v.estimate!, 9);
    expect(b.v.lower).toBeCloseTo(a.v.lower!, 6);
    expect(b.v.upper).toBeCloseTo(a.v.upper!, 6);
  });

  it('latency-sequential (planning variance fixed): same estimate and bounds for any order', () => {
    const d = createLatencySequential('latency', { planningVariance: 0.5, combine: 'independent' }, 25);
    const a = runAll(d, [0, 1, 2, 3]);
    const b = runAll(d, [2, 3, 0, 1]);
    expect(a.v.estimate).toBeGreaterThan(1);
    expect(a.v.lower).toBeLessThan(a.v.estimate!);
    expect(b.v.estimate).toBeCloseTo(a.v.estimate!, 9);
    expect(b.v.lower).toBeCloseTo(a.v.lower!, 9);
    expect(b.v.upper).toBeCloseTo(a.v.upper!, 9);
  });
});
