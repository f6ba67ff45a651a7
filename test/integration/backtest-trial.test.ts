/**
 * The backtest's split and injections, observed through the REAL AnalysisRegistry with a probe detector
 * that records what each look hands to detectors (the thing under test is the split and the injection, not
 * a detector): same trace → same pseudo-cohort, the share, independent trials, windows, and each injection's
 * exact effect on the pseudo-canary.
 */
import { describe, expect, it } from 'vitest';
import { analysisSettings } from '../../src/analysis/settings.js';
import { runTrial, type AnalysisRun } from '../../src/backtest/run-trial.js';
import {
  COHORT_BASELINE,
  COHORT_CANARY,
  SampleStoreBuilder,
  type SampleStore,
} from '../../src/backtest/sample-store.js';
import type { Injection } from '../../src/backtest/scenarios.js';
import { planServices } from '../../src/backtest/service-plans.js';
import { parseConfig, type Registries } from '../../src/config/load.js';
import type { CohortPair, DetectorFactory } from '../../src/contracts/index.js';
import { bucketIndex, HISTOGRAM_SCALE } from '../../src/evidence/latency-histogram.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';

const T0 = 1_767_225_600_000;
const INTERVAL = 10_000;

/** Records every look's batch; never decides. */
function probe(): { factory: DetectorFactory; looks: { analysis: string; look: number; batch: CohortPair }[] } {
  const looks: { analysis: string; look: number; batch: CohortPair }[] = [];
  const factory: DetectorFactory = {
    type: 'probe',
    anytimeValid: true, // it never fails
    create: (name) => ({
      type: 'probe',
      name,
      init: () => null,
      look: (state, input) => {
        looks.push({ analysis: input.analysisId, look: input.look, batch: structuredClone(input.batch) });
        return {
          state,
          verdict: {
            detector: 'probe',
            metric: name,
            phase: 'inconclusive',
            pValue: 1,
            samples: { baseline: input.totals.baseline.requests, canary: input.totals.canary.requests },
            summary: 'probe',
          },
        };
      },
    }),
  };
  return { factory, looks };
}

/** `looks` looks of traffic for one baseline service; sample j of look l comes from `sample(l, j)`. */
function store(
  looks: number,
  perLook: number,
  sample: (l: number, j: number) => { trace: number; durationMs: number; error: boolean; cohort?: number },
): SampleStore {
  const b = new SampleStoreBuilder();
  for (let l = 0; l < looks; l++) {
    for (let j = 0; j < perLook; j++) {
      const s = sample(l, j);
      // the decoder hashes trace ids; here the trace number stands in for the two hashes
      b.add(
        'svc',
        s.cohort ?? COHORT_BASELINE,
        T0 + l * INTERVAL + ((j + 0.5) / perLook) * INTERVAL,
        s.durationMs,
        s.error,
        s.trace,
        s.trace ^ 0x5bd1e995,
      );
    }
    b.endLine();
  }
  return b.build();
}

function pipeline(s: SampleStore, canaryShare: number, analysis = '') {
  const p = probe();
  const registries: Registries = { ...BUILTIN_REGISTRIES, detectors: new Map([['probe', p.factory]]) };
  const loaded = parseConfig(
    `analysis: { ${analysis}interval: 10s, allowedLateness: 0s, minSamples: 5, maxDuration: 3m, metrics: [{ name: probe, detector: probe }] }`,
    't.yaml',
    registries,
    {},
  );
  const plans = planServices(s, loaded, { canaryShare });
  const settings = analysisSettings(loaded);
  const run = (trial: number, injection?: Injection): AnalysisRun[] => {
    p.looks.length = 0;
    return runTrial({ store: s, plans, settings, seed: 7, trial, ...(injection ? { injection } : {}) });
  };
  return { plans, looks: p.looks, run };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('backtest trial: the split', () => {
  it('keeps every trace in one pseudo-cohort, draws the configured share, and draws a new split per trial', () => {
    // 10 requests per trace, all within one look; 40 traces per look, 36 looks (6 minutes: two 3m windows);
    // every 11th trace is the recording's real canary, which the backtest leaves out
    const s = store(36, 400, (l, j) => {
      const trace = l * 1000 + Math.floor(j / 10);
      return { trace, durationMs: 20, error: false, cohort: trace % 11 === 0 ? COHORT_CANARY : COHORT_BASELINE };
    });
    // every span counted (analysis.requestUnit: span), so that whole traces show as multiples of 10
    const { plans, looks, run } = pipeline(s, 0.25, 'requestUnit: span, ');
    expect(plans.plans[0]).toMatchObject({ source: 'baseline', windows: 2, share: 0.25, shareSource: 'option' });
    const baselineRequests = sum(Array.from(s.cohort).map((c) => (c === COHORT_BASELINE ? 1 : 0)));
    expect(plans.plans[0]!.requests).toBe(baselineRequests);

    const runs = run(0);
    expect(runs.map((r) => r.window).sort()).toEqual([0, 1]);
    const canary0 = looks.map((x) => x.batch.canary.requests);
    for (const n of canary0) expect(n % 10).toBe(0); // whole traces only
    const all = sum(looks.map((x) => x.batch.canary.requests + x.batch.baseline.requests));
    expect(all).toBe(baselineRequests);
    expect(sum(canary0) / all).toBeGreaterThan(0.2);
    expect(sum(canary0) / all).toBeLessThan(0.3);

    run(0);
    expect(looks.map((x) => x.batch.canary.requests)).toEqual(canary0); // deterministic
    run(1);
    expect(looks.map((x) => x.batch.canary.requests)).not.toEqual(canary0); // a new split

    // by default the 10 spans of a trace (one service, cohort and look) are one request with 9 retries, as live
    const grouped = pipeline(s, 0.25);
    grouped.run(0);
    expect(grouped.looks.map((x) => x.batch.canary.requests * 10)).toEqual(canary0);
    expect(grouped.looks.map((x) => (x.batch.canary.retries ?? 0) + x.batch.canary.requests)).toEqual(canary0);
    expect(sum(grouped.looks.map((x) => x.batch.canary.requests + x.batch.baseline.requests))).toBe(all / 10);
  });

  it('an error injection multiplies the pseudo-canary error rate and leaves the baseline alone', () => {
    const s = store(18, 1000, (l, j) => ({ trace: l * 100_000 + j, durationMs: 20, error: j % 10 === 0 })); // 10% errors
    const { looks, run } = pipeline(s, 0.5);
    const rate = (c: 'canary' | 'baseline') =>
      sum(looks.map((x) => x.batch[c].errors)) / sum(looks.map((x) => x.batch[c].requests));
    run(3);
    const [aaCanary, aaBaseline] = [rate('canary'), rate('baseline')];
    run(3, { kind: 'error', factor: 3 });
    expect(rate('canary')).toBeGreaterThan(0.27);
    expect(rate('canary')).toBeLessThan(0.33);
    expect(rate('baseline')).toBe(aaBaseline);
    run(3, { kind: 'error', factor: 0.5 });
    expect(rate('canary')).toBeGreaterThan(0.035);
    expect(rate('canary')).toBeLessThan(0.065);
    expect(aaCanary).toBeGreaterThan(0.08);
  });

  it('a latency injection scales every canary request; a tail injection only those above the p95', () => {
    // 95% of requests take 10 ms, 5% take 100 ms: the p95 is 10 ms, so the tail is exactly the 100 ms ones
    const s = store(18, 200, (l, j) => ({ trace: l * 1000 + j, durationMs: j % 20 === 0 ? 100 : 10, error: false }));
    const { plans, looks, run } = pipeline(s, 0.5);
    expect(plans.plans[0]!.p95Ms).toBe(10);
    run(0);
    const aa = looks.map((x) => ({
      canary: x.batch.canary.logLatency.mean,
      baseline: x.batch.baseline.logLatency.mean,
      n: x.batch.canary.requests,
    }));
    run(0, { kind: 'latency', factor: 1.2 }); // the same split (trial 0), every canary request 1.2x slower
    looks.forEach((x, i) => {
      expect(x.batch.canary.requests).toBe(aa[i]!.n);
      if (aa[i]!.n > 0) expect(x.batch.canary.logLatency.mean).toBeCloseTo(aa[i]!.canary + Math.log(1.2), 9);
      expect(x.batch.baseline.logLatency.mean).toBe(aa[i]!.baseline);
    });
    const bucket = (ms: number) => bucketIndex(ms, HISTOGRAM_SCALE);
    const count = (c: 'canary' | 'baseline', ms: number) =>
      sum(looks.map((x) => x.batch[c].latencyHistogram.counts[bucket(ms)] ?? 0));
    run(0, { kind: 'tail', factor: 2 });
    expect(count('canary', 200)).toBeGreaterThan(0);
    expect(count('canary', 100)).toBe(0);
    expect(count('canary', 10)).toBeGreaterThan(count('canary', 200) * 10); // the body is untouched
    expect(count('baseline', 100)).toBeGreaterThan(0);
    expect(count('baseline', 200)).toBe(0);
  });
});
