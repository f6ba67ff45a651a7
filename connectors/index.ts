import type { ConnectorFactory } from '../src/contracts/connector.js';
import { noopActionFactory } from './actions/noop.js';
import { webhookActionFactory } from './actions/webhook.js';
import { noopNotifierFactory } from './notifiers/noop.js';
import { slackNotifierFactory } from './notifiers/slack.js';
import { webhookNotifierFactory } from './notifiers/webhook.js';

function byType(factories: ConnectorFactory[]): ReadonlyMap<string, ConnectorFactory> {
  const map = new Map<string, ConnectorFactory>();
  for (const f of factories) {
    if (map.has(f.type)) throw new Error(`two connector factories claim type ${f.type}`);
    map.set(f.type, f);
  }
  return map;
}

/**
 * Built-in plan connectors (config `connectors:`), keyed by `type`. An unknown type is rejected by the
 * composition root (VIGIL_ERR_CONFIG_UNKNOWN_TYPE); there is no fallback.
 */
export const PLAN_CONNECTORS: ReadonlyMap<string, ConnectorFactory> = byType([
  webhookActionFactory,
  noopActionFactory,
]);

/** Built-in notifiers (config `notifiers:`), keyed by `type`; same rule for unknown types. */
export const NOTIFIERS: ReadonlyMap<string, ConnectorFactory> = byType([
  webhookNotifierFactory,
  noopNotifierFactory,
  slackNotifierFactory,
]);
