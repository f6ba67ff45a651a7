import { commonLanguageEffectSize, mannWhitneyU, shiftInterval } from './mann-whitney.js';
import type { Alternative } from './mann-whitney.js';

/**
 * Kayenta's NetflixACAJudge, metric classifier and score, as pure functions (Spinnaker Kayenta,
 * kayenta-judge: MannWhitneyClassifier, WeightedSumScorer, ThresholdScoreClassifier).
 *
 * Classifier, per metric (control = baseline values, experiment = canary values, one value per interval):
 * 1. either sample empty -> NoData; the sorted samples equal -> Pass; one distinct value in all -> Pass;
 * 2. the Mann-Whitney shift interval (canary - baseline) at `confidenceLevel` (0.98) and its estimate
 *    (lib/mann-whitney.ts, R's algorithm); bound = tolerance (0.25) x |estimate|;
 * 3. High when direction allows increases, interval lower end > bound and effect size >= allowedIncrease;
 *    else Low when direction allows decreases, interval upper end < -bound and effect size <=
 *    allowedDecrease; else Pass. Effect size: meanRatio = mean(canary) / mean(baseline), or cles =
 *    P(canary > baseline) + ties / 2. `critical` is set when a critical metric is High (Low) with effect size
 *    >= criticalIncrease (<= criticalDecrease).
 * Kayenta's optional outlier removal (IQR) and NaN handling are left to the caller: pass finite values.
 *
 * Scorer: per group, score = 100 x Pass / (Pass + High + Low) (NoData not counted; a group of only NoData
 * has no score and its weight is lost, as in Kayenta); groups without a configured weight share
 * 100 - sum(weights) equally; summary = sum score x weight / 100, rounded to 2 decimals (half up). Any
 * critical failure (a `critical` classification, or NoData of a critical metric that must have data) sets
 * the score to 0 with reason "critical failure". Classification: score >= pass -> Pass, >= marginal ->
 * Marginal, else Fail.
 *
 * NOT anytime-valid: the 98% interval is a fixed-horizon interval; re-judged at every interval its false
 * alarms accumulate with the number of looks. Complexity: classify O(n log n + n x ~100), score O(metrics).
 */

export type KayentaLabel = 'High' | 'Low' | 'Pass' | 'NoData';
export type KayentaDirection = 'increase' | 'decrease' | 'either';
export type KayentaEffectMeasure = 'meanRatio' | 'cles';

export interface KayentaClassifierConfig {
  direction: KayentaDirection;
  effectMeasure: KayentaEffectMeasure;
  /** Effect size a High needs at least (default 1 for meanRatio, 0.5 for cles). */
  allowedIncrease: number;
  /** Effect size a Low needs at most (default 1 for meanRatio, 0.5 for cles). */
  allowedDecrease: number;
  /** Critical thresholds (default: the allowed ones). */
  criticalIncrease: number;
  criticalDecrease: number;
  /** The metric is critical: a failure of it fails the whole canary. */
  critical: boolean;
  /** Fraction of |estimate| a shift must clear (Kayenta: 0.25). */
  tolerance: number;
  /** Two-sided level of the shift interval (Kayenta: 0.98). */
  confidenceLevel: number;
}

/** Kayenta's defaults (NetflixACAJudge) for a metric, with `over` applied. */
export function kayentaClassifierConfig(over: Partial<KayentaClassifierConfig> = {}): KayentaClassifierConfig {
  const effectMeasure = over.effectMeasure ?? 'meanRatio';
  const neutral = effectMeasure === 'cles' ? 0.5 : 1;
  const allowedIncrease = over.allowedIncrease ?? neutral;
  const allowedDecrease = over.allowedDecrease ?? neutral;
  return {
    direction: over.direction ?? 'either',
    effectMeasure,
    allowedIncrease,
    allowedDecrease,
    criticalIncrease: over.criticalIncrease ?? allowedIncrease,
    criticalDecrease: over.criticalDecrease ?? allowedDecrease,
    critical: over.critical ?? false,
    tolerance: over.tolerance ?? 0.25,
    confidenceLevel: over.confidenceLevel ?? 0.98,
  };
}

export interface KayentaMetricClassification {
  label: KayentaLabel;
  critical: boolean;
  /** Why, when Kayenta gives a reason (identical data, no data). */
  reason?: string;
  /** Shift interval and estimate (canary - baseline); absent when the test was not run. */
  ciLow?: number;
  ciHigh?: number;
  estimate?: number;
  /** tolerance x |estimate|. */
  bound?: number;
  meanRatio?: number;
  effectSize?: number;
}

function mean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

function sameSorted(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  return sa.every((v, i) => v === sb[i]);
}

/** Kayenta's MannWhitneyClassifier.classify for one metric (see the file comment). */
export function classifyKayentaMetric(
  baseline: readonly number[],
  canary: readonly number[],
  config: KayentaClassifierConfig,
): KayentaMetricClassification {
  if (canary.length === 0 || baseline.length === 0)
    return { label: 'NoData', critical: false, reason: 'missing data for the canary or the baseline' };
  if (sameSorted(canary, baseline))
    return { label: 'Pass', critical: false, reason: 'the canary and baseline data are identical' };
  if (new Set([...canary, ...baseline]).size === 1) return { label: 'Pass', critical: false };

  const { lower, upper, estimate } = shiftInterval(canary, baseline, config.confidenceLevel);
  const bound = config.tolerance * Math.abs(estimate);
  const meanRatio = mean(canary) / mean(baseline);
  const effectSize = config.effectMeasure === 'cles' ? commonLanguageEffectSize(canary, baseline) : meanRatio;
  const up = config.direction !== 'decrease';
  const down = config.direction !== 'increase';
  let label: KayentaLabel = 'Pass';
  let critical = false;
  if (up && lower > bound && effectSize >= config.allowedIncrease) {
    label = 'High';
    critical = config.critical && effectSize >= config.criticalIncrease;
  } else if (down && upper < -bound && effectSize <= config.allowedDecrease) {
    label = 'Low';
    critical = config.critical && effectSize <= config.criticalDecrease;
  }
  return { label, critical, ciLow: lower, ciHigh: upper, estimate, bound, meanRatio, effectSize };
}

/** The one-sided (two-sided for `either`) fixed-horizon Mann-Whitney p of canary vs baseline for `direction`. */
export function kayentaPValue(
  baseline: readonly number[],
  canary: readonly number[],
  direction: KayentaDirection,
): number {
  const alternative: Alternative =
    direction === 'increase' ? 'greater' : direction === 'decrease' ? 'less' : 'two-sided';
  return mannWhitneyU(canary, baseline, alternative).pValue;
}

export interface KayentaMetricResult {
  name: string;
  groups: readonly string[];
  label: KayentaLabel;
  /** From the classification: a critical metric failed beyond its critical threshold. */
  critical: boolean;
  /** A critical metric that must have data: NoData is a critical failure. */
  criticalNoData?: boolean;
  /** Kayenta's "report-only" metrics are classified but not scored. */
  reportOnly?: boolean;
}

export interface KayentaScoreThresholds {
  pass: number;
  marginal: number;
}

export interface KayentaScore {
  groupScores: Record<string, number>;
  /** Groups whose metrics all had NoData (no score, weight not redistributed). */
  noDataGroups: string[];
  score: number;
  classification: 'Pass' | 'Marginal' | 'Fail';
  reason: string | null;
}

function round2(x: number): number {
  return Math.round(x * 100 + 1e-9 * Math.sign(x)) / 100;
}

/** Kayenta's WeightedSumScorer + ThresholdScoreClassifier (see the file comment). `groupWeights` in percent. */
export function scoreKayentaCanary(
  results: readonly KayentaMetricResult[],
  groupWeights: Readonly<Record<string, number>>,
  thresholds: KayentaScoreThresholds,
): KayentaScore {
  const counts = new Map<string, { pass: number; total: number }>();
  for (const r of results) {
    if (r.reportOnly === true) continue;
    for (const g of r.groups) {
      const c = counts.get(g) ?? { pass: 0, total: 0 };
      if (r.label !== 'NoData') c.total += 1;
      if (r.label === 'Pass') c.pass += 1;
      counts.set(g, c);
    }
  }
  const groupScores: Record<string, number> = {};
  const noDataGroups: string[] = [];
  for (const [g, c] of counts) {
    if (c.total === 0) noDataGroups.push(g);
    else groupScores[g] = (100 * c.pass) / c.total;
  }
  const weighted = Object.values(groupWeights).reduce((s, w) => s + w, 0);
  const unweighted = [...counts.keys()].filter((g) => !Object.hasOwn(groupWeights, g));
  const shared = unweighted.length > 0 ? (100 - weighted) / unweighted.length : 0;
  let summary = 0;
  for (const [g, score] of Object.entries(groupScores))
    summary += (score * (Object.hasOwn(groupWeights, g) ? (groupWeights[g] as number) : shared)) / 100;

  const criticalFailure = results.some((r) => r.critical || (r.criticalNoData === true && r.label === 'NoData'));
  const score = criticalFailure ? 0 : round2(summary);
  const classification = criticalFailure
    ? 'Fail'
    : score >= thresholds.pass
      ? 'Pass'
      : score >= thresholds.marginal
        ? 'Marginal'
        : 'Fail';
  return { groupScores, noDataGroups, score, classification, reason: criticalFailure ? 'critical failure' : null };
}
