/**
 * Whether Redis (`queue.redis`: the BullMQ queues and the checkpoint) answers, said loudly and never waited on.
 *
 * - A PING every second on a connection of its own, with a 500 ms timeout: a Redis that is down fails it at once
 *   (connection refused), a frozen one (SIGSTOP, a stuck host: TCP still accepts, nothing answers) times out. The
 *   result sets `vigil_redis_up` and answers /readyz (`check`: the last result when under a second old, else a fresh
 *   PING; never more than the timeout).
 * - The connection errors of every Redis client of the agent (the queues' and workers' connections, the checkpoint
 *   store's) come here through `clientError`, counted by client in `vigil_redis_errors_total`.
 * - The log says it once, not once per error: the first failure (a failed PING or a connection error) opens an
 *   outage, logged at error level with its cause; while it lasts, a warn line sums it up (errors by client, the last
 *   one) after 10 s, then 20 s, 40 s and every minute; the first PING answered again closes it with one info line
 *   (how long it lasted, how many errors). Errors that do not mean Redis is unreachable (a script error, a lost job
 *   lock) are logged at warn, at most once per 10 s per client (with how many were left out).
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { VigilMetrics } from '../http/metrics.js';
import { redactRedisUrl } from '../redis-url.js';

export interface RedisHealthOptions {
  url: string;
  logger: Logger;
  metrics: Pick<VigilMetrics, 'redisUp' | 'redisErrors' | 'registry'>;
  /** A PING not answered within this is a failure, ms (default 500). */
  pingTimeoutMs?: number;
  /** How often Redis is PINGed, ms (default 1000); /readyz reuses a result younger than this. */
  pingEveryMs?: number;
  /** First summary line of an outage after this, ms (default 10 s); then doubled up to `maxSummaryEveryMs`. */
  summaryEveryMs?: number;
  /** Longest interval between two summary lines, ms (default 60 s). */
  maxSummaryEveryMs?: number;
  /** Replaces the PING (unit tests): resolves when Redis answered, rejects with why not. */
  ping?: () => Promise<unknown>;
  now?: () => number;
}

export interface RedisHealth {
  /** The URL with its credentials masked, as the log lines name it. */
  readonly target: string;
  /** An error event of one of the agent's Redis clients (`queue:actions`, `worker:actions`, `state`, ...). */
  clientError(client: string, err: unknown): void;
  /** Why Redis is not usable now (undefined: it answered). Within `pingTimeoutMs` (plus a little), never more. */
  check(): Promise<string | undefined>;
  /** Stops the PINGs and drops the connection at once. Later errors are ignored. */
  close(): void;
}

export const DEFAULT_PING_TIMEOUT_MS = 500;

/** ioredis and BullMQ errors that mean the connection is gone or Redis does not answer (not a command's own error). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);
const CONNECTION_MESSAGES =
  /Connection is closed|Stream isn't writeable|Command timed out|max retries per request|connect ETIMEDOUT|ECONN|EHOSTUNREACH|ENOTFOUND/i;

export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  return CONNECTION_MESSAGES.test(messageOf(err));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const seconds = (ms: number): number => Math.round(ms / 100) / 10;

/** An outage, from its first failure to the first PING answered again. */
interface Outage {
  since: number;
  /** Errors by client since the last line. */
  recent: Map<string, number>;
  total: number;
  lastError: string;
  summaryEveryMs: number;
  timer?: NodeJS.Timeout;
}

/** The log and metric side: outages opened by failures and closed by an answered PING, summed up while they last. */
function outageLog(opts: RedisHealthOptions, target: string) {
  const { logger, metrics } = opts;
  const now = opts.now ?? Date.now;
  const firstSummaryMs = opts.summaryEveryMs ?? 10_000;
  const maxSummaryMs = opts.maxSummaryEveryMs ?? 60_000;
  let outage: Outage | undefined;
  const otherErrors = new Map<string, { loggedAt: number; suppressed: number }>();

  const summarise = (o: Outage): void => {
    o.timer = setTimeout(() => {
      if (outage !== o) return;
      logger.warn(
        { target, downSeconds: seconds(now() - o.since), errors: Object.fromEntries(o.recent), lastError: o.lastError },
        'Redis still unreachable',
      );
      o.recent.clear();
      o.summaryEveryMs = Math.min(o.summaryEveryMs * 2, maxSummaryMs);
      summarise(o);
    }, o.summaryEveryMs);
    o.timer.unref();
  };

  return {
    failed(client: string, why: string): void {
      metrics.redisErrors.inc({ client });
      if (outage) {
        outage.recent.set(client, (outage.recent.get(client) ?? 0) + 1);
        outage.total++;
        outage.lastError = why;
        return;
      }
      outage = { since: now(), recent: new Map(), total: 1, lastError: why, summaryEveryMs: firstSummaryMs };
      logger.error({ target, client, err: why }, `Redis unreachable: ${why}`);
      summarise(outage);
    },
    other(client: string, why: string): void {
      metrics.redisErrors.inc({ client });
      const seen = otherErrors.get(client);
      if (seen && now() - seen.loggedAt < firstSummaryMs) {
        seen.suppressed++;
        return;
      }
      logger.warn({ target, client, err: why, suppressed: seen?.suppressed ?? 0 }, 'Redis client error');
      otherErrors.set(client, { loggedAt: now(), suppressed: 0 });
    },
    answered(): void {
      if (!outage) return;
      clearTimeout(outage.timer);
      logger.info(
        { target, downSeconds: seconds(now() - outage.since), errors: outage.total },
        'Redis reachable again',
      );
      outage = undefined;
    },
    close(): void {
      clearTimeout(outage?.timer);
      outage = undefined;
    },
  };
}

/** The PING connection: never queues a command behind a reconnect for long (one attempt, then it fails). */
function pingClient(url: string, timeoutMs: number, onError: (e: Error) => void): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: timeoutMs,
    disconnectTimeout: 200,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(250 * times, 1_000),
  });
  redis.on('error', onError);
  redis.connect().catch(() => undefined); // failures arrive as 'error' events and failed PINGs
  return redis;
}

export function createRedisHealth(opts: RedisHealthOptions): RedisHealth {
  const target = redactRedisUrl(opts.url);
  const timeoutMs = opts.pingTimeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
  const everyMs = opts.pingEveryMs ?? 1_000;
  const now = opts.now ?? Date.now;
  const log = outageLog(opts, target);
  const { registry, redisUp } = opts.metrics;
  if (registry.getSingleMetric('vigil_redis_up') === undefined) registry.registerMetric(redisUp);
  // the PING connection's own errors (refused, reset) explain a failed PING; they are not counted twice
  let connectionError: string | undefined;
  const redis = opts.ping
    ? undefined
    : pingClient(opts.url, timeoutMs, (e) => {
        connectionError = e.message;
      });
  const ping = opts.ping ?? (() => redis!.ping());
  let closed = false;
  let last: { at: number; reason: string | undefined } | undefined;
  let inFlight: Promise<string | undefined> | undefined;

  const causeOf = (e: unknown): string => {
    const msg = messageOf(e);
    if (/Command timed out/i.test(msg)) return `no answer to PING within ${timeoutMs} ms`;
    return connectionError ?? msg;
  };

  const probe = (): Promise<string | undefined> =>
    (inFlight ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('Command timed out')), timeoutMs + 50);
      });
      let cause: string | undefined;
      try {
        await Promise.race([ping(), late]);
        connectionError = undefined;
      } catch (e) {
        cause = causeOf(e);
      } finally {
        clearTimeout(timer);
        inFlight = undefined;
      }
      const reason = cause === undefined ? undefined : `Redis ${target}: ${cause}`;
      if (closed) return reason;
      last = { at: now(), reason };
      opts.metrics.redisUp.set(cause === undefined ? 1 : 0);
      if (cause === undefined) log.answered();
      else log.failed('ping', cause);
      return reason;
    })());

  const timer = setInterval(() => void probe(), everyMs);
  timer.unref();
  void probe();

  return {
    target,
    clientError(client, err) {
      if (closed) return;
      if (isConnectionError(err)) log.failed(client, messageOf(err));
      else log.other(client, messageOf(err));
    },
    async check() {
      if (last && now() - last.at < everyMs) return last.reason;
      return probe();
    },
    close() {
      closed = true;
      clearInterval(timer);
      log.close();
      redis?.disconnect();
    },
  };
}
