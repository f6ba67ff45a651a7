import type { DecodedTraces, Scalar } from '../../contracts/telemetry.js';
import { cutString, fitsBytes } from '../bounded-text.js';
import type { CohortRules } from '../cohort.js';
import type { CompiledRules } from './attribute-keys.js';
import type { Obj } from './otlp-json-values.js';
import { arr, enumValue, field, isObj, jsonError, nanos, obj } from './otlp-json-values.js';
import { AttrBag, compileRules } from './attribute-keys.js';
import type { ResolvedResource } from './span-to-sample.js';
import { SpanKeyHasher, ZERO_TRACE_KEY } from './span-key.js';
import {
  SPAN_KIND_CONSUMER,
  SPAN_KIND_SERVER,
  SpanFacts,
  TraceAccumulator,
  needsNameAsRoute,
  resolveResourceBag,
} from './span-to-sample.js';

/**
 * Decodes an OTLP/JSON ExportTraceServiceRequest into request samples, with the same meaning as the
 * protobuf decoder (both feed TraceAccumulator). Accepted quirks (OTLP.md "JSON encoding quirks"):
 * lowerCamelCase and snake_case keys; 64-bit integers as decimal strings or JSON numbers; enums as numbers,
 * numeric strings or names (`SPAN_KIND_SERVER`, `SERVER`, `STATUS_CODE_ERROR`); doubles as `"NaN"`,
 * `"Infinity"`, `"-Infinity"`; unknown fields ignored; ids are hex in either case (hashed into spanKey and traceKey as
 * the protobuf decoder does; an id that is not 16/8-byte hex gives no key and is never a decode error).
 * `null` counts as absent. Method: JSON.parse, then one walk; O(size of the body).
 *
 * @throws VigilError VIGIL_ERR_INGEST_DECODE on invalid JSON or a field of the wrong type, naming its path.
 */
export function decodeTracesJson(body: Buffer | string, rules: CohortRules): DecodedTraces {
  let root: unknown;
  try {
    root = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    throw jsonError(`invalid JSON: ${(err as Error).message}`, err);
  }
  const compiled = compileRules(rules);
  const d = new JsonDecoder(compiled);
  d.request(root);
  return d.acc.result();
}

const SPAN_KINDS: Readonly<Record<string, number>> = {
  UNSPECIFIED: 0,
  INTERNAL: 1,
  SERVER: 2,
  CLIENT: 3,
  PRODUCER: 4,
  CONSUMER: 5,
};
const STATUS_CODES: Readonly<Record<string, number>> = { UNSET: 0, OK: 1, ERROR: 2 };

/** The scalar inside an AnyValue; arrays, kvlists and bytes are not read. */
function anyValueScalar(v: unknown): Scalar {
  if (!isObj(v)) return undefined;
  const s = field(v, 'stringValue', 'string_value');
  if (typeof s === 'string') return s;
  const i = field(v, 'intValue', 'int_value');
  if (typeof i === 'number') return i;
  if (typeof i === 'string' && /^-?[0-9]+$/.test(i)) return Number(i);
  const b = field(v, 'boolValue', 'bool_value');
  if (typeof b === 'boolean') return b;
  const d = field(v, 'doubleValue', 'double_value');
  if (typeof d === 'number') return d;
  if (typeof d === 'string') {
    const n = Number(d);
    return Number.isNaN(n) && d !== 'NaN' ? undefined : n;
  }
  return undefined;
}

class JsonDecoder {
  readonly acc: TraceAccumulator;
  private readonly compiled: CompiledRules;
  private readonly maxNameBytes: number;
  private readonly resourceBag: AttrBag;
  private readonly spanBag: AttrBag;
  private readonly facts = new SpanFacts();
  private readonly hasher = new SpanKeyHasher();
  private readonly split: [number, number] = [0, 0];

  constructor(compiled: CompiledRules) {
    this.compiled = compiled;
    this.maxNameBytes = compiled.maxNameBytes;
    this.acc = new TraceAccumulator(compiled.maxNameBytes);
    this.resourceBag = new AttrBag(compiled.roleCount);
    this.spanBag = new AttrBag(compiled.roleCount);
  }

  request(root: unknown): void {
    if (!isObj(root)) throw jsonError('the request must be an object');
    const rss = arr(field(root, 'resourceSpans', 'resource_spans'), () => 'resourceSpans');
    for (let i = 0; i < rss.length; i++) this.resourceSpans(rss[i], i);
  }

  private resourceSpans(v: unknown, ri: number): void {
    const rs = obj(v, () => `resourceSpans[${ri}]`);
    if (rs === undefined) return;
    const bag = this.resourceBag;
    bag.reset();
    const resource = obj(field(rs, 'resource', 'resource'), () => `resourceSpans[${ri}].resource`);
    if (resource !== undefined) this.attributes(resource, bag, () => `resourceSpans[${ri}].resource`);
    const resolved = resolveResourceBag(this.compiled, bag);
    const scopes = arr(field(rs, 'scopeSpans', 'scope_spans'), () => `resourceSpans[${ri}].scopeSpans`);
    for (let si = 0; si < scopes.length; si++) {
      const scope = obj(scopes[si], () => `resourceSpans[${ri}].scopeSpans[${si}]`);
      if (scope === undefined) continue;
      const spans = arr(field(scope, 'spans', 'spans'), () => `resourceSpans[${ri}].scopeSpans[${si}].spans`);
      for (let pi = 0; pi < spans.length; pi++) this.span(spans[pi], resolved, ri, si, pi);
    }
  }

  private attributes(holder: Obj, bag: AttrBag, at: () => string): void {
    const attrs = arr(field(holder, 'attributes', 'attributes'), () => `${at()}.attributes`);
    const byName = this.compiled.byName;
    for (let i = 0; i < attrs.length; i++) {
      const kv = attrs[i];
      if (!isObj(kv)) throw jsonError(`${at()}.attributes[${i}] must be an object`);
      const key = kv.key;
      if (typeof key !== 'string') continue;
      if (key.startsWith('http.')) bag.hasHttp = true;
      const roles = byName.get(key);
      if (roles === undefined) continue;
      const value = anyValueScalar(kv.value);
      if (typeof value !== 'string' || fitsBytes(value, this.maxNameBytes)) bag.set(roles, value);
      else bag.setLong(roles, () => cutString(value, this.maxNameBytes));
    }
  }

  private span(v: unknown, resource: ResolvedResource, ri: number, si: number, pi: number): void {
    const at = (): string => `resourceSpans[${ri}].scopeSpans[${si}].spans[${pi}]`;
    const s = obj(v, at);
    if (s === undefined) return;
    const f = this.facts;
    const bag = this.spanBag;
    f.reset();
    bag.reset();
    const w = this.split;
    const start = field(s, 'startTimeUnixNano', 'start_time_unix_nano');
    nanos(start, w, () => `${at()}.startTimeUnixNano`);
    f.startMs = w[0];
    f.startRem = w[1];
    const end = field(s, 'endTimeUnixNano', 'end_time_unix_nano');
    nanos(end, w, () => `${at()}.endTimeUnixNano`);
    f.endMs = w[0];
    f.endRem = w[1];
    f.kind = enumValue(field(s, 'kind', 'kind'), SPAN_KINDS, 'SPAN_KIND_', () => `${at()}.kind`);
    const status = obj(field(s, 'status', 'status'), () => `${at()}.status`);
    if (status !== undefined) {
      f.statusCode = enumValue(
        field(status, 'code', 'code'),
        STATUS_CODES,
        'STATUS_CODE_',
        () => `${at()}.status.code`,
      );
    }
    this.attributes(s, bag, at);
    if (f.kind === SPAN_KIND_SERVER || f.kind === SPAN_KIND_CONSUMER) this.keys(s);
    const name = field(s, 'name', 'name');
    let route: string | undefined;
    if (typeof name === 'string' && needsNameAsRoute(f.kind, bag)) {
      route = fitsBytes(name, this.maxNameBytes) ? name : cutString(name, this.maxNameBytes);
      f.nameCut = route !== name;
    }
    this.acc.add(resource, f, bag, route);
  }

  /** The span's keys from its hex ids, into the facts, exactly as the protobuf decoder's `keys`. */
  private keys(s: Obj): void {
    const traceId = field(s, 'traceId', 'trace_id');
    const f = this.facts;
    const h = this.hasher;
    h.reset();
    if (typeof traceId === 'string' && traceId !== '') {
      if (!h.hex(traceId, 4)) return;
      const traceKey = h.key();
      if (traceKey !== ZERO_TRACE_KEY) f.traceKey = traceKey;
    }
    const spanId = field(s, 'spanId', 'span_id');
    if (typeof spanId === 'string' && h.hex(spanId, 2) && !/^0+$/.test(spanId)) f.spanKey = h.key();
  }
}
