/**
 * In-process adapter of the JobQueue port, used when no Redis is configured (single node).
 *
 * NOT durable: waiting, delayed and active jobs live in this process and are lost when it stops. `close()` waits
 * for active jobs and drops waiting and delayed ones.
 *
 * Memory is bounded: pending jobs (waiting, delayed, active) are kept until they finish; finished job ids are kept
 * in a FIFO of at most `retainFinished` entries (default 10,000), which is the dedupe window for finished jobs. An id
 * evicted from it can be added again. Job data is copied through JSON on add, like BullMQ stores it, so both
 * adapters hand the handler the same shape (no shared references, `undefined` fields dropped).
 *
 * Costs: add, start and finish are O(1) amortized; counts() is O(1).
 */
import { VigilError, isRetryable } from '../errors.js';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  backoffDelayMs,
  checkJobId,
  checkPolicy,
  safeEmit,
  type JobInfo,
  type JobQueue,
  type JobSpec,
  type QueueAdapterOptions,
  type QueueCounts,
  type QueueEvents,
  type RetryPolicy,
} from './queue.js';

export interface EmbeddedQueueOptions extends QueueAdapterOptions {
  /** Finished job ids remembered for dedupe (default 10,000). */
  retainFinished?: number;
}

export const DEFAULT_RETAIN_FINISHED = 10_000;

type PendingState = 'waiting' | 'delayed' | 'active';
type FinishedState = 'completed' | 'failed';

interface Pending<T> {
  spec: JobSpec<T>;
  addedAt: number;
  attemptsMade: number;
  state: PendingState;
  timer?: NodeJS.Timeout;
}

/** FIFO with O(1) push/shift (head index, compacted when half is dead). */
class Fifo<E> {
  private items: E[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(e: E): void {
    this.items.push(e);
  }
  peek(): E | undefined {
    return this.items[this.head];
  }
  shift(): E | undefined {
    if (this.head >= this.items.length) return undefined;
    const e = this.items[this.head];
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return e;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export function createEmbeddedQueue<T>(
  name: string,
  policy: RetryPolicy,
  opts: EmbeddedQueueOptions = {},
): JobQueue<T> {
  return new EmbeddedQueue<T>(name, policy, opts);
}

class EmbeddedQueue<T> implements JobQueue<T> {
  private readonly retry: RetryPolicy;
  private readonly concurrency: number;
  private readonly retain: number;
  private readonly logger: EmbeddedQueueOptions['logger'];

  private readonly pending = new Map<string, Pending<T>>();
  private readonly finished = new Map<string, FinishedState>();
  private readonly waiting = new Fifo<Pending<T>>();
  private delayed = 0;
  private active = 0;
  private completedCount = 0;
  private failedCount = 0;
  private closed = false;
  /** `abort()` was called: `close()` no longer waits for the active jobs. */
  private aborted = false;
  private handler: ((job: JobInfo<T>) => Promise<void>) | undefined;
  private events: QueueEvents<T> = {};
  /** Re-checked on every state change: drain waiters and close's wait for active jobs. */
  private listeners: (() => void)[] = [];

  constructor(
    readonly name: string,
    policy: RetryPolicy,
    opts: EmbeddedQueueOptions,
  ) {
    this.retry = checkPolicy(policy);
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    this.retain = Math.max(0, Math.floor(opts.retainFinished ?? DEFAULT_RETAIN_FINISHED));
    this.logger = opts.logger;
  }

  add(spec: JobSpec<T>): Promise<{ added: boolean }> {
    checkJobId(spec.id);
    if (this.closed) return Promise.reject(new VigilError('VIGIL_ERR_QUEUE_CLOSED', [this.name]));
    if (this.pending.has(spec.id) || this.finished.has(spec.id)) return Promise.resolve({ added: false });
    const data = JSON.parse(JSON.stringify(spec.data ?? null)) as T;
    const p: Pending<T> = {
      spec: { id: spec.id, name: spec.name, data },
      addedAt: Date.now(),
      attemptsMade: 0,
      state: 'waiting',
    };
    this.pending.set(spec.id, p);
    this.waiting.push(p);
    this.pump();
    return Promise.resolve({ added: true });
  }

  process(h: (job: JobInfo<T>) => Promise<void>, ev?: QueueEvents<T>): void {
    if (this.handler) throw new Error(`queue ${this.name}: process() was already called`);
    this.handler = h;
    this.events = ev ?? {};
    this.pump();
  }

  counts(): Promise<QueueCounts> {
    return Promise.resolve({
      waiting: this.waiting.length,
      active: this.active,
      delayed: this.delayed,
      completed: this.completedCount,
      failed: this.failedCount,
    });
  }

  lagMs(): Promise<number> {
    const oldest = this.waiting.peek();
    return Promise.resolve(oldest ? Math.max(0, Date.now() - oldest.addedAt) : 0);
  }

  async drain(timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new VigilError('VIGIL_ERR_QUEUE_DRAIN_TIMEOUT', [this.name, timeoutMs])),
        timeoutMs,
      );
    });
    try {
      await Promise.race([
        this.waitFor(() => this.waiting.length === 0 && this.delayed === 0 && this.active === 0),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.stopTaking();
    await this.waitFor(() => this.active === 0 || this.aborted);
  }

  abort(): Promise<void> {
    this.aborted = true;
    this.stopTaking();
    this.notify();
    return Promise.resolve();
  }

  /** Refuses new jobs and drops the waiting and delayed ones (not durable). */
  private stopTaking(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
    }
    this.delayed = 0;
    this.waiting.clear();
    this.notify();
  }

  private notify(): void {
    const current = this.listeners;
    this.listeners = [];
    for (const l of current) l();
  }

  private waitFor(cond: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (cond()) resolve();
        else this.listeners.push(check);
      };
      check();
    });
  }

  private remember(id: string, state: FinishedState): void {
    if (this.retain === 0) return;
    this.finished.set(id, state);
    if (state === 'completed') this.completedCount++;
    else this.failedCount++;
    while (this.finished.size > this.retain) {
      const oldest = this.finished.entries().next().value;
      if (!oldest) break;
      this.finished.delete(oldest[0]);
      if (oldest[1] === 'completed') this.completedCount--;
      else this.failedCount--;
    }
  }

  private info(p: Pending<T>): JobInfo<T> {
    return {
      id: p.spec.id,
      name: p.spec.name,
      data: p.spec.data,
      attempt: p.attemptsMade,
      maxAttempts: this.retry.attempts,
    };
  }

  private pump(): void {
    while (!this.closed && this.handler && this.active < this.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift();
      if (next) this.start(next, this.handler);
    }
  }

  private start(p: Pending<T>, run: (job: JobInfo<T>) => Promise<void>): void {
    p.state = 'active';
    p.attemptsMade++;
    this.active++;
    const job = this.info(p);
    Promise.resolve()
      .then(() => run(job))
      .then(
        () => {
          this.pending.delete(p.spec.id);
          this.remember(p.spec.id, 'completed');
          safeEmit(this.logger, 'onCompleted', () => this.events.onCompleted?.(job));
        },
        (err: unknown) => this.failed(p, job, err),
      )
      .finally(() => {
        this.active--;
        this.pump();
        this.notify();
      })
      .catch(() => undefined); // unreachable: both branches above never throw
  }

  /** A failed attempt: retried after its backoff when retryable and attempts are left, else failed for good. */
  private failed(p: Pending<T>, job: JobInfo<T>, err: unknown): void {
    const willRetry = isRetryable(err) && p.attemptsMade < this.retry.attempts;
    if (willRetry && this.closed) {
      this.pending.delete(p.spec.id); // closing drops what would wait (not durable)
    } else if (willRetry) {
      p.state = 'delayed';
      this.delayed++;
      p.timer = setTimeout(
        () => {
          p.timer = undefined;
          this.delayed--;
          p.state = 'waiting';
          this.waiting.push(p);
          this.pump();
          this.notify();
        },
        backoffDelayMs(this.retry, p.attemptsMade),
      );
    } else {
      this.pending.delete(p.spec.id);
      this.remember(p.spec.id, 'failed');
    }
    safeEmit(this.logger, 'onFailed', () => this.events.onFailed?.(job, err, willRetry));
  }
}
