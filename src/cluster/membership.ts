/**
 * Which replicas are alive (issue 14): each replica keeps one key `<prefix>replica:<id>` holding what the others
 * and `GET /api/v1/cluster` need to know of it (its API address, version, start time), with a TTL it renews on
 * every heartbeat. A replica that dies (kill -9, partition) drops out of the list within the TTL, in Redis time:
 * replicas' clocks never decide who is alive. A graceful stop deletes its key at once.
 * O(1) per heartbeat; `list` is O(replicas) (SCAN over the prefix, then MGET).
 */
import type { Redis } from 'ioredis';
import { scanValues } from './scan-values.js';

export interface ReplicaInfo {
  /** Unique per process (a restarted replica is a new one). */
  id: string;
  /** Where its control API answers, for forwarding (e.g. http://10.0.3.7:8080). */
  apiUrl?: string;
  version: string;
  startedAtUnixMs: number;
}

export interface Membership {
  /** Writes this replica's key with the TTL (call it at least twice per TTL). */
  heartbeat(): Promise<void>;
  /** Deletes this replica's key (graceful stop). */
  leave(): Promise<void>;
  /** The live replicas, by id. */
  list(): Promise<ReplicaInfo[]>;
}

export interface MembershipOptions {
  redis: Redis;
  prefix: string;
  self: ReplicaInfo;
  ttlMs: number;
}

export function createMembership(o: MembershipOptions): Membership {
  const from = `${o.prefix}replica:`;
  const key = `${from}${o.self.id}`;
  const value = JSON.stringify(o.self);
  const ttl = Math.max(1, Math.round(o.ttlMs));
  return {
    async heartbeat() {
      await o.redis.set(key, value, 'PX', ttl);
    },
    async leave() {
      await o.redis.del(key);
    },
    async list() {
      const out: ReplicaInfo[] = [];
      for (const [, v] of await scanValues(o.redis, from)) {
        try {
          out.push(JSON.parse(v) as ReplicaInfo);
        } catch {
          // not ours to read (another writer under the prefix): skipped
        }
      }
      return out.sort((a, b) => a.id.localeCompare(b.id));
    },
  };
}
