/**
 * Cardinality limits (high-cardinality protection, as the Collector's processors do it): Vigil's memory is
 * bounded by the number of services, analyses, versions and metric streams it keeps, never by traffic.
 * Each limit is a `LimitGuard`; the owner of the map asks it before adding a key. Past the limit the new key
 * is refused (its telemetry is dropped and counted), existing keys keep working, and ONE log line is written
 * when the limit is reached; it is re-armed once the map has shrunk below the limit again (expiry).
 */

/** The names of Vigil's limits (labels of `vigil_limit_refused_total{limit}`). */
export type LimitName = 'services' | 'analyses' | 'versions' | 'metric-streams';

export interface LimitSettings {
  /** Services tracked at once (each keeps its clock, versions and analyses). */
  maxServices: number;
  /** Analyses running at once, over all services. */
  maxAnalyses: number;
  /** Versions remembered per service (canary versions seen, unknown-cohort versions, finished versions). */
  maxVersionsPerService: number;
  /** Metric streams (cumulative→delta state) at once; used by metrics ingestion. */
  maxMetricStreams: number;
  /** A service that has sent nothing for this long (event time, see AnalysisRegistry) is forgotten. */
  serviceIdleMs: number;
  /** A finished analysis stays listed this long (event time) after its decision, then only its outcome is kept. */
  finishedRetentionMs: number;
}

export const DEFAULT_LIMITS: LimitSettings = {
  maxServices: 10_000,
  maxAnalyses: 5_000,
  maxVersionsPerService: 64,
  maxMetricStreams: 200_000,
  serviceIdleMs: 60 * 60_000,
  finishedRetentionMs: 60 * 60_000,
};

export interface LimitHit {
  limit: LimitName;
  max: number;
}

export class LimitGuard {
  private saturated = false;
  /** Keys refused since start. */
  refused = 0;

  constructor(
    readonly limit: LimitName,
    readonly max: number,
    private readonly onReached: (hit: LimitHit) => void = () => undefined,
  ) {}

  /**
   * Whether a new key may be added to a collection that holds `size` keys now. On a refusal, counts it and,
   * the first time since the collection was last below the limit, calls `onReached`.
   */
  allow(size: number): boolean {
    if (size < this.max) {
      this.saturated = false;
      return true;
    }
    this.refused++;
    if (!this.saturated) {
      this.saturated = true;
      this.onReached({ limit: this.limit, max: this.max });
    }
    return false;
  }
}

/**
 * The event time most sources have reached: the upper median of their clocks (NaN when there are none).
 * Used instead of the maximum so that one source with a skewed clock (a far-future timestamp) cannot make
 * every other source look idle. O(n log n).
 */
export function upperMedian(values: Iterable<number>): number {
  const a = Float64Array.from(values);
  if (a.length === 0) return Number.NaN;
  a.sort();
  return a[a.length >> 1]!;
}

/** A message for the one log line written when a limit is reached. */
export function limitMessage(hit: LimitHit): string {
  const what: Record<LimitName, string> = {
    services: 'new services are ignored until idle ones expire (limits.maxServices)',
    analyses: 'new canary versions are not analysed until running analyses finish (limits.maxAnalyses)',
    versions:
      'a service reports more versions than are remembered; new ones are ignored (limits.maxVersionsPerService)',
    'metric-streams': 'new metric streams are ignored until idle ones expire (limits.maxMetricStreams)',
  };
  return `limit reached: ${hit.max} ${hit.limit}; ${what[hit.limit]}`;
}
