/**
 * The job queue port. Vigil runs rollback steps and notifications through it; two adapters implement it:
 * `embedded-queue.ts` (in-process, single node, not durable) and `bullmq-queue.ts` (BullMQ on Redis).
 * Both pass the same contract suite (test/integration/jobs/queue-contract.test.ts).
 *
 * Semantics every adapter keeps:
 * - the job id is the idempotency key: adding an id that is waiting, delayed, active or finished (within the
 *   adapter's retention) is a no-op that answers `added: false`;
 * - a handler error with `isRetryable(err) === false` (src/errors.ts) fails the job at once; any other error is
 *   retried up to `RetryPolicy.attempts` attempts in total, waiting `backoffMs * 2^(attempt-1)` after the
 *   failed attempt number `attempt`;
 * - events fire after the job changed state, at most once per attempt.
 */

export interface JobSpec<T> {
  id: string;
  name: string;
  data: T;
}

export interface JobInfo<T> {
  id: string;
  name: string;
  data: T;
  /** 1-based number of this attempt. */
  attempt: number;
  /** Attempts allowed by the queue's retry policy: `attempt === maxAttempts` is the last try. */
  maxAttempts: number;
}

export interface RetryPolicy {
  /** Total attempts, including the first (>= 1). */
  attempts: number;
  /** Exponential backoff base: the delay after failed attempt n is `backoffMs * 2^(n-1)`. */
  backoffMs: number;
}

export interface QueueEvents<T> {
  onCompleted?(job: JobInfo<T>): void;
  /** `willRetry` is false on the final failure (permanent error, or attempts exhausted). */
  onFailed?(job: JobInfo<T>, err: unknown, willRetry: boolean): void;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export interface JobQueue<T> {
  readonly name: string;
  /** Adds a job. The id is the idempotency key: a job whose id was already added (waiting, active, done or failed,
   *  within the retention window) is NOT added again and `added` is false. */
  add(spec: JobSpec<T>): Promise<{ added: boolean }>;
  /** Starts processing with the adapter's `concurrency` workers. A handler throwing a non-retryable error
   *  (isRetryable(err) === false) fails the job at once, without retries; retryable errors retry per policy with
   *  exponential backoff. Call at most once per queue. */
  process(handler: (job: JobInfo<T>) => Promise<void>, events?: QueueEvents<T>): void;
  counts(): Promise<QueueCounts>;
  /** Age in ms of the oldest waiting job (queue lag), measured from when it was added; 0 when none. */
  lagMs(): Promise<number>;
  /** Resolves when no job is waiting, delayed or active and the events of finished jobs have fired
   *  (for tests, replay and graceful shutdown). Rejects with VIGIL_ERR_QUEUE_DRAIN_TIMEOUT after `timeoutMs`. */
  drain(timeoutMs?: number): Promise<void>;
  /** Stops taking new jobs, waits for active ones (graceful), releases connections. Idempotent. */
  close(): Promise<void>;
  /** Stops taking new jobs and releases connections at once, without waiting for active jobs or for Redis (a
   *  shutdown past its deadline; a `close()` under way then resolves too). Resolves within about a second whatever
   *  Redis does. An active job is left as it is: BullMQ runs it again once its lock expires, the embedded queue loses
   *  it (the audit log tells the next start where its plan stopped). */
  abort(): Promise<void>;
}

/** Options shared by both adapters. */
export interface QueueAdapterOptions {
  /** Jobs run at the same time by this process (default 1). */
  concurrency?: number;
  /** Receives warnings (event callbacks that threw, connection errors). */
  logger?: { warn(obj: object, msg?: string): void };
}

/** Default `drain()` timeout. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

/** Delay before retrying after failed attempt `attempt` (1-based): `backoffMs * 2^(attempt-1)`. */
export function backoffDelayMs(policy: RetryPolicy, attempt: number): number {
  return Math.round(policy.backoffMs * 2 ** (attempt - 1));
}

/** Validates a policy once at construction, so adapters never run with nonsense. */
export function checkPolicy(policy: RetryPolicy): RetryPolicy {
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1) {
    throw new RangeError(`RetryPolicy.attempts must be an integer >= 1, got ${policy.attempts}`);
  }
  if (!Number.isFinite(policy.backoffMs) || policy.backoffMs < 0) {
    throw new RangeError(`RetryPolicy.backoffMs must be a finite number >= 0, got ${policy.backoffMs}`);
  }
  return { attempts: policy.attempts, backoffMs: policy.backoffMs };
}

/** Calls an event callback, turning a throw into a warning: a buggy listener never breaks the queue. */
export function safeEmit(logger: QueueAdapterOptions['logger'], what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    logger?.warn({ err }, `queue event listener ${what} threw`);
  }
}

/** Job ids must be non-empty strings (an empty id would make BullMQ generate one, losing idempotency). */
export function checkJobId(id: string): void {
  if (typeof id !== 'string' || id.length === 0) throw new RangeError('job id must be a non-empty string');
}
