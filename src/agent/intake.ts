/**
 * Where decoded telemetry enters the analysis. Request samples (spans) and cohort increments (OTLP metric
 * deltas) arrive with their final cohort (the decoders resolve it once, from the whole config: see
 * ingest/cohort.ts); they are counted by cohort, handed to the analysis registry, and the looks they close
 * are scheduled. Nothing here rewrites a sample. A sample already seen (same trace id + span id: a batch
 * delivered twice) is skipped first (ingest/dedup.ts); the attempts of one request (same trace) are grouped by
 * the registry (analysis/open-traces.ts).
 */
import type { Logger } from 'pino';
import type { AnalysisRegistry, IngestRefusals } from '../analysis/analysis-registry.js';
import type { CompiledIndicators } from '../analysis/indicators.js';
import type { VigilConfig } from '../config/schema.js';
import type { CohortIncrement, RequestSample } from '../contracts/index.js';
import type { VigilMetrics } from '../http/metrics.js';
import { cohortRulesOf, type CohortRules } from '../ingest/cohort.js';
import { SpanDedup } from '../ingest/dedup.js';
import { MetricsIngest } from '../ingest/metrics-ingest.js';
import type { LookScheduler } from './look-scheduler.js';
import { limitEvicted, limitReached } from './registry.js';

export interface IntakeOptions {
  config: Readonly<VigilConfig>;
  logger: Logger;
  metrics: VigilMetrics;
  registry: AnalysisRegistry;
  looks: LookScheduler;
  /** What the configured metrics read beyond requests (span filters, OTLP metrics by name). */
  indicators?: Pick<CompiledIndicators, 'spans' | 'metrics'>;
}

export interface Intake {
  /** The cohort rules of the config, for every decoder (and every decode worker). */
  readonly cohortRules: CohortRules;
  /** OTLP metrics → increments (stream state, counters). */
  readonly metricsIngest: MetricsIngest;
  /** Feeds the request samples of one request (received now); returns what the registry refused, per reason. */
  readonly ingest: (samples: RequestSample[]) => IngestRefusals;
  /** Request samples skipped as duplicates so far (0 with ingest.dedup off). */
  readonly duplicateSamples: () => number;
  /** Feeds pre-aggregated cohort increments (OTLP metric deltas). */
  readonly ingestBatches: (items: CohortIncrement[]) => void;
}

export function createIntake(opts: IntakeOptions): Intake {
  const { config, logger, metrics, registry, looks } = opts;
  const cohortRules = cohortRulesOf(config, opts.indicators?.spans);
  const metricsIngest = new MetricsIngest({
    rules: cohortRules,
    ...(opts.indicators?.metrics.length ? { indicators: opts.indicators.metrics } : {}),
    maxStreams: config.limits.maxMetricStreams,
    intervalMs: config.analysis.interval,
    logger,
    onLimitReached: limitReached(metrics, logger),
    onLimitEvicted: limitEvicted(metrics, logger),
  });
  const dedup = config.ingest.dedup
    ? new SpanDedup({
        bucketMs: config.analysis.interval,
        horizonMs: Math.max(config.ingest.dedupHorizon, config.analysis.allowedLateness),
        maxSpans: config.ingest.dedupMaxSpans,
      })
    : undefined;
  let duplicates = 0;
  const unique = (samples: RequestSample[], receivedAtMs: number): RequestSample[] => {
    if (dedup === undefined) return samples;
    // spans dated beyond the clock skew never reach the windows (they follow event time): the registry refuses them
    const kept = dedup.filter(samples, receivedAtMs + config.analysis.maxClockSkew);
    const c = dedup.counts;
    if (c.duplicates + c.uncheckedLimit + c.uncheckedNoId + c.uncheckedLate > 0) {
      const t = dedup.takeCounts();
      duplicates += t.duplicates;
      if (t.duplicates > 0) metrics.spansDuplicate.inc(t.duplicates);
      if (t.uncheckedLimit > 0) metrics.spansUnchecked.inc({ reason: 'limit' }, t.uncheckedLimit);
      if (t.uncheckedNoId > 0) metrics.spansUnchecked.inc({ reason: 'no_id' }, t.uncheckedNoId);
      if (t.uncheckedLate > 0) metrics.spansUnchecked.inc({ reason: 'late' }, t.uncheckedLate);
    }
    metrics.dedupTracked.set(dedup.tracked);
    return kept;
  };
  return {
    cohortRules,
    metricsIngest,
    duplicateSamples: () => duplicates,
    ingest: (all) => {
      const receivedAtMs = Date.now();
      const samples = unique(all, receivedAtMs);
      // counted per request, not per sample: a labelled counter increment costs ~0.3 µs
      let canary = 0;
      let baseline = 0;
      for (const s of samples) {
        if (s.cohort === 'canary') canary++;
        else if (s.cohort === 'baseline') baseline++;
      }
      if (canary > 0) metrics.samples.inc({ cohort: 'canary' }, canary);
      if (baseline > 0) metrics.samples.inc({ cohort: 'baseline' }, baseline);
      if (samples.length > canary + baseline)
        metrics.samples.inc({ cohort: 'unknown' }, samples.length - canary - baseline);
      const refused = registry.ingest(samples, receivedAtMs);
      metrics.openTraces.set(registry.openTraces);
      if (refused.future > 0) metrics.samplesRefused.inc({ reason: 'future' }, refused.future);
      if (refused.tooOld > 0) metrics.samplesRefused.inc({ reason: 'too_old' }, refused.tooOld);
      // the keys of services the analysis does not track (refused, evicted) go, amortised O(1) per new service
      if (dedup !== undefined && dedup.serviceCount > 2 * config.limits.maxServices) {
        dedup.retain((service) => registry.hasService(service));
        metrics.dedupTracked.set(dedup.tracked);
      }
      looks.schedule();
      return refused;
    },
    ingestBatches: (items) => {
      for (const it of items) metrics.samples.inc({ cohort: it.cohort }, it.batch.requests);
      const refused = registry.ingestBatches(items, Date.now());
      if (refused.future > 0) metrics.samplesRefused.inc({ reason: 'future' }, refused.future);
      if (refused.tooOld > 0) metrics.samplesRefused.inc({ reason: 'too_old' }, refused.tooOld);
      looks.schedule();
    },
  };
}
