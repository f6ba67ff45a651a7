/**
 * The JobQueue contract: every adapter (embedded, BullMQ on real Redis) must pass the same tests.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { VigilError } from '../../../src/errors.js';
import type { JobInfo } from '../../../src/jobs/queue.js';
import { ADAPTERS, gate, queueFactory } from './queue-adapters.js';

interface Payload {
  n: number;
  tag?: string;
}

const retryable = (): VigilError => new VigilError('VIGIL_ERR_CONNECTOR_HTTP_5XX', ['flaky vendor']);
const permanent = (): VigilError => new VigilError('VIGIL_ERR_CONNECTOR_HTTP_4XX', ['vendor said no']);

describe.each(ADAPTERS)('JobQueue contract: $kind', ({ kind }) => {
  const factory = queueFactory(kind);
  afterEach(() => factory.cleanup());

  it('runs a job and reports completion with attempt 1', async () => {
    const q = factory.make<Payload>('run', { attempts: 3, backoffMs: 10 });
    const seen: JobInfo<Payload>[] = [];
    const completed: JobInfo<Payload>[] = [];
    q.process(
      (job) => {
        seen.push(job);
        return Promise.resolve();
      },
      { onCompleted: (job) => completed.push(job) },
    );
    expect(await q.add({ id: 'svc:dec-1:flag', name: 'step', data: { n: 7, tag: 'x' } })).toEqual({ added: true });
    await q.drain(5_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      id: 'svc:dec-1:flag',
      name: 'step',
      data: { n: 7, tag: 'x' },
      attempt: 1,
      maxAttempts: 3,
    });
    expect(completed.map((j) => j.id)).toEqual(['svc:dec-1:flag']);
    expect(await q.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: 1, failed: 0 });
  });

  it('keeps ids with many ":" and integer-looking ids intact', async () => {
    const q = factory.make<Payload>('ids', { attempts: 1, backoffMs: 0 });
    const ids = ['checkout:/cart:dec-9:notify:ops:decision', '42', '-3', 'a%3Ab', ':'];
    const seen: string[] = [];
    q.process((job) => {
      seen.push(job.id);
      return Promise.resolve();
    });
    for (const id of ids) expect(await q.add({ id, name: 'j', data: { n: 1 } })).toEqual({ added: true });
    await q.drain(5_000);
    expect(seen.sort()).toEqual([...ids].sort());
    for (const id of ids) expect(await q.add({ id, name: 'j', data: { n: 1 } })).toEqual({ added: false });
  });

  it('dedupes by id: while waiting, after completion and under concurrent adds', async () => {
    const q = factory.make<Payload>('dedupe', { attempts: 1, backoffMs: 0 });
    expect(await q.add({ id: 'a:b:c', name: 'step', data: { n: 1 } })).toEqual({ added: true });
    expect(await q.add({ id: 'a:b:c', name: 'step', data: { n: 2 } })).toEqual({ added: false });
    const racing = await Promise.all([1, 2, 3, 4, 5].map((n) => q.add({ id: 'race', name: 'step', data: { n } })));
    expect(racing.filter((r) => r.added)).toHaveLength(1);

    const runs: { id: string; n: number }[] = [];
    q.process((job) => {
      runs.push({ id: job.id, n: job.data.n });
      return Promise.resolve();
    });
    await q.drain(5_000);
    expect(await q.add({ id: 'a:b:c', name: 'step', data: { n: 3 } })).toEqual({ added: false });
    await q.drain(5_000);
    expect(runs.filter((r) => r.id === 'a:b:c')).toEqual([{ id: 'a:b:c', n: 1 }]);
    expect(runs.filter((r) => r.id === 'race')).toHaveLength(1);
  });

  it('retries a retryable error with exponential backoff, then succeeds', async () => {
    const backoffMs = 40;
    const q = factory.make<Payload>('retry', { attempts: 4, backoffMs });
    const startedAt: number[] = [];
    const failures: { attempt: number; willRetry: boolean; code: unknown }[] = [];
    const completed: number[] = [];
    q.process(
      (job) => {
        startedAt.push(Date.now());
        return job.attempt < 3 ? Promise.reject(retryable()) : Promise.resolve();
      },
      {
        onFailed: (job, err, willRetry) =>
          failures.push({ attempt: job.attempt, willRetry, code: (err as VigilError).code }),
        onCompleted: (job) => completed.push(job.attempt),
      },
    );
    await q.add({ id: 'flaky', name: 'step', data: { n: 1 } });
    await q.drain(5_000);
    expect(startedAt).toHaveLength(3);
    expect(failures).toEqual([
      { attempt: 1, willRetry: true, code: 'VIGIL_ERR_CONNECTOR_HTTP_5XX' },
      { attempt: 2, willRetry: true, code: 'VIGIL_ERR_CONNECTOR_HTTP_5XX' },
    ]);
    expect(completed).toEqual([3]);
    // Lower bounds only (a delay is never shorter than the backoff); the second wait is the doubled one.
    const [t1 = 0, t2 = 0, t3 = 0] = startedAt;
    expect(t2 - t1).toBeGreaterThanOrEqual(backoffMs * 0.9);
    expect(t3 - t2).toBeGreaterThanOrEqual(2 * backoffMs * 0.9);
    expect(await q.counts()).toMatchObject({ completed: 1, failed: 0, delayed: 0 });
  });

  it('fails a permanent (non-retryable) error at once, without further attempts', async () => {
    const q = factory.make<Payload>('permanent', { attempts: 5, backoffMs: 10 });
    let calls = 0;
    const failures: { attempt: number; willRetry: boolean; err: unknown }[] = [];
    q.process(
      () => {
        calls++;
        return Promise.reject(permanent());
      },
      {
        onFailed: (job, err, willRetry) => failures.push({ attempt: job.attempt, willRetry, err }),
      },
    );
    await q.add({ id: 'doomed', name: 'step', data: { n: 1 } });
    await q.drain(5_000);
    expect(calls).toBe(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ attempt: 1, willRetry: false });
    expect(failures[0]?.err).toBeInstanceOf(VigilError);
    expect((failures[0]?.err as VigilError).code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
    expect(await q.counts()).toMatchObject({ failed: 1, completed: 0, delayed: 0, waiting: 0 });
  });

  it('calls onFailed(willRetry=false) exactly once when attempts are exhausted', async () => {
    const q = factory.make<Payload>('exhaust', { attempts: 3, backoffMs: 5 });
    const attempts: number[] = [];
    const failures: { attempt: number; willRetry: boolean }[] = [];
    q.process(
      (job) => {
        attempts.push(job.attempt);
        return Promise.reject(new Error('always down'));
      },
      {
        onFailed: (job, _err, willRetry) => failures.push({ attempt: job.attempt, willRetry }),
      },
    );
    await q.add({ id: 'down', name: 'step', data: { n: 1 } });
    await q.drain(5_000);
    expect(attempts).toEqual([1, 2, 3]);
    expect(failures).toEqual([
      { attempt: 1, willRetry: true },
      { attempt: 2, willRetry: true },
      { attempt: 3, willRetry: false },
    ]);
    expect(await q.counts()).toMatchObject({ failed: 1, completed: 0 });
  });

  it('counts waiting, active and completed jobs', async () => {
    const q = factory.make<Payload>('counts', { attempts: 1, backoffMs: 0 }, { concurrency: 1 });
    for (const n of [1, 2, 3]) await q.add({ id: `c-${n}`, name: 'step', data: { n } });
    expect(await q.counts()).toEqual({ waiting: 3, active: 0, delayed: 0, completed: 0, failed: 0 });
    const hold = gate();
    let started = 0;
    q.process(async () => {
      started++;
      await hold.promise;
    });
    await vi.waitFor(() => expect(started).toBe(1), { timeout: 5_000 });
    expect(await q.counts()).toEqual({ waiting: 2, active: 1, delayed: 0, completed: 0, failed: 0 });
    hold.open();
    await q.drain(5_000);
    expect(await q.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 3, failed: 0 });
  });

  it('reports the lag of the oldest waiting job, 0 when none waits', async () => {
    const q = factory.make<Payload>('lag', { attempts: 1, backoffMs: 0 });
    expect(await q.lagMs()).toBe(0);
    await q.add({ id: 'old', name: 'step', data: { n: 1 } });
    await new Promise((r) => setTimeout(r, 60));
    await q.add({ id: 'new', name: 'step', data: { n: 2 } });
    expect(await q.lagMs()).toBeGreaterThanOrEqual(50);
    q.process(() => Promise.resolve());
    await q.drain(5_000);
    expect(await q.lagMs()).toBe(0);
  });

  it('drain() waits for running and delayed jobs, and times out when nothing processes', async () => {
    const q = factory.make<Payload>('drain', { attempts: 2, backoffMs: 30 });
    const done: string[] = [];
    await q.add({ id: 'idle', name: 'step', data: { n: 1 } });
    await expect(q.drain(100)).rejects.toMatchObject({ code: 'VIGIL_ERR_QUEUE_DRAIN_TIMEOUT' });
    q.process(async (job) => {
      await new Promise((r) => setTimeout(r, 20));
      if (job.id === 'retry-once' && job.attempt === 1) throw retryable();
      done.push(job.id);
    });
    await q.add({ id: 'retry-once', name: 'step', data: { n: 2 } });
    await q.drain(5_000);
    expect(done.sort()).toEqual(['idle', 'retry-once']);
    expect(await q.counts()).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: 2 });
  });

  it('close() waits for the active job to finish and then refuses new jobs', async () => {
    const q = factory.make<Payload>('close', { attempts: 1, backoffMs: 0 });
    let started = false;
    let finished = false;
    const completed: string[] = [];
    q.process(
      async () => {
        started = true;
        await new Promise((r) => setTimeout(r, 150));
        finished = true;
      },
      { onCompleted: (job) => completed.push(job.id) },
    );
    await q.add({ id: 'slow', name: 'step', data: { n: 1 } });
    await vi.waitFor(() => expect(started).toBe(true), { timeout: 5_000 });
    await q.close();
    expect(finished).toBe(true);
    expect(completed).toEqual(['slow']);
    await expect(q.add({ id: 'late', name: 'step', data: { n: 2 } })).rejects.toMatchObject({
      code: 'VIGIL_ERR_QUEUE_CLOSED',
    });
  });

  it('abort() returns at once while a job runs, releases a close() under way and refuses new jobs', async () => {
    const q = factory.make<Payload>('abort', { attempts: 1, backoffMs: 0 });
    const held = gate();
    let started = false;
    q.process(async () => {
      started = true;
      await held.promise;
    });
    await q.add({ id: 'stuck', name: 'step', data: { n: 1 } });
    await vi.waitFor(() => expect(started).toBe(true), { timeout: 5_000 });
    let closed = false;
    const closing = q.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(false); // a graceful close waits for the job
    const t0 = performance.now();
    await q.abort();
    await closing;
    expect(performance.now() - t0).toBeLessThan(1_500);
    await expect(q.add({ id: 'late', name: 'step', data: { n: 2 } })).rejects.toMatchObject({
      code: 'VIGIL_ERR_QUEUE_CLOSED',
    });
    held.open();
  });
});
