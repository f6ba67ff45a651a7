/**
 * Composition root: config → registries → pipeline (analysis, audit, queues, connectors) → servers.
 * `createAgent` builds everything without listening (tests use it with port 0); `start` listens;
 * `stop` shuts down gracefully: stop accepting OTLP, let recorded decisions reach the queue, finish the
 * active jobs, close the audit log and the API.
 */
import { availableParallelism } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AnalysisRegistry, type LookEvent } from './analysis/analysis-registry.js';
import { analysisSettings } from './analysis/settings.js';
import type { LoadedConfig, Registries } from './config/load.js';
import { connectorHealth } from './connectors-check.js';
import { buildConnectors } from './connectors-build.js';
import type { CohortIncrement, ConnectorDeps, Decision, RequestSample } from './contracts/index.js';
import { createAuditLog, type AuditLog } from './decide/audit-log.js';
import { buildApiApp } from './http/api-app.js';
import { createMetrics, jobOutcomeMetrics, type VigilMetrics } from './http/metrics.js';
import { buildOtlpApp, metricsConsumer, tracesConsumer } from './http/otlp-app.js';
import { DecodePool } from './ingest/admission/decode-pool.js';
import { IngestGate } from './ingest/admission/gate.js';
import { grpcAdmissionInterceptor } from './ingest/admission/grpc-interceptor.js';
import { limitMessage } from './limits/limits.js';
import { createOtlpGrpcReceiver, type OtlpGrpcReceiver } from './ingest/otlp/grpc-receiver.js';
import { cohortRulesOf, type CohortRules } from './ingest/cohort.js';
import { MetricsIngest } from './ingest/metrics-ingest.js';
import { createQueue } from './jobs/create-queue.js';
import { createPlanRunner, type NotifyJob, type StepJob } from './jobs/plan-runner.js';
import type { JobQueue } from './jobs/queue.js';

/** Longest stretch of look evaluation between two turns of the event loop (requests get in between). */
const LOOK_SLICE_MS = 4;
/** Looks run between two clock reads in a slice (one look costs ~0.1-0.5 ms with the default metrics). */
const LOOKS_PER_CHECK = 4;

export interface AgentOptions {
  loaded: LoadedConfig;
  registries: Registries;
  logger: Logger;
  /** Force dry-run whatever the config says (replay). */
  forceDryRun?: boolean;
  /** Do not post notifications (replay). */
  silenceNotifiers?: boolean;
  /** Override listen ports (tests use 0). When `ports` is given, an unnamed otlpGrpc port is 0 (ephemeral). */
  ports?: { otlpHttp?: number; otlpGrpc?: number; api?: number };
  deps?: Partial<ConnectorDeps>;
  /** Audit log path override. */
  auditPath?: string;
}

export interface Agent {
  readonly registry: AnalysisRegistry;
  readonly audit: AuditLog;
  readonly metrics: VigilMetrics;
  readonly otlpApp: FastifyInstance;
  readonly otlpGrpc: OtlpGrpcReceiver;
  /** The ingest queue shared by the OTLP receivers. */
  readonly gate: IngestGate;
  /** Decodes large trace bodies in worker threads (ingest.workerDecodeBytes). */
  readonly decodePool: DecodePool;
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

export function createAgent(opts: AgentOptions): Agent {
  const { loaded, registries, logger } = opts;
  const { config } = loaded;
  const dryRun = opts.forceDryRun === true || config.actions.mode === 'dry-run';
  const metrics = createMetrics();
  const audit = createAuditLog(opts.auditPath ?? config.audit.path);
  const deps: ConnectorDeps = { fetch: opts.deps?.fetch ?? globalThis.fetch, now: opts.deps?.now ?? Date.now };
  const { plan: connectors, notifiers } = buildConnectors(loaded, registries, deps);
  // Connector health checks (credentials, reachability): at start and every 30 s; shown by /readyz as
  // warnings. They do not fail readiness: an unreachable flag service must not stop Vigil from ingesting.
  const health = connectorHealth({ connectors, notifiers, logger, timeoutMs: 5_000 });
  let healthTimer: NodeJS.Timeout | undefined;

  const policy = { attempts: config.actions.attempts, backoffMs: config.actions.backoff };
  const queueOpts = { redisUrl: config.queue.redis ?? undefined, prefix: config.queue.prefix, logger };
  const actions: JobQueue<StepJob> = createQueue<StepJob>('actions', policy, queueOpts);
  const notifications: JobQueue<NotifyJob> = createQueue<NotifyJob>('notifications', policy, queueOpts);
  const publicUrl = config.server.api.publicUrl;
  const runner = createPlanRunner({
    actions,
    notifications,
    connectors,
    notifiers: opts.silenceNotifiers ? [] : notifiers,
    audit,
    logger,
    dryRun,
    stepTimeoutMs: config.actions.stepTimeout,
    metrics: jobOutcomeMetrics(metrics),
    link: publicUrl ? (d) => `${publicUrl.replace(/\/$/, '')}/api/v1/decisions/${encodeURIComponent(d.id)}` : undefined,
  });

  const decisionListeners: ((d: Decision) => void)[] = [];
  const lookListeners: ((e: LookEvent) => void)[] = [];
  let decisionChain: Promise<void> = Promise.resolve();

  const registry = new AnalysisRegistry(
    analysisSettings(loaded, { plans: true, dryRun }),
    {
      onAnalysisStarted: (a) => logger.info({ analysis: a.id, service: a.service, canaryVersion: a.canaryVersion, baselineVersion: a.baselineVersion }, 'analysis started'),
      onLimitReached: (hit) => {
        metrics.limitReached.inc({ limit: hit.limit });
        logger.warn({ limit: hit.limit, max: hit.max }, limitMessage(hit));
      },
      onLimitRefused: (limit, n) => metrics.limitRefused.inc({ limit }, n),
      onServiceExpired: (service, idleMs, running) => logger.info({ service, idleMs, runningAnalyses: running }, 'idle service forgotten'),
      onLook: (e) => {
        metrics.looks.inc();
        for (const l of lookListeners) l(e);
      },
      onDecision: (d) => {
        metrics.decisions.inc({ outcome: d.outcome });
        const log = logger.child({ decisionId: d.id, analysis: d.analysis, service: d.service });
        decisionChain = decisionChain
          .then(async () => {
            await audit.recordDecision(d); // recorded BEFORE any job is enqueued
            log.info({ outcome: d.outcome, reason: d.reason, plan: d.plan, dryRun: d.dryRun }, 'decision recorded');
            for (const l of decisionListeners) l(d);
            await runner.dispatch(d);
          })
          .catch((e: unknown) => log.error({ err: e }, 'decision could not be recorded or dispatched'));
      },
    },
    { deferLooks: true },
  );

  // Looks run in slices of at most LOOK_SLICE_MS between requests (see look-runner.ts): a fleet's
  // analyses all close their looks just after each interval boundary, and running them inside the
  // request that closed them stalled every client for the whole burst.
  let lookSliceScheduled = false;
  const runLookSlice = (): void => {
    lookSliceScheduled = false;
    const until = performance.now() + LOOK_SLICE_MS;
    try {
      do registry.runPendingLooks(LOOKS_PER_CHECK);
      while (registry.pendingLooks > 0 && performance.now() < until);
    } catch (err) {
      // a look listener threw (detector errors are verdicts, not exceptions): log it, keep running looks
      logger.error({ err }, 'a look listener failed');
    }
    scheduleLooks();
  };
  const scheduleLooks = (): void => {
    if (lookSliceScheduled || registry.pendingLooks === 0) return;
    lookSliceScheduled = true;
    setImmediate(runLookSlice);
  };

  const ingest = (samples: RequestSample[]) => {
    // counted per request, not per sample: a labelled counter increment costs ~0.3 µs
    let canary = 0;
    let baseline = 0;
    for (const s of samples) {
      if (s.cohort === 'canary') canary++;
      else if (s.cohort === 'baseline') baseline++;
    }
    if (canary > 0) metrics.samples.inc({ cohort: 'canary' }, canary);
    if (baseline > 0) metrics.samples.inc({ cohort: 'baseline' }, baseline);
    if (samples.length > canary + baseline) metrics.samples.inc({ cohort: 'unknown' }, samples.length - canary - baseline);
    registry.ingest(samples);
    scheduleLooks();
  };

  const cohortRules: CohortRules = cohortRulesOf(config);
  const metricsIngest = new MetricsIngest({
    rules: cohortRules,
    maxStreams: config.limits.maxMetricStreams,
    intervalMs: config.analysis.interval,
    logger,
    onLimitReached: (hit) => {
      metrics.limitReached.inc({ limit: hit.limit });
      logger.warn({ limit: hit.limit, max: hit.max }, limitMessage(hit));
    },
  });
  const ingestBatches = (items: CohortIncrement[]) => {
    for (const it of items) metrics.samples.inc({ cohort: it.cohort }, it.batch.requests);
    registry.ingestBatches(items);
    scheduleLooks();
  };
  const ingestMetrics = metricsConsumer({ metrics, metricsIngest, ingestBatches });
  const gate = new IngestGate({
    maxBytes: config.ingest.maxInflightBytes,
    maxRequests: config.ingest.maxInflightRequests,
    retryAfterSeconds: Math.max(1, Math.ceil(config.ingest.retryAfter / 1000)),
  });
  const { workerDecodeBytes, decodeWorkers } = config.ingest;
  const decodePool = new DecodePool({
    rules: cohortRules,
    workers: decodeWorkers > 0 ? decodeWorkers : Math.min(4, Math.max(1, availableParallelism() - 1)),
    minBytes: workerDecodeBytes > 0 ? workerDecodeBytes : Number.POSITIVE_INFINITY,
  });
  const decodeTraces = (body: Buffer, encoding: 'protobuf' | 'json') => decodePool.decode(body, encoding);
  const otlpApp = buildOtlpApp({ logger, metrics, cohortRules, maxBodyBytes: config.server.maxBodyBytes, ingest, gate, ingestMetrics, decodeTraces });
  const onGrpcRejected = (reason: string, code: number) => {
    metrics.requestsRejected.inc({ transport: 'grpc', status: String(code) });
    logger.debug({ reason, code }, 'OTLP/gRPC request rejected');
  };
  const otlpGrpc = createOtlpGrpcReceiver({
    host: config.server.otlpGrpc.host,
    port: opts.ports?.otlpGrpc ?? (opts.ports !== undefined ? 0 : config.server.otlpGrpc.port),
    maxMessageBytes: config.server.maxBodyBytes,
    cohortRules,
    admission: grpcAdmissionInterceptor({
      gate,
      maxMessageBytes: config.server.maxBodyBytes,
      onThrottled: (reason) => metrics.ingestThrottled.inc({ transport: 'grpc', reason }),
      onRejected: onGrpcRejected,
      onChange: () => {
        const g = gate.stats();
        metrics.ingestInflightRequests.set(g.inFlightRequests);
        metrics.ingestInflightBytes.set(g.inFlightBytes);
      },
    }),
    onTraces: tracesConsumer({ metrics, ingest }, 'grpc'),
    decodeTraces,
    onMetrics: ingestMetrics,
    onDropped: (signal, bytes) => metrics.otlpDropped.inc({ signal }, bytes),
    onRejected: onGrpcRejected,
    onInternalError: (err) => logger.error({ err }, 'OTLP/gRPC request failed'),
  });
  let started = false;
  const apiApp = buildApiApp({
    logger,
    metrics,
    registry,
    audit,
    tokens: config.server.auth.tokens,
    queues: { actions, notifications },
    ready: () => (started ? [] : ['not listening yet']),
    warnings: () => health.problems(),
    onResume: async (service, version, by, reason) => {
      const ok = registry.resume(service, version);
      if (ok) await audit.append({ type: 'resume', service, canaryVersion: version, by, reason });
      return ok;
    },
  });

  runner.start();

  const settle = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    registry.runPendingLooks();
    let seen: Promise<void> | undefined;
    while (seen !== decisionChain) {
      seen = decisionChain;
      await seen;
      const left = Math.max(1, deadline - Date.now());
      await actions.drain(left);
      await notifications.drain(left);
    }
  };

  return {
    registry,
    audit,
    metrics,
    otlpApp,
    otlpGrpc,
    gate,
    decodePool,
    apiApp,
    cohortRules,
    ingest,
    ingestBatches,
    metricsIngest,
    onDecision: (l) => decisionListeners.push(l),
    onLook: (l) => lookListeners.push(l),
    settle,
    async start() {
      const otlpHttpUrl = await otlpApp.listen({ host: config.server.otlpHttp.host, port: opts.ports?.otlpHttp ?? config.server.otlpHttp.port });
      const { address: otlpGrpcAddress } = await otlpGrpc.listen();
      const apiUrl = await apiApp.listen({ host: config.server.api.host, port: opts.ports?.api ?? config.server.api.port });
      started = true;
      for (const w of loaded.warnings) logger.warn(w);
      await health.refresh();
      healthTimer = setInterval(() => void health.refresh(), 30_000);
      healthTimer.unref();
      logger.info({ otlpHttp: otlpHttpUrl, otlpGrpc: otlpGrpcAddress, api: apiUrl, queueAdapter: config.queue.redis ? 'bullmq' : 'embedded', dryRun, config: loaded.file, configHash: loaded.hash }, 'vigil is listening');
      return { otlpHttpUrl, otlpGrpcAddress, apiUrl };
    },
    async stop() {
      started = false;
      clearInterval(healthTimer);
      await Promise.all([otlpApp.close(), otlpGrpc.close(5_000)]);
      await decodePool.close();
      registry.runPendingLooks(); // every closed look is run, and its decision recorded, before exit
      await decisionChain;
      await runner.close();
      await Promise.all([...connectors.values(), ...notifiers].map((c) => (c.close ? c.close() : Promise.resolve())));
      await audit.close();
      await apiApp.close();
    },
  };
}
