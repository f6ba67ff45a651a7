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
 * shutdown (after the last looks ran, without waiting for the job queues). So a kill -9 loses at most the samples
 * of the last interval (5 s of deliveries: less than one look at the default 10 s interval); the analyses continue
 * their evidence from the checkpoint: anytime-valid tests allow stopping and continuing at any look.
 *
 * Restored at start (`restore`), before the agent listens. A checkpoint of another format, or that fails its
 * checksum, is logged and ignored (the analyses start over; decided versions are still read back from the
 * audit log, see recovery.ts). The serialisation runs on the event loop: its cost is measured in the issue note
 * (`vigil_checkpoint_seconds`), and it is skipped when nothing changed.
 *
 * A store that keeps failing (Redis down) is logged at warn once a minute, with how many saves failed in a row, and
 * once at info when a save succeeds again; `vigil_checkpoints_total{outcome="failed"}` counts every failure. A store
 * that hangs (a frozen Redis) never holds the shutdown: `abort()` gives up on it, and `unsaved()` says what is lost.
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

/** A store that keeps failing is logged at warn at most this often. */
const FAILURE_LOG_EVERY_MS = 60_000;

type SaveOutcome = 'saved' | 'unchanged' | 'failed';

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
  /** Stops the timer, takes the last checkpoint, closes the store. With `after` (the work the shutdown's last looks
   *  started: a share being set), checkpoints again once it is done (unless `abort()` came first). */
  close(after?: Promise<unknown>): Promise<void>;
  /** Gives up on the store at once (a shutdown past its deadline): a save waiting for it fails, `close()` resolves. */
  abort(): void;
  /** What the shutdown leaves unsaved: undefined once `close()` took the last checkpoint (or had nothing to save),
   *  else a sentence saying the last checkpoint was not saved and when the one a restart gets was. */
  unsaved(): string | undefined;
}

/** The state store of a config: Redis with `queue.redis`, else a file in `state.dir` (default: `vigil-state`
 *  beside the audit log, `auditPath` when the pipeline's audit log was moved). The Redis connection's errors go to
 *  `onRedisError` (client `state`). */
export function createStateStore(
  config: VigilConfig,
  auditPath = config.audit.path,
  onRedisError?: (client: string, err: Error) => void,
): StateStore {
  if (config.queue.redis) {
    return createRedisStateStore(config.queue.redis, `${config.queue.prefix}:state:checkpoint`, {
      ...(onRedisError ? { onConnectionError: (e: Error) => onRedisError('state', e) } : {}),
    });
  }
  return createFileStateStore(config.state.dir ?? join(dirname(auditPath), 'vigil-state'));
}

/** Logs failed saves: the first at warn, then at most one warn line a minute (with the count), and the recovery. */
function failureLog(log: Logger, now: () => number) {
  let failedInARow = 0;
  let loggedAt = -Infinity;
  return {
    failed(err: unknown): void {
      failedInARow++;
      if (now() - loggedAt < FAILURE_LOG_EVERY_MS) return;
      loggedAt = now();
      log.warn({ err, failedInARow }, 'checkpoint could not be saved; the next one retries');
    },
    saved(): void {
      if (failedInARow > 0) log.info({ failedInARow }, 'checkpoint saved again');
      failedInARow = 0;
      loggedAt = -Infinity;
    },
  };
}

/** One checkpoint taken and saved now (unless nothing changed since the last one); `saved` is what the last one held. */
function checkpointSaver(opts: CheckpointerOptions, log: Logger, now: () => number) {
  const { store, registry, metrics } = opts;
  const failures = failureLog(log, now);
  const saved = { changes: -1, unrecorded: 0, atUnixMs: undefined as number | undefined };
  const saveNow = async (): Promise<SaveOutcome> => {
    if (registry.changes === saved.changes && opts.unrecorded().length === 0 && saved.unrecorded === 0)
      return 'unchanged';
    const changes = registry.changes;
    const t0 = performance.now();
    let data: Buffer;
    try {
      data = await serialiseInSlices(registry, opts.unrecorded, now);
    } catch (err) {
      metrics?.checkpoints.inc({ outcome: 'failed' });
      log.error({ err }, 'checkpoint could not be serialised; the analyses are not checkpointed');
      return 'failed';
    }
    const serialisedMs = performance.now() - t0;
    try {
      await store.save(data);
    } catch (err) {
      metrics?.checkpoints.inc({ outcome: 'failed' });
      failures.failed(err);
      return 'failed';
    }
    saved.changes = changes;
    saved.unrecorded = opts.unrecorded().length;
    saved.atUnixMs = now();
    failures.saved();
    metrics?.checkpoints.inc({ outcome: 'saved' });
    metrics?.checkpointSeconds.observe((performance.now() - t0) / 1000);
    metrics?.checkpointBytes.set(data.length);
    log.debug({ bytes: data.length, serialisedMs: Math.round(serialisedMs) }, 'checkpoint saved');
    return 'saved';
  };
  return { saved, saveNow };
}

/**
 * What a closing checkpointer waits for before its last save (the work the shutdown's last looks started), given up
 * at once by `abort()` (a shutdown past its deadline). `waitFor` resolves true once `work` settled, false once aborted.
 */
export function abortLatch(): { waitFor(work: Promise<unknown>): Promise<boolean>; abort(): void } {
  let aborted = false;
  let giveUp: () => void = () => undefined;
  const givenUp = new Promise<void>((resolve) => (giveUp = resolve));
  return {
    async waitFor(work) {
      await Promise.race([work.catch(() => undefined), givenUp]);
      return !aborted;
    },
    abort() {
      aborted = true;
      giveUp();
    },
  };
}

export function createCheckpointer(opts: CheckpointerOptions): Checkpointer {
  const { store, registry, logger } = opts;
  const now = opts.now ?? Date.now;
  const log = logger.child({ checkpoint: store.where });
  const { saved, saveNow } = checkpointSaver(opts, log, now);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<SaveOutcome> = Promise.resolve('unchanged');
  let queued: Promise<SaveOutcome> | undefined;
  let started = false;
  let final: SaveOutcome | 'pending' | undefined;
  const latch = abortLatch();
  const asVoid = new WeakMap<Promise<SaveOutcome>, Promise<void>>();

  const saveQueued = (): Promise<SaveOutcome> => {
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
      saved.changes = registry.changes;
      return restored;
    },
    start() {
      started = true;
      timer = setInterval(() => void saveQueued(), opts.intervalMs);
      timer.unref();
    },
    save() {
      if (final !== undefined) return Promise.resolve(); // once closing, the last checkpoint is close()'s own
      const outcome = saveQueued();
      let shared = asVoid.get(outcome);
      if (!shared) asVoid.set(outcome, (shared = outcome.then(() => undefined)));
      return shared; // saves that share a run share its promise
    },
    async close(after) {
      clearInterval(timer);
      final = 'pending';
      // an agent that never started has nothing of its own to keep
      final = started ? await saveQueued() : 'unchanged';
      if (started && after !== undefined) {
        // what the last looks started changes the state once done (their audit entries are written): saved too
        if (await latch.waitFor(after)) final = await saveQueued();
      }
      await store.close();
    },
    abort() {
      latch.abort();
      clearInterval(timer);
      store.abort?.();
    },
    unsaved() {
      if (!started || final === 'saved' || final === 'unchanged') return undefined;
      const why = final === 'failed' ? 'its save failed' : 'the store did not answer in time';
      const from =
        saved.atUnixMs === undefined
          ? 'the last one saved before this start, if any'
          : `the one saved at ${new Date(saved.atUnixMs).toISOString()}`;
      return `the last checkpoint was not saved (${why}) to ${store.where}: a restart resumes the analyses from ${from}`;
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
