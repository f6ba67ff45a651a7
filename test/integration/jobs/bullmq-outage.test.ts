/**
 * The BullMQ adapter on a redis-server of the test's own (test/helpers/redis-server.ts), broken on purpose:
 * - killed: the error events of both connections reach `onRedisError` as `queue:<name>` and `worker:<name>`;
 * - frozen (SIGSTOP): `close()` waits (a QUIT is never answered), `abort()` releases it within about a second.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isConnectionError } from '../../../src/agent/redis-health.js';
import { createBullmqQueue } from '../../../src/jobs/bullmq-queue.js';
import type { JobQueue } from '../../../src/jobs/queue.js';
import { startRedis, stopAllRedis } from '../../helpers/redis-server.js';

const queues: JobQueue<unknown>[] = [];
afterEach(async () => {
  stopAllRedis(); // no persistence: no keys outlive the server
  await Promise.all(queues.splice(0).map((q) => q.abort()));
});

describe('BullMQ adapter, Redis broken', () => {
  it('killed: both connections report their errors to onRedisError, none to the logger', async () => {
    const redis = await startRedis();
    const seen: { client: string; message: string; err: Error }[] = [];
    const warn = vi.fn();
    const q = createBullmqQueue<{ n: number }>(
      'outage',
      { attempts: 1, backoffMs: 0 },
      {
        connection: redis.url,
        prefix: 'vigil-outage',
        logger: { warn },
        onRedisError: (client, err) => seen.push({ client, message: err.message, err }),
      },
    );
    queues.push(q);
    q.process(() => Promise.resolve());
    await q.add({ id: 'one', name: 'step', data: { n: 1 } });
    await q.drain(5_000);
    await redis.kill();
    await vi.waitFor(
      () => {
        const clients = new Set(seen.map((s) => s.client));
        expect(clients).toEqual(new Set(['queue:outage', 'worker:outage']));
      },
      { timeout: 5_000, interval: 50 },
    );
    // refused reconnects (a reset or a closed connection may come first, as the server dies)
    expect(seen.filter((s) => !isConnectionError(s.err)).map((s) => s.message)).toEqual([]);
    expect(seen.some((s) => s.message.includes('ECONNREFUSED'))).toBe(true);
    expect(warn).not.toHaveBeenCalled();
  });

  it('frozen: close() waits for Redis, abort() releases it within about a second', async () => {
    const redis = await startRedis();
    const q = createBullmqQueue<{ n: number }>(
      'frozen',
      { attempts: 1, backoffMs: 0 },
      { connection: redis.url, prefix: 'vigil-outage', onRedisError: () => undefined },
    );
    queues.push(q);
    q.process(() => Promise.resolve());
    await q.add({ id: 'one', name: 'step', data: { n: 1 } });
    await q.drain(5_000);
    redis.freeze();
    let closed = false;
    const closing = q.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 1_000));
    expect(closed).toBe(false);
    const t0 = performance.now();
    await q.abort();
    await closing;
    expect(performance.now() - t0).toBeLessThan(1_500);
  });
});
