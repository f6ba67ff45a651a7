/**
 * Vigil's own Prometheus metrics (served on the API port at /metrics). One registry per agent.
 *
 * prom-client's default metrics are registered with the prefix `vigil_`: their own names already say what they
 * measure (`process_*` for the OS process, `nodejs_*` for the runtime), so they read `vigil_process_cpu_user_seconds_total`,
 * `vigil_process_resident_memory_bytes`, `vigil_nodejs_eventloop_lag_p99_seconds`, `vigil_nodejs_heap_size_used_bytes`, ...
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PlanRunnerDeps } from '../jobs/plan-runner.js';
import type { JobQueue } from '../jobs/queue.js';

/** Prefix of prom-client's default (process and Node.js runtime) metrics. */
export const DEFAULT_METRICS_PREFIX = 'vigil_';

export interface VigilMetrics {
  registry: Registry;
  spansAccepted: Counter<'transport' | 'encoding'>;
  spansRejected: Counter<'transport' | 'reason'>;
  requestsRejected: Counter<'transport' | 'status'>;
  otlpDropped: Counter<'signal'>;
  samples: Counter<'cohort'>;
  lateRequests: Counter<'cohort'>;
  retriedAttempts: Counter<'cohort'>;
  openTraces: Gauge;
  samplesRefused: Counter<'reason'>;
  idleClosedLooks: Counter<'cohort'>;
  spansDuplicate: Counter;
  spansUnchecked: Counter<'reason'>;
  dedupTracked: Gauge;
  analyses: Gauge<'state'>;
  looks: Counter;
  decisions: Counter<'outcome'>;
  jobs: Counter<'queue' | 'outcome' | 'connector'>;
  jobsRefused: Counter<'queue'>;
  plansRecovered: Counter<'outcome'>;
  queueLag: Gauge<'queue'>;
  queueDepth: Gauge<'queue' | 'state'>;
  ingestInflightRequests: Gauge;
  ingestInflightBytes: Gauge;
  ingestThrottled: Counter<'transport' | 'reason'>;
  limitRefused: Counter<'limit'>;
  limitReached: Counter<'limit'>;
  limitEvicted: Counter<'limit'>;
  limitTruncated: Counter<'field'>;
  checkpoints: Counter<'outcome'>;
  checkpointSeconds: Histogram;
  checkpointBytes: Gauge;
  drills: Counter<'service' | 'outcome'>;
  promotionShare: Gauge<'service' | 'analysis'>;
  redisUp: Gauge;
  redisErrors: Counter<'client'>;
  clusterEvents: Counter<'event'>;
  clusterLeases: Gauge;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): VigilMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: DEFAULT_METRICS_PREFIX });
  const r = [registry];
  // registration order (and so the order of the /metrics page) is the order of these calls
  return {
    registry,
    ...otlpMetrics(r),
    ...analysisMetrics(r),
    ...dedupMetrics(r),
    ...jobMetrics(r),
    ...limitMetrics(r),
    ...stateMetrics(r),
    ...releaseMetrics(r),
    ...redisMetrics(r),
    ...clusterMetrics(r),
  };
}

/** Several replicas on one Redis (`cluster.enabled`, src/agent/cluster-node.ts). */
function clusterMetrics(r: Registry[]): Pick<VigilMetrics, 'clusterEvents' | 'clusterLeases'> {
  return {
    clusterEvents: new Counter({
      name: 'vigil_cluster_events_total',
      help: 'Service leases by event: acquired, lost (taken over or not renewed in time: alert on it), handover, refused-owner (a request for a service another replica owns, answered 503/UNAVAILABLE), refused-unavailable (Redis unreachable), refused-limit (limits.maxServices reached in the cluster)',
      labelNames: ['event'],
      registers: r,
    }),
    clusterLeases: new Gauge({
      name: 'vigil_cluster_leases',
      help: 'Services whose lease this replica holds now',
      registers: r,
    }),
  };
}

/** Redis (`queue.redis`): the PING of src/agent/redis-health.ts and the connection errors of every Redis client. */
function redisMetrics(r: Registry[]): Pick<VigilMetrics, 'redisUp' | 'redisErrors'> {
  return {
    // registered by the Redis health monitor when there is a Redis (src/agent/redis-health.ts): a gauge without
    // labels is exported as 0 from the start, which on the embedded queue would read "Redis down"
    redisUp: new Gauge({
      name: 'vigil_redis_up',
      help: 'Whether Redis answered the last PING (every second, 500 ms timeout): 1 yes, 0 no (down, or frozen: connected but not answering); absent on the embedded queue',
      registers: [],
    }),
    redisErrors: new Counter({
      name: 'vigil_redis_errors_total',
      help: 'Redis errors by client: ping (a PING that failed or timed out), queue:<name> and worker:<name> (the BullMQ connections of the actions and notifications queues), state (the checkpoint store): alert on any increase',
      labelNames: ['client'],
      registers: r,
    }),
  };
}

/** Rollback drills and promotion plans (issue 17: src/drill/drills.ts, src/agent/promoter.ts). */
function releaseMetrics(r: Registry[]): Pick<VigilMetrics, 'drills' | 'promotionShare'> {
  return {
    drills: new Counter({
      name: 'vigil_drills_total',
      help: 'Rollback drills run in the agent (API or rollouts[].drill.every) by service and outcome (passed, failed): alert on failed',
      labelNames: ['service', 'outcome'],
      registers: r,
    }),
    promotionShare: new Gauge({
      name: 'vigil_promotion_share_percent',
      help: 'The canary share a promotion plan set for a running analysis (percent); the series goes once it is decided',
      labelNames: ['service', 'analysis'],
      registers: r,
    }),
  };
}

/** Checkpoints of the analyses (src/agent/checkpoints.ts). */
function stateMetrics(r: Registry[]): Pick<VigilMetrics, 'checkpoints' | 'checkpointSeconds' | 'checkpointBytes'> {
  return {
    checkpoints: new Counter({
      name: 'vigil_checkpoints_total',
      help: 'Checkpoints of the analyses by outcome (saved, failed): alert on failed',
      labelNames: ['outcome'],
      registers: r,
    }),
    checkpointSeconds: new Histogram({
      name: 'vigil_checkpoint_seconds',
      help: 'Time to serialise and durably save one checkpoint (the serialisation part blocks the event loop)',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: r,
    }),
    checkpointBytes: new Gauge({ name: 'vigil_checkpoint_bytes', help: 'Size of the last checkpoint', registers: r }),
  };
}

/** OTLP receiver: spans accepted and rejected, requests refused, payloads dropped unread. */
function otlpMetrics(
  r: Registry[],
): Pick<VigilMetrics, 'spansAccepted' | 'spansRejected' | 'requestsRejected' | 'otlpDropped'> {
  return {
    spansAccepted: new Counter({
      name: 'vigil_otlp_spans_accepted_total',
      help: 'Spans accepted over OTLP',
      labelNames: ['transport', 'encoding'],
      registers: r,
    }),
    spansRejected: new Counter({
      name: 'vigil_otlp_spans_rejected_total',
      help: 'Spans rejected (partial success)',
      labelNames: ['transport', 'reason'],
      registers: r,
    }),
    requestsRejected: new Counter({
      name: 'vigil_otlp_requests_rejected_total',
      help: 'OTLP requests answered with an error status',
      labelNames: ['transport', 'status'],
      registers: r,
    }),
    otlpDropped: new Counter({
      name: 'vigil_otlp_dropped_bytes_total',
      help: 'OTLP payload bytes accepted and dropped unread (signals Vigil does not analyse yet)',
      labelNames: ['signal'],
      registers: r,
    }),
  };
}

/** Analysis: request samples by cohort, analyses by state, looks and decisions. */
function analysisMetrics(
  r: Registry[],
): Pick<
  VigilMetrics,
  | 'samples'
  | 'lateRequests'
  | 'retriedAttempts'
  | 'openTraces'
  | 'samplesRefused'
  | 'idleClosedLooks'
  | 'analyses'
  | 'looks'
  | 'decisions'
> {
  return {
    samples: new Counter({
      name: 'vigil_request_samples_total',
      help: 'Request samples by cohort (unknown = not compared)',
      labelNames: ['cohort'],
      registers: r,
    }),
    lateRequests: new Counter({
      name: 'vigil_late_requests_total',
      help: 'Requests that arrived after their look had closed, by cohort: not compared (a cohort that paused longer than analysis.sourceIdleTimeout)',
      labelNames: ['cohort'],
      registers: r,
    }),
    retriedAttempts: new Counter({
      name: 'vigil_request_retries_total',
      help: 'Request spans folded into an earlier attempt of the same request (same trace, service, cohort and look; analysis.requestUnit trace), by cohort: counted once with the outcome of the last attempt',
      labelNames: ['cohort'],
      registers: r,
    }),
    openTraces: new Gauge({
      name: 'vigil_open_traces',
      help: 'Requests remembered to fold their retries in (limits.maxOpenTraces bounds it)',
      registers: r,
    }),
    samplesRefused: new Counter({
      name: 'vigil_samples_refused_total',
      help: 'Request samples refused by the analysis: future (ending more than analysis.maxClockSkew after they were received), too_old (behind every look their service keeps); the sender is told (partial success)',
      labelNames: ['reason'],
      registers: r,
    }),
    idleClosedLooks: new Counter({
      name: 'vigil_looks_idle_closed_total',
      help: 'Looks of an analysis closed without waiting for a cohort that had gone idle (analysis.sourceIdleTimeout), by that cohort',
      labelNames: ['cohort'],
      registers: r,
    }),
    analyses: new Gauge({ name: 'vigil_analyses', help: 'Analyses by state', labelNames: ['state'], registers: r }),
    looks: new Counter({ name: 'vigil_looks_total', help: 'Looks evaluated', registers: r }),
    decisions: new Counter({
      name: 'vigil_decisions_total',
      help: 'Decisions by outcome',
      labelNames: ['outcome'],
      registers: r,
    }),
  };
}

/** Span de-duplication (ingest/dedup.ts): duplicates skipped, spans not checked, ids remembered. */
function dedupMetrics(r: Registry[]): Pick<VigilMetrics, 'spansDuplicate' | 'spansUnchecked' | 'dedupTracked'> {
  return {
    spansDuplicate: new Counter({
      name: 'vigil_spans_duplicate_total',
      help: 'Request spans delivered again (same trace id + span id) and skipped',
      registers: r,
    }),
    spansUnchecked: new Counter({
      name: 'vigil_spans_unchecked_total',
      help: 'Request spans counted without a duplicate check (limit = ingest.dedupMaxSpans, no_id, late = older than ingest.dedupHorizon)',
      labelNames: ['reason'],
      registers: r,
    }),
    dedupTracked: new Gauge({
      name: 'vigil_dedup_tracked_spans',
      help: 'Span ids remembered for de-duplication (ingest.dedupMaxSpans bounds it)',
      registers: r,
    }),
  };
}

/** Job queues: finished attempts, refused jobs, plans recovered at start, lag and depth. */
function jobMetrics(
  r: Registry[],
): Pick<VigilMetrics, 'jobs' | 'jobsRefused' | 'plansRecovered' | 'queueLag' | 'queueDepth'> {
  return {
    jobs: new Counter({
      name: 'vigil_jobs_total',
      help: 'Finished job attempts by queue (actions, notifications), outcome (completed, retry, failed) and connector (plan connector or notifier name)',
      labelNames: ['queue', 'outcome', 'connector'],
      registers: r,
    }),
    jobsRefused: new Counter({
      name: 'vigil_jobs_refused_total',
      help: 'Jobs of a decision the queue refused because their id was already used (a plan or notification that did NOT run): alert on any increase',
      labelNames: ['queue'],
      registers: r,
    }),
    plansRecovered: new Counter({
      name: 'vigil_plans_recovered_total',
      help: 'Rollback plans a restart interrupted, found unfinished in the audit log at start, by outcome: enqueued (their next step was enqueued again), already_queued (its job was still in the queue: it runs or ran), error (could not be enqueued: logged, tried again at the next start), too_old (decided longer ago than the bound, 24 h by default: logged, not finished)',
      labelNames: ['outcome'],
      registers: r,
    }),
    queueLag: new Gauge({
      name: 'vigil_queue_lag_seconds',
      help: 'Age of the oldest waiting job',
      labelNames: ['queue'],
      registers: r,
    }),
    queueDepth: new Gauge({
      name: 'vigil_queue_jobs',
      help: 'Jobs by queue and state',
      labelNames: ['queue', 'state'],
      registers: r,
    }),
  };
}

/** Ingest back-pressure and cardinality limits. */
function limitMetrics(
  r: Registry[],
): Pick<
  VigilMetrics,
  | 'ingestInflightRequests'
  | 'ingestInflightBytes'
  | 'ingestThrottled'
  | 'limitRefused'
  | 'limitReached'
  | 'limitEvicted'
  | 'limitTruncated'
> {
  return {
    ingestInflightRequests: new Gauge({
      name: 'vigil_ingest_inflight_requests',
      help: 'OTLP requests admitted by the ingest queue and not yet answered',
      registers: r,
    }),
    ingestInflightBytes: new Gauge({
      name: 'vigil_ingest_inflight_bytes',
      help: 'Estimated memory held by admitted OTLP requests (ingest.maxInflightBytes bounds it)',
      registers: r,
    }),
    ingestThrottled: new Counter({
      name: 'vigil_ingest_throttled_total',
      help: 'OTLP requests refused because the ingest queue was full (503 / UNAVAILABLE, retried by clients)',
      labelNames: ['transport', 'reason'],
      registers: r,
    }),
    limitRefused: new Counter({
      name: 'vigil_limit_refused_total',
      help: 'Samples, spans, data points or streams dropped because a limit was reached (limit="name-length": service.name longer than limits.maxNameLength)',
      labelNames: ['limit'],
      registers: r,
    }),
    limitReached: new Counter({
      name: 'vigil_limit_reached_total',
      help: 'Times a cardinality limit was reached (each also logged once)',
      labelNames: ['limit'],
      registers: r,
    }),
    limitEvicted: new Counter({
      name: 'vigil_limit_evicted_total',
      help: 'Services on probation, metric streams seen once, or open traces (requests whose look is still open, limits.maxOpenTraces) forgotten to make room for new ones at a limit',
      labelNames: ['limit'],
      registers: r,
    }),
    limitTruncated: new Counter({
      name: 'vigil_limit_truncated_total',
      help: 'Samples kept with a value longer than limits.maxNameLength cut to it (field: version, route)',
      labelNames: ['field'],
      registers: r,
    }),
  };
}

/**
 * The plan runner's job-outcome hook: one `vigil_jobs_total` increment per finished attempt. The `queue` label is
 * the queue's name (`actions`, `notifications`), the same value as the `queue` label of `vigil_queue_jobs` /
 * `vigil_queue_lag_seconds` and the `queue` key of the job log lines.
 */
export function jobOutcomeMetrics(m: VigilMetrics): NonNullable<PlanRunnerDeps['metrics']> {
  return {
    jobOutcome: (queue, outcome, connector) => m.jobs.inc({ queue, outcome, connector }),
    jobRefused: (queue) => m.jobsRefused.inc({ queue }),
  };
}

/** Sets `vigil_queue_jobs` and `vigil_queue_lag_seconds` of each queue, labelled with the queue's name. An unreachable
 *  queue keeps its last values (`/readyz` reports it). Waits as long as the queues take: a scrape uses
 *  `queueStatsCollector`, which never waits on Redis for long. */
export async function recordQueueStats(m: VigilMetrics, queues: readonly JobQueue<unknown>[]): Promise<void> {
  await Promise.all(
    queues.map(async (q) => {
      try {
        const c = await q.counts();
        for (const [state, n] of Object.entries(c) as [string, number][]) m.queueDepth.set({ queue: q.name, state }, n);
        m.queueLag.set({ queue: q.name }, (await q.lagMs()) / 1000);
      } catch {
        // an unreachable queue shows in /readyz
      }
    }),
  );
}

/** How long a scrape of /metrics waits for the queue gauges before it is answered with the values it has. */
export const QUEUE_STATS_WAIT_MS = 300;

/**
 * The queue gauges for /metrics, never waited on for long: each call starts a refresh (`recordQueueStats`) unless one
 * is still running, and waits for it at most `waitMs`. A refresh that takes longer (Redis down or frozen: its
 * commands wait for the connection) goes on in the background, never two at a time, and the scrape is served with
 * the values the gauges have: the last ones read (stale while Redis does not answer; `vigil_redis_up` says so).
 */
export function queueStatsCollector(
  m: VigilMetrics,
  queues: readonly JobQueue<unknown>[],
  waitMs = QUEUE_STATS_WAIT_MS,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  return async () => {
    const refresh = (running ??= recordQueueStats(m, queues).finally(() => {
      running = undefined;
    }));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([refresh, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  };
}
