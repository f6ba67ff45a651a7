/**
 * Counts backtest runs into rates with intervals and look distributions, per service, scenario and metric.
 * Intervals are Wilson score 95% intervals (good coverage down to a handful of events, unlike the
 * normal approximation); look quantiles are nearest-rank over the runs that alarmed.
 */
import type { AnalysisRun, RunOutcome } from './run-trial.js';

export interface Rate {
  count: number;
  n: number;
  rate: number;
  /** Wilson score 95% interval. */
  lower: number;
  upper: number;
}

export interface LookStats {
  median: number;
  p95: number;
  /** The same in event time (looks x interval), ms. */
  medianMs: number;
  p95Ms: number;
}

const Z95 = 1.959963984540054;

export function wilson(count: number, n: number, z = Z95): Rate {
  if (n === 0) return { count, n, rate: 0, lower: 0, upper: 1 };
  const p = count / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return {
    count,
    n,
    rate: p,
    lower: count === 0 ? 0 : Math.max(0, centre - half),
    upper: count === n ? 1 : Math.min(1, centre + half),
  };
}

/** Nearest-rank quantile of a sorted array. */
export function nearestRank(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function lookStats(looks: readonly number[], intervalMs: number): LookStats | null {
  if (looks.length === 0) return null;
  const sorted = [...looks].sort((a, b) => a - b);
  const median = nearestRank(sorted, 0.5);
  const p95 = nearestRank(sorted, 0.95);
  return { median, p95, medianMs: median * intervalMs, p95Ms: p95 * intervalMs };
}

/** Accumulates runs of one (service, scenario). */
export class Tally {
  analyses = 0;
  readonly outcomes: Record<RunOutcome, number> = {
    rollback: 0,
    'promote-pass': 0,
    'promote-max': 0,
    abandoned: 0,
    undecided: 0,
  };
  readonly rollbackLooks: number[] = [];
  readonly metricLooks: number[][];

  constructor(metricCount: number) {
    this.metricLooks = Array.from({ length: metricCount }, () => []);
  }

  add(run: AnalysisRun): void {
    this.analyses++;
    this.outcomes[run.outcome]++;
    if (run.outcome === 'rollback') this.rollbackLooks.push(run.look);
    run.firstFail.forEach((look, m) => {
      if (look > 0) this.metricLooks[m]!.push(look);
    });
  }
}
