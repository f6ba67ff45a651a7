/**
 * Test helper: builds either JobQueue adapter with a unique name/prefix and removes everything it made.
 * The BullMQ adapter runs against the real Redis from test/setup/global-redis.ts.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { inject } from 'vitest';
import { createBullmqQueue } from '../../../src/jobs/bullmq-queue.js';
import { createEmbeddedQueue } from '../../../src/jobs/embedded-queue.js';
import type { JobQueue, RetryPolicy } from '../../../src/jobs/queue.js';

export type AdapterKind = 'embedded' | 'bullmq';
export const ADAPTERS: { kind: AdapterKind }[] = [{ kind: 'embedded' }, { kind: 'bullmq' }];

export interface QueueFactory {
  make<T>(name: string, policy: RetryPolicy, opts?: { concurrency?: number }): JobQueue<T>;
  /** Closes every queue made and, for BullMQ, obliterates their Redis keys. */
  cleanup(): Promise<void>;
}

export function queueFactory(kind: AdapterKind): QueueFactory {
  const made: { queue: { close(): Promise<void> }; name: string; prefix: string }[] = [];
  return {
    make<T>(name: string, policy: RetryPolicy, opts: { concurrency?: number } = {}): JobQueue<T> {
      const prefix = `vigil-test-${randomUUID()}`;
      const queue =
        kind === 'embedded'
          ? createEmbeddedQueue<T>(name, policy, opts)
          : createBullmqQueue<T>(name, policy, { ...opts, connection: inject('redisUrl'), prefix, drainPollMs: 10 });
      made.push({ queue, name, prefix });
      return queue;
    },
    async cleanup() {
      const all = made.splice(0);
      await Promise.all(all.map((m) => m.queue.close()));
      if (kind !== 'bullmq') return;
      await Promise.all(
        all.map(async (m) => {
          const admin = new Queue(m.name, { connection: { url: inject('redisUrl') }, prefix: m.prefix });
          try {
            await admin.obliterate({ force: true });
          } finally {
            await admin.close();
          }
        }),
      );
    },
  };
}

/** A promise with its resolve function, for holding a handler open. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}
