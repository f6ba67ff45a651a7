import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createErrorRateSequential } from '../../../detectors/error-rate-sequential.js';
import type { ErrorRateState } from '../../../detectors/error-rate-sequential.js';
import { createLatencyQuantile } from '../../../detectors/latency-quantile.js';
import { createLatencySequential } from '../../../detectors/latency-sequential.js';
import { addRequest, emptyBatch } from '../../../src/evidence/cohort-batch.js';
import {
  BET_SCALES,
  binomialBet,
  binomialLookBets,
  nullGrid,
  symmetricBet,
  Z_CLIP,
} from '../../../detectors/lib/robust-looks.js';
import type { CohortBatch } from '../../../src/contracts/evidence.js';
import type { Verdict } from '../../../src/contracts/detector.js';
import { batch, lookInput, relErr } from '../../helpers/detectors.js';

/**
 * The robust combination of looks (detectors/lib/robust-looks.ts) and the detectors that use it by default.
 * Reference values: scipy 1.17 (stats.binom, stats.norm, integrate.quad at epsrel 1e-12), computed by
 * /work/ref-style script in the closing note of issue 13: the randomised PIT bet
 * E[tanh(a clip(Phi^-1(U)))], U ~ Uniform(F(x - 1), F(x)), integrated in z.
 */

const pmf = (m: number, k: number, p: number): number => {
  let l = 0;
  for (let i = 1; i <= k; i++) l += Math.log((m - k + i) / i);
  return Math.exp(l + k * Math.log(p) + (m - k) * Math.log1p(-p));
};

function bets(m: number, x: number, theta: number): number[] {
  const out = [0, 0, 0];
  binomialBet(m, x, theta, BET_SCALES, out);
  return out;
}

/** A batch whose requests are split over routes: [route, requests, errors][]. */
function routed(rows: [string, number, number][]): CohortBatch {
  const b = batch(0, 0);
  b.routes = {};
  for (const [route, n, e] of rows) {
    b.routes[route] = batch(n, e);
    b.requests += n;
    b.errors += e;
  }
  return b;
}

describe('robust looks: exact values (scipy reference)', () => {
  const cases: [number, number, number, number[]][] = [
    [25, 15, 0.5, [0.2873749153216745, 0.5295763591309587, 0.8238236682907529]],
    [1, 1, 0.1, [0.47703339000623846, 0.7667063083265718, 0.9598631003614716]],
    [3, 0, 0.9, [-0.7639700036942586, -0.9640320237524884, -0.9992852290122193]],
    [40, 3, 0.2, [-0.559967608272873, -0.8514886643462097, -0.9868267497721477]],
    [110, 100, 0.5, [0.9878803970168318, 0.9999256621257941, 0.9999999972367348]],
  ];
  it.each(cases)('bet of Binomial(%i) outcome %i at theta %f', (m, x, theta, want) => {
    bets(m, x, theta).forEach((v, s) => expect(relErr(v, want[s] as number)).toBeLessThan(1e-8));
  });

  it('two route strata: the information-weighted bet with per-route scales', () => {
    const out = [0, 0, 0];
    const ok = binomialLookBets(
      [
        { rho: 0.5, failures: 20, canaryFailures: 14 },
        { rho: 0.1, failures: 6, canaryFailures: 2 },
      ],
      0,
      BET_SCALES,
      out,
    );
    expect(ok).toBe(true);
    [0.545576764233285, 0.8242604699220037, 0.9788055968551422].forEach((w, s) =>
      expect(relErr(out[s] as number, w)).toBeLessThan(1e-8),
    );
    expect(binomialLookBets([{ rho: 0.5, failures: 0, canaryFailures: 0 }], 0, BET_SCALES, out)).toBe(false);
  });

  it('error-rate-sequential (robust): log M and p over four looks', () => {
    const d = createErrorRateSequential('e', {}, 0);
    let s = d.init();
    let v: Verdict | undefined;
    (
      [
        [1000, 18, 1000, 9],
        [1000, 15, 1000, 11],
        [1000, 20, 1000, 10],
        [900, 12, 1100, 12],
      ] as const
    ).forEach(([nc, xc, nb, xb], i) => {
      const r = d.look(s, lookInput(i + 1, batch(nc, xc), batch(nb, xb)), 0.05);
      s = r.state;
      v = r.verdict;
    });
    expect(relErr(v!.pValue, 0.16964900436880087)).toBeLessThan(1e-8);
    expect(v!.phase).toBe('inconclusive');
  });

  it('latency-sequential (robust): log M over three looks with a predictable variance after 20 df', () => {
    const d = createLatencySequential('l', {}, 0);
    let s = d.init();
    let p = 1;
    (
      [
        [20, 4.7, 4.8, 20, 4.6, 5.2],
        [20, 4.75, 5.1, 20, 4.61, 4.9],
        [30, 4.66, 7.0, 10, 4.62, 2.1],
      ] as const
    ).forEach(([nc, mc, sc, nb, mb, sb], i) => {
      const r = d.look(
        s,
        lookInput(i + 1, batch(nc, 0, { n: nc, mean: mc, m2: sc }), batch(nb, 0, { n: nb, mean: mb, m2: sb })),
        0.05,
      );
      s = r.state;
      p = r.verdict.pValue;
    });
    expect(relErr(p, Math.exp(-0.8733007353532217))).toBeLessThan(1e-9);
  });

  it('the grid holds r0 at its centre and steps by 1.1', () => {
    const g = nullGrid(1.05);
    expect(g.logR[g.atR0]).toBeCloseTo(Math.log(1.05), 14);
    expect(g.logR[g.atR0 + 1]! - g.logR[g.atR0]!).toBeCloseTo(Math.log(1.1), 14);
    expect(g.logR).toHaveLength(49);
  });
});

describe('robust looks: properties', () => {
  it('every bet has mean exactly 0 under its binomial null, and below 0 when the canary is better', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 80 }), fc.double({ min: 0.02, max: 0.98, noNaN: true }), (m, theta) => {
        const at = [0, 0, 0];
        const better = [0, 0, 0];
        for (let x = 0; x <= m; x++) {
          const b = bets(m, x, theta);
          const w = pmf(m, x, theta);
          const wb = pmf(m, x, theta * 0.7);
          b.forEach((v, s) => {
            at[s] = (at[s] as number) + w * v;
            better[s] = (better[s] as number) + wb * v;
          });
        }
        at.forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-7));
        better.forEach((v) => expect(v).toBeLessThan(0));
      }),
      { numRuns: 60 },
    );
  });

  it('bets are odd in the score, bounded by tanh(a clip) and increasing in the canary failures', () => {
    const out = [0, 0, 0];
    symmetricBet(1e9, BET_SCALES, out);
    out.forEach((v, s) => expect(v).toBeCloseTo(Math.tanh((BET_SCALES[s] as number) * Z_CLIP), 14));
    const a = [0, 0, 0];
    const b = [0, 0, 0];
    symmetricBet(0.7, BET_SCALES, a);
    symmetricBet(-0.7, BET_SCALES, b);
    a.forEach((v, s) => expect(v).toBeCloseTo(-(b[s] as number), 15));
    for (let x = 1; x <= 30; x++)
      bets(30, x, 0.4).forEach((v, s) => expect(v).toBeGreaterThan(bets(30, x - 1, 0.4)[s]!));
  });

  it('one look never decides: a 10x burst in one look of the canary leaves M below 2', () => {
    const d = createErrorRateSequential('e', {}, 0);
    const r = d.look(d.init(), lookInput(1, batch(1000, 100), batch(1000, 10)), 0.05);
    expect(r.verdict.phase).toBe('inconclusive');
    expect(r.verdict.pValue).toBeGreaterThan(0.5);
  });

  it('bursts that hit either cohort alike cancel; bursts of the canary alone roll it back', () => {
    const run = (looks: [number, number][]): Verdict[] => {
      const d = createErrorRateSequential('e', {}, 25);
      let s = d.init();
      return looks.map(([xc, xb], i) => {
        const r = d.look(s, lookInput(i + 1, batch(1000, xc), batch(1000, xb)), 0.05);
        s = r.state;
        return r.verdict;
      });
    };
    const either = Array.from({ length: 40 }, (_, i): [number, number] =>
      i % 5 === 0 ? [100, 10] : i % 5 === 1 ? [10, 100] : [10, 10],
    );
    expect(run(either).every((v) => v.phase !== 'fail')).toBe(true);
    const alone = Array.from({ length: 40 }, (_, i): [number, number] => (i % 5 === 0 ? [100, 10] : [10, 10]));
    expect(run(alone).some((v) => v.phase === 'fail')).toBe(true);
  });

  it('p never increases and stays in [0, 1]', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })), { maxLength: 30 }),
        (looks) => {
          const d = createErrorRateSequential('e', {}, 0);
          let s = d.init();
          let p = 1;
          looks.forEach(([xc, xb], i) => {
            const r = d.look(s, lookInput(i + 1, batch(500, xc), batch(500, xb)), 0.05);
            s = r.state;
            expect(r.verdict.pValue).toBeLessThanOrEqual(p);
            expect(r.verdict.pValue).toBeGreaterThanOrEqual(0);
            p = r.verdict.pValue;
          });
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('routes as strata', () => {
  it('a different mix of routes is not a regression: every route unchanged, the canary serves more of the slow one', () => {
    const d = createErrorRateSequential('e', {}, 25);
    let s = d.init();
    for (let look = 1; look <= 60; look++) {
      // slow route fails 3%, fast 1%, both cohorts alike; canary 30% slow, baseline 10%
      const canary = routed([
        ['GET /fast', 700, 7],
        ['POST /slow', 300, 9],
      ]);
      const baseline = routed([
        ['GET /fast', 900, 9],
        ['POST /slow', 100, 3],
      ]);
      const r = d.look(s, lookInput(look, canary, baseline), 0.05);
      s = r.state;
      expect(r.verdict.phase).not.toBe('fail');
    }
    // the pooled comparison is fooled by the same looks
    const pooled = createErrorRateSequential('e', { combine: 'independent' }, 25);
    let t = pooled.init();
    let failed = false;
    for (let look = 1; look <= 60; look++) {
      const r = pooled.look(t, lookInput(look, batch(1000, 16), batch(1000, 12)), 0.05);
      t = r.state;
      failed ||= r.verdict.phase === 'fail';
    }
    expect(failed).toBe(true);
  });

  it('names the route that regressed and reports a route only the canary serves', () => {
    const d = createErrorRateSequential('errors', {}, 25);
    let s: ErrorRateState = d.init();
    let v: Verdict | undefined;
    for (let look = 1; look <= 12; look++) {
      const canary = routed([
        ['GET /cart', 500, 2],
        ['POST /checkout', 500, 20],
        ['GET /v2/new', 100, 1],
      ]);
      const baseline = routed([
        ['GET /cart', 500, 2],
        ['POST /checkout', 500, 5],
      ]);
      const r = d.look(s, lookInput(look, canary, baseline), 0.05);
      s = r.state;
      v = r.verdict;
    }
    expect(v!.phase).toBe('fail');
    expect(v!.route).toBe('POST /checkout');
    expect(v!.summary).toMatch(/^POST \/checkout: errors 4x; overall error rate 3\.1x baseline \(lower bound 2\.9x\)/);
    expect(s.routes!['GET /v2/new']).toMatchObject({ canaryOnly: 1200, canaryRequests: 0 });
  });
});

describe('a state the independent combination wrote', () => {
  it('is carried on by the robust one from the next look: no error, the bets start there', () => {
    const spans = (n: number, slow: number): CohortBatch => {
      const b = emptyBatch();
      for (let i = 0; i < n; i++) addRequest(b, (50 + (i % 40)) * (i % 10 === 0 ? slow : 1), false);
      return b;
    };
    const before = createLatencyQuantile('p99', { combine: 'independent' }, 0);
    const after = createLatencyQuantile('p99', {}, 0);
    let s = before.init();
    for (let look = 1; look <= 3; look++) s = before.look(s, lookInput(look, spans(200, 1), spans(200, 1)), 0.05).state;
    for (let look = 4; look <= 12; look++) {
      const r = after.look(s, lookInput(look, spans(200, 3), spans(200, 1)), 0.05);
      expect(r.verdict.phase).not.toBe('error');
      s = r.state;
    }
    expect(s.bets!.worse.some((x) => x > 0)).toBe(true);
  });
});
