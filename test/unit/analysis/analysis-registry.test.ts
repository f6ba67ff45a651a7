import { describe, expect, it } from 'vitest';
import { AnalysisRegistry, type AnalysisSettings, type LookEvent } from '../../../src/analysis/analysis-registry.js';
import type { Decision, Detector, RequestSample } from '../../../src/contracts/index.js';
import { decisionId } from '../../../src/decide/engine.js';
import { oneMetric, registrySettings } from '../../helpers/registry-settings.js';

/** A test detector (the registry is under test, not the statistics): fails once the canary's running error
 *  count reaches `failAt`, records every batch it was shown. */
function countingDetector(failAt = Infinity) {
  const seen: { look: number; baseline: number; canary: number }[] = [];
  const d: Detector<{ looks: number }> = {
    type: 'test-count',
    name: 'errors',
    init: () => ({ looks: 0 }),
    look: (s, input) => {
      seen.push({ look: input.look, baseline: input.batch.baseline.requests, canary: input.batch.canary.requests });
      const fail = input.totals.canary.errors >= failAt;
      return {
        state: { looks: s.looks + 1 },
        verdict: {
          detector: 'test-count',
          metric: 'errors',
          phase: fail ? 'fail' : 'inconclusive',
          pValue: fail ? 0.001 : 1,
          samples: { baseline: input.totals.baseline.requests, canary: input.totals.canary.requests },
          summary: fail ? 'too many errors' : 'ok',
        },
      };
    },
  };
  return { d, seen };
}

const settings = (detector: Detector, over: Partial<AnalysisSettings> = {}) =>
  registrySettings(oneMetric(detector), { planFor: () => ['hook'], ...over });

const T0 = 1_767_225_600_000; // a multiple of 10 s
const s = (
  cohort: RequestSample['cohort'],
  t: number,
  error = false,
  version = cohort === 'canary' ? '2.0' : '1.0',
  service = 'checkout',
): RequestSample => ({ service, version, cohort, endUnixMs: T0 + t, durationMs: 20, error });

describe('AnalysisRegistry', () => {
  it('starts an analysis when both cohorts are seen and contrasts them within each look', () => {
    const { d, seen } = countingDetector();
    const reg = new AnalysisRegistry(settings(d), { onDecision: () => {} });
    reg.ingest([s('baseline', 1000), s('baseline', 2000), s('canary', 3000)]);
    expect(reg.list()).toHaveLength(1);
    expect(reg.list()[0]!.id).toBe('checkout:2.0');
    reg.ingest([s('baseline', 11_000), s('canary', 12_000), s('canary', 13_000), s('baseline', 21_000)]);
    // look 1 = [T0, T0+10s): 2 baseline, 1 canary; look 2 = [T0+10s, T0+20s): 1 baseline, 2 canary
    expect(seen).toEqual([
      { look: 1, baseline: 2, canary: 1 },
      { look: 2, baseline: 1, canary: 2 },
    ]);
    expect(reg.list()[0]!.totals.canary.requests).toBe(3);
  });

  it('counts unknown cohorts per version and never compares them', () => {
    const { d } = countingDetector();
    const reg = new AnalysisRegistry(settings(d), { onDecision: () => {} });
    reg.ingest([s('unknown', 1000, false, '3.1'), s('unknown', 2000, false, '3.1'), s('baseline', 3000)]);
    expect(reg.list()).toHaveLength(0);
    expect(reg.counters.unknownCohort).toBe(2);
    expect(reg.unknownCohorts()).toEqual([{ service: 'checkout', version: '3.1', samples: 2 }]);
  });

  it('rolls back once, then keeps the version rolled back until resumed', () => {
    const { d } = countingDetector(2);
    const decisions: Decision[] = [];
    const reg = new AnalysisRegistry(settings(d), { onDecision: (x) => decisions.push(x) });
    reg.ingest([s('baseline', 0), s('canary', 1000, true), s('canary', 2000, true), s('baseline', 10_500)]);
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({
      outcome: 'rollback',
      analysis: 'checkout:2.0',
      canaryVersion: '2.0',
      baselineVersion: '1.0',
      look: 1,
      plan: ['hook'],
      eventTimeUnixMs: T0 + 10_000,
    });
    reg.ingest([s('canary', 11_000, true), s('canary', 12_000, true), s('baseline', 40_000)]);
    expect(decisions).toHaveLength(1);
    expect(reg.counters.decidedVersionSamples).toBe(2);
    expect(reg.get('checkout:2.0')!.phase).toBe('rollback');
    expect(reg.resume('checkout', '2.0')).toBe(true);
    reg.ingest([s('canary', 41_000, true), s('canary', 42_000, true), s('baseline', 51_000)]);
    expect(decisions).toHaveLength(2);
    // the resumed version's analysis is a new incarnation: same analysis id and look, its own decision id
    expect(decisions[1]).toMatchObject({ analysis: 'checkout:2.0', look: 1, outcome: 'rollback' });
    expect(decisions[0]!.id).toBe(decisionId('checkout:2.0', 1, 'rollback'));
    expect(decisions[1]!.id).toBe(decisionId('checkout:2.0', 1, 'rollback', 1));
    expect(decisions[1]!.id).not.toBe(decisions[0]!.id);
  });

  it('a new canary version starts its own analysis', () => {
    const { d } = countingDetector();
    const reg = new AnalysisRegistry(settings(d), { onDecision: () => {} });
    reg.ingest([s('baseline', 0), s('canary', 1000, false, '2.0'), s('canary', 2000, false, '2.1')]);
    expect(
      reg
        .list()
        .map((a) => a.id)
        .sort(),
    ).toEqual(['checkout:2.0', 'checkout:2.1']);
  });

  it('promotes at maxDuration of event time when nothing failed', () => {
    const { d } = countingDetector();
    const decisions: Decision[] = [];
    const reg = new AnalysisRegistry(settings(d, { maxDurationMs: 60_000 }), { onDecision: (x) => decisions.push(x) });
    for (let t = 0; t <= 70_000; t += 5000) reg.ingest([s('baseline', t), s('canary', t + 1)]);
    expect(decisions.map((x) => [x.outcome, x.look])).toEqual([['promote', 6]]);
    expect(decisions[0]!.plan).toEqual([]);
  });

  it('abandons an analysis whose canary went silent while the baseline kept reporting', () => {
    const { d } = countingDetector();
    const decisions: Decision[] = [];
    const reg = new AnalysisRegistry(settings(d, { silenceTimeoutMs: 30_000 }), {
      onDecision: (x) => decisions.push(x),
    });
    reg.ingest([s('baseline', 0), s('canary', 1000)]);
    for (let t = 5000; t <= 60_000; t += 5000) reg.ingest([s('baseline', t)]);
    expect(decisions.map((x) => x.outcome)).toEqual(['abandoned']);
    expect(decisions[0]!.reason).toMatch(/no telemetry/);
  });

  it('drops late samples (past the lateness) and counts them; accepts ones within it', () => {
    const { d, seen } = countingDetector();
    const reg = new AnalysisRegistry(settings(d, { allowedLatenessMs: 5000 }), { onDecision: () => {} });
    reg.ingest([s('baseline', 0), s('canary', 1000), s('baseline', 12_000)]);
    expect(seen).toHaveLength(0); // watermark T0+7s has not closed look 1
    reg.ingest([s('canary', 9000)]); // within lateness: counts in look 1
    reg.ingest([s('baseline', 16_000)]); // watermark T0+11s closes look 1
    expect(seen[0]).toEqual({ look: 1, baseline: 1, canary: 2 });
    reg.ingest([s('canary', 9500)]);
    expect(reg.counters.lateSamples).toBe(1);
  });

  it('refuses a lone sample that would jump the event clock by more than maxDuration', () => {
    const { d } = countingDetector();
    const reg = new AnalysisRegistry(settings(d), { onDecision: () => {} });
    reg.ingest([s('baseline', 0), s('canary', 1000), s('baseline', 10 * 86_400_000), s('canary', 2000)]);
    expect(reg.counters.clockSkewSamples).toBe(1);
    expect(reg.list()[0]!.look).toBe(0);
  });

  it('accepts a confirmed jump (an idle service) and abandons, never promotes, the silent analysis', () => {
    const { d } = countingDetector();
    const decisions: Decision[] = [];
    const reg = new AnalysisRegistry(settings(d), { onDecision: (x) => decisions.push(x) });
    reg.ingest([s('baseline', 0), s('canary', 1000)]);
    const day = 86_400_000;
    reg.ingest([s('baseline', day), s('baseline', day + 500)]);
    expect(reg.counters.clockSkewSamples).toBe(1);
    expect(decisions.map((x) => x.outcome)).toEqual(['abandoned']);
  });

  it('gives the same decisions whether requests arrive one by one or together (replay = live)', () => {
    const samples: RequestSample[] = [];
    for (let t = 0; t < 90_000; t += 250) samples.push(s(t % 1000 === 0 ? 'canary' : 'baseline', t, t % 7000 === 0));
    const run = (chunk: number) => {
      const { d } = countingDetector(5);
      const out: Decision[] = [];
      const looks: LookEvent[] = [];
      const reg = new AnalysisRegistry(settings(d), { onDecision: (x) => out.push(x), onLook: (e) => looks.push(e) });
      for (let i = 0; i < samples.length; i += chunk) reg.ingest(samples.slice(i, i + chunk));
      reg.flush();
      return { out, looks: looks.length };
    };
    const a = run(1);
    const b = run(37);
    expect(a.out).toHaveLength(1);
    expect(b.out).toEqual(a.out);
    expect(b.looks).toBe(a.looks);
  });

  it('storm guard holds the plan after maxRollbacks rollbacks of a service within the window', () => {
    const { d } = countingDetector(1);
    const decisions: Decision[] = [];
    const reg = new AnalysisRegistry(settings(d, { maxRollbacks: 1 }), { onDecision: (x) => decisions.push(x) });
    reg.ingest([s('baseline', 0), s('canary', 1000, true, '2.0'), s('baseline', 10_500)]);
    reg.ingest([s('canary', 11_000, true, '2.1'), s('baseline', 20_500)]);
    expect(decisions.map((x) => x.plan)).toEqual([['hook'], []]);
    expect(decisions[1]!.reason).toMatch(/storm guard/);
  });
});
