import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { truncatedBetaLogM } from '../../../detectors/lib/bernoulli-mixture.js';
import { formatP } from '../../../detectors/lib/format.js';
import { logBetaTails } from '../../../detectors/lib/incomplete-beta.js';
import type { SloGuardState } from '../../../detectors/slo-guard.js';
import { createSloGuard, histogramExceedances, sloGuard } from '../../../detectors/slo-guard.js';
import type { Verdict } from '../../../src/contracts/detector.js';
import type { CohortBatch, LatencyHistogram } from '../../../src/contracts/evidence.js';
import { VigilError } from '../../../src/errors.js';
import { batch, binomial, lookInput, relErr, rng, simpson, REFERENCE_F_COUNTS } from '../../helpers/detectors.js';

function run(
  canaries: CohortBatch[],
  options: unknown,
  minSamples = 0,
  alpha = 0.05,
): { verdicts: Verdict[]; state: SloGuardState } {
  const d = createSloGuard('slo', options, minSamples);
  let state = d.init();
  const verdicts: Verdict[] = [];
  canaries.forEach((c, i) => {
    const r = d.look(state, lookInput(i + 1, c, batch(0, 0)), alpha); // NO baseline traffic at all
    state = r.state;
    verdicts.push(r.verdict);
  });
  return { verdicts, state };
}

/** A histogram (scale 2) holding `counts` samples at the given latencies (ms). */
function histogram(samples: Array<[ms: number, count: number]>, scale = 2): LatencyHistogram {
  const counts: Record<number, number> = {};
  for (const [ms, count] of samples) {
    const i = Math.ceil(Math.log2(ms) * 2 ** scale) - 1; // bucket (b^i, b^(i+1)] holding ms
    counts[i] = (counts[i] ?? 0) + count;
  }
  return { scale, zeroCount: 0, counts };
}

describe('incomplete beta and the one-sided Beta mixture', () => {
  it('logBetaTails matches closed forms (I_.5(2,3) = 11/16, I_x(a,1) = x^a) and a quadrature', () => {
    expect(relErr(Math.exp(logBetaTails(0.5, 2, 3).logLower), 11 / 16)).toBeLessThan(1e-14);
    expect(relErr(Math.exp(logBetaTails(0.5, 2, 3).logUpper), 5 / 16)).toBeLessThan(1e-14);
    expect(relErr(Math.exp(logBetaTails(0.3, 4.5, 1).logLower), 0.3 ** 4.5)).toBeLessThan(1e-13);
    const a = 3.7;
    const b = 12.2;
    const norm = simpson((t) => t ** (a - 1) * (1 - t) ** (b - 1), 0, 1);
    for (const x of [0.05, 0.2, 0.6]) {
      const want = simpson((t) => t ** (a - 1) * (1 - t) ** (b - 1), 0, x) / norm;
      expect(relErr(Math.exp(logBetaTails(x, a, b).logLower), want)).toBeLessThan(1e-9);
    }
  });

  it('tails far below 1e-308 stay finite in logs', () => {
    const t = logBetaTails(0.01, 5000, 5000);
    expect(t.logLower).toBeLessThan(-9000);
    expect(Number.isFinite(t.logLower)).toBe(true);
    expect(t.logUpper).toBeCloseTo(0, 15);
  });

  it('reproduces F.LM_one_sided_seq_p[rho=0.5,k=100] (canary share of the F counts, H0 share <= 0.5)', () => {
    const counts = REFERENCE_F_COUNTS;
    const ref = [
      0.742372426229, 0.551971109767, 0.325121939415, 0.105639911071, 0.0955574009368, 0.0421199266269, 0.010686676046,
      0.0059778825758, 0.00320194803876, 0.00135934018868,
    ];
    let n = 0;
    let x = 0;
    let p = 1;
    counts.forEach(([b, c], i) => {
      n += b + c;
      x += c;
      p = Math.min(p, Math.exp(-truncatedBetaLogM(n, x, 0.5, 100, 'above')));
      expect(relErr(p, ref[i]!)).toBeLessThan(1e-9);
    });
  });
});

describe('histogramExceedances', () => {
  it('buckets above, below and straddling the threshold', () => {
    // scale 0: buckets (2^i, 2^(i+1)]; threshold 300 lies in bucket 8 = (256, 512]
    const h: LatencyHistogram = { scale: 0, zeroCount: 4, counts: { 7: 10, 8: 3, 9: 2 } };
    expect(histogramExceedances(h, 300)).toEqual({ trials: 19, sure: 2, possible: 5 });
    expect(histogramExceedances(h, 256)).toEqual({ trials: 19, sure: 5, possible: 5 }); // 256 is an edge
    expect(histogramExceedances({ scale: 0, zeroCount: 0, counts: { 3: -1 } }, 10)).toMatch(/bad count/);
  });
});

describe('slo-guard: error-rate mode (no baseline cohort)', () => {
  it('the verdict p-value is min over looks of 1/M of the one-sided mixture, k = 1/p0 by default', () => {
    const looks = [batch(1000, 14), batch(1000, 19), batch(1000, 17)];
    const { verdicts } = run(looks, { maxErrorRate: 0.01 });
    let n = 0;
    let x = 0;
    let p = 1;
    looks.forEach((c, i) => {
      n += c.requests;
      x += c.errors;
      p = Math.min(p, Math.exp(-truncatedBetaLogM(n, x, 0.01, 100, 'above')));
      expect(relErr(verdicts[i]!.pValue, p)).toBeLessThan(1e-12);
    });
  });

  it('a 2x SLO breach fails with lower bound > 1x; a healthy canary passes with upper bound < 1x', () => {
    const broken = run(
      Array.from({ length: 5 }, () => batch(1000, 20)),
      { maxErrorRate: 0.01 },
      25,
    ).verdicts.at(-1)!;
    expect(broken.phase).toBe('fail');
    expect(broken.lower!).toBeGreaterThan(1);
    expect(broken.estimate).toBeCloseTo(2, 12);
    const healthy = run(
      Array.from({ length: 5 }, () => batch(1000, 3)),
      { maxErrorRate: 0.01 },
      25,
    ).verdicts.at(-1)!;
    expect(healthy.phase).toBe('pass');
    expect(healthy.upper!).toBeLessThan(1);
    expect(healthy.summary).toContain('canary only');
  });

  it('zero canary errors never alarm', () => {
    const { verdicts } = run(
      Array.from({ length: 200 }, () => batch(5000, 0)),
      { maxErrorRate: 0.001 },
    );
    expect(verdicts.every((v) => v.phase !== 'fail' && v.pValue === 1)).toBe(true);
  });

  it('burn-in counts canary requests only', () => {
    const { verdicts } = run([batch(10, 10), batch(10, 10), batch(10, 10)], { maxErrorRate: 0.01 }, 25);
    expect(verdicts.map((v) => v.phase)).toEqual(['inconclusive', 'inconclusive', 'fail']);
    expect(verdicts[1]!.summary).toBe(
      `burn-in: 20/25 canary requests (canary only, SLO error rate ≤ 1%) after 2 looks; ${formatP(verdicts[1]!.pValue)} shown, no verdict before the canary reaches 25`,
    );
  });

  it('property: p never increases; fail <=> lower bound > 1x; pass <=> upper bound < 1x', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.double({ min: 0.002, max: 0.05, noNaN: true }), (seed, rate) => {
        const rand = rng(seed);
        const { verdicts } = run(
          Array.from({ length: 12 }, () => batch(500, binomial(rand, 500, rate))),
          { maxErrorRate: 0.01 },
        );
        verdicts.forEach((v, i) => {
          if (i > 0) expect(v.pValue).toBeLessThanOrEqual(verdicts[i - 1]!.pValue);
          expect(v.phase === 'fail').toBe(v.lower! > 1 + 1e-9);
          expect(v.phase === 'pass').toBe(v.upper! < 1 - 1e-9);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('healthy canaries at the SLO boundary rarely cross 1/alpha (seeded, 400 runs x 100 looks of the statistic, alpha 0.05)', () => {
    let alarms = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const rand = rng(seed);
      let n = 0;
      let x = 0;
      for (let j = 0; j < 100; j++) {
        n += 200;
        x += binomial(rand, 200, 0.01);
        if (truncatedBetaLogM(n, x, 0.01, 100, 'above') >= Math.log(20)) {
          alarms++;
          break;
        }
      }
    }
    expect(alarms).toBeGreaterThan(0); // the boundary is the worst case: some runs do alarm
    expect(alarms / 400).toBeLessThanOrEqual(0.05);
  });
});

describe('slo-guard: latency mode', () => {
  it('fails when more than 1% of requests are slower than maxLatencyMs (p99 > threshold)', () => {
    const h = histogram([
      [100, 960],
      [600, 40],
    ]);
    const c: CohortBatch = { ...batch(1000, 0), latencyHistogram: h };
    const v = run([c, c], { quantile: 0.99, maxLatencyMs: 300 }, 25).verdicts.at(-1)!;
    expect(v.phase).toBe('fail');
    expect(v.estimate).toBeCloseTo(4, 12);
    expect(v.summary).toContain('p99 ≤ 300 ms broken');
  });

  it('the straddling bucket never makes a failure: samples just below the threshold in its bucket', () => {
    // 299 ms and 301 ms share a bucket at scale 2 ((287, 304]): all of them could be either side.
    const h = histogram([
      [100, 900],
      [299, 100],
    ]);
    const c: CohortBatch = { ...batch(1000, 0), latencyHistogram: h };
    const { verdicts, state } = run(
      Array.from({ length: 50 }, () => c),
      { quantile: 0.99, maxLatencyMs: 300 },
    );
    expect(state.sure).toBe(0);
    expect(state.possible).toBe(5000);
    expect(verdicts.every((v) => v.phase === 'inconclusive')).toBe(true);
  });

  it('passes when the tail is clearly below the threshold', () => {
    const c: CohortBatch = {
      ...batch(1000, 0),
      latencyHistogram: histogram([
        [100, 998],
        [400, 2],
      ]),
    };
    expect(
      run(
        Array.from({ length: 10 }, () => c),
        { quantile: 0.99, maxLatencyMs: 300 },
      ).verdicts.at(-1)!.phase,
    ).toBe('pass');
  });
});

describe('slo-guard: options', () => {
  it('validation names the bad option', () => {
    const bad = (options: unknown, option: string): void => {
      try {
        sloGuard.create('slo', options, { minSamples: 25 });
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(VigilError);
        expect((e as VigilError).details['option']).toBe(option);
      }
    };
    bad({}, 'maxErrorRate');
    bad({ maxErrorRate: 1.5 }, 'maxErrorRate');
    bad({ maxErrorRate: 0.01, quantile: 0.99, maxLatencyMs: 300 }, 'maxErrorRate');
    bad({ maxLatencyMs: 300 }, 'quantile');
    bad({ quantile: 0.99 }, 'maxLatencyMs');
    bad({ maxErrorRate: 0.01, concentration: -1 }, 'concentration');
    bad({ maxErrorRate: 0.01, baseline: true }, 'baseline');
  });
});
