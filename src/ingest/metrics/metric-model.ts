import type { CohortOrUnknown } from '../../contracts/telemetry.js';

/**
 * What the OTLP metrics decoders (protobuf and JSON) hand to metrics ingestion: the histogram data points of
 * the few metrics Vigil reads, with their stream identity, meaning (version, cohort, error) and buckets,
 * plus counts of every data point seen and of the points the spec says to reject. Both decoders build this
 * through MetricsAccumulator, so the two encodings of one request give deep-equal results.
 */

/** OTLP AggregationTemporality. */
export const TEMPORALITY_UNSPECIFIED = 0;
export const TEMPORALITY_DELTA = 1;
export const TEMPORALITY_CUMULATIVE = 2;

/** DataPointFlags.FLAG_NO_RECORDED_VALUE_MASK. */
export const FLAG_NO_RECORDED_VALUE = 1;

/** The OTLP `Metric.data` kinds Vigil tells apart. */
export type MetricDataKind = 'gauge' | 'sum' | 'histogram' | 'exponential_histogram' | 'summary';

/** A latency histogram Vigil reads, and the unit assumed when the metric carries none. */
export interface VigilMetricSpec {
  /** `http` metrics take errors from the HTTP status / error.type, `rpc` metrics from the RPC status. */
  protocol: 'http' | 'rpc';
  defaultUnit: string;
}

/**
 * The request-duration histograms Vigil turns into evidence (semantic conventions): the stable HTTP metric,
 * its legacy predecessor, and the RPC server durations (current and legacy name).
 */
export const VIGIL_METRICS: ReadonlyMap<string, VigilMetricSpec> = new Map([
  ['http.server.request.duration', { protocol: 'http', defaultUnit: 's' }],
  ['http.server.duration', { protocol: 'http', defaultUnit: 'ms' }],
  ['rpc.server.call.duration', { protocol: 'rpc', defaultUnit: 's' }],
  ['rpc.server.duration', { protocol: 'rpc', defaultUnit: 'ms' }],
]);

/** The legacy HTTP metric, dropped for a resource that also sends the stable one (semconv dual emission). */
export const LEGACY_HTTP_METRIC = 'http.server.duration';
export const STABLE_HTTP_METRIC = 'http.server.request.duration';

/** Milliseconds per unit for the UCUM time units latency histograms use; undefined for anything else. */
export function msPerUnit(unit: string): number | undefined {
  switch (unit) {
    case 's':
      return 1000;
    case 'ms':
      return 1;
    case 'us':
    case 'µs':
    case 'μs':
      return 0.001;
    case 'ns':
      return 1e-6;
    case 'min':
      return 60_000;
    default:
      return undefined;
  }
}

/** Version and cohort of a resource, and its identity (canonical form of all its attributes). */
export interface ResourceInfo {
  service: string;
  version: string;
  cohort: CohortOrUnknown;
  /** Canonical attribute set (its hash when long: `boundedIdentity`): part of every stream identity. */
  key: string;
  /** `service.name` is longer than limits.maxNameLength: every data point of the resource is rejected. */
  serviceTooLong?: boolean;
  /** The version is in its cut form (src/ingest/bounded-text.ts). */
  versionCut?: boolean;
}

/** Explicit-bucket histogram: bucket i covers (bounds[i-1], bounds[i]]; the first and last are open. */
export interface ExplicitBuckets {
  bounds: number[];
  /** bounds.length + 1 counts. */
  counts: number[];
}

/**
 * Exponential histogram: with base = 2^(2^-scale), positive bucket offset + k covers
 * (base^(offset+k), base^(offset+k+1)]; the zero bucket holds |x| <= zeroThreshold; negative buckets
 * mirror the positive ones.
 */
export interface ExponentialBuckets {
  scale: number;
  zeroCount: number;
  zeroThreshold: number;
  positiveOffset: number;
  positive: number[];
  negativeOffset: number;
  negative: number[];
}

/** The values of a histogram data point, as decoded and after validation. Times are [whole ms, ns remainder]. */
export interface HistogramPointValues {
  startMs: number;
  startRem: number;
  timeMs: number;
  timeRem: number;
  count: number;
  flags: number;
  /** Decoded and carried, not used for evidence (min/max of a cumulative point span its whole life). */
  sum?: number;
  min?: number;
  max?: number;
  explicit?: ExplicitBuckets;
  exponential?: ExponentialBuckets;
}

/** One histogram data point of a Vigil metric, after validation. */
export interface HistogramPoint extends HistogramPointValues {
  resource: ResourceInfo;
  /** Canonical scope identity (name, version, attributes). */
  scope: string;
  metric: string;
  /** The unit as sent ('' when absent). */
  unit: string;
  msPerUnit: number;
  temporality: number;
  /** Canonical point attribute set. */
  attributes: string;
  /** Full stream identity: resource + scope + name + type + unit + temporality + point attributes; its hash when
   *  longer than MAX_IDENTITY_CHARS (`boundedIdentity`), so a stream's key costs at most that much memory. */
  streamKey: string;
  cohort: CohortOrUnknown;
  error: boolean;
  /**
   * Keys of the histogram indicators (MetricsIngestOptions.indicators) whose `where` the point matches: its delta
   * also goes to `batch.indicators[key]` of each. Absent when it matches none.
   */
  indicators?: string[];
  /** The point feeds indicators only, not the service's requests (a histogram that is not a Vigil request metric). */
  indicatorOnly?: true;
}

/** What the stream tracker reads of a point: its stream, times, temporality, count (or value) and buckets. */
export interface TrackedPoint {
  streamKey: string;
  startMs: number;
  startRem: number;
  timeMs: number;
  timeRem: number;
  temporality: number;
  /** A histogram's count; a counter's value (its total since start when cumulative, its increase when delta). */
  count: number;
  flags: number;
  explicit?: ExplicitBuckets;
  exponential?: ExponentialBuckets;
}

/**
 * One number data point (OTLP NumberDataPoint of a Sum or Gauge) of a metric an indicator reads, after validation
 * and the indicators' `where`: a `counter` (monotonic Sum) turned into deltas by the stream tracker, or a `gauge`
 * (Gauge, or non-monotonic cumulative Sum: an UpDownCounter) whose value is a level.
 */
export interface NumberPoint extends TrackedPoint {
  role: 'counter' | 'gauge';
  resource: ResourceInfo;
  scope: string;
  metric: string;
  unit: string;
  /** Canonical point attribute set. */
  attributes: string;
  cohort: CohortOrUnknown;
  /** Keys of the indicators (of this role and metric) whose `where` the point matches; never empty. */
  indicators: string[];
  /** Gauges: the `instances` cell, `instanceKey + '\n' + seriesKey` (INSTANCE_SERIES_SEPARATOR). */
  cell?: string;
}

export interface DecodedMetrics {
  points: HistogramPoint[];
  /** Counter and gauge points of the metrics indicators read; absent when there are none. */
  numberPoints?: NumberPoint[];
  /** Of `ignoredDataPoints`: points of a non-monotonic Sum with delta temporality a gauge indicator names (an
   *  UpDownCounter exported as deltas has no level). Absent while 0. */
  deltaUpDownPoints?: number;
  /** Every data point of every metric in the request. */
  dataPoints: number;
  /** Data points of metrics Vigil does not read (other names, types or units): accepted, ignored. */
  ignoredDataPoints: number;
  /** Points the spec says to reject (zero time), that are inconsistent (bucket counts vs count), or whose
   *  resource's service.name is longer than limits.maxNameLength. */
  rejectedDataPoints: number;
  rejectionMessage?: string;
  /** Of `rejectedDataPoints`: those whose resource's service.name is too long. */
  serviceTooLongDataPoints?: number;
  /** Histogram points kept with their version cut to limits.maxNameLength. */
  cutVersions?: number;
}

/** Orders two [ms, rem] times: negative, 0 or positive. */
export function compareTimes(aMs: number, aRem: number, bMs: number, bRem: number): number {
  return aMs !== bMs ? aMs - bMs : aRem - bRem;
}
