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
 *   → renewed, same token; another's live lease → `{ owner }` (not taken), and `want:<service>` says this replica
 *   receives the service's telemetry (the owner hands it over once its own stream is quiet). The ZSET `leases`
 *   (service → expiry, Redis time) counts the live leases: with `maxServices`, a new lease past it is refused
 *   (`{ limit }`), so limits.maxServices holds for the cluster, not per replica.
 * - `renew(services)`: one round trip for every lease this replica holds; a lease that is no longer this
 *   replica's with this token (expired and taken, or gone) is reported lost: stop acting for that service; a lease
 *   another replica wants is reported wanted.
 * - `fencedSet(service, token, key, value)`: writes only while the lease still carries this replica and token;
 *   else VIGIL_ERR_CLUSTER_FENCED (not retryable: the write belongs to a past owner).
 * - `release(service, token)`: deletes the lease only when it is still this one (a graceful handover).
 * Time is Redis's (PX, TIME): replicas' clocks never decide who owns what. O(1) per service per call (the index's
 * expired entries are trimmed by the acquisitions, O(log n) each).
 */
import type { Redis } from 'ioredis';
import { VigilError } from '../errors.js';
import { scanValues } from './scan-values.js';

export interface Lease {
  service: string;
  token: number;
}

export type AcquireResult =
  | { owned: true; token: number }
  | { owned: false; owner: string }
  /** Taking it would pass `maxServices` leases in the cluster (limits.maxServices, counted in Redis). */
  | { owned: false; limit: number };

export interface RenewResult {
  /** Leases no longer this replica's: stop acting for these services at once. */
  lost: string[];
  /** Services (still this replica's) whose telemetry another replica received: hand them over once quiet here. */
  wanted: string[];
}

export interface LeaseTable {
  /** This replica's id (unique per process: a restarted replica is a new owner). */
  readonly replica: string;
  acquire(service: string): Promise<AcquireResult>;
  /** Renews every lease given; says which were lost and which another replica wants. */
  renew(leases: readonly Lease[]): Promise<RenewResult>;
  fencedSet(service: string, token: number, key: string, value: string | Buffer): Promise<void>;
  /** Deletes `key` while the lease still carries this replica and token (else VIGIL_ERR_CLUSTER_FENCED). */
  fencedDel(service: string, token: number, key: string): Promise<void>;
  release(service: string, token: number): Promise<boolean>;
  /** Every live lease under the prefix: service → owner replica and token (for GET /api/v1/cluster). O(leases). */
  list(): Promise<{ service: string; replica: string; token: number }[]>;
  /** The Redis key of a service's lease (other scripts check it to fence their writes). */
  leaseKey(service: string): string;
  /** The value a lease holds while it is this replica's with `token`. */
  held(token: number): string;
}

// Redis time in ms (TIME: seconds, microseconds); scripts that call it write only after (effects replication).
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: lease, fence, index (ZSET service → expiry ms), want. ARGV: replica, ttl, maxServices (0: none), service.
const ACQUIRE = `
${NOW}
local ttl = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local owner = string.sub(cur, 1, sep - 1)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('ZADD', KEYS[3], now + ttl, ARGV[4])
    return {1, tonumber(string.sub(cur, sep + 1))}
  end
  redis.call('SET', KEYS[4], ARGV[1], 'PX', ttl)
  return {0, owner}
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local max = tonumber(ARGV[3])
if max > 0 and not redis.call('ZSCORE', KEYS[3], ARGV[4]) and redis.call('ZCARD', KEYS[3]) >= max then
  return {2, max}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ttl)
redis.call('ZADD', KEYS[3], now + ttl, ARGV[4])
if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
return {1, token}
`;

// KEYS: index, then lease and want of each service. ARGV: ttl, then held value and service name of each.
const RENEW = `
${NOW}
local ttl = tonumber(ARGV[1])
local lost = {}
local wanted = {}
local n = (#KEYS - 1) / 2
for i = 1, n do
  local lease = KEYS[2 * i]
  if redis.call('GET', lease) == ARGV[2 * i] then
    redis.call('PEXPIRE', lease, ttl)
    redis.call('ZADD', KEYS[1], now + ttl, ARGV[2 * i + 1])
    if redis.call('EXISTS', KEYS[2 * i + 1]) == 1 then table.insert(wanted, i) end
  else
    table.insert(lost, i)
  end
end
return {lost, wanted}
`;

// KEYS: lease, target. ARGV: held value, then the value to SET (absent: DEL the target).
const FENCED_WRITE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] then redis.call('SET', KEYS[2], ARGV[2]) else redis.call('DEL', KEYS[2]) end
return 1
`;

// KEYS: lease, index. ARGV: held value, service.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export interface LeaseTableOptions {
  redis: Redis;
  /** Key prefix, e.g. "vigil:" (leases and fences live under it). */
  prefix: string;
  replica: string;
  /** Lease time to live, ms: a dead owner's services are free after it (renew well within it). */
  ttlMs: number;
  /** At most this many leases in the cluster (0 or absent: no limit): `limits.maxServices` made cluster-wide. */
  maxServices?: number;
}

export function createLeaseTable(o: LeaseTableOptions): LeaseTable {
  if (o.replica.includes('|')) throw new Error(`replica id must not contain "|": ${o.replica}`);
  const leaseKey = (service: string): string => `${o.prefix}lease:${service}`;
  const fenceKey = (service: string): string => `${o.prefix}fence:${service}`;
  const wantKey = (service: string): string => `${o.prefix}want:${service}`;
  const indexKey = `${o.prefix}leases`;
  const max = String(o.maxServices ?? 0);
  const held = (token: number): string => `${o.replica}|${token}`;
  const ttl = String(Math.max(1, Math.round(o.ttlMs)));
  /** SET (or DEL without a value) `key` while the lease holds this replica and token. */
  const fenced = async (service: string, token: number, key: string, value?: string | Buffer): Promise<void> => {
    const args = value === undefined ? [held(token)] : [held(token), value];
    const done = (await o.redis.eval(FENCED_WRITE, 2, leaseKey(service), key, ...args)) as number;
    if (done !== 1) throw new VigilError('VIGIL_ERR_CLUSTER_FENCED', [service, String(token), o.replica]);
  };
  return {
    replica: o.replica,
    async acquire(service) {
      const keys = [leaseKey(service), fenceKey(service), indexKey, wantKey(service)];
      const [ok, what] = (await o.redis.eval(ACQUIRE, 4, ...keys, o.replica, ttl, max, service)) as [
        number,
        number | string,
      ];
      if (ok === 1) return { owned: true, token: Number(what) };
      return ok === 2 ? { owned: false, limit: Number(what) } : { owned: false, owner: String(what) };
    },
    async renew(leases) {
      if (leases.length === 0) return { lost: [], wanted: [] };
      const [lost, wanted] = (await o.redis.eval(
        RENEW,
        1 + 2 * leases.length,
        indexKey,
        ...leases.flatMap((l) => [leaseKey(l.service), wantKey(l.service)]),
        ttl,
        ...leases.flatMap((l) => [held(l.token), l.service]),
      )) as [number[], number[]];
      const name = (i: number): string => (leases[i - 1] as Lease).service;
      return { lost: lost.map(name), wanted: wanted.map(name) };
    },
    fencedSet: (service, token, key, value) => fenced(service, token, key, value),
    fencedDel: (service, token, key) => fenced(service, token, key),
    async release(service, token) {
      return ((await o.redis.eval(RELEASE, 2, leaseKey(service), indexKey, held(token), service)) as number) === 1;
    },
    async list() {
      const from = `${o.prefix}lease:`;
      const out = (await scanValues(o.redis, from)).map(([k, v]) => {
        const sep = v.indexOf('|');
        return { service: k.slice(from.length), replica: v.slice(0, sep), token: Number(v.slice(sep + 1)) };
      });
      return out.sort((a, b) => a.service.localeCompare(b.service));
    },
    leaseKey,
    held,
  };
}
