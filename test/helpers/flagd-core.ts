/**
 * flagd's own evaluation, for the tests of the flagd connector and of promotion plans through it: OpenFeature's
 * flagd evaluation engine (@openfeature/flagd-core) loaded with a flag-definition file's text, as flagd loads it.
 */
import { FlagdCore } from '@openfeature/flagd-core';

/** The engine loaded with `text` (throws when flagd would reject the document). */
export function flagdCore(text: string): FlagdCore {
  const core = new FlagdCore();
  core.setConfigurations(text);
  return core;
}

/** How many of `keys` targeting keys (`user-0`, `user-1`, …) get `variant` of string flag `flag`. */
export function variantHits(text: string, flag: string, variant: string, keys = 2_000): number {
  const core = flagdCore(text);
  let hits = 0;
  for (let i = 0; i < keys; i++) {
    const r = core.resolveStringEvaluation(flag, 'fallback', { targetingKey: `user-${i}` });
    if (r.variant === variant) hits++;
  }
  return hits;
}
