/**
 * BullMQ (Redis) adapter of the JobQueue port: durable, shared by every replica.
 *
 * - One `Queue` (adds, counts) and, once `process()` is called, one `Worker`; each owns its Redis connection,
 *   created from the URL (the worker's with `maxRetriesPerRequest: null`, as BullMQ requires for blocking calls).
 *   `close()` closes the worker (waiting for active jobs), then the queue, which releases both connections.
 * - Job id: the Vigil id, mapped reversibly by `encodeJobId` (BullMQ 6 rejects ':' and integer ids).
 * - Idempotent add: BullMQ answers a duplicate jobId with the existing job and no error, indistinguishable from
 *   a fresh add. Each add therefore stores a random nonce with the data and reads the job back: the add that won
 *   is the one whose nonce is stored. One extra round trip per add; exact under concurrent adders.
 * - Retries: `attempts` and exponential `backoff` from the policy (BullMQ computes `delay * 2^(attemptsMade-1)`,
 *   the same formula as the port). A non-retryable error is rethrown as BullMQ's `UnrecoverableError`, which fails
 *   the job without further attempts; the handler's original error is what `onFailed` receives.
 * - Retention: finished jobs are removed by age (default 7 days, `removeOnComplete/removeOnFail: { age }`), so the
 *   dedupe window is at least that long. BullMQ evaluates removal only when another job finishes.
 * - Events come from the Worker ('completed'/'failed'), so they fire in the process that ran the job.
 * - Redis down or frozen: the errors of both connections go to `onRedisError` (client `queue:<name>` or
 *   `worker:<name>`), else to the logger; reconnects back off 0.5 s, 1 s, 2 s, 4 s, then every 5 s (BullMQ's own
 *   default reaches 20 s). A frozen Redis never answers QUIT, so `close()` can hang on it: `abort()` drops both
 *   connections at once (a shutdown past its deadline).
 */
import { randomUUID } from 'node:crypto';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { VigilError, isRetryable } from '../errors.js';
import { decodeJobId, encodeJobId } from './bullmq-job-id.js';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  checkJobId,
  checkPolicy,
  safeEmit,
  type JobInfo,
  type JobQueue,
  type QueueAdapterOptions,
  type QueueCounts,
  type QueueEvents,
  type RetryPolicy,
} from './queue.js';

export interface BullmqQueueOptions extends QueueAdapterOptions {
  /** Redis URL (`redis://[:password@]host:port[/db]`, `rediss://` for TLS). Never logged. */
  connection: string;
  /** Redis key prefix; BullMQ keys are `<prefix>:<queue name>:…`. */
  prefix: string;
  /** How long finished jobs (and so their ids, for dedupe) are kept, in seconds (default 7 days). */
  retentionSeconds?: number;
  /** How often drain() polls the counts, in ms (default 25). */
  drainPollMs?: number;
  /** Receives the error events of the queue's and the worker's Redis connections (default: `logger.warn`). */
  onRedisError?: (client: string, err: Error) => void;
  /** A running job's lock, ms (BullMQ's lockDuration, default 30 s), renewed while the job runs; the stalled check
   *  runs as often, so the job of a process that died (kill -9) runs again on another worker within twice this. */
  lockMs?: number;
}

/** The adapter adds `obliterate()` (deletes every key of the queue; tests and `vigil` maintenance only). */
export interface BullmqJobQueue<T> extends JobQueue<T> {
  obliterate(): Promise<void>;
}

export const DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600;

/** `abort()` returns after this long at most, whatever the connections do. */
const ABORT_WAIT_MS = 1_000;

/** What BullMQ stores as job data: the Vigil id (also decodable from the job id), the add nonce, the payload. */
interface Envelope<T> {
  id: string;
  nonce: string;
  data: T;
}

type EnvelopeJob<T> = Job<Envelope<T>, void, string>;

/** Reconnect delays after failed attempt `times` (1-based): 0.5 s, 1 s, 2 s, 4 s, then 5 s. */
export function reconnectDelayMs(times: number): number {
  return Math.min(250 * 2 ** Math.min(times, 5), 5_000);
}

/** The ioredis options of both connections: bounded reconnect delays; a disconnect that waits at most 0.5 s for
 *  Redis to close the socket (a frozen Redis never does). */
function connectionOptions(url: string) {
  return { url, retryStrategy: reconnectDelayMs, disconnectTimeout: 500 };
}

/** Where the connection errors of `client` (`queue:<name>`, `worker:<name>`) go. */
function redisErrorSink(opts: BullmqQueueOptions, client: string, queue: string): (err: Error) => void {
  if (opts.onRedisError) return (err) => opts.onRedisError?.(client, err);
  return (err) => opts.logger?.warn({ queue, err: err.message }, `job ${client.split(':')[0]} connection error`);
}

/** What the worker callback saw, kept until the Worker's event for that attempt fires. */
interface InFlight<T> {
  info: JobInfo<T>;
  err?: unknown;
  willRetry?: boolean;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The BullMQ queue of a Vigil queue: the policy's attempts and backoff, finished jobs kept `retentionSeconds`. */
function bullQueue<T>(name: string, retry: RetryPolicy, opts: BullmqQueueOptions): Queue<Envelope<T>, void, string> {
  const age = opts.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
  const queue = new Queue<Envelope<T>, void, string>(name, {
    connection: connectionOptions(opts.connection),
    prefix: opts.prefix,
    defaultJobOptions: {
      attempts: retry.attempts,
      backoff: { type: 'exponential', delay: retry.backoffMs },
      removeOnComplete: { age },
      removeOnFail: { age },
    },
  });
  queue.on('error', redisErrorSink(opts, `queue:${name}`, name));
  return queue;
}

function toInfo<T>(job: EnvelopeJob<T>, retry: RetryPolicy): JobInfo<T> {
  return {
    id: job.data.id ?? decodeJobId(job.id ?? ''),
    name: job.name,
    data: job.data.data,
    attempt: job.attemptsMade + 1,
    maxAttempts: job.opts.attempts ?? retry.attempts,
  };
}

function takeInFlight<T>(inFlight: Map<string, InFlight<T>>, job: EnvelopeJob<T> | undefined): InFlight<T> | undefined {
  if (!job?.id) return undefined;
  const entry = inFlight.get(job.id);
  inFlight.delete(job.id);
  return entry;
}

/**
 * The Worker that runs `handler`: what the handler saw is kept in `inFlight` until the Worker's event for
 * that attempt fires, so that `onFailed` gets the handler's own error and whether it will be retried.
 */
function startWorker<T>(
  name: string,
  handler: (job: JobInfo<T>) => Promise<void>,
  events: QueueEvents<T>,
  ctx: { opts: BullmqQueueOptions; retry: RetryPolicy; inFlight: Map<string, InFlight<T>> },
): Worker<Envelope<T>, void, string> {
  const { opts, retry, inFlight } = ctx;
  const logger = opts.logger;
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
  const worker = new Worker<Envelope<T>, void, string>(
    name,
    async (job) => {
      const info = toInfo(job, retry);
      const key = job.id ?? '';
      try {
        await handler(info);
        inFlight.set(key, { info });
      } catch (err) {
        const permanent = !isRetryable(err);
        inFlight.set(key, { info, err, willRetry: !permanent && info.attempt < info.maxAttempts });
        if (permanent) throw new UnrecoverableError(errorMessage(err));
        throw err instanceof Error ? err : new Error(errorMessage(err));
      }
    },
    {
      connection: { ...connectionOptions(opts.connection), maxRetriesPerRequest: null },
      prefix: opts.prefix,
      concurrency,
      ...(opts.lockMs === undefined ? {} : { lockDuration: opts.lockMs, stalledInterval: opts.lockMs }),
    },
  );
  worker.on('error', redisErrorSink(opts, `worker:${name}`, name));
  worker.on('completed', (job) => {
    const entry = takeInFlight(inFlight, job);
    const info = entry?.info ?? toInfo(job, retry);
    safeEmit(logger, 'onCompleted', () => events.onCompleted?.(info));
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const entry = takeInFlight(inFlight, job);
    const info = entry?.info ?? { ...toInfo(job, retry), attempt: job.attemptsMade };
    const original = entry && 'err' in entry ? entry.err : err;
    const willRetry = entry?.willRetry ?? (err.name !== 'UnrecoverableError' && job.attemptsMade < info.maxAttempts);
    safeEmit(logger, 'onFailed', () => events.onFailed?.(info, original, willRetry));
  });
  return worker;
}

export function createBullmqQueue<T>(name: string, policy: RetryPolicy, opts: BullmqQueueOptions): BullmqJobQueue<T> {
  const retry = checkPolicy(policy);
  const pollMs = opts.drainPollMs ?? 25;
  const queue = bullQueue<T>(name, retry, opts);
  let worker: Worker<Envelope<T>, void, string> | undefined;
  let closing: Promise<void> | undefined;
  /** Resolved by `abort()`: a `close()` under way stops waiting (for an active job, for a QUIT Redis never answers). */
  let aborted!: () => void;
  const abortion = new Promise<void>((r) => (aborted = r));
  /** Keyed by BullMQ job id; an entry lives from the handler's end to the Worker's event for that attempt. */
  const inFlight = new Map<string, InFlight<T>>();

  return {
    name,
    async add(spec) {
      checkJobId(spec.id);
      if (closing) throw new VigilError('VIGIL_ERR_QUEUE_CLOSED', [name]);
      const jobId = encodeJobId(spec.id);
      const nonce = randomUUID();
      try {
        await queue.add(spec.name, { id: spec.id, nonce, data: spec.data }, { jobId });
        const stored = await queue.getJob(jobId);
        // A job gone already was finished and removed in between; only ours could have been (retention >> RTT).
        return { added: stored === undefined || stored.data.nonce === nonce };
      } catch (err) {
        throw new VigilError('VIGIL_ERR_QUEUE_UNAVAILABLE', [errorMessage(err)], { cause: err });
      }
    },

    process(handler, events: QueueEvents<T> = {}) {
      if (worker) throw new Error(`queue ${name}: process() was already called`);
      if (closing) throw new VigilError('VIGIL_ERR_QUEUE_CLOSED', [name]);
      worker = startWorker(name, handler, events, { opts, retry, inFlight });
    },

    async counts(): Promise<QueueCounts> {
      const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
      return {
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        completed: c.completed ?? 0,
        failed: c.failed ?? 0,
      };
    },

    async lagMs() {
      const [oldest] = await queue.getJobs(['wait'], 0, 0, true);
      return oldest ? Math.max(0, Date.now() - oldest.timestamp) : 0;
    },

    async drain(timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed');
        const busy = (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.active ?? 0) + (c.delayed ?? 0);
        if (busy === 0 && inFlight.size === 0) return;
        if (Date.now() >= deadline) throw new VigilError('VIGIL_ERR_QUEUE_DRAIN_TIMEOUT', [name, timeoutMs]);
        await new Promise((r) => setTimeout(r, pollMs));
      }
    },

    close() {
      const graceful = async () => {
        try {
          await worker?.close();
        } finally {
          await queue.close();
        }
      };
      closing ??= Promise.race([graceful(), abortion]);
      return closing;
    },

    async abort() {
      aborted();
      closing ??= Promise.resolve();
      // close(true) does not wait for active jobs and disconnects instead of QUIT (it is not awaited: a graceful close
      // under way, which it would return, waits for the active job); the disconnects release a QUIT stuck on a frozen
      // Redis and wait at most disconnectTimeout each
      worker?.close(true).catch(() => undefined);
      const released = Promise.allSettled([worker?.disconnect(), queue.disconnect()]);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([released, new Promise((r) => (timer = setTimeout(r, ABORT_WAIT_MS)))]);
      clearTimeout(timer);
    },

    async obliterate() {
      await queue.obliterate({ force: true });
    },
  };
}
