import type { Attributes } from '@opentelemetry/api';
import { JsonMetricsSerializer, ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CohortRules } from '../../../../src/ingest/cohort.js';
import { decodeMetricsJson } from '../../../../src/ingest/otlp/decode-metrics-json.js';
import { decodeMetricsProtobuf } from '../../../../src/ingest/otlp/decode-metrics-protobuf.js';
import { collectSdkMetrics, type SdkHistogramSpec, type SdkMetricsSpec } from '../../../helpers/otlp/sdk-metrics.js';

/**
 * Oracle: metrics recorded with the real OpenTelemetry SDK, serialised by the SDK's own protobuf and JSON
 * serializers, must decode to deep-equal DecodedMetrics, and to what a direct reading of the SDK's
 * ResourceMetrics and of the rules predicts (which points, counts, buckets, error, cohort, version).
 */

const RULES: CohortRules = { attribute: 'vigil.cohort', podLabels: ['track'], canaryVersion: null };
const VIGIL = new Set(['http.server.request.duration', 'http.server.duration', 'rpc.server.call.duration']);
const GRPC_ERRORS = new Set([2, 4, 12, 13, 14, 15]);

const httpAttrs: fc.Arbitrary<Attributes> = fc.record(
  {
    'http.request.method': fc.constantFrom('GET', 'POST'),
    'http.route': fc.constantFrom('/cart/:id', '/checkout', '/ünï/✓'),
    'http.response.status_code': fc.constantFrom(200, 201, 404, 429, 500, 503),
    'error.type': fc.constantFrom('', 'timeout', '_OTHER'),
    'vigil.cohort': fc.constantFrom('canary', 'baseline', 'other'),
    // integer-valued doubles >= 2^63 are excluded: the SDK's JSON serializer sends them as intValue, its
    // protobuf serializer as double_value (the two encodings then genuinely differ)
    'x.noise': fc.oneof(
      fc.integer(),
      fc.double({ min: -1e18, max: 1e18, noNaN: true }),
      fc.boolean(),
      fc.array(fc.string(), { maxLength: 2 }),
    ),
  },
  { requiredKeys: ['http.request.method', 'http.route'] },
);

const rpcAttrs: fc.Arbitrary<Attributes> = fc.record(
  {
    'rpc.system': fc.constant('grpc'),
    'rpc.grpc.status_code': fc.integer({ min: 0, max: 16 }),
    'rpc.response.status_code': fc.constantFrom('OK', 'NOT_FOUND', 'unavailable', 'INTERNAL'),
    'error.type': fc.constantFrom('DEADLINE_EXCEEDED', ''),
  },
  { requiredKeys: ['rpc.system'] },
);

const bounds = fc
  .uniqueArray(fc.double({ min: 0, max: 20, noNaN: true }), { minLength: 1, maxLength: 12 })
  .map((b) => b.sort((x, y) => x - y));

const histogram: fc.Arbitrary<SdkHistogramSpec> = fc.oneof(
  fc.record({
    name: fc.constantFrom('http.server.request.duration', 'http.server.duration', 'other.duration'),
    unit: fc.constantFrom('s', 'ms', ''),
    bounds: fc.option(bounds, { nil: undefined }),
    records: fc.array(fc.record({ value: fc.double({ min: 0, max: 30, noNaN: true }), attributes: httpAttrs }), {
      minLength: 1,
      maxLength: 30,
    }),
  }),
  fc.record({
    name: fc.constant('rpc.server.call.duration'),
    unit: fc.constantFrom('s', 'ms'),
    bounds: fc.option(bounds, { nil: undefined }),
    records: fc.array(fc.record({ value: fc.double({ min: 0, max: 30, noNaN: true }), attributes: rpcAttrs }), {
      minLength: 1,
      maxLength: 30,
    }),
  }),
);

const metricsSpec: fc.Arbitrary<SdkMetricsSpec> = fc.record({
  resource: fc.record(
    {
      'service.name': fc.constantFrom('checkout', 'cart'),
      'service.version': fc.constantFrom('1.0.0', '2.0.0'),
      'vigil.cohort': fc.constantFrom('canary', 'stable', 'blue'),
      'k8s.pod.label.track': fc.constantFrom('canary', 'stable'),
    },
    { requiredKeys: ['service.name'] },
  ),
  temporality: fc.constantFrom('cumulative' as const, 'delta' as const),
  histograms: fc.uniqueArray(histogram, { minLength: 1, maxLength: 4, selector: (h) => h.name }),
  noise: fc.boolean(),
});

function str(v: Attributes[string]): string | undefined {
  return v === undefined || v === null ? undefined : Array.isArray(v) ? v.join(',') : String(v);
}

/** The error rule read straight from the README, independently of the decoder's code. */
function expectedError(name: string, a: Attributes): boolean {
  if (name.startsWith('http.'))
    return Number(a['http.response.status_code'] ?? 0) >= 500 || (a['error.type'] ?? '') !== '';
  const grpc = a['rpc.grpc.status_code'];
  const rpc = a['rpc.response.status_code'];
  if (grpc === undefined && rpc === undefined) return (a['error.type'] ?? '') !== '';
  return (
    GRPC_ERRORS.has(Number(grpc)) ||
    ['UNKNOWN', 'DEADLINE_EXCEEDED', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS'].includes(
      String(rpc).toUpperCase(),
    )
  );
}

function cohortWord(v: string | undefined): 'canary' | 'baseline' | undefined {
  if (v === undefined) return undefined;
  const w = v.toLowerCase();
  if (['canary', 'candidate', 'experiment'].includes(w)) return 'canary';
  if (['baseline', 'control', 'stable', 'primary'].includes(w)) return 'baseline';
  return undefined;
}

interface Expected {
  metric: string;
  count: number;
  error: boolean;
  cohort: string;
  version: string;
  service: string;
  buckets: number[];
}

function expectedPoints(rm: ResourceMetrics): Expected[] {
  const ra = rm.resource.attributes;
  const version = str(ra['service.version']) ?? '';
  const resourceCohort =
    cohortWord(str(ra['vigil.cohort'])) ??
    (str(ra['k8s.pod.label.track']) === 'canary'
      ? 'canary'
      : str(ra['k8s.pod.label.track']) === 'stable'
        ? 'baseline'
        : 'unknown');
  const out: Expected[] = [];
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      if (!VIGIL.has(m.descriptor.name)) continue;
      for (const dp of m.dataPoints) {
        if (m.dataPointType === DataPointType.HISTOGRAM) {
          const v = dp.value as { count: number; buckets: { counts: number[] } };
          out.push({
            metric: m.descriptor.name,
            count: v.count,
            buckets: v.buckets.counts,
            error: expectedError(m.descriptor.name, dp.attributes),
            cohort: cohortWord(str(dp.attributes['vigil.cohort'])) ?? resourceCohort,
            version,
            service: String(ra['service.name']),
          });
        } else if (m.dataPointType === DataPointType.EXPONENTIAL_HISTOGRAM) {
          const v = dp.value as { count: number; zeroCount: number; positive: { bucketCounts: number[] } };
          out.push({
            metric: m.descriptor.name,
            count: v.count,
            buckets: [v.zeroCount, ...v.positive.bucketCounts],
            error: expectedError(m.descriptor.name, dp.attributes),
            cohort: cohortWord(str(dp.attributes['vigil.cohort'])) ?? resourceCohort,
            version,
            service: String(ra['service.name']),
          });
        }
      }
    }
  }
  return out;
}

describe('metrics decoders: SDK-serialised oracle', () => {
  it('protobuf and JSON of the same SDK metrics decode identically, as the rules predict', async () => {
    await fc.assert(
      fc.asyncProperty(metricsSpec, async (spec) => {
        const rm = await collectSdkMetrics(spec);
        const pb = Buffer.from(ProtobufMetricsSerializer.serializeRequest(rm)!);
        const json = Buffer.from(JsonMetricsSerializer.serializeRequest(rm)!);
        const a = decodeMetricsProtobuf(pb, RULES);
        const b = decodeMetricsJson(json, RULES);
        expect(a).toEqual(b);
        expect(a.rejectedDataPoints).toBe(0);
        const got = a.points.map((p) => ({
          metric: p.metric,
          count: p.count,
          error: p.error,
          cohort: p.cohort,
          version: p.resource.version,
          service: p.resource.service,
          buckets: p.explicit ? p.explicit.counts : [p.exponential!.zeroCount, ...p.exponential!.positive],
        }));
        expect(got).toEqual(expectedPoints(rm));
        const all = rm.scopeMetrics.flatMap((s) => s.metrics).reduce((n, m) => n + m.dataPoints.length, 0);
        expect(a.dataPoints).toBe(all);
        expect(a.ignoredDataPoints).toBe(all - a.points.length);
        for (const p of a.points) {
          expect(p.temporality).toBe(spec.temporality === 'delta' ? 1 : 2);
          expect(p.msPerUnit).toBe(
            p.unit === 'ms' || (p.unit === '' && p.metric === 'http.server.duration') ? 1 : 1000,
          );
        }
      }),
      { numRuns: 60 },
    );
  });

  it('stream identities differ exactly when the point attributes differ', async () => {
    const records = [
      { value: 0.1, attributes: { 'http.route': '/a', 'http.response.status_code': 200 } },
      { value: 0.2, attributes: { 'http.response.status_code': 200, 'http.route': '/a' } },
      { value: 0.3, attributes: { 'http.route': '/b', 'http.response.status_code': 200 } },
      { value: 0.4, attributes: { 'http.route': '/a', 'http.response.status_code': '200' } },
    ];
    const rm = await collectSdkMetrics({
      resource: { 'service.name': 'checkout' },
      temporality: 'cumulative',
      histograms: [{ name: 'http.server.request.duration', unit: 's', bounds: [0.1, 1], records }],
    });
    const d = decodeMetricsProtobuf(Buffer.from(ProtobufMetricsSerializer.serializeRequest(rm)!), RULES);
    // the SDK merges the first two (same attribute set); int 200 and string "200" are different streams
    expect(d.points.map((p) => p.count).sort()).toEqual([1, 1, 2]);
    expect(new Set(d.points.map((p) => p.streamKey)).size).toBe(3);
  });
});
