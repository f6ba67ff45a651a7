import type { CohortBatch, CohortPair } from '../../src/contracts/evidence.js';

/**
 * A look's strata: canary and baseline are compared within each route both served in that look (the registry
 * keys requests by route, bounded per service: src/analysis/open-buckets.ts). A route only one cohort served in
 * the look is not compared (a new endpoint of the canary, an endpoint it no longer has): it is reported.
 * Without a route breakdown on either side (stratification off, OTLP metric increments) the look is one stratum.
 * O(routes).
 */

export interface RoutePair {
  /** The route's stratum key; undefined for a look without a route breakdown. */
  route: string | undefined;
  canary: CohortBatch;
  baseline: CohortBatch;
}

export interface LookStrata {
  /** Routes both cohorts served in this look (or the whole look). */
  compared: RoutePair[];
  /** Requests of routes only the canary served in this look (not compared). */
  canaryOnly: Record<string, number>;
  /** Requests of routes only the baseline served in this look (not compared). */
  baselineOnly: Record<string, number>;
}

export function lookStrata(batch: CohortPair, served: (b: CohortBatch) => number = (b) => b.requests): LookStrata {
  const { canary, baseline } = batch;
  const out: LookStrata = { compared: [], canaryOnly: {}, baselineOnly: {} };
  if (canary.routes === undefined || baseline.routes === undefined) {
    out.compared.push({ route: undefined, canary, baseline });
    return out;
  }
  for (const [route, c] of Object.entries(canary.routes)) {
    const b = baseline.routes[route];
    const nc = served(c);
    const nb = b === undefined ? 0 : served(b);
    if (nc > 0 && nb > 0) out.compared.push({ route, canary: c, baseline: b as CohortBatch });
    else if (nc > 0) out.canaryOnly[route] = nc;
  }
  for (const [route, b] of Object.entries(baseline.routes)) {
    const nb = served(b);
    const c = canary.routes[route];
    if (nb > 0 && (c === undefined || served(c) === 0)) out.baselineOnly[route] = nb;
  }
  return out;
}

/**
 * The compared route that weighs most toward harm (largest positive `excess`), when more than one route was
 * compared: the route decisions name ("POST /checkout: errors 4.1x"). Undefined otherwise. O(routes).
 */
export function worstRoute<T>(
  routes: Record<string, T> | undefined,
  compared: (t: T) => boolean,
  excess: (t: T) => number,
): [string, T] | undefined {
  const rows = Object.entries(routes ?? {}).filter(([, t]) => compared(t));
  if (rows.length < 2) return undefined;
  let best: [string, T] | undefined;
  for (const row of rows)
    if (excess(row[1]) > 0 && (best === undefined || excess(row[1]) > excess(best[1]))) best = row;
  return best;
}
