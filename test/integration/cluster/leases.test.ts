import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createLeaseTable, type LeaseTable } from '../../../src/cluster/leases.js';
import { VigilError } from '../../../src/errors.js';
import { redisPrefixes } from '../../helpers/redis-prefixes.js';

/**
 * Service leases with fencing tokens (src/cluster/leases.ts, issue 14) against the suite's real Redis: two
 * replicas contend for the same services; each test has its own key prefix and deletes its keys.
 */

const { redis, prefix: newPrefix } = redisPrefixes('leases');

function replicas(ttlMs: number): { prefix: string; a: LeaseTable; b: LeaseTable } {
  const prefix = newPrefix();
  return {
    prefix,
    a: createLeaseTable({ redis, prefix, replica: 'replica-a', ttlMs }),
    b: createLeaseTable({ redis, prefix, replica: 'replica-b', ttlMs }),
  };
}

describe('service leases on a real Redis', () => {
  it('one owner at a time: the second replica is told who owns the service; the owner re-acquires its own token', async () => {
    const { a, b } = replicas(10_000);
    const first = await a.acquire('checkout');
    expect(first).toEqual({ owned: true, token: 1 });
    expect(await b.acquire('checkout')).toEqual({ owned: false, owner: 'replica-a' });
    expect(await a.acquire('checkout')).toEqual({ owned: true, token: 1 });
    expect(await b.acquire('cart')).toEqual({ owned: true, token: 1 }); // tokens are per service
    expect(await a.list()).toEqual([
      { service: 'cart', replica: 'replica-b', token: 1 },
      { service: 'checkout', replica: 'replica-a', token: 1 },
    ]);
  });

  it('a dead owner loses its services after the TTL; the new owner gets a larger token and the old one is fenced', async () => {
    const { prefix, a, b } = replicas(300);
    const old = await a.acquire('checkout');
    if (!old.owned) throw new Error('replica-a should own checkout');
    await a.fencedSet('checkout', old.token, `${prefix}state:checkout`, 'from a');
    // replica-a stops renewing (killed, paused, partitioned): its lease expires in Redis time
    await sleep(450);
    const next = await b.acquire('checkout');
    expect(next).toEqual({ owned: true, token: old.token + 1 });
    // the old owner wakes up and tries to write with its old token: refused, nothing written
    const late = a.fencedSet('checkout', old.token, `${prefix}state:checkout`, 'stale from a');
    await expect(late).rejects.toBeInstanceOf(VigilError);
    await expect(late).rejects.toMatchObject({ code: 'VIGIL_ERR_CLUSTER_FENCED', retryable: false });
    expect(await redis.get(`${prefix}state:checkout`)).toBe('from a');
    await b.fencedSet('checkout', 2, `${prefix}state:checkout`, 'from b');
    expect(await redis.get(`${prefix}state:checkout`)).toBe('from b');
    // a delete is fenced the same way: the old owner cannot drop the new owner's state, the owner can
    await expect(a.fencedDel('checkout', old.token, `${prefix}state:checkout`)).rejects.toMatchObject({
      code: 'VIGIL_ERR_CLUSTER_FENCED',
    });
    expect(await redis.get(`${prefix}state:checkout`)).toBe('from b');
    await b.fencedDel('checkout', 2, `${prefix}state:checkout`);
    expect(await redis.exists(`${prefix}state:checkout`)).toBe(0);
    // and its renewal says the lease is lost
    expect(await a.renew([{ service: 'checkout', token: old.token }])).toEqual({ lost: ['checkout'], wanted: [] });
  });

  it('renewing keeps a lease past its TTL in one round trip for all services, and reports only the lost ones', async () => {
    const { a, b } = replicas(300);
    const held = [];
    for (const s of ['s1', 's2', 's3']) {
      const r = await a.acquire(s);
      if (!r.owned) throw new Error(`replica-a should own ${s}`);
      held.push({ service: s, token: r.token });
    }
    for (let i = 0; i < 4; i++) {
      await sleep(150);
      expect(await a.renew(held)).toEqual({ lost: [], wanted: [] });
    }
    expect(await b.acquire('s2')).toEqual({ owned: false, owner: 'replica-a' }); // 600 ms > TTL: still owned
    expect(await a.release('s2', held[1]!.token)).toBe(true);
    expect(await b.acquire('s2')).toEqual({ owned: true, token: 2 });
    expect(await a.renew(held)).toEqual({ lost: ['s2'], wanted: [] });
    expect(await a.renew([])).toEqual({ lost: [], wanted: [] });
  });

  it('release only frees a lease it still holds', async () => {
    const { a, b } = replicas(200);
    const r = await a.acquire('pay');
    if (!r.owned) throw new Error('replica-a should own pay');
    await sleep(300);
    const taken = await b.acquire('pay');
    expect(taken).toEqual({ owned: true, token: r.token + 1 });
    expect(await a.release('pay', r.token)).toBe(false); // not a's any more: b keeps it
    expect(await a.acquire('pay')).toEqual({ owned: false, owner: 'replica-b' });
  });

  it('tokens only grow, whoever takes the service, however often', async () => {
    const { a, b } = replicas(10_000);
    const tokens: number[] = [];
    for (let i = 0; i < 6; i++) {
      const table = i % 2 === 0 ? a : b;
      const r = await table.acquire('search');
      if (!r.owned) throw new Error('the service should be free');
      tokens.push(r.token);
      expect(await table.release('search', r.token)).toBe(true);
    }
    expect(tokens).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("a replica that receives another's service says so: the owner's renewal reports it wanted, until the owner releases it", async () => {
    const { a, b } = replicas(10_000);
    const held = await a.acquire('checkout');
    if (!held.owned) throw new Error('replica-a should own checkout');
    expect(await a.renew([{ service: 'checkout', token: held.token }])).toEqual({ lost: [], wanted: [] });
    expect(await b.acquire('checkout')).toEqual({ owned: false, owner: 'replica-a' });
    expect(await a.renew([{ service: 'checkout', token: held.token }])).toEqual({ lost: [], wanted: ['checkout'] });
    expect(await a.release('checkout', held.token)).toBe(true);
    const taken = await b.acquire('checkout');
    expect(taken).toEqual({ owned: true, token: held.token + 1 });
    if (!taken.owned) throw new Error('replica-b should own checkout');
    // b took what it wanted: its want is gone, so its own renewal does not report it
    expect(await b.renew([{ service: 'checkout', token: taken.token }])).toEqual({ lost: [], wanted: [] });
  });

  it('maxServices holds for the cluster: a new service past it is refused, whichever replica asks, until a lease ends', async () => {
    const prefix = newPrefix();
    const a = createLeaseTable({ redis, prefix, replica: 'replica-a', ttlMs: 10_000, maxServices: 2 });
    const b = createLeaseTable({ redis, prefix, replica: 'replica-b', ttlMs: 300, maxServices: 2 });
    expect((await a.acquire('s1')).owned).toBe(true);
    expect((await b.acquire('s2')).owned).toBe(true);
    expect(await a.acquire('s3')).toEqual({ owned: false, limit: 2 });
    expect(await b.acquire('s3')).toEqual({ owned: false, limit: 2 });
    expect((await a.acquire('s1')).owned).toBe(true); // a service already counted is not refused
    await sleep(400); // b's lease on s2 expires (Redis time): its slot is free
    expect((await a.acquire('s3')).owned).toBe(true);
  });

  it('refuses a replica id that would break the lease format', () => {
    expect(() => createLeaseTable({ redis, prefix: 'x:', replica: 'a|b', ttlMs: 1000 })).toThrow(/must not contain/);
  });
});
