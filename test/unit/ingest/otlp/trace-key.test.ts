/**
 * RequestSample.traceKey: a 52-bit hash of the trace id alone, the key that groups the attempts of one request
 * (src/analysis/open-traces.ts). Spans made by the real OpenTelemetry SDK, serialised by its own protobuf and JSON
 * serialisers: both decoders must give the same key, bit for bit.
 */
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { describe, expect, it } from 'vitest';
import { DEFAULT_COHORT_RULES } from '../../../../src/ingest/cohort.js';
import { packTraces, unpackTraces } from '../../../../src/ingest/admission/decode-pool.js';
import { decodeTracesJson } from '../../../../src/ingest/otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../../../../src/ingest/otlp/decode-traces-protobuf.js';
import { SpanKeyHasher } from '../../../../src/ingest/otlp/span-key.js';
import { retriedSpans } from '../../../helpers/retried-spans.js';
import { fBytes, request, span } from '../../../helpers/otlp/pb-writer.js';

const rules = DEFAULT_COHORT_RULES;
const T0 = 1_767_225_600_000;

/** The key of a hex trace id, computed on its own (not by a decoder). */
function keyOf(hexTraceId: string): number {
  const h = new SpanKeyHasher();
  h.reset();
  expect(h.hex(hexTraceId, 4)).toBe(true);
  return h.key();
}

describe('traceKey', () => {
  const traceIds = [
    '0af7651916cd43dd8448eb211c80319c',
    'ffffffffffffffffffffffffffffffff',
    '00000000000000000000000000000001',
  ];
  const spans = retriedSpans(
    { service: 'pay', version: '2.0', cohort: 'canary' },
    traceIds.map((traceId, i) => ({
      traceId,
      attempts: Array.from({ length: i + 1 }, (_, k) => ({
        startMs: T0 + 100 * k,
        endMs: T0 + 100 * k + 50,
        fails: k < i,
      })),
    })),
  );

  it('is the same from OTLP/protobuf and OTLP/JSON, for every attempt of a trace, and differs between traces', () => {
    const fromPb = decodeTracesProtobuf(ProtobufTraceSerializer.serializeRequest(spans)!, rules).samples;
    const fromJson = decodeTracesJson(Buffer.from(JsonTraceSerializer.serializeRequest(spans)!), rules).samples;
    expect(fromPb).toHaveLength(6);
    expect(fromPb.map((s) => s.traceKey)).toEqual(fromJson.map((s) => s.traceKey));
    expect(fromPb.map((s) => s.spanKey)).toEqual(fromJson.map((s) => s.spanKey));
    const want = [0, 1, 1, 2, 2, 2].map((i) => keyOf(traceIds[i]!));
    expect(fromPb.map((s) => s.traceKey)).toEqual(want);
    expect(new Set(want).size).toBe(3);
    for (const k of want) expect(Number.isInteger(k) && k >= 0 && k < 2 ** 52).toBe(true);
    // every attempt keeps a span key of its own (de-duplication), which is not the trace key
    expect(new Set(fromPb.map((s) => s.spanKey)).size).toBe(6);
    expect(fromPb.some((s) => s.spanKey === s.traceKey)).toBe(false);
    // and the decode workers' columns carry it
    const decoded = decodeTracesProtobuf(ProtobufTraceSerializer.serializeRequest(spans)!, rules);
    expect(unpackTraces(packTraces(decoded)).samples.map((s) => s.traceKey)).toEqual(want);
  });

  it('reads hex ids in either case; none for an absent, all-zero or malformed trace id, from either decoder', () => {
    const json = (traceId: string | undefined) =>
      decodeTracesJson(
        JSON.stringify({
          resourceSpans: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'pay' } }] },
              scopeSpans: [
                {
                  spans: [
                    {
                      ...(traceId === undefined ? {} : { traceId }),
                      spanId: 'eee19b7ec3c1b174',
                      name: 'GET /',
                      kind: 2,
                      startTimeUnixNano: '1767225600000000000',
                      endTimeUnixNano: '1767225600020000000',
                    },
                  ],
                },
              ],
            },
          ],
        }),
        rules,
      ).samples[0]!;
    const pb = (traceId: number[] | undefined) =>
      decodeTracesProtobuf(
        request(
          [],
          [
            span({
              kind: 2,
              start: 1_767_225_600_000_000_000n,
              end: 1_767_225_600_020_000_000n,
              // a repeated singular field: the last occurrence wins
              extra: traceId === undefined ? [] : [fBytes(1, traceId)],
            }),
          ],
        ),
        rules,
      ).samples[0]!;
    const id = '0AF7651916CD43DD8448EB211C80319C';
    expect(json(id).traceKey).toBe(keyOf(id.toLowerCase()));
    expect(pb([...Buffer.from(id, 'hex')]).traceKey).toBe(keyOf(id.toLowerCase()));
    // all zero: invalid (the W3C spec), so no trace key; the span id still gives a span key
    expect(json('0'.repeat(32)).traceKey).toBeUndefined();
    expect(json('0'.repeat(32)).spanKey).toEqual(expect.any(Number));
    expect(pb(new Array<number>(16).fill(0)).traceKey).toBeUndefined();
    expect(pb(new Array<number>(16).fill(0)).spanKey).toEqual(expect.any(Number));
    // absent, or not 16 bytes / 32 hex digits: no key of either kind from either decoder
    expect(json(undefined).traceKey).toBeUndefined();
    expect(json('').traceKey).toBeUndefined();
    expect(json('0af7651916cd43dd').traceKey).toBeUndefined();
    expect(pb(new Array<number>(8).fill(7)).traceKey).toBeUndefined();
    expect(pb([]).traceKey).toBeUndefined();
  });
});
