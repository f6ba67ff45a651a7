import type { Logger } from 'pino';
import { notificationIds, type Notification } from '../../src/contracts/connector.js';

/**
 * The logger a connector logs with: `logger` plus those of `bindings` it does not carry yet.
 *
 * Callers usually bind the connector's identity already (the plan runner binds `connector`, `decisionId`, `kind`,
 * …; the health checks bind `connector`), and pino writes a key bound twice, or bound and logged again, twice in
 * one JSON line. A connector therefore never puts these keys in a log call: it logs through
 * `withBindings(ctx.logger, { connector: name })`, which keeps the caller's bindings and adds only the missing
 * ones (`vigil connectors test` passes an unbound logger). O(bindings) per call; no child when nothing is missing.
 */
export function withBindings(logger: Logger, bindings: Record<string, unknown>): Logger {
  const bound = logger.bindings();
  let missing: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(bindings)) {
    if (Object.hasOwn(bound, key) || value === undefined) continue;
    (missing ??= {})[key] = value;
  }
  return missing === undefined ? logger : logger.child(missing);
}

/** The logger a notifier logs a notification with: `withBindings` of its name, the notification's decision (absent
 *  for an operator's action), analysis and kind. */
export function notificationLogger(logger: Logger, notifier: string, n: Notification): Logger {
  const { decisionId, analysis } = notificationIds(n);
  return withBindings(logger, { connector: notifier, decisionId, analysis, kind: n.kind });
}
