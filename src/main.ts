/**
 * Composition root: config → registries → pipeline (analysis, audit, queues, connectors) → servers.
 * `createAgent` builds everything without listening (tests use it with port 0); `start` listens;
 * `stop` shuts down gracefully: stop accepting OTLP, let recorded decisions reach the queue, finish the
 * active jobs, close the audit log and the API.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { AnalysisRegistry, type LookEvent } from './analysis/analysis-registry.js';
import type { LoadedConfig, Registries } from './config/load.js';
import type { AnyConnector, ConnectorDeps, Decision, Notifier, PlanConnector, RequestSample } from './contracts/index.js';
import { createAuditLog, type AuditLog } from './decide/audit-log.js';
import { VigilError } from './errors.js';
import { buildApiApp } from './http/api-app.js';
import { createMetrics, type VigilMetrics } from './http/metrics.js';
import { buildOtlpApp } from './http/otlp-app.js';
import type { CohortRules } from './ingest/cohort.js';
import { createQueue } from './jobs/create-queue.js';
import { createPlanRunner, type NotifyJob, type StepJob } from './jobs/plan-runner.js';
import type { JobQueue } from './jobs/queue.js';

export interface AgentOptions {
  loaded: LoadedConfig;
  registries: Registries;
  logger: Logger;
  /** Force dry-run whatever the config says (replay). */
  forceDryRun?: boolean;
  /** Do not post notifications (replay). */
  silenceNotifiers?: boolean;
  /** Override listen ports (tests use 0). */
  ports?: { otlpHttp?: number; api?: number };
  deps?: Partial<ConnectorDeps>;
  /** Audit log path override. */
  auditPath?: string;
}

export interface Agent {
  readonly registry: AnalysisRegistry;
  readonly audit: AuditLog;
  readonly metrics: VigilMetrics;
  readonly otlpApp: FastifyInstance;
  readonly apiApp: FastifyInstance;
  readonly cohortRules: CohortRules;
  /** Feeds request samples (replay and tests; OTLP routes call it too). */
  ingest(samples: RequestSample[]): void;
  /** Called after a decision is durably recorded (before its jobs run). */
  onDecision(listener: (d: Decision) => void): void;
  onLook(listener: (e: LookEvent) => void): void;
  /** Resolves when every recorded decision is dispatched and the queues are idle. */
  settle(timeoutMs?: number): Promise<void>;
  start(): Promise<{ otlpHttpUrl: string; apiUrl: string }>;
  stop(): Promise<void>;
}

function buildConnectors(loaded: LoadedConfig, registries: Registries, deps: ConnectorDeps) {
  const { config } = loaded;
  const make = (section: 'connectors' | 'notifiers', c: { name: string; type: string }): AnyConnector => {
    const factory = (section === 'connectors' ? registries.planConnectors : registries.notifiers).get(c.type);
    if (!factory) throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_TYPE', [c.type]);
    return factory.create(c.name, loaded.connectorOptions.get(c.name), deps);
  };
  const plan = new Map<string, PlanConnector>();
  for (const c of config.connectors) {
    const conn = make('connectors', c);
    if (conn.kind === 'notifier') throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_TYPE', [`${c.type} (a notifier) under connectors:`]);
    plan.set(c.name, conn);
  }
  const notifiers: Notifier[] = [];
  for (const n of config.notifiers) {
    const conn = make('notifiers', n);
    if (conn.kind !== 'notifier') throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_TYPE', [`${n.type} (not a notifier) under notifiers:`]);
    notifiers.push(conn);
  }
  return { plan, notifiers };
}

export function createAgent(opts: AgentOptions): Agent {
  const { loaded, registries, logger } = opts;
  const { config } = loaded;
  const dryRun = opts.forceDryRun === true || config.actions.mode === 'dry-run';
  const metrics = createMetrics();
  const audit = createAuditLog(opts.auditPath ?? config.audit.path);
  const deps: ConnectorDeps = { fetch: opts.deps?.fetch ?? globalThis.fetch, now: opts.deps?.now ?? Date.now };
  const { plan: connectors, notifiers } = buildConnectors(loaded, registries, deps);

  const policy = { attempts: config.actions.attempts, backoffMs: config.actions.backoff };
  const queueOpts = { redisUrl: config.queue.redis ?? undefined, prefix: config.queue.prefix };
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
    metrics: { jobOutcome: (kind, outcome, connector) => metrics.jobs.inc({ queue: kind, outcome, connector }) },
    link: publicUrl ? (d) => `${publicUrl.replace(/\/$/, '')}/api/v1/decisions/${encodeURIComponent(d.id)}` : undefined,
  });

  const decisionListeners: ((d: Decision) => void)[] = [];
  const lookListeners: ((e: LookEvent) => void)[] = [];
  let decisionChain: Promise<void> = Promise.resolve();

  const rollouts = new Map(config.rollouts.map((r) => [r.service, r]));
  const metricsSetup = config.analysis.metrics.map((m) => {
    const factory = registries.detectors.get(m.detector);
    if (!factory) throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_TYPE', [m.detector]);
    return { name: m.name, shadow: m.shadow, weight: m.weight, detector: factory.create(m.name, m.options, { minSamples: config.analysis.minSamples }) };
  });

  const registry = new AnalysisRegistry(
    {
      intervalMs: config.analysis.interval,
      allowedLatenessMs: config.analysis.allowedLateness,
      maxDurationMs: config.analysis.maxDuration,
      silenceTimeoutMs: config.analysis.silenceTimeout,
      alpha: config.analysis.alpha,
      metrics: metricsSetup,
      planFor: (service) => rollouts.get(service)?.plan ?? config.plan,
      expectedCanaryShare: (service) => rollouts.get(service)?.expectedCanaryShare,
      dryRun,
      configHash: loaded.hash,
      maxRollbacks: config.actions.maxRollbacksPerService,
      stormWindowMs: config.actions.stormWindow,
    },
    {
      onAnalysisStarted: (a) => logger.info({ analysis: a.id, service: a.service, canaryVersion: a.canaryVersion, baselineVersion: a.baselineVersion }, 'analysis started'),
      onLook: (e) => {
        metrics.looks.inc();
        for (const l of lookListeners) l(e);
      },
      onDecision: (d) => {
        metrics.decisions.inc({ outcome: d.outcome });
        const log = logger.child({ service: d.service, analysis: d.analysis, decision: d.id });
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
  );

  // Per-service canaryVersion from `rollouts:` applies where the global cohort rules found nothing.
  const rolloutCanary = new Map(config.rollouts.filter((r) => r.canaryVersion).map((r) => [r.service, r.canaryVersion!]));
  const ingest = (samples: RequestSample[]) => {
    for (const s of samples) {
      if (s.cohort === 'unknown') {
        const cv = rolloutCanary.get(s.service);
        if (cv !== undefined) s.cohort = s.version === cv ? 'canary' : 'baseline';
      }
      metrics.samples.inc({ cohort: s.cohort });
    }
    registry.ingest(samples);
  };

  const cohortRules: CohortRules = { attribute: config.cohorts.attribute, podLabels: [...config.cohorts.podLabels], canaryVersion: config.cohorts.canaryVersion };
  const otlpApp = buildOtlpApp({ logger, metrics, cohortRules, maxBodyBytes: config.server.maxBodyBytes, ingest });
  let started = false;
  const apiApp = buildApiApp({
    logger,
    metrics,
    registry,
    audit,
    tokens: config.server.auth.tokens,
    queues: { actions, notifications },
    ready: () => (started ? [] : ['not listening yet']),
    onResume: async (service, version, by, reason) => {
      const ok = registry.resume(service, version);
      if (ok) await audit.append({ type: 'resume', service, canaryVersion: version, by, reason });
      return ok;
    },
  });

  runner.start();

  const settle = async (timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
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
    apiApp,
    cohortRules,
    ingest,
    onDecision: (l) => decisionListeners.push(l),
    onLook: (l) => lookListeners.push(l),
    settle,
    async start() {
      const otlpHttpUrl = await otlpApp.listen({ host: config.server.otlpHttp.host, port: opts.ports?.otlpHttp ?? config.server.otlpHttp.port });
      const apiUrl = await apiApp.listen({ host: config.server.api.host, port: opts.ports?.api ?? config.server.api.port });
      started = true;
      for (const w of loaded.warnings) logger.warn(w);
      logger.info({ otlpHttp: otlpHttpUrl, api: apiUrl, queue: config.queue.redis ? 'bullmq' : 'embedded', dryRun, config: loaded.file, configHash: loaded.hash }, 'vigil is listening');
      return { otlpHttpUrl, apiUrl };
    },
    async stop() {
      started = false;
      await otlpApp.close();
      await decisionChain;
      await runner.close();
      await Promise.all([...connectors.values(), ...notifiers].map((c) => (c.close ? c.close() : Promise.resolve())));
      await audit.close();
      await apiApp.close();
    },
  };
}
