/**
 * Health checks of plan connectors and notifiers, for startup and `/readyz`. A connector without a
 * `healthCheck` is not checked (nothing to probe). Checks run concurrently; a check that ignores the abort
 * signal still ends the wait when the signal fires (it is reported as not finished).
 */
import type { Logger } from 'pino';
import type { AnyConnector, Notifier, PlanConnector } from './contracts/index.js';
import { isVigilError } from './errors.js';

export interface ConnectorProblem {
  name: string;
  type: string;
  kind: AnyConnector['kind'];
  /** What failed, as the connector says it (connectors keep secrets out of their errors). */
  error: string;
  code?: string;
}

/** "message [CODE]" for a VigilError, the message for other errors. */
export function describeCheckError(e: unknown): { error: string; code?: string } {
  if (isVigilError(e)) return { error: e.message, code: e.code };
  return { error: e instanceof Error ? e.message : String(e) };
}

function untilAborted(p: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    void p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return new Error(`health check did not finish: ${r instanceof Error ? r.message : 'aborted'}`);
}

function isMap(
  x: ReadonlyMap<string, PlanConnector> | readonly PlanConnector[],
): x is ReadonlyMap<string, PlanConnector> {
  return x instanceof Map;
}

/**
 * Runs every `healthCheck` (plan connectors first, then notifiers) and returns the problems in config
 * order; an empty list means every check passed. Each failure is logged at warn with the connector's name,
 * type and error. `signal` bounds the whole run (e.g. `AbortSignal.timeout(5000)`). O(connectors), in
 * parallel.
 */
export async function checkConnectors(
  connectors: ReadonlyMap<string, PlanConnector> | readonly PlanConnector[],
  notifiers: readonly Notifier[],
  logger: Logger,
  signal: AbortSignal,
): Promise<ConnectorProblem[]> {
  const plan: readonly PlanConnector[] = isMap(connectors) ? [...connectors.values()] : connectors;
  const all: AnyConnector[] = [...plan, ...notifiers];
  const results = await Promise.all(
    all.map(async (c): Promise<ConnectorProblem | undefined> => {
      if (!c.healthCheck) return undefined;
      const log = logger.child({ connector: c.name, type: c.type });
      try {
        await untilAborted(c.healthCheck({ logger: log, signal }), signal);
        return undefined;
      } catch (e) {
        const problem: ConnectorProblem = { name: c.name, type: c.type, kind: c.kind, ...describeCheckError(e) };
        log.warn({ error: problem.error, code: problem.code }, 'connector health check failed');
        return problem;
      }
    }),
  );
  return results.filter((p): p is ConnectorProblem => p !== undefined);
}

/** One line per problem, as `/readyz` lists reasons: "connector kill-flag (flagd): <error> [CODE]". */
export function formatProblem(p: ConnectorProblem): string {
  const what = p.kind === 'notifier' ? 'notifier' : 'connector';
  return `${what} ${p.name} (${p.type}): ${p.error}${p.code ? ` [${p.code}]` : ''}`;
}

export interface ConnectorHealth {
  /** Runs every check now (bounded by `timeoutMs`) and keeps the result. */
  refresh(): Promise<ConnectorProblem[]>;
  /** The problems of the last refresh, formatted for `/readyz` (empty before the first one). */
  problems(): string[];
}

/**
 * Keeps the last result of `checkConnectors` so a synchronous readiness probe can report it: call
 * `refresh()` at startup and on a timer; `problems()` never blocks.
 */
export function connectorHealth(opts: {
  connectors: ReadonlyMap<string, PlanConnector> | readonly PlanConnector[];
  notifiers: readonly Notifier[];
  logger: Logger;
  timeoutMs: number;
}): ConnectorHealth {
  let last: ConnectorProblem[] = [];
  return {
    async refresh() {
      last = await checkConnectors(opts.connectors, opts.notifiers, opts.logger, AbortSignal.timeout(opts.timeoutMs));
      return last;
    },
    problems: () => last.map(formatProblem),
  };
}
