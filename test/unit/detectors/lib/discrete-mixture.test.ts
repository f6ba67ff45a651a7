import { describe, expect, it } from 'vitest';
import type { Stratum } from '../../../../detectors/lib/discrete-mixture.js';
import {
  canaryShareOfFailures,
  lookLogLikelihoodRatio,
  mantelHaenszelRatio,
  mixtureBounds,
  mixtureGrid,
  stratifiedMixtureLogM,
} from '../../../../detectors/lib/discrete-mixture.js';
import { bisect } from '../../../../detectors/lib/root-finding.js';
import { llrByTheta, relErr, REFERENCE_F_COUNTS } from '../../../helpers/detectors.js';

// stats-reference.txt F.counts_per_interval [(baseline, canary)] and G.conditional_binomial_sprt[rho=.5, r=2].
const F_COUNTS = REFERENCE_F_COUNTS;
const G_PATH = [
  0.378363041351, 0.52116001139, 1.35710416199, 3.57934267371, 3.02899246319, 4.15261868624, 6.2570741623,
  6.68755320479, 7.23581528294, 8.00609239902,
];

/** Straightforward mixture: weights and grid from the formulas, sum in plain floating point. */
function naiveMixture(strata: Stratum[], K: number, r0: number, scale: number): number {
  const g: number[] = [];
  const w: number[] = [];
  for (let k = 1; k <= K; k++) {
    const gk = Math.exp(Math.log(1.02) + ((k - 1) / (K - 1)) * Math.log(20 / 1.02));
    g.push(gk);
    w.push(Math.exp(-(Math.log(gk) ** 2) / (2 * scale * scale)));
  }
  const wsum = w.reduce((a, b) => a + b, 0);
  let m = 0;
  for (let k = 0; k < K; k++) {
    let llr = 0;
    for (const s of strata) llr += llrByTheta(s.rho, s.failures, s.canaryFailures, r0 * g[k]!, r0);
    m += (w[k]! / wsum) * Math.exp(llr);
  }
  return m;
}

const strataOf = (counts: Array<[number, number]>, rho = 0.5): Stratum[] =>
  counts.map(([b, c]) => ({ rho, failures: b + c, canaryFailures: c }));

describe('conditional binomial SPRT = one-point grid (reference G)', () => {
  it('reproduces G.conditional_binomial_sprt[rho=.5, r=2] cumulative LLR on F.counts', () => {
    expect(canaryShareOfFailures(0.5, 2)).toBeCloseTo(2 / 3, 15);
    let cum = 0;
    F_COUNTS.forEach(([b, c], j) => {
      cum += lookLogLikelihoodRatio(0.5, b + c, c, 2, 1);
      expect(relErr(cum, G_PATH[j]!)).toBeLessThan(1e-9);
    });
  });

  it('the simplified per-look form equals the theta form for uneven splits and tolerances', () => {
    for (const [rho, m, x, r, r0] of [
      [0.1, 30, 7, 3, 1],
      [0.73, 12, 2, 1.3, 1.05],
      [0.5, 0, 0, 2, 1],
      [0.02, 5, 5, 20, 1.2],
    ] as Array<[number, number, number, number, number]>) {
      expect(lookLogLikelihoodRatio(rho, m, x, r, r0)).toBeCloseTo(llrByTheta(rho, m, x, r, r0), 11);
    }
  });
});

describe('mixture grid and log M', () => {
  it('grid spans 1.02..20 with normalised half-normal weights', () => {
    const g = mixtureGrid(48, 0.5);
    expect(g.logG).toHaveLength(48);
    expect(Math.exp(g.logG[0]!)).toBeCloseTo(1.02, 14);
    expect(Math.exp(g.logG[47]!)).toBeCloseTo(20, 12);
    expect(g.logW.reduce((s, w) => s + Math.exp(w), 0)).toBeCloseTo(1, 14);
    for (let k = 1; k < 48; k++) expect(g.logW[k]!).toBeLessThan(g.logW[k - 1]!);
  });

  it('K-grid mixture equals a straightforward computation (F.counts, rho .5 and a drifting split)', () => {
    const drifting = F_COUNTS.map(([b, c], j) => ({ rho: 0.05 + 0.05 * j, failures: b + c, canaryFailures: c }));
    for (const [strata, K, r0, scale] of [
      [strataOf(F_COUNTS), 48, 1, 0.5],
      [drifting, 32, 1.1, 0.5],
      [strataOf(F_COUNTS.slice(0, 3)), 8, 1, 0.8],
    ] as Array<[Stratum[], number, number, number]>) {
      const got = stratifiedMixtureLogM(strata, mixtureGrid(K, scale), r0, 'upper-alternatives');
      expect(relErr(got, Math.log(naiveMixture(strata, K, r0, scale)))).toBeLessThan(1e-9);
    }
  });

  it('mirrored mixture tests H0: r >= r0 with alternatives r0/g_k', () => {
    const strata = strataOf([
      [20, 5],
      [18, 6],
    ]);
    const grid = mixtureGrid(16, 0.5);
    let want = 0;
    grid.logG.forEach((lg, k) => {
      let llr = 0;
      for (const s of strata) llr += llrByTheta(s.rho, s.failures, s.canaryFailures, Math.exp(-lg), 1);
      want += Math.exp(grid.logW[k]! + llr);
    });
    expect(relErr(stratifiedMixtureLogM(strata, grid, 1, 'lower-alternatives'), Math.log(want))).toBeLessThan(1e-9);
  });

  it('zero canary failures give log M < 0 (can never alarm)', () => {
    const strata = [
      { rho: 0.3, failures: 40, canaryFailures: 0 },
      { rho: 0.5, failures: 3, canaryFailures: 0 },
    ];
    expect(stratifiedMixtureLogM(strata, mixtureGrid(48, 0.5), 1, 'upper-alternatives')).toBeLessThan(0);
  });
});

describe('mixture bounds', () => {
  const grid = mixtureGrid(48, 0.5);
  const strata = strataOf(F_COUNTS);

  it('lower and upper are the roots of the inverted tests (cross-checked by plain bisection)', () => {
    const alpha = 0.05;
    const { lower, upper } = mixtureBounds(strata, grid, alpha);
    const lowerBis = Math.exp(
      bisect(
        (u) => stratifiedMixtureLogM(strata, grid, Math.exp(u), 'upper-alternatives') - Math.log(20),
        -5,
        5,
        1e-12,
      ),
    );
    const upperBis = Math.exp(
      bisect(
        (u) => stratifiedMixtureLogM(strata, grid, Math.exp(u), 'lower-alternatives') - Math.log(20),
        -5,
        5,
        1e-12,
      ),
    );
    expect(relErr(lower, lowerBis)).toBeLessThan(1e-6);
    expect(relErr(upper, upperBis)).toBeLessThan(1e-6);
    expect(stratifiedMixtureLogM(strata, grid, lower, 'upper-alternatives')).toBeCloseTo(Math.log(20), 6);
    expect(lower).toBeGreaterThan(1); // the F counts are a clear regression: the test at r0 = 1 rejects
    const est = mantelHaenszelRatio(strata);
    expect(lower).toBeLessThan(est);
    expect(upper).toBeGreaterThan(est);
  });

  it('a lower alpha widens the bounds', () => {
    const a = mixtureBounds(strata, grid, 0.05);
    const b = mixtureBounds(strata, grid, 0.001);
    expect(b.lower).toBeLessThan(a.lower);
    expect(b.upper).toBeGreaterThan(a.upper);
  });

  it('without baseline failures the upper bound is unbounded; without evidence the lower bound is 0', () => {
    expect(mixtureBounds([{ rho: 0.5, failures: 4, canaryFailures: 4 }], grid, 0.05).upper).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(mixtureBounds([{ rho: 0.5, failures: 2, canaryFailures: 1 }], grid, 0.05).lower).toBe(0);
  });
});

describe('mantelHaenszelRatio', () => {
  it('is the rate ratio for one look and NaN / Infinity when undefined', () => {
    // canary 30/1000 (rho = 1000/3000), baseline 20/2000: rate ratio 3
    expect(mantelHaenszelRatio([{ rho: 1 / 3, failures: 50, canaryFailures: 30 }])).toBeCloseTo(3, 14);
    expect(mantelHaenszelRatio([])).toBeNaN();
    expect(mantelHaenszelRatio([{ rho: 0.5, failures: 3, canaryFailures: 3 }])).toBe(Number.POSITIVE_INFINITY);
  });
});
