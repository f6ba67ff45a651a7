/**
 * Composition root: the pipeline (src/agent/pipeline.ts: intake → analysis registry → look scheduler →
 * decision dispatcher → job queues and connectors) with the OTLP receivers and the control API around it.
 * `createAgent` builds everything without listening (tests use it with port 0); `start` restores the analyses from
 * their checkpoint (src/agent/checkpoints.ts), reads the audit log back (the decisions list, what it recorded after
 * the checkpoint and, with `recoverPlans`, the rollback plans a restart interrupted), then listens and checkpoints
 * every `state.checkpointInterval`; `stop` shuts down gracefully: stop accepting OTLP, let recorded decisions reach
 * the queue, finish the active jobs, close the audit log, take the last checkpoint, close the API.
 */
import type { FastifyInstance } from 'fastify';
import { createCheckpointer, createStateStore } from './agent/checkpoints.js';
import { createPipeline, type Pipeline, type PipelineOptions } from './agent/pipeline.js';
import { createReceivers, type Receivers } from './agent/receivers.js';
import type { AnalysisRegistry, LookEvent } from './analysis/analysis-registry.js';
import type { CohortIncrement, Decision, RequestSample } from './contracts/index.js';
import type { AuditLog } from './decide/audit-log.js';
import { buildApiApp } from './http/api-app.js';
import type { VigilMetrics } from './http/metrics.js';
import type { CohortRules } from './ingest/cohort.js';
import type { MetricsIngest } from './ingest/metrics-ingest.js';

export interface AgentOptions extends PipelineOptions {
  /** Override listen ports (tests use 0). When `ports` is given, an unnamed otlpGrpc port is 0 (ephemeral). */
  ports?: { otlpHttp?: number; otlpGrpc?: number; api?: number };
}

export interface Agent extends Pick<Receivers, 'otlpApp' | 'otlpGrpc' | 'gate' | 'decodePool'> {
  readonly registry: AnalysisRegistry;
  readonly audit: AuditLog;
  readonly metrics: VigilMetrics;
  readonly apiApp: FastifyInstance;
  readonly cohortRules: CohortRules;
  /** Feeds request samples (replay and tests; OTLP routes call it too). */
  ingest(samples: RequestSample[]): void;
  /** Feeds pre-aggregated cohort increments (OTLP metric deltas; the /v1/metrics routes call it). */
  ingestBatches(items: CohortIncrement[]): void;
  /** OTLP metrics → increments (stream state, counters). */
  readonly metricsIngest: MetricsIngest;
  /** Called after a decision is durably recorded (before its jobs run). */
  onDecision(listener: (d: Decision) => void): void;
  onLook(listener: (e: LookEvent) => void): void;
  /** Resolves when every recorded decision is dispatched and the queues are idle. */
  settle(timeoutMs?: number): Promise<void>;
  start(): Promise<{ otlpHttpUrl: string; otlpGrpcAddress: string; apiUrl: string }>;
  stop(): Promise<void>;
}

function controlApi(pipeline: Pipeline, opts: AgentOptions, listening: () => boolean): FastifyInstance {
  const { registry, audit, metrics, actions } = pipeline;
  return buildApiApp({
    logger: opts.logger,
    metrics,
    registry,
    audit,
    auth: opts.loaded.config.server.auth,
    queues: { actions: actions.actions, notifications: actions.notifications },
    ready: () => (listening() ? [] : ['not listening yet']),
    warnings: () => actions.health.problems(),
    onResume: pipeline.resume,
  });
}

export function createAgent(opts: AgentOptions): Agent {
  const { loaded, logger } = opts;
  const { config } = loaded;
  const pipeline = createPipeline(opts);
  const { intake, actions } = pipeline;
  const receivers = createReceivers({ config, logger, metrics: pipeline.metrics, intake, ports: opts.ports });
  let started = false;
  const apiApp = controlApi(pipeline, opts, () => started);
  const checkpoints = createCheckpointer({
    store: createStateStore(config, opts.auditPath),
    registry: pipeline.registry,
    unrecorded: pipeline.unrecordedDecisions,
    intervalMs: config.state.checkpointInterval,
    logger,
    metrics: pipeline.metrics,
  });
  pipeline.onDecision(() => void checkpoints.save()); // a decided version is kept decided across a restart at once
  return {
    registry: pipeline.registry,
    audit: pipeline.audit,
    metrics: pipeline.metrics,
    otlpApp: receivers.otlpApp,
    otlpGrpc: receivers.otlpGrpc,
    gate: receivers.gate,
    decodePool: receivers.decodePool,
    apiApp,
    cohortRules: intake.cohortRules,
    ingest: intake.ingest,
    ingestBatches: intake.ingestBatches,
    metricsIngest: intake.metricsIngest,
    onDecision: pipeline.onDecision,
    onLook: pipeline.onLook,
    settle: pipeline.settle,
    async start() {
      // before anything listens: the analyses from their checkpoint, then what the audit log recorded after it
      const restored = await checkpoints.restore();
      await pipeline.recover({ unrecorded: restored?.unrecorded ?? [] });
      if (restored)
        logger.info(
          { checkpoint: checkpoints.where, ...restored, unrecorded: restored.unrecorded.length },
          'analyses restored',
        );
      checkpoints.start();
      const { otlpHttpUrl, otlpGrpcAddress } = await receivers.listen();
      const apiUrl = await apiApp.listen({
        host: config.server.api.host,
        port: opts.ports?.api ?? config.server.api.port,
      });
      started = true;
      for (const w of loaded.warnings) logger.warn(w);
      const { auth } = config.server;
      // `vigil serve` refuses this; an agent built otherwise fails closed rather than open
      if (auth.tokens.length === 0 && !auth.open)
        logger.warn(
          'server.auth has no tokens and open is not true: /api/* and the dashboard answer 401 to every request',
        );
      await actions.startHealthChecks();
      logger.info(
        {
          otlpHttp: otlpHttpUrl,
          otlpGrpc: otlpGrpcAddress,
          api: apiUrl,
          queueAdapter: config.queue.redis ? 'bullmq' : 'embedded',
          dryRun: pipeline.dryRun,
          config: loaded.file,
          configHash: loaded.hash,
        },
        'vigil is listening',
      );
      return { otlpHttpUrl, otlpGrpcAddress, apiUrl };
    },
    async stop() {
      started = false;
      actions.stopHealthChecks();
      await receivers.close();
      await pipeline.close();
      await checkpoints.close(); // after the last looks ran and their decisions were recorded
      await apiApp.close();
    },
  };
}
