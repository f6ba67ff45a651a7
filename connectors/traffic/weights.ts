import { VigilError } from '../../src/errors.js';
import { type ShareWeights, shareOf } from '../shared/share.js';

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

/** The canary's share (percent) of the weight a group gives the baseline and canary entries together, or
 *  undefined when the group has neither or gives both 0 (no share to speak of). */
export function pairShare(entries: readonly WeightedEntry[]): number | undefined {
  const sum = (role: Role) => entries.reduce((s, e) => s + (e.role === role ? e.weight : 0), 0);
  return shareOf(sum('canary'), sum('baseline'));
}

/**
 * Sets the canary's share of the baseline + canary pair within one weighted group that has both: the first
 * canary entry gets `want.canary`, the first baseline entry `want.baseline` (see `shareWeights`), the other
 * canary and baseline entries 0, and other destinations keep their weights, so their part of the group's
 * traffic moves only as much as the pair's total does. A group whose pair already gives `want.share` (within
 * 1e-9, whatever its weights: 150/50 is 25%) is left as it is: the result is `undefined`. Also `undefined`
 * for a group without both a baseline and a canary entry (the caller decides what that means).
 */
export function setPairShare(entries: readonly WeightedEntry[], want: ShareWeights): number[] | undefined {
  const firstBaseline = entries.findIndex((e) => e.role === 'baseline');
  const firstCanary = entries.findIndex((e) => e.role === 'canary');
  if (firstBaseline < 0 || firstCanary < 0) return undefined;
  const now = pairShare(entries);
  if (now !== undefined && Math.abs(now - want.share) < 1e-9) return undefined;
  return entries.map((e, i) => {
    if (i === firstBaseline) return want.baseline;
    if (i === firstCanary) return want.canary;
    return e.role === 'other' ? e.weight : 0;
  });
}
