import { describe, expect, it } from 'vitest';
import type { KayentaState } from '../../../detectors/kayenta-mann-whitney.js';
import {
  KAYENTA_NOT_VALID,
  createKayentaMannWhitney,
  kayentaMannWhitney,
} from '../../../detectors/kayenta-mann-whitney.js';
import { classifyKayentaMetric, kayentaClassifierConfig, kayentaPValue } from '../../../detectors/lib/kayenta-judge.js';
import type { Verdict } from '../../../src/contracts/detector.js';
import { VigilError } from '../../../src/errors.js';
import { batch, binomial, lookInput, rng } from '../../helpers/detectors.js';

type Look = [canaryRequests: number, canaryErrors: number, baselineRequests: number, baselineErrors: number];

function run(looks: Look[], options: unknown = {}, minSamples = 0): { verdicts: Verdict[]; state: KayentaState } {
  const d = createKayentaMannWhitney('errors-kayenta', options, minSamples);
  let state = d.init();
  const verdicts: Verdict[] = [];
  looks.forEach(([nc, xc, nb, xb], i) => {
    const r = d.look(state, lookInput(i + 1, batch(nc, xc), batch(nb, xb)), 0.05);
    state = r.state;
    verdicts.push(r.verdict);
  });
  return { verdicts, state };
}

// Reference B's series as per-look error counts out of 10,000 requests (rates = K_* / 10,000).
const K_BASE = [101, 99, 103, 100, 98, 102, 100, 99, 101, 100, 102, 99];
const K_BAD = [109, 112, 108, 111, 113, 110, 109, 112, 111, 108, 110, 114];

describe('kayenta-mann-whitney detector', () => {
  it('classifies ALL looks so far at every look, exactly as the library judge does', () => {
    const looks: Look[] = K_BAD.map((c, i) => [10_000, c, 10_000, K_BASE[i]!]);
    const { verdicts, state } = run(looks);
    expect(state.canaryValues).toEqual(K_BAD.map((c) => c / 10_000));
    verdicts.forEach((v, i) => {
      const canary = K_BAD.slice(0, i + 1).map((c) => c / 10_000);
      const baseline = K_BASE.slice(0, i + 1).map((b) => b / 10_000);
      if (i + 1 < 3) {
        expect(v.phase).toBe('inconclusive');
        return;
      }
      const c = classifyKayentaMetric(baseline, canary, kayentaClassifierConfig({ direction: 'increase' }));
      expect(v.phase).toBe(c.label === 'High' ? 'fail' : 'pass');
      expect(v.estimate).toBeCloseTo(c.meanRatio!, 12);
      expect(v.summary).toContain(`Kayenta ${c.label}`);
    });
    expect(verdicts.at(-1)!.phase).toBe('fail');
  });

  it('pValue is the running minimum of the per-look fixed-horizon p and never increases', () => {
    const rand = rng(7);
    const looks: Look[] = Array.from({ length: 30 }, () => [
      1000,
      binomial(rand, 1000, 0.012),
      1000,
      binomial(rand, 1000, 0.01),
    ]);
    const { verdicts } = run(looks);
    let min = 1;
    verdicts.forEach((v, i) => {
      const c = looks.slice(0, i + 1).map(([nc, xc]) => xc / nc);
      const b = looks.slice(0, i + 1).map(([, , nb, xb]) => xb / nb);
      const p = kayentaPValue(b, c, 'increase');
      if (Number.isFinite(p)) min = Math.min(min, p);
      expect(v.pValue).toBeCloseTo(min, 14);
      if (i > 0) expect(v.pValue).toBeLessThanOrEqual(verdicts[i - 1]!.pValue);
    });
  });

  it('EVERY summary says it is not anytime-valid and its p-value is not always-valid (burn-in, pass, fail, error); every verdict is marked', () => {
    const looks: Look[] = K_BAD.map((c, i) => [10_000, c, 10_000, K_BASE[i]!]);
    const { verdicts } = run(looks);
    const d = createKayentaMannWhitney('m', {}, 0);
    const err = d.look(d.init(), lookInput(1, batch(5, 6), batch(5, 0)), 0.05).verdict;
    expect(err.phase).toBe('error');
    for (const v of [...verdicts, err]) {
      expect(v.summary).toContain(KAYENTA_NOT_VALID);
      expect(v.anytimeValid).toBe(false);
    }
    expect(KAYENTA_NOT_VALID).toContain('not anytime-valid, false alarms grow with the number of looks');
    expect(KAYENTA_NOT_VALID).toContain('is not an always-valid p-value');
    expect(kayentaMannWhitney.anytimeValid).toBe(false);
    expect(new Set(verdicts.map((v) => v.phase))).toEqual(new Set(['inconclusive', 'fail']));
  });

  it('zero canary errors never fail (increase direction)', () => {
    const looks: Look[] = Array.from({ length: 20 }, (_, i) => [1000, 0, 1000, 5 + (i % 4)]);
    const { verdicts } = run(looks);
    expect(verdicts.every((v) => v.phase !== 'fail')).toBe(true);
    expect(verdicts.at(-1)!.phase).toBe('pass');
  });

  it('direction decrease fails on Low; either fails on both', () => {
    const looks: Look[] = K_BASE.map((b, i) => [10_000, K_BAD[i]! - 30, 10_000, b]);
    expect(run(looks).verdicts.at(-1)!.phase).toBe('pass');
    expect(run(looks, { direction: 'decrease' }).verdicts.at(-1)!.phase).toBe('fail');
    expect(run(looks, { direction: 'either' }).verdicts.at(-1)!.phase).toBe('fail');
  });

  it("latency-mean uses each look's geometric-mean latency and skips looks where a cohort has no samples", () => {
    const d = createKayentaMannWhitney('lat', { measure: 'latency-mean' }, 0);
    let s = d.init();
    const means = [4.6, 4.7, 4.8];
    means.forEach((m, i) => {
      s = d.look(
        s,
        lookInput(i + 1, batch(20, 0, { n: 20, mean: m, m2: 1 }), batch(20, 0, { n: 20, mean: 4.5, m2: 1 })),
        0.05,
      ).state;
    });
    s = d.look(s, lookInput(4, batch(0, 0), batch(20, 0, { n: 20, mean: 4.5, m2: 1 })), 0.05).state;
    expect(s.canaryValues.map((v) => Math.log(v))).toEqual(
      means.map((m) => expect.closeTo(m, 12) as unknown as number),
    );
    expect(s.baselineValues).toHaveLength(4);
    expect(s.canarySamples).toBe(60);
  });

  it('burn-in needs minLooks values and minSamples requests per cohort', () => {
    const looks: Look[] = Array.from({ length: 4 }, () => [10, 0, 10, 0]);
    const { verdicts } = run(looks, { minLooks: 2 }, 25);
    expect(verdicts.map((v) => v.phase)).toEqual(['inconclusive', 'inconclusive', 'pass', 'pass']);
    expect(verdicts[0]!.summary).toBe(
      `burn-in: 1/2 canary and 1/2 baseline looks with data, 10/25 canary and 10/25 baseline samples after 1 look; fixed-horizon Mann-Whitney no p-value this look (min p=1) shown, no verdict before both reach 2 looks with data and 25 samples. ${KAYENTA_NOT_VALID}`,
    );
  });

  it('state is plain JSON and the verdict never carries non-finite numbers', () => {
    const looks: Look[] = Array.from({ length: 5 }, () => [1000, 10, 1000, 0]);
    const { verdicts, state } = run(looks);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(verdicts.at(-1)!.estimate).toBeUndefined(); // baseline mean 0: mean ratio infinite
    expect(verdicts.at(-1)!.phase).toBe('fail');
  });

  it('options validation names the bad option', () => {
    const bad = (options: unknown, option: string): void => {
      try {
        kayentaMannWhitney.create('m', options, { minSamples: 25 });
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(VigilError);
        expect((e as VigilError).code).toBe('VIGIL_ERR_DETECTOR_OPTIONS');
        expect((e as VigilError).details['option']).toBe(option);
      }
    };
    bad({ measure: 'p99' }, 'measure');
    bad({ confidenceLevel: 1.2 }, 'confidenceLevel');
    bad({ allowedIncrease: -1 }, 'allowedIncrease');
    bad({ minLooks: 1 }, 'minLooks');
    bad({ nope: 1 }, 'nope');
  });
});
