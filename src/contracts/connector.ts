import type { Logger } from 'pino';
import type { Decision, Outcome } from './decision.js';

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
  /** Rolls back: all traffic to the baseline (traffic), the flag to its baseline state (flag), … */
  apply(ctx: ActionContext): Promise<ActionResult>;
  /**
   * Optional capability of traffic and flag connectors, the foundation of promotion plans: SETS the canary's share
   * of traffic (or of flag evaluations) to `percent`, 0–100, fractions allowed (2.5). A value outside [0, 100] or
   * not finite throws VIGIL_ERR_CONNECTOR_FAILED, not retryable. Like `apply` it SETS, never toggles: setting the
   * share it already has reports `changed: false` and writes nothing. A dry run reads, computes and describes,
   * writes nothing, and `changed` says whether it WOULD change. `detail` starts with "canary share 25% (was 5%)".
   * For traffic connectors the rollback is share 0: `setCanaryShare(0)` leaves the same state `apply` leaves (and
   * `apply` after it reports `changed: false`). Connectors that cannot set a share do not define it.
   */
  setCanaryShare?(percent: number, ctx: ActionContext): Promise<ActionResult>;
}

/** The notifications about a decision: the decision itself, a plan step that failed for good, the completed plan. */
export type DecisionNotificationKind = 'decision' | 'action-failed' | 'plan-completed';

/** Every kind of notification: one about a decision, or an operator's action on an analysis (`operator`). */
export type NotificationKind = DecisionNotificationKind | 'operator';

export interface DecisionNotification {
  kind: DecisionNotificationKind;
  decision: Decision;
  /** Link to the decision in Vigil's API, when the API has a public URL configured. */
  link?: string;
  /** For action-failed: which connector failed and why (no secrets). */
  failure?: { connector: string; error: string; code?: string };
  /** For plan-completed: what each step did. */
  steps?: { connector: string; changed: boolean; detail: string }[];
}

/**
 * What happened to an analysis that is not a decision: an operator's `pause` (its looks still run, nothing is decided
 * until it is resumed), `resume` (the pause lifted, or a decided version let be analysed again) or `approve` (a step of
 * its promotion plan allowed); or its promotion plan's (issue 17) `approval-needed` (a step waits for a person) and
 * `promotion-held` (a share could not be set: the rollout holds). Rollback and promote by hand are decisions
 * (`Decision.manual`) and go out as `decision` notifications.
 */
export type OperatorNotificationAction = 'pause' | 'resume' | 'approve' | 'approval-needed' | 'promotion-held';

/** The analysis an operator acted on, as it stood after the action. */
export interface OperatorNotificationAnalysis {
  id: string;
  service: string;
  canaryVersion: string;
  baselineVersion: string;
  look: number;
  phase: 'running' | Outcome;
  /** Why it is in that phase, in one sentence (the registry's words). */
  why: string;
}

/**
 * An operator paused, resumed or approved (the API's `pause` / `resume` / `approve`), after the audit log recorded it;
 * or the promotion plan asks for an approval or holds (`by` is "promotion plan", `token` "vigil").
 */
export interface OperatorNotification {
  kind: 'operator';
  /** What was done, by whom, why (verbatim), with which API token (its name) and when (wall clock). */
  operator: NonNullable<Decision['manual']> & { action: OperatorNotificationAction };
  analysis: OperatorNotificationAnalysis;
  /** For the promotion plan's notifications: the share approved, awaited or not set (percent), the share in place
   *  (null before the first) and, when held, the connector and its error (no secrets). */
  promotion?: { share: number; inPlace: number | null; connector?: string; error?: string };
  /** The analysis' decisions change nothing (actions.mode: dry-run); the plan runner's kill switch also applies. */
  dryRun: boolean;
  /** Link to the analysis in Vigil's API, when the API has a public URL configured. */
  link?: string;
}

/** What a notifier posts: discriminated by `kind`, so the type checker sees that each notifier handles each one. */
export type Notification = DecisionNotification | OperatorNotification;

/**
 * What a notification is about, for log lines and audit entries: its analysis and service, and the decision's id
 * (absent for an operator's pause or resume, which is no decision).
 */
export function notificationIds(n: Notification): { analysis: string; service: string; decisionId?: string } {
  if (n.kind === 'operator') return { analysis: n.analysis.id, service: n.analysis.service };
  return { analysis: n.decision.analysis, service: n.decision.service, decisionId: n.decision.id };
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
  /** Whether the connectors it creates with these (parsed) options have `setCanaryShare`: `vigil validate` refuses a
   *  promotion plan's `via` that cannot move a share. Absent: never. */
  setsShare?(options: O): boolean;
}
