import { VigilError } from '../../errors.js';

/**
 * Scalar readers for OTLP/JSON (OTLP.md "JSON encoding quirks"), used by the metrics JSON decoder: 64-bit
 * integers as decimal strings or JSON numbers, doubles as numbers or "NaN" / "Infinity" / "-Infinity",
 * enums as numbers, numeric strings or names, lowerCamelCase or snake_case keys, null as absent. Each
 * reader throws a decode error naming the JSON path of a value of the wrong type. Shared by the traces and
 * metrics JSON decoders.
 */
export function jsonError(message: string, cause?: unknown): VigilError {
  return new VigilError('VIGIL_ERR_INGEST_DECODE', [message], { cause, details: { encoding: 'json' } });
}

/**
 * A value as an error message shows it: scalars as JSON (a string cut at 40 characters), arrays and objects by
 * their kind only. Never recursive and never long, whatever the sender nested or sent (JSON.stringify of a
 * 5,000-deep array overflows the stack; of a long value, it would echo megabytes back).
 */
export function shown(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === 'object') return 'an object';
  if (typeof v === 'string')
    return v.length > 40 ? `${JSON.stringify(v.slice(0, 40))}... (${v.length} characters)` : JSON.stringify(v);
  return String(v);
}

export type Obj = Record<string, unknown>;
export type Path = () => string;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value under the camelCase or the snake_case key; null counts as absent. */
export function field(o: Obj, camel: string, snake: string): unknown {
  const v = o[camel] ?? o[snake];
  return v === null ? undefined : v;
}

/** An optional object: undefined when absent, else it must be an object. */
export function obj(v: unknown, path: Path): Obj | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) throw jsonError(`${path()} must be an object, got ${shown(v)}`);
  return v;
}

const EMPTY: readonly unknown[] = Object.freeze([]);

/** An optional array: empty when absent, else it must be an array. */
export function arr(v: unknown, path: Path): readonly unknown[] {
  if (v === undefined) return EMPTY;
  if (!Array.isArray(v)) throw jsonError(`${path()} must be an array, got ${shown(v)}`);
  return v;
}

const MAX_U64 = '18446744073709551615';

/** A decimal string of an unsigned 64-bit integer (at most 18446744073709551615). */
function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 20) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return s.length < 20 || s <= MAX_U64;
}

/**
 * A fixed64 ns time as [whole ms, ns remainder] (exact for strings; numbers are exact up to 2^53, larger
 * ones were already rounded by JSON.parse). Absent is 0. Throws when not an unsigned 64-bit integer.
 */
export function nanos(v: unknown, out: [number, number], path: Path): void {
  if (v === undefined) {
    out[0] = 0;
    out[1] = 0;
    return;
  }
  let s: string | undefined;
  if (typeof v === 'string' && isDigits(v)) s = v;
  else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 18446744073709551616) {
    if (v <= Number.MAX_SAFE_INTEGER) {
      const ms = Math.floor(v / 1e6);
      out[0] = ms;
      out[1] = v - ms * 1e6;
      return;
    }
    s = BigInt(v).toString();
  }
  if (s === undefined) throw jsonError(`${path()} must be an unsigned 64-bit integer, got ${shown(v)}`);
  const cut = s.length - 6;
  out[0] = cut > 0 ? Number(s.slice(0, cut)) : 0;
  out[1] = cut > 0 ? Number(s.slice(cut)) : Number(s);
}

/** A uint64 (count, bucket count) as a number: exact up to 2^53, correctly rounded above. Absent is 0. */
export function u64(v: unknown, path: Path): number {
  if (v === undefined) return 0;
  if (typeof v === 'string' && isDigits(v)) return Number(v);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 18446744073709551616) return v;
  throw jsonError(`${path()} must be an unsigned 64-bit integer, got ${shown(v)}`);
}

/** An int64 attribute value (number or decimal string) as a number; undefined when not an integer. */
export function i64(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? v : undefined;
  if (typeof v === 'string' && /^-?[0-9]{1,20}$/.test(v)) return Number(v);
  return undefined;
}

/** An int32 / sint32 / uint32 field (number or numeric string). Absent is 0. */
export function int32(v: unknown, path: Path): number {
  if (v === undefined) return 0;
  const n = typeof v === 'string' && /^-?[0-9]{1,11}$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= -2147483648 && n <= 4294967295) return n;
  throw jsonError(`${path()} must be a 32-bit integer, got ${shown(v)}`);
}

/** A double: a number or "NaN", "Infinity", "-Infinity" (or a numeric string). */
export function double(v: unknown, path: Path): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return Number.NaN;
    if (v === 'Infinity') return Number.POSITIVE_INFINITY;
    if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
    const n = Number(v);
    if (v.trim() !== '' && !Number.isNaN(n)) return n;
  }
  throw jsonError(`${path()} must be a double, got ${shown(v)}`);
}

/** An optional double: undefined when absent. */
export function optDouble(v: unknown, path: Path): number | undefined {
  return v === undefined ? undefined : double(v, path);
}

/** An enum as a number, a numeric string or a name (with or without its prefix); unknown names are 0. */
export function enumValue(v: unknown, names: Readonly<Record<string, number>>, prefix: string, path: Path): number {
  if (v === undefined) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string') {
    if (/^-?[0-9]+$/.test(v)) return Number(v);
    const name = v.trim().toUpperCase();
    return names[name.startsWith(prefix) ? name.slice(prefix.length) : name] ?? 0;
  }
  throw jsonError(`${path()} must be an enum number or name, got ${shown(v)}`);
}
