/**
 * The analysis pipeline of a config, without servers, queues, audit log or connectors: the detectors it
 * configures and the AnalysisRegistry settings, built exactly as `createAgent` (src/main.ts) builds them, so
 * a backtest measures the config the agent would run. Actions are off (dry-run, empty plans).
 */
import type { AnalysisSettings, MetricSetup } from '../analysis/analysis-registry.js';
import type { LoadedConfig, Registries } from '../config/load.js';
import { splitAlpha } from '../decide/engine.js';
import { VigilError } from '../errors.js';

/** The configured metrics with their detectors (pure: one instance serves every trial). */
export function pipelineMetrics(loaded: LoadedConfig, registries: Registries): MetricSetup[] {
  const { config } = loaded;
  return config.analysis.metrics.map((m) => {
    const factory = registries.detectors.get(m.detector);
    if (!factory) throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_TYPE', [m.detector]);
    return { name: m.name, shadow: m.shadow, weight: m.weight, source: m.source, detector: factory.create(m.name, m.options, { minSamples: config.analysis.minSamples }) };
  });
}

/** Each metric's share of alpha (Bonferroni by weight; a shadow metric gets what it would get acting). */
export function metricAlphas(loaded: LoadedConfig, metrics: readonly MetricSetup[]): number[] {
  return splitAlpha(loaded.config.analysis.alpha, metrics);
}

/**
 * The AnalysisRegistry settings of a config: the ONE place they are derived, for the agent (`createAgent`,
 * with its plans and action mode) and for dry pipelines (backtest: no plans, dry-run, the defaults).
 * `expectedCanaryShare` is the config's (`rollouts[].expectedCanaryShare`), so a sample-ratio guard sees
 * what it would see in production.
 */
export function pipelineSettings(
  loaded: LoadedConfig,
  metrics: readonly MetricSetup[],
  opts: { plans?: boolean; dryRun?: boolean } = {},
): AnalysisSettings {
  const { config } = loaded;
  const rollouts = new Map(config.rollouts.map((r) => [r.service, r]));
  return {
    intervalMs: config.analysis.interval,
    allowedLatenessMs: config.analysis.allowedLateness,
    maxDurationMs: config.analysis.maxDuration,
    silenceTimeoutMs: config.analysis.silenceTimeout,
    alpha: config.analysis.alpha,
    metrics,
    planFor: opts.plans ? (service) => rollouts.get(service)?.plan ?? config.plan : () => [],
    expectedCanaryShare: (service) => rollouts.get(service)?.expectedCanaryShare,
    baselineFree: (service) => rollouts.get(service)?.baseline === 'none',
    dryRun: opts.dryRun ?? true,
    configHash: loaded.hash,
    maxRollbacks: config.actions.maxRollbacksPerService,
    stormWindowMs: config.actions.stormWindow,
    limits: {
      maxServices: config.limits.maxServices,
      maxAnalyses: config.limits.maxAnalyses,
      maxVersionsPerService: config.limits.maxVersionsPerService,
      serviceIdleMs: config.limits.serviceIdleTimeout,
      finishedRetentionMs: config.limits.finishedRetention,
    },
  };
}

/** The cohort `serve` gives a sample its cohort rules left unknown: `rollouts[].canaryVersion`, if any. */
export function rolloutCohortResolver(loaded: LoadedConfig): (service: string, version: string) => 'canary' | 'baseline' | 'unknown' {
  const byService = new Map(loaded.config.rollouts.filter((r) => r.canaryVersion !== undefined).map((r) => [r.service, r.canaryVersion]));
  return (service, version) => {
    const cv = byService.get(service);
    if (cv === undefined) return 'unknown';
    return version === cv ? 'canary' : 'baseline';
  };
}
