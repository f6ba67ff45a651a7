/**
 * One replica's side of the cluster (issue 14): which services it owns, taking a service when its telemetry arrives
 * and its lease is free, renewing every lease a third of the TTL, handing a service over when another replica
 * receives it and this one no longer does, and giving every service up when its lease can no longer be trusted.
 *
 * - `admit(services)`: called by ingest with the services of one OTLP request. All owned (the steady state): answers
 *   at once, no Redis call. Otherwise one `acquire` per service not owned (concurrent requests for the same service
 *   share it): taken → the `acquired` hook restores the service (its checkpoint from Redis) before the request's
 *   samples are accepted; another replica's → the request is refused as retryable (OTLP 503 / UNAVAILABLE) so the
 *   Collector retries once its ring has settled (the owner is cached for a second to spare Redis).
 * - A lease is trusted locally until (the moment the last successful renew or acquire was SENT) + 90% of the TTL:
 *   Redis set its expiry later than that, so a replica never acts on a lease Redis has already let go, whatever the
 *   round trip took (10% of the TTL covers clock-rate drift between the hosts). Past it (Redis unreachable, the
 *   process paused), the service is dropped (`lost` hook: nothing more is decided or written for it) and its next
 *   request must take the lease again. Every write of the owner is also fenced in Redis by the lease's token.
 * - Handover: a service another replica wants (it received the service's telemetry) and that this replica received
 *   none of for `handoverQuietMs` is checkpointed (`handover` hook), dropped and released; the other replica takes
 *   it at its next request.
 * - `stop()`: hands every service over (checkpoint, release), then leaves the membership: survivors take over at
 *   once, without waiting for the TTL.
 * The clock (`now`, monotonic ms) is injectable; Redis decides expiries.
 */
import type { Logger } from 'pino';
import type { LeaseTable } from './leases.js';
import type { Membership } from './membership.js';

export interface CoordinatorHooks {
  /** The lease was just taken: bring the service's state in (its Redis checkpoint) before its samples are accepted. */
  acquired(service: string, token: number): Promise<void>;
  /** The lease is lost or no longer trusted: forget the service at once. */
  lost(service: string, why: string): void;
  /** Handing the service over (another replica wants it, or this one stops): save it, fenced with `token`. */
  handover(service: string, token: number): Promise<void>;
}

export type Admission =
  | { ok: true; limited: readonly string[] }
  | { ok: false; service: string; owner?: string; retryAfterSeconds: number; message: string };

export interface Coordinator {
  readonly replica: string;
  /** Checks (and takes) the leases of a request's services: undefined when every one is owned (no Redis call). */
  admit(services: readonly string[], nowMs?: number): Admission | undefined | Promise<Admission>;
  /** The service's lease when this replica owns it and may act on it now. */
  lease(service: string): { token: number } | undefined;
  /** The services owned now, with their tokens. */
  owned(): { service: string; token: number }[];
  /** Renews now (the timer calls it every third of the TTL). Never throws. */
  renew(): Promise<void>;
  /** Heartbeat and renew timers. */
  start(): Promise<void>;
  /** Hands every service over and leaves. */
  stop(): Promise<void>;
  /** Stops the timers at once (a shutdown past its deadline). */
  abort(): void;
  /** Why this replica cannot act now (its leases are not trusted: Redis unreachable), or undefined. */
  problem(): string | undefined;
}

export interface CoordinatorOptions {
  leases: LeaseTable;
  membership: Membership;
  ttlMs: number;
  handoverQuietMs: number;
  hooks: CoordinatorHooks;
  logger: Logger;
  /** Monotonic ms (default performance.now). */
  now?: () => number;
  onCount?(what: 'acquired' | 'lost' | 'handover' | 'refused-owner' | 'refused-unavailable' | 'refused-limit'): void;
}

interface Owned {
  token: number;
  /** Trusted until (monotonic ms). */
  validUntil: number;
  /** Last time a request of this service arrived here (monotonic ms). */
  seenAt: number;
}

/** The lease is trusted for this share of its TTL after the command that set it was sent. */
const TRUST = 0.9;
/** Another replica's ownership is remembered this long before Redis is asked again. */
const OWNER_CACHE_MS = 1_000;

export function createCoordinator(o: CoordinatorOptions): Coordinator {
  const now = o.now ?? (() => performance.now());
  const log = o.logger.child({ replica: o.leases.replica });
  const owned = new Map<string, Owned>();
  const elsewhere = new Map<string, { owner: string; until: number }>();
  const acquiring = new Map<string, Promise<Admission>>();
  const handingOver = new Set<string>();
  let renewTimer: NodeJS.Timeout | undefined;
  let renewing: Promise<void> | undefined;
  let stopped = false;
  let unreachableSince: number | undefined;
  let lastError: string | undefined;
  const count = (w: Parameters<NonNullable<CoordinatorOptions['onCount']>>[0]): void => o.onCount?.(w);
  const retryAfter = Math.max(1, Math.ceil(o.ttlMs / 3_000));

  const lose = (service: string, why: string): void => {
    if (!owned.delete(service)) return;
    count('lost');
    log.warn({ service, why }, 'service lease lost: this replica stops acting for it');
    o.hooks.lost(service, why);
  };

  const expireUntrusted = (t: number): void => {
    for (const [service, l] of owned) {
      if (t >= l.validUntil) lose(service, 'lease not renewed in time (Redis unreachable or this process paused)');
    }
  };

  const takeOne = async (service: string): Promise<Admission> => {
    const sentAt = now();
    let r;
    try {
      r = await o.leases.acquire(service);
    } catch (err) {
      count('refused-unavailable');
      return {
        ok: false,
        service,
        retryAfterSeconds: retryAfter,
        message: `Redis unreachable, the owner of service ${service} cannot be checked: ${(err as Error).message}`,
      };
    }
    if (r.owned) {
      if (stopped) {
        await o.leases.release(service, r.token).catch(() => undefined);
        return { ok: false, service, retryAfterSeconds: retryAfter, message: 'this replica is stopping' };
      }
      const had = owned.get(service);
      if (had?.token === r.token) {
        had.validUntil = sentAt + TRUST * o.ttlMs;
        return { ok: true, limited: [] };
      }
      try {
        await o.hooks.acquired(service, r.token);
      } catch (err) {
        log.error({ err, service }, 'service state could not be restored: lease released, the request is refused');
        await o.leases.release(service, r.token).catch(() => undefined);
        count('refused-unavailable');
        return { ok: false, service, retryAfterSeconds: retryAfter, message: `service ${service} could not be restored` };
      }
      owned.set(service, { token: r.token, validUntil: sentAt + TRUST * o.ttlMs, seenAt: now() });
      elsewhere.delete(service);
      count('acquired');
      log.info({ service, token: r.token }, 'service lease taken: this replica owns its analyses');
      return { ok: true, limited: [] };
    }
    if ('limit' in r) {
      count('refused-limit');
      return { ok: true, limited: [service] };
    }
    elsewhere.set(service, { owner: r.owner, until: now() + OWNER_CACHE_MS });
    count('refused-owner');
    return refusedFor(service, r.owner);
  };

  const refusedFor = (service: string, owner: string): Admission => ({
    ok: false,
    service,
    owner,
    retryAfterSeconds: retryAfter,
    message: `service ${service} is owned by replica ${owner}: retry (the load balancer routes it there, or it is handed over)`,
  });

  const take = (service: string): Promise<Admission> => {
    let p = acquiring.get(service);
    if (!p) {
      p = takeOne(service).finally(() => acquiring.delete(service));
      acquiring.set(service, p);
    }
    return p;
  };

  const admitSlow = async (missing: string[]): Promise<Admission> => {
    const limited: string[] = [];
    const results = await Promise.all(missing.map(take));
    for (const r of results) {
      if (!r.ok) return r;
      limited.push(...r.limited);
    }
    return { ok: true, limited };
  };

  const handover = async (service: string, why: string): Promise<void> => {
    const l = owned.get(service);
    if (!l || handingOver.has(service)) return;
    handingOver.add(service);
    try {
      await o.hooks.handover(service, l.token);
      owned.delete(service);
      o.hooks.lost(service, why);
      await o.leases.release(service, l.token);
      count('handover');
      log.info({ service, why }, 'service handed over');
    } catch (err) {
      log.warn({ err, service }, 'service could not be handed over: kept for now');
    } finally {
      handingOver.delete(service);
    }
  };

  const renewOnce = async (): Promise<void> => {
    const sentAt = now();
    const leases = [...owned].map(([service, l]) => ({ service, token: l.token }));
    try {
      await o.membership.heartbeat();
      const { lost, wanted } = await o.leases.renew(leases);
      if (unreachableSince !== undefined) log.info('Redis answers again: leases renewed');
      unreachableSince = undefined;
      lastError = undefined;
      const gone = new Set(lost);
      for (const l of leases) {
        const mine = owned.get(l.service);
        if (mine?.token === l.token && !gone.has(l.service)) mine.validUntil = sentAt + TRUST * o.ttlMs;
      }
      for (const s of lost) lose(s, 'lease taken by another replica or expired in Redis');
      const t = now();
      for (const s of wanted) {
        const l = owned.get(s);
        if (l && t - l.seenAt >= o.handoverQuietMs)
          void handover(s, 'another replica receives its telemetry and this one no longer does');
      }
    } catch (err) {
      lastError = (err as Error).message;
      if (unreachableSince === undefined) {
        unreachableSince = sentAt;
        log.warn({ err }, 'leases could not be renewed (Redis): services are given up when their lease runs out');
      }
    }
    expireUntrusted(now());
  };

  return {
    replica: o.leases.replica,
    admit(services, nowMs) {
      const t = nowMs ?? now();
      let missing: string[] | undefined;
      for (const s of services) {
        const l = owned.get(s);
        if (l !== undefined && t < l.validUntil) {
          l.seenAt = t;
          continue;
        }
        if (l !== undefined) lose(s, 'lease not renewed in time (Redis unreachable or this process paused)');
        const other = elsewhere.get(s);
        if (other !== undefined && t < other.until) {
          count('refused-owner');
          return refusedFor(s, other.owner);
        }
        (missing ??= []).push(s);
      }
      return missing === undefined ? undefined : admitSlow(missing);
    },
    lease(service) {
      const l = owned.get(service);
      return l !== undefined && now() < l.validUntil ? { token: l.token } : undefined;
    },
    owned: () => [...owned].map(([service, l]) => ({ service, token: l.token })),
    renew: () => (renewing ??= renewOnce().finally(() => (renewing = undefined))),
    async start() {
      await o.membership.heartbeat();
      renewTimer = setInterval(() => void (renewing ??= renewOnce().finally(() => (renewing = undefined))), o.ttlMs / 3);
      renewTimer.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(renewTimer);
      await Promise.allSettled([...acquiring.values()]);
      await Promise.allSettled([...owned.keys()].map((s) => handover(s, 'this replica stops')));
      await o.membership.leave().catch(() => undefined);
    },
    abort() {
      stopped = true;
      clearInterval(renewTimer);
    },
    problem() {
      if (unreachableSince === undefined) return undefined;
      return `cluster: leases not renewed for ${Math.round((now() - unreachableSince) / 1000)} s (${lastError ?? 'Redis unreachable'})`;
    },
  };
}
