import type { Logger } from 'pino';
import type { Decision } from './decision.js';

export interface RollbackTarget {
  service: string;
  analysisId: string;
  decisionId: string;
  canaryVersion: string;
  baselineVersion: string;
  reason: string;
}

export interface ActionContext {
  logger: Logger;
  signal: AbortSignal;
  dryRun: boolean;
  target: RollbackTarget;
  /** The full decision, for connectors that forward it (webhook). */
  decision: Decision;
}

export interface ActionResult {
  changed: boolean;
  detail: string;
}

interface ConnectorBase {
  readonly name: string;
  readonly type: string;
  healthCheck?(ctx: { logger: Logger; signal: AbortSignal }): Promise<void>;
  close?(): Promise<void>;
}

/**
 * What a plan step does, as DESIGN.md names it: `flag` (flag off / variant to baseline), `traffic` (all
 * weight to baseline), `deployer` (undo / abort the rollout), and `webhook`: it tells another system (a
 * team's own flag service, a deploy pipeline) by delivering a signed event, and changes nothing itself.
 * Notifiers are not plan steps (`Notifier`, below). Every kind has a `noop` (type `noop`, option `kind`).
 */
export type PlanConnectorKind = 'flag' | 'traffic' | 'deployer' | 'webhook';

/**
 * A step of a rollback plan. Connectors SET state, they never toggle: applying twice leaves the same result
 * (changed: false). `K` narrows the kind for a connector that is always of one kind.
 */
export interface PlanConnector<K extends PlanConnectorKind = PlanConnectorKind> extends ConnectorBase {
  readonly kind: K;
  apply(ctx: ActionContext): Promise<ActionResult>;
}

export type NotificationKind = 'decision' | 'action-failed' | 'plan-completed';

export interface Notification {
  kind: NotificationKind;
  decision: Decision;
  /** Link to the decision in Vigil's API, when the API has a public URL configured. */
  link?: string;
  /** For action-failed: which connector failed and why (no secrets). */
  failure?: { connector: string; error: string; code?: string };
  /** For plan-completed: what each step did. */
  steps?: { connector: string; changed: boolean; detail: string }[];
}

export interface Notifier extends ConnectorBase {
  readonly kind: 'notifier';
  post(n: Notification, ctx: { logger: Logger; signal: AbortSignal; dryRun: boolean }): Promise<void>;
}

export type AnyConnector = PlanConnector | Notifier;

/** Injected dependencies: time and fetch, so connectors stay testable. */
export interface ConnectorDeps {
  fetch: typeof globalThis.fetch;
  now: () => number;
}

/**
 * Builds a connector from its config entry. `parse` validates options (throwing with a clear message);
 * `create` gets the parsed options. A factory is keyed by the config `type`.
 */
export interface ConnectorFactory<O = unknown> {
  readonly type: string;
  readonly kind: AnyConnector['kind'];
  parse(options: unknown): O;
  create(name: string, options: O, deps: ConnectorDeps): AnyConnector;
}
