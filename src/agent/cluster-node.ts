/**
 * The agent as one replica of a cluster on one Redis (`cluster.enabled`, issue 14; docs/cluster.md). It joins the
 * parts of src/cluster/ to the pipeline:
 *
 * - Ingest: every OTLP request's services are admitted by the coordinator (src/cluster/coordinator.ts) before
 *   its samples reach the analysis: owned → accepted; free → the lease is taken and the service restored from its
 *   checkpoint in Redis first; another replica's → refused as retryable (503 / UNAVAILABLE).
 * - Checkpoints: each owned service is saved on its own (`state:<service>`, framed like the single checkpoint,
 *   written only while the lease carries this replica's token), every `state.checkpointInterval` when it changed,
 *   at once after each of its decisions, and when it is handed over. A new owner imports it: looks, evidence and
 *   decided versions continue.
 * - Decisions: each is claimed in Redis before it is recorded and enqueued (src/cluster/decision-claims.ts), so a
 *   version and incarnation is decided once in the cluster; a new owner re-dispatches the claims its predecessor
 *   did not get to enqueue (job ids make that idempotent).
 * - Resumes are counted in Redis (the next owner knows the version's incarnation) as well as in the audit log.
 * The single-buffer checkpoint (src/agent/checkpoints.ts) is not used in this mode.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { deserialize, serialize } from 'node:v8';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AnalysisRegistry, ServiceChunk } from '../analysis/analysis-registry.js';
import { createCoordinator, type Admission, type Coordinator } from '../cluster/coordinator.js';
import { createDecisionClaims, type DecisionClaims } from '../cluster/decision-claims.js';
import { createLeaseTable, type LeaseTable } from '../cluster/leases.js';
import { createMembership, type Membership, type ReplicaInfo } from '../cluster/membership.js';
import type { VigilConfig } from '../config/schema.js';
import type { Decision } from '../contracts/index.js';
import type { VigilMetrics } from '../http/metrics.js';
import { frameHeader, unframe } from '../state/frame.js';
import { vigilVersion } from '../version.js';

/** Bumped when the shape of a service's checkpoint changes: an older one is then ignored, never misread. */
export const SERVICE_CHECKPOINT_FORMAT = 1;

/** How often a claim that Redis did not answer is tried again, while the lease is trusted. */
const CLAIM_RETRY_MS = 1_000;
/** Claims made longer ago than this (wall clock) are not re-dispatched by a new owner (as interrupted plans at a
 *  restart): logged at warn for a human. Not the decision's event time: telemetry can be days old (a backfill, a
 *  replay, a Collector's backlog) while its decision is new. */
const REDISPATCH_MAX_AGE_MS = 24 * 3600 * 1000;

interface ServiceCheckpoint {
  format: number;
  analysisHash: string | undefined;
  savedAtUnixMs: number;
  /** The service's ServiceChunk, serialised on its own (node:v8). */
  chunk: Buffer;
}

/** What the pipeline gives the cluster node (late: the node exists before the pipeline's registry). */
export interface ClusterPipeline {
  registry: AnalysisRegistry;
  /** Records a decision and enqueues its jobs (the dispatcher). */
  dispatch(d: Decision): void;
  /** Resolves when every decision dispatched so far is recorded and enqueued. */
  dispatched(): Promise<void>;
}

/** One replica in GET /api/v1/cluster. */
export interface ClusterReplica extends ReplicaInfo {
  self: boolean;
  services: string[];
}

export interface ClusterStatus {
  replica: string;
  leaseTtlMs: number;
  replicas: ClusterReplica[];
  /** Leases whose replica is not (or no longer) in the membership: they expire within the TTL. */
  orphanLeases: { service: string; replica: string }[];
}

export interface ClusterNode {
  readonly replica: string;
  readonly claims: DecisionClaims;
  attach(p: ClusterPipeline): void;
  /** Admission of one request's samples (undefined: every service is owned, go on). */
  admit(samples: readonly { service: string }[]): Admission | undefined | Promise<Admission>;
  /** The registry's decisions come here: claimed in Redis, then dispatched. */
  decide(d: Decision): void;
  /** A resume, counted in Redis first (the next owner's incarnation of the version). */
  resume(service: string, version: string): Promise<number>;
  /** The live replicas (their API addresses, for forwarding). */
  replicas(): Promise<ReplicaInfo[]>;
  status(): Promise<ClusterStatus>;
  /** Saves every owned service that changed (the timer calls it every state.checkpointInterval). */
  checkpoint(): Promise<void>;
  /** Connects, joins the membership (advertising `apiUrl` when cluster.advertiseUrl is not set: the API's listen
   *  address), renews and checkpoints from now on. */
  start(apiUrl?: string): Promise<void>;
  /** Resolves when every decision handed to `decide` so far is claimed and dispatched (or dropped). */
  settled(): Promise<void>;
  /** Hands every service over (checkpoint, release), leaves the membership, closes Redis. */
  stop(): Promise<void>;
  abort(): void;
  /** Why this replica is not ready (Redis unreachable), [] when ready. */
  problems(): string[];
}

export interface ClusterNodeOptions {
  config: VigilConfig;
  logger: Logger;
  metrics: VigilMetrics;
}

/** The API's listen URL as the other replicas can reach it: a wildcard address becomes the host name. */
function advertised(listenUrl: string): string {
  const u = new URL(listenUrl);
  if (u.hostname === '0.0.0.0' || u.hostname === '[::]' || u.hostname === '::') u.hostname = hostname();
  return u.origin;
}

/** A unique id per process: the configured (or host) name and a random suffix. */
export function replicaIdOf(config: VigilConfig): string {
  return `${config.cluster.replicaId ?? hostname()}-${randomBytes(3).toString('hex')}`;
}

export function createClusterNode(opts: ClusterNodeOptions): ClusterNode {
  return new ReplicaNode(opts);
}

/** A Redis connection of its own: lease commands never wait behind BullMQ's; a command fails at once while
 *  disconnected (enableOfflineQueue false), and within a fifth of the TTL (at most 5 s) when Redis hangs. */
function clusterRedis(url: string, ttlMs: number): Redis {
  return new Redis(url, {
    lazyConnect: true,
    connectTimeout: Math.min(5_000, ttlMs / 3),
    commandTimeout: Math.max(500, Math.min(5_000, ttlMs / 5)),
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(250 * times, 1_000),
  });
}

class ReplicaNode implements ClusterNode {
  readonly replica: string;
  private readonly coordinator: Coordinator;
  readonly claims: DecisionClaims;
  private readonly config: VigilConfig;
  private readonly metrics: VigilMetrics;
  private readonly log: Logger;
  private readonly redis: Redis;
  private readonly leases: LeaseTable;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private apiUrl: string;
  private joined: Membership | undefined;
  /** SHA-256 of the last state saved per service (unchanged services are not written again). */
  private readonly savedHash = new Map<string, string>();
  private readonly deciding = new Set<Promise<void>>();
  private pipeline: ClusterPipeline | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checkpointing: Promise<void> | undefined;

  constructor(opts: ClusterNodeOptions) {
    const { config } = opts;
    if (!config.queue.redis) throw new Error('cluster.enabled needs queue.redis (the config check refuses it)');
    this.config = config;
    this.metrics = opts.metrics;
    this.prefix = `${config.queue.prefix}:cluster:`;
    this.ttlMs = config.cluster.leaseTtl;
    this.replica = replicaIdOf(config);
    this.log = opts.logger.child({ replica: this.replica });
    this.redis = clusterRedis(config.queue.redis, this.ttlMs);
    this.redis.on('error', (e: Error) => {
      this.metrics.redisErrors.inc({ client: 'cluster' });
      this.log.debug({ err: e }, 'cluster Redis connection error');
    });
    this.leases = createLeaseTable({
      redis: this.redis,
      prefix: this.prefix,
      replica: this.replica,
      ttlMs: this.ttlMs,
      maxServices: config.limits.maxServices,
    });
    this.apiUrl = config.cluster.advertiseUrl ?? `http://${hostname()}:${config.server.api.port}`;
    this.claims = createDecisionClaims(this.redis, this.prefix);
    const membership: Membership = {
      heartbeat: () => this.membership().heartbeat(),
      leave: () => this.membership().leave(),
      list: () => this.membership().list(),
    };
    this.coordinator = createCoordinator({
      leases: this.leases,
      membership,
      ttlMs: this.ttlMs,
      handoverQuietMs: config.cluster.handoverQuiet,
      logger: opts.logger,
      hooks: {
        acquired: (service) => this.restoreService(service),
        lost: (service) => {
          this.need().registry.dropService(service);
          this.savedHash.delete(service);
        },
        handover: (service, token) => this.saveService(service, token),
      },
      onCount: (what) => {
        this.metrics.clusterEvents.inc({ event: what });
        this.metrics.clusterLeases.set(this.coordinator.owned().length);
      },
    });
  }

  attach(p: ClusterPipeline): void {
    this.pipeline = p;
  }

  admit(samples: readonly { service: string }[]): Admission | undefined | Promise<Admission> {
    if (samples.length === 0) return undefined;
    let last = '';
    const services: string[] = [];
    for (const s of samples) {
      if (s.service === last) continue;
      last = s.service;
      if (!services.includes(last)) services.push(last);
    }
    return this.coordinator.admit(services);
  }

  decide(d: Decision): void {
    const p = this.claimAndDispatch(d).finally(() => this.deciding.delete(p));
    this.deciding.add(p);
  }

  async settled(): Promise<void> {
    while (this.deciding.size > 0) await Promise.allSettled([...this.deciding]);
  }

  resume(service: string, version: string): Promise<number> {
    return this.claims.resume(service, version);
  }

  replicas(): Promise<ReplicaInfo[]> {
    return this.membership().list();
  }

  async status(): Promise<ClusterStatus> {
    const [live, all] = await Promise.all([this.membership().list(), this.leases.list()]);
    const byReplica = new Map<string, string[]>();
    for (const l of all) {
      const list = byReplica.get(l.replica) ?? [];
      list.push(l.service);
      byReplica.set(l.replica, list);
    }
    const ids = new Set(live.map((r) => r.id));
    return {
      replica: this.replica,
      leaseTtlMs: this.ttlMs,
      replicas: live.map((r) => ({ ...r, self: r.id === this.replica, services: byReplica.get(r.id) ?? [] })),
      orphanLeases: all.filter((l) => !ids.has(l.replica)).map((l) => ({ service: l.service, replica: l.replica })),
    };
  }

  checkpoint(): Promise<void> {
    return (this.checkpointing ??= this.checkpointAll().finally(() => (this.checkpointing = undefined)));
  }

  async start(listenUrl?: string): Promise<void> {
    if (this.config.cluster.advertiseUrl === null && listenUrl !== undefined) this.apiUrl = advertised(listenUrl);
    // Redis down at start is an outage like any other: not ready, OTLP answered 503, reconnecting in the background
    await this.redis.connect().catch((err: unknown) => {
      this.log.warn({ err }, 'cluster: Redis unreachable at start; not ready until it answers');
    });
    await this.coordinator.start();
    this.timer = setInterval(() => void this.checkpoint(), this.config.state.checkpointInterval);
    this.timer.unref();
    this.log.info({ apiUrl: this.apiUrl, leaseTtlMs: this.ttlMs }, 'joined the cluster');
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.deciding]);
    await this.checkpointing;
    await this.coordinator.stop();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  abort(): void {
    clearInterval(this.timer);
    this.coordinator.abort();
    this.redis.disconnect();
  }

  problems(): string[] {
    const p = this.coordinator.problem();
    if (p) return [p];
    return this.redis.status === 'ready' ? [] : [`cluster: Redis connection ${this.redis.status}`];
  }

  private membership(): Membership {
    return (this.joined ??= createMembership({
      redis: this.redis,
      prefix: this.prefix,
      ttlMs: this.ttlMs,
      self: { id: this.replica, apiUrl: this.apiUrl, version: vigilVersion(), startedAtUnixMs: Date.now() },
    }));
  }

  private need(): ClusterPipeline {
    if (!this.pipeline) throw new Error('cluster node used before attach()');
    return this.pipeline;
  }

  private stateKey(service: string): string {
    return `${this.prefix}state:${service}`;
  }

  /** Saves the service's state, fenced; a service the analysis forgot (idle) has its checkpoint deleted instead,
   *  as a single agent forgets it. */
  private async saveService(service: string, token: number): Promise<void> {
    const { registry } = this.need();
    const chunk = registry.exportService(service);
    if (chunk === undefined) {
      await this.leases.fencedDel(service, token, this.stateKey(service));
      this.savedHash.delete(service);
      return;
    }
    const started = performance.now();
    const state = serialize(chunk); // serialised once: hashed, and carried as is in the checkpoint
    const hash = createHash('sha256').update(state).digest('hex');
    if (this.savedHash.get(service) === hash) return;
    const payload = serialize({
      format: SERVICE_CHECKPOINT_FORMAT,
      analysisHash: registry.exportHeader().analysisHash,
      savedAtUnixMs: Date.now(),
      chunk: state,
    } satisfies ServiceCheckpoint);
    const framed = Buffer.concat([frameHeader(payload), payload]);
    await this.leases.fencedSet(service, token, this.stateKey(service), framed);
    this.savedHash.set(service, hash);
    this.metrics.checkpoints.inc({ outcome: 'saved' });
    this.metrics.checkpointSeconds.observe((performance.now() - started) / 1000);
    this.metrics.checkpointBytes.set(framed.length);
  }

  private async checkpointAll(): Promise<void> {
    const { registry } = this.need();
    for (const { service, token } of this.coordinator.owned()) {
      if (!registry.hasService(service)) {
        // forgotten by the analysis (limits.serviceIdleTimeout, or evicted on probation): its lease no longer
        // counts against limits.maxServices in the cluster; its next telemetry takes it again, on any replica
        await this.coordinator.release(service, 'the analysis forgot the service (idle)');
        continue;
      }
      try {
        await this.saveService(service, token);
      } catch (err) {
        this.metrics.checkpoints.inc({ outcome: 'failed' });
        this.log.warn({ err, service }, 'service checkpoint could not be saved');
      }
      await new Promise((r) => setImmediate(r)); // requests get in between services
    }
  }

  /** A service just taken: its checkpoint, then the resumes and claims the cluster recorded (they win). */
  private async restoreService(service: string): Promise<void> {
    const { registry } = this.need();
    const key = this.stateKey(service);
    const [framed, resumes, claimed] = await Promise.all([
      this.redis.getBuffer(key),
      this.claims.resumes(service),
      this.claims.of(service),
    ]);
    registry.dropService(service); // whatever this replica knew of it is older than the owner's checkpoint
    this.savedHash.delete(service);
    if (framed !== null) {
      const cp = deserialize(unframe(framed, `redis key ${key}`)) as ServiceCheckpoint;
      if (cp?.format === SERVICE_CHECKPOINT_FORMAT) {
        const chunk = deserialize(cp.chunk) as ServiceChunk;
        const r = registry.importService(chunk, cp.analysisHash);
        const look = Math.max(0, ...[...chunk.service.running.values()].map((a) => a.look));
        const savedAt = new Date(cp.savedAtUnixMs).toISOString();
        this.log.info({ service, savedAt, ...r, look }, 'service restored from its checkpoint in Redis');
      } else this.log.warn({ service, format: cp?.format }, 'service checkpoint of another Vigil version: ignored');
    }
    for (const [version, n] of resumes) registry.resumeTo(service, version, n);
    for (const c of claimed) {
      if (c.incarnation < (resumes.get(c.decision.canaryVersion) ?? 0)) continue; // resumed since
      registry.markDecided(c.decision);
      if (c.dispatched) continue;
      if (Date.now() - c.claimedAtUnixMs >= REDISPATCH_MAX_AGE_MS) {
        const claimedAt = new Date(c.claimedAtUnixMs).toISOString();
        this.log.warn(
          { service, decisionId: c.decision.id, outcome: c.decision.outcome, claimedAt },
          'a decision claimed by the previous owner was never dispatched and is too old to be dispatched automatically: finish or drop it by hand',
        );
        continue;
      }
      this.log.warn(
        { service, decisionId: c.decision.id, outcome: c.decision.outcome },
        'a decision claimed by the previous owner was not recorded as dispatched: dispatched again (job ids keep its plan and notifications from running twice)',
      );
      void this.dispatchClaimed(c.decision, c.incarnation);
    }
  }

  private async dispatchClaimed(d: Decision, incarnation: number): Promise<void> {
    const p = this.need();
    p.dispatch(d);
    await p.dispatched();
    await this.claims.dispatched(d, incarnation).catch((err: unknown) => {
      this.log.warn(
        { err, decisionId: d.id },
        'claim not marked dispatched: a new owner would dispatch it again (idempotent)',
      );
    });
  }

  /** Claims the decision in Redis (retried while the lease is trusted), then records and enqueues it. */
  private async claimAndDispatch(d: Decision): Promise<void> {
    const dlog = this.log.child({ decisionId: d.id, service: d.service, analysis: d.analysis });
    const incarnation = this.need().registry.incarnation(d.service, d.canaryVersion);
    for (;;) {
      const lease = this.coordinator.lease(d.service);
      if (lease === undefined) {
        dlog.warn(
          'decision dropped: this replica no longer owns the service (the new owner decides from its checkpoint)',
        );
        return;
      }
      const held = { key: this.leases.leaseKey(d.service), held: this.leases.held(lease.token) };
      let outcome;
      try {
        outcome = await this.claims.claim(d, incarnation, held);
      } catch (err) {
        dlog.warn({ err }, 'decision could not be claimed in Redis: tried again while the lease holds');
        await new Promise((r) => setTimeout(r, CLAIM_RETRY_MS));
        continue;
      }
      if (outcome === 'fenced')
        return dlog.warn('decision dropped: the lease was taken over (fenced); the new owner decides');
      if (outcome === 'duplicate')
        return dlog.info('decision already claimed in the cluster for this version: not dispatched again');
      await this.dispatchClaimed(d, incarnation);
      await this.saveService(d.service, lease.token).catch((err: unknown) => {
        dlog.warn({ err }, 'service checkpoint after the decision failed (the claim keeps the version decided)');
      });
      return;
    }
  }
}
