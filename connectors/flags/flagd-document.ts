import { isDeepStrictEqual } from 'node:util';
import { VigilError } from '../../src/errors.js';

/**
 * The flagd flag-definition document (https://flagd.dev/schema/v0/flags.json): `{"flags": {"<key>":
 * {"state", "variants", "defaultVariant", "targeting"?, "metadata"?}}, "$evaluators"?, "metadata"?}`.
 *
 * `setDefaultVariant` edits the JSON TEXT, not a re-serialised object: it locates the one value to
 * change and splices the new value in, so whitespace, formatting, key order (including
 * integer-like keys, which `JSON.stringify` would move first) and every other byte stay as they were.
 * The result is then parsed and compared with the expected document, so a bug in the locator can never
 * write a file that means something else. Linear in the file size.
 */

interface Span {
  start: number;
  end: number;
}
interface Member {
  key: string;
  keyStart: number;
  value: JsonNode;
}
type JsonNode = Span & ({ kind: 'object'; members: Member[] } | { kind: 'other' });

const WS = new Set([' ', '\t', '\n', '\r']);

/** A locator for already-validated JSON text (JSON.parse succeeded on it): no error recovery needed. */
class Locator {
  private i = 0;
  constructor(private readonly text: string) {}

  root(): JsonNode {
    this.ws();
    return this.value();
  }

  private ws(): void {
    while (this.i < this.text.length && WS.has(this.text[this.i]!)) this.i++;
  }

  private string(): Span {
    const start = this.i++;
    while (this.text[this.i] !== '"') this.i += this.text[this.i] === '\\' ? 2 : 1;
    this.i++;
    return { start, end: this.i };
  }

  private value(): JsonNode {
    const c = this.text[this.i];
    const start = this.i;
    if (c === '{') {
      this.i++;
      const members: Member[] = [];
      this.ws();
      while (this.text[this.i] !== '}') {
        const key = this.string();
        this.ws();
        this.i++; // ':'
        this.ws();
        members.push({
          key: JSON.parse(this.text.slice(key.start, key.end)) as string,
          keyStart: key.start,
          value: this.value(),
        });
        this.ws();
        if (this.text[this.i] === ',') this.i++;
        this.ws();
      }
      this.i++;
      return { kind: 'object', start, end: this.i, members };
    }
    if (c === '[') {
      this.i++;
      this.ws();
      while (this.text[this.i] !== ']') {
        this.value();
        this.ws();
        if (this.text[this.i] === ',') this.i++;
        this.ws();
      }
      this.i++;
      return { kind: 'other', start, end: this.i };
    }
    if (c === '"') return { kind: 'other', ...this.string() };
    while (this.i < this.text.length && !WS.has(this.text[this.i]!) && !',}]'.includes(this.text[this.i]!)) this.i++;
    return { kind: 'other', start, end: this.i };
  }
}

/** The last member named `key` (JSON.parse keeps the last of duplicate keys, and so does this). */
function member(node: JsonNode, key: string): Member | undefined {
  if (node.kind !== 'object') return undefined;
  return node.members.filter((m) => m.key === key).at(-1);
}

function invalid(path: string, why: string): VigilError {
  return new VigilError('VIGIL_ERR_CONNECTOR_FAILED', [`flagd: ${path} ${why}`], {
    details: { vendor: 'flagd', path },
  });
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export interface FlagdFlag {
  /** The current `defaultVariant`; undefined when absent, null when explicitly null (code default). */
  defaultVariant: string | null | undefined;
  variants: string[];
  state: unknown;
  hasTargeting: boolean;
  /** The flag's `targeting` as parsed (undefined when absent). */
  targeting: unknown;
}

/** Parses the document and returns the flag's facts; a permanent error names what is wrong and where. */
export function readFlag(text: string, path: string, flag: string): FlagdFlag {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new VigilError(
      'VIGIL_ERR_CONNECTOR_FAILED',
      [`flagd: ${path} is not valid JSON: ${(err as Error).message}`],
      {
        cause: err,
        details: { vendor: 'flagd', path },
      },
    );
  }
  if (!isRecord(doc) || !isRecord(doc.flags))
    throw invalid(path, 'has no "flags" object: is it a flagd flag-definition file?');
  const f = doc.flags[flag];
  if (!Object.hasOwn(doc.flags, flag) || !isRecord(f)) {
    throw invalid(
      path,
      `defines no flag "${flag}" (it defines: ${Object.keys(doc.flags).join(', ') || 'none'}): fix options.flag`,
    );
  }
  if (!isRecord(f.variants)) throw invalid(path, `flag "${flag}" has no "variants" object`);
  const dv = f.defaultVariant;
  if (dv !== undefined && dv !== null && typeof dv !== 'string')
    throw invalid(path, `flag "${flag}" has a non-string defaultVariant`);
  const targeting = f.targeting;
  return {
    defaultVariant: dv,
    variants: Object.keys(f.variants),
    state: f.state,
    targeting,
    hasTargeting: isRecord(targeting)
      ? Object.keys(targeting).length > 0
      : targeting !== undefined && targeting !== null,
  };
}

/**
 * Returns `text` with `flags[flag].defaultVariant` set to `variant` (inserted as the flag's first key,
 * with the indentation of the next key, when the flag has none). The caller has checked with `readFlag`
 * that the flag and the variant exist.
 */
export function setDefaultVariant(text: string, path: string, flag: string, variant: string): string {
  return setFlagMember(text, path, flag, 'defaultVariant', variant);
}

/**
 * Returns `text` with `flags[flag][key]` set to `value` (JSON on one line), in place: the old value's bytes are
 * replaced, or the member is inserted as the flag's first key with the indentation of the next key. Everything
 * else stays byte for byte, and the result is checked to mean exactly the expected document.
 */
export function setFlagMember(text: string, path: string, flag: string, key: string, value: unknown): string {
  const root = new Locator(text).root();
  const flags = member(root, 'flags');
  const flagNode = flags ? member(flags.value, flag)?.value : undefined;
  if (!flagNode || flagNode.kind !== 'object') throw invalid(path, `defines no flag "${flag}"`);
  const literal = JSON.stringify(value);
  const existing = member(flagNode, key);
  let next: string;
  if (existing) {
    next = text.slice(0, existing.value.start) + literal + text.slice(existing.value.end);
  } else {
    const first = flagNode.members[0];
    const at = first ? first.keyStart : flagNode.start + 1;
    const gap = first ? text.slice(flagNode.start + 1, first.keyStart) : '';
    next = `${text.slice(0, at)}${JSON.stringify(key)}: ${literal}${first ? `,${gap}` : ''}${text.slice(at)}`;
  }
  const expected = JSON.parse(text) as { flags: Record<string, Record<string, unknown>> };
  expected.flags[flag]![key] = value;
  if (!isDeepStrictEqual(JSON.parse(next), expected)) {
    throw invalid(
      path,
      'could not be edited in place without changing other content: file a bug with the file attached',
    );
  }
  return next;
}

/** A flag's canary split: `{"fractional": [bucketBy?, [canary, w], [baseline, w]]}`. */
export interface FractionalSplit {
  /** The bucketing expression before the buckets (e.g. `{"var": "userId"}`), kept when the share changes. */
  bucketBy?: unknown;
  canary: number;
  baseline: number;
}

/**
 * Reads `targeting` as a two-bucket fractional split of exactly `canary` and `baseline` (either order, integer
 * weights); undefined for anything else, which a share must not overwrite.
 */
export function readSplit(targeting: unknown, canary: string, baseline: string): FractionalSplit | undefined {
  if (!isRecord(targeting) || Object.keys(targeting).length !== 1 || !Array.isArray(targeting.fractional))
    return undefined;
  const args = targeting.fractional as unknown[];
  const bucketBy = args.length === 3 && !Array.isArray(args[0]) ? args[0] : undefined;
  const buckets = bucketBy === undefined ? args : args.slice(1);
  if (buckets.length !== 2) return undefined;
  const weights = new Map<unknown, number>();
  for (const b of buckets) {
    if (!Array.isArray(b) || b.length !== 2 || !Number.isInteger(b[1])) return undefined;
    weights.set(b[0], b[1] as number);
  }
  const c = weights.get(canary);
  const bw = weights.get(baseline);
  if (c === undefined || bw === undefined) return undefined;
  return { ...(bucketBy === undefined ? {} : { bucketBy }), canary: c, baseline: bw };
}

/** The targeting that realises a split: canary first, then the baseline. */
export function splitTargeting(split: FractionalSplit, canary: string, baseline: string): unknown {
  const buckets = [
    [canary, split.canary],
    [baseline, split.baseline],
  ];
  return { fractional: split.bucketBy === undefined ? buckets : [split.bucketBy, ...buckets] };
}
