import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createMembership, type ReplicaInfo } from '../../../src/cluster/membership.js';
import { redisPrefixes } from '../../helpers/redis-prefixes.js';

/** Replica membership (src/cluster/membership.ts, issue 14) against the suite's real Redis; own key prefix per test. */

const { redis, prefix: newPrefix } = redisPrefixes('members');

function cluster(ttlMs: number, ids: string[]) {
  const prefix = newPrefix();
  const info = (id: string): ReplicaInfo => ({
    id,
    apiUrl: `http://${id}.vigil:8080`,
    version: '0.1.0',
    startedAtUnixMs: 1_700_000_000_000,
  });
  return ids.map((id) => ({ id, m: createMembership({ redis, prefix, self: info(id), ttlMs }) }));
}

describe('replica membership on a real Redis', () => {
  it('lists the replicas that heartbeat, with what they said of themselves', async () => {
    const [a, b] = cluster(5_000, ['vigil-0', 'vigil-1']);
    expect(await a!.m.list()).toEqual([]);
    await a!.m.heartbeat();
    await b!.m.heartbeat();
    expect(await b!.m.list()).toEqual([
      { id: 'vigil-0', apiUrl: 'http://vigil-0.vigil:8080', version: '0.1.0', startedAtUnixMs: 1_700_000_000_000 },
      { id: 'vigil-1', apiUrl: 'http://vigil-1.vigil:8080', version: '0.1.0', startedAtUnixMs: 1_700_000_000_000 },
    ]);
  });

  it('a replica that stops heartbeating (killed) drops out after the TTL; one that leaves, at once', async () => {
    const [a, b, c] = cluster(300, ['vigil-0', 'vigil-1', 'vigil-2']);
    for (const r of [a, b, c]) await r!.m.heartbeat();
    await c!.m.leave();
    expect((await a!.m.list()).map((r) => r.id)).toEqual(['vigil-0', 'vigil-1']);
    // vigil-1 is killed: no more heartbeats; vigil-0 keeps beating
    for (let i = 0; i < 4; i++) {
      await sleep(120);
      await a!.m.heartbeat();
    }
    expect((await a!.m.list()).map((r) => r.id)).toEqual(['vigil-0']);
  });
});
