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
  DEFAULT_DRAIN_TIMEOUT_MS, backoffDelayMs, checkJobId, checkPolicy, safeEmit,
  type JobInfo, type JobQueue, type JobSpec, type QueueAdapterOptions, type QueueCounts, type QueueEvents,
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
  const retry = checkPolicy(policy);
  const concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
  const retain = Math.max(0, Math.floor(opts.retainFinished ?? DEFAULT_RETAIN_FINISHED));
  const logger = opts.logger;

  const pending = new Map<string, Pending<T>>();
  const finished = new Map<string, FinishedState>();
  const waiting = new Fifo<Pending<T>>();
  let delayed = 0;
  let active = 0;
  let completedCount = 0;
  let failedCount = 0;
  let closed = false;
  let handler: ((job: JobInfo<T>) => Promise<void>) | undefined;
  let events: QueueEvents<T> = {};
  /** Re-checked on every state change: drain waiters and close's wait for active jobs. */
  let listeners: (() => void)[] = [];

  const notify = (): void => {
    const current = listeners;
    listeners = [];
    for (const l of current) l();
  };
  const waitFor = (cond: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (cond()) resolve();
        else listeners.push(check);
      };
      check();
    });

  const remember = (id: string, state: FinishedState): void => {
    if (retain === 0) return;
    finished.set(id, state);
    if (state === 'completed') completedCount++;
    else failedCount++;
    while (finished.size > retain) {
      const oldest = finished.entries().next().value;
      if (!oldest) break;
      finished.delete(oldest[0]);
      if (oldest[1] === 'completed') completedCount--;
      else failedCount--;
    }
  };

  const info = (p: Pending<T>): JobInfo<T> => ({
    id: p.spec.id, name: p.spec.name, data: p.spec.data, attempt: p.attemptsMade, maxAttempts: retry.attempts,
  });

  const pump = (): void => {
    while (!closed && handler && active < concurrency && waiting.length > 0) {
      const next = waiting.shift();
      if (next) start(next, handler);
    }
  };

  const start = (p: Pending<T>, run: (job: JobInfo<T>) => Promise<void>): void => {
    p.state = 'active';
    p.attemptsMade++;
    active++;
    const job = info(p);
    Promise.resolve()
      .then(() => run(job))
      .then(
        () => {
          pending.delete(p.spec.id);
          remember(p.spec.id, 'completed');
          safeEmit(logger, 'onCompleted', () => events.onCompleted?.(job));
        },
        (err: unknown) => {
          const willRetry = isRetryable(err) && p.attemptsMade < retry.attempts;
          if (willRetry && closed) {
            pending.delete(p.spec.id); // closing drops what would wait (not durable)
          } else if (willRetry) {
            p.state = 'delayed';
            delayed++;
            p.timer = setTimeout(() => {
              p.timer = undefined;
              delayed--;
              p.state = 'waiting';
              waiting.push(p);
              pump();
              notify();
            }, backoffDelayMs(retry, p.attemptsMade));
          } else {
            pending.delete(p.spec.id);
            remember(p.spec.id, 'failed');
          }
          safeEmit(logger, 'onFailed', () => events.onFailed?.(job, err, willRetry));
        },
      )
      .finally(() => {
        active--;
        pump();
        notify();
      })
      .catch(() => undefined); // unreachable: both branches above never throw
  };

  return {
    name,
    add(spec) {
      checkJobId(spec.id);
      if (closed) return Promise.reject(new VigilError('VIGIL_ERR_QUEUE_CLOSED', [name]));
      if (pending.has(spec.id) || finished.has(spec.id)) return Promise.resolve({ added: false });
      const data = JSON.parse(JSON.stringify(spec.data ?? null)) as T;
      const p: Pending<T> = { spec: { id: spec.id, name: spec.name, data }, addedAt: Date.now(), attemptsMade: 0, state: 'waiting' };
      pending.set(spec.id, p);
      waiting.push(p);
      pump();
      return Promise.resolve({ added: true });
    },
    process(h, ev) {
      if (handler) throw new Error(`queue ${name}: process() was already called`);
      handler = h;
      events = ev ?? {};
      pump();
    },
    counts(): Promise<QueueCounts> {
      return Promise.resolve({
        waiting: waiting.length, active, delayed, completed: completedCount, failed: failedCount,
      });
    },
    lagMs() {
      const oldest = waiting.peek();
      return Promise.resolve(oldest ? Math.max(0, Date.now() - oldest.addedAt) : 0);
    },
    async drain(timeoutMs = DEFAULT_DRAIN_TIMEOUT_MS) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new VigilError('VIGIL_ERR_QUEUE_DRAIN_TIMEOUT', [name, timeoutMs])), timeoutMs);
      });
      try {
        await Promise.race([waitFor(() => waiting.length === 0 && delayed === 0 && active === 0), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (!closed) {
        closed = true;
        for (const p of pending.values()) {
          if (p.timer) clearTimeout(p.timer);
        }
        delayed = 0;
        waiting.clear();
        notify();
      }
      await waitFor(() => active === 0);
    },
  };
}
