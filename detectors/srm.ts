import { z } from 'zod';
import type { DetectorFactory, DetectorLookResult, LookInput, Phase } from '../src/contracts/detector.js';
import { batchProblem } from './lib/batch-check.js';
import type { DetectorMethods } from './lib/detector-kit.js';
import { alphaProblem, defineDetector, finiteOrUndefined, verdictWriter, withEffect } from './lib/detector-kit.js';
import { twoArmLogBF } from './lib/dirichlet-multinomial.js';
import { formatBounds, formatBurnIn, formatLooks, formatP, formatRatio } from './lib/format.js';
import { alwaysValidPValue } from './lib/p-value.js';
import { bisect } from './lib/root-finding.js';

/**
 * `srm`: sample-ratio-mismatch guard. Did the canary get the share of requests the traffic split promised?
 * A broken split (routing bug, sticky sessions, a bot hitting one cohort, a crashing canary shedding load)
 * makes every comparison suspect, so a mismatch holds the analysis (`inconclusive`, `hold: 'srm'`; option
 * `onMismatch: hold`, the default) or rolls back (`fail`; `onMismatch: rollback`).
 *
 * Method: Lindon & Malek's Dirichlet-multinomial sequential test (lib/dirichlet-multinomial.ts) of each
 * look's request counts (baseline, canary) against the expected canary share theta0 =
 * `LookInput.expectedCanaryShare` (the share a promotion plan set for the look's window, else the config's) or else
 * the option `expectedShare`; concentration
 * k = `concentration` (100). Two-sided: too few or too many canary requests. Consecutive looks with the same
 * expected share form a segment whose Bayes factor is the LM closed form on the segment's totals; when the
 * expected share changes (a ramp step) the segment is closed and the next one starts at 1. M_t = product of
 * the segment Bayes factors is a nonnegative martingale with mean 1 under H0 ("in every look the canary's
 * share of requests is that look's expected share"), so Ville applies across steps. p_t = min(p_{t-1}, 1/M_t).
 * Mismatch when M_t >= 1/alpha after burn-in (at least 2 x minSamples requests tested in all; per-cohort
 * burn-in would hide the worst mismatch, a canary that gets nothing). A detected mismatch is STICKY: the
 * split was broken during this analysis, whatever comes next; fix it and start a new analysis. Without a
 * known expected share the verdict is `inconclusive` (never `fail`, no hold) and says so; looks without one
 * add nothing. No mismatch after burn-in: `pass` (the guard never blocks promotion by itself).
 * Estimate and bounds: the odds ratio r of the canary's realised share against the expected one (share_j(r)
 * = rho_j r / (rho_j r + 1 - rho_j); 1 = as expected), estimated by sum c_s (1 - rho_s) / sum b_s rho_s over
 * segments; bounds {r : prod_s BF_s(theta0 = share_s(r)) < 1/alpha}, a (1 - alpha) confidence sequence for a
 * common r (root-found in ln r to 1e-7), consistent with the test at r = 1.
 *
 * Reference: Lindon & Malek, NeurIPS 2022 (and the `savvi` package); Fabijan et al., "Diagnosing sample ratio
 * mismatch in online controlled experiments", KDD 2019.
 * Assumptions: requests are routed independently with the look's expected probability (count requests, not
 * sessions, when the split is per request).
 * Complexity: O(segments) per test evaluation; ~2 x 60 evaluations for the bounds per look. State O(segments):
 * one (share, baseline, canary) per distinct consecutive expected share.
 */

export const SRM = 'srm';

const optionsSchema = z.strictObject({
  /** Expected canary share of requests when the look does not carry one (config or proxy weight). */
  expectedShare: z.number().gt(0).lt(1).optional(),
  onMismatch: z.enum(['hold', 'rollback']).default('hold'),
  /** Dirichlet concentration k of the Lindon-Malek prior. */
  concentration: z.number().positive().max(1e9).default(100),
});

export type SrmOptions = z.output<typeof optionsSchema>;

export interface SrmSegment {
  /** Expected canary share in this run of looks. */
  share: number;
  baseline: number;
  canary: number;
}

/** Plain JSON state: O(segments). */
export interface SrmState {
  looks: number;
  /** All requests seen (for display), tested or not. */
  canaryRequests: number;
  baselineRequests: number;
  segments: SrmSegment[];
  pValue: number;
  /** Look at which the mismatch was detected (sticky), if any. */
  mismatchLook?: number;
}

function logM(segments: readonly SrmSegment[], k: number, r: number): number {
  let s = 0;
  for (const g of segments) {
    const share = (g.share * r) / (g.share * r + 1 - g.share);
    s += twoArmLogBF(g.baseline, g.canary, share, k);
  }
  return s;
}

function oddsEstimate(segments: readonly SrmSegment[]): number {
  let num = 0;
  let den = 0;
  for (const g of segments) {
    num += g.canary * (1 - g.share);
    den += g.baseline * g.share;
  }
  return den > 0 ? num / den : num > 0 ? Number.POSITIVE_INFINITY : 1;
}

/** Bounds of {r : logM(r) < threshold}, searched outward from the estimate in ln r (0 / Infinity when open). */
function oddsBounds(
  segments: readonly SrmSegment[],
  k: number,
  threshold: number,
  estimate: number,
): { lower: number; upper: number } {
  const f = (lr: number): number => logM(segments, k, Math.exp(lr)) - threshold;
  const LIMIT = 30;
  const center = Math.min(LIMIT - 1, Math.max(-LIMIT + 1, Math.log(estimate)));
  if (f(center) >= 0) return { lower: estimate, upper: estimate };
  const side = (dir: 1 | -1): number => {
    let step = 0.05;
    let inside = center;
    for (;;) {
      const out = Math.min(LIMIT, Math.max(-LIMIT, inside + dir * step));
      if (f(out) >= 0) return Math.exp(dir > 0 ? bisect(f, inside, out, 1e-7) : bisect(f, out, inside, 1e-7));
      if (Math.abs(out) >= LIMIT) return dir > 0 ? Number.POSITIVE_INFINITY : 0;
      inside = out;
      step *= 2;
    }
  };
  return { lower: side(-1), upper: side(1) };
}

function pct(x: number): string {
  return `${Number((100 * x).toPrecision(3))}%`;
}

function srmMethods(name: string, opts: SrmOptions, minSamples: number): DetectorMethods<SrmState> {
  const burnIn = 2 * minSamples;
  const k = opts.concentration;
  const effect = 'odds ratio of the canary share of requests, realised/expected (1 = split as expected)';
  const out = verdictWriter<SrmState>({ detector: SRM, metric: name, effect }, (s) => ({
    baseline: s.baselineRequests,
    canary: s.canaryRequests,
  }));

  return {
    init(): SrmState {
      return { looks: 0, canaryRequests: 0, baselineRequests: 0, segments: [], pValue: 1 };
    },
    look(state: SrmState, input: LookInput, alpha: number): DetectorLookResult<SrmState> {
      const problem =
        alphaProblem(alpha) ??
        batchProblem('canary', input.batch.canary, 'counts') ??
        batchProblem('baseline', input.batch.baseline, 'counts');
      if (problem !== undefined) return { state, verdict: out.errorVerdict(state, problem) };
      const { canary, baseline } = input.batch;
      const expected = input.expectedCanaryShare ?? opts.expectedShare;
      if (expected !== undefined && !(expected > 0 && expected < 1)) {
        return { state, verdict: out.errorVerdict(state, `expected canary share must be in (0, 1), got ${expected}`) };
      }

      let segments = state.segments;
      if (expected !== undefined && canary.requests + baseline.requests > 0) {
        const last = segments.at(-1);
        segments =
          last !== undefined && last.share === expected
            ? [
                ...segments.slice(0, -1),
                { share: expected, baseline: last.baseline + baseline.requests, canary: last.canary + canary.requests },
              ]
            : [...segments, { share: expected, baseline: baseline.requests, canary: canary.requests }];
      }
      const lm = logM(segments, k, 1);
      const next: SrmState = {
        looks: state.looks + 1,
        canaryRequests: state.canaryRequests + canary.requests,
        baselineRequests: state.baselineRequests + baseline.requests,
        segments,
        pValue: alwaysValidPValue(state.pValue, lm),
      };
      if (state.mismatchLook !== undefined) next.mismatchLook = state.mismatchLook;
      const looksText = formatLooks(next.looks);

      if (segments.length === 0) {
        const why =
          expected === undefined
            ? 'no expected canary share is known (set rollouts[].expectedCanaryShare or the option expectedShare), so the split is not checked'
            : 'no requests yet';
        const share =
          next.canaryRequests + next.baselineRequests > 0
            ? `; canary got ${pct(next.canaryRequests / (next.canaryRequests + next.baselineRequests))} of requests`
            : '';
        return { state: next, verdict: out.verdict(next, 'inconclusive', `${why}${share} ${looksText}`) };
      }

      const tested = segments.reduce((a, g) => a + g.baseline + g.canary, 0);
      const testedCanary = segments.reduce((a, g) => a + g.canary, 0);
      const expectedShare = segments.reduce((a, g) => a + g.share * (g.baseline + g.canary), 0) / tested;
      const shares = `canary got ${pct(testedCanary / tested)} of ${tested} requests, expected ${pct(expectedShare)}`;
      const logInv = Math.log(1 / alpha);
      if (next.mismatchLook === undefined && tested >= burnIn && lm >= logInv) next.mismatchLook = next.looks;

      const estimate = oddsEstimate(segments);
      const { lower, upper } = oddsBounds(segments, k, logInv, estimate);
      const odds = Number.isFinite(estimate)
        ? `odds ratio ${formatRatio(estimate)} of expected`
        : 'odds ratio unbounded (no baseline request)';
      const bounds = `${odds}, ${formatBounds(lower, upper, 'both', formatRatio)}`;
      const tail = `${formatP(next.pValue)} ${looksText}`;

      let phase: Phase = 'inconclusive';
      let summary: string;
      if (next.mismatchLook !== undefined) {
        const action =
          opts.onMismatch === 'hold'
            ? 'promotion held (onMismatch: hold): fix the traffic split and start a new analysis'
            : 'rolling back (onMismatch: rollback)';
        phase = opts.onMismatch === 'hold' ? 'inconclusive' : 'fail';
        summary = `sample-ratio mismatch since look ${next.mismatchLook}: ${shares} (${bounds}), ${tail}; ${action}`;
      } else if (tested < burnIn) {
        summary = formatBurnIn(
          `${tested}/${burnIn} requests tested (${shares})`,
          next.looks,
          formatP(next.pValue),
          `${burnIn} are tested`,
        );
      } else {
        phase = 'pass';
        summary = `split as expected so far: ${shares} (${bounds}), ${tail}`;
      }
      const verdict = out.verdict(next, phase, summary);
      if (next.mismatchLook !== undefined && opts.onMismatch === 'hold') verdict.hold = 'srm';
      return {
        state: next,
        verdict: withEffect(verdict, { estimate: finiteOrUndefined(estimate), lower, upper: finiteOrUndefined(upper) }),
      };
    },
  };
}

const definition = defineDetector({ type: SRM, anytimeValid: true, options: optionsSchema, methods: srmMethods });
/** Builds one SRM guard; exported for tests and direct use. */
export const createSrm = definition.create;
export const srm: DetectorFactory = definition.factory;
