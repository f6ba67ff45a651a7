import type { Where } from './detector.js';
import type { CohortBatch } from './evidence.js';

/** Which side of a comparison a request belongs to. `unknown` requests are counted but never compared. */
export type Cohort = 'baseline' | 'canary';
export type CohortOrUnknown = Cohort | 'unknown';

/** A scalar attribute value as the decoders read it; arrays, kvlists and bytes are not read (undefined). */
export type Scalar = string | number | boolean | undefined;

/** One finished request, from a SERVER (or CONSUMER) span or a metric delta. */
export interface RequestSample {
  service: string;
  route?: string;
  /** service.version (or pod label); '' when the telemetry carries none. */
  version: string;
  cohort: CohortOrUnknown;
  /** Event time: the span's end, unix ms. */
  endUnixMs: number;
  durationMs: number;
  /** A failed request (status ERROR, 5xx on a server span, RPC error). 4xx is not a failure. */
  error: boolean;
  /**
   * A 52-bit hash of the span's trace id and span id (an integer in [0, 2^52)), the key that de-duplicates a
   * batch delivered twice (ingest/dedup.ts); undefined when the span carries no usable id.
   */
  spanKey?: number | undefined;
  /**
   * A 52-bit hash of the span's trace id alone (same hasher as spanKey), the key that groups the attempts of one
   * request (analysis.requestUnit `trace`: src/analysis/open-traces.ts); undefined when the span carries no valid
   * trace id (16 bytes, not all zero).
   */
  traceKey?: number | undefined;
  /**
   * Attempts beyond the first folded into this request (its retries within the same trace, service, cohort and
   * look); absent for a single attempt. Set by the grouping, never by the decoders.
   */
  retries?: number;
  /**
   * Keys of the span indicators (CohortRules.spanIndicators) whose `where` this span matches: the request also
   * counts in `batch.indicators[key]` for each. Absent when it matches none. Set by the decoders.
   */
  indicators?: string[];
}

/** The OTLP request-duration histograms of the semantic conventions that Vigil reads as requests (stable and legacy
 *  HTTP, current and legacy RPC): src/ingest/metrics/metric-model.ts gives each its protocol and default unit. */
export const REQUEST_DURATION_METRICS = [
  'http.server.request.duration',
  'http.server.duration',
  'rpc.server.call.duration',
  'rpc.server.duration',
] as const;
export type RequestDurationMetric = (typeof REQUEST_DURATION_METRICS)[number];

/**
 * A span indicator (issue 16): the request spans whose attributes (span, else resource) match `where` count,
 * besides the service's requests, in `CohortBatch.indicators[key]` (errors of `POST /checkout` only; requests with
 * `cache.hit=false`). An empty `where` matches every request span.
 */
export interface SpanIndicatorSpec {
  key: string;
  where: Where;
}

/**
 * A metric indicator (issue 16): the data points of the OTLP metric `metric` that match `where` (point attributes,
 * else resource attributes) become evidence in `CohortBatch.indicators[key]`:
 * - `counter`: a monotonic Sum (int or double), cumulative turned into deltas per stream like histograms; the
 *   increase is `requests` (events) of the indicator's batch;
 * - `gauge`: a Gauge, or a non-monotonic Sum with cumulative temporality (an UpDownCounter): each point's value goes
 *   to `instances[instanceKey + '\n' + seriesKey]`;
 * - `histogram`: a Histogram or ExponentialHistogram by name, its deltas as request-like observations (values in
 *   ms when the unit is a time unit, else as they are); a failed observation has a non-empty `error.type`.
 */
export interface MetricIndicatorSpec {
  key: string;
  kind: 'counter' | 'gauge' | 'histogram';
  metric: string;
  where: Where;
}

/** What a decoder hands to ingestion: the samples plus what it skipped and why (for partial success). */
export interface DecodedTraces {
  samples: RequestSample[];
  /** Spans seen in the request (all kinds). */
  spans: number;
  /** Spans that are not requests (CLIENT, INTERNAL, PRODUCER): not counted as requests, not rejected. */
  nonRequestSpans: number;
  /** Spans the spec says to reject (e.g. zero timestamps); reported through partialSuccess. */
  rejectedSpans: number;
  rejectionMessage?: string;
  /** Of `rejectedSpans`: spans of a resource whose service.name is longer than limits.maxNameLength. */
  serviceTooLongSpans?: number;
  /** Samples whose version, or route, was longer than limits.maxNameLength and is kept cut (prefix + hash). */
  cutVersions?: number;
  cutRoutes?: number;
}

/**
 * Pre-aggregated evidence: what one cohort of a service did up to `endUnixMs`, e.g. the delta of an OTLP
 * request-duration histogram. Ingested like request samples (same looks, clock and discovery).
 */
export interface CohortIncrement {
  service: string;
  /** service.version (or pod label); '' when the telemetry carries none. */
  version: string;
  cohort: CohortOrUnknown;
  /** Event time: the end of the interval the increment covers, unix ms. */
  endUnixMs: number;
  batch: CohortBatch;
}
