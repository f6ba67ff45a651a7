/**
 * Each analysis keeps its looks (at most MAX_LOOK_HISTORY, oldest dropped first) for the dashboard's plots and the
 * decision reports: per look, each cohort's requests and failures and each metric's p-value, alpha, estimate,
 * bounds and threshold. Pure; O(metrics) per look, O(MAX_LOOK_HISTORY x metrics) memory per analysis.
 */
import type { CohortPair, MetricVerdict, Outcome } from '../contracts/index.js';
import {
  MAX_LOOK_HISTORY,
  type Analysis,
  type LookMetricPoint,
  type LookPoint,
  type MetricSetup,
} from './analysis-types.js';

function metricPoint(v: MetricVerdict, setup: MetricSetup | undefined): LookMetricPoint {
  const p: LookMetricPoint = { metric: v.metric, phase: v.phase, pValue: v.pValue, alpha: v.alpha };
  if (v.estimate !== undefined) p.estimate = v.estimate;
  if (v.lower !== undefined) p.lower = v.lower;
  if (v.upper !== undefined) p.upper = v.upper;
  const threshold = setup?.detector.threshold;
  if (threshold !== undefined) p.threshold = threshold;
  if (v.shadow) p.shadow = true;
  return p;
}

/** Adds the look just run to the analysis's history. `decided`: the outcome it decided; `held`: the outcome it would
 *  have decided had the analysis not been paused. */
export function recordLook(
  a: Analysis,
  look: { atUnixMs: number; batch: CohortPair; metrics: readonly MetricSetup[] },
  outcome: { decided?: Outcome; held?: Outcome } = {},
): void {
  const { batch } = look;
  const point: LookPoint = {
    look: a.look,
    atUnixMs: look.atUnixMs,
    requests: { baseline: batch.baseline.requests, canary: batch.canary.requests },
    errors: { baseline: batch.baseline.errors, canary: batch.canary.errors },
    metrics: a.verdicts.map((v, i) => metricPoint(v, look.metrics[i])),
    ...(outcome.decided ? { decided: outcome.decided } : {}),
    ...(outcome.held ? { held: outcome.held } : {}),
  };
  const history = (a.history ??= []);
  history.push(point);
  if (history.length > MAX_LOOK_HISTORY) history.splice(0, history.length - MAX_LOOK_HISTORY);
}
