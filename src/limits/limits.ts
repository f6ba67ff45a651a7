/**
 * Cardinality limits (high-cardinality protection, as the Collector's processors do it): Vigil's memory is
 * bounded by the number of services, analyses, versions and metric streams it keeps, never by traffic (and
 * each kept name by limits.maxNameLength: src/ingest/bounded-text.ts).
 * Each limit is a `LimitGuard`; the owner of the map asks it before adding a key. Past the limit the new key
 * is refused (its telemetry is dropped and counted), existing keys keep working, and ONE log line is written
 * when the limit is reached; it is re-armed once the map has shrunk below the limit again (expiry).
 *
 * Two maps first make room by forgetting keys that never proved themselves, so a flood of one-off keys cannot
 * lock real ones out until it expires: services on probation (`serviceProbation`, AnalysisRegistry) and metric
 * streams that sent one point (StreamTracker), least recently active first (`ProbationList`). Evictions are
 * counted (`vigil_limit_evicted_total{limit}`) and logged as a summary at most once a minute.
 */

/** The names of Vigil's limits (labels of `vigil_limit_refused_total{limit}`). */
export type LimitName = 'services' | 'analyses' | 'versions' | 'metric-streams' | 'name-length' | 'open-traces';

export interface LimitSettings {
  /** Services tracked at once (each keeps its clock, versions and analyses). */
  maxServices: number;
  /**
   * Requests a new service sends before it holds its place: until then (and until an analysis of it starts)
   * it is on probation, and when `maxServices` are tracked a new service takes the place of the least
   * recently active service on probation (see AnalysisRegistry). 0: no probation.
   */
  serviceProbation: number;
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
  /** Requests remembered (per trace, service and cohort) to fold their later attempts in (analysis.requestUnit
   *  `trace`, src/analysis/open-traces.ts); oldest evicted first. */
  maxOpenTraces: number;
}

export const DEFAULT_LIMITS: LimitSettings = {
  maxServices: 10_000,
  serviceProbation: 20,
  maxAnalyses: 5_000,
  maxVersionsPerService: 64,
  maxMetricStreams: 200_000,
  serviceIdleMs: 60 * 60_000,
  finishedRetentionMs: 60 * 60_000,
  maxOpenTraces: 1_000_000,
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
    services:
      'every tracked service is past its probation; new services are ignored until idle ones expire (limits.maxServices)',
    analyses: 'new canary versions are not analysed until running analyses finish (limits.maxAnalyses)',
    versions:
      'a service reports more versions than are remembered; new ones are ignored (limits.maxVersionsPerService)',
    'metric-streams':
      'every tracked stream has sent more than one point; new metric streams are ignored until idle ones expire (limits.maxMetricStreams)',
    'name-length': 'telemetry of a longer service.name is refused (limits.maxNameLength)',
    'open-traces':
      'requests of looks still open are forgotten to make room for new ones; their later attempts count as new requests (limits.maxOpenTraces)',
  };
  return `limit reached: ${hit.max} ${hit.limit}; ${what[hit.limit]}`;
}

/**
 * Keys on probation, least recently active first: the ones a full map forgets to make room for a new key.
 * `touch` moves a key to the most recent end, `oldest` is the next to forget. Every operation is O(1).
 * Pure (arrival order only, no clock), so a replay evicts exactly what the live run did.
 */
export class ProbationList<V> {
  private readonly entries = new Map<string, V>();

  get size(): number {
    return this.entries.size;
  }

  /** Adds the key, or moves it to the most recently active end. */
  touch(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
  }

  /** The key leaves probation (it proved itself, or it is gone). */
  delete(key: string): void {
    this.entries.delete(key);
  }

  /** The least recently active key and its value, or undefined when none is on probation. */
  oldest(): [string, V] | undefined {
    const first = this.entries.entries().next();
    return first.done === true ? undefined : first.value;
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  clear(): void {
    this.entries.clear();
  }
}
