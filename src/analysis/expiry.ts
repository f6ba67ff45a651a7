/**
 * Expiry of analysis state, on event time only (so a replay expires exactly what the live run did):
 * - the fleet clock is the upper median of the services' clocks (one service with a skewed clock cannot
 *   make the others look idle), of the services past their probation when there are any (a flood of one-off
 *   services with skewed clocks cannot either); a service whose clock is more than `serviceIdleMs` behind it
 *   is forgotten with its analyses (a service that went away entirely never closes another look);
 * - a decided analysis whose decision is more than `finishedRetentionMs` behind its service's clock is
 *   reduced to its outcome (the version stays decided; rolled back stays rolled back), and at most
 *   `maxVersionsPerService` such outcomes are kept per service (oldest dropped first).
 * O(services log services + analyses).
 */
import type { LimitSettings } from '../limits/limits.js';
import { upperMedian } from '../limits/limits.js';
import type { RegistryCounters, RegistryHooks, ServiceState } from './analysis-types.js';

/** Expires idle services and finished analyses in place; returns how many RUNNING analyses were dropped. */
export function expire(
  services: Map<string, ServiceState>,
  limits: LimitSettings,
  counters: RegistryCounters,
  hooks: RegistryHooks,
): number {
  let droppedRunning = 0;
  const established = upperMedian(clocks(services, true));
  const fleetClock = Number.isNaN(established) ? upperMedian(clocks(services, false)) : established;
  for (const [name, svc] of services) {
    const idleMs = fleetClock - svc.maxEndMs;
    if (idleMs > limits.serviceIdleMs) {
      services.delete(name);
      droppedRunning += svc.running.size;
      counters.expiredServices++;
      hooks.onServiceExpired?.(name, idleMs, svc.running.size);
      svc.running.clear(); // its queued looks, if any, are not run
      continue;
    }
    for (const [version, a] of svc.decided) {
      const at = a.decision?.eventTimeUnixMs ?? -Infinity;
      if (svc.maxEndMs - at <= limits.finishedRetentionMs) continue;
      svc.decided.delete(version);
      svc.finished.delete(version);
      svc.finished.set(version, { outcome: a.phase, decisionId: a.decision?.id ?? a.id });
      counters.expiredAnalyses++;
    }
    for (const version of svc.finished.keys()) {
      if (svc.finished.size <= limits.maxVersionsPerService) break;
      svc.finished.delete(version);
    }
  }
  return droppedRunning;
}

/** The clocks of the services that have one (only those past their probation, with `established`). */
function clocks(services: ReadonlyMap<string, ServiceState>, established: boolean): number[] {
  const out: number[] = [];
  for (const s of services.values()) {
    if (s.maxEndMs !== -Infinity && (!established || s.probation === undefined)) out.push(s.maxEndMs);
  }
  return out;
}
