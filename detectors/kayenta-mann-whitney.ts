import { z } from 'zod';
import type { DetectorFactory, DetectorLookResult, LookInput, Phase } from '../src/contracts/detector.js';
import type { CohortBatch } from '../src/contracts/evidence.js';
import { batchProblem } from './lib/batch-check.js';
import type { DetectorMethods } from './lib/detector-kit.js';
import { alphaProblem, defineDetector, finiteOrUndefined, verdictWriter, withEffect } from './lib/detector-kit.js';
import { formatBurnIn, formatLooks, formatP, formatRatio } from './lib/format.js';
import type { KayentaClassifierConfig, KayentaLabel, KayentaMetricClassification } from './lib/kayenta-judge.js';
import { classifyKayentaMetric, kayentaClassifierConfig, kayentaPValue } from './lib/kayenta-judge.js';

/**
 * `kayenta-mann-whitney`: Kayenta's NetflixACAJudge metric classification, for teams migrating from
 * Spinnaker. COMPATIBILITY ONLY, NOT ANYTIME-VALID, never a default.
 *
 * Method: like Kayenta, on per-interval values. Each look contributes one value per cohort (option `measure`:
 * `error-rate` = failed requests / requests of that look; `latency-mean` = that look's geometric-mean latency
 * exp(mean ln ms), the exact per-look statistic Vigil keeps). A cohort without requests (latency samples) in a
 * look contributes nothing for that look (Kayenta drops NaNs). At every look the classifier of
 * lib/kayenta-judge.ts runs on ALL values so far (canary vs baseline), as Kayenta re-judges at every interval:
 * Mann-Whitney shift interval at 98% (R's wilcox.test conf.int algorithm), bound 25% of |estimate|, effect
 * gates `allowedIncrease` / `allowedDecrease` on meanRatio or cles, labels High / Low / Pass / NoData.
 * Phase: `inconclusive` during burn-in (fewer than `minLooks` values or `minSamples` requests in a cohort)
 * and on NoData; `fail` on the label the direction forbids (High for `increase`, Low for `decrease`, either
 * for `either`); `pass` otherwise.
 * pValue: the fixed-horizon Mann-Whitney p of THIS look (one-sided for increase / decrease, two-sided for
 * either; normal approximation with tie and continuity corrections) is shown in the summary; the verdict's
 * `pValue` is its minimum over looks, which makes it non-increasing as the contract requires but does NOT
 * make it always valid: the minimum of fixed-horizon p-values over many looks is NOT a p-value, and the
 * judge's false alarms grow with the number of looks (STATISTICS.md: 30-40% over 100 looks for a peeked
 * fixed-horizon test). Every summary says so (KAYENTA_NOT_VALID), and every verdict is marked
 * `anytimeValid: false` (the factory declares it): config loading refuses it as an ACTING metric unless the metric
 * says `acknowledgeNotAnytimeValid: true` (src/config/load.ts). The engine's alpha share is not used: Kayenta's own
 * interval level (`confidenceLevel`, 0.98) decides.
 * Estimate: mean ratio canary/baseline of the per-look values (omitted when not finite); no bounds (the
 * interval is fixed-horizon and in difference units; it is in the summary).
 *
 * Reference: Spinnaker Kayenta, NetflixACAJudge / MannWhitneyClassifier; R stats::wilcox.test.
 * Assumptions: per-interval values independent between intervals (Kayenta's own assumption).
 * Complexity: per look O(n log n + n x ~100) for n looks so far (one sort, three root searches of O(n) merges);
 * state O(n): two arrays of per-look values.
 */

export const KAYENTA_MANN_WHITNEY = 'kayenta-mann-whitney';

/** Said by EVERY summary of this detector, burn-in and error verdicts included. */
export const KAYENTA_NOT_VALID =
  'Kayenta compatibility: not anytime-valid, false alarms grow with the number of looks, and its p-value (the minimum of fixed-horizon p-values over looks) is not an always-valid p-value';

const optionsSchema = z.strictObject({
  /** What one value per cohort per look is. */
  measure: z.enum(['error-rate', 'latency-mean']).default('error-rate'),
  /** Which label fails the canary: High (increase), Low (decrease) or both (either). */
  direction: z.enum(['increase', 'decrease', 'either']).default('increase'),
  effectMeasure: z.enum(['meanRatio', 'cles']).default('meanRatio'),
  /** Effect size a High needs (default 1 for meanRatio, 0.5 for cles). */
  allowedIncrease: z.number().positive().optional(),
  /** Effect size a Low needs at most (default 1 for meanRatio, 0.5 for cles). */
  allowedDecrease: z.number().positive().optional(),
  /** Fraction of |Hodges-Lehmann estimate| the interval must clear (Kayenta: 0.25). */
  tolerance: z.number().min(0).default(0.25),
  /** Two-sided level of the Mann-Whitney interval (Kayenta: 0.98). */
  confidenceLevel: z.number().gt(0.5).lt(1).default(0.98),
  /** Per-look values each cohort needs before a verdict other than inconclusive. */
  minLooks: z.number().int().min(2).max(1000).default(3),
});

export type KayentaOptions = z.output<typeof optionsSchema>;

/** Plain JSON state: O(looks). */
export interface KayentaState {
  looks: number;
  canaryValues: number[];
  baselineValues: number[];
  canarySamples: number;
  baselineSamples: number;
  /** Minimum over looks of the fixed-horizon Mann-Whitney p (NOT an always-valid p-value). */
  pValue: number;
}

function lookValue(b: CohortBatch, measure: KayentaOptions['measure']): number | undefined {
  if (measure === 'error-rate') return b.requests > 0 ? b.errors / b.requests : undefined;
  return b.logLatency.n > 0 ? Math.exp(b.logLatency.mean) : undefined;
}

function samplesOf(b: CohortBatch, measure: KayentaOptions['measure']): number {
  return measure === 'error-rate' ? b.requests : b.logLatency.n;
}

/** 3 significant digits, trailing zeros dropped; signed when asked. */
function num(x: number, signed = false): string {
  if (!Number.isFinite(x)) return x > 0 ? '∞' : x < 0 ? '-∞' : 'n/a';
  const s = Number(x.toPrecision(3)).toString();
  return signed && x > 0 ? `+${s}` : s;
}

function failing(label: KayentaLabel, direction: KayentaOptions['direction']): boolean {
  if (label === 'High') return direction !== 'decrease';
  if (label === 'Low') return direction !== 'increase';
  return false;
}

function describe(c: KayentaMetricClassification, s: KayentaState, opts: KayentaOptions): string {
  const what = opts.measure === 'error-rate' ? 'error rate' : 'latency (ms, geometric mean)';
  const mc = s.canaryValues.reduce((a, v) => a + v, 0) / s.canaryValues.length;
  const mb = s.baselineValues.reduce((a, v) => a + v, 0) / s.baselineValues.length;
  const head = `per-look ${what} canary ${num(mc)} vs baseline ${num(mb)}`;
  if (c.estimate === undefined || c.ciLow === undefined || c.ciHigh === undefined || c.bound === undefined) {
    return `${head}${c.reason !== undefined ? ` (${c.reason})` : ''}`;
  }
  const level = `${Number((100 * opts.confidenceLevel).toPrecision(4))}%`;
  const ratio =
    c.meanRatio !== undefined && Number.isFinite(c.meanRatio)
      ? `mean ratio ${formatRatio(c.meanRatio)}`
      : 'mean ratio undefined (baseline mean 0)';
  const effect =
    opts.effectMeasure === 'cles' && c.effectSize !== undefined && Number.isFinite(c.effectSize)
      ? `, cles ${num(c.effectSize)}`
      : '';
  return `${head} (${ratio}${effect}), shift ${num(c.estimate, true)} (${level} interval ${num(c.ciLow, true)} to ${num(c.ciHigh, true)}, bound ±${num(c.bound)})`;
}

const verdictSamples = (s: KayentaState): { baseline: number; canary: number } => ({
  baseline: s.baselineSamples,
  canary: s.canarySamples,
});

function kayentaMethods(name: string, opts: KayentaOptions, burnInSamples: number): DetectorMethods<KayentaState> {
  const over: Partial<KayentaClassifierConfig> = {
    direction: opts.direction,
    effectMeasure: opts.effectMeasure,
    tolerance: opts.tolerance,
    confidenceLevel: opts.confidenceLevel,
  };
  if (opts.allowedIncrease !== undefined) over.allowedIncrease = opts.allowedIncrease;
  if (opts.allowedDecrease !== undefined) over.allowedDecrease = opts.allowedDecrease;
  const config = kayentaClassifierConfig(over);
  const effect = `mean ratio canary/baseline of per-look ${opts.measure === 'error-rate' ? 'error rates' : 'geometric-mean latencies'} (Kayenta, not anytime-valid)`;
  const out = verdictWriter({ detector: KAYENTA_MANN_WHITNEY, metric: name, effect }, verdictSamples);
  // error verdicts carry no effect
  const unusable = verdictWriter({ detector: KAYENTA_MANN_WHITNEY, metric: name }, verdictSamples);

  return {
    init(): KayentaState {
      return { looks: 0, canaryValues: [], baselineValues: [], canarySamples: 0, baselineSamples: 0, pValue: 1 };
    },
    look(state: KayentaState, input: LookInput, alpha: number): DetectorLookResult<KayentaState> {
      const what = opts.measure === 'error-rate' ? 'counts' : 'latency';
      const problem =
        alphaProblem(alpha) ??
        batchProblem('canary', input.batch.canary, what) ??
        batchProblem('baseline', input.batch.baseline, what);
      if (problem !== undefined)
        return { state, verdict: unusable.errorVerdict(state, `${problem}. ${KAYENTA_NOT_VALID}`) };
      const { canary, baseline } = input.batch;

      const vc = lookValue(canary, opts.measure);
      const vb = lookValue(baseline, opts.measure);
      const partial: KayentaState = {
        looks: state.looks + 1,
        canaryValues: vc === undefined ? state.canaryValues : [...state.canaryValues, vc],
        baselineValues: vb === undefined ? state.baselineValues : [...state.baselineValues, vb],
        canarySamples: state.canarySamples + samplesOf(canary, opts.measure),
        baselineSamples: state.baselineSamples + samplesOf(baseline, opts.measure),
        pValue: state.pValue,
      };
      const pLook = kayentaPValue(partial.baselineValues, partial.canaryValues, opts.direction);
      const next: KayentaState = {
        ...partial,
        pValue: Number.isFinite(pLook) ? Math.min(state.pValue, pLook) : state.pValue,
      };
      const pText = `fixed-horizon Mann-Whitney ${Number.isFinite(pLook) ? formatP(pLook) : 'no p-value'} this look (min ${formatP(next.pValue)})`;

      const nc = next.canaryValues.length;
      const nb = next.baselineValues.length;
      const burnIn =
        nc < opts.minLooks ||
        nb < opts.minLooks ||
        next.canarySamples < burnInSamples ||
        next.baselineSamples < burnInSamples;
      if (burnIn) {
        const seen = `${nc}/${opts.minLooks} canary and ${nb}/${opts.minLooks} baseline looks with data, ${next.canarySamples}/${burnInSamples} canary and ${next.baselineSamples}/${burnInSamples} baseline samples`;
        const until = `both reach ${opts.minLooks} looks with data and ${burnInSamples} samples`;
        const summary = `${formatBurnIn(seen, next.looks, pText, until)}. ${KAYENTA_NOT_VALID}`;
        return { state: next, verdict: out.verdict(next, 'inconclusive', summary) };
      }

      const c = classifyKayentaMetric(next.baselineValues, next.canaryValues, config);
      let phase: Phase = 'pass';
      if (c.label === 'NoData') phase = 'inconclusive';
      else if (failing(c.label, opts.direction)) phase = 'fail';
      const summary = `Kayenta ${c.label}: ${describe(c, next, opts)}, ${pText} ${formatLooks(next.looks)}. ${KAYENTA_NOT_VALID}`;
      return {
        state: next,
        verdict: withEffect(out.verdict(next, phase, summary), { estimate: finiteOrUndefined(c.meanRatio) }),
      };
    },
  };
}

const definition = defineDetector({
  type: KAYENTA_MANN_WHITNEY,
  anytimeValid: false,
  options: optionsSchema,
  // the mean ratio above which a High is possible (the estimate is the mean ratio)
  threshold: (o) =>
    o.effectMeasure === 'meanRatio' && o.direction !== 'decrease' ? (o.allowedIncrease ?? 1) : undefined,
  methods: kayentaMethods,
});
/** Builds one Kayenta-compatible detector; exported for tests and direct use. */
export const createKayentaMannWhitney = definition.create;
export const kayentaMannWhitney: DetectorFactory = definition.factory;
