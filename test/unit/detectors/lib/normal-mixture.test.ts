import { describe, expect, it } from 'vitest';
import { howardTau2, normalMixtureLogM, normalMixtureRadius } from '../../../../detectors/lib/normal-mixture.js';
import { alwaysValidPValue } from '../../../../detectors/lib/p-value.js';
import { relErr, simpson } from '../../../helpers/detectors.js';

// stats-reference.txt section C (mSPRT, Johari et al.) and D (normal-mixture confidence sequences).
const C_X = [
  0.12, -0.85, 1.31, 0.4, -0.27, 0.98, -1.44, 0.05, 0.66, -0.31, 1.12, -0.58, 0.23, 0.91, -0.09, 0.47, -1.02, 0.35,
  0.78, -0.64, 0.44, -0.72, 0.18, 1.05, -0.36, 0.29, -0.88, 0.61, 0.07, -0.15,
];
const C_Y = [
  1.05, 0.33, 1.92, 0.61, 0.88, 1.74, -0.12, 1.2, 0.95, 0.41, 2.03, 0.27, 1.36, 1.58, 0.72, 1.11, 0.09, 1.48, 1.29,
  0.56, 1.62, 0.49, 1.21, 2.11, 0.83, 1.37, 0.35, 1.74, 1.09, 0.98,
];
const C_LAMBDA = [
  0.965734315968, 0.999730760594, 1.0089584781, 0.97640241146, 1.08044086809, 1.14855702283, 1.37454440852,
  1.62965033307, 1.60404066845, 1.7436090192, 1.99064855322, 2.2522610755, 2.75511929367, 2.99816232955, 3.3952114919,
  3.67524536835, 4.55132708926, 5.70692959957, 5.96515876429, 7.68811522047, 9.91212804817, 12.979392577, 16.0915080854,
  20.2074797281, 26.619324704, 33.8666068123, 45.5892733083, 59.4000655195, 74.4902240224, 97.4839956443,
];
const C_P = [
  1.0, 1.0, 0.991121063659, 0.991121063659, 0.92554810683, 0.870657686228, 0.727513781149, 0.613628567862,
  0.613628567862, 0.573523071393, 0.50234884424, 0.443998260628, 0.36296069005, 0.333537644091, 0.294532462083,
  0.272090676887, 0.219716135621, 0.175225571396, 0.167640131556, 0.130070891411, 0.10088650945, 0.0770452079375,
  0.0621445792834, 0.0494866264103, 0.0375666930367, 0.0295276112409, 0.0219349844258, 0.0168349982656, 0.0134245803812,
  0.0102580940942,
];
const C_HW = [
  10.4864892357, 5.57431973357, 3.92737121751, 3.09764337567, 2.59539038632, 2.25727373285, 2.01323273489,
  1.82819743568, 1.68265676129, 1.56488405794, 1.46740214427, 1.38521511356, 1.31485573851, 1.25384079358,
  1.20034401029, 1.15299150331, 1.11072927431, 1.07273478863, 1.03835640562, 1.00707092709, 0.978453234032,
  0.95215417273, 0.927884184863, 0.905401010494, 0.884500326661, 0.865008533702, 0.8467771344, 0.829678309279,
  0.813601400519, 0.798450093446,
];

/** Independent one-/two-sided mixture by numerical integration of LR(theta) against the prior density. */
function integratedMixture(d: number, s2: number, tau2: number, oneSided: boolean): number {
  const tau = Math.sqrt(tau2);
  const lr = (t: number): number => Math.exp((t * d) / s2 - (t * t) / (2 * s2));
  const prior = (t: number): number => Math.exp(-(t * t) / (2 * tau2)) / (tau * Math.sqrt(2 * Math.PI));
  const hi = 14 * tau;
  return oneSided
    ? simpson((t) => 2 * lr(t) * prior(t), 0, hi, 40_000)
    : simpson((t) => lr(t) * prior(t), -hi, hi, 80_000);
}

describe('howardTau2 (C.tau2_howard)', () => {
  it('V1=2, n_opt=100, a=0.05', () => expect(relErr(howardTau2(2, 100, 0.05), 0.158723092035)).toBeLessThan(1e-9));
  it('V1=0.0198, n_opt=5000, a=0.05', () =>
    expect(relErr(howardTau2(0.0198, 5000, 0.05), 3.14271722229e-5)).toBeLessThan(1e-9));
  it('is confseq best_rho inverted: best_rho(100, 0.05) = 12.60056', () =>
    expect(1 / howardTau2(1, 100, 0.05)).toBeCloseTo(12.60056, 5));
});

describe('normal mixture log M (C.mSPRT)', () => {
  it('reproduces the two-stream mSPRT path Lambda_n (V = 2, tau2 = 0.25) and its always-valid p path', () => {
    let sum = 0;
    let p = 1;
    for (let n = 1; n <= 30; n++) {
      sum += (C_Y[n - 1] as number) - (C_X[n - 1] as number);
      const logM = normalMixtureLogM(sum / n, 2 / n, 0.25, 'two-sided');
      expect(relErr(Math.exp(logM), C_LAMBDA[n - 1] as number)).toBeLessThan(1e-9);
      p = alwaysValidPValue(p, logM);
      expect(relErr(p, C_P[n - 1] as number)).toBeLessThan(1e-9);
    }
    expect(C_P.findIndex((q) => q <= 0.05) + 1).toBe(24);
  });

  it('estimator form [nA=300, nB=100, sA2=1, sB2=1.5, d=0.3, tau2=0.04] = 3.0173847783 (two-sided)', () => {
    const s2 = 1 / 300 + 1.5 / 100;
    expect(relErr(Math.exp(normalMixtureLogM(0.3, s2, 0.04, 'two-sided')), 3.0173847783)).toBeLessThan(1e-9);
    expect(relErr(integratedMixture(0.3, s2, 0.04, false), 3.0173847783)).toBeLessThan(1e-9);
  });

  it('one-sided (half-normal prior) closed form equals the integral of the likelihood ratio', () => {
    for (const [d, s2, tau2] of [
      [0.3, 1 / 300 + 1.5 / 100, 0.04],
      [-0.2, 0.01, 0.02],
      [0.05, 0.002, 0.001],
      [1.5, 0.3, 0.5],
    ] as Array<[number, number, number]>) {
      expect(
        relErr(Math.exp(normalMixtureLogM(d, s2, tau2, 'one-sided')), integratedMixture(d, s2, tau2, true)),
      ).toBeLessThan(1e-9);
    }
  });

  it('one-sided log M stays finite and exact for a huge negative effect (log Phi far in the tail)', () => {
    const [d, s2, tau2] = [-50, 0.001, 0.01];
    const z = (Math.sqrt(tau2) * d) / Math.sqrt(s2 * (s2 + tau2));
    // exp(z^2/2) Phi(z) = phi(0) / -z * (1 - 1/z^2 + 3/z^4 - ...): the Gaussian factors cancel.
    const asymptote =
      Math.LN2 -
      0.5 * Math.log1p(tau2 / s2) -
      Math.log(-z) -
      0.5 * Math.log(2 * Math.PI) +
      Math.log1p(-1 / z ** 2 + 3 / z ** 4);
    expect(relErr(normalMixtureLogM(d, s2, tau2, 'one-sided'), asymptote)).toBeLessThan(1e-9);
  });

  it('Bernoulli plug-in mSPRT path (C.bernoulli, tau2 = 1e-4)', () => {
    const rows = [
      [1000, 0.005, 0.022723, 0.673661138479, 0.014632560961],
      [3000, 0.00566666666667, 0.0253212222222, 1.61217031761, 0.00884349687686],
      [6000, 0.0065, 0.0267765277778, 19.1991513518, 0.00652924418133],
      [8000, 0.007, 0.02636771875, 238.34029976, 0.00566807129329],
    ];
    for (const [n, diff, V, lambda, hw] of rows as Array<[number, number, number, number, number]>) {
      // diff is printed to 12 digits, so the exponent carries ~1e-11 relative noise.
      expect(relErr(Math.exp(normalMixtureLogM(diff, V / n, 1e-4, 'two-sided')), lambda)).toBeLessThan(1e-9);
      expect(relErr(normalMixtureRadius(V / n, 1e-4, 0.05, 'two-sided'), hw)).toBeLessThan(1e-9);
    }
  });
});

describe('normal mixture confidence-sequence radius', () => {
  it('reproduces C.mSPRT.CS_halfwidth_n (two-sided, V = 2, tau2 = 0.25)', () => {
    for (let n = 1; n <= 30; n++)
      expect(relErr(normalMixtureRadius(2 / n, 0.25, 0.05, 'two-sided'), C_HW[n - 1] as number)).toBeLessThan(1e-9);
  });

  // D.normal_mixture_CS_radius[sigma2=1, t, alpha=0.05, v_opt=100]: s2 = 1/t; two-sided tau2 with a = alpha,
  // one-sided with a = 2 alpha (confseq's one-sided mixture is optimised at 2 alpha).
  const d: Array<[number, number, number]> = [
    [10, 1.21907531463, 1.14926817963],
    [100, 0.303520899038, 0.276607088307],
    [1000, 0.102512286832, 0.0943939161693],
    [10000, 0.0356164104092, 0.0332797156784],
  ];
  it.each(d)('t = %d: two-sided %d, one-sided %d', (t, two, one) => {
    expect(relErr(normalMixtureRadius(1 / t, howardTau2(1, 100, 0.05), 0.05, 'two-sided'), two)).toBeLessThan(1e-9);
    expect(relErr(normalMixtureRadius(1 / t, howardTau2(1, 100, 0.1), 0.05, 'one-sided'), one)).toBeLessThan(1e-6);
  });

  it('D.diff_CS_radius (V1 = 0.5 per pair, v_opt = 0.5 x 500, two-sided)', () => {
    for (const [t, want] of [
      [50, 0.385505463353],
      [500, 0.0959817358421],
      [2000, 0.0494440159869],
    ] as Array<[number, number]>) {
      expect(relErr(normalMixtureRadius(0.5 / t, howardTau2(0.5, 500, 0.05), 0.05, 'two-sided'), want)).toBeLessThan(
        1e-9,
      );
    }
  });

  it('confseq normal_log_mixture(s=10, v=100) two-sided -0.6510052 and one-sided -0.06502391', () => {
    // s = sum, v = intrinsic time: d = s / v, s2 = 1 / v.
    expect(normalMixtureLogM(0.1, 0.01, howardTau2(1, 100, 0.05), 'two-sided')).toBeCloseTo(-0.6510052, 6);
    expect(normalMixtureLogM(0.1, 0.01, howardTau2(1, 100, 0.1), 'one-sided')).toBeCloseTo(-0.06502391, 7);
  });

  it('the one-sided radius is where the one-sided log M crosses log(1/alpha)', () => {
    const r = normalMixtureRadius(0.004, 0.003, 0.025, 'one-sided');
    expect(normalMixtureLogM(r, 0.004, 0.003, 'one-sided')).toBeCloseTo(Math.log(40), 10);
    expect(r).toBeLessThan(normalMixtureRadius(0.004, 0.003, 0.025, 'two-sided'));
  });
});

describe('alwaysValidPValue', () => {
  it('is the running minimum of 1/M, clamped to [0, 1]', () => {
    expect(alwaysValidPValue(1, Math.log(0.5))).toBe(1);
    expect(alwaysValidPValue(1, Math.log(4))).toBeCloseTo(0.25, 15);
    expect(alwaysValidPValue(0.1, Math.log(4))).toBe(0.1);
    expect(alwaysValidPValue(1, Number.POSITIVE_INFINITY)).toBe(0);
  });
});
