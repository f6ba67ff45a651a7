/**
 * What the audit log says, read back (pure: no I/O, no clock; the entries come from `readAuditTail`).
 *
 * - `unfinishedPlans`: the rollback plans a restart interrupted, and the step each one goes on from.
 * - `versionHistory`: per (service, canary version), how often it was resumed and its last decision since.
 *
 * The entries are those `src/decide/audit-log.ts` and `src/jobs/plan-runner.ts` append: `decision` (the
 * decision's own fields), `action` (decisionId, step, connector, changed, detail, dryRun, attempt) once a step's
 * connector succeeded, `action-failed` (decisionId, step, ...) when a step failed for good, `resume` (service,
 * canaryVersion, by, reason), `pause` / `unpause` (analysis, service, canaryVersion, by, reason, token, atUnixMs: an
 * operator's hold on an analysis and its lifting); each with `loggedAt`. Entries of other types, or without the fields read here, are
 * ignored.
 */
import type { Decision, Outcome } from '../contracts/decision.js';

/** One line of the audit log. */
export interface AuditEntry extends Record<string, unknown> {
  type: string;
}

/** A step done, as its `action` entry tells it: the shape of the plan runner's `StepResult`. */
export interface StepDone {
  connector: string;
  changed: boolean;
  detail: string;
}

/** A rollback plan that neither finished nor failed for good. */
export interface UnfinishedPlan {
  decision: Decision;
  /** Index into `decision.plan` of the first step not done: the step to run next. */
  nextStep: number;
  /** Results of steps `0..nextStep-1`, in step order. */
  done: StepDone[];
  /** `loggedAt` of the decision's entry, as written (when it has one): how old the plan is. */
  loggedAt?: string;
}

/** What the audit log says of one canary version of one service. */
export interface VersionHistory {
  service: string;
  canaryVersion: string;
  /** Number of `resume` entries of this version. */
  resumes: number;
  /** `loggedAt` of the last `resume` entry, when there was one and it says. */
  lastResumeAt?: string;
  /** The last decision of this version after its last resume (after nothing, when it was never resumed). */
  lastDecision?: Decision;
  /** `loggedAt` of that decision's entry, when it says. */
  lastDecisionAt?: string;
}

const OUTCOMES: ReadonlySet<string> = new Set<Outcome>(['rollback', 'promote', 'abandoned']);

const isString = (v: unknown): v is string => typeof v === 'string';

/** The decision a `decision` entry records (its fields without `type` and `loggedAt`), or undefined when the
 *  entry is not one or lacks a field the agent relies on. */
export function decisionOf(entry: AuditEntry): Decision | undefined {
  if (entry.type !== 'decision') return undefined;
  const { type: _type, loggedAt: _loggedAt, ...fields } = entry;
  const ok =
    isString(fields.id) &&
    isString(fields.analysis) &&
    isString(fields.service) &&
    isString(fields.outcome) &&
    OUTCOMES.has(fields.outcome) &&
    isString(fields.canaryVersion) &&
    isString(fields.baselineVersion) &&
    Array.isArray(fields.plan) &&
    fields.plan.every(isString) &&
    typeof fields.dryRun === 'boolean';
  return ok ? (fields as unknown as Decision) : undefined;
}

/** A rollback plan being followed through the entries. */
interface Tracked {
  decision: Decision;
  loggedAt: string | undefined;
  /** By step index; the last `action` entry of a step wins (a re-run step). */
  done: (StepDone | undefined)[];
  /** Failed for good, resumed by an operator, or superseded by a later decision entry with the same id. */
  stopped: boolean;
}

/** A version's key: unambiguous whatever the names contain. */
const versionKey = (service: string, canaryVersion: string): string => JSON.stringify([service, canaryVersion]);

function stepDoneOf(e: AuditEntry, decision: Decision): { step: number; done: StepDone } | undefined {
  const { step, connector, changed, detail } = e;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0 || step >= decision.plan.length) return undefined;
  // The runner names the step's connector `plan[step]`: anything else is not an entry of this plan.
  if (!isString(connector) || connector !== decision.plan[step]) return undefined;
  if (typeof changed !== 'boolean' || !isString(detail)) return undefined;
  return { step, done: { connector, changed, detail } };
}

function toUnfinished(t: Tracked): UnfinishedPlan | undefined {
  const { plan } = t.decision;
  if (t.stopped || t.done[plan.length - 1] !== undefined) return undefined;
  const done: StepDone[] = [];
  for (const d of t.done) {
    if (d === undefined) break;
    done.push(d);
  }
  const result = { decision: t.decision, nextStep: done.length, done };
  return t.loggedAt === undefined ? result : { ...result, loggedAt: t.loggedAt };
}

/** A decision no canary's fate depends on: a `vigil connectors test` decision or a rollback drill's. */
export function synthetic(d: Decision): boolean {
  return d.test === true || d.drill === true;
}

/**
 * The rollback plans of the entries that are not finished: for each `decision` entry with outcome `rollback`, a
 * non-empty plan and no `test` mark, the steps done are its `action` entries (by step index, not connector name;
 * the last entry of a step re-run by a retry wins). A plan is unfinished when its last step is not done and it
 * did not stop: no `action-failed` entry of it, and no `resume` of its service's canary version after it (the
 * operator let the version be analysed again: finishing its rollback would undo that). Dry-run decisions are
 * included (their plans run in dry run). A later decision entry with the same id (ids can repeat across
 * restarts) replaces the earlier one: the entries after it belong to it. Entries of a decision whose own entry is
 * not in `entries` (older than the part read) are ignored. Order: the decision entries' order. How old a plan is
 * (its `loggedAt`) is for the caller to judge: this module has no clock.
 */
export function unfinishedPlans(entries: readonly AuditEntry[]): UnfinishedPlan[] {
  const byId = new Map<string, Tracked>();
  const byVersion = new Map<string, Tracked[]>();
  const order: Tracked[] = [];
  for (const e of entries) {
    if (e.type === 'decision') {
      const decision = decisionOf(e);
      if (!decision || decision.outcome !== 'rollback' || decision.plan.length === 0 || synthetic(decision)) continue;
      const previous = byId.get(decision.id);
      if (previous) previous.stopped = true;
      const t: Tracked = {
        decision,
        loggedAt: isString(e.loggedAt) ? e.loggedAt : undefined,
        done: [],
        stopped: false,
      };
      byId.set(decision.id, t);
      order.push(t);
      const key = versionKey(decision.service, decision.canaryVersion);
      const same = byVersion.get(key);
      if (same) same.push(t);
      else byVersion.set(key, [t]);
    } else if (e.type === 'action' || e.type === 'action-failed') {
      const t = isString(e.decisionId) ? byId.get(e.decisionId) : undefined;
      if (!t) continue;
      if (e.type === 'action-failed') {
        t.stopped = true;
        continue;
      }
      const r = stepDoneOf(e, t.decision);
      if (r) t.done[r.step] = r.done;
    } else if (e.type === 'resume' && isString(e.service) && isString(e.canaryVersion)) {
      for (const t of byVersion.get(versionKey(e.service, e.canaryVersion)) ?? []) t.stopped = true;
    }
  }
  return order.map(toUnfinished).filter((u): u is UnfinishedPlan => u !== undefined);
}

/**
 * Per (service, canary version), in order of first appearance: the number of `resume` entries, and the last
 * decision entry after the last resume (test decisions are not counted). Versions appear when they have a
 * decision or a resume in `entries`.
 */
export function versionHistory(entries: readonly AuditEntry[]): VersionHistory[] {
  const byKey = new Map<string, VersionHistory>();
  const of = (service: string, canaryVersion: string): VersionHistory => {
    const key = versionKey(service, canaryVersion);
    let h = byKey.get(key);
    if (!h) {
      h = { service, canaryVersion, resumes: 0 };
      byKey.set(key, h);
    }
    return h;
  };
  for (const e of entries) {
    const at = isString(e.loggedAt) ? e.loggedAt : undefined;
    if (e.type === 'resume' && isString(e.service) && isString(e.canaryVersion)) {
      const h = of(e.service, e.canaryVersion);
      h.resumes++;
      if (at === undefined) delete h.lastResumeAt;
      else h.lastResumeAt = at;
      delete h.lastDecision;
      delete h.lastDecisionAt;
    } else if (e.type === 'decision') {
      const d = decisionOf(e);
      if (!d || synthetic(d)) continue;
      const h = of(d.service, d.canaryVersion);
      h.lastDecision = d;
      if (at === undefined) delete h.lastDecisionAt;
      else h.lastDecisionAt = at;
    }
  }
  return [...byKey.values()];
}

/** The last `pause` or `unpause` entry of an analysis: paused (who, why, token, when) or not, and when. */
export interface PauseState {
  analysis: string;
  paused: { by: string; reason: string; token: string; atUnixMs: number } | undefined;
  atUnixMs: number;
}

/** Per analysis, its last `pause` or `unpause` entry (entries without an analysis id, a time, by or reason are
 *  ignored), in order of first appearance. */
export function pauseStates(entries: readonly AuditEntry[]): PauseState[] {
  const out = new Map<string, PauseState>();
  for (const e of entries) {
    if (e.type !== 'pause' && e.type !== 'unpause') continue;
    const { analysis, atUnixMs, by, reason, token } = e;
    if (!isString(analysis) || typeof atUnixMs !== 'number' || !isString(by) || !isString(reason)) continue;
    const note = { by, reason, token: isString(token) ? token : 'unknown', atUnixMs };
    out.set(analysis, { analysis, paused: e.type === 'pause' ? note : undefined, atUnixMs });
  }
  return [...out.values()];
}
