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
}

/** The stratum key of requests whose span carries no route. */
export const ROUTE_NONE = '(no route)';
/** The stratum key of a service's routes beyond `analysis.routes.maxPerService` (pooled). */
export const ROUTE_OTHER = '(other routes)';

export interface CohortPair {
  baseline: CohortBatch;
  canary: CohortBatch;
}
