/**
 * Composition root: the pipeline (src/agent/pipeline.ts: intake → analysis registry → look scheduler →
 * decision dispatcher → job queues and connectors) with the OTLP receivers and the control API around it.
 * `createAgent` builds everything without listening (tests use it with port 0); `start` restores the analyses from
 * their checkpoint (src/agent/checkpoints.ts), reads the audit log back (the decisions list, what it recorded after
 * the checkpoint and, with `recoverPlans`, the rollback plans a restart interrupted), then listens and checkpoints
 * every `state.checkpointInterval`; `stop` shuts down gracefully: stop accepting OTLP, run the closed looks, then
 * both at once: take the last checkpoint, and let recorded decisions reach the queue, finish the active jobs, close the
 * audit log; then close the API.
 *
 * The shutdown is bounded by `server.shutdownTimeout` (30 s), whatever Redis does: near its end (2 s before, or a
 * quarter of it when shorter), `stop` gives up on the queues and the checkpoint store (their connections are dropped,
 * nothing more is waited for), so it returns within the timeout, and its report lists
 * what was left undone (decisions not enqueued, jobs not finished, the last checkpoint not saved); the CLI logs it and
 * exits. A shutdown that finished in time can still leave work undone (a checkpoint whose save failed): the report
 * says so too.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { abortLatch, createCheckpointer, createStateStore, type Checkpointer } from './agent/checkpoints.js';
import { createClusterNode, type ClusterNode } from './agent/cluster-node.js';
import { createPipeline, type Pipeline, type PipelineOptions } from './agent/pipeline.js';
import { operate, type OperatorDeps } from './agent/operator.js';
import { createReceivers, type Receivers } from './agent/receivers.js';
import type { AnalysisRegistry, LookEvent } from './analysis/analysis-registry.js';
import type { CohortIncrement, Decision, RequestSample } from './contracts/index.js';
import type { AuditLog } from './decide/audit-log.js';
import { buildApiApp, type ApiDeps } from './http/api-app.js';
import { createDrills, createDrillSchedule, type Drills, type DrillSchedule } from './drill/drills.js';
import { runDrill } from './drill/run-drill.js';
import { createPromoter, type Promoter } from './agent/promoter.js';
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
  /** `shutdown()`, without its report. */
  stop(): Promise<void>;
  /** Shuts down within `timeoutMs` (default `server.shutdownTimeout`) and says what was left undone. Rejects only
   *  when the graceful shutdown failed before its deadline. */
  shutdown(timeoutMs?: number): Promise<StopReport>;
}

/** How a shutdown went. */
export interface StopReport {
  /** The graceful shutdown did not finish within the timeout: the queues and the checkpoint store were given up. */
  timedOut: boolean;
  /** What was left undone, one sentence each ([] when everything finished). */
  undone: string[];
}

/** The end of `server.shutdownTimeout` kept for giving up (dropping connections, closing what can be): at most this,
 *  and at most a quarter of the timeout. The graceful part gets the rest, so the whole fits in the timeout. */
const ABORT_RESERVE_MS = 2_000;

function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((r) => (timer = setTimeout(r, ms)));
  return { promise, cancel: () => clearTimeout(timer) };
}

function controlApi(
  pipeline: Pipeline,
  opts: AgentOptions,
  listening: () => boolean,
  node: ClusterNode | undefined,
  promoter: Promoter,
  drills: Drills,
  saveState: () => Promise<void>,
): FastifyInstance {
  const { registry, audit, metrics, actions } = pipeline;
  return buildApiApp({
    logger: opts.logger,
    metrics,
    registry,
    audit,
    auth: opts.loaded.config.server.auth,
    publicUrl: opts.loaded.config.server.api.publicUrl,
    queues: { actions: actions.actions, notifications: actions.notifications },
    ready: () => (listening() ? [] : ['not listening yet']),
    dependencies: async () => {
      const redis = await pipeline.redisHealth?.check();
      return [...(redis === undefined ? [] : [redis]), ...(node?.problems() ?? [])];
    },
    warnings: () => actions.health.problems(),
    operate: operatorFor(pipeline, node, opts.logger),
    approve: async (id, who) => {
      const r = await promoter.approve(id, who);
      if (r.status === 'done') await saveState(); // a restart, or the next owner in a cluster, sees the approval
      return r;
    },
    drills,
    ...(node ? { cluster: node } : {}),
  });
}

/** The API's operator actions (src/agent/operator.ts) on this agent's pipeline; in cluster mode a resume is counted in
 *  Redis first, a decision by hand is claimed there before it is answered, and a pause is checkpointed at once. */
function operatorFor(pipeline: Pipeline, node: ClusterNode | undefined, logger: Logger): ApiDeps['operate'] {
  const deps: OperatorDeps = {
    registry: pipeline.registry,
    audit: pipeline.audit,
    async resumeVersion(service, version, who) {
      await node?.resume(service, version); // cluster: the next owner knows the version's incarnation
      return pipeline.resume(service, version, who);
    },
    async dispatched() {
      await node?.settled(); // cluster: claimed in Redis first
      await pipeline.dispatched();
    },
    now: Date.now,
    dryRun: pipeline.dryRun,
    notify: (n) =>
      pipeline.actions.runner
        .notifyOperator(n)
        .catch((err: unknown) =>
          logger.error({ err, analysis: n.analysis.id }, 'operator notification could not be enqueued'),
        ),
  };
  return async (id, action, who) => {
    const r = await operate(deps, id, action, who);
    if (r.status === 'done' && r.changed && !r.decision) await node?.checkpoint(); // the next owner sees the pause
    return r;
  };
}

/** Cluster mode: the node stands where the single checkpoint would (each service is saved on its own, in Redis). */
function clusterCheckpoints(node: ClusterNode, where: string): Checkpointer {
  const latch = abortLatch();
  return {
    where,
    restore: async () => undefined,
    start: () => undefined,
    save: () => node.checkpoint(),
    async close(after) {
      // the shutdown's last looks saved at once (kept even if the stop gives up below); then the handover checkpoints
      // what they started (a share being set) once it is done
      if (after !== undefined) await node.checkpoint();
      if (await latch.waitFor(after ?? Promise.resolve())) await node.stop();
    },
    abort() {
      latch.abort();
      node.abort();
    },
    unsaved: () => undefined,
  };
}

/** The pipeline and, with `cluster.enabled`, the replica's cluster node wired to it (its decisions go through it). */
function pipelineAndNode(opts: AgentOptions): { pipeline: Pipeline; node: ClusterNode | undefined } {
  const { config } = opts.loaded;
  let node: ClusterNode | undefined;
  const pipeline = createPipeline({
    ...opts,
    ...(config.cluster.enabled
      ? { decisionGate: { decide: (d: Decision) => node?.decide(d), settled: async () => node?.settled() } }
      : {}),
  });
  if (config.cluster.enabled) {
    node = createClusterNode({ config, logger: opts.logger, metrics: pipeline.metrics });
    node.attach({ registry: pipeline.registry, dispatch: pipeline.dispatch, dispatched: pipeline.dispatched });
  }
  return { pipeline, node };
}

/** The single checkpoint (file or Redis), or in cluster mode the node's per-service checkpoints. */
function checkpointsOf(opts: AgentOptions, pipeline: Pipeline, node: ClusterNode | undefined): Checkpointer {
  const { config } = opts.loaded;
  if (node)
    return clusterCheckpoints(node, `redis (one key per service, ${config.queue.prefix}:cluster:state:<service>)`);
  const checkpoints = createCheckpointer({
    store: createStateStore(config, opts.auditPath, (client, err) => pipeline.redisHealth?.clientError(client, err)),
    registry: pipeline.registry,
    unrecorded: pipeline.unrecordedDecisions,
    intervalMs: config.state.checkpointInterval,
    logger: opts.logger,
    metrics: pipeline.metrics,
  });
  pipeline.onDecision(() => void checkpoints.save()); // a decided version is kept decided across a restart at once
  return checkpoints;
}

/**
 * Rollback drills in this process (the API's, and `rollouts[].drill.every` once the agent listens): dry runs, recorded
 * in the audit log. The schedule is not run in cluster mode (every replica would drill): call the API from cron there.
 */
function drillsOf(opts: AgentOptions, pipeline: Pipeline, node: ClusterNode | undefined) {
  const { loaded, registries, logger } = opts;
  const drills = createDrills({
    audit: pipeline.audit,
    drill: (service, target) => runDrill({ loaded, registries, service, target, logger }),
    counted: (service, passed) => pipeline.metrics.drills.inc({ service, outcome: passed ? 'passed' : 'failed' }),
  });
  const schedule = new Map<string, number>();
  for (const r of loaded.config.rollouts) if (r.drill) schedule.set(r.service, r.drill.every);
  let running: DrillSchedule | undefined;
  pipeline.addWork({ settled: () => Promise.resolve(), close: () => running?.close() ?? Promise.resolve() });
  return {
    drills,
    start(): void {
      if (schedule.size === 0) return;
      if (node) {
        logger.warn(
          'rollouts[].drill: scheduled drills do not run in cluster mode; call POST /api/v1/drills from cron',
        );
        return;
      }
      running = createDrillSchedule({ drills, schedule, logger: logger.child({ component: 'drill-schedule' }) });
      logger.info({ services: [...schedule.keys()] }, 'rollback drills scheduled');
    },
  };
}

/** Promotion plans (rollouts[].promote): the canary share moved step by step after the looks. */
function promoterOf(opts: AgentOptions, pipeline: Pipeline, node: ClusterNode | undefined): Promoter {
  const promoter = createPromoter({
    config: opts.loaded.config,
    connectors: pipeline.actions.connectors,
    registry: pipeline.registry,
    audit: pipeline.audit,
    logger: opts.logger,
    dryRun: pipeline.dryRun,
    operate: operatorFor(pipeline, node, opts.logger),
    notify: (n) => pipeline.actions.runner.notifyOperator(n),
    onShare: (a, percent) => pipeline.metrics.promotionShare.set({ service: a.service, analysis: a.id }, percent),
  });
  pipeline.onLook((e) => promoter.onLook(e));
  pipeline.onDecision((d) => pipeline.metrics.promotionShare.remove({ service: d.service, analysis: d.analysis }));
  pipeline.addWork(promoter);
  return promoter;
}

export function createAgent(opts: AgentOptions): Agent {
  const { loaded, logger } = opts;
  const { config } = loaded;
  const { pipeline, node } = pipelineAndNode(opts);
  const { intake, actions } = pipeline;
  const receivers = createReceivers({
    config,
    logger,
    metrics: pipeline.metrics,
    intake,
    ports: opts.ports,
    ...(node ? { admit: (samples: readonly { service: string }[]) => node.admit(samples) } : {}),
  });
  let started = false;
  const promoter = promoterOf(opts, pipeline, node);
  const drills = drillsOf(opts, pipeline, node);
  const checkpoints = checkpointsOf(opts, pipeline, node);
  const apiApp = controlApi(
    pipeline,
    opts,
    () => started,
    node,
    promoter,
    drills.drills,
    () => checkpoints.save(),
  );
  let stopping: Promise<StopReport> | undefined;
  const shutdown = (timeoutMs = config.server.shutdownTimeout): Promise<StopReport> =>
    (stopping ??= boundedStop({ receivers, pipeline, checkpoints, apiApp, promoter }, timeoutMs, () => {
      started = false;
      actions.stopHealthChecks();
    }));
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
      const listenApi = () =>
        apiApp.listen({ host: config.server.api.host, port: opts.ports?.api ?? config.server.api.port });
      let apiUrl: string | undefined;
      if (node) {
        // each service's state comes from Redis when its lease is taken; the API first, for its advertised address
        await pipeline.recover(null);
        apiUrl = await listenApi();
        await node.start(apiUrl);
      } else await restoreState(checkpoints, pipeline, logger); // before anything listens
      const { otlpHttpUrl, otlpGrpcAddress } = await receivers.listen();
      apiUrl ??= await listenApi();
      started = true;
      await actions.startHealthChecks();
      drills.start();
      announceListening(opts, pipeline, node, { otlpHttp: otlpHttpUrl, otlpGrpc: otlpGrpcAddress, api: apiUrl });
      return { otlpHttpUrl, otlpGrpcAddress, apiUrl };
    },
    shutdown,
    stop: async () => {
      await shutdown();
    },
  };
}

/** The config's warnings, an API that would answer 401 to everything, and "vigil is listening" with where. */
function announceListening(
  opts: AgentOptions,
  pipeline: Pipeline,
  node: ClusterNode | undefined,
  where: { otlpHttp: string; otlpGrpc: string; api: string },
): void {
  const { loaded, logger } = opts;
  const { config } = loaded;
  for (const w of loaded.warnings) logger.warn(w);
  const { auth } = config.server;
  // `vigil serve` refuses this; an agent built otherwise fails closed rather than open
  if (auth.tokens.length === 0 && !auth.open)
    logger.warn('server.auth has no tokens and open is not true: /api/* and the dashboard answer 401 to every request');
  logger.info(
    {
      ...where,
      queueAdapter: config.queue.redis ? 'bullmq' : 'embedded',
      ...(node ? { replica: node.replica } : {}),
      dryRun: pipeline.dryRun,
      config: loaded.file,
      configHash: loaded.hash,
    },
    'vigil is listening',
  );
}

/** The analyses from their checkpoint, then what the audit log recorded after it; then checkpoints from now on. */
async function restoreState(checkpoints: Checkpointer, pipeline: Pipeline, logger: Logger): Promise<void> {
  const restored = await checkpoints.restore();
  await pipeline.recover({ unrecorded: restored?.unrecorded ?? [] });
  if (restored) {
    const { unrecorded, ...counts } = restored;
    logger.info({ checkpoint: checkpoints.where, ...counts, unrecorded: unrecorded.length }, 'analyses restored');
  }
  checkpoints.start();
}

/** `Agent.stop`: the graceful shutdown, given up at `timeoutMs` (see the header). */
async function boundedStop(
  parts: {
    receivers: Receivers;
    pipeline: Pipeline;
    checkpoints: Checkpointer;
    apiApp: FastifyInstance;
    promoter: Pick<Promoter, 'close'>;
  },
  timeoutMs: number,
  begin: () => void,
): Promise<StopReport> {
  const { receivers, pipeline, checkpoints, apiApp, promoter } = parts;
  let receiversClosed = false;
  begin();
  const graceful = (async () => {
    await receivers.close();
    receiversClosed = true;
    // pipeline.close() runs the closed looks before its first await, so the checkpoint taken next holds their
    // outcome; it does not wait for the queues (a decision not yet recorded is in it: a restart records it). The
    // shares those looks started to set (the promoter's work, which pipeline.close() also waits for) are checkpointed
    // again once set, so a restart does not set them again
    await Promise.all([pipeline.close(), checkpoints.close(promoter.close())]);
    await apiApp.close();
  })();
  const reserveMs = Math.min(ABORT_RESERVE_MS, timeoutMs / 4);
  const deadline = delay(timeoutMs - reserveMs);
  const outcome = graceful.then(() => true);
  outcome.catch(() => undefined); // a failure after the deadline is not this report's (the race below sees earlier ones)
  let finished: boolean;
  try {
    finished = await Promise.race([outcome, deadline.promise.then(() => false)]);
  } finally {
    deadline.cancel();
  }
  const undone = (): string[] => {
    const out: string[] = [];
    if (!receiversClosed) out.push('the OTLP receivers did not close');
    out.push(...pipeline.undone());
    const checkpoint = checkpoints.unsaved();
    if (checkpoint) out.push(checkpoint);
    return out;
  };
  if (finished) return { timedOut: false, undone: undone() };
  const left = undone(); // before the abort releases what waited
  checkpoints.abort();
  const grace = delay(reserveMs);
  await Promise.race([Promise.allSettled([pipeline.abort(), graceful, apiApp.close()]), grace.promise]);
  grace.cancel();
  return { timedOut: true, undone: left };
}
