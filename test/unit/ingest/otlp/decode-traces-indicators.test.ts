import { SpanKind, type Attributes, type AttributeValue } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Where } from '../../../../src/contracts/detector.js';
import type { DecodedTraces, Scalar, SpanIndicatorSpec } from '../../../../src/contracts/telemetry.js';
import { DecodePool, decodeInline, packTraces, unpackTraces } from '../../../../src/ingest/admission/decode-pool.js';
import { DEFAULT_COHORT_RULES, type CohortRules } from '../../../../src/ingest/cohort.js';
import { decodeTracesJson } from '../../../../src/ingest/otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../../../../src/ingest/otlp/decode-traces-protobuf.js';
import { matchesWhere, spanThenResource } from '../../../../src/ingest/where.js';

/**
 * Span indicators (CohortRules.spanIndicators): spans made by the real OpenTelemetry SDK, serialised by its own
 * protobuf and JSON serialisers, decode to identical samples whose `indicators` are the keys whose `where` the span
 * (else its resource) matches.
 */

interface SpanSpec {
  kind: SpanKind;
  attrs: Attributes;
}
interface ResourceSpec {
  attrs: Attributes;
  spans: SpanSpec[];
}

/** Spans of the SDK; span i of the whole list lasts i + 1 ms (so samples can be told apart). */
function sdkSpans(resources: ResourceSpec[]): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  let i = 0;
  for (const r of resources) {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'shop', 'service.version': '1.0', ...r.attrs }),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
    const tracer = provider.getTracer('indicators');
    for (const s of r.spans) {
      const start = 1_767_225_600_000 + i;
      tracer.startSpan('op', { kind: s.kind, attributes: s.attrs, startTime: start }).end(start + ++i);
    }
    out.push(...memory.getFinishedSpans());
  }
  return out;
}

function decodeBoth(spans: ReadableSpan[], rules: CohortRules): DecodedTraces {
  const pb = decodeTracesProtobuf(ProtobufTraceSerializer.serializeRequest(spans)!, rules);
  const json = decodeTracesJson(Buffer.from(JsonTraceSerializer.serializeRequest(spans)!), rules);
  expect(json).toStrictEqual(pb);
  return pb;
}

/** Indicators by span duration (ms, the span's 1-based position). */
function byDuration(d: DecodedTraces): Record<number, string[] | undefined> {
  return Object.fromEntries(d.samples.map((s) => [Math.round(s.durationMs), s.indicators]));
}

const INDICATORS: SpanIndicatorSpec[] = [
  { key: 'checkout', where: { 'http.route': '/checkout' } },
  { key: 'checkout-5xx', where: { 'http.route': '/checkout', 'http.response.status_code': [500, 503] } },
  { key: 'miss', where: { 'cache.hit': false } },
  { key: 'miss-text', where: { 'cache.hit': 'false' } },
  { key: 'eu', where: { 'cloud.region': 'eu-west-1' } },
  { key: 'half', where: { 'sample.ratio': 0.5 } },
  { key: 'tries', where: { 'retry.count': '2' } },
  { key: 'tagged', where: { tags: 'a' } },
  { key: 'nowhere', where: { 'http.route': '/nowhere' } },
  { key: 'all', where: {} },
];
const rules: CohortRules = { ...DEFAULT_COHORT_RULES, spanIndicators: INDICATORS };

const RESOURCES: ResourceSpec[] = [
  {
    attrs: { 'cloud.region': 'eu-west-1' },
    spans: [
      /* 1 */ { kind: SpanKind.SERVER, attrs: { 'http.route': '/checkout', 'http.response.status_code': 503 } },
      /* 2 */ { kind: SpanKind.SERVER, attrs: { 'http.route': '/checkout', 'http.response.status_code': 200 } },
      /* 3 */ { kind: SpanKind.SERVER, attrs: { 'http.route': '/cart', 'cache.hit': false } },
      /* 4 */ { kind: SpanKind.SERVER, attrs: { 'http.route': '/cart', 'cache.hit': 'false', 'cloud.region': 'us' } },
      /* 5 */ { kind: SpanKind.CLIENT, attrs: { 'http.route': '/checkout', 'cache.hit': false } },
      /* 6 */ { kind: SpanKind.CONSUMER, attrs: { 'sample.ratio': 0.5, 'retry.count': 2, tags: ['a'] } },
    ],
  },
  {
    attrs: { 'cloud.region': 'us-east-1', 'cache.hit': true },
    spans: [
      /* 7 */ { kind: SpanKind.SERVER, attrs: { 'http.route': '/cart', 'cache.hit': true, 'sample.ratio': 0.25 } },
      /* 8 */ { kind: SpanKind.SERVER, attrs: { 'http.route': '/cart', 'cache.hit': false } },
      /* 9 */ { kind: SpanKind.SERVER, attrs: { 'http.route': '/cart', 'cloud.region': 'eu-west-1' } },
    ],
  },
];

describe('span indicators: decoders', () => {
  it('mark request spans with the keys whose where matches, identically from protobuf and JSON', () => {
    const d = decodeBoth(sdkSpans(RESOURCES), rules);
    expect(d.nonRequestSpans).toBe(1); // the CLIENT span is no request: no sample, no indicators
    expect(byDuration(d)).toEqual({
      1: ['checkout', 'checkout-5xx', 'eu', 'all'],
      2: ['checkout', 'eu', 'all'],
      3: ['miss', 'miss-text', 'eu', 'all'], // a boolean false matches false and "false"
      4: ['miss', 'miss-text', 'all'], // a string "false" too; the span's region wins over the resource's
      6: ['eu', 'half', 'tries', 'all'], // double 0.5, int 2 as "2"; an array value is never read
      7: ['all'],
      8: ['miss', 'miss-text', 'all'], // the span's false wins over the resource's true
      9: ['eu', 'all'],
    });
  });

  it('change nothing else: the samples are those decoded without span indicators, which have no indicators', () => {
    const spans = sdkSpans(RESOURCES);
    const without = decodeBoth(spans, DEFAULT_COHORT_RULES);
    expect(without.samples.every((s) => !('indicators' in s))).toBe(true);
    const withIndicators = decodeBoth(spans, rules);
    expect(withIndicators.samples.map(({ indicators: _, ...s }) => s)).toStrictEqual(without.samples);
    expect(withIndicators.samples.map((s) => s.route)).toEqual(
      ['/checkout', '/checkout', '/cart', '/cart', 'op'].concat(['/cart', '/cart', '/cart']),
    );
  });

  it('leave indicators absent when none matches, and match on the cohort attribute and pod labels too', () => {
    const only: CohortRules = {
      ...DEFAULT_COHORT_RULES,
      spanIndicators: [
        { key: 'nowhere', where: { 'http.route': '/nowhere' } },
        { key: 'canary-track', where: { 'k8s.pod.label.track': 'canary', 'vigil.cohort': 'canary' } },
      ],
    };
    const d = decodeBoth(
      sdkSpans([
        {
          attrs: { 'k8s.pod.label.track': 'canary' },
          spans: [{ kind: SpanKind.SERVER, attrs: { 'vigil.cohort': 'canary' } }],
        },
        { attrs: {}, spans: [{ kind: SpanKind.SERVER, attrs: { 'http.route': '/a' } }] },
      ]),
      only,
    );
    expect(d.samples.map((s) => [s.cohort, s.indicators])).toEqual([
      ['canary', ['canary-track']],
      ['unknown', undefined],
    ]);
    expect('indicators' in d.samples[1]!).toBe(false);
  });

  it('never match a value longer than limits.maxNameLength (the route keeps its cut form)', () => {
    const long = `/${'x'.repeat(40)}`;
    const short: CohortRules = {
      ...DEFAULT_COHORT_RULES,
      maxNameBytes: 32,
      spanIndicators: [
        { key: 'long', where: { 'http.route': long } },
        { key: 'any', where: { 'http.route': [long, '/ok'] } },
      ],
    };
    const d = decodeBoth(
      sdkSpans([
        {
          attrs: {},
          spans: [
            { kind: SpanKind.SERVER, attrs: { 'http.route': long } },
            { kind: SpanKind.SERVER, attrs: { 'http.route': '/ok' } },
          ],
        },
      ]),
      short,
    );
    expect(d.samples[0]!.route).not.toBe(long);
    expect(d.samples[0]!.route!.startsWith('/xxx')).toBe(true);
    expect(d.samples.map((s) => s.indicators)).toEqual([undefined, ['any']]);
  });

  it('merge two indicators of one key (either where matches) and keep configuration order', () => {
    const twice: CohortRules = {
      ...DEFAULT_COHORT_RULES,
      spanIndicators: [
        { key: 'b', where: { 'http.route': '/b' } },
        { key: 'a', where: { 'http.route': '/a' } },
        { key: 'b', where: { 'http.route': '/a' } },
      ],
    };
    const d = decodeBoth(
      sdkSpans([
        {
          attrs: {},
          spans: [
            { kind: SpanKind.SERVER, attrs: { 'http.route': '/a' } },
            { kind: SpanKind.SERVER, attrs: { 'http.route': '/b' } },
          ],
        },
      ]),
      twice,
    );
    expect(d.samples.map((s) => s.indicators)).toEqual([['b', 'a'], ['b']]);
  });

  it('survive the decode workers (packed columns) and the inline path alike', async () => {
    const pb = Buffer.from(ProtobufTraceSerializer.serializeRequest(sdkSpans(RESOURCES))!);
    const inline = decodeInline(pb, 'protobuf', rules);
    expect(unpackTraces(packTraces(inline))).toStrictEqual(inline);
    const none = decodeInline(pb, 'protobuf', DEFAULT_COHORT_RULES);
    expect(packTraces(none).indicators).toBeUndefined();
    expect(unpackTraces(packTraces(none))).toStrictEqual(none);
    const pool = new DecodePool({ rules, workers: 1, minBytes: 1 });
    try {
      expect(await pool.decode(pb, 'protobuf')).toStrictEqual(inline);
    } finally {
      await pool.close();
    }
  });
});

// ---- property: the decoders agree with matchesWhere on the SDK's attributes ----

const KEYS = ['k.a', 'k.b', 'http.route', 'http.response.status_code'] as const;
const value: fc.Arbitrary<AttributeValue> = fc.oneof(
  fc.constantFrom('x', 'y', 'true', '200', '0.5'),
  fc.constantFrom(200, 404, 0),
  fc.constantFrom(0.5, 1.5),
  fc.boolean(),
  fc.constant<AttributeValue>(['x']),
);
const attrsArb: fc.Arbitrary<Attributes> = fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 4 });
const expected = fc.oneof(
  fc.constantFrom('x', 'y', 'true', '200', '0.5'),
  fc.constantFrom(200, 0.5, 1.5),
  fc.boolean(),
);
const whereArb: fc.Arbitrary<Where> = fc.dictionary(
  fc.constantFrom(...KEYS),
  fc.oneof(expected, fc.array(expected, { minLength: 1, maxLength: 3 })),
  { maxKeys: 3 },
);

/** What the decoders read of an attribute: scalars; arrays are absent. */
const read =
  (a: Attributes) =>
  (key: string): Scalar => {
    const v = a[key];
    return Array.isArray(v) || v === null ? undefined : v;
  };

describe('span indicators: property', () => {
  it('protobuf and JSON give the keys matchesWhere gives on the span, else resource, attributes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ attrs: attrsArb, spans: fc.array(attrsArb, { minLength: 1, maxLength: 4 }) }), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.array(whereArb, { minLength: 1, maxLength: 4 }),
        (resources, wheres) => {
          const specs = wheres.map((where, i) => ({ key: `i${i}`, where }));
          const spans = sdkSpans(
            resources.map((r) => ({
              attrs: r.attrs,
              spans: r.spans.map((attrs) => ({ kind: SpanKind.SERVER, attrs })),
            })),
          );
          const got = byDuration(decodeBoth(spans, { ...DEFAULT_COHORT_RULES, spanIndicators: specs }));
          let i = 0;
          for (const r of resources) {
            for (const attrs of r.spans) {
              const get = spanThenResource(read(attrs), read(r.attrs));
              const keys = specs.filter((s) => matchesWhere(s.where, get)).map((s) => s.key);
              expect(got[++i]).toEqual(keys.length > 0 ? keys : undefined);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
