import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LatencyState } from '../../../detectors/latency-sequential.js';
import { createLatencySequential, latencySequential, latencyStatistic } from '../../../detectors/latency-sequential.js';
import { formatP } from '../../../detectors/lib/format.js';
import { howardTau2 } from '../../../detectors/lib/normal-mixture.js';
import type { Verdict } from '../../../src/contracts/detector.js';
import type { LogMoments } from '../../../src/contracts/evidence.js';
import { VigilError } from '../../../src/errors.js';
import { batch, gaussian, lookInput, moments, relErr, rng, simpson } from '../../helpers/detectors.js';

/** This file pins the normal mixture (`combine: independent`); the default `robust` combination has its own tests
 *  (robust-looks.test.ts). */
const INDEPENDENT = { combine: 'independent' } as const;

type Look = [canary: LogMoments, baseline: LogMoments];

function run(
  looks: Look[],
  options: unknown = {},
  minSamples = 20,
  alpha = 0.05,
): { verdicts: Verdict[]; states: LatencyState[] } {
  const d = createLatencySequential('latency', { ...INDEPENDENT, ...(options as object) }, minSamples);
  let state = d.init();
  const verdicts: Verdict[] = [];
  const states: LatencyState[] = [];
  looks.forEach(([c, b], i) => {
    const r = d.look(state, lookInput(i + 1, batch(c.n, 0, c), batch(b.n, 0, b)), alpha);
    state = r.state;
    verdicts.push(r.verdict);
    states.push(state);
  });
  return { verdicts, states };
}

/** Independent one-sided normal mixture: integral of the likelihood ratio against the half-normal prior. */
function halfNormalMixture(d: number, s2: number, tau2: number): number {
  const tau = Math.sqrt(tau2);
  return simpson(
    (t) =>
      2 *
      Math.exp((t * d) / s2 - (t * t) / (2 * s2)) *
      (Math.exp(-(t * t) / (2 * tau2)) / (tau * Math.sqrt(2 * Math.PI))),
    0,
    14 * tau,
    40_000,
  );
}

const L = (a: number): number => 2 * Math.log(1 / a) + Math.log(1 + 2 * Math.log(1 / a));

/** Log-normal spans: n per cohort, log-sd sigma, canary slower by `ratio`, shared level `level` (ms). */
function simulate(rand: () => number, nc: number, nb: number, ratio: number, level = 100, sigma = 0.5): Look {
  const mu = Math.log(level);
  return [
    moments(Array.from({ length: nc }, () => mu + Math.log(ratio) + sigma * gaussian(rand))),
    moments(Array.from({ length: nb }, () => mu + sigma * gaussian(rand))),
  ];
}

const momentsArb = fc
  .record({
    n: fc.integer({ min: 0, max: 200 }),
    mean: fc.double({ min: 0, max: 8, noNaN: true }),
    sd: fc.double({ min: 0.01, max: 2, noNaN: true }),
  })
  .map(({ n, mean, sd }): LogMoments => ({ n, mean, m2: n > 1 ? sd * sd * (n - 1) : 0 }));

describe('latency-sequential: exact values', () => {
  it('reproduces C.mSPRT.estimator_form[nA=300, nB=100, sA2=1, sB2=1.5, d=0.3, tau2=0.04] in its one-sided form', () => {
    const alpha = 0.025; // a = 2 alpha = 0.05
    const planningVariance = (0.04 * 500) / L(0.05); // makes tau2 = 0.04 with nOpt 500
    const { verdicts, states } = run(
      [
        [
          { n: 300, mean: 5.3, m2: 299 },
          { n: 100, mean: 5.0, m2: 99 * 1.5 },
        ],
      ],
      { planningVariance },
      20,
      alpha,
    );
    const s = states[0]!;
    expect(relErr(s.tau2!, 0.04)).toBeLessThan(1e-12);
    const stat = latencyStatistic(s)!;
    const s2 = 1 / 300 + 1.5 / 100;
    expect(relErr(stat.dRaw, 0.3)).toBeLessThan(1e-12);
    expect(relErr(stat.s2, s2)).toBeLessThan(1e-12);
    // the two-sided sibling of this statistic is the reference value 3.0173847783 (checked in normal-mixture.test.ts);
    // the detector's one-sided M must equal the integral with a half-normal prior: p = 1/M.
    const m1 = halfNormalMixture(0.3, s2, 0.04);
    expect(relErr(verdicts[0]!.pValue, 1 / m1)).toBeLessThan(1e-9);
    // bounds: the one-sided radius r1 at alpha solves M(r1) = 1/alpha
    const v = verdicts[0]!;
    expect(relErr(v.estimate!, Math.exp(0.3))).toBeLessThan(1e-12);
    const r1 = 0.3 - Math.log(v.lower!);
    expect(Math.log(v.upper!) - 0.3).toBeCloseTo(r1, 12);
    expect(relErr(halfNormalMixture(r1, s2, 0.04), 1 / alpha)).toBeLessThan(1e-6);
  });

  it('stratifies by look: d, s2 and log M from an independent computation over three uneven looks', () => {
    const looks: Look[] = [
      [
        { n: 5, mean: 4.2, m2: 1.1 },
        { n: 45, mean: 4.0, m2: 9.4 },
      ],
      [
        { n: 20, mean: 4.9, m2: 5.2 },
        { n: 30, mean: 4.8, m2: 7.7 },
      ],
      [
        { n: 40, mean: 5.5, m2: 8.8 },
        { n: 10, mean: 5.3, m2: 2.5 },
      ],
    ];
    const { verdicts, states } = run(looks, { planningVariance: 0.5, nOpt: 200, tolerance: 0.05 }, 0, 0.05);
    let sw = 0;
    let swd = 0;
    let swc = 0;
    let swb = 0;
    for (const [c, b] of looks) {
      const w = (c.n * b.n) / (c.n + b.n);
      sw += w;
      swd += w * (c.mean - b.mean);
      swc += (w * w) / c.n;
      swb += (w * w) / b.n;
    }
    const vc = (1.1 + 5.2 + 8.8) / (4 + 19 + 39);
    const vb = (9.4 + 7.7 + 2.5) / (44 + 29 + 9);
    const s2 = (vc * swc + vb * swb) / (sw * sw);
    const d = swd / sw - Math.log(1.05);
    const tau2 = (0.5 * L(0.1)) / 200;
    expect(relErr(states[2]!.tau2!, tau2)).toBeLessThan(1e-12);
    const logM =
      Math.LN2 +
      0.5 * Math.log(s2 / (s2 + tau2)) +
      (tau2 * d * d) / (2 * s2 * (s2 + tau2)) +
      Math.log(halfNormalCdf((Math.sqrt(tau2) * d) / Math.sqrt(s2 * (s2 + tau2))));
    expect(relErr(Math.exp(logM), halfNormalMixture(d, s2, tau2))).toBeLessThan(1e-8);
    const pMin = Math.min(...verdicts.slice(0, 2).map((v) => v.pValue), Math.exp(-logM), 1);
    expect(relErr(verdicts[2]!.pValue, pMin)).toBeLessThan(1e-9);
    expect(relErr(verdicts[2]!.estimate!, Math.exp(swd / sw))).toBeLessThan(1e-12);
  });

  it('fixes tau2 ONCE from the burn-in (2 x pooled within-look variance) and never re-estimates it', () => {
    const looks: Look[] = [
      [
        { n: 10, mean: 4, m2: 9 * 0.2 },
        { n: 10, mean: 4, m2: 9 * 0.3 },
      ],
      [
        { n: 12, mean: 4.1, m2: 11 * 0.25 },
        { n: 12, mean: 4.1, m2: 11 * 0.35 },
      ],
      [
        { n: 50, mean: 4.1, m2: 49 * 3 },
        { n: 50, mean: 4.1, m2: 49 * 3 },
      ],
    ];
    const { verdicts, states } = run(looks, {}, 20, 0.05);
    expect(states[0]!.tau2).toBeNull();
    expect(verdicts[0]!.pValue).toBe(1);
    const vPlan = (2 * (9 * 0.2 + 9 * 0.3 + 11 * 0.25 + 11 * 0.35)) / (9 + 9 + 11 + 11);
    expect(relErr(states[1]!.planningVariance!, vPlan)).toBeLessThan(1e-12);
    expect(relErr(states[1]!.tau2!, howardTau2(vPlan, 500, 0.1))).toBeLessThan(1e-12);
    expect(states[2]!.tau2).toBe(states[1]!.tau2);
  });
});

/** Phi by integration, independent of the library. */
function halfNormalCdf(z: number): number {
  return 0.5 + Math.sign(z) * simpson((t) => Math.exp(-0.5 * t * t) / Math.sqrt(2 * Math.PI), 0, Math.abs(z), 20_000);
}

describe('latency-sequential: behaviour', () => {
  it('latency +50% with 20 spans per cohort per look fails within a few looks', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rand = rng(seed);
      const { verdicts } = run(
        Array.from({ length: 10 }, () => simulate(rand, 20, 20, 1.5)),
        { tolerance: 0.05 },
      );
      const first = verdicts.findIndex((v) => v.phase === 'fail');
      expect(first).toBeGreaterThanOrEqual(0);
      expect(first).toBeLessThan(6);
      const v = verdicts[first]!;
      expect(v.lower!).toBeGreaterThan(1.05);
      expect(v.summary).toMatch(
        /^latency \S+x baseline \(lower bound \S+x, tolerance \+5%\), p[=<]\S+ after \d looks?; \d+ canary vs \d+ baseline spans$/,
      );
    }
  });

  it('healthy canaries with a ramping split and a shared 20% latency trend rarely alarm', () => {
    let alarms = 0;
    for (let seed = 1000; seed < 1400; seed++) {
      const rand = rng(seed);
      const looks = Array.from({ length: 100 }, (_, j) => {
        const nc = Math.max(1, Math.round(40 * (0.05 + (0.45 * j) / 99)));
        return simulate(rand, nc, 40 - nc, 1, 100 * (1 + (0.2 * j) / 99));
      });
      if (run(looks).verdicts.some((v) => v.phase === 'fail')) alarms++;
    }
    expect(alarms).toBeLessThanOrEqual(20); // alpha x 400
  });

  it('identical cohorts never alarm', () => {
    fc.assert(
      fc.property(fc.array(momentsArb, { minLength: 1, maxLength: 30 }), (ms) => {
        const { verdicts } = run(
          ms.map((m): Look => [m, m]),
          { planningVariance: 0.5 },
          0,
        );
        return verdicts.every((v) => v.phase !== 'fail' && v.pValue === 1);
      }),
    );
  });

  it('the p-value never increases and stays in [0, 1]', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(momentsArb, momentsArb), { minLength: 1, maxLength: 30 }), (looks) => {
        const ps = run(looks, {}, 10).verdicts.map((v) => v.pValue);
        return ps.every((p, i) => p >= 0 && p <= 1 && (i === 0 || p <= ps[i - 1]!));
      }),
    );
  });

  it('improvements never fail and end in pass', () => {
    const rand = rng(42);
    const { verdicts } = run(Array.from({ length: 30 }, () => simulate(rand, 50, 50, 0.7)));
    expect(verdicts.some((v) => v.phase === 'fail')).toBe(false);
    expect(verdicts.at(-1)!.phase).toBe('pass');
    expect(verdicts.at(-1)!.upper!).toBeLessThan(1);
  });

  it('a regression inside the tolerance does not fail and passes with enough data', () => {
    const rand = rng(9);
    const { verdicts } = run(
      Array.from({ length: 60 }, () => simulate(rand, 200, 200, 1.01, 100, 0.3)),
      { tolerance: 0.1 },
    );
    expect(verdicts.some((v) => v.phase === 'fail')).toBe(false);
    expect(verdicts.at(-1)!.phase).toBe('pass');
    expect(verdicts.at(-1)!.upper!).toBeLessThan(1.1);
  });

  it('burn-in keeps the phase inconclusive with a planning variance, while p is reported', () => {
    const { verdicts } = run(
      [
        [
          { n: 10, mean: 6, m2: 9 * 0.1 },
          { n: 10, mean: 4, m2: 9 * 0.1 },
        ],
      ],
      { planningVariance: 0.5 },
      25,
    );
    expect(verdicts[0]!.phase).toBe('inconclusive');
    expect(verdicts[0]!.pValue).toBeLessThan(0.05);
    expect(verdicts[0]!.summary).toBe(
      `burn-in: 10/25 canary and 10/25 baseline spans after 1 look; ${formatP(verdicts[0]!.pValue)} shown, no verdict before both reach 25`,
    );
  });

  it('looks with one cohort empty add no contrast; state is plain JSON', () => {
    const looks: Look[] = [
      [
        { n: 0, mean: 0, m2: 0 },
        { n: 30, mean: 4, m2: 3 },
      ],
      [
        { n: 25, mean: 4.2, m2: 2.4 },
        { n: 25, mean: 4.0, m2: 2.6 },
      ],
      [
        { n: 1, mean: 4.5, m2: 0 },
        { n: 1, mean: 4.0, m2: 0 },
      ],
    ];
    const d = createLatencySequential('latency', INDEPENDENT, 20);
    let a = d.init();
    let b = d.init();
    looks.forEach(([c, base], i) => {
      const input = lookInput(i + 1, batch(c.n, 0, c), batch(base.n, 0, base));
      const ra = d.look(a, input, 0.05);
      const rb = d.look(JSON.parse(JSON.stringify(b)) as LatencyState, input, 0.05);
      expect(rb.verdict).toEqual(ra.verdict);
      a = ra.state;
      b = rb.state;
      if (i === 0) expect(a.sumW).toBe(0);
    });
    expect(a.dfBaseline).toBe(29 + 24);
    expect(a.dfCanary).toBe(24);
  });

  it('an unusable batch gives phase error and leaves the state alone', () => {
    const d = createLatencySequential('latency', INDEPENDENT, 0);
    const s = d.init();
    const good = { n: 10, mean: 4, m2: 1 };
    for (const bad of [
      { n: 10, mean: Number.NaN, m2: 1 },
      { n: 10, mean: 4, m2: -1 },
      { n: 2.5, mean: 4, m2: 1 },
    ]) {
      const r = d.look(s, lookInput(1, batch(10, 0, bad), batch(10, 0, good)), 0.05);
      expect(r.verdict.phase).toBe('error');
      expect(r.state).toBe(s);
    }
    expect(d.look(s, lookInput(1, batch(10, 0, good), batch(10, 0, good)), 0.5).verdict.phase).toBe('error');
  });
});

describe('latency-sequential: options', () => {
  it('accepts defaults; the factory carries the type', () => {
    expect(latencySequential.type).toBe('latency-sequential');
    const d = latencySequential.create('latency', INDEPENDENT, { minSamples: 25 });
    expect(d.type).toBe('latency-sequential');
    expect((d.init() as LatencyState).tau2).toBeNull();
  });

  const bad: Array<[string, unknown]> = [
    ['tolerance', { tolerance: -0.05 }],
    ['nOpt', { nOpt: 0 }],
    ['nOpt', { nOpt: 12.5 }],
    ['planningVariance', { planningVariance: 0 }],
    ['planningVariance', { planningVariance: -2 }],
    ['quantile', { quantile: 0.99 }],
  ];
  it.each(bad)('rejects a bad %s with VIGIL_ERR_DETECTOR_OPTIONS naming it', (option, options) => {
    try {
      latencySequential.create('latency', options, { minSamples: 25 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VigilError);
      expect((e as VigilError).code).toBe('VIGIL_ERR_DETECTOR_OPTIONS');
      expect((e as VigilError).message).toContain(option);
    }
  });
});
