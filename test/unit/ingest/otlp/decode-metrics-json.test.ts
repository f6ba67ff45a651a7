import { describe, expect, it } from 'vitest';
import { isVigilError } from '../../../../src/errors.js';
import type { CohortRules } from '../../../../src/ingest/cohort.js';
import { DEFAULT_COHORT_RULES } from '../../../../src/ingest/cohort.js';
import { decodeMetricsJson } from '../../../../src/ingest/otlp/decode-metrics-json.js';
import { decodeMetricsProtobuf } from '../../../../src/ingest/otlp/decode-metrics-protobuf.js';
import { otlpFixture } from '../../../helpers/otlp/fixtures.js';

const RULES: CohortRules = { attribute: 'vigil.cohort', podLabels: ['track'], canaryVersion: null };

function decodeError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isVigilError(e) && e.code === 'VIGIL_ERR_INGEST_DECODE') return e.message;
    throw e;
  }
  throw new Error('expected a decode error');
}

/** One request with one histogram metric; `point` and `data` override the canonical camelCase forms. */
function request(point: Record<string, unknown>, data: Record<string, unknown> = {}, metricKey = 'histogram'): string {
  return JSON.stringify({
    resourceMetrics: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'checkout' } },
            { key: 'k8s.pod.label.track', value: { stringValue: 'stable' } },
          ],
        },
        scopeMetrics: [
          {
            scope: { name: 's' },
            metrics: [
              {
                name: 'http.server.request.duration',
                unit: 's',
                [metricKey]: { aggregationTemporality: 2, ...data, dataPoints: [point] },
              },
            ],
          },
        ],
      },
    ],
  });
}

const CANONICAL = {
  attributes: [{ key: 'http.response.status_code', value: { intValue: 500 } }],
  startTimeUnixNano: '1767225600000000000',
  timeUnixNano: '1767225610000000001',
  count: 3,
  bucketCounts: [1, 2, 0],
  explicitBounds: [0.1, 1],
  sum: 0.9,
};

describe('metrics JSON decoder: encoding quirks', () => {
  const base = decodeMetricsJson(request(CANONICAL), RULES);

  it('reads the canonical form', () => {
    expect(base.points).toHaveLength(1);
    expect(base.points[0]).toMatchObject({
      count: 3,
      error: true,
      cohort: 'baseline',
      timeMs: 1_767_225_610_000,
      timeRem: 1,
      explicit: { bounds: [0.1, 1], counts: [1, 2, 0] },
    });
  });

  it('64-bit integers as strings or numbers, enum names, snake_case keys and null give the same result', () => {
    const quirky = JSON.stringify({
      resource_metrics: [
        {
          resource: {
            attributes: [
              { key: 'service.name', value: { string_value: 'checkout' } },
              { key: 'k8s.pod.label.track', value: { string_value: 'stable' } },
            ],
            dropped_attributes_count: null,
          },
          scope_metrics: [
            {
              scope: { name: 's', version: null },
              metrics: [
                {
                  name: 'http.server.request.duration',
                  unit: 's',
                  description: null,
                  histogram: {
                    aggregation_temporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE',
                    data_points: [
                      {
                        attributes: [{ key: 'http.response.status_code', value: { int_value: '500' } }],
                        start_time_unix_nano: 1767225600000000000,
                        time_unix_nano: '1767225610000000001',
                        count: '3',
                        bucket_counts: ['1', 2, '0'],
                        explicit_bounds: ['0.1', 1],
                        sum: '0.9',
                        exemplars: [{ unknown: true }],
                        flags: null,
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(decodeMetricsJson(quirky, RULES)).toEqual(base);
    expect(decodeMetricsJson(request(CANONICAL, { aggregationTemporality: 'CUMULATIVE' }), RULES)).toEqual(base);
    expect(decodeMetricsJson(request(CANONICAL, { aggregationTemporality: '2' }), RULES)).toEqual(base);
  });

  it('"NaN" and "Infinity" bounds are read (and rejected as not finite)', () => {
    const d = decodeMetricsJson(request({ ...CANONICAL, explicitBounds: [0.1, 'Infinity'] }), RULES);
    expect(d.points).toHaveLength(0);
    expect(d.rejectionMessage).toContain('explicit bounds are not finite and strictly increasing');
  });

  it('reads time_unix_nano above 2^53 exactly from strings', () => {
    const d = decodeMetricsJson(request({ ...CANONICAL, timeUnixNano: '18446744073709551615' }), RULES);
    expect(d.points[0]).toMatchObject({ timeMs: 18_446_744_073_709, timeRem: 551_615 });
  });

  it('a Metric with two data members is rejected, naming it', () => {
    const two = JSON.stringify({
      resourceMetrics: [
        { scopeMetrics: [{ metrics: [{ name: 'x', gauge: { dataPoints: [] }, sum: { dataPoints: [] } }] }] },
      ],
    });
    expect(decodeError(() => decodeMetricsJson(two, RULES))).toContain(
      'resourceMetrics[0].scopeMetrics[0].metrics[0] has more than one data member (gauge and sum)',
    );
  });

  it('values of the wrong type are rejected with their JSON path', () => {
    const at = 'resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0]';
    expect(decodeError(() => decodeMetricsJson(request({ ...CANONICAL, count: 'three' }), RULES))).toContain(
      `${at}.count must be an unsigned 64-bit integer, got "three"`,
    );
    expect(decodeError(() => decodeMetricsJson(request({ ...CANONICAL, count: -1 }), RULES))).toContain(
      `${at}.count must be an unsigned 64-bit integer`,
    );
    expect(decodeError(() => decodeMetricsJson(request({ ...CANONICAL, bucketCounts: [1, 2.5, 0] }), RULES))).toContain(
      `${at}.bucketCounts[1] must be an unsigned 64-bit integer`,
    );
    expect(decodeError(() => decodeMetricsJson(request({ ...CANONICAL, bucketCounts: 3 }), RULES))).toContain(
      `${at}.bucketCounts must be an array`,
    );
    expect(decodeError(() => decodeMetricsJson(request({ ...CANONICAL, timeUnixNano: '-5' }), RULES))).toContain(
      `${at}.timeUnixNano must be an unsigned 64-bit integer`,
    );
    expect(decodeError(() => decodeMetricsJson(request(CANONICAL, { aggregationTemporality: true }), RULES))).toContain(
      'histogram.aggregationTemporality must be an enum number or name',
    );
    expect(
      decodeError(() =>
        decodeMetricsJson(
          request({ startTimeUnixNano: '1', timeUnixNano: '2', count: 1, scale: 'x' }, {}, 'exponentialHistogram'),
          RULES,
        ),
      ),
    ).toContain('exponentialHistogram.dataPoints[0].scale must be a 32-bit integer');
    expect(decodeError(() => decodeMetricsJson('{"resourceMetrics": [', RULES))).toMatch(
      /^OTLP payload could not be decoded: invalid JSON/,
    );
    expect(decodeError(() => decodeMetricsJson('[]', RULES))).toContain('the request must be an object');
  });

  it('empty envelopes are fine', () => {
    for (const body of [
      '{}',
      '{"resourceMetrics":[]}',
      '{"resourceMetrics":[{}]}',
      '{"resourceMetrics":[{"scopeMetrics":[{}]}]}',
      '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{}]}]}]}',
    ]) {
      expect(decodeMetricsJson(body, RULES)).toEqual({
        points: [],
        dataPoints: 0,
        ignoredDataPoints: 0,
        rejectedDataPoints: 0,
      });
    }
  });
});

describe('metrics decoders: example payloads', () => {
  it('the SDK-generated pair decodes identically in both encodings, with the right meaning', () => {
    const pb = decodeMetricsProtobuf(otlpFixture('sdk-metrics.pb'), DEFAULT_COHORT_RULES);
    const json = decodeMetricsJson(otlpFixture('sdk-metrics.json'), DEFAULT_COHORT_RULES);
    expect(pb).toEqual(json);
    expect(pb.dataPoints).toBe(17);
    expect(pb.ignoredDataPoints).toBe(2); // app.orders.placed (a Sum)
    expect(pb.points).toHaveLength(15);
    const total = pb.points.reduce((n, p) => n + p.count, 0);
    const errors = pb.points.filter((p) => p.error).reduce((n, p) => n + p.count, 0);
    expect([total, errors]).toEqual([5000, 1666]); // the five 503 series
    // canarylens.cohort is not Vigil's key: unknown cohort, unless the canary version is configured
    expect(new Set(pb.points.map((p) => p.cohort))).toEqual(new Set(['unknown']));
    const byVersion = decodeMetricsProtobuf(otlpFixture('sdk-metrics.pb'), {
      ...DEFAULT_COHORT_RULES,
      canaryVersion: '1.4.2',
    });
    expect(new Set(byVersion.points.map((p) => p.cohort))).toEqual(new Set(['canary']));
    const byKey = decodeMetricsJson(otlpFixture('sdk-metrics.json'), {
      ...DEFAULT_COHORT_RULES,
      attribute: 'canarylens.cohort',
    });
    expect(new Set(byKey.points.map((p) => p.cohort))).toEqual(new Set(['canary']));
  });

  it('the spec example is accepted; renamed to Vigil metrics its histograms are read', () => {
    const spec = decodeMetricsJson(otlpFixture('spec-metrics.json'), RULES);
    expect(spec).toEqual({ points: [], dataPoints: 4, ignoredDataPoints: 4, rejectedDataPoints: 0 });
    const renamed = otlpFixture('spec-metrics.json')
      .toString('utf8')
      .replace('"my.histogram"', '"http.server.duration"')
      .replace('"my.exponential.histogram"', '"rpc.server.call.duration"')
      .replaceAll('"unit": "1"', '"unit": "ms"');
    const d = decodeMetricsJson(renamed, RULES);
    expect(d.rejectedDataPoints).toBe(0);
    expect(d.points.map((p) => [p.metric, p.count, p.temporality, p.resource.service])).toEqual([
      ['http.server.duration', 2, 1, 'my.service'],
      ['rpc.server.call.duration', 3, 1, 'my.service'],
    ]);
    expect(d.points[0]!.explicit).toEqual({ bounds: [1], counts: [1, 1] });
    expect(d.points[1]!.exponential).toEqual({
      scale: 0,
      zeroCount: 1,
      zeroThreshold: 0,
      positiveOffset: 1,
      positive: [0, 2],
      negativeOffset: 0,
      negative: [],
    });
    expect(d.points[0]!.scope).toBe('"my.library"@"1.0.0"{"my.scope.attribute"="some scope attribute"}');
  });
});
