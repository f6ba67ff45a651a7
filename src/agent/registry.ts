/**
 * The agent's analysis registry: the config's analysis settings (with its plans and action mode), looks
 * deferred to the look scheduler, and hooks that log and count what happens and hand looks and decisions on.
 */
import type { Logger } from 'pino';
import { AnalysisRegistry, type LookEvent } from '../analysis/analysis-registry.js';
import { analysisSettings } from '../analysis/settings.js';
import type { LoadedConfig } from '../config/load.js';
import type { Decision } from '../contracts/index.js';
import type { VigilMetrics } from '../http/metrics.js';
import { limitMessage, type LimitHit, type LimitName } from '../limits/limits.js';

export interface RegistryOptions {
  loaded: LoadedConfig;
  dryRun: boolean;
  logger: Logger;
  metrics: VigilMetrics;
  onLook(e: LookEvent): void;
  onDecision(d: Decision): void;
}

/** The one log line and the counter of a limit that was reached (analysis registry and metrics ingest). */
export function limitReached(metrics: VigilMetrics, logger: Logger): (hit: LimitHit) => void {
  return (hit) => {
    metrics.limitReached.inc({ limit: hit.limit });
    logger.warn({ limit: hit.limit, max: hit.max }, limitMessage(hit));
  };
}

/** Evictions are logged as a summary at most this often (wall clock; the counter has every one). */
export const EVICTION_LOG_INTERVAL_MS = 60_000;

const EVICTED_WHAT: Partial<Record<LimitName, string>> = {
  services:
    'services on probation forgotten to make room for new services (limits.maxServices, limits.serviceProbation)',
  'metric-streams': 'metric streams seen once forgotten to make room for new streams (limits.maxMetricStreams)',
  'open-traces':
    'requests of open looks forgotten to make room for new ones; their later attempts count as new requests (limits.maxOpenTraces)',
};

/**
 * Counts evictions at a limit (`vigil_limit_evicted_total{limit}`) and logs them as ONE summary line per limit
 * at most every EVICTION_LOG_INTERVAL_MS: the first eviction at once, then what was evicted since.
 */
export function limitEvicted(
  metrics: VigilMetrics,
  logger: Logger,
  now: () => number = Date.now,
): (limit: LimitName, count: number) => void {
  const pending = new Map<LimitName, { count: number; loggedAt: number }>();
  return (limit, count) => {
    metrics.limitEvicted.inc({ limit }, count);
    const p = pending.get(limit) ?? { count: 0, loggedAt: -Infinity };
    pending.set(limit, p);
    p.count += count;
    const t = now();
    if (t - p.loggedAt < EVICTION_LOG_INTERVAL_MS) return;
    const sinceMs = p.loggedAt === -Infinity ? undefined : t - p.loggedAt;
    logger.warn(
      { limit, evicted: p.count, ...(sinceMs === undefined ? {} : { sinceMs }) },
      `limit reached: ${p.count} ${EVICTED_WHAT[limit] ?? `${limit} evicted`}`,
    );
    p.count = 0;
    p.loggedAt = t;
  };
}

export function createRegistry(opts: RegistryOptions): AnalysisRegistry {
  const { logger, metrics } = opts;
  return new AnalysisRegistry(
    analysisSettings(opts.loaded, { plans: true, dryRun: opts.dryRun }),
    {
      onAnalysisStarted: (a) =>
        logger.info(
          { analysis: a.id, service: a.service, canaryVersion: a.canaryVersion, baselineVersion: a.baselineVersion },
          'analysis started',
        ),
      onLimitReached: limitReached(metrics, logger),
      onLimitRefused: (limit, n) => metrics.limitRefused.inc({ limit }, n),
      onLimitEvicted: limitEvicted(metrics, logger),
      onLate: (cohort, n) => metrics.lateRequests.inc({ cohort }, n),
      onRetries: (cohort, n) => metrics.retriedAttempts.inc({ cohort }, n),
      onIdleClosed: (cohort) => metrics.idleClosedLooks.inc({ cohort }),
      onIndicatorMissing: (e) =>
        logger.warn(
          { service: e.service, analysis: e.analysisId, metric: e.metric, looks: e.looks },
          `${e.metric}: no ${e.reads} from either cohort in ${e.looks} looks: check the metric name and its where ` +
            'filter, that the services export it, and that the Collector forwards metrics to Vigil',
        ),
      onServiceExpired: (service, idleMs, running) =>
        logger.info({ service, idleMs, runningAnalyses: running }, 'idle service forgotten'),
      onLook: (e) => {
        metrics.looks.inc();
        opts.onLook(e);
      },
      onDecision: (d) => {
        metrics.decisions.inc({ outcome: d.outcome });
        opts.onDecision(d);
      },
    },
    { deferLooks: true },
  );
}
