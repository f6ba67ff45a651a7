import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
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
import type { CohortRules } from '../../../../src/ingest/cohort.js';
import { decodeTracesJson } from '../../../../src/ingest/otlp/decode-traces-json.js';
import { decodeTracesProtobuf } from '../../../../src/ingest/otlp/decode-traces-protobuf.js';

/**
 * Oracle: spans built with the real OpenTelemetry SDK, serialised by the SDK's own protobuf and JSON
 * serialisers, must decode to identical samples, and to the samples a direct reading of the rules predicts.
 */

interface SpanSpec {
  name: string;
  kind: SpanKind;
  status: SpanStatusCode;
  startMs: number;
  startNs: number;
  durationNs: number;
  route: string | undefined;
  httpStatus: number | undefined;
  oldHttpStatus: number | undefined;
  grpcStatus: number | undefined;
  spanCohort: string | undefined;
  noise: Attributes;
}

interface ResourceSpec {
  service: string | undefined;
  version: string | undefined;
  cohort: string | undefined;
  track: string | undefined;
  spans: SpanSpec[];
}

const cohortWord = fc.constantFrom(
  'canary',
  'Candidate',
  'EXPERIMENT',
  'baseline',
  'control',
  'Stable',
  'primary',
  'other',
);
const noise: fc.Arbitrary<Attributes> = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 12 }).map((k) => `x.${k}`),
  fc.oneof(
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.array(fc.string(), { maxLength: 3 }),
  ),
  { maxKeys: 4 },
);

const spanSpec: fc.Arbitrary<SpanSpec> = fc.record({
  name: fc.string({ maxLength: 20 }),
  kind: fc.constantFrom(SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER),
  status: fc.constantFrom(SpanStatusCode.UNSET, SpanStatusCode.OK, SpanStatusCode.ERROR),
  startMs: fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }),
  startNs: fc.integer({ min: 0, max: 999_999 }),
  durationNs: fc.integer({ min: 0, max: 120_000_000_000 }),
  route: fc.option(fc.constantFrom('/api/cart/:id', '/checkout', '/ünïcode/✓'), { nil: undefined }),
  httpStatus: fc.option(fc.constantFrom(200, 201, 404, 429, 499, 500, 503), { nil: undefined }),
  oldHttpStatus: fc.option(fc.constantFrom(200, 404, 502), { nil: undefined }),
  grpcStatus: fc.option(fc.integer({ min: 0, max: 16 }), { nil: undefined }),
  spanCohort: fc.option(cohortWord, { nil: undefined }),
  noise,
});

const resourceSpec: fc.Arbitrary<ResourceSpec> = fc.record({
  service: fc.option(fc.constantFrom('checkout', 'cart', 'pay'), { nil: undefined }),
  version: fc.option(fc.constantFrom('1.0.0', '1.1.0', '2.0.0'), { nil: undefined }),
  cohort: fc.option(cohortWord, { nil: undefined }),
  track: fc.option(fc.constantFrom('canary', 'stable', 'blue'), { nil: undefined }),
  spans: fc.array(spanSpec, { minLength: 1, maxLength: 8 }),
});

const rulesArb: fc.Arbitrary<CohortRules> = fc.record({
  attribute: fc.constant('vigil.cohort'),
  podLabels: fc.constant(['track']),
  canaryVersion: fc.option(fc.constantFrom('1.1.0', '2.0.0'), { nil: null }),
});

function definedAttrs(entries: [string, unknown][]): Attributes {
  return Object.fromEntries(entries.filter(([, v]) => v !== undefined)) as Attributes;
}

function buildSpans(resources: ResourceSpec[]): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  for (const r of resources) {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes(
        definedAttrs([
          ['service.name', r.service],
          ['service.version', r.version],
          ['vigil.cohort', r.cohort],
          ['k8s.pod.label.track', r.track],
        ]),
      ),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const tracer = provider.getTracer('oracle');
    for (const s of r.spans) {
      const attributes = definedAttrs([
        ...Object.entries(s.noise),
        ['http.route', s.route],
        ['http.response.status_code', s.httpStatus],
        ['http.status_code', s.oldHttpStatus],
        ['rpc.grpc.status_code', s.grpcStatus],
        ['vigil.cohort', s.spanCohort],
      ]);
      const startSec = Math.floor(s.startMs / 1000);
      const startNanos = (s.startMs % 1000) * 1e6 + s.startNs;
      const span = tracer.startSpan(s.name, { kind: s.kind, attributes, startTime: [startSec, startNanos] });
      if (s.status !== SpanStatusCode.UNSET) span.setStatus({ code: s.status });
      const endTotal = startNanos + s.durationNs;
      span.end([startSec + Math.floor(endTotal / 1e9), endTotal % 1e9]);
    }
    out.push(...exporter.getFinishedSpans());
  }
  return out;
}

const SYNONYMS: Record<string, 'canary' | 'baseline'> = {
  canary: 'canary',
  candidate: 'canary',
  experiment: 'canary',
  baseline: 'baseline',
  control: 'baseline',
  stable: 'baseline',
  primary: 'baseline',
};

/** The rules of OTLP.md read directly, per span. */
function expectedSample(r: ResourceSpec, s: SpanSpec, rules: CohortRules) {
  const version = r.version ?? '';
  const track = r.track === 'canary' ? 'canary' : r.track === 'stable' ? 'baseline' : undefined;
  const resourceCohort =
    SYNONYMS[r.cohort?.toLowerCase() ?? ''] ??
    track ??
    (rules.canaryVersion === null ? 'unknown' : version === rules.canaryVersion ? 'canary' : 'baseline');
  const status = s.httpStatus ?? s.oldHttpStatus;
  const serverError =
    s.kind === SpanKind.SERVER &&
    ((status !== undefined && status >= 500) || [2, 4, 12, 13, 14, 15].includes(s.grpcStatus ?? -1));
  const hasHttp = s.route !== undefined || s.httpStatus !== undefined || s.oldHttpStatus !== undefined;
  const route = s.route ?? ((s.kind === SpanKind.CONSUMER || !hasHttp) && s.name !== '' ? s.name : undefined);
  const endNs = BigInt(s.startMs) * 1_000_000n + BigInt(s.startNs) + BigInt(s.durationNs);
  return {
    service: r.service ?? 'unknown_service',
    route,
    version,
    cohort: SYNONYMS[s.spanCohort?.toLowerCase() ?? ''] ?? resourceCohort,
    endUnixMs: Number(endNs) / 1e6,
    durationMs: s.durationNs / 1e6,
    error: s.status === SpanStatusCode.ERROR || serverError,
  };
}

describe('oracle: SDK-serialised spans', () => {
  it('decode identically from protobuf and JSON, and as the rules predict', () => {
    fc.assert(
      fc.property(fc.array(resourceSpec, { minLength: 1, maxLength: 3 }), rulesArb, (resources, rules) => {
        const spans = buildSpans(resources);
        const pb = ProtobufTraceSerializer.serializeRequest(spans)!;
        const json = JsonTraceSerializer.serializeRequest(spans)!;
        const fromPb = decodeTracesProtobuf(pb, rules);
        const fromJson = decodeTracesJson(Buffer.from(json), rules);
        expect(fromPb).toEqual(fromJson);

        const requests = resources.flatMap((r) =>
          r.spans
            .filter((s) => s.kind === SpanKind.SERVER || s.kind === SpanKind.CONSUMER)
            .map((s) => expectedSample(r, s, rules)),
        );
        expect(fromPb.spans).toBe(spans.length);
        expect(fromPb.rejectedSpans).toBe(0);
        expect(fromPb.nonRequestSpans).toBe(spans.length - requests.length);
        // the serialiser groups by resource and scope, so compare as multisets ordered by a stable key
        const key = (x: { endUnixMs: number; durationMs: number; service: string; route?: string | undefined }) =>
          `${x.service}|${x.endUnixMs.toFixed(3)}|${x.durationMs.toFixed(6)}|${x.route ?? ''}`;
        const got = [...fromPb.samples].sort((a, b) => key(a).localeCompare(key(b)));
        const want = [...requests].sort((a, b) => key(a).localeCompare(key(b)));
        expect(got.length).toBe(want.length);
        got.forEach((g, i) => {
          const w = want[i]!;
          expect(g.spanKey).toEqual(expect.any(Number));
          expect(g.traceKey).toEqual(expect.any(Number));
          expect({ ...g, endUnixMs: 0, durationMs: 0, spanKey: 0, traceKey: 0 }).toEqual({
            ...w,
            endUnixMs: 0,
            durationMs: 0,
            spanKey: 0,
            traceKey: 0,
          });
          expect(Math.abs(g.endUnixMs - w.endUnixMs)).toBeLessThan(0.001);
          expect(Math.abs(g.durationMs - w.durationMs)).toBeLessThan(1e-9);
        });
      }),
      { numRuns: 150 },
    );
  });
});
