import { describe, expect, it } from 'vitest';
import { createQueue, redactRedisUrl } from '../../../src/jobs/create-queue.js';

describe('redactRedisUrl', () => {
  it('masks username and password, keeps host, port and db', () => {
    expect(redactRedisUrl('redis://default:s3cr3t@cache.internal:6380/2')).toBe(
      'redis://***:***@cache.internal:6380/2',
    );
    expect(redactRedisUrl('rediss://:s3cr3t@cache:6379')).toBe('rediss://:***@cache:6379');
    expect(redactRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactRedisUrl('not a url s3cr3t')).toBe('[unparsable url]');
  });
});

describe('createQueue', () => {
  it('picks the embedded queue without a Redis URL and never logs a password', async () => {
    const lines: string[] = [];
    const logger = { info: (o: object, m?: string) => lines.push(JSON.stringify([o, m])), warn: () => undefined };
    const q = createQueue<number>('actions', { attempts: 1, backoffMs: 0 }, { redisUrl: '', prefix: 'vigil', logger });
    const ran: number[] = [];
    q.process((job) => {
      ran.push(job.data);
      return Promise.resolve();
    });
    await q.add({ id: 'x', name: 'j', data: 5 });
    await q.drain(1_000);
    expect(ran).toEqual([5]);
    expect(lines.join('')).toContain('"adapter":"embedded"');
    await q.close();
  });
});
