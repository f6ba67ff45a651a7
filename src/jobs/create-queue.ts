/**
 * Picks the JobQueue adapter from config: BullMQ when a Redis URL is set (durable, shared by replicas), the
 * embedded in-process queue otherwise (single node, not durable). The choice is logged with the URL's password
 * and username masked.
 */
import { redactRedisUrl } from '../redis-url.js';
import { createBullmqQueue } from './bullmq-queue.js';
import { createEmbeddedQueue } from './embedded-queue.js';
import type { JobQueue, QueueAdapterOptions, RetryPolicy } from './queue.js';

export interface CreateQueueOptions extends QueueAdapterOptions {
  /** Redis URL; absent or empty selects the embedded queue. */
  redisUrl?: string;
  /** Redis key prefix (BullMQ only). */
  prefix: string;
  /** Finished-job retention for dedupe, seconds (BullMQ only; default 7 days). */
  retentionSeconds?: number;
  logger?: QueueAdapterOptions['logger'] & { info(obj: object, msg?: string): void };
  /** Receives the error events of the BullMQ connections (client `queue:<name>`, `worker:<name>`). */
  onRedisError?: (client: string, err: Error) => void;
  /** A running job's lock, ms (BullMQ only; default 30 s): a job whose process died runs again after it. */
  lockMs?: number;
}

export function createQueue<T>(name: string, policy: RetryPolicy, opts: CreateQueueOptions): JobQueue<T> {
  const { redisUrl, prefix, retentionSeconds, onRedisError, lockMs, ...common } = opts;
  if (redisUrl) {
    opts.logger?.info({ queue: name, adapter: 'bullmq', target: redactRedisUrl(redisUrl), prefix }, 'job queue');
    return createBullmqQueue<T>(name, policy, {
      ...common,
      connection: redisUrl,
      prefix,
      ...(retentionSeconds === undefined ? {} : { retentionSeconds }),
      ...(onRedisError === undefined ? {} : { onRedisError }),
      ...(lockMs === undefined ? {} : { lockMs }),
    });
  }
  opts.logger?.info({ queue: name, adapter: 'embedded' }, 'job queue (in-process, not durable)');
  return createEmbeddedQueue<T>(name, policy, common);
}
