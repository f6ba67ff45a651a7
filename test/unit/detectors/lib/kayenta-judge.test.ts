import { describe, expect, it } from 'vitest';
import type { KayentaClassifierConfig, KayentaMetricResult } from '../../../../detectors/lib/kayenta-judge.js';
import {
  classifyKayentaMetric,
  kayentaClassifierConfig,
  kayentaPValue,
  scoreKayentaCanary,
} from '../../../../detectors/lib/kayenta-judge.js';
import { relErr } from '../../../helpers/detectors.js';

// stats-reference.txt section B
const K_BASE = [101.2, 99.8, 103.5, 100.1, 98.7, 102.3, 100.9, 99.5, 101.8, 100.4, 102.9, 99.1];
const K_CAN: Record<string, number[]> = {
  ok: [100.7, 101.9, 99.3, 102.2, 100.0, 98.9, 101.4, 103.1, 99.9, 100.6, 101.1, 100.2],
  bad: [109.8, 112.4, 108.1, 111.0, 113.7, 110.2, 109.5, 112.9, 111.6, 108.8, 110.9, 114.2],
  slight: [102.0, 103.4, 101.5, 104.1, 102.8, 101.9, 103.7, 102.2, 104.6, 101.1, 103.0, 102.5],
};
const INTERVAL: Record<string, { ciLow: number; ciHigh: number; hl: number; bound: number; meanRatio: number }> = {
  ok: { ciLow: -1.6000259823, ciHigh: 1.49993073756, hl: -0.0375, bound: 0.009375, meanRatio: 0.999256321269 },
  bad: {
    ciLow: 8.30000280209,
    ciHigh: 12.2000537247,
    hl: 10.1955927292,
    bound: 2.5488981823,
    meanRatio: 1.10155346224,
  },
  slight: {
    ciLow: 0.399999363185,
    ciHigh: 3.30002791645,
    hl: 1.97973119788,
    bound: 0.494932799471,
    meanRatio: 1.01867459924,
  },
};
const CASES: Array<[string, string, Partial<KayentaClassifierConfig>, string, number]> = [
  ['ok', 'defaults', {}, 'Pass', 0.999256321269],
  ['ok', 'direction=decrease', { direction: 'decrease' }, 'Pass', 0.999256321269],
  ['ok', 'allowedIncrease=1.05', { allowedIncrease: 1.05 }, 'Pass', 0.999256321269],
  ['ok', 'cles, allowedIncrease=0.8', { effectMeasure: 'cles', allowedIncrease: 0.8 }, 'Pass', 0.5],
  ['bad', 'defaults', {}, 'High', 1.10155346224],
  ['bad', 'direction=decrease', { direction: 'decrease' }, 'Pass', 1.10155346224],
  ['bad', 'allowedIncrease=1.05', { allowedIncrease: 1.05 }, 'High', 1.10155346224],
  ['bad', 'cles, allowedIncrease=0.8', { effectMeasure: 'cles', allowedIncrease: 0.8 }, 'High', 1.0],
  ['slight', 'defaults', {}, 'Pass', 1.01867459924],
  ['slight', 'direction=decrease', { direction: 'decrease' }, 'Pass', 1.01867459924],
  ['slight', 'allowedIncrease=1.05', { allowedIncrease: 1.05 }, 'Pass', 1.01867459924],
  ['slight', 'cles, allowedIncrease=0.8', { effectMeasure: 'cles', allowedIncrease: 0.8 }, 'Pass', 0.833333333333],
];

describe('classifyKayentaMetric: B.kayenta.classify', () => {
  for (const [data, label, over, want, effectSize] of CASES) {
    it(`${data} [${label}] -> ${want}`, () => {
      const c = classifyKayentaMetric(K_BASE, K_CAN[data]!, kayentaClassifierConfig(over));
      const ref = INTERVAL[data]!;
      expect(c.label).toBe(want);
      expect(c.critical).toBe(false);
      expect(Math.abs(c.ciLow! - ref.ciLow)).toBeLessThan(2e-4);
      expect(Math.abs(c.ciHigh! - ref.ciHigh)).toBeLessThan(2e-4);
      expect(Math.abs(c.estimate! - ref.hl)).toBeLessThan(2e-4);
      expect(Math.abs(c.bound! - ref.bound)).toBeLessThan(2e-4 * 0.25);
      expect(relErr(c.meanRatio!, ref.meanRatio)).toBeLessThan(1e-9);
      expect(relErr(c.effectSize!, effectSize)).toBeLessThan(1e-9);
    });
  }

  it('the effect gate alone can veto a High: bad with allowedIncrease 1.2 passes', () => {
    expect(classifyKayentaMetric(K_BASE, K_CAN['bad']!, kayentaClassifierConfig({ allowedIncrease: 1.2 })).label).toBe(
      'Pass',
    );
  });

  it('a drop is Low for either/decrease, Pass for increase', () => {
    const low = K_CAN['bad']!.map((v) => v - 20);
    expect(classifyKayentaMetric(K_BASE, low, kayentaClassifierConfig()).label).toBe('Low');
    expect(classifyKayentaMetric(K_BASE, low, kayentaClassifierConfig({ direction: 'increase' })).label).toBe('Pass');
  });

  it('NoData, identical samples and a single distinct value short-circuit like Kayenta', () => {
    expect(classifyKayentaMetric([], [1], kayentaClassifierConfig()).label).toBe('NoData');
    const same = classifyKayentaMetric([3, 1, 2], [2, 3, 1], kayentaClassifierConfig());
    expect(same.label).toBe('Pass');
    expect(same.ciLow).toBeUndefined();
    expect(classifyKayentaMetric([4, 4], [4, 4, 4], kayentaClassifierConfig()).label).toBe('Pass');
  });

  it('critical is set only for a critical metric failing beyond its critical threshold', () => {
    expect(classifyKayentaMetric(K_BASE, K_CAN['bad']!, kayentaClassifierConfig({ critical: true })).critical).toBe(
      true,
    );
    expect(
      classifyKayentaMetric(K_BASE, K_CAN['bad']!, kayentaClassifierConfig({ critical: true, criticalIncrease: 1.5 }))
        .critical,
    ).toBe(false);
    expect(classifyKayentaMetric(K_BASE, K_CAN['ok']!, kayentaClassifierConfig({ critical: true })).critical).toBe(
      false,
    );
  });

  it('kayentaPValue is the one-sided Mann-Whitney p for increase (A: 0.0109083939393)', () => {
    const base = [12.1, 15.3, 9.8, 15.3, 20.0, 11.4, 13.3, 15.3, 18.7, 10.2, 14.4, 16.0];
    const can = [14.9, 17.2, 15.3, 21.5, 11.4, 19.9, 16.8, 25.3, 13.0, 18.1, 22.7, 17.2, 16.6, 20.4];
    expect(relErr(kayentaPValue(base, can, 'increase'), 0.0109083939393)).toBeLessThan(1e-9);
    expect(relErr(kayentaPValue(base, can, 'either'), 0.0218167878786)).toBeLessThan(1e-9);
  });
});

describe('scoreKayentaCanary: B.kayenta.score', () => {
  // errors: 1 of 2 pass (50), latency: 1 of 1 (100), system: 1 of 2 (50); NoData does not count.
  const results = (critical4xx: boolean): KayentaMetricResult[] => [
    { name: 'errors_5xx', groups: ['errors'], label: 'Pass', critical: false },
    { name: 'errors_4xx', groups: ['errors'], label: 'High', critical: critical4xx },
    { name: 'latency_p50', groups: ['latency'], label: 'Pass', critical: false },
    { name: 'latency_p99', groups: ['latency'], label: 'NoData', critical: false },
    { name: 'cpu', groups: ['system'], label: 'Pass', critical: false },
    { name: 'memory', groups: ['system'], label: 'Low', critical: false },
  ];

  it('weights errors=50, latency=30 (system gets 20), pass=95, marginal=75 -> 65, Fail', () => {
    const s = scoreKayentaCanary(results(false), { errors: 50, latency: 30 }, { pass: 95, marginal: 75 });
    expect(s.groupScores).toEqual({ errors: 50, latency: 100, system: 50 });
    expect(s.score).toBe(65);
    expect(s.classification).toBe('Fail');
    expect(s.reason).toBeNull();
  });

  it('no weights -> 33.33 each, pass=75, marginal=50 -> 66.67, Marginal', () => {
    const s = scoreKayentaCanary(results(false), {}, { pass: 75, marginal: 50 });
    expect(s.score).toBe(66.67);
    expect(s.classification).toBe('Marginal');
  });

  it('errors_4xx critical -> 0, Fail, "critical failure"', () => {
    const s = scoreKayentaCanary(results(true), { errors: 50, latency: 30 }, { pass: 95, marginal: 75 });
    expect(s.groupScores).toEqual({ errors: 50, latency: 100, system: 50 });
    expect(s.score).toBe(0);
    expect(s.classification).toBe('Fail');
    expect(s.reason).toBe('critical failure');
  });

  it('a NoData-only group has no score and its weight is lost; report-only metrics are not scored', () => {
    const s = scoreKayentaCanary(
      [
        { name: 'a', groups: ['g1'], label: 'Pass', critical: false },
        { name: 'b', groups: ['g2'], label: 'NoData', critical: false },
        { name: 'c', groups: ['g1'], label: 'High', critical: false, reportOnly: true },
      ],
      {},
      { pass: 95, marginal: 75 },
    );
    expect(s.groupScores).toEqual({ g1: 100 });
    expect(s.noDataGroups).toEqual(['g2']);
    expect(s.score).toBe(50);
  });
});
