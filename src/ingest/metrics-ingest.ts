import type { CohortBatch } from '../contracts/evidence.js';
import type { CohortIncrement, MetricIndicatorSpec } from '../contracts/telemetry.js';
import { emptyBatch, mergeBatch } from '../evidence/cohort-batch.js';
import type { LimitHit } from '../limits/limits.js';
import { DEFAULT_LIMITS, LimitGuard } from '../limits/limits.js';
import type { CohortRules } from './cohort.js';
import { decodeMetricsJson } from './otlp/decode-metrics-json.js';
import { decodeMetricsProtobuf } from './otlp/decode-metrics-protobuf.js';
import type { OtlpEncoding } from './otlp/otlp-responses.js';
import { deltaToBatch } from './metrics/histogram-to-batch.js';
import type { MetricIndicators } from './metrics/indicators.js';
import { compileMetricIndicators } from './metrics/indicators.js';
import type { DecodedMetrics, NumberPoint, TrackedPoint } from './metrics/metric-model.js';
import { LEGACY_HTTP_METRIC, STABLE_HTTP_METRIC, TEMPORALITY_DELTA } from './metrics/metric-model.js';
import type { StreamDelta } from './metrics/stream-state.js';
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
 *
 * Indicators (issue 16, `indicators`): the points of the metrics they name go, besides, to
 * `increment.batch.indicators[key]` for each indicator whose `where` they match (metrics-accumulator.ts):
 * - a histogram point's delta (one StreamTracker delta, used twice when the metric is also a request metric, e.g.
 *   `http.server.request.duration` where `http.route` is `/checkout`) as request-like observations;
 * - a counter's delta (same cumulative→delta rules and stream limit as histograms) as `requests` (events);
 *   a double counter's non-integer increase is kept as it is;
 * - a gauge point's value, unless a duplicate (time not newer than its stream's last), as
 *   `instances[instance + '\n' + series] += {sum: value, count: 1}`, at the point's time.
 * An increment may then have no request and only indicators. The legacy HTTP metric of a dual-emitting resource
 * still feeds an indicator that names it (only its requests are dropped).
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
  /** Data points of the metrics indicators read that matched at least one indicator (before stream state). */
  indicatorPoints: number;
  /** Non-monotonic Sum points with delta temporality an indicator named: ignored (no level). */
  deltaUpDownPoints: number;
}

/**
 * The first request evidence of an increment that so far holds only indicators (0 requests): it becomes the
 * increment's batch as it is, keeping the indicators, so the request evidence is computed exactly as without them.
 */
function adopt(into: CohortIncrement, batch: CohortBatch): void {
  if (into.batch.indicators !== undefined) batch.indicators = into.batch.indicators;
  into.batch = batch;
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
    indicatorPoints: 0,
    deltaUpDownPoints: 0,
  };
  private readonly stableHttpResources = new Map<string, true>();
  private readonly warnedServices = new Set<string>();
  private readonly maxStreams: number;
  private readonly indicators: MetricIndicators | undefined;

  constructor(private readonly opts: MetricsIngestOptions) {
    this.maxStreams = opts.maxStreams ?? DEFAULT_LIMITS.maxMetricStreams;
    this.indicators = compileMetricIndicators(opts.indicators);
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
      ? decodeMetricsProtobuf(body, this.opts.rules, this.indicators)
      : decodeMetricsJson(body, this.opts.rules, this.indicators);
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
    c.deltaUpDownPoints += decoded.deltaUpDownPoints ?? 0;
    this.tracker.expire(nowMs);
    const evictedBefore = this.tracker.counters.evicted;
    for (const p of decoded.points) {
      if (p.metric === STABLE_HTTP_METRIC) this.rememberStable(p.resource.key);
    }
    const merged = new Map<string, CohortIncrement>();
    for (const p of decoded.points) {
      let request = p.indicatorOnly !== true;
      if (p.metric === LEGACY_HTTP_METRIC && request && this.stableHttpResources.has(p.resource.key)) {
        c.legacyDuplicates++;
        if (p.indicators === undefined) continue;
        request = false;
      }
      if (p.indicators !== undefined) c.indicatorPoints++;
      const delta = this.tracker.next(p, nowMs);
      if (delta === undefined) continue;
      this.checkWindow(delta);
      const batch = deltaToBatch(delta);
      if (request) {
        const { service, version } = p.resource;
        const key = `${service}\n${version}\n${p.cohort}\n${delta.endUnixMs}`;
        const into = merged.get(key);
        if (into === undefined)
          merged.set(key, { service, version, cohort: p.cohort, endUnixMs: delta.endUnixMs, batch });
        else if (into.batch.requests === 0) adopt(into, batch);
        else mergeBatch(into.batch, batch);
      }
      // one delta, used twice: the indicators get their own batch (never the increment's own object)
      if (p.indicators !== undefined)
        this.addIndicators(merged, delta, request ? deltaToBatch(delta) : batch, p.indicators);
    }
    if (decoded.numberPoints !== undefined) this.numberPoints(merged, decoded.numberPoints, nowMs);
    const evicted = this.tracker.counters.evicted - evictedBefore;
    if (evicted > 0) this.opts.onLimitEvicted?.('metric-streams', evicted);
    const increments = [...merged.values()];
    c.increments += increments.length;
    const out: MetricsIngestResult = { increments, rejected: decoded.rejectedDataPoints, decoded };
    if (decoded.rejectionMessage !== undefined) out.message = decoded.rejectionMessage;
    return out;
  }

  /** A delta that covers more than the analysis interval (not a first point's whole series): warn. */
  private checkWindow(delta: StreamDelta<TrackedPoint & { resource: { service: string } }>): void {
    if (
      (!delta.whole || delta.point.temporality === TEMPORALITY_DELTA) &&
      this.opts.intervalMs !== undefined &&
      delta.endUnixMs - delta.startUnixMs > this.opts.intervalMs
    )
      this.wideWindow(delta.point.resource.service, delta.endUnixMs - delta.startUnixMs);
  }

  /** Counter deltas and gauge levels into `batch.indicators` of their increments. */
  private numberPoints(merged: Map<string, CohortIncrement>, points: readonly NumberPoint[], nowMs: number): void {
    for (const p of points) {
      this.counters.indicatorPoints++;
      if (p.role === 'gauge') {
        if (!this.tracker.level(p, nowMs)) continue;
        const endUnixMs = p.timeMs + p.timeRem / 1e6;
        const inc = this.incrementOf(merged, p, endUnixMs);
        const indicators = (inc.batch.indicators ??= {});
        for (const key of p.indicators) {
          const cells = ((indicators[key] ??= emptyBatch()).instances ??= {});
          const cell = (cells[p.cell!] ??= { sum: 0, count: 0 });
          cell.sum += p.count;
          cell.count += 1;
        }
        continue;
      }
      const delta = this.tracker.next(p, nowMs);
      if (delta === undefined) continue;
      this.checkWindow(delta);
      const events = emptyBatch();
      events.requests = delta.count;
      this.addIndicators(merged, delta, events, p.indicators);
    }
  }

  /** Adds `batch` (one delta's evidence) to `indicators[key]` of the delta's increment, for each key. */
  private addIndicators(
    merged: Map<string, CohortIncrement>,
    delta: StreamDelta<NumberPoint> | StreamDelta<DecodedMetrics['points'][number]>,
    batch: CohortBatch,
    keys: readonly string[],
  ): void {
    const inc = this.incrementOf(merged, delta.point, delta.endUnixMs);
    const indicators = (inc.batch.indicators ??= {});
    for (const key of keys) mergeBatch((indicators[key] ??= emptyBatch()), batch);
  }

  /** The increment of a point's service, version and cohort at `endUnixMs`; created empty (0 requests) if new. */
  private incrementOf(
    merged: Map<string, CohortIncrement>,
    p: { resource: { service: string; version: string }; cohort: CohortIncrement['cohort'] },
    endUnixMs: number,
  ): CohortIncrement {
    const { service, version } = p.resource;
    const key = `${service}\n${version}\n${p.cohort}\n${endUnixMs}`;
    let inc = merged.get(key);
    if (inc === undefined) {
      inc = { service, version, cohort: p.cohort, endUnixMs, batch: emptyBatch() };
      merged.set(key, inc);
    }
    return inc;
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
