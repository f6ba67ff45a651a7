import { describe, expect, it } from 'vitest';
import { createQueue } from '../../../src/jobs/create-queue.js';

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
