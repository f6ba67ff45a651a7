import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ErrorRateState } from '../../../detectors/error-rate-sequential.js';
import { createErrorRateSequential, errorRateSequential } from '../../../detectors/error-rate-sequential.js';
import { mixtureGrid, stratifiedMixtureLogM } from '../../../detectors/lib/discrete-mixture.js';
import { formatP } from '../../../detectors/lib/format.js';
import { logSumExp } from '../../../detectors/lib/log-sum-exp.js';
import { VigilError } from '../../../src/errors.js';
import type { Verdict } from '../../../src/contracts/detector.js';
import { batch, binomial, llrByTheta, lookInput, relErr, rng, REFERENCE_F_COUNTS } from '../../helpers/detectors.js';

/** This file pins the discrete mixture (`combine: independent`); the default `robust` combination has its own tests
 *  (error-rate-robust.test.ts). */
const INDEPENDENT = { combine: 'independent' } as const;

type Look = [canaryRequests: number, canaryErrors: number, baselineRequests: number, baselineErrors: number];

function run(
  looks: Look[],
  options: unknown = {},
  minSamples = 25,
  alpha = 0.05,
): { verdicts: Verdict[]; state: ErrorRateState } {
  const d = createErrorRateSequential('error-rate', { ...INDEPENDENT, ...(options as object) }, minSamples);
  let state = d.init();
  const verdicts: Verdict[] = [];
  looks.forEach(([nc, xc, nb, xb], i) => {
    const r = d.look(state, lookInput(i + 1, batch(nc, xc), batch(nb, xb)), alpha);
    state = r.state;
    verdicts.push(r.verdict);
  });
  return { verdicts, state };
}

const lookArb = fc
  .tuple(
    fc.integer({ min: 0, max: 3000 }),
    fc.integer({ min: 0, max: 3000 }),
    fc.double({ min: 0, max: 0.2, noNaN: true }),
    fc.double({ min: 0, max: 0.2, noNaN: true }),
  )
  .map(([nc, nb, pc, pb]): Look => [nc, Math.floor(nc * pc), nb, Math.floor(nb * pb)]);

describe('error-rate-sequential: exact values', () => {
  it('log M at each look equals an independent mixture of the per-look LLRs (F.counts, equal split)', () => {
    const counts = REFERENCE_F_COUNTS.slice(0, 5);
    const { verdicts, state } = run(
      counts.map(([b, c]) => [1000, c, 1000, b]),
      {},
      0,
    );
    const grid = mixtureGrid(48, 0.5);
    let p = 1;
    const llr = new Array<number>(48).fill(0);
    counts.forEach(([b, c], j) => {
      grid.logG.forEach((lg, k) => (llr[k]! += llrByTheta(0.5, b + c, c, Math.exp(lg), 1)));
      const logM = logSumExp(grid.logW.map((w, k) => w + llr[k]!));
      p = Math.min(p, Math.exp(-logM), 1);
      expect(relErr(verdicts[j]!.pValue, p)).toBeLessThan(1e-12);
    });
    // the O(K) running state and the per-look strata give the same statistic
    const fromStrata = stratifiedMixtureLogM(state.strata, grid, 1, 'upper-alternatives');
    expect(relErr(fromStrata, logSumExp(grid.logW.map((w, k) => w + state.llr[k]!)))).toBeLessThan(1e-12);
    // identical rho merged into one stratum
    expect(state.strata).toEqual([{ rho: 0.5, failures: 131, canaryFailures: 81 }]);
  });

  it('uses the REALISED split of each look, not the cumulative one', () => {
    // canary share 10% then 50%: LLRs must use rho = 0.1 then 0.5.
    const { state } = run(
      [
        [100, 3, 900, 9],
        [1000, 20, 1000, 10],
      ],
      { grid: 8 },
      0,
    );
    const grid = mixtureGrid(8, 0.5);
    grid.logG.forEach((lg, k) => {
      const want = llrByTheta(0.1, 12, 3, Math.exp(lg), 1) + llrByTheta(0.5, 30, 20, Math.exp(lg), 1);
      expect(state.llr[k]).toBeCloseTo(want, 12);
    });
  });

  it('tolerance moves the null to r0 = 1 + tolerance and the grid to r0 g_k', () => {
    const { state } = run([[1000, 30, 1000, 20]], { tolerance: 0.2, grid: 8 }, 0);
    const grid = mixtureGrid(8, 0.5);
    grid.logG.forEach((lg, k) =>
      expect(state.llr[k]).toBeCloseTo(llrByTheta(0.5, 50, 30, 1.2 * Math.exp(lg), 1.2), 12),
    );
  });

  it('estimate is the Mantel-Haenszel ratio and the bounds bracket it', () => {
    const { verdicts } = run([[1000, 48, 1000, 10]], {}, 25);
    const v = verdicts[0]!;
    expect(v.estimate).toBeCloseTo(4.8, 12);
    expect(v.lower!).toBeLessThan(4.8);
    expect(v.upper!).toBeGreaterThan(4.8);
  });
});

describe('error-rate-sequential: behaviour', () => {
  it('a 5x regression at 1% base, 1000 requests per cohort per look, fails within a few looks with lower bound > 1', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const rand = rng(seed);
      const looks: Look[] = Array.from({ length: 5 }, () => [
        1000,
        binomial(rand, 1000, 0.05),
        1000,
        binomial(rand, 1000, 0.01),
      ]);
      const { verdicts } = run(looks);
      const first = verdicts.findIndex((v) => v.phase === 'fail');
      expect(first).toBeGreaterThanOrEqual(0);
      expect(first).toBeLessThan(3);
      const v = verdicts[first]!;
      expect(v.lower!).toBeGreaterThan(1);
      expect(v.pValue).toBeLessThanOrEqual(0.05);
      expect(v.summary).toMatch(
        /^error rate \S+x baseline \(lower bound \S+x\), p[=<]\S+ after \d looks?; canary \d+\/\d+ vs baseline \d+\/\d+$/,
      );
    }
  });

  it('healthy canaries under a ramping split (5% -> 50%) and a rising error rate (1% -> 2%) rarely alarm', () => {
    // Stratification by look keeps this at the nominal level; a cumulative test alarms in ~63% of such runs.
    let alarms = 0;
    for (let seed = 100; seed < 140; seed++) {
      const rand = rng(seed);
      const looks: Look[] = Array.from({ length: 50 }, (_, j) => {
        const nc = Math.round(2000 * (0.05 + (0.45 * j) / 49));
        const p = 0.01 + (0.01 * j) / 49;
        return [nc, binomial(rand, nc, p), 2000 - nc, binomial(rand, 2000 - nc, p)];
      });
      if (run(looks).verdicts.some((v) => v.phase === 'fail')) alarms++;
    }
    expect(alarms).toBeLessThanOrEqual(3);
  });

  it('identical cohorts never alarm and their p-value stays 1', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.double({ min: 0, max: 0.5, noNaN: true })), {
          minLength: 1,
          maxLength: 30,
        }),
        (xs) => {
          const { verdicts } = run(
            xs.map(([n, p]): Look => [n, Math.floor(n * p), n, Math.floor(n * p)]),
            {},
            0,
          );
          return verdicts.every((v) => v.phase !== 'fail' && v.pValue === 1);
        },
      ),
    );
  });

  it('zero canary errors never alarm', () => {
    fc.assert(
      fc.property(fc.array(lookArb, { minLength: 1, maxLength: 30 }), (looks) => {
        const { verdicts } = run(
          looks.map(([nc, , nb, xb]): Look => [nc, 0, nb, xb]),
          {},
          0,
        );
        return verdicts.every((v) => v.phase !== 'fail' && v.pValue === 1);
      }),
    );
  });

  it('the p-value never increases and stays in [0, 1]', () => {
    fc.assert(
      fc.property(fc.array(lookArb, { minLength: 1, maxLength: 25 }), (looks) => {
        const ps = run(looks, {}, 0).verdicts.map((v) => v.pValue);
        return ps.every((p, i) => p >= 0 && p <= 1 && (i === 0 || p <= ps[i - 1]!));
      }),
    );
  });

  it('improvements never fail and end in pass', () => {
    const { verdicts } = run(Array.from({ length: 10 }, (): Look => [1000, 2, 1000, 20]));
    expect(verdicts.some((v) => v.phase === 'fail')).toBe(false);
    expect(verdicts.at(-1)!.phase).toBe('pass');
    expect(verdicts.at(-1)!.upper!).toBeLessThan(1);
    expect(verdicts.at(-1)!.summary).toMatch(/^error rate 0\.1x baseline \(upper bound \S+x\)/);
  });

  it('burn-in keeps the phase inconclusive but shows the p-value, said not used yet; then the verdict follows the test', () => {
    const { verdicts } = run(
      [
        [20, 20, 20, 0],
        [20, 20, 20, 0],
      ],
      {},
      25,
    );
    expect(verdicts[0]!.phase).toBe('inconclusive');
    expect(verdicts[0]!.pValue).toBeLessThan(0.05);
    expect(verdicts[0]!.summary).toBe(
      `burn-in: 20/25 canary and 20/25 baseline requests after 1 look; ${formatP(verdicts[0]!.pValue)} shown, no verdict before both reach 25; canary 20/20 vs baseline 0/20`,
    );
    expect(verdicts[1]!.phase).toBe('fail');
    expect(verdicts[1]!.samples).toEqual({ canary: 40, baseline: 40 });
  });

  it('looks with a cohort at zero requests or no failures add nothing; no data is never a failure', () => {
    const { verdicts, state } = run(
      [
        [0, 0, 1000, 5],
        [1000, 0, 1000, 0],
        [0, 0, 0, 0],
      ],
      {},
      0,
    );
    expect(state.llr.every((v) => v === 0)).toBe(true);
    expect(state.strata).toEqual([]);
    expect(verdicts.map((v) => v.phase)).toEqual(['inconclusive', 'inconclusive', 'inconclusive']);
    expect(verdicts[2]!.summary).toMatch(/^no failed requests in either cohort yet, p=1 after 3 looks/);
    expect(verdicts[2]!.lower).toBeUndefined();
  });

  it('leaves out an unbounded upper bound (baseline without failures)', () => {
    const v = run([[1000, 30, 1000, 0]], {}, 0).verdicts[0]!;
    expect(v.phase).toBe('fail');
    expect(v.estimate).toBeUndefined();
    expect(v.upper).toBeUndefined();
    expect(v.lower!).toBeGreaterThan(1);
    expect(v.summary).toMatch(/^canary failing, baseline not/);
  });

  it('state is plain JSON: a JSON round trip between looks changes nothing', () => {
    const rand = rng(7);
    const looks: Look[] = Array.from({ length: 8 }, (_, j) => [
      300 + 50 * j,
      binomial(rand, 300 + 50 * j, 0.03),
      700,
      binomial(rand, 700, 0.02),
    ]);
    const d = createErrorRateSequential('error-rate', INDEPENDENT, 25);
    let a = d.init();
    let b = d.init();
    looks.forEach(([nc, xc, nb, xb], i) => {
      const input = lookInput(i + 1, batch(nc, xc), batch(nb, xb));
      const ra = d.look(a, input, 0.05);
      const rb = d.look(JSON.parse(JSON.stringify(b)) as ErrorRateState, input, 0.05);
      expect(rb.verdict).toEqual(ra.verdict);
      a = ra.state;
      b = rb.state;
    });
  });

  it('does not mutate the state it is given', () => {
    const d = createErrorRateSequential('error-rate', INDEPENDENT, 0);
    const s0 = d.look(d.init(), lookInput(1, batch(1000, 20, undefined), batch(1000, 10)), 0.05).state;
    const copy = JSON.parse(JSON.stringify(s0)) as ErrorRateState;
    d.look(s0, lookInput(2, batch(1000, 25), batch(1000, 12)), 0.05);
    expect(s0).toEqual(copy);
  });

  it('an unusable batch gives phase error and leaves the state alone', () => {
    const d = createErrorRateSequential('error-rate', INDEPENDENT, 0);
    const s = d.init();
    for (const [c, b] of [
      [batch(10, 11), batch(10, 0)],
      [batch(-1, 0), batch(10, 0)],
      [batch(10, 0), batch(Number.NaN, 0)],
      [batch(10.5, 0), batch(10, 0)],
    ]) {
      const r = d.look(s, lookInput(1, c!, b!), 0.05);
      expect(r.verdict.phase).toBe('error');
      expect(r.state).toBe(s);
    }
    expect(d.look(s, lookInput(1, batch(10, 1), batch(10, 1)), 1).verdict.phase).toBe('error');
  });
});

describe('error-rate-sequential: options', () => {
  it('accepts defaults and valid options; the factory carries the type', () => {
    expect(errorRateSequential.type).toBe('error-rate-sequential');
    const d = errorRateSequential.create('errors', INDEPENDENT, { minSamples: 25 });
    expect(d.type).toBe('error-rate-sequential');
    expect(d.name).toBe('errors');
    expect((d.init() as ErrorRateState).llr).toHaveLength(48);
    expect(
      createErrorRateSequential('e', { ...INDEPENDENT, grid: 32, tolerance: 0.1, priorScale: 0.8 }, 0).init().llr,
    ).toHaveLength(32);
  });

  const bad: Array<[string, unknown]> = [
    ['tolerance', { tolerance: -0.1 }],
    ['grid', { grid: 7 }],
    ['grid', { grid: 257 }],
    ['grid', { grid: 10.5 }],
    ['priorScale', { priorScale: 0 }],
    ['tolerance', { tolerance: 'x' }],
    ['colour', { colour: 1 }],
  ];
  it.each(bad)('rejects a bad %s with VIGIL_ERR_DETECTOR_OPTIONS naming it', (option, options) => {
    try {
      errorRateSequential.create('errors', options, { minSamples: 25 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VigilError);
      expect((e as VigilError).code).toBe('VIGIL_ERR_DETECTOR_OPTIONS');
      expect((e as VigilError).message).toContain(option);
      expect((e as VigilError).details.option).toBe(option);
    }
  });

  it('rejects a bad minSamples', () => {
    expect(() => errorRateSequential.create('errors', {}, { minSamples: -1 })).toThrow(/minSamples/);
  });
});
