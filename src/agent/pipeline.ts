/**
 * The agent's pipeline without its servers: telemetry in (intake) → analysis registry → look scheduler →
 * decision dispatcher (audit log, listeners, job queues) → plan runner and connectors (actions). The agent
 * (src/main.ts) puts its OTLP receivers and its API around it; `vigil replay` feeds it a recording.
 */
import type { Logger } from 'pino';
import type { AnalysisRegistry, LookEvent } from '../analysis/analysis-registry.js';
import { indicatorsOf } from '../analysis/settings.js';
import type { LoadedConfig, Registries } from '../config/load.js';
import type { ConnectorDeps, Decision } from '../contracts/index.js';
import { createAuditLog, type AuditLog } from '../decide/audit-log.js';
import { createMetrics, type VigilMetrics } from '../http/metrics.js';
import { createActions, type Actions } from './actions.js';
import { DecisionDispatcher } from './decision-dispatcher.js';
import { createIntake, type Intake } from './intake.js';
import { LookScheduler } from './look-scheduler.js';
import type { RedisHealth } from './redis-health.js';
import { recoverFromAudit, type RecoveryDeps, type RecoveryReport } from './recovery.js';
import { createRegistry } from './registry.js';

export interface PipelineOptions {
  loaded: LoadedConfig;
  registries: Registries;
  logger: Logger;
  /** Force dry-run whatever the config says (replay). */
  forceDryRun?: boolean;
  /** Do not post notifications (replay). */
  silenceNotifiers?: boolean;
  deps?: Partial<ConnectorDeps>;
  /** Audit log path override. */
  auditPath?: string;
  /** `recover()` also finishes the rollback plans a restart interrupted (the agent: `vigil serve`). Default false:
   *  `vigil replay` and tests compose the pipeline without it. */
  recoverPlans?: boolean;
  /** Interrupted plans decided longer ago are not finished (default 24 h: `DEFAULT_RECOVER_MAX_AGE_MS`). */
  recoverMaxAgeMs?: number;
  /** Cluster mode: the registry's decisions go here instead of straight to the dispatcher (src/agent/cluster-node.ts
   *  claims each in Redis, then calls `dispatch`). */
  decisionGate?: { decide(d: Decision): void; settled(): Promise<void> };
  /** A rollback drill (`vigil drill`): every decision is marked `drill: true` before it is recorded and dispatched. */
  drill?: boolean;
}

/** Who resumes a version and why (verbatim), the name of the API token used, the analysis it was decided in, and
 *  when (wall clock): what its `resume` audit entry records. */
export interface Resumer {
  by: string;
  reason: string;
  token?: string;
  analysis?: string;
  atUnixMs: number;
}

export interface Pipeline {
  /** `actions.mode: dry-run`, or forced. */
  readonly dryRun: boolean;
  readonly metrics: VigilMetrics;
  readonly audit: AuditLog;
  readonly registry: AnalysisRegistry;
  readonly intake: Intake;
  readonly actions: Actions;
  /** Called after a decision is durably recorded (before its jobs run). */
  readonly onDecision: (listener: (d: Decision) => void) => void;
  /** Records a decision and runs its plan (the registry's decisions come this way; a restart re-sends the ones a
   *  checkpoint held unrecorded). */
  readonly dispatch: (d: Decision) => void;
  /** Decisions made and not yet recorded in the audit log (a checkpoint keeps them). */
  readonly unrecordedDecisions: () => Decision[];
  readonly onLook: (listener: (e: LookEvent) => void) => void;
  /**
   * Work that writes to the audit log on its own time (the promoter setting a share after a look, scheduled drills):
   * `settle` waits for its `settled`, `close` calls its `close` (take nothing new, finish what is under way) before the
   * audit log closes.
   */
  readonly addWork: (work: PipelineWork) => void;
  /** Lets a rolled-back canary version be analysed again, and records who did it and why. */
  readonly resume: (service: string, version: string, who: Resumer) => Promise<boolean>;
  /**
   * Reads the audit log's tail back (src/agent/recovery.ts): the API's decisions list gets the decisions recorded
   * before this start, the analyses (restored from a checkpoint before this call, or empty) get the decisions and
   * resumes recorded after their checkpoint, the checkpoint's `unrecorded` decisions are recorded and dispatched,
   * and, with `recoverPlans`, every rollback plan a restart interrupted goes on from its next step. Call it once,
   * before telemetry arrives (the agent awaits it before it listens); later calls return the first call's report.
   * `null`: no analyses to reconcile (cluster mode: each service's state comes from Redis when it is taken).
   */
  readonly recover: (restored?: { unrecorded: readonly Decision[] } | null) => Promise<RecoveryReport>;
  /** Resolves when every decision dispatched so far is recorded and handed to the runner. */
  readonly dispatched: () => Promise<void>;
  /** Resolves when every closed look has run, every decision is dispatched and the queues are idle. */
  readonly settle: (timeoutMs?: number) => Promise<void>;
  /** Runs every closed look, lets its decision reach the queue, finishes the active jobs, closes the audit log. */
  readonly close: () => Promise<void>;
  /** With `queue.redis`: whether Redis answers (PING), and where the Redis clients' errors are counted and logged. */
  readonly redisHealth: RedisHealth | undefined;
  /** Gives up on the queues at once (a shutdown past its deadline): a `close()` under way then finishes. */
  readonly abort: () => Promise<void>;
  /** What `close()` has not finished yet, one sentence each: decisions not enqueued, jobs still running, the queues
   *  not closed. */
  readonly undone: () => string[];
}

/** See Pipeline.addWork. */
export interface PipelineWork {
  settled(): Promise<void>;
  close(): Promise<void>;
}

export function createPipeline(opts: PipelineOptions): Pipeline {
  const { loaded, logger } = opts;
  const { config } = loaded;
  const dryRun = opts.forceDryRun === true || config.actions.mode === 'dry-run';
  const metrics = createMetrics();
  const audit = createAuditLog(opts.auditPath ?? config.audit.path);
  const actions = createActions({
    loaded,
    registries: opts.registries,
    logger,
    metrics,
    audit,
    dryRun,
    silenceNotifiers: opts.silenceNotifiers,
    deps: opts.deps,
  });
  const { redisHealth } = actions;
  const queues = [actions.actions, actions.notifications];
  const dispatcher = new DecisionDispatcher({ audit, runner: actions.runner, queues, logger });
  const lookListeners: ((e: LookEvent) => void)[] = [];
  const registry = createRegistry({
    loaded,
    dryRun,
    logger,
    metrics,
    onLook: (e) => {
      for (const l of lookListeners) l(e);
    },
    onDecision: (found) => {
      const d: Decision = opts.drill ? { ...found, drill: true } : found;
      return opts.decisionGate ? opts.decisionGate.decide(d) : dispatcher.dispatch(d);
    },
  });
  const intake = createIntake({
    config,
    logger,
    metrics,
    registry,
    looks: new LookScheduler(registry, logger),
    indicators: indicatorsOf(loaded),
  });
  actions.runner.start();
  const gate = opts.decisionGate;
  const durable = !!config.queue.redis;
  const work: PipelineWork[] = [];
  const shutdown = pipelineShutdown({ registry, gate, dispatcher, actions, audit, redisHealth, durable, work });
  let recovered: Promise<RecoveryReport> | undefined;
  return {
    dryRun,
    metrics,
    audit,
    registry,
    intake,
    actions,
    onDecision: (l) => dispatcher.onDecision(l),
    dispatch: (d) => dispatcher.dispatch(d),
    dispatched: () => dispatcher.dispatched(),
    unrecordedDecisions: () => dispatcher.unrecordedDecisions(),
    onLook: (l) => lookListeners.push(l),
    addWork: (w) => work.push(w),
    resume: resumeVersion(registry, audit),
    recover: (restored) =>
      (recovered ??= recoverFromAudit({
        audit,
        runner: actions.runner,
        logger,
        metrics,
        recoverPlans: opts.recoverPlans === true,
        maxAgeMs: opts.recoverMaxAgeMs,
        ...analysesToReconcile(restored, registry, dispatcher),
      })),
    redisHealth,
    ...shutdown,
  };
}

/** `Pipeline.resume`: the registry lets the version be analysed again, then its `resume` entry is written. */
function resumeVersion(registry: AnalysisRegistry, audit: AuditLog): Pipeline['resume'] {
  return async (service, version, { by, reason, token, analysis, atUnixMs }) => {
    const ok = registry.resume(service, version);
    const via = {
      ...(analysis === undefined ? {} : { analysis }),
      ...(token === undefined ? {} : { token }), // the name of the API token the caller used
    };
    if (ok) await audit.append({ type: 'resume', service, canaryVersion: version, by, reason, ...via, atUnixMs });
    return ok;
  };
}

/** What `recover` reconciles with the audit log: the analyses restored (or none yet), not in cluster mode (`null`). */
function analysesToReconcile(
  restored: { unrecorded: readonly Decision[] } | null | undefined,
  registry: AnalysisRegistry,
  dispatcher: DecisionDispatcher,
): Pick<RecoveryDeps, 'analyses'> {
  if (restored === null) return {};
  return { analyses: { registry, unrecorded: restored?.unrecorded ?? [], dispatch: (d) => dispatcher.dispatch(d) } };
}

/** `settle`, `close`, `abort` and `undone` of the pipeline. */
function pipelineShutdown(parts: {
  registry: AnalysisRegistry;
  gate: PipelineOptions['decisionGate'];
  dispatcher: DecisionDispatcher;
  actions: Actions;
  audit: AuditLog;
  redisHealth: RedisHealth | undefined;
  durable: boolean;
  work: readonly PipelineWork[];
}): Pick<Pipeline, 'settle' | 'close' | 'abort' | 'undone'> {
  const { registry, gate, dispatcher, actions, audit, redisHealth, durable, work } = parts;
  const closing = { started: false, done: false };
  return {
    async settle(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      registry.runPendingLooks();
      await Promise.all(work.map((w) => w.settled()));
      await gate?.settled();
      await dispatcher.settle(deadline);
    },
    async close() {
      closing.started = true;
      registry.runPendingLooks(); // every closed look is run, and its decision recorded, before exit
      await Promise.all(work.map((w) => w.close())); // a share being set, a drill: recorded before the audit log closes
      await gate?.settled(); // cluster: claimed (or dropped) before the dispatcher is waited for
      await dispatcher.dispatched();
      await actions.close();
      await audit.close();
      redisHealth?.close();
      closing.done = true;
    },
    async abort() {
      redisHealth?.close();
      await actions.abort();
    },
    undone: () => {
      const out = undoneWork(dispatcher, actions, durable);
      if (closing.started && !closing.done && out.length === 0) {
        out.push(
          durable
            ? 'the job queues did not close: Redis did not answer (their connections were dropped)'
            : 'the job queues or the connectors did not close',
        );
      }
      return out;
    },
  };
}

/** What the pipeline's close has not finished: decisions not enqueued, jobs running in this process. */
function undoneWork(dispatcher: DecisionDispatcher, actions: Actions, durable: boolean): string[] {
  const out: string[] = [];
  const { recorded, unrecorded } = dispatcher.pending();
  if (unrecorded > 0) {
    out.push(
      `${unrecorded} decision(s) not recorded in the audit log: a restart records them only if the last checkpoint holds them`,
    );
  }
  if (recorded > 0) {
    out.push(
      `${recorded} decision(s) recorded in the audit log whose plan and notifications were not enqueued: the next start enqueues the rollback plans among them, with their notifications (the notifications of other decisions are not sent)`,
    );
  }
  for (const j of actions.runner.running()) {
    const step = j.step !== undefined;
    const what = step ? `step ${j.step} of its plan` : `${j.kind ?? 'a'} notification`;
    const of = j.decisionId === undefined ? `analysis ${j.analysis}` : `decision ${j.decisionId}`;
    const next = durable
      ? 'BullMQ runs it again once its lock expires'
      : step
        ? 'the next start resumes the plan from this step (audit log)'
        : 'lost (the embedded queue is not durable)';
    out.push(`${j.queue} job ${j.jobId} not finished (${of}, ${what}, connector ${j.connector}): ${next}`);
  }
  return out;
}
