/** The built-in plug-ins, keyed by config `type`. Only the composition root (main, cli) imports this. */
import { NOTIFIERS, PLAN_CONNECTORS } from '../connectors/index.js';
import { BUILTIN_DETECTORS } from '../detectors/index.js';
import type { Registries } from './config/load.js';

export const BUILTIN_REGISTRIES: Registries = {
  detectors: BUILTIN_DETECTORS,
  planConnectors: PLAN_CONNECTORS,
  notifiers: NOTIFIERS,
};
