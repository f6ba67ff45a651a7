import { z } from 'zod';
import type { DetectorFactory, DetectorLookResult, LookInput, Phase } from '../src/contracts/detector.js';
import { batchProblem } from './lib/batch-check.js';
import type { DetectorMethods, SequentialEvaluation, VerdictWriter } from './lib/detector-kit.js';
import { alphaProblem, defineDetector, sequentialPhase, verdictWriter, withEffect } from './lib/detector-kit.js';
import type { Stratum } from './lib/discrete-mixture.js';
import { formatBounds, formatCohortBurnIn, formatLooks, formatP, formatRatio, formatTolerance } from './lib/format.js';
import { alwaysValidPValue } from './lib/p-value.js';
import type { RateCore, RateTest } from './lib/rate-test.js';
import { rateTest } from './lib/rate-test.js';
import type { BetLedger, BinomialStratum } from './lib/robust-looks.js';
import { lookStrata, worstRoute } from './lib/route-strata.js';

/**
 * `error-rate-sequential`: is the canary's failed-request rate more than (1 + tolerance) x the baseline's?
 *
 * Method: discrete mixture of conditional-binomial likelihood ratios, STRATIFIED BY LOOK (STATISTICS.md,
 * "Error rate"). Per look j: rho_j = n_c/(n_c + n_b) from the realised request counts, m_j failures in all,
 * x_j in the canary; theta_j(r) = rho_j r/(rho_j r + 1 - rho_j). Grid r_k = r0 g_k, g_k log-spaced on
 * [1.02, 20] (K = `grid`, default 48), weights w_k ∝ exp(-(ln g_k)^2 / (2 priorScale^2)) (half-normal on
 * ln(r/r0), default scale 0.5), r0 = 1 + tolerance. LLR_k accumulates each look's log-likelihood ratio;
 * M_t = sum_k w_k exp(LLR_k) (log-sum-exp); `fail` when M_t >= 1/alpha at this look. Looks where a cohort
 * served no request or nothing failed add nothing. Zero canary failures give LLR_k <= 0, so they never alarm.
 * p_t = min(p_{t-1}, 1/M_t), clamped to [0, 1], from look 1 on (shown during burn-in too, said not used yet).
 *
 * Estimate: Mantel-Haenszel-type ratio sum_j x_j (1 - rho_j) / sum_j (m_j - x_j) rho_j.
 * Bounds: one-sided at level alpha EACH, by inverting the mixture over its null ratio (lower: the r' where the
 * test of H0: r <= r' stops rejecting; upper: the same for the mirrored mixture of H0: r >= r', alternatives
 * r'/g_k). So [lower, upper] is a 1 - 2 alpha confidence sequence; `fail` <=> lower >= r0 and
 * `pass` <=> upper < r0 (the mirrored test rejects "canary at least r0 x worse"), both decided on the
 * mixtures at r0 directly. Bounds are per look (not intersected over time), consistent with the phase.
 * An unbounded upper bound (baseline without failures) is left out of the verdict (JSON has no Infinity).
 *
 * Reference: Wald's SPRT conditioned on the failure total (the two-Poisson conditional binomial test),
 * mixed over alternatives as in Robbins' method of mixtures; Ville's inequality for the anytime guarantee
 * (Howard et al., Ann. Statist. 2021; Ramdas et al., "Game-theoretic statistics and safe anytime-valid
 * inference", Stat. Sci. 2023).
 * Assumptions: failed requests are independent given each look's split (count requests, never error events
 * or retries); given m_j, x_j is hypergeometric, less dispersed than the binomial assumed, so the test is
 * valid (conservative at high error rates). Drifting split, volume and error rate across looks are harmless.
 * Complexity per look: O(K) for the test; O(K x strata x ~22) for the bounds (Brent on both sides, bracketed
 * from the estimate): ~0.1 ms at look 1, ~2 ms at look 100, ~25 ms at look 1000 with a split that differs at
 * every look (K = 48; `npm run bench`).
 * State: O(K + strata): strata are (rho, m, x) per look with failures, looks with an identical rho merged
 * exactly (the LLR is linear in m and x for fixed rho); ~3 numbers per look, 180 looks in a 30-minute
 * analysis at 10 s looks. There is no cap: a 10,000-look analysis holds ~30,000 numbers and its bounds cost
 * grows linearly (see test/bench/detectors-per-look.ts).
 */

export const ERROR_RATE_SEQUENTIAL = 'error-rate-sequential';

const optionsSchema = z.strictObject({
  /** H0: canary rate <= (1 + tolerance) x baseline rate. */
  tolerance: z.number().min(0).default(0),
  /**
   * How looks are combined: `robust` (default) bets a bounded amount per look (lib/robust-looks.ts), so a
   * shock that hits one cohort for a look cannot decide alone; `independent` is the discrete mixture that
   * trusts every request to be independent (a strong regression can decide in one look; a pod-level burst can
   * roll back a healthy canary).
   */
  combine: z.enum(['robust', 'independent']).default('robust'),
  /** K, the number of grid points (alternatives). */
  grid: z.number().int().min(8).max(256).default(48),
  /** Scale of the half-normal prior on ln(r / r0). */
  priorScale: z.number().positive().max(10).default(0.5),
});

export type ErrorRateOptions = z.output<typeof optionsSchema>;

/** Plain JSON state. */
export interface ErrorRateState {
  /** Looks seen (including empty ones). */
  looks: number;
  canaryRequests: number;
  baselineRequests: number;
  canaryErrors: number;
  baselineErrors: number;
  /** Cumulative log-likelihood ratio of each grid alternative r0 g_k against r0. */
  llr: number[];
  /** Per-look strata (looks with failures; identical rho merged). `independent` only. */
  strata: Stratum[];
  pValue: number;
  /** `robust` only: the bets on the grid of null ratios. */
  ledger?: BetLedger;
  /** `robust` only: Mantel-Haenszel sums over (look, route) strata: sum x (1 - rho), sum (m - x) rho. */
  mh?: { num: number; den: number };
  /** `robust` only: per route, what was compared (and the canary failures beyond the null's expectation). */
  routes?: Record<string, RouteTally>;
}

/** One route's comparison so far (looks where both cohorts served it). */
export interface RouteTally {
  canaryRequests: number;
  canaryErrors: number;
  baselineRequests: number;
  baselineErrors: number;
  /** Mantel-Haenszel sums of the route. */
  num: number;
  den: number;
  /** Canary failures beyond what the null ratio r0 expects: sum x - m theta(r0). The worst route has the most. */
  excess: number;
  /** Requests of looks where only one cohort served the route (not compared). */
  canaryOnly: number;
  baselineOnly: number;
}

const EFFECT = 'error-rate ratio canary/baseline (failed requests / requests, stratified by look)';

function countsText(s: ErrorRateState): string {
  return `canary ${s.canaryErrors}/${s.canaryRequests} vs baseline ${s.baselineErrors}/${s.baselineRequests}`;
}

function summarize(
  phase: Phase,
  s: ErrorRateState,
  e: SequentialEvaluation,
  r0: number,
  minSamples: number,
  burnIn: boolean,
  lead = '',
): string {
  if (burnIn) {
    const samples = { canary: s.canaryRequests, baseline: s.baselineRequests };
    return `${formatCohortBurnIn(samples, minSamples, 'requests', s.looks, formatP(s.pValue))}; ${countsText(s)}`;
  }
  const tail = `${formatP(s.pValue)} ${formatLooks(s.looks)}; ${countsText(s)}`;
  const tol = r0 > 1 ? `, tolerance ${formatTolerance(r0 - 1)}` : '';
  if (!comparedFailures(s)) return `no failed requests in either cohort yet, ${tail}`;
  const est =
    e.estimate !== undefined ? `error rate ${formatRatio(e.estimate)}x baseline` : 'canary failing, baseline not';
  const side = phase === 'fail' ? 'lower' : phase === 'pass' ? 'upper' : 'both';
  return `${lead}${est} (${formatBounds(e.lower, e.upper, side)}${tol}), ${tail}`;
}

/** Whether a look where both cohorts served requests had failures (else nothing was compared yet). */
function comparedFailures(s: ErrorRateState): boolean {
  return s.strata.length > 0 || (s.mh !== undefined && s.mh.num + s.mh.den > 0);
}

/** The summary's lead naming the worst route ("POST /checkout: errors 4.1x; overall "), '' without one. */
function routeLead(worst: [string, RouteTally] | undefined): string {
  if (worst === undefined) return '';
  const [route, t] = worst;
  return `${route}: errors ${t.den > 0 ? `${formatRatio(t.num / t.den)}x` : 'canary only'}; overall `;
}

/** The compared route with the most excess canary failures (> 0), when more than one route was compared. */
function worstErrorRoute(s: ErrorRateState): [string, RouteTally] | undefined {
  return worstRoute(
    s.routes,
    (t) => t.canaryRequests > 0 && t.baselineRequests > 0,
    (t) => t.excess,
  );
}

function emptyTally(): RouteTally {
  return {
    canaryRequests: 0,
    canaryErrors: 0,
    baselineRequests: 0,
    baselineErrors: 0,
    num: 0,
    den: 0,
    excess: 0,
    canaryOnly: 0,
    baselineOnly: 0,
  };
}

/** `combine: robust`: one bounded bet per look over its route strata (lib/robust-looks.ts). */
/** The verdict builder of one error-rate metric (both combinations). */
function writerOf(name: string): VerdictWriter<ErrorRateState> {
  return verdictWriter<ErrorRateState>({ detector: ERROR_RATE_SEQUENTIAL, metric: name, effect: EFFECT }, (s) => ({
    baseline: s.baselineRequests,
    canary: s.canaryRequests,
  }));
}

/** The state before the first look: no counts, the given LLR row (independent) or ledger (robust). */
function initialState(llr: number[], robust?: Pick<ErrorRateState, 'ledger' | 'mh' | 'routes'>): ErrorRateState {
  return {
    looks: 0,
    canaryRequests: 0,
    baselineRequests: 0,
    canaryErrors: 0,
    baselineErrors: 0,
    llr,
    strata: [],
    pValue: 1,
    ...robust,
  };
}

/** Why the look cannot be used (alpha, counts), or undefined. */
function lookProblem(input: LookInput, alpha: number): string | undefined {
  return (
    alphaProblem(alpha) ??
    batchProblem('canary', input.batch.canary, 'counts') ??
    batchProblem('baseline', input.batch.baseline, 'counts')
  );
}

/** The test's part of the state. */
function coreOf(s: ErrorRateState): RateCore {
  return {
    llr: s.llr,
    strata: s.strata,
    ...(s.ledger === undefined ? {} : { ledger: s.ledger }),
    ...(s.mh === undefined ? {} : { mh: s.mh }),
  };
}

function robustMethods(
  name: string,
  test: RateTest,
  r0: number,
  burnInSamples: number,
): DetectorMethods<ErrorRateState> {
  const out = writerOf(name);
  return {
    init: () => initialState([], { ...test.init(), routes: {} }),
    look(state: ErrorRateState, input: LookInput, alpha: number): DetectorLookResult<ErrorRateState> {
      const problem = lookProblem(input, alpha);
      if (problem !== undefined) return { state, verdict: out.errorVerdict(state, problem) };
      const { canary, baseline } = input.batch;
      const look = lookStrata(input.batch);
      const routes = { ...state.routes };
      const tally = (route: string): RouteTally => {
        const t = { ...(routes[route] ?? emptyTally()) };
        routes[route] = t;
        return t;
      };
      const strata: BinomialStratum[] = [];
      for (const pair of look.compared) {
        const nc = pair.canary.requests;
        const nb = pair.baseline.requests;
        const x = pair.canary.errors;
        const m = x + pair.baseline.errors;
        const rho = nc / (nc + nb);
        if (m > 0) strata.push({ rho, failures: m, canaryFailures: x });
        if (pair.route === undefined) continue;
        const t = tally(pair.route);
        t.canaryRequests += nc;
        t.canaryErrors += x;
        t.baselineRequests += nb;
        t.baselineErrors += pair.baseline.errors;
        t.num += x * (1 - rho);
        t.den += (m - x) * rho;
        t.excess += x - m * ((rho * r0) / (rho * r0 + 1 - rho));
      }
      for (const [route, n] of Object.entries(look.canaryOnly)) tally(route).canaryOnly += n;
      for (const [route, n] of Object.entries(look.baselineOnly)) tally(route).baselineOnly += n;
      const core = test.add(coreOf(state), strata);
      const e = test.evaluate(core, alpha);
      const next: ErrorRateState = {
        looks: state.looks + 1,
        canaryRequests: state.canaryRequests + canary.requests,
        baselineRequests: state.baselineRequests + baseline.requests,
        canaryErrors: state.canaryErrors + canary.errors,
        baselineErrors: state.baselineErrors + baseline.errors,
        llr: state.llr,
        strata: state.strata,
        pValue: alwaysValidPValue(state.pValue, e.logM),
        ...(core.ledger === undefined ? {} : { ledger: core.ledger }),
        ...(core.mh === undefined ? {} : { mh: core.mh }),
        routes,
      };
      const burnIn = next.canaryRequests < burnInSamples || next.baselineRequests < burnInSamples;
      const phase = sequentialPhase(e, alpha, burnIn);
      // the route that regressed, named while the canary is failing or inconclusive (never on pass)
      const worst = phase === 'pass' ? undefined : worstErrorRoute(next);
      const verdict = out.verdict(next, phase, summarize(phase, next, e, r0, burnInSamples, burnIn, routeLead(worst)));
      if (worst !== undefined) verdict.route = worst[0];
      return { state: next, verdict: withEffect(verdict, e) };
    },
  };
}

function errorRateMethods(
  name: string,
  opts: ErrorRateOptions,
  burnInSamples: number,
): DetectorMethods<ErrorRateState> {
  const r0 = 1 + opts.tolerance;
  const test = rateTest(opts, r0);
  if (opts.combine === 'robust') return robustMethods(name, test, r0, burnInSamples);
  const out = writerOf(name);

  return {
    init: () => initialState(test.init().llr),
    look(state: ErrorRateState, input: LookInput, alpha: number): DetectorLookResult<ErrorRateState> {
      const problem = lookProblem(input, alpha);
      if (problem !== undefined) return { state, verdict: out.errorVerdict(state, problem) };
      const { canary, baseline } = input.batch;

      let core = coreOf(state);
      const m = canary.errors + baseline.errors;
      if (canary.requests > 0 && baseline.requests > 0 && m > 0) {
        const rho = canary.requests / (canary.requests + baseline.requests);
        core = test.add(core, [{ rho, failures: m, canaryFailures: canary.errors }]);
      }
      const e = test.evaluate(core, alpha);
      const next: ErrorRateState = {
        looks: state.looks + 1,
        canaryRequests: state.canaryRequests + canary.requests,
        baselineRequests: state.baselineRequests + baseline.requests,
        canaryErrors: state.canaryErrors + canary.errors,
        baselineErrors: state.baselineErrors + baseline.errors,
        llr: core.llr,
        strata: core.strata,
        pValue: alwaysValidPValue(state.pValue, e.logM),
      };

      const burnIn = next.canaryRequests < burnInSamples || next.baselineRequests < burnInSamples;
      const phase = sequentialPhase(e, alpha, burnIn);
      const verdict = out.verdict(next, phase, summarize(phase, next, e, r0, burnInSamples, burnIn));
      return { state: next, verdict: withEffect(verdict, e) };
    },
  };
}

const definition = defineDetector({
  type: ERROR_RATE_SEQUENTIAL,
  anytimeValid: true,
  options: optionsSchema,
  threshold: (o) => 1 + o.tolerance,
  methods: errorRateMethods,
});
/** Builds one error-rate detector; exported for tests and direct use. */
export const createErrorRateSequential = definition.create;
export const errorRateSequential: DetectorFactory = definition.factory;
