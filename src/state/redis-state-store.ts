/**
 * The checkpoint in one Redis key (ioredis): SET of the framed buffer (`./frame.ts`, the same frame as on disk, so
 * `load` verifies it the same way), read back with GET as a Buffer. SET replaces the value atomically, so a reader
 * sees the old or the new checkpoint whole. How durable a SET is once answered is Redis's own persistence setting
 * (AOF `appendfsync`, RDB snapshots, replicas): this store does not wait for an fsync (WAITAOF, Redis >= 7.2).
 *
 * Redis down never hangs a caller: each connection attempt gives up after `connectTimeoutMs`, a command fails
 * after 3 failed attempts (`maxRetriesPerRequest: 2`; reconnect delays 250 ms, 500 ms, 750 ms, then 1 s) and in
 * any case after `commandTimeoutMs`; `save` and `load` then reject with a retryable VigilError (refused connections:
 * the first within ~1 s, later ones within ~3 s). The client keeps reconnecting in the background until `close()`,
 * which disconnects even when Redis is unreachable, and waits at most ~1 s for a QUIT (a frozen Redis never answers
 * one). A frozen Redis holds a save until `commandTimeoutMs`: `abort()` drops the connection at once, and the save
 * rejects within ~0.5 s. The connection's error events go to `onConnectionError` (the agent counts and logs them).
 */
import { Redis } from 'ioredis';
import { VigilError, type ErrorCode } from '../errors.js';
import { redactRedisUrl } from '../redis-url.js';
import { frameHeader, unframe } from './frame.js';
import { latestWins } from './latest-wins.js';
import type { StateStore } from './state-store.js';

export interface RedisStateStoreOptions {
  /** One TCP connect attempt gives up after this long, ms (default 5000). */
  connectTimeoutMs?: number;
  /** One command, from the call to the answer (time queued while reconnecting included), ms (default 30000). */
  commandTimeoutMs?: number;
  /** Receives the connection's error events (refused, reset, auth). */
  onConnectionError?(err: Error): void;
}

/** How long `close()` waits for Redis to answer QUIT before it drops the connection. */
const QUIT_WAIT_MS = 1_000;

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The checkpoint at `key` on the Redis of `url` (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS). */
export function createRedisStateStore(url: string, key: string, opts: RedisStateStoreOptions = {}): StateStore {
  const where = `redis ${redactRedisUrl(url)} key ${key}`;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    commandTimeout: opts.commandTimeoutMs ?? 30_000,
    disconnectTimeout: 500,
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(250 * times, 1_000),
  });
  // the connection's own errors (refused, reset, auth) arrive as events: kept to explain a failed command
  let connectionError: string | undefined;
  redis.on('error', (e: Error) => {
    connectionError = e.message;
    opts.onConnectionError?.(e);
  });
  redis.on('ready', () => {
    connectionError = undefined;
  });
  let closed = false;

  const failure = (code: ErrorCode, e: unknown): VigilError => {
    const why =
      e instanceof Error && e.name === 'MaxRetriesPerRequestError'
        ? 'Redis unreachable, gave up after 3 connection attempts'
        : messageOf(e);
    const more = connectionError && !why.includes(connectionError) ? ` (${connectionError})` : '';
    return new VigilError(code, [where, `${why}${more}`], { cause: e, details: { where } });
  };
  const closedError = () => new VigilError('VIGIL_ERR_STATE_CLOSED', [where], { details: { where } });

  const writer = latestWins(async (data: Buffer) => {
    try {
      await redis.set(key, Buffer.concat([frameHeader(data), data]));
    } catch (e) {
      throw failure('VIGIL_ERR_STATE_WRITE', e);
    }
  });

  return {
    where,
    async load() {
      if (closed) throw closedError();
      let framed: Buffer | null;
      try {
        framed = await redis.getBuffer(key);
      } catch (e) {
        throw failure('VIGIL_ERR_STATE_READ', e);
      }
      return framed === null ? undefined : unframe(framed, where);
    },
    save(data) {
      if (closed) return Promise.reject(closedError());
      return writer.submit(data);
    },
    async close() {
      closed = true;
      await writer.idle();
      if (redis.status === 'ready') {
        let timer: NodeJS.Timeout | undefined;
        const quit = redis.quit().then(
          () => true,
          () => false,
        );
        const quitted = await Promise.race([
          quit,
          new Promise<false>((r) => (timer = setTimeout(r, QUIT_WAIT_MS, false))),
        ]);
        clearTimeout(timer);
        if (!quitted) redis.disconnect();
      } else redis.disconnect();
    },
    abort() {
      closed = true;
      redis.disconnect(); // the command waiting for a frozen Redis rejects ('Connection is closed') within ~0.5 s
    },
  };
}
