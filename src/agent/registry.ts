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
import { limitMessage, type LimitHit } from '../limits/limits.js';

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
      onLate: (cohort, n) => metrics.lateRequests.inc({ cohort }, n),
      onIdleClosed: (cohort) => metrics.idleClosedLooks.inc({ cohort }),
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
