import type { Decision, MetricVerdict } from '../../src/contracts/decision.js';
import type {
  DecisionNotification,
  DecisionNotificationKind,
  Notification,
  OperatorNotificationAction,
  OperatorNotification,
  OperatorNotificationAnalysis,
} from '../../src/contracts/connector.js';

/** Content type of a CloudEvent in structured mode (the whole event is the JSON body). */
export const CLOUDEVENT_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
export const ROLLBACK_EVENT_TYPE = 'dev.vigil.rollback';
export const NOTIFICATION_EVENT_TYPE_PREFIX = 'dev.vigil.notification.';
export const DEFAULT_EVENT_SOURCE = 'vigil';

/** A CloudEvents 1.0 event in structured JSON mode. */
export interface CloudEvent<D> {
  specversion: '1.0';
  type: string;
  source: string;
  /** Unique per source; receivers use it as the idempotency key. */
  id: string;
  time: string;
  datacontenttype: 'application/json';
  /** The service the event is about (CloudEvents `subject`), handy for routing on the receiver. */
  subject: string;
  /**
   * CloudEvents extension attribute, present (true) only on the test events of `vigil connectors test
   * --send`: receivers and their routing filters can drop them without reading `data`.
   */
  vigiltest?: true;
  /** CloudEvents extension attribute, present (true) only on the events of a rollback drill (`vigil drill`). */
  vigildrill?: true;
  data: D;
}

/** The decision record as forwarded to receivers (DESIGN.md, webhook contract). */
export interface DecisionEventData {
  decisionId: string;
  analysis: string;
  service: string;
  route?: string;
  outcome: Decision['outcome'];
  reason: string;
  canaryVersion: string;
  baselineVersion: string;
  look: number;
  eventTimeUnixMs: number;
  verdicts: MetricVerdict[];
  configHash: string;
  plan: string[];
  dryRun: boolean;
  /** Present (true) only on a synthetic test decision (`vigil connectors test --send`): do not act on it. */
  test?: true;
  /** Present (true) only on a rollback drill's decision (`vigil drill`): a rehearsal against drill targets. */
  drill?: true;
  /** Present on a decision an operator took by hand: who, why (verbatim), the API token's name, when (wall clock). */
  manual?: Decision['manual'];
}

export interface NotificationEventData extends DecisionEventData {
  kind: DecisionNotificationKind;
  link?: string;
  failure?: DecisionNotification['failure'];
  steps?: DecisionNotification['steps'];
}

/**
 * The data of `dev.vigil.notification.operator`: an operator paused, resumed or approved, or the promotion plan asks
 * for an approval or holds. Flat like a decision's
 * data (`analysis` is the analysis id): what was done, by whom, why (verbatim), with which API token (its name) and
 * when (wall clock), then the analysis as it stood after the action.
 */
export interface OperatorEventData {
  kind: 'operator';
  action: OperatorNotificationAction;
  by: string;
  reason: string;
  token: string;
  atUnixMs: number;
  analysis: string;
  service: string;
  canaryVersion: string;
  baselineVersion: string;
  look: number;
  phase: OperatorNotificationAnalysis['phase'];
  why: string;
  dryRun: boolean;
  link?: string;
  /** The promotion plan's notifications (approve, approval-needed, promotion-held): OperatorNotification.promotion. */
  promotion?: OperatorNotification['promotion'];
}

export interface EventOptions {
  /** CloudEvents `source`; default `vigil`. */
  source?: string;
  /** Unix ms of sending (from the injected clock). */
  nowMs: number;
}

/** Copies the decision into the forwarded shape; explicit fields so that nothing unplanned leaks out. */
export function decisionEventData(d: Decision): DecisionEventData {
  const data: DecisionEventData = {
    decisionId: d.id,
    analysis: d.analysis,
    service: d.service,
    outcome: d.outcome,
    reason: d.reason,
    canaryVersion: d.canaryVersion,
    baselineVersion: d.baselineVersion,
    look: d.look,
    eventTimeUnixMs: d.eventTimeUnixMs,
    verdicts: d.verdicts.map((v) => ({ ...v, samples: { ...v.samples } })),
    configHash: d.configHash,
    plan: [...d.plan],
    dryRun: d.dryRun,
  };
  if (d.route !== undefined) data.route = d.route;
  if (d.test === true) data.test = true;
  if (d.drill === true) data.drill = true;
  if (d.manual !== undefined) data.manual = { ...d.manual };
  return data;
}

function envelope<D>(
  type: string,
  id: string,
  subject: string,
  data: D,
  opts: EventOptions & { test?: boolean; drill?: boolean },
): CloudEvent<D> {
  return {
    specversion: '1.0',
    type,
    source: opts.source ?? DEFAULT_EVENT_SOURCE,
    id,
    time: new Date(opts.nowMs).toISOString(),
    datacontenttype: 'application/json',
    subject,
    ...(opts.test === true ? { vigiltest: true as const } : {}),
    ...(opts.drill === true ? { vigildrill: true as const } : {}),
    data,
  };
}

/** `dev.vigil.rollback` with id = decision id: every retry of the same decision carries the same id. */
export function rollbackEvent(decision: Decision, opts: EventOptions): CloudEvent<DecisionEventData> {
  return envelope(ROLLBACK_EVENT_TYPE, decision.id, decision.service, decisionEventData(decision), {
    ...opts,
    test: decision.test,
    drill: decision.drill,
  });
}

/**
 * `dev.vigil.notification.<kind>` with id `<decision id>:<kind>`; `dryRun` in data is true when either the
 * decision or the delivery context is a dry run. An operator's pause or resume: `operatorEvent`.
 */
export function notificationEvent(
  n: DecisionNotification,
  opts: EventOptions & { dryRun?: boolean },
): CloudEvent<NotificationEventData>;
export function notificationEvent(
  n: OperatorNotification,
  opts: EventOptions & { dryRun?: boolean },
): CloudEvent<OperatorEventData>;
export function notificationEvent(
  n: Notification,
  opts: EventOptions & { dryRun?: boolean },
): CloudEvent<NotificationEventData | OperatorEventData>;
export function notificationEvent(
  n: Notification,
  opts: EventOptions & { dryRun?: boolean },
): CloudEvent<NotificationEventData | OperatorEventData> {
  return n.kind === 'operator' ? operatorEvent(n, opts) : decisionNotificationEvent(n, opts);
}

function decisionNotificationEvent(
  n: DecisionNotification,
  opts: EventOptions & { dryRun?: boolean },
): CloudEvent<NotificationEventData> {
  const data: NotificationEventData = { kind: n.kind, ...decisionEventData(n.decision) };
  data.dryRun = n.decision.dryRun || opts.dryRun === true;
  if (n.link !== undefined) data.link = n.link;
  if (n.failure !== undefined) data.failure = { ...n.failure };
  if (n.steps !== undefined) data.steps = n.steps.map((s) => ({ ...s }));
  return envelope(
    `${NOTIFICATION_EVENT_TYPE_PREFIX}${n.kind}`,
    `${n.decision.id}:${n.kind}`,
    n.decision.service,
    data,
    { ...opts, test: n.decision.test, drill: n.decision.drill },
  );
}

/** The id of an operator's action: `<analysis id>:<action>:<atUnixMs>`, the same on every retry of its delivery. */
export function operatorEventId(n: OperatorNotification): string {
  return `${n.analysis.id}:${n.operator.action}:${n.operator.atUnixMs}`;
}

/**
 * `dev.vigil.notification.operator` with id `<analysis id>:<action>:<atUnixMs>` (receivers dedupe on it), subject the
 * service; `dryRun` in data is true when either the notification or the delivery context is a dry run.
 */
export function operatorEvent(
  n: OperatorNotification,
  opts: EventOptions & { dryRun?: boolean },
): CloudEvent<OperatorEventData> {
  const { operator: o, analysis: a } = n;
  const data: OperatorEventData = {
    kind: 'operator',
    action: o.action,
    by: o.by,
    reason: o.reason,
    token: o.token,
    atUnixMs: o.atUnixMs,
    analysis: a.id,
    service: a.service,
    canaryVersion: a.canaryVersion,
    baselineVersion: a.baselineVersion,
    look: a.look,
    phase: a.phase,
    why: a.why,
    dryRun: n.dryRun || opts.dryRun === true,
  };
  if (n.link !== undefined) data.link = n.link;
  if (n.promotion !== undefined) data.promotion = { ...n.promotion };
  return envelope(`${NOTIFICATION_EVENT_TYPE_PREFIX}${n.kind}`, operatorEventId(n), a.service, data, opts);
}
