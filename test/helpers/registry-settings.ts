/**
 * AnalysisRegistry settings for the registry's unit tests: 10 s looks, no lateness, one clock per service (a look
 * closes on any cohort's progress; the per-cohort clocks are event-clock.test.ts's), 10 min maxDuration, 2 min
 * silence timeout, alpha 0.05, no plan, acting, 3 rollbacks an hour; `over` on top.
 */
import type { AnalysisSettings, MetricSetup } from '../../src/analysis/analysis-registry.js';
import type { Detector } from '../../src/contracts/index.js';

export function registrySettings(metrics: MetricSetup[], over: Partial<AnalysisSettings> = {}): AnalysisSettings {
  return {
    intervalMs: 10_000,
    allowedLatenessMs: 0,
    sourceIdleTimeoutMs: 0,
    maxDurationMs: 600_000,
    silenceTimeoutMs: 120_000,
    alpha: 0.05,
    metrics,
    planFor: () => [],
    dryRun: false,
    configHash: 'h',
    maxRollbacks: 3,
    stormWindowMs: 3_600_000,
    ...over,
  };
}

/** One acting metric `errors` with this detector, weight 1. */
export const oneMetric = (detector: Detector): MetricSetup[] => [
  { name: 'errors', shadow: false, weight: 1, detector },
];
