import type { Where } from '../contracts/detector.js';
import type { Scalar } from '../contracts/telemetry.js';

/**
 * The one `where:` matcher (issue 16; type Where in contracts/detector.ts): a span or data point matches when EVERY
 * key of `where` is present, on the span / point first, else on its resource, with a value whose string form equals
 * the expected value's string form, or, for a list, any of them. String forms are `String(v)`: numbers as JavaScript
 * prints them (int 200 is "200", double 0.5 is "0.5", 2.0 is "2"), booleans "true" / "false"; so `cache.hit: false`
 * matches a boolean false and the string "false", `http.response.status_code: 200` an int 200 and the string "200".
 * An empty `where` matches everything; an empty list matches nothing (the config refuses it: detectors/lib/options.ts).
 * Values the decoders do not read (arrays, key-value lists, bytes) and values longer than limits.maxNameLength are
 * absent, so they never match.
 */

/** One expected value of a `where` entry (or a member of its list). */
export type WhereValue = string | number | boolean;

/** The string form of an attribute value, as compared; undefined when absent. */
export function scalarText(v: Scalar): string | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? v : String(v);
}

/** The accepted string forms of one `where` entry (a value, or any of a list). */
export function acceptedTexts(expected: WhereValue | readonly WhereValue[]): readonly string[] {
  return Array.isArray(expected) ? (expected as readonly WhereValue[]).map((e) => String(e)) : [String(expected)];
}

/** Whether one attribute value is one of the accepted string forms. O(accepted). */
export function acceptsValue(accepted: readonly string[], v: Scalar): boolean {
  if (v === undefined) return false;
  const text = typeof v === 'string' ? v : String(v);
  for (let i = 0; i < accepted.length; i++) if (accepted[i] === text) return true;
  return false;
}

/**
 * Whether the attributes `get` gives match `where`. `get(key)` is the value of the key on the span / point, else on
 * its resource (`spanThenResource` builds such a getter from two). Pure; O(keys x accepted values).
 */
export function matchesWhere(where: Where, get: (key: string) => Scalar): boolean {
  for (const key of Object.keys(where)) if (!acceptsValue(acceptedTexts(where[key]!), get(key))) return false;
  return true;
}

/** A getter that reads the span's (or point's) attributes first, else the resource's. */
export function spanThenResource(
  own: (key: string) => Scalar,
  resource: (key: string) => Scalar,
): (key: string) => Scalar {
  return (key) => {
    const v = own(key);
    return v === undefined ? resource(key) : v;
  };
}

/**
 * A `where` compiled against an index of attribute keys (the decoders give every key a slot): `slots[i]` is the slot
 * of the i-th key, `accepted[i]` its accepted string forms. Matching then costs no string lookups.
 */
export interface CompiledWhere {
  readonly slots: readonly number[];
  readonly accepted: readonly (readonly string[])[];
}

/** Compiles `where`, giving each key its slot by `slotOf` (called once per key). */
export function compileWhere(where: Where, slotOf: (key: string) => number): CompiledWhere {
  const slots: number[] = [];
  const accepted: (readonly string[])[] = [];
  for (const key of Object.keys(where)) {
    slots.push(slotOf(key));
    accepted.push(acceptedTexts(where[key]!));
  }
  return { slots, accepted };
}

/**
 * Whether a compiled `where` matches: `own[slot]` is the span's (point's) value of a key, `resource[slot]` the
 * resource's (used when the span has none). Same result as matchesWhere. O(keys x accepted values).
 */
export function matchesCompiled(w: CompiledWhere, own: readonly Scalar[], resource: readonly Scalar[]): boolean {
  const { slots, accepted } = w;
  for (let i = 0; i < slots.length; i++) {
    const slot = slots[i]!;
    const v = own[slot];
    if (!acceptsValue(accepted[i]!, v === undefined ? resource[slot] : v)) return false;
  }
  return true;
}
