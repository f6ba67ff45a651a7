/**
 * The service-level evidence buckets kept for analyses that do not exist yet: the baseline's recent looks (a
 * new canary's analysis starts with the ones from its first sample on: a canary that starts late, or whose
 * past is backfilled after the baseline's, is compared with the baseline looks that match) and, per canary
 * version, the canary's looks before its first baseline sample (a baseline that lags the canary must not
 * cost the canary's first looks). Both are kept for the baseline history (`baselineHistoryMs`, at least the
 * idle timeout plus the lateness; event-clock.ts): an older look is dropped, the canary requests in it
 * counted as pre-analysis.
 * Memory per service: at most history / interval + 2 buckets for the baseline (31 with the defaults), as many
 * per pending canary version (at most maxVersionsPerService); each bucket is one CohortBatch (a few hundred
 * bytes to ~2 KB with its sparse latency histogram).
 */
import type { CohortBatch, CohortIncrement, RequestSample } from '../contracts/index.js';
import { ROUTE_NONE, ROUTE_OTHER } from '../contracts/index.js';
import { addRequest, emptyBatch, mergeBatch, removeRequest } from '../evidence/cohort-batch.js';
import type { AnalysisSettings, PendingCanary, ServiceState } from './analysis-types.js';
import { historyHorizonIndex } from './event-clock.js';

/**
 * Adds one request sample, or merges a pre-aggregated increment, into a cohort's batch. `route` is the sample's
 * route stratum key (routeKey), undefined when routes are not stratified. `weight` -1 takes a request sample
 * added before back (the request grouping: open-traces.ts); increments are only ever added. A sample with span
 * indicators (RequestSample.indicators) also counts, the same way, in `b.indicators[key]` for each of its keys.
 */
export function addEvidence(
  b: CohortBatch,
  s: RequestSample | CohortIncrement,
  route?: string,
  weight: 1 | -1 = 1,
): void {
  if ('batch' in s) return mergeBatch(b, s.batch);
  if (weight > 0) addRequest(b, s.durationMs, s.error, route, s.retries);
  else removeRequest(b, s.durationMs, s.error, route, s.retries);
  if (s.indicators !== undefined) addIndicators(b, s, s.indicators, route, weight);
}

/**
 * The indicator part of addEvidence: the request in `b.indicators[key]` for each key (created on first use); taken
 * back with weight -1 (an indicator batch left without requests is removed, and so is an empty `indicators`).
 */
function addIndicators(
  b: CohortBatch,
  s: RequestSample,
  keys: readonly string[],
  route: string | undefined,
  weight: 1 | -1,
): void {
  if (weight > 0) {
    const all = (b.indicators ??= {});
    for (const key of keys) addRequest((all[key] ??= emptyBatch()), s.durationMs, s.error, route, s.retries);
    return;
  }
  const all = b.indicators;
  if (all === undefined) return;
  for (const key of keys) {
    const ib = all[key];
    if (ib === undefined) continue;
    removeRequest(ib, s.durationMs, s.error, route, s.retries);
    if (ib.requests <= 0) delete all[key];
  }
  if (Object.keys(all).length === 0) delete b.indicators;
}

/**
 * The route stratum key of a request sample for a service: its route while the service has fewer than
 * `maxRoutes` distinct ones (remembered in `svc.routeKeys`), ROUTE_OTHER beyond, ROUTE_NONE without a route;
 * undefined when `maxRoutes` is 0 (not stratified). O(1); memory per service O(maxRoutes).
 */
export function routeKey(svc: ServiceState, route: string | undefined, maxRoutes: number): string | undefined {
  if (maxRoutes <= 0) return undefined;
  if (route === undefined || route === '') return ROUTE_NONE;
  const keys = (svc.routeKeys ??= new Set<string>());
  if (keys.has(route)) return route;
  if (keys.size >= maxRoutes) return ROUTE_OTHER;
  keys.add(route);
  return route;
}

/** The bucket of `index` in a map of per-look batches, created on first use. */
export function bucket(open: Map<number, CohortBatch>, index: number): CohortBatch {
  let b = open.get(index);
  if (!b) open.set(index, (b = emptyBatch()));
  return b;
}

/** Keeps a canary sample of a version whose analysis waits for the first baseline sample (`weight` -1: takes one
 *  kept before back). */
export function keepPendingCanary(
  svc: ServiceState,
  version: string,
  index: number,
  s: RequestSample | CohortIncrement,
  route?: string,
  weight: 1 | -1 = 1,
): void {
  const all = (svc.canaryPending ??= new Map<string, PendingCanary>());
  let p = all.get(version);
  if (!p) all.set(version, (p = { spans: new Map() }));
  addEvidence(bucket('batch' in s ? (p.metrics ??= new Map<number, CohortBatch>()) : p.spans, index), s, route, weight);
}

/** Takes (removes) the pending canary buckets of a version, with the first look they cover. */
export function takePendingCanary(
  svc: ServiceState,
  version: string,
): { pending: PendingCanary; firstIndex: number } | undefined {
  const p = svc.canaryPending?.get(version);
  if (p === undefined) return undefined;
  svc.canaryPending!.delete(version);
  let firstIndex = Infinity;
  for (const i of p.spans.keys()) firstIndex = Math.min(firstIndex, i);
  for (const i of p.metrics?.keys() ?? []) firstIndex = Math.min(firstIndex, i);
  return firstIndex === Infinity ? undefined : { pending: p, firstIndex };
}

/**
 * Drops the buckets of the looks behind the idle horizon (no source can still start an analysis there) and
 * moves `svc.closedIndex` up to it. Returns the canary requests dropped (never compared: pre-analysis).
 */
export function pruneBehindHorizon(
  svc: ServiceState,
  settings: Pick<AnalysisSettings, 'intervalMs' | 'allowedLatenessMs' | 'sourceIdleTimeoutMs' | 'baselineHistoryMs'>,
): number {
  const dropUpTo = historyHorizonIndex(svc, settings);
  if (dropUpTo <= svc.closedIndex) return 0;
  svc.closedIndex = dropUpTo;
  const prune = (open: Map<number, CohortBatch> | undefined): number => {
    let requests = 0;
    for (const [i, b] of open ?? []) {
      if (i > dropUpTo) continue;
      open!.delete(i);
      requests += b.requests;
    }
    return requests;
  };
  // baseline buckets of closed looks are no loss: every running analysis has its own copy
  prune(svc.baselineOpen);
  prune(svc.baselineOpenMetrics);
  let dropped = 0;
  for (const [version, p] of svc.canaryPending ?? []) {
    dropped += prune(p.spans) + prune(p.metrics);
    if (p.spans.size === 0 && (p.metrics?.size ?? 0) === 0) svc.canaryPending!.delete(version);
  }
  return dropped;
}
