import { describe, expect, it } from 'vitest';
import { createEmbeddedQueue } from '../../../src/jobs/embedded-queue.js';

describe('embedded queue (specifics beyond the shared contract)', () => {
  it('remembers at most retainFinished finished ids: the oldest can be added again', async () => {
    const q = createEmbeddedQueue<number>('bounded', { attempts: 1, backoffMs: 0 }, { retainFinished: 2 });
    const runs: string[] = [];
    q.process((job) => {
      runs.push(job.id);
      return Promise.resolve();
    });
    for (const id of ['a', 'b', 'c']) await q.add({ id, name: 'j', data: 1 });
    await q.drain(1_000);
    expect(await q.counts()).toMatchObject({ completed: 2 });
    expect(await q.add({ id: 'c', name: 'j', data: 1 })).toEqual({ added: false });
    expect(await q.add({ id: 'a', name: 'j', data: 1 })).toEqual({ added: true });
    await q.drain(1_000);
    expect(runs).toEqual(['a', 'b', 'c', 'a']);
    await q.close();
  });

  it('copies job data through JSON, like BullMQ stores it', async () => {
    const q = createEmbeddedQueue<{ list: number[]; gone?: undefined }>('copy', { attempts: 1, backoffMs: 0 });
    const data = { list: [1, 2], gone: undefined };
    const seen: unknown[] = [];
    q.process((job) => {
      seen.push(job.data);
      return Promise.resolve();
    });
    await q.add({ id: 'x', name: 'j', data });
    data.list.push(3);
    await q.drain(1_000);
    expect(seen).toEqual([{ list: [1, 2] }]);
    expect(Object.keys(seen[0] as object)).toEqual(['list']);
    await q.close();
  });

  it('survives an event listener that throws', async () => {
    const q = createEmbeddedQueue<number>('listener', { attempts: 1, backoffMs: 0 });
    const warnings: string[] = [];
    const q2 = createEmbeddedQueue<number>(
      'listener2',
      { attempts: 1, backoffMs: 0 },
      {
        logger: {
          warn: (_o, m) => {
            warnings.push(m ?? '');
          },
        },
      },
    );
    for (const queue of [q, q2]) {
      queue.process(() => Promise.resolve(), {
        onCompleted: () => {
          throw new Error('bug in listener');
        },
      });
      await queue.add({ id: 'a', name: 'j', data: 1 });
      await queue.add({ id: 'b', name: 'j', data: 2 });
      await queue.drain(1_000);
      expect(await queue.counts()).toMatchObject({ completed: 2 });
      await queue.close();
    }
    expect(warnings).toEqual(['queue event listener onCompleted threw', 'queue event listener onCompleted threw']);
  });
});
