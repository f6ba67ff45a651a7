import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OpenTraces, requestKey } from '../../../src/analysis/open-traces.js';

/** One remembered request of the reference model. */
interface Entry {
  uid: number;
  look: number;
  key: number;
  end: number;
  duration: number;
  error: boolean;
  retries: number;
  route: string | undefined;
  version: string;
}

const op = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      uid: fc.integer({ min: 1, max: 3 }),
      look: fc.integer({ min: 0, max: 3 }),
      // keys from a small range, some sharing their low 32 bits (the index's hash) to force long probe runs
      key: fc.oneof(
        fc.integer({ min: 0, max: 40 }).map((k) => requestKey(k, k % 3 === 0)),
        fc.integer({ min: 1, max: 40 }).map((k) => requestKey(k * 4294967296, false)),
      ),
      end: fc.integer({ min: 0, max: 1000 }),
      duration: fc.integer({ min: 0, max: 50 }),
      error: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('merge' as const),
      pick: fc.nat(),
      end: fc.integer({ min: 0, max: 1000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('close' as const),
      uid: fc.integer({ min: 1, max: 3 }),
      look: fc.integer({ min: 0, max: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const), uid: fc.integer({ min: 1, max: 3 }) }) },
);

const counted = (e: Entry) => ({
  endUnixMs: e.end,
  durationMs: e.duration,
  error: e.error,
  retries: e.retries,
  route: e.route,
  version: e.version,
});

describe('OpenTraces', () => {
  it('finds every remembered request; closes, forgets and (at maxEntries) evicts whole looks, oldest first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 300 }), (max, ops) => {
        const t = new OpenTraces(max);
        let live: Entry[] = [];
        /** Buckets (uid, look) in creation order, as the model sees them. */
        let buckets: string[] = [];
        const bucketOf = (e: { uid: number; look: number }) => `${e.uid}/${e.look}`;
        let evicted = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            if (live.some((e) => e.uid === o.uid && e.look === o.look && e.key === o.key)) continue;
            // at the limit, whole buckets go, the first created first
            while (live.length >= max) {
              const oldest = buckets.shift()!;
              const gone = live.filter((e) => bucketOf(e) === oldest);
              evicted += gone.length;
              live = live.filter((e) => bucketOf(e) !== oldest);
            }
            t.add(o.uid, o.look, o.key, o.end, o.duration, o.error, 0, `/r${o.key % 3}`, 'v1');
            if (!buckets.includes(bucketOf(o))) buckets.push(bucketOf(o));
            live.push({ ...o, retries: 0, route: `/r${o.key % 3}`, version: 'v1' });
          } else if (o.kind === 'merge') {
            if (live.length === 0) continue;
            const e = live[o.pick % live.length]!;
            const b = t.bucket(e.uid, e.look)!;
            const c = b.merge(b.find(e.key), o.end, 5, true, '/m', 'v2', 1);
            const start = Math.min(e.end - e.duration, o.end - 5);
            if (o.end >= e.end) Object.assign(e, { end: o.end, error: true, route: '/m', version: 'v2' });
            e.retries += 1;
            e.duration = Math.max(0, e.end - start);
            expect(c).toEqual(counted(e));
          } else if (o.kind === 'close') {
            t.closeUpTo(o.uid, o.look);
            const gone = (e: { uid: number; look: number }) => e.uid === o.uid && e.look <= o.look;
            live = live.filter((e) => !gone(e));
            buckets = buckets.filter((k) => !gone({ uid: Number(k.split('/')[0]), look: Number(k.split('/')[1]) }));
          } else {
            t.forget(o.uid);
            live = live.filter((e) => e.uid !== o.uid);
            buckets = buckets.filter((k) => Number(k.split('/')[0]) !== o.uid);
          }
          expect(t.takeEvicted()).toBe(evicted);
          evicted = 0;
          expect(t.size).toBe(live.length);
          expect(t.size).toBeLessThanOrEqual(max);
          for (const e of live) {
            const b = t.bucket(e.uid, e.look);
            expect(b).toBeDefined();
            expect(b!.counted(b!.find(e.key))).toEqual(counted(e));
          }
          // what is not remembered is not found
          for (const uid of [1, 2, 3])
            for (let look = 0; look <= 3; look++) {
              const b = t.bucket(uid, look);
              const here = live.filter((e) => e.uid === uid && e.look === look);
              if (b === undefined) expect(here).toEqual([]);
              else expect(b.size).toBe(here.length);
            }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the same trace of another cohort apart', () => {
    const t = new OpenTraces(100);
    t.add(1, 0, requestKey(77, true), 100, 10, true, 0, undefined, 'v2');
    const b = t.bucket(1, 0)!;
    expect(b.find(requestKey(77, false))).toBe(-1);
    expect(b.find(requestKey(77, true))).toBe(0);
    expect(t.bucket(2, 0)).toBeUndefined();
    expect(t.bucket(1, 1)).toBeUndefined();
  });
});
