/** Welford moments of y = ln(duration ms): n, mean and the sum of squared deviations (m2). */
export interface LogMoments {
  n: number;
  mean: number;
  m2: number;
}

/**
 * Log-bucketed latency histogram (mergeable, O(buckets) memory). Bucket index i covers
 * (base^i, base^(i+1)] milliseconds with base = 2^(2^-scale), the OTel exponential-histogram convention.
 * Durations <= 0 go to `zeroCount`.
 */
export interface LatencyHistogram {
  scale: number;
  zeroCount: number;
  /** Sparse bucket counts keyed by index. */
  counts: Record<number, number>;
}

/** What one cohort did during ONE look (its increment), or since the start (running totals). */
export interface CohortBatch {
  requests: number;
  /** Failed requests, never error events. */
  errors: number;
  logLatency: LogMoments;
  latencyHistogram: LatencyHistogram;
  /**
   * Attempts beyond the first of these requests: spans of the same trace, service and cohort within one look
   * counted as ONE request (analysis.requestUnit `trace`, src/analysis/open-traces.ts). Absent while 0.
   */
  retries?: number;
  /**
   * The same evidence per route (`http.route`, else the span name of a non-HTTP span: for gRPC
   * `package.Service/Method`), keyed by the route's stratum key (see ROUTE_NONE / ROUTE_OTHER); the routes of
   * one batch add up to the batch. Absent when routes are not stratified (`analysis.routes.maxPerService: 0`)
   * or the evidence carries no route (OTLP metric increments). Detectors compare within (look, route).
   */
  routes?: Record<string, CohortBatch>;
  /**
   * Evidence of configured indicators (issue 16: `analysis.metrics[]` entries that read something other than all
   * requests), keyed by indicator key (src/analysis/indicators.ts `indicatorKey`). Each is a CohortBatch of its own:
   * - span filters (`source: spans` + `where`) and named histograms: request-like (requests = observations, errors,
   *   latency moments and histogram of the observed values);
   * - counters (OTLP monotonic Sum): `requests` = the counter's increase in the look (events), nothing else;
   * - gauges (OTLP Gauge, cumulative non-monotonic Sum): `instances`.
   * Absent when no indicator is configured or none had evidence.
   */
  indicators?: Record<string, CohortBatch>;
  /**
   * Gauge levels (a gauge indicator's batch only): per `instanceKey + '\n' + seriesKey` (instance = the exporting
   * resource, series = the point attributes), the sum and count of the values of its points in this look. An
   * instance's level in a look is the SUM over its series of each series' mean (jvm.memory.used by pool adds up).
   */
  instances?: Record<string, GaugeCell>;
  /**
   * Rate evidence (the input a `ratio-sequential` detector is given: built per look by the look runner from two
   * counter indicators): numerator events and denominator exposures of this cohort.
   */
  ratio?: RatioCounts;
}

/** The values one gauge series of one instance reported in a look. */
export interface GaugeCell {
  sum: number;
  count: number;
}

/** Events (numerator) per exposure (denominator), e.g. checkouts completed per checkout started. */
export interface RatioCounts {
  numerator: number;
  denominator: number;
}

/** The separator of an instances key: `instanceKey + INSTANCE_SERIES_SEPARATOR + seriesKey`. */
export const INSTANCE_SERIES_SEPARATOR = '\n';

/** The stratum key of requests whose span carries no route. */
export const ROUTE_NONE = '(no route)';
/** The stratum key of a service's routes beyond `analysis.routes.maxPerService` (pooled). */
export const ROUTE_OTHER = '(other routes)';

export interface CohortPair {
  baseline: CohortBatch;
  canary: CohortBatch;
}
