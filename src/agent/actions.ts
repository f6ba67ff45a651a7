/**
 * The acting side of the agent: the plan connectors and notifiers of the config, the two job queues (BullMQ
 * on Redis, or embedded in-process) and the plan runner that works them, and the connectors' health checks.
 * Nothing here decides: decisions arrive through `runner.dispatch` (decision-dispatcher.ts).
 */
import type { Logger } from 'pino';
import type { LoadedConfig, Registries } from '../config/load.js';
import { connectorHealth, type ConnectorHealth } from '../connectors-check.js';
import { buildConnectors } from '../connectors-build.js';
import type { ConnectorDeps, PlanConnector } from '../contracts/index.js';
import type { AuditLog } from '../decide/audit-log.js';
import { reportLink } from '../decide/report.js';
import { jobOutcomeMetrics, type VigilMetrics } from '../http/metrics.js';
import { createQueue } from '../jobs/create-queue.js';
import { createPlanRunner, type NotifyJob, type PlanRunner, type StepJob } from '../jobs/plan-runner.js';
import type { JobQueue } from '../jobs/queue.js';
import { redact, scrubError, secretValues } from '../../connectors/shared/redact.js';
import { createRedisHealth, type RedisHealth } from './redis-health.js';

/** How often the connectors' health is checked while the agent listens. */
const HEALTH_CHECK_INTERVAL_MS = 30_000;

export interface ActionsOptions {
  loaded: LoadedConfig;
  registries: Registries;
  logger: Logger;
  metrics: VigilMetrics;
  audit: AuditLog;
  dryRun: boolean;
  /** Do not post notifications (replay). */
  silenceNotifiers?: boolean;
  deps?: Partial<ConnectorDeps>;
}

export interface Actions {
  readonly actions: JobQueue<StepJob>;
  readonly notifications: JobQueue<NotifyJob>;
  readonly runner: PlanRunner;
  /** The plan connectors of the config, by name (promotion plans set the canary share through one). */
  readonly connectors: ReadonlyMap<string, PlanConnector>;
  /** With `queue.redis`: the PING and the log of Redis outages (src/agent/redis-health.ts), fed the queues' connection
   *  errors; the pipeline closes it last. */
  readonly redisHealth: RedisHealth | undefined;
  /** The connectors' last health check, shown by /readyz as warnings. */
  readonly health: ConnectorHealth;
  /** Checks the connectors' health now, then every 30 s until `stopHealthChecks`. */
  startHealthChecks(): Promise<void>;
  stopHealthChecks(): void;
  /** Closes the runner (the active jobs finish), then every connector and notifier. */
  close(): Promise<void>;
  /** Aborts the queues (`PlanRunner.abort`): a shutdown past its deadline waits for no job and no Redis. */
  abort(): Promise<void>;
}

/**
 * The redaction of every connector's and notifier's secrets (their parsed options: URL path tokens, secret query
 * values, user info, credentials and header values), for what the plan runner records, notifies and logs.
 */
export function configRedaction(loaded: LoadedConfig): { text(s: string): string; error<E>(err: E): E } {
  const secrets = [...new Set([...loaded.connectorOptions.values()].flatMap((o) => secretValues(o)))];
  return { text: (s) => redact(s, secrets), error: (err) => scrubError(err, secrets) };
}

export function createActions(opts: ActionsOptions): Actions {
  const { loaded, logger } = opts;
  const { config } = loaded;
  const deps: ConnectorDeps = { fetch: opts.deps?.fetch ?? globalThis.fetch, now: opts.deps?.now ?? Date.now };
  const { plan: connectors, notifiers } = buildConnectors(loaded, opts.registries, deps);
  // Connector health checks (credentials, reachability): at start and every 30 s; shown by /readyz as
  // warnings. They do not fail readiness: an unreachable flag service must not stop Vigil from ingesting.
  const health = connectorHealth({ connectors, notifiers, logger, timeoutMs: 5_000 });
  let healthTimer: NodeJS.Timeout | undefined;

  const policy = { attempts: config.actions.attempts, backoffMs: config.actions.backoff };
  const redis = config.queue.redis || undefined;
  const redisHealth = redis ? createRedisHealth({ url: redis, logger, metrics: opts.metrics }) : undefined;
  const queueOpts = {
    redisUrl: redis,
    prefix: config.queue.prefix,
    lockMs: config.queue.jobLock,
    logger,
    ...(redisHealth ? { onRedisError: (client: string, err: Error) => redisHealth.clientError(client, err) } : {}),
  };
  const actions = createQueue<StepJob>('actions', policy, queueOpts);
  const notifications = createQueue<NotifyJob>('notifications', policy, queueOpts);
  const publicUrl = config.server.api.publicUrl;
  const runner = createPlanRunner({
    actions,
    notifications,
    connectors,
    notifiers: opts.silenceNotifiers ? [] : notifiers,
    audit: opts.audit,
    logger,
    dryRun: opts.dryRun,
    stepTimeoutMs: config.actions.stepTimeout,
    metrics: jobOutcomeMetrics(opts.metrics),
    link: publicUrl ? (d) => reportLink(publicUrl, d.id) : undefined,
    analysisLink: publicUrl
      ? (id) => `${publicUrl.replace(/\/$/, '')}/analyses/${encodeURIComponent(id)}` // the dashboard's page
      : undefined,
    redact: configRedaction(loaded),
  });
  return {
    actions,
    connectors,
    notifications,
    runner,
    redisHealth,
    health,
    async startHealthChecks() {
      await health.refresh();
      healthTimer = setInterval(() => void health.refresh(), HEALTH_CHECK_INTERVAL_MS);
      healthTimer.unref();
    },
    stopHealthChecks: () => clearInterval(healthTimer),
    async close() {
      await runner.close();
      await Promise.all([...connectors.values(), ...notifiers].map((c) => (c.close ? c.close() : Promise.resolve())));
    },
    abort: () => runner.abort(),
  };
}
