/**
 * The comparison decoder of the ingest benchmark: protobufjs 7 (reflection, its generated decode code) with
 * the OTLP trace schema built here from field numbers (no .proto files), then normalised into Vigil's
 * request samples with the same rules as the JSON decoder (TraceAccumulator), so "decode + normalize"
 * produces exactly what Vigil's own decoder produces.
 *
 * Field numbers: opentelemetry-proto v1 (collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
 * resource/v1/resource.proto, common/v1/common.proto), as listed in decode-traces-protobuf.ts.
 */
import protobuf from 'protobufjs';
import type { DecodedTraces, Scalar } from '../../src/contracts/telemetry.js';
import type { CohortRules } from '../../src/ingest/cohort.js';
import { AttrBag, compileRules } from '../../src/ingest/otlp/attribute-keys.js';
import { SpanKeyHasher, ZERO_TRACE_KEY, zeroId } from '../../src/ingest/otlp/span-key.js';
import {
  SPAN_KIND_CONSUMER,
  SPAN_KIND_SERVER,
  SpanFacts,
  TraceAccumulator,
  resolveResourceBag,
  splitNanos,
} from '../../src/ingest/otlp/span-to-sample.js';

const f = (id: number, type: string, rule?: 'repeated') => (rule ? { id, type, rule } : { id, type });

const SCHEMA = {
  nested: {
    otlp: {
      nested: {
        ExportTraceServiceRequest: { fields: { resourceSpans: f(1, 'ResourceSpans', 'repeated') } },
        ResourceSpans: {
          fields: { resource: f(1, 'Resource'), scopeSpans: f(2, 'ScopeSpans', 'repeated'), schemaUrl: f(3, 'string') },
        },
        Resource: { fields: { attributes: f(1, 'KeyValue', 'repeated'), droppedAttributesCount: f(2, 'uint32') } },
        ScopeSpans: {
          fields: { scope: f(1, 'InstrumentationScope'), spans: f(2, 'Span', 'repeated'), schemaUrl: f(3, 'string') },
        },
        InstrumentationScope: {
          fields: {
            name: f(1, 'string'),
            version: f(2, 'string'),
            attributes: f(3, 'KeyValue', 'repeated'),
            droppedAttributesCount: f(4, 'uint32'),
          },
        },
        Span: {
          fields: {
            traceId: f(1, 'bytes'),
            spanId: f(2, 'bytes'),
            traceState: f(3, 'string'),
            parentSpanId: f(4, 'bytes'),
            name: f(5, 'string'),
            kind: f(6, 'int32'),
            startTimeUnixNano: f(7, 'fixed64'),
            endTimeUnixNano: f(8, 'fixed64'),
            attributes: f(9, 'KeyValue', 'repeated'),
            droppedAttributesCount: f(10, 'uint32'),
            events: f(11, 'Event', 'repeated'),
            droppedEventsCount: f(12, 'uint32'),
            links: f(13, 'Link', 'repeated'),
            droppedLinksCount: f(14, 'uint32'),
            status: f(15, 'Status'),
            flags: f(16, 'fixed32'),
          },
        },
        Event: {
          fields: {
            timeUnixNano: f(1, 'fixed64'),
            name: f(2, 'string'),
            attributes: f(3, 'KeyValue', 'repeated'),
            droppedAttributesCount: f(4, 'uint32'),
          },
        },
        Link: {
          fields: {
            traceId: f(1, 'bytes'),
            spanId: f(2, 'bytes'),
            traceState: f(3, 'string'),
            attributes: f(4, 'KeyValue', 'repeated'),
            droppedAttributesCount: f(5, 'uint32'),
            flags: f(6, 'fixed32'),
          },
        },
        Status: { fields: { message: f(2, 'string'), code: f(3, 'int32') } },
        KeyValue: { fields: { key: f(1, 'string'), value: f(2, 'AnyValue') } },
        AnyValue: {
          oneofs: {
            value: {
              oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue', 'kvlistValue', 'bytesValue'],
            },
          },
          fields: {
            stringValue: f(1, 'string'),
            boolValue: f(2, 'bool'),
            intValue: f(3, 'int64'),
            doubleValue: f(4, 'double'),
            arrayValue: f(5, 'ArrayValue'),
            kvlistValue: f(6, 'KeyValueList'),
            bytesValue: f(7, 'bytes'),
          },
        },
        ArrayValue: { fields: { values: f(1, 'AnyValue', 'repeated') } },
        KeyValueList: { fields: { values: f(1, 'KeyValue', 'repeated') } },
      },
    },
  },
};

interface LongLike {
  high: number;
  low: number;
}
interface PbAny {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | LongLike;
  doubleValue?: number;
  value?: string;
}
interface PbKeyValue {
  key: string;
  value?: PbAny | null;
}
interface PbSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  name: string;
  kind: number;
  startTimeUnixNano: number | LongLike;
  endTimeUnixNano: number | LongLike;
  attributes: PbKeyValue[];
  status?: { code: number } | null;
}
interface PbRequest {
  resourceSpans: { resource?: { attributes: PbKeyValue[] } | null; scopeSpans: { spans: PbSpan[] }[] }[];
}

export const ExportTraceServiceRequest = protobuf.Root.fromJSON(SCHEMA).lookupType('otlp.ExportTraceServiceRequest');

/** protobufjs decode only. */
export function protobufjsDecode(buf: Uint8Array): unknown {
  return ExportTraceServiceRequest.decode(buf);
}

function scalar(v: PbAny | null | undefined): Scalar {
  if (!v) return undefined;
  switch (v.value) {
    case 'stringValue':
      return v.stringValue;
    case 'boolValue':
      return v.boolValue;
    case 'doubleValue':
      return v.doubleValue;
    case 'intValue': {
      const i = v.intValue!;
      return typeof i === 'number' ? i : i.high * 4294967296 + (i.low >>> 0);
    }
    default:
      return undefined;
  }
}

function nanos(v: number | LongLike, out: [number, number]): void {
  if (typeof v === 'number') {
    const ms = Math.floor(v / 1e6);
    out[0] = ms;
    out[1] = v - ms * 1e6;
  } else splitNanos(v.high >>> 0, v.low >>> 0, out);
}

/** protobufjs decode, then the same normalisation as Vigil's decoders (one walk, shared accumulator). */
export function protobufjsDecodeNormalize(buf: Uint8Array, rules: CohortRules): DecodedTraces {
  const req = ExportTraceServiceRequest.decode(buf) as unknown as PbRequest;
  const compiled = compileRules(rules);
  const acc = new TraceAccumulator();
  const resourceBag = new AttrBag(compiled.roleCount);
  const spanBag = new AttrBag(compiled.roleCount);
  const facts = new SpanFacts();
  const hasher = new SpanKeyHasher();
  const w: [number, number] = [0, 0];
  const fill = (bag: AttrBag, attrs: PbKeyValue[]): void => {
    for (const kv of attrs) {
      if (kv.key.startsWith('http.')) bag.hasHttp = true;
      const roles = compiled.byName.get(kv.key);
      if (roles !== undefined) bag.set(roles, scalar(kv.value));
    }
  };
  for (const rs of req.resourceSpans) {
    resourceBag.reset();
    if (rs.resource) fill(resourceBag, rs.resource.attributes);
    const resolved = resolveResourceBag(compiled, resourceBag);
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        facts.reset();
        spanBag.reset();
        nanos(s.startTimeUnixNano, w);
        facts.startMs = w[0];
        facts.startRem = w[1];
        nanos(s.endTimeUnixNano, w);
        facts.endMs = w[0];
        facts.endRem = w[1];
        facts.kind = s.kind;
        facts.statusCode = s.status?.code ?? 0;
        fill(spanBag, s.attributes);
        const tl = s.traceId.length;
        if ((s.kind === SPAN_KIND_SERVER || s.kind === SPAN_KIND_CONSUMER) && (tl === 16 || tl === 0)) {
          hasher.reset();
          hasher.words(s.traceId, 0, tl >> 2);
          if (tl === 16 && hasher.key() !== ZERO_TRACE_KEY) facts.traceKey = hasher.key();
          if (s.spanId.length === 8 && !zeroId(s.spanId, 0)) {
            hasher.words(s.spanId, 0, 2);
            facts.spanKey = hasher.key();
          }
        }
        acc.add(resolved, facts, spanBag, s.name);
      }
    }
  }
  return acc.result();
}
