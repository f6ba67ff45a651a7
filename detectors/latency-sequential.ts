import { z } from 'zod';
import { histogramMetricOption, histogramReads } from './lib/options.js';
import type { DetectorFactory, DetectorLookResult, LookInput, Phase } from '../src/contracts/detector.js';
import { batchProblem } from './lib/batch-check.js';
import type { DetectorMethods, SequentialEvaluation, VerdictWriter } from './lib/detector-kit.js';
import { alphaProblem, defineDetector, sequentialPhase, verdictWriter, withEffect } from './lib/detector-kit.js';
import { formatBounds, formatCohortBurnIn, formatLooks, formatP, formatRatio, formatTolerance } from './lib/format.js';
import { howardTau2, normalMixtureLogM, normalMixtureRadius } from './lib/normal-mixture.js';
import { alwaysValidPValue } from './lib/p-value.js';
import type { BetLedger } from './lib/robust-looks.js';
import {
  BET_SCALES,
  addLook,
  emptyLedger,
  ledgerBounds,
  ledgerLogM,
  nullGrid,
  symmetricBet,
} from './lib/robust-looks.js';
import { lookStrata, worstRoute } from './lib/route-strata.js';

/**
 * `latency-sequential`: is the canary's (geometric-mean) latency more than (1 + tolerance) x the baseline's?
 *
 * Method: one-sided normal mixture on y = ln(duration ms), STRATIFIED BY LOOK (STATISTICS.md, "Latency").
 * Per look j with both cohorts present: w_j = n_c n_b / (n_c + n_b), delta_j = ybar_c - ybar_b.
 *   d  = sum w_j delta_j / sum w_j - ln(1 + tolerance)
 *   s2 = (v_c sum w_j^2/n_c,j + v_b sum w_j^2/n_b,j) / (sum w_j)^2,  v = pooled within-look variance
 *        sum SS_within / sum (n_j - 1) per cohort (every look with data; a cohort without degrees of freedom
 *        yet borrows the other's)
 *   log M = log 2 + 1/2 log(s2/(s2+tau2)) + tau2 d^2/(2 s2 (s2+tau2)) + log Phi(tau d / sqrt(s2 (s2+tau2)))
 * `fail` when log M >= log(1/alpha) at this look, after burn-in. p_t = min(p_{t-1}, 1/M_t) from look 1 on.
 * tau2 = V_plan (2 ln(1/a) + ln(1 + 2 ln(1/a))) / nOpt, a = 2 alpha (alpha of the look where it is fixed),
 * V_plan = `planningVariance` if given (tau2 fixed at look 1), else 2 x the pooled within-look variance of
 * both cohorts at the look where both first reach the burn-in (tau2 fixed then; p stays 1 before). tau2 is
 * fixed ONCE, kept in state, never re-estimated.
 *
 * Estimate and bounds (ratios canary/baseline = exp of log-unit values): estimate exp(d + ln(1+tol)); bounds
 * exp(d_raw -/+ r) with r the ONE-SIDED normal-mixture radius at level alpha EACH (same tau2, s2), so the pair
 * is a 1 - 2 alpha confidence sequence; `fail` <=> lower >= 1 + tolerance, `pass` <=> upper < 1 + tolerance
 * (the mirrored one-sided mixture rejects "canary at least (1 + tolerance) x slower"), decided on the mixtures.
 *
 * Reference: Howard, Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
 * sequences", Ann. Statist. 2021 (one-sided normal mixture, tau2 tuning); Johari et al., "Always valid
 * inference", Oper. Res. 2022 (mSPRT, its two-sided sibling).
 * Assumptions: within a look, log-latencies are independent with a finite variance, and the stratified
 * difference is approximately normal (CLT; burn-in 20-30 per cohort); the plug-in variance is consistent.
 * Heavy tails are tamed by the log; a tail regression needs `latency-quantile`.
 * Complexity: O(1) per look and O(1) state (nine numbers); the one-sided radius is ~10-50 O(1) evaluations.
 */

export const LATENCY_SEQUENTIAL = 'latency-sequential';

const optionsSchema = z.strictObject({
  /** H0: canary geometric-mean latency <= (1 + tolerance) x baseline. */
  tolerance: z.number().min(0).default(0),
  /** Per-cohort sample size at which power matters most (tunes tau2). */
  nOpt: z.number().int().min(2).default(500),
  /** Variance of one canary-minus-baseline pair of log-latencies (2 x var of ln duration); else from burn-in. */
  planningVariance: z.number().positive().optional(),
  /**
   * How looks are combined: `robust` (default) bets a bounded amount per look on its standardised difference
   * (lib/robust-looks.ts), so a look where one cohort was slow as a whole (a bad node) cannot decide alone;
   * `independent` is the normal mixture over every span (faster on strong regressions; a pod-level slowdown
   * can roll back a healthy canary).
   */
  combine: z.enum(['robust', 'independent']).default('robust'),
  /** An OTLP histogram by name instead of the request durations (lib/options.ts `histogramMetricOption`). */
  metric: histogramMetricOption,
});

export type LatencyOptions = z.output<typeof optionsSchema>;

/** Plain JSON state: O(1). */
export interface LatencyState {
  looks: number;
  canarySamples: number;
  baselineSamples: number;
  sumW: number;
  sumWDelta: number;
  sumW2OverNc: number;
  sumW2OverNb: number;
  ssCanary: number;
  dfCanary: number;
  ssBaseline: number;
  dfBaseline: number;
  /** V_plan used for tau2 (null until fixed). */
  planningVariance: number | null;
  /** Mixture variance, fixed once (null until fixed). */
  tau2: number | null;
  pValue: number;
  /** `robust` only: the bets on the grid of null ratios. */
  ledger?: BetLedger;
  /** `robust` only: per route, what was compared. */
  routes?: Record<string, LatencyRouteTally>;
}

/** One route's comparison so far (looks where both cohorts served it). */
export interface LatencyRouteTally {
  canarySamples: number;
  baselineSamples: number;
  sumW: number;
  sumWDelta: number;
  /** sum w (delta - ln r0): the route's weight toward harm; the worst route has the most. */
  excess: number;
}

/** Degrees of freedom from past looks before the robust bet uses only them for its variance (predictable). */
const PREDICTABLE_DF = 20;

/** The stratified statistic: d_raw (log-ratio, no tolerance) and its variance s2; undefined without data. */
export function latencyStatistic(s: LatencyState): { dRaw: number; s2: number } | undefined {
  const df = s.dfCanary + s.dfBaseline;
  if (s.sumW <= 0 || df <= 0) return undefined;
  const pooled = (s.ssCanary + s.ssBaseline) / df;
  const vc = s.dfCanary > 0 ? s.ssCanary / s.dfCanary : pooled;
  const vb = s.dfBaseline > 0 ? s.ssBaseline / s.dfBaseline : pooled;
  const s2 = (vc * s.sumW2OverNc + vb * s.sumW2OverNb) / (s.sumW * s.sumW);
  if (!(s2 > 0)) return undefined;
  return { dRaw: s.sumWDelta / s.sumW, s2 };
}

const EFFECT = 'latency ratio canary/baseline (geometric mean, stratified by look)';

function evaluate(s: LatencyState, logR0: number, alpha: number): SequentialEvaluation {
  const stat = latencyStatistic(s);
  if (stat === undefined || s.tau2 === null) return { logM: 0, passEvidence: 0 };
  const { dRaw, s2 } = stat;
  const r = normalMixtureRadius(s2, s.tau2, alpha, 'one-sided');
  return {
    logM: normalMixtureLogM(dRaw - logR0, s2, s.tau2, 'one-sided'),
    passEvidence: normalMixtureLogM(logR0 - dRaw, s2, s.tau2, 'one-sided'),
    estimate: Math.exp(dRaw),
    lower: Math.exp(dRaw - r),
    upper: Math.exp(dRaw + r),
  };
}

function summarize(
  phase: Phase,
  s: LatencyState,
  e: SequentialEvaluation,
  r0: number,
  minSamples: number,
  burnIn: boolean,
  lead = '',
): string {
  if (burnIn) {
    const samples = { canary: s.canarySamples, baseline: s.baselineSamples };
    return formatCohortBurnIn(samples, minSamples, 'spans', s.looks, formatP(s.pValue));
  }
  const tail = `${formatP(s.pValue)} ${formatLooks(s.looks)}; ${s.canarySamples} canary vs ${s.baselineSamples} baseline spans`;
  const tol = r0 > 1 ? `, tolerance ${formatTolerance(r0 - 1)}` : '';
  if (e.estimate === undefined || (s.ledger === undefined && (e.lower === undefined || e.upper === undefined)))
    return `latency not comparable yet (no look with both cohorts and spread), ${tail}`;
  const est = `latency ${formatRatio(e.estimate)}x baseline`;
  const side = phase === 'fail' ? 'lower' : phase === 'pass' ? 'upper' : 'both';
  return `${lead}${est} (${formatBounds(e.lower, e.upper, side)}${tol}), ${tail}`;
}

/** The compared route weighing most toward harm (largest sum w (delta - ln r0) > 0), when more than one was. */
function worstLatencyRoute(s: LatencyState): [string, LatencyRouteTally] | undefined {
  return worstRoute(
    s.routes,
    (t) => t.sumW > 0,
    (t) => t.excess,
  );
}

/** The summary's lead naming the worst route ("GET /search: latency 1.31x; overall "), '' without one. */
function routeLead(worst: [string, LatencyRouteTally] | undefined): string {
  if (worst === undefined) return '';
  return `${worst[0]}: latency ${formatRatio(Math.exp(worst[1].sumWDelta / worst[1].sumW))}x; overall `;
}

/** The verdict builder of one latency metric (both combinations). */
function writerOf(name: string): VerdictWriter<LatencyState> {
  return verdictWriter<LatencyState>({ detector: LATENCY_SEQUENTIAL, metric: name, effect: EFFECT }, (s) => ({
    baseline: s.baselineSamples,
    canary: s.canarySamples,
  }));
}

/** A copy of `state` that counts this look and its spans per cohort (the rest is each combination's own). */
function counted(state: LatencyState, input: LookInput): LatencyState {
  return {
    ...state,
    looks: state.looks + 1,
    canarySamples: state.canarySamples + input.batch.canary.logLatency.n,
    baselineSamples: state.baselineSamples + input.batch.baseline.logLatency.n,
  };
}

/** Why the look cannot be used (alpha below `below`, latency moments), or undefined. */
function lookProblem(input: LookInput, alpha: number, below: number): string | undefined {
  return (
    alphaProblem(alpha, below) ??
    batchProblem('canary', input.batch.canary, 'latency') ??
    batchProblem('baseline', input.batch.baseline, 'latency')
  );
}

/** `combine: robust`: one bounded bet per look on its route-stratified standardised difference. */
function robustMethods(name: string, opts: LatencyOptions, burnInSamples: number): DetectorMethods<LatencyState> {
  const out = writerOf(name);
  const r0 = 1 + opts.tolerance;
  const logR0 = Math.log1p(opts.tolerance);
  const grid = nullGrid(r0);
  const base = latencyMethods(name, { ...opts, combine: 'independent' }, burnInSamples);
  return {
    init(): LatencyState {
      return { ...base.init(), ledger: emptyLedger(grid), routes: {} };
    },
    look(state: LatencyState, input: LookInput, alpha: number): DetectorLookResult<LatencyState> {
      const problem = lookProblem(input, alpha, 1);
      if (problem !== undefined) return { state, verdict: out.errorVerdict(state, problem) };
      const s: LatencyState = { ...counted(state, input), routes: { ...state.routes } };
      // the look's variance: pooled within (look, route, cohort) from PAST looks once they have enough degrees
      // of freedom (predictable); before that, the past and this look (symmetric for normal log-latencies)
      const look = lookStrata(input.batch, (x) => x.logLatency.n);
      let ss = 0;
      let df = 0;
      for (const pair of look.compared) {
        for (const m of [pair.canary.logLatency, pair.baseline.logLatency]) {
          ss += Math.max(0, m.m2);
          df += m.n - 1;
        }
      }
      const pastDf = state.dfCanary + state.dfBaseline;
      const v =
        pastDf >= PREDICTABLE_DF
          ? (state.ssCanary + state.ssBaseline) / pastDf
          : pastDf + df > 0
            ? (state.ssCanary + state.ssBaseline + ss) / (pastDf + df)
            : 0;
      let sumW = 0;
      let sumWDelta = 0;
      for (const pair of look.compared) {
        const cm = pair.canary.logLatency;
        const bm = pair.baseline.logLatency;
        const w = (cm.n * bm.n) / (cm.n + bm.n);
        const delta = cm.mean - bm.mean;
        sumW += w;
        sumWDelta += w * delta;
        s.sumW += w;
        s.sumWDelta += w * delta;
        s.sumW2OverNc += (w * w) / cm.n;
        s.sumW2OverNb += (w * w) / bm.n;
        s.ssCanary += Math.max(0, cm.m2);
        s.dfCanary += cm.n - 1;
        s.ssBaseline += Math.max(0, bm.m2);
        s.dfBaseline += bm.n - 1;
        if (pair.route === undefined) continue;
        const t = {
          ...(s.routes![pair.route] ?? { canarySamples: 0, baselineSamples: 0, sumW: 0, sumWDelta: 0, excess: 0 }),
        };
        t.canarySamples += cm.n;
        t.baselineSamples += bm.n;
        t.sumW += w;
        t.sumWDelta += w * delta;
        t.excess += w * (delta - logR0);
        s.routes![pair.route] = t;
      }
      const sd = Math.sqrt(v * sumW);
      if (sumW > 0 && sd > 0) {
        s.ledger = addLook(state.ledger ?? emptyLedger(grid), grid, (logR, o) => {
          symmetricBet((sumWDelta - logR * sumW) / sd, BET_SCALES, o);
          return true;
        });
      }
      const ledger = s.ledger ?? emptyLedger(grid);
      const logM = ledgerLogM(ledger.worse, grid.atR0);
      const bounds = ledgerBounds(ledger, grid, alpha);
      const e: SequentialEvaluation = {
        logM,
        passEvidence: ledgerLogM(ledger.better, grid.atR0),
        ...(s.sumW > 0 ? { estimate: Math.exp(s.sumWDelta / s.sumW) } : {}),
        lower: bounds.lower,
        upper: bounds.upper,
      };
      s.pValue = alwaysValidPValue(state.pValue, logM);
      const burnIn = s.canarySamples < burnInSamples || s.baselineSamples < burnInSamples;
      const phase = sequentialPhase(e, alpha, burnIn);
      // the route that regressed, named while the canary is failing or inconclusive (never on pass)
      const worst = phase === 'pass' ? undefined : worstLatencyRoute(s);
      const verdict = out.verdict(s, phase, summarize(phase, s, e, r0, burnInSamples, burnIn, routeLead(worst)));
      if (worst !== undefined) verdict.route = worst[0];
      return { state: s, verdict: withEffect(verdict, e) };
    },
  };
}

function latencyMethods(name: string, opts: LatencyOptions, burnInSamples: number): DetectorMethods<LatencyState> {
  if (opts.combine === 'robust') return robustMethods(name, opts, burnInSamples);
  const out = writerOf(name);
  const r0 = 1 + opts.tolerance;
  const logR0 = Math.log1p(opts.tolerance);

  return {
    init(): LatencyState {
      return {
        looks: 0,
        canarySamples: 0,
        baselineSamples: 0,
        sumW: 0,
        sumWDelta: 0,
        sumW2OverNc: 0,
        sumW2OverNb: 0,
        ssCanary: 0,
        dfCanary: 0,
        ssBaseline: 0,
        dfBaseline: 0,
        planningVariance: null,
        tau2: null,
        pValue: 1,
      };
    },
    look(state: LatencyState, input: LookInput, alpha: number): DetectorLookResult<LatencyState> {
      // tau2 is tuned at level 2 alpha, which must stay below 1
      const problem = lookProblem(input, alpha, 0.5);
      if (problem !== undefined) return { state, verdict: out.errorVerdict(state, problem) };
      const c = input.batch.canary.logLatency;
      const b = input.batch.baseline.logLatency;
      const s = counted(state, input);
      if (c.n > 0) {
        s.ssCanary += Math.max(0, c.m2);
        s.dfCanary += c.n - 1;
      }
      if (b.n > 0) {
        s.ssBaseline += Math.max(0, b.m2);
        s.dfBaseline += b.n - 1;
      }
      if (c.n > 0 && b.n > 0) {
        const w = (c.n * b.n) / (c.n + b.n);
        s.sumW += w;
        s.sumWDelta += w * (c.mean - b.mean);
        s.sumW2OverNc += (w * w) / c.n;
        s.sumW2OverNb += (w * w) / b.n;
      }
      const burnIn = s.canarySamples < burnInSamples || s.baselineSamples < burnInSamples;
      if (s.tau2 === null) {
        const df = s.dfCanary + s.dfBaseline;
        const vPlan = opts.planningVariance ?? (!burnIn && df > 0 ? (2 * (s.ssCanary + s.ssBaseline)) / df : 0);
        if (vPlan > 0) {
          s.planningVariance = vPlan;
          s.tau2 = howardTau2(vPlan, opts.nOpt, 2 * alpha);
        }
      }
      const e = evaluate(s, logR0, alpha);
      s.pValue = alwaysValidPValue(state.pValue, e.logM);

      const phase = sequentialPhase(e, alpha, burnIn);
      const verdict = out.verdict(s, phase, summarize(phase, s, e, r0, burnInSamples, burnIn));
      return { state: s, verdict: withEffect(verdict, e) };
    },
  };
}

const definition = defineDetector({
  type: LATENCY_SEQUENTIAL,
  anytimeValid: true,
  options: optionsSchema,
  threshold: (o) => 1 + o.tolerance,
  reads: histogramReads,
  methods: latencyMethods,
});
/** Builds one latency detector; exported for tests and direct use. */
export const createLatencySequential = definition.create;
export const latencySequential: DetectorFactory = definition.factory;
