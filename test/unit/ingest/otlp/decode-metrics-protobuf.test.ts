import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isVigilError } from '../../../../src/errors.js';
import type { CohortRules } from '../../../../src/ingest/cohort.js';
import { decodeMetricsJson } from '../../../../src/ingest/otlp/decode-metrics-json.js';
import { decodeMetricsProtobuf } from '../../../../src/ingest/otlp/decode-metrics-protobuf.js';
import { otlpFixture } from '../../../helpers/otlp/fixtures.js';
import { buf, fBytes, fDouble, fFixed32, fFixed64, fMsg, fString, fVarint } from '../../../helpers/otlp/pb-writer.js';
import {
  SEC,
  T0,
  expPoint,
  histPoint,
  kvInt,
  kvStr,
  metric,
  metricsRequest,
} from '../../../helpers/otlp/pb-metrics.js';

const RULES: CohortRules = { attribute: 'vigil.cohort', podLabels: ['track'], canaryVersion: null };
const RES = [
  kvStr(1, 'service.name', 'checkout'),
  kvStr(1, 'service.version', '2.0'),
  kvStr(1, 'vigil.cohort', 'canary'),
];
const BOUNDS = [5, 10, 25];
const decode = (b: Buffer) => decodeMetricsProtobuf(b, RULES);

function decodeError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isVigilError(e) && e.code === 'VIGIL_ERR_INGEST_DECODE') return e.message;
    throw e;
  }
  throw new Error('expected a decode error');
}

describe('metrics protobuf decoder: histograms', () => {
  it('reads an explicit-bucket point: times, count, sum, buckets, attributes, meaning', () => {
    const d = decode(
      metricsRequest(RES, [
        metric(
          'http.server.duration',
          'ms',
          9,
          [
            histPoint({
              attrs: [kvInt(9, 'http.response.status_code', 503), kvStr(9, 'http.route', '/cart')],
              start: T0,
              time: T0 + 10n * SEC + 123_456n,
              count: 6n,
              sum: 42.5,
              counts: [1n, 2n, 3n, 0n],
              bounds: BOUNDS,
            }),
          ],
          2,
        ),
      ]),
    );
    expect(d.dataPoints).toBe(1);
    expect(d.rejectedDataPoints).toBe(0);
    const p = d.points[0]!;
    expect(p).toMatchObject({
      metric: 'http.server.duration',
      unit: 'ms',
      msPerUnit: 1,
      temporality: 2,
      count: 6,
      sum: 42.5,
      error: true,
      cohort: 'canary',
      startMs: 1_767_225_600_000,
      startRem: 0,
      timeMs: 1_767_225_610_000,
      timeRem: 123_456,
      explicit: { bounds: BOUNDS, counts: [1, 2, 3, 0] },
      resource: { service: 'checkout', version: '2.0', cohort: 'canary' },
    });
    expect(p.attributes).toBe('"http.response.status_code"=i503,"http.route"="/cart"');
  });

  it('packed and unpacked bucket_counts / explicit_bounds decode identically', () => {
    const point = { start: T0, time: T0 + SEC, count: 6n, counts: [1n, 2n, 3n, 0n], bounds: BOUNDS };
    const packed = decode(
      metricsRequest(RES, [metric('http.server.duration', 'ms', 9, [histPoint({ ...point, packed: true })], 1)]),
    );
    const unpacked = decode(
      metricsRequest(RES, [metric('http.server.duration', 'ms', 9, [histPoint({ ...point, packed: false })], 1)]),
    );
    expect(unpacked).toEqual(packed);
    expect(packed.points[0]!.explicit).toEqual({ bounds: BOUNDS, counts: [1, 2, 3, 0] });
  });

  it('reads an exponential point: negative scale and offsets (sint32), packed and unpacked uint64 counts', () => {
    const point = {
      start: T0,
      time: T0 + SEC,
      count: 10n,
      scale: -2,
      zeroCount: 1n,
      offset: -3,
      positive: [2, 0, 5],
      negOffset: 4,
      negative: [2],
      zeroThreshold: 0.5,
    };
    const packed = decode(
      metricsRequest(RES, [metric('rpc.server.call.duration', 's', 10, [expPoint({ ...point, packed: true })], 1)]),
    );
    const unpacked = decode(
      metricsRequest(RES, [metric('rpc.server.call.duration', 's', 10, [expPoint({ ...point, packed: false })], 1)]),
    );
    expect(unpacked).toEqual(packed);
    expect(packed.points[0]!.exponential).toEqual({
      scale: -2,
      zeroCount: 1,
      zeroThreshold: 0.5,
      positiveOffset: -3,
      positive: [2, 0, 5],
      negativeOffset: 4,
      negative: [2],
    });
    expect(packed.points[0]!.msPerUnit).toBe(1000);
  });

  it('gives the same result when identity fields follow the content on the wire', () => {
    const pt = histPoint({ start: T0, time: T0 + SEC, count: 1n, counts: [0n, 1n, 0n, 0n], bounds: BOUNDS });
    const inOrder = metricsRequest(RES, [metric('http.server.duration', 'ms', 9, [pt], 2)]);
    const reversed = buf(
      fMsg(
        1,
        fMsg(
          2,
          fMsg(2, fMsg(9, fVarint(2, 2), pt), fString(3, 'ms'), fString(1, 'http.server.duration')),
          fMsg(1, fString(2, '1.0'), fString(1, 'scope')),
        ),
        fMsg(1, ...RES),
      ),
    );
    expect(decode(reversed)).toEqual(decode(inOrder));
  });

  it('skips unknown fields of every wire type at every level', () => {
    const unknown = [fVarint(90, 7), fFixed64(91, 1n), fBytes(92, [1, 2]), fFixed32(93, 5)];
    const plain = metricsRequest(RES, [
      metric(
        'http.server.duration',
        'ms',
        9,
        [histPoint({ start: T0, time: T0 + SEC, count: 1n, counts: [1n, 0n, 0n, 0n], bounds: BOUNDS })],
        2,
      ),
    ]);
    const noisy = buf(
      ...unknown,
      fMsg(
        1,
        ...unknown,
        fMsg(1, ...unknown, ...RES),
        fMsg(
          2,
          ...unknown,
          fMsg(1, fString(1, 'scope'), fString(2, '1.0'), ...unknown),
          fMsg(
            2,
            fString(1, 'http.server.duration'),
            fString(2, 'desc'),
            fString(3, 'ms'),
            ...unknown,
            fMsg(
              9,
              ...unknown,
              fVarint(2, 2),
              histPoint({
                start: T0,
                time: T0 + SEC,
                count: 1n,
                counts: [1n, 0n, 0n, 0n],
                bounds: BOUNDS,
                extra: [...unknown, fMsg(8, fDouble(3, 1))],
              }),
            ),
          ),
        ),
      ),
    );
    expect(decode(noisy)).toEqual(decode(plain));
  });

  it('counts and ignores other metrics, and metrics with a unit that is not a time', () => {
    const gauge = fMsg(2, fString(1, 'queue.depth'), fMsg(5, fMsg(1, fFixed64(3, T0), fDouble(4, 3))));
    const sum = fMsg(
      2,
      fString(1, 'orders'),
      fMsg(
        7,
        fMsg(1, fFixed64(3, T0), fDouble(4, 3)),
        fMsg(1, fFixed64(3, T0), fDouble(4, 1)),
        fVarint(2, 2),
        fVarint(3, 1),
      ),
    );
    const summary = fMsg(2, fString(1, 'http.server.duration'), fMsg(11, fMsg(1, fFixed64(3, T0))));
    const bytesUnit = metric('http.server.duration', 'By', 9, [histPoint({ time: T0, count: 0n })], 2);
    const d = decode(metricsRequest(RES, [gauge, sum, summary, bytesUnit]));
    expect(d).toEqual({ points: [], dataPoints: 5, ignoredDataPoints: 5, rejectedDataPoints: 0 });
  });
});

describe('metrics protobuf decoder: rejected points (partial success)', () => {
  it('rejects points with time_unix_nano 0 in every metric, unspecified temporality, inconsistent buckets', () => {
    const ok = histPoint({ start: T0, time: T0 + SEC, count: 1n, counts: [1n, 0n, 0n, 0n], bounds: BOUNDS });
    const d = decode(
      metricsRequest(RES, [
        metric(
          'http.server.duration',
          'ms',
          9,
          [ok, histPoint({ start: T0, count: 1n, counts: [1n, 0n, 0n, 0n], bounds: BOUNDS })],
          2,
        ),
        fMsg(2, fString(1, 'other'), fMsg(5, fMsg(1, fDouble(4, 1)))),
        metric('http.server.duration', 'ms', 9, [
          histPoint({
            start: T0,
            time: T0 + SEC,
            count: 1n,
            counts: [1n, 0n, 0n, 0n],
            bounds: BOUNDS,
            attrs: [kvStr(9, 'a', 'b')],
          }),
        ]),
        metric(
          'http.server.duration',
          'ms',
          9,
          [
            histPoint({ start: T0, time: T0 + SEC, count: 2n, counts: [1n, 0n, 0n, 0n], bounds: BOUNDS }),
            histPoint({ start: T0, time: T0 + SEC, count: 1n, counts: [1n, 0n, 0n], bounds: BOUNDS }),
            histPoint({ start: T0, time: T0 + SEC, count: 1n, counts: [1n, 0n, 0n, 0n], bounds: [5, 5, 25] }),
            histPoint({ start: T0, time: T0 + SEC, count: 9n, counts: [1n, 0n, 0n, 0n], bounds: BOUNDS, flags: 1 }),
          ],
          2,
        ),
        metric(
          'rpc.server.call.duration',
          's',
          10,
          [expPoint({ time: T0 + SEC, count: 3n, scale: 25, positive: [3] })],
          1,
        ),
      ]),
    );
    expect(d.dataPoints).toBe(9);
    expect(d.points.map((p) => p.count)).toEqual([1, 9]); // the NO_RECORDED_VALUE point is kept, unchecked
    expect(d.rejectedDataPoints).toBe(7);
    expect(d.rejectionMessage).toBe(
      'rejected 7 data point(s): 2 with time_unix_nano 0, 1 with an unspecified or unknown aggregation_temporality, ' +
        '4 with inconsistent buckets (first: http.server.duration: bucket counts do not add up to count)',
    );
  });
});

describe('metrics protobuf decoder: malformed input', () => {
  const valid = metricsRequest(RES, [
    metric(
      'http.server.request.duration',
      's',
      9,
      [
        histPoint({
          attrs: [kvInt(9, 'http.response.status_code', 200)],
          start: T0,
          time: T0 + SEC,
          count: 3n,
          sum: 1,
          counts: [1n, 2n, 0n, 0n],
          bounds: [0.005, 0.01, 0.025],
        }),
      ],
      2,
    ),
    metric(
      'rpc.server.call.duration',
      's',
      10,
      [expPoint({ start: T0, time: T0 + SEC, count: 3n, scale: 3, zeroCount: 1n, offset: -2, positive: [1, 1] })],
      1,
    ),
  ]);

  it('decodes the valid request', () => {
    expect(decode(valid).points).toHaveLength(2);
  });

  it('throws a decode error for the input truncated at every byte', () => {
    for (let i = 1; i < valid.length; i++)
      expect(() => decode(valid.subarray(0, i)), `cut at ${i}`).toThrow(/OTLP payload could not be decoded/);
  });

  it('names the field and the offset', () => {
    const wrongWire = metricsRequest(RES, [metric('http.server.duration', 'ms', 9, [fMsg(1, fVarint(4, 3))], 2)]);
    expect(decodeError(() => decode(wrongWire))).toMatch(
      /wire type varint where fixed64 was expected at offset \d+ in HistogramDataPoint\.count/,
    );
    const badPacked = metricsRequest(RES, [
      metric('http.server.duration', 'ms', 9, [fMsg(1, fBytes(6, [1, 2, 3]))], 2),
    ]);
    expect(decodeError(() => decode(badPacked))).toMatch(
      /packed length 3 is not a multiple of 8 at offset \d+ in HistogramDataPoint\.bucket_counts/,
    );
    const badBuckets = metricsRequest(RES, [
      metric('rpc.server.call.duration', 's', 10, [fMsg(1, fMsg(8, fBytes(2, [0x80])))], 1),
    ]);
    expect(decodeError(() => decode(badBuckets))).toMatch(
      /truncated varint at offset \d+ in ExponentialHistogramDataPoint\.positive\.bucket_counts/,
    );
  });

  it('rejects attribute values nested deeper than 16 levels', () => {
    let value: number[] = fString(1, 'leaf');
    for (let i = 0; i < 17; i++) value = fMsg(5, fMsg(1, value));
    const deep = metricsRequest([fMsg(1, fString(1, 'k'), fMsg(2, value))], []);
    expect(decodeError(() => decode(deep))).toMatch(/nested deeper than 16 levels/);
    let shallow: number[] = fString(1, 'leaf');
    for (let i = 0; i < 16; i++) shallow = fMsg(5, fMsg(1, shallow));
    expect(() => decode(metricsRequest([fMsg(1, fString(1, 'k'), fMsg(2, shallow))], []))).not.toThrow();
  });

  it('random bytes decode or throw a decode error, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        try {
          decode(Buffer.from(bytes));
        } catch (e) {
          expect(isVigilError(e) && e.code === 'VIGIL_ERR_INGEST_DECODE').toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated valid requests (SDK-generated and hand-built) decode or throw a decode error', () => {
    const sdk = otlpFixture('sdk-metrics.pb');
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        (useSdk, edits) => {
          const b = Buffer.from(useSdk ? sdk : valid);
          for (const [at, v] of edits) b[at % b.length] = v;
          try {
            const d = decode(b);
            for (const p of d.points) expect(Number.isFinite(p.count)).toBe(true);
          } catch (e) {
            expect(isVigilError(e) && e.code === 'VIGIL_ERR_INGEST_DECODE').toBe(true);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('the JSON form of the hand-built request decodes to the same points', () => {
    const json = JSON.stringify({
      resourceMetrics: [
        {
          resource: {
            attributes: [
              { key: 'service.name', value: { stringValue: 'checkout' } },
              { key: 'service.version', value: { stringValue: '2.0' } },
              { key: 'vigil.cohort', value: { stringValue: 'canary' } },
            ],
          },
          scopeMetrics: [
            {
              scope: { name: 'scope', version: '1.0' },
              metrics: [
                {
                  name: 'http.server.request.duration',
                  unit: 's',
                  histogram: {
                    aggregationTemporality: 2,
                    dataPoints: [
                      {
                        attributes: [{ key: 'http.response.status_code', value: { intValue: '200' } }],
                        startTimeUnixNano: String(T0),
                        timeUnixNano: String(T0 + SEC),
                        count: '3',
                        sum: 1,
                        bucketCounts: ['1', '2', '0', '0'],
                        explicitBounds: [0.005, 0.01, 0.025],
                      },
                    ],
                  },
                },
                {
                  name: 'rpc.server.call.duration',
                  unit: 's',
                  exponentialHistogram: {
                    aggregationTemporality: 'AGGREGATION_TEMPORALITY_DELTA',
                    dataPoints: [
                      {
                        startTimeUnixNano: String(T0),
                        timeUnixNano: String(T0 + SEC),
                        count: 3,
                        scale: 3,
                        zeroCount: 1,
                        positive: { offset: -2, bucketCounts: [1, 1] },
                        negative: {},
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
    expect(decodeMetricsJson(json, RULES)).toEqual(decode(valid));
  });
});
