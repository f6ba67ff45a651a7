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
  /** Gives a service up on purpose (checkpoint, release): the analysis forgot it (idle), or it is handed over. */
  release(service: string, why: string): Promise<void>;
  /** Joins (a first heartbeat) and renews every third of the TTL from now on. Never throws. */
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
const UNTRUSTED = 'lease not renewed in time (Redis unreachable or this process paused)';

export function createCoordinator(o: CoordinatorOptions): Coordinator {
  return new LeaseCoordinator(o);
}

class LeaseCoordinator implements Coordinator {
  readonly replica: string;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly held = new Map<string, Owned>();
  private readonly elsewhere = new Map<string, { owner: string; until: number }>();
  private readonly acquiring = new Map<string, Promise<Admission>>();
  private readonly handingOver = new Set<string>();
  private readonly retryAfter: number;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewing: Promise<void> | undefined;
  private stopped = false;
  private unreachableSince: number | undefined;
  private lastError: string | undefined;

  constructor(private readonly o: CoordinatorOptions) {
    this.replica = o.leases.replica;
    this.now = o.now ?? (() => performance.now());
    this.log = o.logger.child({ replica: o.leases.replica });
    this.retryAfter = Math.max(1, Math.ceil(o.ttlMs / 3_000));
  }

  admit(services: readonly string[], nowMs?: number): Admission | undefined | Promise<Admission> {
    const t = nowMs ?? this.now();
    let missing: string[] | undefined;
    for (const s of services) {
      const l = this.held.get(s);
      if (l !== undefined && t < l.validUntil) {
        l.seenAt = t;
        continue;
      }
      if (l !== undefined) this.lose(s, UNTRUSTED);
      const other = this.elsewhere.get(s);
      if (other !== undefined && t < other.until) {
        this.count('refused-owner');
        return this.refusedFor(s, other.owner);
      }
      (missing ??= []).push(s);
    }
    return missing === undefined ? undefined : this.admitSlow(missing);
  }

  lease(service: string): { token: number } | undefined {
    const l = this.held.get(service);
    return l !== undefined && this.now() < l.validUntil ? { token: l.token } : undefined;
  }

  owned(): { service: string; token: number }[] {
    return [...this.held].map(([service, l]) => ({ service, token: l.token }));
  }

  renew(): Promise<void> {
    return (this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined)));
  }

  release(service: string, why: string): Promise<void> {
    return this.handover(service, why);
  }

  async start(): Promise<void> {
    await this.renew(); // joins the membership; a Redis that does not answer is retried every third of the TTL
    this.renewTimer = setInterval(() => void this.renew(), this.o.ttlMs / 3);
    this.renewTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.renewTimer);
    await Promise.allSettled([...this.acquiring.values()]);
    await Promise.allSettled([...this.held.keys()].map((s) => this.handover(s, 'this replica stops')));
    await this.o.membership.leave().catch(() => undefined);
  }

  abort(): void {
    this.stopped = true;
    clearInterval(this.renewTimer);
  }

  problem(): string | undefined {
    if (this.unreachableSince === undefined) return undefined;
    const s = Math.round((this.now() - this.unreachableSince) / 1000);
    return `cluster: leases not renewed for ${s} s (${this.lastError ?? 'Redis unreachable'})`;
  }

  private count(what: Parameters<NonNullable<CoordinatorOptions['onCount']>>[0]): void {
    this.o.onCount?.(what);
  }

  private lose(service: string, why: string): void {
    if (!this.held.delete(service)) return;
    this.count('lost');
    this.log.warn({ service, why }, 'service lease lost: this replica stops acting for it');
    this.o.hooks.lost(service, why);
  }

  private refusedFor(service: string, owner: string): Admission {
    return {
      ok: false,
      service,
      owner,
      retryAfterSeconds: this.retryAfter,
      message: `service ${service} is owned by replica ${owner}: retry (the load balancer routes it there, or it is handed over)`,
    };
  }

  private unavailable(service: string, message: string): Admission {
    this.count('refused-unavailable');
    return { ok: false, service, retryAfterSeconds: this.retryAfter, message };
  }

  private take(service: string): Promise<Admission> {
    let p = this.acquiring.get(service);
    if (!p) {
      p = this.takeOne(service).finally(() => this.acquiring.delete(service));
      this.acquiring.set(service, p);
    }
    return p;
  }

  private async admitSlow(missing: string[]): Promise<Admission> {
    const limited: string[] = [];
    for (const r of await Promise.all(missing.map((s) => this.take(s)))) {
      if (!r.ok) return r;
      limited.push(...r.limited);
    }
    return { ok: true, limited };
  }

  private async takeOne(service: string): Promise<Admission> {
    const sentAt = this.now();
    let r;
    try {
      r = await this.o.leases.acquire(service);
    } catch (err) {
      const why = (err as Error).message;
      return this.unavailable(service, `Redis unreachable, the owner of service ${service} cannot be checked: ${why}`);
    }
    if (!r.owned) {
      if ('limit' in r) {
        this.count('refused-limit');
        return { ok: true, limited: [service] };
      }
      this.elsewhere.set(service, { owner: r.owner, until: this.now() + OWNER_CACHE_MS });
      this.count('refused-owner');
      return this.refusedFor(service, r.owner);
    }
    if (this.stopped) {
      await this.o.leases.release(service, r.token).catch(() => undefined);
      return this.unavailable(service, 'this replica is stopping');
    }
    const had = this.held.get(service);
    if (had?.token === r.token) {
      had.validUntil = sentAt + TRUST * this.o.ttlMs;
      return { ok: true, limited: [] };
    }
    try {
      await this.o.hooks.acquired(service, r.token);
    } catch (err) {
      this.log.error({ err, service }, 'service state could not be restored: lease released, the request is refused');
      await this.o.leases.release(service, r.token).catch(() => undefined);
      return this.unavailable(service, `service ${service} could not be restored`);
    }
    this.held.set(service, { token: r.token, validUntil: sentAt + TRUST * this.o.ttlMs, seenAt: this.now() });
    this.elsewhere.delete(service);
    this.count('acquired');
    this.log.info({ service, token: r.token }, 'service lease taken: this replica owns its analyses');
    return { ok: true, limited: [] };
  }

  private async handover(service: string, why: string): Promise<void> {
    const l = this.held.get(service);
    if (!l || this.handingOver.has(service)) return;
    this.handingOver.add(service);
    try {
      await this.o.hooks.handover(service, l.token);
    } catch (err) {
      this.handingOver.delete(service);
      this.log.warn({ err, service }, 'service could not be checkpointed for its handover: kept for now');
      return;
    }
    this.held.delete(service);
    this.o.hooks.lost(service, why);
    this.count('handover');
    try {
      await this.o.leases.release(service, l.token);
      this.log.info({ service, why }, 'service handed over');
    } catch (err) {
      this.log.warn(
        { err, service, why },
        'service handed over; its lease could not be released and expires by its TTL',
      );
    } finally {
      this.handingOver.delete(service);
    }
  }

  private async renewOnce(): Promise<void> {
    const sentAt = this.now();
    const leases = this.owned();
    try {
      await this.o.membership.heartbeat();
      const { lost, wanted } = await this.o.leases.renew(leases);
      if (this.unreachableSince !== undefined) this.log.info('Redis answers again: leases renewed');
      this.unreachableSince = undefined;
      this.lastError = undefined;
      const gone = new Set(lost);
      for (const l of leases) {
        const mine = this.held.get(l.service);
        if (mine?.token === l.token && !gone.has(l.service)) mine.validUntil = sentAt + TRUST * this.o.ttlMs;
      }
      for (const s of lost) this.lose(s, 'lease taken by another replica or expired in Redis');
      const t = this.now();
      for (const s of wanted) {
        const l = this.held.get(s);
        if (l && t - l.seenAt >= this.o.handoverQuietMs)
          void this.handover(s, 'another replica receives its telemetry and this one no longer does');
      }
    } catch (err) {
      this.lastError = (err as Error).message;
      if (this.unreachableSince === undefined) {
        this.unreachableSince = sentAt;
        this.log.warn({ err }, 'leases could not be renewed (Redis): services are given up when their lease runs out');
      }
    }
    const t = this.now();
    for (const [service, l] of this.held) if (t >= l.validUntil) this.lose(service, UNTRUSTED);
  }
}
