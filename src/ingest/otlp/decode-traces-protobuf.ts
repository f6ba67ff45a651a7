import type { DecodedTraces, Scalar } from '../../contracts/telemetry.js';
import { cutBytes } from '../bounded-text.js';
import type { CohortRules } from '../cohort.js';
import type { CompiledRules } from './attribute-keys.js';
import { AttrBag, compileRules, isHttpKeyBytes } from './attribute-keys.js';
import { ProtoReader, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT } from './proto-reader.js';
import { SpanKeyHasher, ZERO_TRACE_KEY, zeroId } from './span-key.js';
import type { ResolvedResource } from './span-to-sample.js';
import {
  SPAN_KIND_CONSUMER,
  SPAN_KIND_SERVER,
  SpanFacts,
  TraceAccumulator,
  needsNameAsRoute,
  resolveResourceBag,
  splitNanos,
} from './span-to-sample.js';

/**
 * Decodes an OTLP ExportTraceServiceRequest (protobuf) straight into request samples.
 *
 * Field numbers (opentelemetry-proto v1.x; checked against collector/trace/v1/trace_service.proto,
 * trace/v1/trace.proto, resource/v1/resource.proto, common/v1/common.proto):
 *   ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1 }
 *   ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3 }
 *   Resource      { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; ... }
 *   ScopeSpans    { InstrumentationScope scope = 1; repeated Span spans = 2; string schema_url = 3 }
 *   Span          { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4;
 *                   string name = 5; SpanKind kind = 6; fixed64 start_time_unix_nano = 7;
 *                   fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; ...; Status status = 15;
 *                   fixed32 flags = 16 }
 *   Status        { string message = 2; StatusCode code = 3 }   (field 1 is reserved)
 *   KeyValue      { string key = 1; AnyValue value = 2 }
 *   AnyValue      { oneof: string 1, bool 2, int64 3, double 4, ArrayValue 5, KeyValueList 6, bytes 7 }
 *
 * Method: one pass per message with a shared reader; a ResourceSpans is scanned twice (first for its
 * resource, which may follow the scope_spans on the wire, then for the spans) so that version and cohort
 * are resolved once per resource. Only the attributes Vigil reads are decoded (keys compared on their
 * bytes), and a string longer than limits.maxNameLength never becomes a string (bounded-text.ts); the trace and span ids of request spans are hashed into the sample's spanKey and traceKey (span-key.ts);
 * everything else, including events and links, is skipped by length. Cost O(bytes), one
 * allocation per request sample plus the strings of recognised attributes.
 *
 * @throws VigilError VIGIL_ERR_INGEST_DECODE naming the offset and the field, on malformed input.
 */
export function decodeTracesProtobuf(buf: Uint8Array, rules: CohortRules): DecodedTraces {
  const bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const compiled = compileRules(rules);
  const d = new Decoder(new ProtoReader(bytes), compiled);
  d.request(bytes.length);
  return d.acc.result();
}

class Decoder {
  readonly acc: TraceAccumulator;
  private readonly resourceBag: AttrBag;
  private readonly spanBag: AttrBag;
  private readonly facts = new SpanFacts();
  private readonly hasher = new SpanKeyHasher();
  private readonly split: [number, number] = [0, 0];
  private readonly r: ProtoReader;
  private readonly compiled: CompiledRules;
  private readonly maxNameBytes: number;
  /** Where the string of the last AnyValue read lies when it is longer than maxNameBytes (else -1). */
  private longStart = -1;
  private longEnd = -1;

  constructor(r: ProtoReader, compiled: CompiledRules) {
    this.r = r;
    this.compiled = compiled;
    this.maxNameBytes = compiled.maxNameBytes;
    this.acc = new TraceAccumulator(compiled.maxNameBytes);
    this.resourceBag = new AttrBag(compiled.roleCount);
    this.spanBag = new AttrBag(compiled.roleCount);
  }

  request(end: number): void {
    const r = this.r;
    while (r.pos < end) {
      const tag = r.tag(end, 'ExportTraceServiceRequest');
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN, 'ExportTraceServiceRequest.resource_spans');
        const e = r.lengthDelimited(end, 'ExportTraceServiceRequest.resource_spans');
        this.resourceSpans(e);
        r.pos = e;
      } else r.skip(tag, end, 'ExportTraceServiceRequest');
    }
  }

  private resourceSpans(end: number): void {
    const r = this.r;
    const start = r.pos;
    const bag = this.resourceBag;
    bag.reset();
    // pass 1: the resource (a singular message field; repeated occurrences merge)
    while (r.pos < end) {
      const tag = r.tag(end, 'ResourceSpans');
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN, 'ResourceSpans.resource');
        const e = r.lengthDelimited(end, 'ResourceSpans.resource');
        this.resource(e);
        r.pos = e;
      } else if (tag >>> 3 === 2) {
        r.expect(tag, WIRE_LEN, 'ResourceSpans.scope_spans');
        r.pos = r.lengthDelimited(end, 'ResourceSpans.scope_spans');
      } else r.skip(tag, end, 'ResourceSpans');
    }
    const resolved = resolveResourceBag(this.compiled, bag);
    // pass 2: the spans
    r.pos = start;
    while (r.pos < end) {
      const tag = r.tag(end, 'ResourceSpans');
      if (tag >>> 3 === 2) {
        r.expect(tag, WIRE_LEN, 'ResourceSpans.scope_spans');
        const e = r.lengthDelimited(end, 'ResourceSpans.scope_spans');
        this.scopeSpans(e, resolved);
        r.pos = e;
      } else r.skip(tag, end, 'ResourceSpans');
    }
  }

  private resource(end: number): void {
    const r = this.r;
    while (r.pos < end) {
      const tag = r.tag(end, 'Resource');
      if (tag >>> 3 === 1) {
        r.expect(tag, WIRE_LEN, 'Resource.attributes');
        const e = r.lengthDelimited(end, 'Resource.attributes');
        this.keyValue(e, this.resourceBag);
        r.pos = e;
      } else r.skip(tag, end, 'Resource');
    }
  }

  private scopeSpans(end: number, resource: ResolvedResource): void {
    const r = this.r;
    while (r.pos < end) {
      const tag = r.tag(end, 'ScopeSpans');
      if (tag >>> 3 === 2) {
        r.expect(tag, WIRE_LEN, 'ScopeSpans.spans');
        const e = r.lengthDelimited(end, 'ScopeSpans.spans');
        this.span(e, resource);
        r.pos = e;
      } else r.skip(tag, end, 'ScopeSpans');
    }
  }

  private span(end: number, resource: ResolvedResource): void {
    const r = this.r;
    const f = this.facts;
    const bag = this.spanBag;
    f.reset();
    bag.reset();
    let nameStart = 0;
    let nameEnd = 0;
    let traceStart = 0;
    let traceEnd = 0;
    let idStart = 0;
    let idEnd = 0;
    while (r.pos < end) {
      const tag = r.tag(end, 'Span');
      switch (tag >>> 3) {
        case 1:
          r.expect(tag, WIRE_LEN, 'Span.trace_id');
          traceEnd = r.lengthDelimited(end, 'Span.trace_id');
          traceStart = r.pos;
          r.pos = traceEnd;
          break;
        case 2:
          r.expect(tag, WIRE_LEN, 'Span.span_id');
          idEnd = r.lengthDelimited(end, 'Span.span_id');
          idStart = r.pos;
          r.pos = idEnd;
          break;
        case 5:
          r.expect(tag, WIRE_LEN, 'Span.name');
          nameEnd = r.lengthDelimited(end, 'Span.name');
          nameStart = r.pos;
          r.pos = nameEnd;
          break;
        case 6:
          r.expect(tag, WIRE_VARINT, 'Span.kind');
          f.kind = r.varint32(end, 'Span.kind') | 0;
          break;
        case 7:
          r.expect(tag, WIRE_FIXED64, 'Span.start_time_unix_nano');
          r.fixed64(end, 'Span.start_time_unix_nano');
          splitNanos(r.hi, r.lo, this.split);
          f.startMs = this.split[0];
          f.startRem = this.split[1];
          break;
        case 8:
          r.expect(tag, WIRE_FIXED64, 'Span.end_time_unix_nano');
          r.fixed64(end, 'Span.end_time_unix_nano');
          splitNanos(r.hi, r.lo, this.split);
          f.endMs = this.split[0];
          f.endRem = this.split[1];
          break;
        case 9: {
          r.expect(tag, WIRE_LEN, 'Span.attributes');
          const e = r.lengthDelimited(end, 'Span.attributes');
          this.keyValue(e, bag);
          r.pos = e;
          break;
        }
        case 15: {
          r.expect(tag, WIRE_LEN, 'Span.status');
          const e = r.lengthDelimited(end, 'Span.status');
          this.status(e);
          r.pos = e;
          break;
        }
        default:
          r.skip(tag, end, 'Span');
      }
    }
    if (f.kind === SPAN_KIND_SERVER || f.kind === SPAN_KIND_CONSUMER)
      this.keys(traceStart, traceEnd - traceStart, idStart, idEnd - idStart);
    const name = nameEnd > nameStart && needsNameAsRoute(f.kind, bag) ? this.name(nameStart, nameEnd) : undefined;
    this.acc.add(resource, f, bag, name);
  }

  /** The span name in buf[start, end) as the route: cut when longer than the limit (bounded-text.ts). */
  private name(start: number, end: number): string {
    if (end - start <= this.maxNameBytes) return this.r.text(start, end);
    this.facts.nameCut = true;
    return cutBytes(this.r.buf, start, end, this.maxNameBytes);
  }

  /**
   * The span's keys from its id bytes (span-key.ts), into the facts: spanKey without a valid 8-byte span id (or
   * with a trace id of another length than 16 or 0) stays undefined, traceKey without a 16-byte trace id that
   * is not all zero.
   */
  private keys(traceAt: number, traceLength: number, idAt: number, idLength: number): void {
    if (traceLength !== 16 && traceLength !== 0) return;
    const buf = this.r.buf;
    const f = this.facts;
    const h = this.hasher;
    h.reset();
    if (traceLength === 16) {
      h.words(buf, traceAt, 4);
      const traceKey = h.key();
      if (traceKey !== ZERO_TRACE_KEY) f.traceKey = traceKey;
    }
    if (idLength !== 8 || zeroId(buf, idAt)) return;
    h.words(buf, idAt, 2);
    f.spanKey = h.key();
  }

  private status(end: number): void {
    const r = this.r;
    while (r.pos < end) {
      const tag = r.tag(end, 'Status');
      if (tag >>> 3 === 3) {
        r.expect(tag, WIRE_VARINT, 'Status.code');
        this.facts.statusCode = r.varint32(end, 'Status.code') | 0;
      } else r.skip(tag, end, 'Status');
    }
  }

  /** A KeyValue: the key is compared on its bytes; the value is decoded only for a recognised key. */
  private keyValue(end: number, bag: AttrBag): void {
    const r = this.r;
    let keyStart = 0;
    let keyEnd = 0;
    let valueStart = -1;
    let valueEnd = -1;
    while (r.pos < end) {
      const tag = r.tag(end, 'KeyValue');
      const field = tag >>> 3;
      if (field === 1) {
        r.expect(tag, WIRE_LEN, 'KeyValue.key');
        keyEnd = r.lengthDelimited(end, 'KeyValue.key');
        keyStart = r.pos;
        r.pos = keyEnd;
      } else if (field === 2) {
        r.expect(tag, WIRE_LEN, 'KeyValue.value');
        valueEnd = r.lengthDelimited(end, 'KeyValue.value');
        valueStart = r.pos;
        r.pos = valueEnd;
      } else r.skip(tag, end, 'KeyValue');
    }
    const buf = r.buf;
    if (isHttpKeyBytes(buf, keyStart, keyEnd)) bag.hasHttp = true;
    const roles = this.compiled.matchBytes(buf, keyStart, keyEnd);
    if (roles === undefined) return;
    let value: Scalar = undefined;
    this.longStart = -1;
    if (valueStart >= 0) {
      r.pos = valueStart;
      value = this.anyValue(valueEnd);
    }
    if (this.longStart < 0) bag.set(roles, value);
    else {
      const { longStart, longEnd, maxNameBytes } = this;
      bag.setLong(roles, () => cutBytes(buf, longStart, longEnd, maxNameBytes));
    }
    r.pos = end;
  }

  /** The scalar in an AnyValue (the last oneof member on the wire wins); arrays, kvlists, bytes: undefined. */
  private anyValue(end: number): Scalar {
    const r = this.r;
    let value: Scalar = undefined;
    while (r.pos < end) {
      const tag = r.tag(end, 'AnyValue');
      switch (tag >>> 3) {
        case 1: {
          r.expect(tag, WIRE_LEN, 'AnyValue.string_value');
          const e = r.lengthDelimited(end, 'AnyValue.string_value');
          // a string longer than the limit is never built here (keyValue keeps its cut form, or nothing)
          if (e - r.pos <= this.maxNameBytes) {
            value = r.text(r.pos, e);
            this.longStart = -1;
          } else {
            value = undefined;
            this.longStart = r.pos;
            this.longEnd = e;
          }
          r.pos = e;
          break;
        }
        case 2:
          r.expect(tag, WIRE_VARINT, 'AnyValue.bool_value');
          value = r.varint32(end, 'AnyValue.bool_value') !== 0;
          this.longStart = -1;
          break;
        case 3:
          r.expect(tag, WIRE_VARINT, 'AnyValue.int_value');
          value = r.varint64(end, 'AnyValue.int_value');
          this.longStart = -1;
          break;
        case 4:
          r.expect(tag, WIRE_FIXED64, 'AnyValue.double_value');
          value = r.double(end, 'AnyValue.double_value');
          this.longStart = -1;
          break;
        case 5:
        case 6:
        case 7:
          r.expect(tag, WIRE_LEN, 'AnyValue');
          r.skip(tag, end, 'AnyValue');
          value = undefined;
          this.longStart = -1;
          break;
        default:
          r.skip(tag, end, 'AnyValue');
      }
    }
    return value;
  }
}
