import type { ErrorRateState } from '../../detectors/error-rate-sequential.js';
import { createErrorRateSequential } from '../../detectors/error-rate-sequential.js';
import { createLatencySequential } from '../../detectors/latency-sequential.js';
import { lookLogLikelihoodRatio, mixtureGrid } from '../../detectors/lib/discrete-mixture.js';
import type { LookInput } from '../../src/contracts/detector.js';
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
  return { analysisId: 'bench', look, atUnixMs: look * 10_000, batch: { canary, baseline }, totals: { canary, baseline } };
}

/** Deterministic look j: canary share drifting 5% -> 50%, ~1% errors, 2000 requests in all. */
function errorLook(j: number): { nc: number; xc: number; nb: number; xb: number } {
  const nc = 100 + ((j * 7) % 900);
  return { nc, xc: Math.round(nc * 0.011) + (j % 3), nb: 2000 - nc, xb: Math.round((2000 - nc) * 0.01) + (j % 2) };
}

/** State after `looks` looks, built directly (it is plain data) to skip the bounds of every earlier look. */
function errorStateAfter(looks: number, k: number): ErrorRateState {
  const grid = mixtureGrid(k, 0.5);
  const llr = new Array<number>(k).fill(0);
  const s: ErrorRateState = { looks, canaryRequests: 0, baselineRequests: 0, canaryErrors: 0, baselineErrors: 0, llr, strata: [], pValue: 1 };
  for (let j = 1; j <= looks; j++) {
    const { nc, xc, nb, xb } = errorLook(j);
    const rho = nc / (nc + nb);
    grid.logG.forEach((lg, i) => (llr[i] = (llr[i] as number) + lookLogLikelihoodRatio(rho, xc + xb, xc, Math.exp(lg), 1)));
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

export const detectorsPerLook: BenchSuite = {
  name: 'detectors-per-look',
  cases(): BenchCase[] {
    const cases: BenchCase[] = [];
    const err = createErrorRateSequential('error-rate', {}, 25);
    const lat = createLatencySequential('latency', { tolerance: 0.05 }, 25);
    for (const at of [1, 100, 1000]) {
      const prior = at === 1 ? err.init() : errorStateAfter(at - 1, 48);
      const e = errorLook(at);
      const inp = input(at, cohort(e.nc, e.xc, { n: 0, mean: 0, m2: 0 }), cohort(e.nb, e.xb, { n: 0, mean: 0, m2: 0 }));
      cases.push({ name: `error-rate-sequential (K=48) at look ${at}`, fn: () => err.look(prior, inp, 0.05), iterations: at >= 1000 ? 20 : at >= 100 ? 200 : 2000, warmup: at >= 1000 ? 3 : 20 });

      let ls = lat.init();
      for (let j = 1; j < at; j++) {
        const { c, b } = latencyLook(j);
        ls = lat.look(ls, input(j, cohort(20, 0, c), cohort(20, 0, b)), 0.05).state;
      }
      const l = latencyLook(at);
      const linp = input(at, cohort(20, 0, l.c), cohort(20, 0, l.b));
      const lprior = ls;
      cases.push({ name: `latency-sequential at look ${at}`, fn: () => lat.look(lprior, linp, 0.05), iterations: 20_000, warmup: 1000 });
    }
    return cases;
  },
};
