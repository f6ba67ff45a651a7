import { VigilError } from '../../src/errors.js';

/** What a weighted destination is to a rollback: the baseline, the canary, or something else (untouched). */
export type Role = 'baseline' | 'canary' | 'other';

export interface WeightedEntry {
  role: Role;
  /** The effective weight (defaults already applied by the caller: Gateway API 1, Istio 100 or 0). */
  weight: number;
}

/**
 * Moves all of the canary's weight to the baseline within one weighted group (an HTTPRoute rule, a
 * VirtualService route): every canary entry gets 0, the first baseline entry gets its weight plus the
 * canary's, other entries keep theirs. The total is unchanged, so Istio's "weights add up to 100" still
 * holds, and the proportions of unrelated destinations are kept.
 *
 * Idempotent by construction (a projection): once the canary holds 0 there is nothing to move, and the
 * result is `undefined` ("nothing to change"). Also `undefined` when the group has no canary entry.
 * Throws when canary traffic has no baseline entry to go to. O(n) in the group size.
 */
export function moveCanaryWeight(entries: readonly WeightedEntry[], where: string): number[] | undefined {
  const canaryWeight = entries.reduce((sum, e) => sum + (e.role === 'canary' ? e.weight : 0), 0);
  if (canaryWeight === 0) return undefined;
  const firstBaseline = entries.findIndex((e) => e.role === 'baseline');
  if (firstBaseline < 0)
    throw new Error(`${where} sends traffic to the canary but has no baseline destination to move it to`);
  return entries.map((e, i) => {
    if (e.role === 'canary') return 0;
    if (i === firstBaseline) return e.weight + canaryWeight;
    return e.weight;
  });
}

/** `moveCanaryWeight` for a connector: its refusal becomes a permanent VIGIL_ERR_CONNECTOR_FAILED. */
export function moveWeights(entries: readonly WeightedEntry[], where: string, vendor: string): number[] | undefined {
  try {
    return moveCanaryWeight(entries, where);
  } catch (e) {
    throw new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`${vendor}: ${(e as Error).message}`], {
      cause: e,
      details: { vendor },
    });
  }
}

/** "checkout-stable 90→100, checkout-canary 10→0" for the entries whose weight changes. */
export function describeMoves(labels: readonly string[], before: readonly number[], after: readonly number[]): string {
  return labels
    .map((label, i) => (before[i] === after[i] ? undefined : `${label} ${before[i]}→${after[i]}`))
    .filter((s): s is string => s !== undefined)
    .join(', ');
}
