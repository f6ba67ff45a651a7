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
}

export interface CohortPair {
  baseline: CohortBatch;
  canary: CohortBatch;
}
