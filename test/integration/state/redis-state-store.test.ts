/**
 * The Redis state store against the real Redis of test/setup/global-redis.ts; each test uses its own key and
 * deletes it.
 */
import { randomUUID } from 'node:crypto';
import { deserialize, serialize } from 'node:v8';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { redactRedisUrl } from '../../../src/redis-url.js';
import { FRAME_HEADER_BYTES } from '../../../src/state/frame.js';
import { createRedisStateStore } from '../../../src/state/redis-state-store.js';
import type { StateStore } from '../../../src/state/state-store.js';
import { startRedis, stopAllRedis } from '../../helpers/redis-server.js';
import { rejection } from '../../helpers/rejection.js';

const url = inject('redisUrl');
let admin: Redis;
const keys: string[] = [];
const stores: StateStore[] = [];

function freshKey(): string {
  const key = `vigil-test:state:${randomUUID()}`;
  keys.push(key);
  return key;
}

function store(key: string, at = url): StateStore {
  const s = createRedisStateStore(at, key);
  stores.push(s);
  return s;
}

beforeAll(() => {
  admin = new Redis(url, { lazyConnect: true });
});

afterEach(async () => {
  stopAllRedis(); // the test's own redis-server, frozen or not (no persistence: no keys outlive it)
  await Promise.all(stores.splice(0).map((s) => s.close()));
  const made = keys.splice(0);
  if (made.length) await admin.del(...made);
});

afterAll(async () => {
  await admin.quit();
});

describe('createRedisStateStore', () => {
  it('round-trips a v8-serialized object graph; nothing saved yet loads undefined', async () => {
    const key = freshKey();
    const s = store(key);
    expect(s.where).toBe(`redis ${redactRedisUrl(url)} key ${key}`);
    expect(await s.load()).toBeUndefined();

    const shared = { looks: [1, 2] };
    const graph = {
      m: new Map([
        ['x', shared],
        ['y', shared],
      ]),
      low: -Infinity,
      f: new Float64Array([1.5, -Infinity]),
    };
    await s.save(serialize(graph));
    const again = store(key);
    const back = deserialize((await again.load())!) as typeof graph;
    expect(back).toEqual(graph);
    expect(back.m.get('x')).toBe(back.m.get('y'));
    expect((await admin.getBuffer(key))!.subarray(0, 8).toString()).toBe('VIGILST1');
  });

  it('concurrent saves end with the last data', async () => {
    const key = freshKey();
    const s = store(key);
    await Promise.all(['a', 'b', 'c'].map((x) => s.save(Buffer.from(x.repeat(50_000)))));
    expect((await s.load())?.toString()).toBe('c'.repeat(50_000));
  });

  it('detects a corrupted value: VIGIL_ERR_STATE_CORRUPT naming the key', async () => {
    const key = freshKey();
    const s = store(key);
    await s.save(serialize({ counts: [1, 2, 3] }));
    const framed = (await admin.getBuffer(key))!;
    framed[FRAME_HEADER_BYTES + 2]! ^= 0x40;
    await admin.set(key, framed);
    const e = await rejection(s.load());
    expect(e.code).toBe('VIGIL_ERR_STATE_CORRUPT');
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(`checkpoint ${s.where} is corrupt: checksum mismatch`);

    await admin.set(key, framed.subarray(0, framed.length - 1));
    expect((await rejection(s.load())).message).toMatch(/is corrupt: truncated: \d+ of \d+ payload bytes$/);
  });

  it('a value of the wrong type is a retryable VIGIL_ERR_STATE_READ', async () => {
    const key = freshKey();
    await admin.rpush(key, 'not', 'a', 'string');
    const e = await rejection(store(key).load());
    expect(e.code).toBe('VIGIL_ERR_STATE_READ');
    expect(e.message).toContain('WRONGTYPE');
  });

  it('unreachable Redis: save and load reject within a bounded time with retryable errors, close does not hang', async () => {
    const s = store('vigil-test:state:unreachable', 'redis://:s3cr3t@127.0.0.1:1');
    expect(s.where).toBe('redis redis://:***@127.0.0.1:1 key vigil-test:state:unreachable');
    const started = performance.now();
    const e = await rejection(s.save(Buffer.from('x')));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(e.code).toBe('VIGIL_ERR_STATE_WRITE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain('ECONNREFUSED');
    expect(e.message).not.toContain('s3cr3t');
    const r = await rejection(s.load());
    expect([r.code, r.retryable]).toEqual(['VIGIL_ERR_STATE_READ', true]);
    const closing = performance.now();
    await s.close();
    expect(performance.now() - closing).toBeLessThan(1_000);
    expect((await rejection(s.save(Buffer.from('y')))).code).toBe('VIGIL_ERR_STATE_CLOSED');
  });

  it('frozen Redis (SIGSTOP): abort() fails the save waiting for it within a second; close() never hangs', async () => {
    const redis = await startRedis();
    const errors: Error[] = [];
    const s = createRedisStateStore(redis.url, 'vigil-test:state:frozen', { onConnectionError: (e) => errors.push(e) });
    stores.push(s);
    await s.save(Buffer.from('before'));
    redis.freeze();
    let settled = false;
    const saving = rejection(s.save(Buffer.from('during'))).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false); // a frozen Redis holds it (until commandTimeoutMs, 30 s)
    const t0 = performance.now();
    s.abort?.();
    expect((await saving).code).toBe('VIGIL_ERR_STATE_WRITE');
    expect(performance.now() - t0).toBeLessThan(1_000);
    const closing = performance.now();
    await s.close();
    expect(performance.now() - closing).toBeLessThan(1_000);

    // nothing pending, frozen: close() gives up on QUIT within about a second
    redis.thaw();
    const other = createRedisStateStore(redis.url, 'vigil-test:state:frozen');
    stores.push(other);
    await other.save(Buffer.from('x'));
    redis.freeze();
    const quitting = performance.now();
    await other.close();
    expect(performance.now() - quitting).toBeLessThan(2_000);
    redis.thaw();
    // the connection's error events reached the hook: none here (a frozen Redis refuses nothing)
    expect(errors).toEqual([]);
  });

  it('the connection errors go to onConnectionError', async () => {
    const errors: Error[] = [];
    const s = createRedisStateStore('redis://127.0.0.1:1', 'vigil-test:state:hook', {
      onConnectionError: (e) => errors.push(e),
    });
    stores.push(s);
    await rejection(s.save(Buffer.from('x')));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.message).toContain('ECONNREFUSED');
  });
});
