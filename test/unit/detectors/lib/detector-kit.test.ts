import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { DetectorMethods } from '../../../../detectors/lib/detector-kit.js';
import {
  alphaProblem,
  defineDetector,
  finiteOrUndefined,
  sequentialPhase,
  verdictWriter,
  withEffect,
} from '../../../../detectors/lib/detector-kit.js';
import { VigilError } from '../../../../src/errors.js';
import { batch, lookInput } from '../../../helpers/detectors.js';

describe('detector kit', () => {
  it('alphaProblem accepts alpha in the open interval (0, below) only, with the message detectors put in error verdicts', () => {
    for (const ok of [1e-12, 0.05, 0.5, 1 - 1e-12]) expect(alphaProblem(ok)).toBeUndefined();
    for (const bad of [0, 1, -0.1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(alphaProblem(bad)).toBe(`alpha must be in (0, 1), got ${bad}`);
    }
    expect(alphaProblem(0.49, 0.5)).toBeUndefined();
    expect(alphaProblem(0.5, 0.5)).toBe('alpha must be in (0, 0.5), got 0.5');
    expect(alphaProblem(0, 0.5)).toBe('alpha must be in (0, 0.5), got 0');
  });

  it('sequentialPhase: burn-in holds, fail wins over pass, each needs log M >= log(1/alpha)', () => {
    const alpha = 0.05;
    const at = Math.log(1 / alpha);
    const below = at - 1e-9;
    const table: [logM: number, passEvidence: number, burnIn: boolean, phase: string][] = [
      [at, at, true, 'inconclusive'],
      [99, 0, true, 'inconclusive'],
      [0, 99, true, 'inconclusive'],
      [at, 0, false, 'fail'],
      [at, at, false, 'fail'],
      [below, at, false, 'pass'],
      [0, 99, false, 'pass'],
      [below, below, false, 'inconclusive'],
      [0, 0, false, 'inconclusive'],
      [Number.NaN, Number.NaN, false, 'inconclusive'],
    ];
    for (const [logM, passEvidence, burnIn, phase] of table)
      expect(sequentialPhase({ logM, passEvidence }, alpha, burnIn)).toBe(phase);
  });

  it('verdictWriter builds verdicts and error verdicts with the fields in contract order; no effect key without an effect', () => {
    const out = verdictWriter<{ pValue: number; c: number; b: number }>(
      { detector: 'd', metric: 'm', effect: 'ratio' },
      (s) => ({ baseline: s.b, canary: s.c }),
    );
    const s = { pValue: 0.25, c: 3, b: 4 };
    const v = out.verdict(s, 'pass', 'fine');
    expect(v).toStrictEqual({
      detector: 'd',
      metric: 'm',
      phase: 'pass',
      pValue: 0.25,
      effect: 'ratio',
      samples: { baseline: 4, canary: 3 },
      summary: 'fine',
    });
    expect(Object.keys(v)).toEqual(['detector', 'metric', 'phase', 'pValue', 'effect', 'samples', 'summary']);
    const e = out.errorVerdict(s, 'alpha must be in (0, 1), got 2');
    expect(e).toStrictEqual({
      detector: 'd',
      metric: 'm',
      phase: 'error',
      pValue: 0.25,
      effect: 'ratio',
      samples: { baseline: 4, canary: 3 },
      summary: 'cannot use this look: alpha must be in (0, 1), got 2',
    });
    const bare = verdictWriter<{ pValue: number }>({ detector: 'd', metric: 'm' }, () => ({
      baseline: 0,
      canary: 0,
    })).errorVerdict({ pValue: 1 }, 'why');
    expect(Object.keys(bare)).toEqual(['detector', 'metric', 'phase', 'pValue', 'samples', 'summary']);
  });

  it('withEffect adds estimate, lower, upper in that order, each only when defined', () => {
    const out = verdictWriter<{ pValue: number }>({ detector: 'd', metric: 'm' }, () => ({ baseline: 1, canary: 1 }));
    const v = withEffect(out.verdict({ pValue: 1 }, 'inconclusive', 's'), { upper: 3, lower: 0, estimate: 1.5 });
    expect(Object.keys(v).slice(-3)).toEqual(['estimate', 'lower', 'upper']);
    expect([v.estimate, v.lower, v.upper]).toEqual([1.5, 0, 3]);
    const w = withEffect(out.verdict({ pValue: 1 }, 'inconclusive', 's'), {
      estimate: undefined,
      lower: 0.5,
      upper: finiteOrUndefined(Number.POSITIVE_INFINITY),
    });
    expect('estimate' in w || 'upper' in w).toBe(false);
    expect(w.lower).toBe(0.5);
    expect(finiteOrUndefined(Number.NaN)).toBeUndefined();
    expect(finiteOrUndefined(undefined)).toBeUndefined();
    expect(finiteOrUndefined(-2)).toBe(-2);
  });

  it('defineDetector validates options then minSamples (VIGIL_ERR_DETECTOR_OPTIONS) and builds the factory the registry lists', () => {
    interface Toy {
      pValue: number;
      looks: number;
    }
    const seen: unknown[] = [];
    const def = defineDetector({
      type: 'toy',
      anytimeValid: true,
      options: z.strictObject({ k: z.number().int().default(2) }),
      methods(metric, opts, minSamples): DetectorMethods<Toy> {
        seen.push([metric, opts, minSamples]);
        const out = verdictWriter<Toy>({ detector: 'toy', metric }, () => ({ baseline: 0, canary: 0 }));
        return {
          init: () => ({ pValue: 1, looks: 0 }),
          look: (state) => ({ state: { ...state, looks: state.looks + 1 }, verdict: out.verdict(state, 'pass', 'ok') }),
        };
      },
    });
    const d = def.create('m1', undefined, 7);
    expect(seen).toEqual([['m1', { k: 2 }, 7]]);
    expect(Object.keys(d)).toEqual(['type', 'name', 'init', 'look']);
    expect([d.type, d.name]).toEqual(['toy', 'm1']);
    expect(d.look(d.init(), lookInput(1, batch(1, 0), batch(1, 0)), 0.05).state.looks).toBe(1);

    expect(def.factory.type).toBe('toy');
    const f = def.factory.create('m2', { k: 3 }, { minSamples: 0 });
    expect([f.type, f.name]).toEqual(['toy', 'm2']);
    expect(seen.at(-1)).toEqual(['m2', { k: 3 }, 0]);

    const thrown = (fn: () => unknown): VigilError => {
      try {
        fn();
      } catch (e) {
        return e as VigilError;
      }
      throw new Error('did not throw');
    };
    const badOption = thrown(() => def.create('m3', { k: 1.5 }, -1)); // options are checked first
    expect(badOption).toBeInstanceOf(VigilError);
    expect(badOption.code).toBe('VIGIL_ERR_DETECTOR_OPTIONS');
    expect(badOption.message).toMatch(/metric m3 \(toy\): k:/);
    const badMin = thrown(() => def.factory.create('m4', {}, { minSamples: 2.5 }));
    expect(badMin.code).toBe('VIGIL_ERR_DETECTOR_OPTIONS');
    expect(badMin.message).toMatch(/metric m4 \(toy\): minSamples: must be an integer >= 0, got 2.5/);
    expect(seen).toHaveLength(2);
    expect(def.factory.anytimeValid).toBe(true);
    expect('anytimeValid' in d.look(d.init(), lookInput(1, batch(1, 0), batch(1, 0)), 0.05).verdict).toBe(false);
  });

  it('defineDetector with anytimeValid: false declares it on the factory and marks every verdict anytimeValid: false', () => {
    const def = defineDetector({
      type: 'peeking',
      anytimeValid: false,
      options: z.strictObject({}),
      methods(metric): DetectorMethods<{ pValue: number }> {
        const out = verdictWriter<{ pValue: number }>({ detector: 'peeking', metric }, () => ({
          baseline: 0,
          canary: 0,
        }));
        return {
          init: () => ({ pValue: 1 }),
          look: (state, _input, alpha) =>
            alpha > 0.1
              ? { state, verdict: out.errorVerdict(state, 'bad alpha') }
              : { state: { pValue: 0.01 }, verdict: out.verdict({ pValue: 0.01 }, 'fail', 'peeked') },
        };
      },
    });
    expect(def.factory.anytimeValid).toBe(false);
    for (const d of [def.create('m', {}, 0), def.factory.create('m', {}, { minSamples: 0 })]) {
      const fail = d.look(d.init(), lookInput(1, batch(1, 0), batch(1, 0)), 0.05);
      expect(fail.state).toEqual({ pValue: 0.01 });
      expect(fail.verdict).toMatchObject({ phase: 'fail', summary: 'peeked', anytimeValid: false });
      expect(d.look(d.init(), lookInput(1, batch(1, 0), batch(1, 0)), 0.5).verdict).toMatchObject({
        phase: 'error',
        anytimeValid: false,
      });
    }
  });
});
