/**
 * The event clock of a service, per source: each cohort (baseline, canary) has its own progress (the latest
 * span end, or metric interval end, of its samples), because each cohort's pods export on their own timers
 * and can sit behind their own Collector tier. The service's watermark is the lowest progress of its ACTIVE
 * sources minus `allowedLatenessMs`: a look closes when every active source has passed it. A source more
 * than `sourceIdleTimeoutMs` behind the most advanced one is idle and no longer holds the looks back (a
 * canary that stopped delays its baseline's looks by at most the idle timeout); its samples for looks that
 * closed meanwhile are counted late, per cohort. Like a stream processor's per-partition watermarks with
 * idleness. Pure and on event time only, so a replay closes exactly the looks the live run closed.
 * O(cohorts) = O(1) per call; memory: two numbers per service.
 */
import { DEFAULT_SOURCE_IDLE_MS, type AnalysisSettings, type ServiceState } from './analysis-types.js';

const COHORTS = ['baseline', 'canary'] as const;

/** The idle timeout of the settings (the default when absent). */
export function idleTimeoutMs(settings: Pick<AnalysisSettings, 'sourceIdleTimeoutMs'>): number {
  return settings.sourceIdleTimeoutMs ?? DEFAULT_SOURCE_IDLE_MS;
}

/** Whether a cohort holds the service's looks back: seen, and within the idle timeout of the most advanced source. */
export function isActive(svc: ServiceState, cohort: 'baseline' | 'canary', idleMs: number): boolean {
  const p = svc.progressMs[cohort];
  return p !== -Infinity && svc.maxEndMs - p <= idleMs;
}

/** Moves a cohort's progress forward (never back). */
export function progress(svc: ServiceState, cohort: 'baseline' | 'canary', endMs: number): void {
  if (endMs > svc.progressMs[cohort]) svc.progressMs[cohort] = endMs;
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

/**
 * The last look index no source can still reach: any source whose samples end before the look's end (plus
 * the lateness) is idle. A new analysis never starts before it, so baseline buckets up to it can be dropped.
 * Never above the watermark's closed index (every active source is within the idle timeout).
 */
export function idleHorizonIndex(
  svc: ServiceState,
  settings: Pick<AnalysisSettings, 'intervalMs' | 'allowedLatenessMs' | 'sourceIdleTimeoutMs'>,
): number {
  const horizonMs = svc.maxEndMs - idleTimeoutMs(settings) - settings.allowedLatenessMs;
  return Math.floor(horizonMs / settings.intervalMs) - 1;
}

/** End of input (replay): every seen source jumps past the lateness and one more interval, so every look closes. */
export function advanceAllPastEnd(
  svc: ServiceState,
  settings: Pick<AnalysisSettings, 'intervalMs' | 'allowedLatenessMs'>,
): void {
  const end = svc.maxEndMs + settings.allowedLatenessMs + settings.intervalMs;
  svc.maxEndMs = end;
  for (const c of COHORTS) if (svc.progressMs[c] !== -Infinity) svc.progressMs[c] = end;
}
