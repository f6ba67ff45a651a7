/**
 * The AnalysisRegistry settings of a config: the ONE place they are derived, for the agent (with its plans
 * and action mode) and for dry pipelines (backtest: no plans, dry-run), so a backtest measures the config
 * the agent would run. `expectedCanaryShare` is the config's (`rollouts[].expectedCanaryShare`), so a
 * sample-ratio guard sees what it would see in production; a promotion plan's shares override it per look (the
 * analysis' own record: look-runner.ts, promotion.ts `windowShare`).
 */
import { createHash } from 'node:crypto';
import type { LoadedConfig } from '../config/load.js';
import { splitAlpha } from '../decide/engine.js';
import { VigilError } from '../errors.js';
import type { AnalysisSettings, MetricSetup } from './analysis-types.js';
import type { CompiledIndicators } from './indicators.js';
import { compileIndicators } from './indicators.js';

/** The configured metrics with the detectors the config built (pure: one instance serves every analysis), and what
 *  each reads when it is not the service's requests as a whole (indicators.ts). */
export function analysisMetrics(loaded: LoadedConfig): MetricSetup[] {
  const { byMetric } = indicatorsOf(loaded);
  return loaded.config.analysis.metrics.map((m, i) => {
    const detector = loaded.detectors.get(m.name);
    if (!detector) throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_TYPE', [m.detector]);
    const projection = byMetric[i];
    const setup: MetricSetup = { name: m.name, shadow: m.shadow, weight: m.weight, source: m.source, detector };
    return projection === undefined ? setup : { ...setup, projection };
  });
}

const compiled = new WeakMap<LoadedConfig, CompiledIndicators>();

/** The indicators of a loaded config (what the decoders and metrics ingestion must fill), compiled once per config. */
export function indicatorsOf(loaded: LoadedConfig): CompiledIndicators {
  let c = compiled.get(loaded);
  if (c === undefined) {
    c = compileIndicators(
      loaded.config.analysis.metrics.map((m) => {
        const reads = loaded.detectors.get(m.name)?.reads;
        return {
          name: m.name,
          source: m.source,
          ...(m.where === undefined ? {} : { where: m.where }),
          ...(reads === undefined ? {} : { reads }),
        };
      }),
    );
    compiled.set(loaded, c);
  }
  return c;
}

/** Each metric's share of alpha (Bonferroni by weight; a shadow metric gets what it would get acting). */
export function metricAlphas(settings: Pick<AnalysisSettings, 'alpha' | 'metrics'>): number[] {
  return splitAlpha(settings.alpha, settings.metrics);
}

export function analysisSettings(
  loaded: LoadedConfig,
  opts: { plans?: boolean; dryRun?: boolean } = {},
): AnalysisSettings {
  const { config } = loaded;
  const rollouts = new Map(config.rollouts.map((r) => [r.service, r]));
  return {
    intervalMs: config.analysis.interval,
    allowedLatenessMs: config.analysis.allowedLateness,
    sourceIdleTimeoutMs: config.analysis.sourceIdleTimeout,
    baselineHistoryMs: config.analysis.baselineHistory,
    maxRoutesPerService: config.analysis.routes.maxPerService,
    requestUnit: config.analysis.requestUnit,
    maxClockSkewMs: config.analysis.maxClockSkew,
    maxDurationMs: config.analysis.maxDuration,
    silenceTimeoutMs: config.analysis.silenceTimeout,
    alpha: config.analysis.alpha,
    metrics: analysisMetrics(loaded),
    planFor: opts.plans ? (service) => rollouts.get(service)?.plan ?? config.plan : () => [],
    expectedCanaryShare: (service) => rollouts.get(service)?.expectedCanaryShare,
    ...(opts.plans ? { promotionSteps: (service: string) => rollouts.get(service)?.promote?.steps } : {}),
    baselineFree: (service) => rollouts.get(service)?.baseline === 'none',
    dryRun: opts.dryRun ?? true,
    configHash: loaded.hash,
    analysisHash: createHash('sha256').update(JSON.stringify(config.analysis)).digest('hex').slice(0, 16),
    maxRollbacks: config.actions.maxRollbacksPerService,
    stormWindowMs: config.actions.stormWindow,
    limits: {
      maxServices: config.limits.maxServices,
      serviceProbation: config.limits.serviceProbation,
      maxAnalyses: config.limits.maxAnalyses,
      maxVersionsPerService: config.limits.maxVersionsPerService,
      serviceIdleMs: config.limits.serviceIdleTimeout,
      finishedRetentionMs: config.limits.finishedRetention,
      maxOpenTraces: config.limits.maxOpenTraces,
    },
  };
}
