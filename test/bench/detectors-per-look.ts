import type { ErrorRateState } from '../../detectors/error-rate-sequential.js';
import { createErrorRateSequential } from '../../detectors/error-rate-sequential.js';
import { createKayentaMannWhitney } from '../../detectors/kayenta-mann-whitney.js';
import type { KayentaState } from '../../detectors/kayenta-mann-whitney.js';
import { createLatencySequential } from '../../detectors/latency-sequential.js';
import { createSloGuard } from '../../detectors/slo-guard.js';
import type { SloGuardState } from '../../detectors/slo-guard.js';
import { createSrm } from '../../detectors/srm.js';
import type { SrmState } from '../../detectors/srm.js';
import { createLatencyQuantile } from '../../detectors/latency-quantile.js';
import { createRatioSequential } from '../../detectors/ratio-sequential.js';
import { createGaugeSequential } from '../../detectors/gauge-sequential.js';
import { addRequest, emptyBatch } from '../../src/evidence/cohort-batch.js';
import { lookLogLikelihoodRatio, mixtureGrid } from '../../detectors/lib/discrete-mixture.js';
import type { Detector, LookInput } from '../../src/contracts/detector.js';
import type { CohortBatch, LogMoments } from '../../src/contracts/evidence.js';
import type { BenchCase, BenchSuite } from './harness.js';

/**
 * Cost of ONE look of each sequential detector (test + always-valid p + anytime-valid bounds + summary) when
 * the analysis is at look 1, 100 and 1000. The error-rate detector's bounds are O(K x strata) per root-finder
 * step, so its worst case is a split that differs at every look (no strata merge): that is what is built here.
 * Detectors are pure, so the same prior state is reused for every timed call.
 */

function cohort(requests: number, errors: number, logLatency: LogMoments): CohortBatch {
  return { requests, errors, logLatency, latencyHistogram: { scale: 0, zeroCount: 0, counts: {} } };
}

function input(look: number, canary: CohortBatch, baseline: CohortBatch): LookInput {
  return {
    analysisId: 'bench',
    look,
    atUnixMs: look * 10_000,
    batch: { canary, baseline },
    totals: { canary, baseline },
  };
}

/** Deterministic look j: canary share drifting 5% -> 50%, ~1% errors, 2000 requests in all. */
function errorLook(j: number): { nc: number; xc: number; nb: number; xb: number } {
  const nc = 100 + ((j * 7) % 900);
  return { nc, xc: Math.round(nc * 0.011) + (j % 3), nb: 2000 - nc, xb: Math.round((2000 - nc) * 0.01) + (j % 2) };
}

const INDEPENDENT = { combine: 'independent' } as const;
const NO_LATENCY: LogMoments = { n: 0, mean: 0, m2: 0 };

/** State after `looks` looks, built directly (it is plain data) to skip the bounds of every earlier look. */
function errorStateAfter(looks: number, k: number): ErrorRateState {
  const grid = mixtureGrid(k, 0.5);
  const s: ErrorRateState = { ...createErrorRateSequential('error-rate', INDEPENDENT, 25).init(), looks };
  const llr = s.llr;
  for (let j = 1; j <= looks; j++) {
    const { nc, xc, nb, xb } = errorLook(j);
    const rho = nc / (nc + nb);
    grid.logG.forEach(
      (lg, i) => (llr[i] = (llr[i] as number) + lookLogLikelihoodRatio(rho, xc + xb, xc, Math.exp(lg), 1)),
    );
    s.strata.push({ rho, failures: xc + xb, canaryFailures: xc });
    s.canaryRequests += nc;
    s.baselineRequests += nb;
    s.canaryErrors += xc;
    s.baselineErrors += xb;
  }
  return s;
}

function latencyLook(j: number): { c: LogMoments; b: LogMoments } {
  return { c: { n: 20, mean: 4.6 + 0.01 * (j % 5), m2: 19 * 0.25 }, b: { n: 20, mean: 4.6, m2: 19 * 0.26 } };
}

/** Kayenta state after `looks` looks of errorLook (plain data: per-look error rates). */
function kayentaStateAfter(looks: number): KayentaState {
  const s: KayentaState = {
    looks,
    canaryValues: [],
    baselineValues: [],
    canarySamples: 0,
    baselineSamples: 0,
    pValue: 1,
  };
  for (let j = 1; j <= looks; j++) {
    const { nc, xc, nb, xb } = errorLook(j);
    s.canaryValues.push(xc / nc);
    s.baselineValues.push(xb / nb);
    s.canarySamples += nc;
    s.baselineSamples += nb;
  }
  return s;
}

/** Deterministic look j for latency-quantile: 200 spans per cohort at log-normal quantiles (histograms as production builds them). */
function quantileLook(j: number): { c: CohortBatch; b: CohortBatch } {
  const c = emptyBatch();
  const b = emptyBatch();
  for (let i = 0; i < 200; i++) {
    const z = Math.sqrt(2) * Math.atan(((i + 0.5) / 200 - 0.5) * Math.PI) * 0.9; // heavy-ish deterministic spread
    addRequest(b, 100 * Math.exp(0.5 * z + 0.001 * (j % 7)), false);
    addRequest(c, 100 * Math.exp(0.5 * z + 0.002 * (j % 5)), false);
  }
  return { c, b };
}

/** Deterministic look j for ratio-sequential: ~2% conversion of ~1000 starts per cohort, the split drifting. */
function ratioLook(j: number): { c: CohortBatch; b: CohortBatch } {
  const { nc, nb } = errorLook(j);
  const c = { ...cohort(0, 0, NO_LATENCY), ratio: { numerator: Math.round(nc * 0.02) + (j % 3), denominator: nc } };
  const b = { ...cohort(0, 0, NO_LATENCY), ratio: { numerator: Math.round(nb * 0.02) + (j % 2), denominator: nb } };
  return { c, b };
}

/** Deterministic look j for gauge-sequential: 3 canary and 10 baseline instances, two series each. */
function gaugeLook(j: number): { c: CohortBatch; b: CohortBatch } {
  const cells = (prefix: string, n: number): CohortBatch['instances'] =>
    Object.fromEntries(
      Array.from({ length: 2 * n }, (_, k) => [
        `${prefix}${k >> 1}\npool-${k & 1}`,
        { sum: 6 * (250 + 10 * ((k * 7 + j * 3) % 5)), count: 6 },
      ]),
    );
  return {
    c: { ...cohort(0, 0, NO_LATENCY), instances: cells('canary-', 3) },
    b: { ...cohort(0, 0, NO_LATENCY), instances: cells('baseline-', 10) },
  };
}

/** Issue 16's detectors at look `at`: state from real looks (both are O(1) / O(instances) per look). */
function indicatorCases(at: number): BenchCase[] {
  const cases: BenchCase[] = [];
  const list: [string, Detector, (j: number) => { c: CohortBatch; b: CohortBatch }][] = [
    [
      'ratio-sequential (robust, worse lower)',
      createRatioSequential(
        'conversion',
        { numerator: { metric: 'a' }, denominator: { metric: 'b' }, worse: 'lower' },
        25,
      ),
      ratioLook,
    ],
    [
      'ratio-sequential (independent, K=48)',
      createRatioSequential(
        'conversion',
        { numerator: { metric: 'a' }, denominator: { metric: 'b' }, combine: 'independent' },
        25,
      ),
      ratioLook,
    ],
    ['gauge-sequential (3 vs 10 instances)', createGaugeSequential('memory', { metric: 'm' }, 25), gaugeLook],
  ];
  for (const [label, d, lookOf] of list) {
    let s = d.init();
    for (let j = 1; j < at; j++) {
      const { c, b } = lookOf(j);
      s = d.look(s, input(j, c, b), 0.05).state;
    }
    const { c, b } = lookOf(at);
    const inp = input(at, c, b);
    const prior = s;
    const slow = label.includes('independent');
    cases.push({
      name: `${label} at look ${at}`,
      fn: () => d.look(prior, inp, 0.05),
      iterations: slow && at >= 1000 ? 20 : slow && at >= 100 ? 200 : 2000,
      warmup: 20,
    });
  }
  return cases;
}

export const detectorsPerLook: BenchSuite = {
  name: 'detectors-per-look',
  cases(): BenchCase[] {
    const cases: BenchCase[] = [];
    // the discrete mixture (combine: independent), whose bounds grow with the looks: its state is built directly
    const err = createErrorRateSequential('error-rate', INDEPENDENT, 25);
    // the default robust bets: constant per look, state from real looks
    const robust = createErrorRateSequential('error-rate', {}, 25);
    const lat = createLatencySequential('latency', { tolerance: 0.05 }, 25);
    const kay = createKayentaMannWhitney('errors-kayenta', {}, 25);
    const srmD = createSrm('srm', {}, 25);
    const slo = createSloGuard('slo', { maxErrorRate: 0.01 }, 25);
    for (const at of [1, 100, 1000]) {
      const prior = at === 1 ? err.init() : errorStateAfter(at - 1, 48);
      const e = errorLook(at);
      const inp = input(at, cohort(e.nc, e.xc, { n: 0, mean: 0, m2: 0 }), cohort(e.nb, e.xb, { n: 0, mean: 0, m2: 0 }));
      cases.push({
        name: `error-rate-sequential, combine: independent (K=48) at look ${at}`,
        fn: () => err.look(prior, inp, 0.05),
        iterations: at >= 1000 ? 20 : at >= 100 ? 200 : 2000,
        warmup: at >= 1000 ? 3 : 20,
      });
      let rs = robust.init();
      for (let j = 1; j < at; j++) {
        const x = errorLook(j);
        rs = robust.look(rs, input(j, cohort(x.nc, x.xc, NO_LATENCY), cohort(x.nb, x.xb, NO_LATENCY)), 0.05).state;
      }
      const robustPrior = rs;
      cases.push({
        name: `error-rate-sequential, combine: robust at look ${at}`,
        fn: () => robust.look(robustPrior, inp, 0.05),
        iterations: at >= 1000 ? 200 : 2000,
        warmup: 20,
      });

      let ls = lat.init();
      for (let j = 1; j < at; j++) {
        const { c, b } = latencyLook(j);
        ls = lat.look(ls, input(j, cohort(20, 0, c), cohort(20, 0, b)), 0.05).state;
      }
      const l = latencyLook(at);
      const linp = input(at, cohort(20, 0, l.c), cohort(20, 0, l.b));
      const lprior = ls;
      cases.push({
        name: `latency-sequential at look ${at}`,
        fn: () => lat.look(lprior, linp, 0.05),
        iterations: 20_000,
        warmup: 1000,
      });

      // Kayenta compatibility re-judges ALL looks so far: O(n log n x ~100) per look.
      const kprior = kayentaStateAfter(at - 1);
      cases.push({
        name: `kayenta-mann-whitney at look ${at}`,
        fn: () => kay.look(kprior, inp, 0.05),
        iterations: at >= 1000 ? 10 : at >= 100 ? 100 : 2000,
        warmup: at >= 1000 ? 2 : 20,
      });

      // srm: O(segments); the worst case is an expected share that changes at every look (one segment each).
      const sprior: SrmState = { looks: at - 1, canaryRequests: 0, baselineRequests: 0, segments: [], pValue: 1 };
      for (let j = 1; j < at; j++) {
        const { nc, nb } = errorLook(j);
        sprior.segments.push({ share: nc / (nc + nb), baseline: nb, canary: nc });
      }
      const sinp = { ...inp, expectedCanaryShare: e.nc / (e.nc + e.nb) + 1e-9 };
      cases.push({
        name: `srm (share changes every look) at look ${at}`,
        fn: () => srmD.look(sprior, sinp, 0.05),
        iterations: at >= 1000 ? 20 : at >= 100 ? 200 : 2000,
        warmup: 10,
      });

      // slo-guard: O(1) state; cost grows with the counts through the incomplete beta (~sqrt(errors)).
      const gprior: SloGuardState = {
        looks: at - 1,
        trials: (at - 1) * e.nc,
        sure: Math.round((at - 1) * e.nc * 0.011),
        possible: Math.round((at - 1) * e.nc * 0.011),
        canaryRequests: (at - 1) * e.nc,
        baselineRequests: 0,
        pValue: 1,
      };
      cases.push({
        name: `slo-guard (maxErrorRate 1%) at look ${at}`,
        fn: () => slo.look(gprior, inp, 0.05),
        iterations: 500,
        warmup: 20,
      });

      // latency-quantile: O(buckets + rungs x K) per look, state independent of the number of looks.
      const q = createLatencyQuantile('latency-p99', {}, 25);
      let qs = q.init();
      for (let j = 1; j < at; j++) {
        const { c: qc, b: qb } = quantileLook(j);
        qs = q.look(qs, input(j, qc, qb), 0.05).state;
      }
      const ql = quantileLook(at);
      const qinp = input(at, ql.c, ql.b);
      const qprior = qs;
      cases.push({
        name: `latency-quantile at look ${at}`,
        fn: () => q.look(qprior, qinp, 0.05),
        iterations: 5000,
        warmup: 200,
      });
      cases.push(...indicatorCases(at));
    }
    return cases;
  },
};
