import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dirichletMultinomialLogBF, twoArmLogBF } from '../../../detectors/lib/dirichlet-multinomial.js';
import { logGamma } from '../../../detectors/lib/log-gamma.js';
import type { SrmState } from '../../../detectors/srm.js';
import { createSrm, srm } from '../../../detectors/srm.js';
import type { Verdict } from '../../../src/contracts/detector.js';
import { VigilError } from '../../../src/errors.js';
import { batch, binomial, lookInput, relErr, rng, REFERENCE_F_COUNTS } from '../../helpers/detectors.js';

type Look = [baseline: number, canary: number, expectedShare?: number];

function run(
  looks: Look[],
  options: unknown = {},
  minSamples = 0,
  alpha = 0.05,
): { verdicts: Verdict[]; state: SrmState } {
  const d = createSrm('srm', options, minSamples);
  let state = d.init();
  const verdicts: Verdict[] = [];
  looks.forEach(([b, c, share], i) => {
    const inp = lookInput(i + 1, batch(c, 0), batch(b, 0));
    const r = d.look(state, share === undefined ? inp : { ...inp, expectedCanaryShare: share }, alpha);
    state = r.state;
    verdicts.push(r.verdict);
  });
  return { verdicts, state };
}

// stats-reference.txt section F
const F_COUNTS = REFERENCE_F_COUNTS;
const F_P: Record<number, number[]> = {
  1: [
    1.0, 1.0, 1.0, 0.282063099083, 0.282063099083, 0.126149245552, 0.0205639478923, 0.0119358760953, 0.00634520535136,
    0.00263841891041,
  ],
  10: [
    1.0, 1.0, 0.555701387315, 0.103751346164, 0.103751346164, 0.0436673851328, 0.00745757694237, 0.00425438330749,
    0.0022433777626, 0.000926354393077,
  ],
  100: [
    1.0, 0.876120251292, 0.5852489589, 0.206090633419, 0.187224418407, 0.0836072229461, 0.0213402709297,
    0.0119464242444, 0.00640145422091, 0.00271828697369,
  ],
};

describe('logGamma', () => {
  it('matches known values', () => {
    expect(Math.abs(logGamma(0.5) - 0.5 * Math.log(Math.PI))).toBeLessThan(1e-15);
    expect(relErr(logGamma(10), Math.log(362880))).toBeLessThan(1e-15);
    expect(relErr(logGamma(100), 359.1342053695754)).toBeLessThan(1e-15);
    expect(relErr(logGamma(1e-5), 11.512919692895828)).toBeLessThan(1e-14);
    expect(logGamma(0)).toBeNaN();
  });
});

describe('srm: Lindon-Malek reference values (section F)', () => {
  for (const k of [1, 10, 100]) {
    it(`F.LM_two_arm_seq_p[theta0=(.5,.5), k=${k}] through the detector, one look per interval`, () => {
      const { verdicts } = run(
        F_COUNTS.map(([b, c]) => [b, c, 0.5]),
        { concentration: k },
      );
      verdicts.forEach((v, i) => expect(relErr(v.pValue, F_P[k]![i]!)).toBeLessThan(1e-9));
    });
  }

  it('F.LM_log_bf_after_all[k=100]', () => {
    const b = F_COUNTS.reduce((a, [x]) => a + x, 0);
    const c = F_COUNTS.reduce((a, [, y]) => a + y, 0);
    expect(relErr(twoArmLogBF(b, c, 0.5, 100), 5.90775338616)).toBeLessThan(1e-9);
    expect(relErr(dirichletMultinomialLogBF([b, c], [0.5, 0.5], 100), 5.90775338616)).toBeLessThan(1e-9);
  });

  it('F.LM_seq_p[theta0=(0.9,0.1)]: canary gets 10% (option expectedShare)', () => {
    const { verdicts } = run(
      [
        [90, 14],
        [95, 16],
        [101, 19],
      ],
      { expectedShare: 0.1 },
    );
    [1.0, 0.606429822921, 0.146824205736].forEach((p, i) => expect(relErr(verdicts[i]!.pValue, p)).toBeLessThan(1e-9));
  });

  it('batching is irrelevant within a segment: one look with all counts gives the last p of the per-interval run', () => {
    const b = F_COUNTS.reduce((a, [x]) => a + x, 0);
    const c = F_COUNTS.reduce((a, [, y]) => a + y, 0);
    const one = run([[b, c, 0.5]], { concentration: 100 }).verdicts[0]!;
    expect(relErr(one.pValue, Math.exp(-5.90775338616))).toBeLessThan(1e-9);
  });
});

describe('srm: segments when the expected share changes (ramp steps)', () => {
  it("the statistic is the product of the segments' LM Bayes factors, each on its own totals", () => {
    const { state, verdicts } = run([
      [90, 14, 0.1],
      [95, 16, 0.1],
      [50, 50, 0.5],
      [48, 52, 0.5],
      [70, 31, 0.3],
    ]);
    expect(state.segments).toEqual([
      { share: 0.1, baseline: 185, canary: 30 },
      { share: 0.5, baseline: 98, canary: 102 },
      { share: 0.3, baseline: 70, canary: 31 },
    ]);
    const logMs = [
      twoArmLogBF(90, 14, 0.1, 100),
      twoArmLogBF(185, 30, 0.1, 100),
      twoArmLogBF(185, 30, 0.1, 100) + twoArmLogBF(50, 50, 0.5, 100),
      twoArmLogBF(185, 30, 0.1, 100) + twoArmLogBF(98, 102, 0.5, 100),
      twoArmLogBF(185, 30, 0.1, 100) + twoArmLogBF(98, 102, 0.5, 100) + twoArmLogBF(70, 31, 0.3, 100),
    ];
    let p = 1;
    logMs.forEach((lm, i) => {
      p = Math.min(p, Math.exp(-lm));
      expect(relErr(verdicts[i]!.pValue, p)).toBeLessThan(1e-12);
    });
  });

  it('a ramp whose counts follow every step exactly never alarms; the configured share wins over the option', () => {
    const ramp: Look[] = [];
    for (const share of [0.05, 0.1, 0.25, 0.5])
      for (let i = 0; i < 50; i++) ramp.push([Math.round(2000 * (1 - share)), Math.round(2000 * share), share]);
    const { verdicts } = run(ramp, { expectedShare: 0.9 }, 25);
    expect(verdicts.every((v) => v.phase === 'pass' && v.hold === undefined)).toBe(true);
  });
});

describe('srm: behaviour', () => {
  it('identical cohorts at the expected share never alarm (deterministic, 1000 looks)', () => {
    for (const [b, c, share] of [
      [500, 500, 0.5],
      [900, 100, 0.1],
    ] as const) {
      const { verdicts } = run(
        Array.from({ length: 1000 }, (): Look => [b, c, share]),
        {},
        25,
      );
      expect(verdicts.every((v) => v.phase === 'pass')).toBe(true);
      expect(verdicts.at(-1)!.lower!).toBeLessThan(1);
      expect(verdicts.at(-1)!.upper!).toBeGreaterThan(1);
    }
  });

  it('hold (default): a broken split is inconclusive with hold "srm", sticky even if the split recovers', () => {
    const looks: Look[] = [
      ...Array.from({ length: 5 }, (): Look => [920, 80, 0.1]),
      ...Array.from({ length: 20 }, (): Look => [900, 100, 0.1]),
    ];
    const { verdicts } = run(looks, {}, 25);
    const first = verdicts.findIndex((v) => v.hold === 'srm');
    expect(first).toBeGreaterThan(0);
    verdicts.slice(first).forEach((v) => {
      expect(v.phase).toBe('inconclusive');
      expect(v.hold).toBe('srm');
      expect(v.summary).toContain(`sample-ratio mismatch since look ${first + 1}`);
    });
    expect(verdicts.slice(0, first).every((v) => v.hold === undefined && v.phase !== 'fail')).toBe(true);
  });

  it('rollback: a broken split fails; either direction (too many canary requests too)', () => {
    const few = run(
      Array.from({ length: 10 }, (): Look => [920, 80, 0.1]),
      { onMismatch: 'rollback' },
    ).verdicts.at(-1)!;
    expect(few.phase).toBe('fail');
    expect(few.hold).toBeUndefined();
    expect(few.upper!).toBeLessThan(1);
    const many = run(
      Array.from({ length: 10 }, (): Look => [880, 120, 0.1]),
      { onMismatch: 'rollback' },
    ).verdicts.at(-1)!;
    expect(many.phase).toBe('fail');
    expect(many.lower!).toBeGreaterThan(1);
  });

  it('a canary that gets no requests at all is a mismatch (burn-in counts both cohorts together)', () => {
    const { verdicts } = run(
      Array.from({ length: 5 }, (): Look => [100, 0, 0.1]),
      {},
      25,
    );
    expect(verdicts.at(-1)!.hold).toBe('srm');
    expect(verdicts.at(-1)!.estimate).toBe(0);
  });

  it('burn-in (2 x minSamples requests tested): inconclusive, the p-value shown and said not used yet', () => {
    const { verdicts } = run([[30, 10, 0.25]], {}, 25);
    expect(verdicts[0]!.phase).toBe('inconclusive');
    expect(verdicts[0]!.summary).toMatch(
      /^burn-in: 40\/50 requests tested \(canary got 25% of 40 requests, expected 25%\) after 1 look; p=\S+ shown, no verdict before 50 are tested$/,
    );
  });

  it('no expected share: inconclusive, never fail, says so', () => {
    const { verdicts, state } = run(
      Array.from({ length: 20 }, (): Look => [1000, 0]),
      { onMismatch: 'rollback' },
    );
    for (const v of verdicts) {
      expect(v.phase).toBe('inconclusive');
      expect(v.hold).toBeUndefined();
      expect(v.summary).toContain('no expected canary share is known');
    }
    expect(state.segments).toEqual([]);
    expect(verdicts.at(-1)!.pValue).toBe(1);
  });

  it('property: the always-valid p never increases; bounds bracket the estimate; mismatch <=> 1 outside the bounds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }),
        fc.double({ min: 0.02, max: 0.6, noNaN: true }),
        fc.double({ min: 0.7, max: 1.4, noNaN: true }),
        (seed, share, skew) => {
          const rand = rng(seed);
          const p = Math.min(0.95, share * skew);
          const looks: Look[] = Array.from({ length: 15 }, () => {
            const c = binomial(rand, 400, p);
            return [400 - c, c, share];
          });
          const { verdicts } = run(looks, {}, 0);
          verdicts.forEach((v, i) => {
            if (i > 0) expect(v.pValue).toBeLessThanOrEqual(verdicts[i - 1]!.pValue);
            expect(v.lower!).toBeLessThanOrEqual(v.estimate! * (1 + 1e-9));
            if (v.upper !== undefined) expect(v.upper).toBeGreaterThanOrEqual(v.estimate! * (1 - 1e-9));
            const covers = v.lower! < 1 + 1e-6 && (v.upper ?? Number.POSITIVE_INFINITY) > 1 - 1e-6;
            if (v.hold === undefined) expect(covers).toBe(true);
            else if (verdicts[i - 1]?.hold === undefined) expect(v.lower! > 1 - 1e-6 || v.upper! < 1 + 1e-6).toBe(true);
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('options validation names the bad option; a bad expected share in the look is an error verdict', () => {
    const bad = (options: unknown, option: string): void => {
      try {
        srm.create('srm', options, { minSamples: 25 });
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(VigilError);
        expect((e as VigilError).details['option']).toBe(option);
      }
    };
    bad({ expectedShare: 1 }, 'expectedShare');
    bad({ onMismatch: 'ignore' }, 'onMismatch');
    bad({ concentration: 0 }, 'concentration');
    expect(run([[10, 10, 1.5]]).verdicts[0]!.phase).toBe('error');
  });
});
