import { createHash } from 'node:crypto';
import type { Scalar } from '../../contracts/telemetry.js';

/**
 * Attributes of resources, scopes and metric data points, as the metrics decoders hand them over: every
 * attribute is kept (stream identity needs all of them), each with its scalar value (for meaning: status
 * codes, versions, cohorts) and a canonical text form (for identity).
 *
 * The canonical form is the same whichever encoding carried the value: strings JSON-quoted, `i<int>`,
 * `d<double>`, `t`/`f`, `b<base64>`, arrays `[a,b]`, key-value lists `{"k":v}`, '' for an empty AnyValue.
 * A set's canonical form sorts attributes by key (stable), so two senders listing the same attributes in
 * another order share a stream. Building it is O(k log k) for k attributes.
 */
export interface AttrEntry {
  key: string;
  value: Scalar;
  canon: string;
}

/** Deepest AnyValue nesting (arrays / key-value lists) accepted; deeper input is rejected as malformed. */
export const MAX_VALUE_DEPTH = 16;

export const canonString = (s: string): string => JSON.stringify(s);
export const canonBool = (b: boolean): string => (b ? 't' : 'f');
export const canonInt = (n: number): string => `i${n}`;
export const canonDouble = (d: number): string => `d${d}`;
export const canonBytes = (b: Uint8Array): string =>
  `b${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')}`;
export const canonArray = (items: readonly string[]): string => `[${items.join(',')}]`;
export const canonKvList = (pairs: readonly (readonly [string, string])[]): string =>
  `{${pairs.map(([k, c]) => `${JSON.stringify(k)}:${c}`).join(',')}}`;

/** The canonical form of an attribute set: sorted by key, so it does not depend on the sender's order. */
export function canonicalSet(entries: readonly AttrEntry[]): string {
  if (entries.length === 0) return '';
  const sorted =
    entries.length === 1 ? entries : [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  let out = '';
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i]!;
    if (i > 0) out += ',';
    out += `${JSON.stringify(e.key)}=${e.canon}`;
  }
  return out;
}

/** The value of the last attribute with that key (duplicate keys: the last one wins, as in protobuf maps). */
export function attrValue(entries: readonly AttrEntry[], key: string): Scalar {
  for (let i = entries.length - 1; i >= 0; i--) if (entries[i]!.key === key) return entries[i]!.value;
  return undefined;
}

/** A scalar in its string form (an int version `2` is "2"); undefined when absent or not scalar. */
export function scalarString(v: Scalar): string | undefined {
  return v === undefined ? undefined : typeof v === 'string' ? v : String(v);
}

/** A scalar as a number (numeric strings accepted); NaN when absent or not a number. */
export function scalarNumber(v: Scalar): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return Number.NaN;
}

/**
 * The longest identity (resource key, stream key) kept as it is. A metric stream is identified by every
 * attribute of its resource, scope and point, which a sender may make as long as its request: a longer
 * identity is kept as `#` + the base64 of its SHA-256 (45 characters; no canonical form starts with `#`),
 * so the streams Vigil remembers (limits.maxMetricStreams) cost at most this much each for their key.
 */
export const MAX_IDENTITY_CHARS = 1024;

/** `key` when it is at most MAX_IDENTITY_CHARS long, else its hash. O(length). */
export function boundedIdentity(key: string): string {
  return key.length <= MAX_IDENTITY_CHARS ? key : `#${createHash('sha256').update(key).digest('base64')}`;
}
