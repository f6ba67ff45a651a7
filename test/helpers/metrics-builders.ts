/** Builders of OTLP metric requests for tests: real SDK data structures, serialised by the SDK. */
import type { Attributes } from '@opentelemetry/api';
import { ValueType } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

export /** Log-normal latency in seconds around `medianMs`. */
function latencySeconds(rand: () => number, medianMs: number): number {
  const z = Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  return (medianMs * Math.exp(0.5 * z)) / 1000;
}

export /** Hand-built ResourceMetrics for one instance: cumulative explicit-bucket histogram points at chosen times. */
function resourceMetrics(o: {
  service: string;
  version: string;
  cohort?: string;
  start: number;
  end: number;
  series: { attrs: Attributes; counts: number[] }[];
}): ResourceMetrics {
  const hr = (ms: number): [number, number] => [Math.floor(ms / 1000), (ms % 1000) * 1e6];
  const boundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
  return {
    resource: resourceFromAttributes({
      'service.name': o.service,
      'service.version': o.version,
      ...(o.cohort ? { 'vigil.cohort': o.cohort } : {}),
    }),
    scopeMetrics: [
      {
        scope: { name: '@opentelemetry/instrumentation-http' },
        metrics: [
          {
            descriptor: {
              name: 'http.server.request.duration',
              description: '',
              unit: 's',
              valueType: ValueType.DOUBLE,
            },
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.HISTOGRAM,
            dataPoints: o.series.map((s) => ({
              startTime: hr(o.start),
              endTime: hr(o.end),
              attributes: s.attrs,
              value: {
                buckets: { boundaries, counts: s.counts },
                count: s.counts.reduce((a, b) => a + b, 0),
                sum: 0,
                min: 0,
                max: 0,
              },
            })),
          },
        ],
      },
    ],
  };
}

export /** Bucket counts of n log-normal requests (seconds bounds as above). */
function bucketCounts(rand: () => number, n: number, medianMs: number): number[] {
  const bounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (let i = 0; i < n; i++) {
    const v = latencySeconds(rand, medianMs);
    const k = bounds.findIndex((b) => v <= b);
    counts[k === -1 ? bounds.length : k]!++;
  }
  return counts;
}

export const add = (a: number[], b: number[]): number[] => a.map((x, i) => x + b[i]!);

/** One point of a business counter or gauge at `end`, in the SDK's own data structures. */
export interface BusinessPoint {
  name: string;
  kind: 'counter' | 'gauge' | 'updowncounter';
  value: number;
  attrs?: Attributes;
}

/**
 * Hand-built ResourceMetrics of one instance's business and resource metrics at one time: monotonic sums (counters,
 * cumulative from `start` or a delta over (prevEnd, end]), non-monotonic cumulative sums (UpDownCounters) and gauges,
 * as the SDK's serializers would send them.
 */
export function businessMetrics(o: {
  service: string;
  version: string;
  cohort?: string;
  instance?: string;
  temporality: 'cumulative' | 'delta';
  start: number;
  end: number;
  points: BusinessPoint[];
}): ResourceMetrics {
  const hr = (ms: number): [number, number] => [Math.floor(ms / 1000), (ms % 1000) * 1e6];
  const temporality = o.temporality === 'delta' ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE;
  return {
    resource: resourceFromAttributes({
      'service.name': o.service,
      'service.version': o.version,
      ...(o.cohort ? { 'vigil.cohort': o.cohort } : {}),
      ...(o.instance ? { 'service.instance.id': o.instance } : {}),
    }),
    scopeMetrics: [
      {
        scope: { name: '@shop/checkout', version: '1.0.0' },
        metrics: o.points.map((p) => {
          const dataPoints = [
            { startTime: hr(o.start), endTime: hr(o.end), attributes: p.attrs ?? {}, value: p.value },
          ];
          const descriptor = {
            name: p.name,
            description: '',
            unit: p.kind === 'gauge' ? 'By' : '{1}',
            valueType: ValueType.DOUBLE,
          };
          if (p.kind === 'gauge')
            return {
              descriptor,
              aggregationTemporality: AggregationTemporality.CUMULATIVE,
              dataPointType: DataPointType.GAUGE,
              dataPoints,
            };
          return {
            descriptor,
            aggregationTemporality: p.kind === 'updowncounter' ? AggregationTemporality.CUMULATIVE : temporality,
            dataPointType: DataPointType.SUM,
            isMonotonic: p.kind === 'counter',
            dataPoints,
          };
        }),
      },
    ],
  };
}
