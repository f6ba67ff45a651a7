/**
 * The event clock of a service, per source: each cohort (baseline, canary) has its own progress (the latest
 * span end, or metric interval end, of its samples), because each cohort's pods export on their own timers
 * and can sit behind their own Collector tier. The service's watermark is the lowest progress of its ACTIVE
 * sources minus `allowedLatenessMs`: a look closes when every active source has passed it.
 *
 * Idleness is measured by what happened meanwhile, not by distance: a source is idle once the service's most
 * advanced source has moved `sourceIdleTimeoutMs` of event time since this source last moved forward. A
 * cohort that keeps delivering, however far behind (a slower Collector tier, a backfill of the canary's
 * past after the baseline's), holds the looks back and is compared; one that stopped (a crashed canary, a
 * Collector that stopped retrying) holds them back by at most the idle timeout of the other's progress,
 * after which its samples for looks closed meanwhile are counted late, per cohort. Like a stream
 * processor's per-partition watermarks with idleness, except that "meanwhile" is counted in the event time
 * of the other sources rather than in wall-clock time, so a replay of the same deliveries closes exactly
 * the looks the live run closed. O(cohorts) = O(1) per call; memory: four numbers per service.
 */
import {
  DEFAULT_BASELINE_HISTORY_MS,
  DEFAULT_SOURCE_IDLE_MS,
  type AnalysisSettings,
  type ServiceState,
} from './analysis-types.js';

const COHORTS = ['baseline', 'canary'] as const;

/** The idle timeout of the settings (the default when absent). */
export function idleTimeoutMs(settings: Pick<AnalysisSettings, 'sourceIdleTimeoutMs'>): number {
  return settings.sourceIdleTimeoutMs ?? DEFAULT_SOURCE_IDLE_MS;
}

/** Whether a cohort holds the service's looks back: seen, and the most advanced source has not moved more than the
 *  idle timeout since this cohort last moved forward. */
export function isActive(svc: ServiceState, cohort: 'baseline' | 'canary', idleMs: number): boolean {
  return svc.progressMs[cohort] !== -Infinity && svc.maxEndMs - svc.movedAtMs[cohort] <= idleMs;
}

/** Moves a cohort's progress forward (never back), noting where the most advanced source was when it moved.
 *  Call after the service's `maxEndMs` took the sample into account. */
export function progress(svc: ServiceState, cohort: 'baseline' | 'canary', endMs: number): void {
  if (endMs <= svc.progressMs[cohort]) return;
  svc.progressMs[cohort] = endMs;
  svc.movedAtMs[cohort] = svc.maxEndMs;
}

/** The seen cohorts that are idle now (they no longer hold the looks back). */
export function idleCohorts(svc: ServiceState, idleMs: number): ('baseline' | 'canary')[] {
  return COHORTS.filter((c) => svc.progressMs[c] !== -Infinity && !isActive(svc, c, idleMs));
}

/**
 * The service's watermark: the lowest progress of its active sources minus the allowed lateness (the most
 * advanced source's when no cohort is active: a service that only sends unknown cohorts). Not monotone (a
 * source that becomes active again holds the next looks back), which is harmless: each analysis closes its
 * looks in order and never reopens one.
 */
export function watermarkOf(
  svc: ServiceState,
  settings: Pick<AnalysisSettings, 'allowedLatenessMs' | 'sourceIdleTimeoutMs'>,
): number {
  const idleMs = idleTimeoutMs(settings);
  let low = Infinity;
  for (const c of COHORTS) if (isActive(svc, c, idleMs)) low = Math.min(low, svc.progressMs[c]);
  return (low === Infinity ? svc.maxEndMs : low) - settings.allowedLatenessMs;
}

/** The baseline history of the settings (the default when absent). */
export function baselineHistoryMs(settings: Pick<AnalysisSettings, 'baselineHistoryMs'>): number {
  return settings.baselineHistoryMs ?? DEFAULT_BASELINE_HISTORY_MS;
}

/**
 * The last look index whose service-level buckets (the baseline's past, a canary's looks before its first
 * baseline sample) are no longer kept: those more than the baseline history (at least the idle timeout plus
 * the lateness) behind the most advanced source. An analysis that starts later (a late canary, a backfill of
 * the canary's past) compares against the baseline looks kept; none starts before this index.
 */
export function historyHorizonIndex(
  svc: ServiceState,
  settings: Pick<AnalysisSettings, 'intervalMs' | 'allowedLatenessMs' | 'sourceIdleTimeoutMs' | 'baselineHistoryMs'>,
): number {
  const keepMs = Math.max(baselineHistoryMs(settings), idleTimeoutMs(settings) + settings.allowedLatenessMs);
  return Math.floor((svc.maxEndMs - keepMs) / settings.intervalMs) - 1;
}

/** End of input (replay): every seen source jumps past the lateness and one more interval, so every look closes. */
export function advanceAllPastEnd(
  svc: ServiceState,
  settings: Pick<AnalysisSettings, 'intervalMs' | 'allowedLatenessMs'>,
): void {
  const end = svc.maxEndMs + settings.allowedLatenessMs + settings.intervalMs;
  svc.maxEndMs = end;
  for (const c of COHORTS) {
    if (svc.progressMs[c] === -Infinity) continue;
    svc.progressMs[c] = end;
    svc.movedAtMs[c] = end;
  }
}
