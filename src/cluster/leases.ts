/**
 * Service ownership for several replicas on one Redis (issue 14): each service's analyses are owned by one replica
 * at a time through a lease, and every write of the owner is FENCED by the lease's token, so an owner that was
 * paused or partitioned past its lease cannot write after another replica took over.
 *
 * Keys (under `prefix`): `lease:<service>` holds "<replica>|<token>" with a TTL (PX); `fence:<service>` is the
 * service's token counter (INCR at every acquisition: tokens only grow, across owners and Redis restarts of the
 * lease key alone). Everything is one Lua script per call, so check-and-set is atomic in Redis (a single Redis, or a
 * Sentinel/managed failover of one: the scripts' keys are per service, never across slots of a cluster).
 *
 * - `acquire(service)`: free or expired lease → a new token, the lease is this replica's; this replica's own lease
 *   → renewed, same token; another's live lease → `{ owner }` (not taken).
 * - `renew(services)`: one round trip for every lease this replica holds; a lease that is no longer this
 *   replica's with this token (expired and taken, or gone) is reported lost: stop acting for that service.
 * - `fencedSet(service, token, key, value)`: writes only while the lease still carries this replica and token;
 *   else VIGIL_ERR_CLUSTER_FENCED (not retryable: the write belongs to a past owner).
 * - `release(service, token)`: deletes the lease only when it is still this one (a graceful handover).
 * Time is Redis's (PX): replicas' clocks never decide who owns what. O(1) per service per call.
 */
import type { Redis } from 'ioredis';
import { VigilError } from '../errors.js';
import { scanValues } from './scan-values.js';

export interface Lease {
  service: string;
  token: number;
}

export type AcquireResult = { owned: true; token: number } | { owned: false; owner: string };

export interface LeaseTable {
  /** This replica's id (unique per process: a restarted replica is a new owner). */
  readonly replica: string;
  acquire(service: string): Promise<AcquireResult>;
  /** Renews every lease given; returns the services whose lease was lost. */
  renew(leases: readonly Lease[]): Promise<string[]>;
  fencedSet(service: string, token: number, key: string, value: string | Buffer): Promise<void>;
  release(service: string, token: number): Promise<boolean>;
  /** Every live lease under the prefix: service → owner replica and token (for GET /api/v1/cluster). O(leases). */
  list(): Promise<{ service: string; replica: string; token: number }[]>;
}

const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local owner = string.sub(cur, 1, sep - 1)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, tonumber(string.sub(cur, sep + 1))}
  end
  return {0, owner}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return {1, token}
`;

const RENEW = `
local lost = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
  else
    table.insert(lost, i)
  end
end
return lost
`;

const FENCED_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface LeaseTableOptions {
  redis: Redis;
  /** Key prefix, e.g. "vigil:" (leases and fences live under it). */
  prefix: string;
  replica: string;
  /** Lease time to live, ms: a dead owner's services are free after it (renew well within it). */
  ttlMs: number;
}

export function createLeaseTable(o: LeaseTableOptions): LeaseTable {
  if (o.replica.includes('|')) throw new Error(`replica id must not contain "|": ${o.replica}`);
  const leaseKey = (service: string): string => `${o.prefix}lease:${service}`;
  const fenceKey = (service: string): string => `${o.prefix}fence:${service}`;
  const held = (token: number): string => `${o.replica}|${token}`;
  const ttl = String(Math.max(1, Math.round(o.ttlMs)));
  return {
    replica: o.replica,
    async acquire(service) {
      const [ok, what] = (await o.redis.eval(ACQUIRE, 2, leaseKey(service), fenceKey(service), o.replica, ttl)) as [
        number,
        number | string,
      ];
      return ok === 1 ? { owned: true, token: Number(what) } : { owned: false, owner: String(what) };
    },
    async renew(leases) {
      if (leases.length === 0) return [];
      const lost = (await o.redis.eval(
        RENEW,
        leases.length,
        ...leases.map((l) => leaseKey(l.service)),
        ttl,
        ...leases.map((l) => held(l.token)),
      )) as number[];
      return lost.map((i) => (leases[i - 1] as Lease).service);
    },
    async fencedSet(service, token, key, value) {
      const done = (await o.redis.eval(FENCED_SET, 2, leaseKey(service), key, held(token), value)) as number;
      if (done !== 1) throw new VigilError('VIGIL_ERR_CLUSTER_FENCED', [service, String(token), o.replica]);
    },
    async release(service, token) {
      return ((await o.redis.eval(RELEASE, 1, leaseKey(service), held(token))) as number) === 1;
    },
    async list() {
      const from = `${o.prefix}lease:`;
      const out = (await scanValues(o.redis, from)).map(([k, v]) => {
        const sep = v.indexOf('|');
        return { service: k.slice(from.length), replica: v.slice(0, sep), token: Number(v.slice(sep + 1)) };
      });
      return out.sort((a, b) => a.service.localeCompare(b.service));
    },
  };
}
