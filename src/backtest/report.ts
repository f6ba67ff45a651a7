/** The backtest report: what `--format json` prints, and what the text table and the advice are made from. */
import type { DecodeStats } from './decode-recording.js';
import type { RunOutcome } from './run-trial.js';
import type { Injection } from './scenarios.js';
import type { ServicePlan } from './service-plans.js';
import type { LookStats, Rate } from './tally.js';

export interface MetricInfo {
  metric: string;
  detector: string;
  shadow: boolean;
  /** Its share of alpha (Bonferroni). */
  alpha: number;
}

export interface MetricRow extends MetricInfo {
  /** Analyses in which this metric's verdict reached `fail` (for an acting metric: it caused the rollback). */
  alarms: Rate;
  looksToAlarm: LookStats | null;
}

export interface ScenarioReport {
  id: string;
  label: string;
  injection?: Injection;
  /** Why the numbers do not mean what the label says (e.g. nothing to inject). */
  note?: string;
  analyses: number;
  outcomes: Record<RunOutcome, number>;
  rollbacks: Rate;
  looksToRollback: LookStats | null;
  metrics: MetricRow[];
}

export interface TrafficReport {
  source: ServicePlan['source'];
  requests: number;
  recordedMs: number;
  coveredMs: number;
  analysesPerTrial: number;
  canaryShare: number;
  canaryShareSource: ServicePlan['shareSource'];
  perLook: { canary: number; baseline: number };
  baselineErrorRate: number;
  medianMs: number;
  p95Ms: number;
  requestsPerTrace: number;
}

export interface ServiceReport {
  service: string;
  traffic: TrafficReport;
  scenarios: ScenarioReport[];
  recommendations: string[];
}

export interface BacktestReport {
  type: 'backtest';
  config: {
    file: string;
    hash: string;
    alpha: number;
    intervalMs: number;
    minSamples: number;
    maxDurationMs: number;
    metrics: MetricInfo[];
  };
  options: { trials: number; seed: number; inject: string[]; canaryShare: number | 'auto'; services: string[] };
  input: DecodeStats;
  /** Pipelines run: trials x scenarios (each over every service at once). */
  pipelines: number;
  services: ServiceReport[];
  skipped: { service: string; reason: string }[];
}
