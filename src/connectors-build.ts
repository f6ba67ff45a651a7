/**
 * Builds plan connectors and notifiers from a loaded config, through the registries. Shared by the agent
 * (src/agent/actions.ts) and `vigil connectors test`, so both build a connector exactly the same way.
 */
import type { LoadedConfig, Registries } from './config/load.js';
import type { AnyConnector, ConnectorDeps, Notifier, PlanConnector } from './contracts/index.js';
import { VigilError } from './errors.js';

export type ConnectorSection = 'connectors' | 'notifiers';

export interface BuiltConnectors {
  /** Plan connectors by name, in config order. */
  plan: Map<string, PlanConnector>;
  notifiers: Notifier[];
}

/**
 * Builds one config entry of a section with its factory and the options the config loader parsed. A
 * notifier under `connectors:` (or the reverse) is VIGIL_ERR_CONFIG_UNKNOWN_TYPE, as is a type no
 * registry knows (the loader already rejects both; this guards hand-built configs).
 */
export function buildConnector(
  loaded: LoadedConfig,
  registries: Registries,
  section: ConnectorSection,
  entry: { name: string; type: string },
  deps: ConnectorDeps,
): AnyConnector {
  const factory = (section === 'connectors' ? registries.planConnectors : registries.notifiers).get(entry.type);
  if (!factory) throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_TYPE', [entry.type]);
  const conn = factory.create(entry.name, loaded.connectorOptions.get(entry.name), deps);
  if (section === 'connectors' && conn.kind === 'notifier') {
    throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_TYPE', [`${entry.type} (a notifier) under connectors:`]);
  }
  if (section === 'notifiers' && conn.kind !== 'notifier') {
    throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_TYPE', [`${entry.type} (not a notifier) under notifiers:`]);
  }
  return conn;
}

/** Every plan connector and notifier of the config. O(connectors). */
export function buildConnectors(loaded: LoadedConfig, registries: Registries, deps: ConnectorDeps): BuiltConnectors {
  const plan = new Map<string, PlanConnector>();
  for (const c of loaded.config.connectors) {
    const conn = buildConnector(loaded, registries, 'connectors', c, deps);
    if (conn.kind !== 'notifier') plan.set(c.name, conn);
  }
  const notifiers: Notifier[] = [];
  for (const n of loaded.config.notifiers) {
    const conn = buildConnector(loaded, registries, 'notifiers', n, deps);
    if (conn.kind === 'notifier') notifiers.push(conn);
  }
  return { plan, notifiers };
}
