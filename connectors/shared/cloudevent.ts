import type { Decision, MetricVerdict } from '../../src/contracts/decision.js';
import type { Notification, NotificationKind } from '../../src/contracts/connector.js';

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
}

export interface NotificationEventData extends DecisionEventData {
  kind: NotificationKind;
  link?: string;
  failure?: Notification['failure'];
  steps?: Notification['steps'];
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
  return data;
}

function envelope<D>(
  type: string,
  id: string,
  subject: string,
  data: D,
  opts: EventOptions & { test?: boolean },
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
    data,
  };
}

/** `dev.vigil.rollback` with id = decision id: every retry of the same decision carries the same id. */
export function rollbackEvent(decision: Decision, opts: EventOptions): CloudEvent<DecisionEventData> {
  return envelope(ROLLBACK_EVENT_TYPE, decision.id, decision.service, decisionEventData(decision), {
    ...opts,
    test: decision.test,
  });
}

/**
 * `dev.vigil.notification.<kind>` with id `<decision id>:<kind>`; `dryRun` in data is true when either the
 * decision or the delivery context is a dry run.
 */
export function notificationEvent(
  n: Notification,
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
    { ...opts, test: n.decision.test },
  );
}
