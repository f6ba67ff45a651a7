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
  chunk: ServiceChunk;
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
  readonly coordinator: Coordinator;
  readonly claims: DecisionClaims;
  attach(p: ClusterPipeline): void;
  /** Admission of one request's samples (undefined: every service is owned, go on). */
  admit(samples: readonly { service: string }[]): Admission | undefined | Promise<Admission>;
  /** The registry's decisions come here: claimed in Redis, then dispatched. */
  decide(d: Decision): void;
  /** A resume, counted in Redis first (the next owner's incarnation of the version). */
  resume(service: string, version: string): Promise<number>;
  /** The owner of a service now (a replica id), or undefined when nobody holds its lease. */
  ownerOf(service: string): Promise<string | undefined>;
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
  const { config, metrics } = opts;
  const url = config.queue.redis;
  if (!url) throw new Error('cluster.enabled needs queue.redis (the config check refuses it)');
  const prefix = `${config.queue.prefix}:cluster:`;
  const ttlMs = config.cluster.leaseTtl;
  const replica = replicaIdOf(config);
  const log = opts.logger.child({ replica });
  // its own connection: lease commands must not wait behind BullMQ's; a command fails at once while disconnected
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: Math.min(5_000, ttlMs / 3),
    commandTimeout: Math.max(500, Math.min(5_000, ttlMs / 5)),
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: (times) => Math.min(250 * times, 1_000),
  });
  redis.on('error', (e: Error) => {
    metrics.redisErrors.inc({ client: 'cluster' });
    log.debug({ err: e }, 'cluster Redis connection error');
  });
  const leases: LeaseTable = createLeaseTable({
    redis,
    prefix,
    replica,
    ttlMs,
    maxServices: config.limits.maxServices,
  });
  let apiUrl = config.cluster.advertiseUrl ?? `http://${hostname()}:${config.server.api.port}`;
  let joined: Membership | undefined;
  const membershipOf = (): Membership =>
    (joined ??= createMembership({
      redis,
      prefix,
      ttlMs,
      self: { id: replica, apiUrl, version: vigilVersion(), startedAtUnixMs: Date.now() },
    }));
  const membership: Membership = {
    heartbeat: () => membershipOf().heartbeat(),
    leave: () => membershipOf().leave(),
    list: () => membershipOf().list(),
  };
  const claims = createDecisionClaims(redis, prefix);
  const stateKey = (service: string): string => `${prefix}state:${service}`;
  /** SHA-256 of the last payload saved per service (unchanged services are not written again). */
  const savedHash = new Map<string, string>();
  let pipeline: ClusterPipeline | undefined;
  let timer: NodeJS.Timeout | undefined;
  const need = (): ClusterPipeline => {
    if (!pipeline) throw new Error('cluster node used before attach()');
    return pipeline;
  };

  const saveService = async (service: string, token: number): Promise<void> => {
    const { registry } = need();
    const chunk = registry.exportService(service);
    if (chunk === undefined) return;
    const payload = serialize({
      format: SERVICE_CHECKPOINT_FORMAT,
      analysisHash: registry.exportHeader().analysisHash,
      savedAtUnixMs: Date.now(),
      chunk,
    } satisfies ServiceCheckpoint);
    // the time inside varies; the hash is of the service alone
    const hash = createHash('sha256').update(serialize(chunk)).digest('hex');
    if (savedHash.get(service) === hash) return;
    const started = performance.now();
    await leases.fencedSet(service, token, stateKey(service), Buffer.concat([frameHeader(payload), payload]));
    savedHash.set(service, hash);
    metrics.checkpoints.inc({ outcome: 'saved' });
    metrics.checkpointSeconds.observe((performance.now() - started) / 1000);
  };

  const restoreService = async (service: string): Promise<void> => {
    const { registry } = need();
    const where = `redis key ${stateKey(service)}`;
    const [framed, resumes, claimed] = await Promise.all([
      redis.getBuffer(stateKey(service)),
      claims.resumes(service),
      claims.of(service),
    ]);
    registry.dropService(service); // whatever this replica knew of it is older than the owner's checkpoint
    let look: number | undefined;
    if (framed !== null) {
      const cp = deserialize(unframe(framed, where)) as ServiceCheckpoint;
      if (cp?.format === SERVICE_CHECKPOINT_FORMAT) {
        const r = registry.importService(cp.chunk, cp.analysisHash);
        look = Math.max(0, ...[...cp.chunk.service.running.values()].map((a) => a.look));
        log.info(
          { service, savedAt: new Date(cp.savedAtUnixMs).toISOString(), ...r, look },
          'service restored from its checkpoint in Redis',
        );
      } else log.warn({ service, format: cp?.format }, 'service checkpoint of another Vigil version: ignored');
    }
    for (const [version, n] of resumes) registry.resumeTo(service, version, n);
    const redispatch: typeof claimed = [];
    for (const c of claimed) {
      if (c.incarnation < (resumes.get(c.decision.canaryVersion) ?? 0)) continue; // resumed since
      registry.markDecided(c.decision);
      if (c.dispatched) continue;
      const claimedAt = c.claimedAtUnixMs ?? c.decision.eventTimeUnixMs;
      if (Date.now() - claimedAt < REDISPATCH_MAX_AGE_MS) redispatch.push(c);
      else
        log.warn(
          { service, decisionId: c.decision.id, outcome: c.decision.outcome, claimedAt: new Date(claimedAt).toISOString() },
          'a decision claimed by the previous owner was never dispatched and is too old to be dispatched automatically: finish or drop it by hand',
        );
    }
    savedHash.delete(service);
    for (const c of redispatch) {
      log.warn(
        { service, decisionId: c.decision.id, outcome: c.decision.outcome },
        'a decision claimed by the previous owner was not recorded as dispatched: dispatched again (job ids keep its plan and notifications from running twice)',
      );
      void dispatchClaimed(c.decision, c.incarnation);
    }
  };

  const dispatchClaimed = async (d: Decision, incarnation: number): Promise<void> => {
    const p = need();
    p.dispatch(d);
    await p.dispatched();
    await claims.dispatched(d, incarnation).catch((err: unknown) =>
      log.warn({ err, decisionId: d.id }, 'claim could not be marked dispatched: a new owner would dispatch it again (idempotent)'),
    );
  };

  const coordinator = createCoordinator({
    leases,
    membership,
    ttlMs,
    handoverQuietMs: config.cluster.handoverQuiet,
    logger: opts.logger,
    hooks: {
      acquired: (service) => restoreService(service),
      lost: (service) => {
        need().registry.dropService(service);
        savedHash.delete(service);
      },
      handover: (service, token) => saveService(service, token),
    },
    onCount: (what) => {
      metrics.clusterEvents.inc({ event: what });
      metrics.clusterLeases.set(coordinator.owned().length);
    },
  });

  const decide = async (d: Decision): Promise<void> => {
    const dlog = log.child({ decisionId: d.id, service: d.service, analysis: d.analysis });
    const incarnation = need().registry.incarnation(d.service, d.canaryVersion);
    for (;;) {
      const lease = coordinator.lease(d.service);
      if (lease === undefined) {
        dlog.warn('decision dropped: this replica no longer owns the service (the new owner decides from its checkpoint)');
        return;
      }
      let outcome;
      try {
        outcome = await claims.claim(d, incarnation, { key: leases.leaseKey(d.service), held: leases.held(lease.token) });
      } catch (err) {
        dlog.warn({ err }, 'decision could not be claimed in Redis: tried again while the lease holds');
        await new Promise((r) => setTimeout(r, CLAIM_RETRY_MS));
        continue;
      }
      if (outcome === 'fenced') {
        dlog.warn('decision dropped: the lease was taken over (fenced); the new owner decides');
        return;
      }
      if (outcome === 'duplicate') {
        dlog.info('decision already claimed in the cluster for this version: not dispatched again');
        return;
      }
      await dispatchClaimed(d, incarnation);
      await saveService(d.service, lease.token).catch((err: unknown) =>
        dlog.warn({ err }, 'service checkpoint after the decision failed (the claim keeps the version decided)'),
      );
      return;
    }
  };

  const checkpoint = async (): Promise<void> => {
    for (const { service, token } of coordinator.owned()) {
      try {
        await saveService(service, token);
      } catch (err) {
        metrics.checkpoints.inc({ outcome: 'failed' });
        log.warn({ err, service }, 'service checkpoint could not be saved');
      }
      await new Promise((r) => setImmediate(r)); // requests get in between services
    }
  };

  const deciding = new Set<Promise<void>>();
  let checkpointing: Promise<void> | undefined;
  const checkpointOnce = (): Promise<void> => (checkpointing ??= checkpoint().finally(() => (checkpointing = undefined)));

  return {
    replica,
    coordinator,
    claims,
    attach(p) {
      pipeline = p;
    },
    admit(samples) {
      if (samples.length === 0) return undefined;
      let last = '';
      const services: string[] = [];
      for (const s of samples) {
        if (s.service === last) continue;
        last = s.service;
        if (!services.includes(last)) services.push(last);
      }
      return coordinator.admit(services);
    },
    decide(d) {
      const p = decide(d).finally(() => deciding.delete(p));
      deciding.add(p);
    },
    async settled() {
      while (deciding.size > 0) await Promise.allSettled([...deciding]);
    },
    resume: (service, version) => claims.resume(service, version),
    async ownerOf(service) {
      if (coordinator.lease(service)) return replica;
      const v = await redis.get(leases.leaseKey(service));
      return v === null ? undefined : v.slice(0, v.indexOf('|'));
    },
    replicas: () => membership.list(),
    async status() {
      const [live, all] = await Promise.all([membership.list(), leases.list()]);
      const byReplica = new Map<string, string[]>();
      for (const l of all) (byReplica.get(l.replica) ?? byReplica.set(l.replica, []).get(l.replica)!).push(l.service);
      const ids = new Set(live.map((r) => r.id));
      return {
        replica,
        leaseTtlMs: ttlMs,
        replicas: live.map((r) => ({ ...r, self: r.id === replica, services: byReplica.get(r.id) ?? [] })),
        orphanLeases: all.filter((l) => !ids.has(l.replica)).map((l) => ({ service: l.service, replica: l.replica })),
      };
    },
    checkpoint: checkpointOnce,
    async start(listenUrl) {
      if (config.cluster.advertiseUrl === null && listenUrl !== undefined) apiUrl = advertised(listenUrl);
      await redis.connect();
      await coordinator.start();
      timer = setInterval(() => void checkpointOnce(), config.state.checkpointInterval);
      timer.unref();
      log.info({ apiUrl, leaseTtlMs: ttlMs }, 'joined the cluster');
    },
    async stop() {
      clearInterval(timer);
      await Promise.allSettled([...deciding]);
      await checkpointing;
      await coordinator.stop();
      await redis.quit().catch(() => redis.disconnect());
    },
    abort() {
      clearInterval(timer);
      coordinator.abort();
      redis.disconnect();
    },
    problems() {
      const p = coordinator.problem();
      if (p) return [p];
      return redis.status === 'ready' ? [] : [`cluster: Redis connection ${redis.status}`];
    },
  };
}
