import type { CohortIncrement, MetricIndicatorSpec } from '../contracts/telemetry.js';
import { mergeBatch } from '../evidence/cohort-batch.js';
import type { LimitHit } from '../limits/limits.js';
import { DEFAULT_LIMITS, LimitGuard } from '../limits/limits.js';
import type { CohortRules } from './cohort.js';
import { decodeMetricsJson } from './otlp/decode-metrics-json.js';
import { decodeMetricsProtobuf } from './otlp/decode-metrics-protobuf.js';
import type { OtlpEncoding } from './otlp/otlp-responses.js';
import { deltaToBatch } from './metrics/histogram-to-batch.js';
import type { DecodedMetrics } from './metrics/metric-model.js';
import { LEGACY_HTTP_METRIC, STABLE_HTTP_METRIC, TEMPORALITY_DELTA } from './metrics/metric-model.js';
import { StreamTracker } from './metrics/stream-state.js';

export type { CohortIncrement };

/**
 * OTLP metrics → cohort evidence: decode (protobuf or JSON), turn each histogram point into its delta
 * (StreamTracker), each delta into a CohortBatch increment (deltaToBatch), and merge the increments of one
 * request that share service, version, cohort and event time. The analysis registry takes them like
 * request samples (same look buckets, watermark and discovery).
 *
 * - A resource that sends the stable `http.server.request.duration` also sends the legacy
 *   `http.server.duration` only during the semantic-convention migration (dual emission): the legacy points
 *   of such a resource are dropped, so its requests are not counted twice (remembered for up to
 *   `maxStreams` resources).
 * - A delta that covers more than the analysis interval means the exporter's interval is longer than a
 *   look: the two cohorts' points then often fall into different looks and are never compared. Counted,
 *   and logged once per service (up to 1,000 services) with the fix.
 * - Idle streams expire (`staleAfterMs` of wall-clock time without a point), checked on every request.
 */
export interface MetricsIngestOptions {
  rules: CohortRules;
  /**
   * Metric indicators (issue 16): the OTLP metrics by name (counters, gauges, histograms) that configured detectors
   * read, with their attribute filters; their points become `batch.indicators[key]` of the increments. Absent or
   * empty: only the request-duration histograms are read.
   */
  indicators?: readonly MetricIndicatorSpec[];
  /** Streams tracked at most (cumulative→delta state, about 1 KB each). Default: DEFAULT_LIMITS.maxMetricStreams. */
  maxStreams?: number;
  /** The stream limit was reached (once per episode): log it, count it. */
  onLimitReached?(hit: LimitHit): void;
  /** Streams seen once were forgotten during one request to make room for new ones: count, log a summary. */
  onLimitEvicted?: (limit: 'metric-streams', count: number) => void;
  /** A stream without a point for this long (wall clock) is forgotten. Default 10 minutes. */
  staleAfterMs?: number;
  /** Default: the construction time. */
  agentStartUnixMs?: number;
  /** The analysis interval, for the warning about exports less frequent than looks. */
  intervalMs?: number;
  logger?: { warn(obj: object, msg: string): void };
}

export interface MetricsIngestResult {
  increments: CohortIncrement[];
  /** Data points rejected (partialSuccess.rejectedDataPoints) and why. */
  rejected: number;
  message?: string;
  decoded: DecodedMetrics;
}

export interface MetricsIngestCounters {
  requests: number;
  dataPoints: number;
  histogramPoints: number;
  rejectedDataPoints: number;
  legacyDuplicates: number;
  wideWindows: number;
  increments: number;
}

export const DEFAULT_METRIC_STALE_AFTER_MS = 10 * 60_000;
const MAX_WARNED_SERVICES = 1000;

export class MetricsIngest {
  readonly tracker: StreamTracker;
  /** The `metric-streams` limit (its `refused` counts the dropped points). */
  readonly guard: LimitGuard;
  readonly counters: MetricsIngestCounters = {
    requests: 0,
    dataPoints: 0,
    histogramPoints: 0,
    rejectedDataPoints: 0,
    legacyDuplicates: 0,
    wideWindows: 0,
    increments: 0,
  };
  private readonly stableHttpResources = new Map<string, true>();
  private readonly warnedServices = new Set<string>();
  private readonly maxStreams: number;

  constructor(private readonly opts: MetricsIngestOptions) {
    this.maxStreams = opts.maxStreams ?? DEFAULT_LIMITS.maxMetricStreams;
    this.guard = new LimitGuard('metric-streams', this.maxStreams, (hit) => opts.onLimitReached?.(hit));
    this.tracker = new StreamTracker({
      guard: this.guard,
      staleAfterMs: opts.staleAfterMs ?? DEFAULT_METRIC_STALE_AFTER_MS,
      agentStartUnixMs: opts.agentStartUnixMs ?? Date.now(),
    });
  }

  /** Decodes a request body. @throws VigilError VIGIL_ERR_INGEST_DECODE (answered 400). */
  decode(body: Buffer, encoding: OtlpEncoding): DecodedMetrics {
    return encoding === 'protobuf'
      ? decodeMetricsProtobuf(body, this.opts.rules)
      : decodeMetricsJson(body, this.opts.rules);
  }

  /** Decodes and processes one request body. */
  ingest(body: Buffer, encoding: OtlpEncoding, nowMs = Date.now()): MetricsIngestResult {
    return this.process(this.decode(body, encoding), nowMs);
  }

  /** Turns decoded points into merged cohort increments. O(points x buckets). */
  process(decoded: DecodedMetrics, nowMs = Date.now()): MetricsIngestResult {
    const c = this.counters;
    c.requests++;
    c.dataPoints += decoded.dataPoints;
    c.histogramPoints += decoded.points.length;
    c.rejectedDataPoints += decoded.rejectedDataPoints;
    this.tracker.expire(nowMs);
    const evictedBefore = this.tracker.counters.evicted;
    for (const p of decoded.points) {
      if (p.metric === STABLE_HTTP_METRIC) this.rememberStable(p.resource.key);
    }
    const merged = new Map<string, CohortIncrement>();
    for (const p of decoded.points) {
      if (p.metric === LEGACY_HTTP_METRIC && this.stableHttpResources.has(p.resource.key)) {
        c.legacyDuplicates++;
        continue;
      }
      const delta = this.tracker.next(p, nowMs);
      if (delta === undefined) continue;
      if (
        (!delta.whole || p.temporality === TEMPORALITY_DELTA) &&
        this.opts.intervalMs !== undefined &&
        delta.endUnixMs - delta.startUnixMs > this.opts.intervalMs
      )
        this.wideWindow(p.resource.service, delta.endUnixMs - delta.startUnixMs);
      const batch = deltaToBatch(delta);
      const { service, version } = p.resource;
      const key = `${service}\n${version}\n${p.cohort}\n${delta.endUnixMs}`;
      const into = merged.get(key);
      if (into === undefined)
        merged.set(key, { service, version, cohort: p.cohort, endUnixMs: delta.endUnixMs, batch });
      else mergeBatch(into.batch, batch);
    }
    const evicted = this.tracker.counters.evicted - evictedBefore;
    if (evicted > 0) this.opts.onLimitEvicted?.('metric-streams', evicted);
    const increments = [...merged.values()];
    c.increments += increments.length;
    const out: MetricsIngestResult = { increments, rejected: decoded.rejectedDataPoints, decoded };
    if (decoded.rejectionMessage !== undefined) out.message = decoded.rejectionMessage;
    return out;
  }

  private rememberStable(resourceKey: string): void {
    const m = this.stableHttpResources;
    m.delete(resourceKey);
    m.set(resourceKey, true);
    if (m.size > this.maxStreams) m.delete(m.keys().next().value!);
  }

  private wideWindow(service: string, windowMs: number): void {
    this.counters.wideWindows++;
    if (this.warnedServices.has(service) || this.warnedServices.size >= MAX_WARNED_SERVICES) return;
    this.warnedServices.add(service);
    this.opts.logger?.warn(
      { service, windowMs: Math.round(windowMs), intervalMs: this.opts.intervalMs },
      'metric points cover more than one analysis interval: canary and baseline points may land in different looks; ' +
        'export metrics at least once per interval (OTEL_METRIC_EXPORT_INTERVAL, in ms) or raise analysis.interval',
    );
  }
}
