/**
 * Deterministic job ids of a decision's jobs (DESIGN.md "Reliability rules"): enqueueing the same decision twice
 * yields the same ids, so every step and notification runs once. The same holds for an operator's pause or resume.
 */
import type { Decision } from '../contracts/decision.js';
import type { DecisionNotificationKind, OperatorNotification } from '../contracts/connector.js';

/**
 * `<analysis>:<decision>:<connector>` for the step at index `step` of `decision.plan`. A connector named twice in one
 * plan gets `#<step>` on its later occurrences, so each occurrence is its own job and the chain never stalls on a
 * duplicate id.
 */
export function stepJobId(decision: Decision, step: number): string {
  const connector = decision.plan[step] ?? `step-${step}`;
  const base = `${decision.analysis}:${decision.id}:${connector}`;
  return decision.plan.indexOf(connector) === step ? base : `${base}#${step}`;
}

/** `<analysis>:<decision>:notify:<notifier>:<kind>`. */
export function notifyJobId(decision: Decision, notifier: string, kind: DecisionNotificationKind): string {
  return `${decision.analysis}:${decision.id}:notify:${notifier}:${kind}`;
}

/**
 * `<analysis>:operator:<action>:<atUnixMs>:notify:<notifier>` for an operator's pause or resume: the same action
 * (analysis, action and time of the action) notified twice, as a retried API call would, is posted once.
 */
export function operatorNotifyJobId(n: OperatorNotification, notifier: string): string {
  return `${n.analysis.id}:operator:${n.operator.action}:${n.operator.atUnixMs}:notify:${notifier}`;
}
