import { describe, expect, it } from 'vitest';
import type { RatioState } from '../../../detectors/ratio-sequential.js';
import { createRatioSequential, ratioSequential, selectorLabel } from '../../../detectors/ratio-sequential.js';
import { createErrorRateSequential } from '../../../detectors/error-rate-sequential.js';
import { mixtureGrid } from '../../../detectors/lib/discrete-mixture.js';
import { logSumExp } from '../../../detectors/lib/log-sum-exp.js';
import type { Verdict } from '../../../src/contracts/detector.js';
import type { VigilError } from '../../../src/errors.js';
import { batch, binomial, lookInput, rng } from '../../helpers/detectors.js';

type Look = [canaryEvents: number, canaryExposures: number, baselineEvents: number, baselineExposures: number];

const CONVERSION = { numerator: { metric: 'checkout.completed' }, denominator: { metric: 'checkout.started' } };

function ratioLook(look: number, [xc, dc, xb, db]: Look) {
  return lookInput(
    look,
    { ...batch(0, 0), ratio: { numerator: xc, denominator: dc } },
    { ...batch(0, 0), ratio: { numerator: xb, denominator: db } },
  );
}

function run(looks: readonly Look[], options: object, minSamples = 0, alpha = 0.05) {
  const d = createRatioSequential('conversion', { ...CONVERSION, ...options }, minSamples);
  let state = d.init();
  const verdicts: Verdict[] = [];
  const states: RatioState[] = [];
  looks.forEach((l, i) => {
    const r = d.look(state, ratioLook(i + 1, l), alpha);
    state = r.state;
    verdicts.push(r.verdict);
    states.push(state);
  });
  return { verdicts, states };
}

/**
 * Reference values: python3 test/reference/issue16_reference.py (scipy binom.logpmf of the conditional binomial,
 * the grid and weights written out from STATISTICS.md; not a port of the TS). Rows: log M, p, estimate per look.
 */
const LOOKS: Look[] = [
  [14, 1000, 20, 1000],
  [9, 500, 25, 1500],
  [30, 1200, 22, 800],
  [0, 300, 5, 300],
  [12, 0, 3, 100],
  [40, 1000, 70, 1000],
  [25, 10, 12, 10],
];
// ratio-sequential, combine independent, worse lower, tolerance 0.05: swapped, r
const LOWER_TOL_005 = [
  [0.13007364949559275, 0.878030762016437, 0.7],
  [-0.3873636716872386, 0.878030762016437, 0.8461538461538461],
  [-0.6443221735987716, 0.878030762016437, 0.8743633276740237],
  [-0.2238736105340806, 0.878030762016437, 0.8059467918622848],
  [-0.2238736105340806, 0.878030762016437, 0.8059467918622848],
  [2.1444872845521856, 0.11712807502504913, 0.683345780433159],
  [0.11550069905055382, 0.11712807502504913, 0.7984921178889651],
];

// ratio-sequential, combine independent, worse higher, tolerance 0 (r0 = 1): loo
const HIGHER_TOL_0 = [
  [-1.0974716501797621, 1.0, 0.7],
  [-1.1456013469498472, 1.0, 0.8461538461538461],
  [-1.4274995470576866, 1.0, 0.8743633276740238],
  [-1.6626041390490711, 1.0, 0.8059467918622848],
  [-1.6626041390490711, 1.0, 0.8059467918622848],
  [-2.514354731972773, 1.0, 0.6833457804331591],
  [-2.2756433335461272, 1.0, 0.798492117888965],
];

// ratio-sequential, combine independent, worse higher, tolerance 0.1, the cohort
const HIGHER_TOL_01_EXCHANGED = [
  [0.017629534977260164, 0.9825249560738291, 1.4285714285714286],
  [-0.5190112570290601, 0.9825249560738291, 1.1818181818181819],
  [-0.8332618148584221, 0.9825249560738291, 1.1436893203883496],
  [-0.4635551760965553, 0.9825249560738291, 1.2407766990291262],
  [-0.4635551760965553, 0.9825249560738291, 1.2407766990291262],
  [1.434570556661222, 0.23821764303157325, 1.4633879781420767],
  [-0.3610096566130052, 0.23821764303157325, 1.2523605150214592],
];

const logMOf = (s: RatioState): number => {
  const g = mixtureGrid(48, 0.5);
  return logSumExp(g.logW.map((w, k) => w + s.llr[k]!));
};

describe('ratio-sequential: exact values against the independent reference', () => {
  const cases: [string, object, Look[], number[][]][] = [
    ['worse lower, tolerance 0.05 (swapped cohorts)', { worse: 'lower', tolerance: 0.05 }, LOOKS, LOWER_TOL_005],
    ['worse higher, tolerance 0', {}, LOOKS, HIGHER_TOL_0],
    [
      'worse higher, tolerance 0.1, cohorts exchanged',
      { tolerance: 0.1 },
      LOOKS.map(([a, b, c, d]): Look => [c, d, a, b]),
      HIGHER_TOL_01_EXCHANGED,
    ],
  ];
  for (const [title, options, looks, ref] of cases) {
    it(title, () => {
      const { verdicts, states } = run(looks, { combine: 'independent', ...options });
      ref.forEach(([logM, p, estimate], j) => {
        expect(logMOf(states[j]!)).toBeCloseTo(logM!, 10);
        expect(verdicts[j]!.pValue).toBeCloseTo(p!, 10);
        expect(verdicts[j]!.estimate).toBeCloseTo(estimate!, 10);
      });
    });
  }

  it('worse higher is error-rate-sequential on the same counts (both combinations), when events <= exposures', () => {
    for (const combine of ['robust', 'independent'] as const) {
      const looks = LOOKS.filter(([xc, dc, xb, db]) => xc <= dc && xb <= db);
      const { verdicts } = run(looks, { combine, tolerance: 0.1 });
      const e = createErrorRateSequential('e', { combine, tolerance: 0.1 }, 0);
      let s = e.init();
      looks.forEach(([xc, dc, xb, db], j) => {
        const r = e.look(s, lookInput(j + 1, batch(dc, xc), batch(db, xb)), 0.05);
        s = r.state;
        const v = verdicts[j]!;
        expect([v.phase, v.pValue, v.estimate, v.lower, v.upper]).toEqual([
          r.verdict.phase,
          r.verdict.pValue,
          r.verdict.estimate,
          r.verdict.lower,
          r.verdict.upper,
        ]);
      });
    }
  });

  it('worse lower reports the swapped bounds inverted: lower = 1 / swapped upper', () => {
    const { verdicts } = run(LOOKS, { combine: 'independent', worse: 'lower', tolerance: 0.05 });
    const swapped = run(
      LOOKS.map(([a, b, c, d]): Look => [c, d, a, b]),
      { combine: 'independent', tolerance: 1 / 0.95 - 1 },
    ).verdicts;
    verdicts.forEach((v, j) => {
      const w = swapped[j]!;
      if (w.upper !== undefined) expect(v.lower).toBeCloseTo(1 / w.upper, 12);
      if (w.lower !== undefined && w.lower > 0) expect(v.upper).toBeCloseTo(1 / w.lower, 12);
      expect(v.pValue).toBeCloseTo(w.pValue, 12);
    });
  });
});

/** One simulated analysis: Poisson-ish conversions (binomial draws) at the given rates. */
function simulate(seed: number, looks: number, pc: number, pb: number, options: object, n = 200): Verdict[] {
  const rand = rng(seed);
  const d = createRatioSequential('conversion', { ...CONVERSION, ...options }, 25);
  let s = d.init();
  const out: Verdict[] = [];
  for (let j = 1; j <= looks; j++) {
    const r = d.look(s, ratioLook(j, [binomial(rand, n, pc), n, binomial(rand, n, pb), n]), 0.05);
    s = r.state;
    out.push(r.verdict);
    if (r.verdict.phase === 'fail') break;
  }
  return out;
}

describe('ratio-sequential: behaviour', () => {
  it('A/A (same conversion) never fails across 100 looks in 20 seeds, either direction', () => {
    for (let seed = 1; seed <= 20; seed++)
      for (const worse of ['lower', 'higher'])
        expect(simulate(seed, 100, 0.05, 0.05, { worse }).some((v) => v.phase === 'fail')).toBe(false);
  });

  it('conversion -30% fails with worse lower, and never with worse higher', () => {
    for (let seed = 1; seed <= 5; seed++) {
      const lower = simulate(seed, 100, 0.035, 0.05, { worse: 'lower', tolerance: 0.02 }, 1000);
      expect(lower.at(-1)!.phase).toBe('fail');
      expect(lower.at(-1)!.summary).toMatch(
        /^conversion 0\.\d+x baseline \(upper bound 0\.\d+x, tolerance 2%\): lower is worse; p=\S+ after \d+ looks; canary \d+\/\d+ \(\d\.\d\d%\) vs baseline \d+\/\d+ \(\d\.\d\d%\) checkout\.completed per checkout\.started$/,
      );
      expect(lower.at(-1)!.worse).toBe('lower');
      expect(lower.at(-1)!.upper!).toBeLessThanOrEqual(0.98);
      const higher = simulate(seed, 100, 0.035, 0.05, { worse: 'higher' }, 1000);
      expect(higher.some((v) => v.phase === 'fail')).toBe(false);
      expect(['pass', 'inconclusive']).toContain(higher.at(-1)!.phase);
      expect(higher.at(-1)!.summary).toContain('higher is worse');
      expect(higher.at(-1)!.worse).toBe('higher');
    }
  });

  it('counts exposures for the burn-in and samples; a look without exposures in a cohort adds nothing', () => {
    const { verdicts } = run(
      [
        [3, 10, 2, 10],
        [5, 0, 1, 20],
      ],
      {},
      25,
    );
    expect(verdicts[0]!.summary).toMatch(
      /^burn-in: 10\/25 canary and 10\/25 baseline checkout\.started after 1 look; p=\S+ shown/,
    );
    expect(verdicts[1]!.samples).toEqual({ canary: 10, baseline: 30 });
  });

  it('bad counts give an error verdict and leave the state alone', () => {
    const d = createRatioSequential('conversion', CONVERSION, 0);
    const s = d.init();
    for (const [n, e] of [
      [Number.NaN, 1],
      [-1, 5],
      [1.5, 5],
      [1, Number.POSITIVE_INFINITY],
      [1, -2],
    ] as const) {
      const r = d.look(s, ratioLook(1, [n, e, 1, 5]), 0.05);
      expect(r.verdict.phase).toBe('error');
      expect(r.verdict.summary).toMatch(/^cannot use this look: canary (numerator|denominator)/);
      expect(r.state).toBe(s);
    }
  });

  it('absent ratio counts are 0/0', () => {
    const d = createRatioSequential('conversion', CONVERSION, 0);
    const r = d.look(d.init(), lookInput(1, batch(10, 1), batch(10, 1)), 0.05);
    expect(r.verdict.phase).toBe('inconclusive');
    expect(r.verdict.samples).toEqual({ canary: 0, baseline: 0 });
  });
});

describe('ratio-sequential: options, reads, threshold, labels', () => {
  const optionError = (options: unknown): VigilError => {
    try {
      createRatioSequential('conversion', options, 25);
    } catch (e) {
      return e as VigilError;
    }
    throw new Error('no error');
  };

  it('names the bad option in VIGIL_ERR_DETECTOR_OPTIONS', () => {
    for (const [options, option] of [
      [{ denominator: CONVERSION.denominator }, 'numerator'],
      [{ ...CONVERSION, numerator: { metric: '' } }, 'numerator'],
      [{ ...CONVERSION, numerator: { source: 'logs' } }, 'numerator'],
      [{ ...CONVERSION, worse: 'up' }, 'worse'],
      [{ ...CONVERSION, tolerance: -0.1 }, 'tolerance'],
      [{ ...CONVERSION, worse: 'lower', tolerance: 1 }, 'tolerance'],
      [{ ...CONVERSION, combine: 'fast' }, 'combine'],
      [{ ...CONVERSION, typo: 1 }, 'typo'],
    ] as const) {
      const e = optionError(options);
      expect(e.code).toBe('VIGIL_ERR_DETECTOR_OPTIONS');
      expect(e.message).toMatch(new RegExp(`\\): ${option}[.:]`));
    }
    expect(optionError({ ...CONVERSION, worse: 'lower', tolerance: 1 }).message).toContain('worse: lower');
    expect(() => createRatioSequential('c', { ...CONVERSION, tolerance: 1.5 }, 25)).not.toThrow();
  });

  it('reads its two counters; threshold 1 + tolerance, or 1 - tolerance when lower is worse', () => {
    const where = { 'http.route': '/checkout' };
    const d = ratioSequential.create(
      'c',
      { numerator: { source: 'spans', where }, denominator: { source: 'spans' }, worse: 'lower', tolerance: 0.02 },
      { minSamples: 25 },
    );
    expect(d.reads).toEqual({
      kind: 'ratio',
      numerator: { source: 'spans', where },
      denominator: { source: 'spans' },
    });
    expect(d.threshold).toBe(0.98);
    expect(createRatioSequential('c', { ...CONVERSION, tolerance: 0.1 }, 25).threshold).toBe(1.1);
    expect(ratioSequential.anytimeValid).toBe(true);
  });

  it('labels selectors for summaries', () => {
    expect(selectorLabel({ metric: 'checkout.completed' })).toBe('checkout.completed');
    expect(selectorLabel({ metric: 'payments', where: { status: ['failed', 'declined'], eu: true } })).toBe(
      'payments{status=failed|declined, eu=true}',
    );
    expect(selectorLabel({ source: 'spans' })).toBe('requests');
    expect(selectorLabel({ source: 'spans', where: { 'cache.hit': false } })).toBe('matching spans{cache.hit=false}');
  });
});
