/**
 * `vigil replay`: recorded OTLP JSON lines (the Collector's file exporter: one Export*ServiceRequest per
 * line, gzip accepted) through the agent's pipeline (src/agent/pipeline.ts, without its servers) in event
 * time, actions in dry-run, notifications off.
 * Writes one JSON object per decision to `out`, then a summary line.
 */
import type { Logger } from 'pino';
import { createPipeline } from '../agent/pipeline.js';
import type { LoadedConfig, Registries } from '../config/load.js';
import type { Decision } from '../contracts/index.js';
import { decodeTracesJson } from '../ingest/otlp/decode-traces-json.js';
import { readRecording } from '../recording/read-recording.js';

export interface ReplayOptions {
  loaded: LoadedConfig;
  registries: Registries;
  files: string[];
  logger: Logger;
  format: 'json' | 'text';
  out: (line: string) => void;
  progress?: (msg: string) => void;
  auditPath: string;
}

export interface ReplaySummary {
  type: 'summary';
  files: number;
  lines: number;
  badLines: number;
  metricLines: number;
  /** Cohort increments taken from metric histogram points. */
  metricIncrements: number;
  spans: number;
  samples: number;
  analyses: number;
  outcomes: Record<string, number>;
  unknownCohortSamples: number;
  lateSamples: number;
  /** Request spans skipped as duplicates (same trace id + span id seen before: ingest/dedup.ts). */
  duplicateSamples: number;
  /** Request spans folded into an earlier attempt of the same request (same trace, service, cohort and look:
   *  analysis.requestUnit `trace`), as the live agent folds them. */
  retriedAttempts: number;
}

export function decisionLine(d: Decision): Record<string, unknown> {
  return {
    type: 'decision',
    service: d.service,
    analysis: d.analysis,
    outcome: d.outcome,
    look: d.look,
    eventTimeUnixMs: d.eventTimeUnixMs,
    canaryVersion: d.canaryVersion,
    baselineVersion: d.baselineVersion,
    decisionId: d.id,
    reasons: d.verdicts
      .filter((v) => !v.shadow && (d.outcome !== 'rollback' || v.phase === 'fail'))
      .map((v) => ({
        metric: v.metric,
        phase: v.phase,
        pValue: v.pValue,
        estimate: v.estimate,
        lower: v.lower,
        upper: v.upper,
      })),
  };
}

function emptySummary(files: number): ReplaySummary {
  return {
    type: 'summary',
    files,
    lines: 0,
    badLines: 0,
    metricLines: 0,
    metricIncrements: 0,
    spans: 0,
    samples: 0,
    analyses: 0,
    outcomes: {},
    unknownCohortSamples: 0,
    lateSamples: 0,
    duplicateSamples: 0,
    retriedAttempts: 0,
  };
}

export async function runReplay(opts: ReplayOptions): Promise<ReplaySummary> {
  const pipeline = createPipeline({
    loaded: opts.loaded,
    registries: opts.registries,
    logger: opts.logger,
    forceDryRun: true,
    silenceNotifiers: true,
    auditPath: opts.auditPath,
  });
  const { intake, registry } = pipeline;
  const summary = emptySummary(opts.files.length);
  pipeline.onDecision((d) => {
    summary.outcomes[d.outcome] = (summary.outcomes[d.outcome] ?? 0) + 1;
    if (opts.format === 'json') opts.out(JSON.stringify(decisionLine(d)));
    else
      opts.out(
        `${new Date(d.eventTimeUnixMs).toISOString()} ${d.outcome.toUpperCase()} ${d.analysis} (look ${d.look}): ${d.reason}`,
      );
  });
  try {
    for await (const { file, lineNo, text, signal } of readRecording(opts.files)) {
      summary.lines++;
      if (signal === 'metrics') {
        summary.metricLines++;
        try {
          // Replay keeps every metric stream for the whole file (clock 0: nothing goes stale), so the result
          // depends on the recording alone. A series whose first point is in the file starts as a baseline.
          const r = intake.metricsIngest.ingest(Buffer.from(text, 'utf8'), 'json', 0);
          summary.metricIncrements += r.increments.length;
          intake.ingestBatches(r.increments);
        } catch (e) {
          summary.badLines++;
          opts.logger.warn(
            { file, line: lineNo, err: e instanceof Error ? e.message : String(e) },
            'skipped an undecodable line',
          );
        }
        continue;
      }
      if (signal !== 'traces') continue;
      try {
        const decoded = decodeTracesJson(text, intake.cohortRules);
        summary.spans += decoded.spans;
        summary.samples += decoded.samples.length;
        intake.ingest(decoded.samples);
      } catch (e) {
        summary.badLines++;
        opts.logger.warn(
          { file, line: lineNo, err: e instanceof Error ? e.message : String(e) },
          'skipped an undecodable line',
        );
      }
      if (summary.lines % 1000 === 0)
        opts.progress?.(
          `${file}: ${summary.lines} lines, ${summary.spans} spans, ${registry.analysisCount.running} analyses running`,
        );
    }
    registry.flush();
    await pipeline.settle();
  } finally {
    await pipeline.close();
  }
  const counts = registry.analysisCount;
  summary.analyses = counts.running + counts.decided;
  summary.unknownCohortSamples = registry.counters.unknownCohort;
  summary.lateSamples = registry.counters.lateSamples;
  summary.duplicateSamples = intake.duplicateSamples();
  summary.retriedAttempts = registry.counters.retriedAttempts;
  opts.out(opts.format === 'json' ? JSON.stringify(summary) : `summary: ${JSON.stringify(summary)}`);
  return summary;
}
