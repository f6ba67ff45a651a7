/**
 * The Redis health monitor's log, metrics and readiness with an injected PING and a fake clock: an outage is one
 * error line, then summaries after 10 s, 20 s, 40 s and every minute, then one line when Redis answers again;
 * /readyz's check is bounded by the PING timeout and reuses a fresh result.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createRedisHealth, isConnectionError, type RedisHealth } from '../../../src/agent/redis-health.js';
import { createMetrics } from '../../../src/http/metrics.js';
import { captureLogs } from '../../helpers/log-lines.js';

const URL_WITH_SECRET = 'redis://vigil:s3cret@127.0.0.1:6390/0';

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' });
}

describe('createRedisHealth', () => {
  let health: RedisHealth | undefined;
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    health?.close();
    health = undefined;
    vi.useRealTimers();
  });

  function monitor(ping: () => Promise<unknown>) {
    const logs = captureLogs('info');
    const metrics = createMetrics({ defaultMetrics: false });
    health = createRedisHealth({ url: URL_WITH_SECRET, logger: logs.logger, metrics, ping });
    const value = async (name: string, labels: Record<string, string> = {}) =>
      (await metrics.registry.getSingleMetric(name)?.get())?.values.find((v) =>
        Object.entries(labels).every(([k, l]) => v.labels[k] === l),
      )?.value;
    return { logs, health, value };
  }

  it('vigil_redis_up exists only with a Redis to watch (the embedded queue has none: no false "down")', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    expect(await metrics.registry.metrics()).not.toContain('vigil_redis_up');
    const logs = captureLogs('info');
    health = createRedisHealth({
      url: URL_WITH_SECRET,
      logger: logs.logger,
      metrics,
      ping: () => Promise.resolve('PONG'),
    });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await metrics.registry.metrics()).toContain('vigil_redis_up 1');
  });

  it('an outage is one error line, summaries that back off, and one line when Redis answers again', async () => {
    let down = false;
    const { logs, health, value } = monitor(() => (down ? Promise.reject(refused()) : Promise.resolve('PONG')));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await value('vigil_redis_up')).toBe(1);
    expect(logs.parsed()).toEqual([]);

    down = true;
    for (let i = 0; i < 20; i++) health.clientError('worker:actions', refused()); // a reconnect storm
    await vi.advanceTimersByTimeAsync(9_000);
    const first = logs.parsed();
    expect(first).toEqual([
      expect.objectContaining({
        level: 50,
        msg: 'Redis unreachable: connect ECONNREFUSED 127.0.0.1:6390',
        client: 'worker:actions',
        target: 'redis://***:***@127.0.0.1:6390/0',
      }),
    ]);
    expect(JSON.stringify(first)).not.toContain('s3cret');
    expect(await value('vigil_redis_up')).toBe(0);
    expect(await value('vigil_redis_errors_total', { client: 'worker:actions' })).toBe(20);
    expect(await value('vigil_redis_errors_total', { client: 'ping' })).toBeGreaterThanOrEqual(8);

    await vi.advanceTimersByTimeAsync(200_000); // summaries at 10 s, 30 s, 70 s, 130 s, 190 s of the outage
    const summaries = logs.parsed().filter((l) => l.msg === 'Redis still unreachable');
    expect(summaries.map((l) => l.level)).toEqual([40, 40, 40, 40, 40]);
    expect(summaries.map((l) => l.downSeconds)).toEqual([10, 30, 70, 130, 190]);
    expect(summaries[0]).toMatchObject({
      errors: { 'worker:actions': 19, ping: expect.any(Number) },
      lastError: expect.any(String),
    });

    down = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(logs.parsed().at(-1)).toMatchObject({ level: 30, msg: 'Redis reachable again' });
    expect(await value('vigil_redis_up')).toBe(1);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(logs.parsed().filter((l) => l.msg === 'Redis still unreachable')).toHaveLength(5); // none after it
    expect(logs.parsed()).toHaveLength(1 + 5 + 1);
  });

  it('a frozen Redis (PING never answered): check() answers within the timeout, not ready, and says why', async () => {
    let frozen = false;
    const { health, logs } = monitor(() => (frozen ? new Promise(() => undefined) : Promise.resolve('PONG')));
    await vi.advanceTimersByTimeAsync(10);
    expect(await health.check()).toBeUndefined();
    frozen = true;
    await vi.advanceTimersByTimeAsync(1_000); // the next PING hangs
    const t0 = Date.now();
    const check = health.check();
    await vi.advanceTimersByTimeAsync(600);
    expect(await check).toBe('Redis redis://***:***@127.0.0.1:6390/0: no answer to PING within 500 ms');
    expect(Date.now() - t0).toBeLessThanOrEqual(600);
    expect(logs.parsed()).toEqual([
      expect.objectContaining({ level: 50, client: 'ping', msg: 'Redis unreachable: no answer to PING within 500 ms' }),
    ]);
  });

  it('errors that do not mean Redis is unreachable: a warn line at most every 10 s per client, no outage', async () => {
    const { health, logs } = monitor(() => Promise.resolve('PONG'));
    for (let i = 0; i < 50; i++) health.clientError('worker:actions', new Error('Missing lock for job 7'));
    await vi.advanceTimersByTimeAsync(10_000);
    health.clientError('worker:actions', new Error('Missing lock for job 8'));
    expect(logs.parsed()).toEqual([
      expect.objectContaining({ level: 40, msg: 'Redis client error', suppressed: 0 }),
      expect.objectContaining({ level: 40, msg: 'Redis client error', suppressed: 49 }),
    ]);
  });
});

describe('isConnectionError', () => {
  it('tells connection failures from command errors', () => {
    expect(isConnectionError(refused())).toBe(true);
    expect(isConnectionError(new Error('Connection is closed.'))).toBe(true);
    expect(isConnectionError(new Error('Command timed out'))).toBe(true);
    expect(isConnectionError(new Error('Missing lock for job 1. moveToFinished'))).toBe(false);
    expect(isConnectionError(new Error('ERR Error running script'))).toBe(false);
  });
});
