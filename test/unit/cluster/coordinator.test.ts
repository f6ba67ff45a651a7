import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createCoordinator, type Admission, type CoordinatorHooks } from '../../../src/cluster/coordinator.js';
import type { AcquireResult, LeaseTable, RenewResult } from '../../../src/cluster/leases.js';
import type { Membership } from '../../../src/cluster/membership.js';

/**
 * The coordinator's own rules (src/cluster/coordinator.ts), with a scripted lease table and clock: when a lease is
 * trusted, what a request is answered, when a service is handed over. The lease scripts themselves run against a
 * real Redis in test/integration/cluster/leases.test.ts; replicas as processes in replicas.test.ts.
 */

const TTL = 15_000;

function setup(
  opts: {
    acquire?: (s: string) => Promise<AcquireResult>;
    renew?: () => Promise<RenewResult>;
    save?: () => Promise<void>;
  } = {},
) {
  let t = 0;
  const events: string[] = [];
  const leases: LeaseTable = {
    replica: 'me',
    acquire: opts.acquire ?? (async () => ({ owned: true, token: 7 })),
    renew: opts.renew ?? (async () => ({ lost: [], wanted: [] })),
    fencedSet: async () => undefined,
    fencedDel: async () => undefined,
    release: async (s) => {
      events.push(`release ${s}`);
      return true;
    },
    list: async () => [],
    leaseKey: (s) => `lease:${s}`,
    held: (token) => `me|${token}`,
  };
  const membership: Membership = {
    heartbeat: async () => undefined,
    leave: async () => undefined,
    list: async () => [],
  };
  const hooks: CoordinatorHooks = {
    acquired: async (s, token) => void events.push(`acquired ${s} ${token}`),
    lost: (s) => void events.push(`lost ${s}`),
    handover: async (s) => {
      await opts.save?.();
      events.push(`saved ${s}`);
    },
  };
  const c = createCoordinator({
    leases,
    membership,
    ttlMs: TTL,
    handoverQuietMs: 5_000,
    hooks,
    logger: pino({ level: 'silent' }),
    now: () => t,
  });
  return { c, events, advance: (ms: number) => (t += ms) };
}

describe('cluster coordinator', () => {
  it('takes a free service once (concurrent requests share the acquisition), then admits it without Redis', async () => {
    let calls = 0;
    const { c, events } = setup({
      acquire: async () => {
        calls++;
        return { owned: true, token: 3 };
      },
    });
    const [x, y] = await Promise.all([c.admit(['cart']), c.admit(['cart'])]);
    expect(x).toEqual({ ok: true, limited: [] });
    expect(y).toEqual({ ok: true, limited: [] });
    expect(calls).toBe(1);
    expect(events).toEqual(['acquired cart 3']);
    expect(c.admit(['cart'])).toBeUndefined(); // owned: answered at once
    expect(c.lease('cart')).toEqual({ token: 3 });
  });

  it("refuses another replica's service as retryable and remembers the owner for a second", async () => {
    let calls = 0;
    const { c, advance } = setup({
      acquire: async () => {
        calls++;
        return { owned: false, owner: 'other' };
      },
    });
    const r = (await c.admit(['cart'])) as Admission;
    expect(r).toMatchObject({ ok: false, owner: 'other', retryAfterSeconds: 5 });
    expect(c.admit(['cart'])).toMatchObject({ ok: false, owner: 'other' }); // from the cache, no Redis call
    expect(calls).toBe(1);
    advance(1_001);
    await c.admit(['cart']);
    expect(calls).toBe(2);
  });

  it('a lease is trusted for 90% of the TTL after the command that set it was sent; Redis down past it drops the service', async () => {
    let redisUp = true;
    const { c, events, advance } = setup({
      renew: async () => {
        if (!redisUp) throw new Error('connect ECONNREFUSED');
        return { lost: [], wanted: [] };
      },
    });
    await c.admit(['cart']);
    advance(5_000);
    await c.renew(); // renewed at t=5 s: trusted until 5 + 13.5 s
    redisUp = false;
    advance(5_000);
    await c.renew();
    expect(c.lease('cart')).toEqual({ token: 7 });
    expect(c.problem()).toMatch(/leases not renewed for 0 s/);
    advance(8_499); // t = 18.499 s
    expect(c.lease('cart')).toEqual({ token: 7 });
    advance(1); // t = 18.5 s
    expect(c.lease('cart')).toBeUndefined(); // no more decisions for it
    await c.renew();
    expect(events).toEqual(['acquired cart 7', 'lost cart']);
  });

  it('hands a wanted service over only once it has been quiet here for handoverQuiet', async () => {
    const { c, events, advance } = setup({ renew: async () => ({ lost: [], wanted: ['cart'] }) });
    await c.admit(['cart']);
    advance(4_000);
    expect(c.admit(['cart'])).toBeUndefined(); // still receives it
    advance(4_000);
    await c.renew(); // quiet for 4 s < 5 s: kept
    expect(events).toEqual(['acquired cart 7']);
    advance(1_000);
    await c.renew();
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual(['acquired cart 7', 'saved cart', 'lost cart', 'release cart']);
    expect(c.lease('cart')).toBeUndefined();
  });

  it('a service whose handover checkpoint fails is kept (acting on it goes on); it is handed over once the save works', async () => {
    let saves = 0;
    const { c, events, advance } = setup({
      renew: async () => ({ lost: [], wanted: ['cart'] }),
      save: async () => {
        if (++saves === 1) throw new Error('Redis: READONLY');
      },
    });
    await c.admit(['cart']);
    advance(6_000);
    await c.renew();
    await new Promise((r) => setImmediate(r));
    expect(c.lease('cart')).toEqual({ token: 7 });
    expect(events).toEqual(['acquired cart 7']);
    await c.renew();
    await new Promise((r) => setImmediate(r));
    expect(events).toEqual(['acquired cart 7', 'saved cart', 'lost cart', 'release cart']);
  });

  it('a lease lost in Redis (taken over) is dropped at the next renewal', async () => {
    const { c, events } = setup({ renew: async () => ({ lost: ['cart'], wanted: [] }) });
    await c.admit(['cart', 'shop']);
    await c.renew();
    expect(c.owned()).toEqual([{ service: 'shop', token: 7 }]);
    expect(events).toContain('lost cart');
  });

  it('past the cluster-wide service limit, the service is admitted as limited (its spans are rejected, not retried)', async () => {
    const { c } = setup({
      acquire: async (s) => (s === 'new' ? { owned: false, limit: 2 } : { owned: true, token: 1 }),
    });
    expect(await c.admit(['cart', 'new'])).toEqual({ ok: true, limited: ['new'] });
  });
});
