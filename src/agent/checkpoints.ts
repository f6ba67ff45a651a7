/**
 * Checkpoints of the analyses, so a restart loses (almost) nothing: the analysis registry's whole state (each
 * service's clocks, baseline history and pending canaries; each analysis's open looks, totals, detector states,
 * look number, incarnation and phase; decided and finished versions, resume records, the storm guard's
 * rollback times; the looks closed and not yet run) plus the decisions not yet recorded in the audit log, as ONE
 * node:v8 `serialize` of the live object graph (shared references, Maps, Sets and -Infinity survive), saved to
 * the state store (src/state/: a file beside the audit log on the embedded queue, a Redis key with
 * `queue.redis`).
 *
 * When: every `state.checkpointInterval` (5 s) when the state changed, after each decision is recorded, and at
 * shutdown (after the last looks ran). So a kill -9 loses at most the samples of the last interval (5 s of
 * deliveries: less than one look at the default 10 s interval); the analyses continue their evidence from
 * the checkpoint: anytime-valid tests allow stopping and continuing at any look.
 *
 * Restored at start (`restore`), before the agent listens. A checkpoint of another format, or that fails its
 * checksum, is logged and ignored (the analyses start over; decided versions are still read back from the
 * audit log, see recovery.ts). The serialisation runs on the event loop: its cost is measured in the issue note
 * (`vigil_checkpoint_seconds`), and it is skipped when nothing changed.
 */
import { dirname, join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { Logger } from 'pino';
import type { AnalysisRegistry, RegistryState, RestoredState, ServiceChunk } from '../analysis/analysis-registry.js';
import type { VigilConfig } from '../config/schema.js';
import type { Decision } from '../contracts/index.js';
import type { VigilMetrics } from '../http/metrics.js';
import { createRedisStateStore } from '../state/redis-state-store.js';
import { createFileStateStore, type StateStore } from '../state/state-store.js';

/** Bumped when the shape of the state changes: an older checkpoint is then ignored, never misread. */
export const CHECKPOINT_FORMAT = 1;

/** Longest stretch of serialisation between two turns of the event loop (requests get in between). */
const SLICE_MS = 4;

interface Checkpoint {
  format: number;
  savedAtUnixMs: number;
  analysisHash: string | undefined;
  counters: RegistryState['counters'];
  /** Each service with its pending looks (a ServiceChunk), serialised on its own. */
  services: Buffer[];
  /** Decisions made and not yet recorded in the audit log when the checkpoint was taken. */
  unrecorded: Decision[];
}

export interface Restored extends RestoredState {
  savedAtUnixMs: number;
  unrecorded: Decision[];
}

export interface CheckpointerOptions {
  store: StateStore;
  registry: Pick<
    AnalysisRegistry,
    'changes' | 'exportHeader' | 'importState' | 'serviceNames' | 'exportService' | 'pendingByService'
  >;
  unrecorded: () => Decision[];
  intervalMs: number;
  logger: Logger;
  metrics?: Pick<VigilMetrics, 'checkpoints' | 'checkpointSeconds' | 'checkpointBytes'>;
  now?: () => number;
}

export interface Checkpointer {
  readonly where: string;
  /** Loads the last checkpoint into the registry; undefined when there is none (or it cannot be used). */
  restore(): Promise<Restored | undefined>;
  /** Checkpoints every interval from now on (when the state changed). */
  start(): void;
  /** Checkpoints now (unless nothing changed since the last one). Never throws: a failure is logged and counted. */
  save(): Promise<void>;
  /** Stops the timer, takes the last checkpoint, closes the store. */
  close(): Promise<void>;
}

/** The state store of a config: Redis with `queue.redis`, else a file in `state.dir` (default: `vigil-state`
 *  beside the audit log, `auditPath` when the pipeline's audit log was moved). */
export function createStateStore(config: VigilConfig, auditPath = config.audit.path): StateStore {
  if (config.queue.redis) return createRedisStateStore(config.queue.redis, `${config.queue.prefix}:state:checkpoint`);
  return createFileStateStore(config.state.dir ?? join(dirname(auditPath), 'vigil-state'));
}

export function createCheckpointer(opts: CheckpointerOptions): Checkpointer {
  const { store, registry, logger, metrics } = opts;
  const now = opts.now ?? Date.now;
  const log = logger.child({ checkpoint: store.where });
  let timer: NodeJS.Timeout | undefined;
  let savedChanges = -1;
  let savedUnrecorded = 0;
  let running: Promise<void> = Promise.resolve();
  let queued: Promise<void> | undefined;
  let started = false;

  const saveNow = async (): Promise<void> => {
    if (registry.changes === savedChanges && opts.unrecorded().length === 0 && savedUnrecorded === 0) return;
    const changes = registry.changes;
    const t0 = performance.now();
    let data: Buffer;
    try {
      data = await serialiseInSlices(registry, opts.unrecorded, now);
    } catch (err) {
      metrics?.checkpoints.inc({ outcome: 'failed' });
      log.error({ err }, 'checkpoint could not be serialised; the analyses are not checkpointed');
      return;
    }
    const serialisedMs = performance.now() - t0;
    try {
      await store.save(data);
      savedChanges = changes;
      savedUnrecorded = opts.unrecorded().length;
      metrics?.checkpoints.inc({ outcome: 'saved' });
      metrics?.checkpointSeconds.observe((performance.now() - t0) / 1000);
      metrics?.checkpointBytes.set(data.length);
      log.debug({ bytes: data.length, serialisedMs: Math.round(serialisedMs) }, 'checkpoint saved');
    } catch (err) {
      metrics?.checkpoints.inc({ outcome: 'failed' });
      log.warn({ err }, 'checkpoint could not be saved; the next one retries');
    }
  };

  const save = (): Promise<void> => {
    // one save at a time: a save asked for while one runs follows it (the state may have moved meanwhile); those
    // asked for while one already waits share it, so a slow store never piles saves up
    if (queued) return queued;
    const next = running.then(() => {
      queued = undefined;
      return saveNow();
    });
    queued = next;
    running = next;
    return next;
  };

  return {
    where: store.where,
    async restore() {
      const restored = await restoreCheckpoint(store, registry, log);
      savedChanges = registry.changes;
      return restored;
    },
    start() {
      started = true;
      timer = setInterval(() => void save(), opts.intervalMs);
      timer.unref();
    },
    save,
    async close() {
      clearInterval(timer);
      if (started) await save(); // an agent that never started has nothing of its own to keep
      await store.close();
    },
  };
}

/**
 * The checkpoint's bytes, serialised one service at a time in slices of at most SLICE_MS between turns of the event
 * loop (a fleet of 1,000 services is ~27 MB and ~300 ms of serialisation: in one go it would stall every client).
 * Each service is serialised whole, with its pending looks, at one instant; services differ by at most the
 * duration of the checkpoint, which is harmless (they are independent). The decisions not yet recorded are taken
 * at the end: a decision made meanwhile is either among them or already in the audit log (recovery.ts).
 */
async function serialiseInSlices(
  registry: CheckpointerOptions['registry'],
  unrecorded: () => Decision[],
  now: () => number,
): Promise<Buffer> {
  const services: Buffer[] = [];
  const names = registry.serviceNames();
  for (let i = 0; i < names.length;) {
    const until = performance.now() + SLICE_MS;
    const pending = registry.pendingByService();
    do {
      const chunk = registry.exportService(names[i++]!, pending);
      if (chunk) services.push(serialize(chunk));
    } while (i < names.length && performance.now() < until);
    if (i < names.length) await new Promise((r) => setImmediate(r));
  }
  const { analysisHash, counters } = registry.exportHeader();
  const checkpoint: Checkpoint = {
    format: CHECKPOINT_FORMAT,
    savedAtUnixMs: now(),
    analysisHash,
    counters,
    services,
    unrecorded: unrecorded(),
  };
  return serialize(checkpoint);
}

/** Loads the store's checkpoint into the registry; undefined (logged) when there is none or it cannot be used. */
async function restoreCheckpoint(
  store: StateStore,
  registry: Pick<AnalysisRegistry, 'importState'>,
  log: Logger,
): Promise<Restored | undefined> {
  let data: Buffer | undefined;
  try {
    data = await store.load();
  } catch (err) {
    log.error({ err }, 'checkpoint could not be read: the analyses start over');
    return undefined;
  }
  if (data === undefined) return undefined;
  let checkpoint: Checkpoint;
  try {
    checkpoint = deserialize(data) as Checkpoint;
  } catch (err) {
    log.error({ err }, 'checkpoint could not be decoded: the analyses start over');
    return undefined;
  }
  if (checkpoint?.format !== CHECKPOINT_FORMAT) {
    log.warn(
      { format: checkpoint?.format, expected: CHECKPOINT_FORMAT },
      'checkpoint of another Vigil version: ignored, the analyses start over',
    );
    return undefined;
  }
  const restored = registry.importState({
    analysisHash: checkpoint.analysisHash,
    counters: checkpoint.counters,
    services: checkpoint.services.map((b) => deserialize(b) as ServiceChunk),
  });
  if (restored.restarted > 0) {
    log.warn(
      { restarted: restored.restarted },
      "the config's analysis section changed since the checkpoint: running analyses start over (decided versions stay decided)",
    );
  }
  return { ...restored, savedAtUnixMs: checkpoint.savedAtUnixMs, unrecorded: checkpoint.unrecorded };
}
