/**
 * Each decision exactly once across replicas (issue 14). Before a decision is recorded and its plan enqueued, its
 * owner CLAIMS it in Redis: one Lua script that checks the service's lease still carries the owner's token (fenced:
 * a past owner's decision is refused) and sets the field `<version>#<incarnation>` of `decided:<service>` only when
 * it is absent (HSETNX). So however often the same analysis is decided (two replicas received the same spans during
 * a ring change, a new owner restored an older checkpoint and saw the regression again), one decision per version
 * and incarnation goes out; a resume (`resumes:<service>`, HINCRBY) starts the next incarnation.
 *
 * A claim is marked `dispatched` (`dispatched:<service>`) once its decision is recorded in the owner's audit log and its jobs are enqueued;
 * a new owner re-dispatches the claims that were not (the owner died in between): the jobs' deterministic ids
 * keep BullMQ from running a plan or sending a notification twice (finished jobs are kept 7 days).
 *
 * Every claim is also pushed on the capped list `decisions` (newest first), which any replica reads for
 * `GET /api/v1/decisions`. O(1) per claim.
 */
import type { Redis } from 'ioredis';
import type { Decision } from '../contracts/index.js';

/** Decisions kept on the shared list for the API. */
export const RECENT_DECISIONS = 1000;

export interface Claim {
  decision: Decision;
  incarnation: number;
  /** Recorded and its jobs enqueued by the replica that claimed it. */
  dispatched: boolean;
  /** When it was claimed, ms (the claiming replica's clock): a new owner re-dispatches by this age, not event time. */
  claimedAtUnixMs: number;
}

export type ClaimOutcome = 'claimed' | 'duplicate' | 'fenced';

export interface DecisionClaims {
  /** Claims the decision for its version and incarnation, while `lease` (the service's lease key) still holds
   *  `held` (this replica and token). */
  claim(d: Decision, incarnation: number, lease: { key: string; held: string }): Promise<ClaimOutcome>;
  /** Marks a claim dispatched (its audit record and jobs exist). */
  dispatched(d: Decision, incarnation: number): Promise<void>;
  /** Every claim of a service (a new owner marks the versions decided and re-dispatches undispatched ones). */
  of(service: string): Promise<Claim[]>;
  /** Resumes per version of a service (a version's current incarnation). */
  resumes(service: string): Promise<Map<string, number>>;
  /** Records one more resume of a version; returns its new incarnation. */
  resume(service: string, version: string): Promise<number>;
  /** The newest decisions of the cluster, newest first. */
  recent(limit?: number): Promise<Decision[]>;
}

// KEYS: lease, decided hash, recent list. ARGV: held lease value, field, claim JSON, list cap.
const CLAIM = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
return 1
`;

const field = (version: string, incarnation: number): string => `${version}#${incarnation}`;

export function createDecisionClaims(redis: Redis, prefix: string): DecisionClaims {
  const decidedKey = (service: string): string => `${prefix}decided:${service}`;
  const resumesKey = (service: string): string => `${prefix}resumes:${service}`;
  const dispatchedKey = (service: string): string => `${prefix}dispatched:${service}`;
  const recentKey = `${prefix}decisions`;
  return {
    async claim(d, incarnation, lease) {
      const claim: Claim = { decision: d, incarnation, dispatched: false, claimedAtUnixMs: Date.now() };
      const r = (await redis.eval(
        CLAIM,
        3,
        lease.key,
        decidedKey(d.service),
        recentKey,
        lease.held,
        field(d.canaryVersion, incarnation),
        JSON.stringify(claim),
        String(RECENT_DECISIONS),
      )) as number;
      return r === 1 ? 'claimed' : r === 0 ? 'duplicate' : 'fenced';
    },
    async dispatched(d, incarnation) {
      await redis.hset(dispatchedKey(d.service), field(d.canaryVersion, incarnation), '1');
    },
    async of(service) {
      const [all, done] = await Promise.all([
        redis.hgetall(decidedKey(service)),
        redis.hgetall(dispatchedKey(service)),
      ]);
      return Object.entries(all).map(([f, v]) => ({ ...(JSON.parse(v) as Claim), dispatched: done[f] === '1' }));
    },
    async resumes(service) {
      const all = await redis.hgetall(resumesKey(service));
      return new Map(Object.entries(all).map(([v, n]) => [v, Number(n)]));
    },
    resume: (service, version) => redis.hincrby(resumesKey(service), version, 1),
    async recent(limit = RECENT_DECISIONS) {
      const items = await redis.lrange(recentKey, 0, Math.max(0, limit - 1));
      return items.map((v) => (JSON.parse(v) as Claim).decision);
    },
  };
}
