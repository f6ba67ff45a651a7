/**
 * An operator's hand on an analysis (issue 15: manual authority), for the API and the CLI verbs: `pause` (looks go
 * on, nothing is decided), `resume` (lifts a pause; on a decided analysis, lets its version be analysed again),
 * `rollback` and `promote` (a decision taken by hand: recorded, its plan run and announced like any other). Each is
 * written to the audit log with who and why (verbatim), the name of the API token used and when: a pause as a `pause`
 * entry, its lifting as `unpause`, a resume of a decided version as `resume`, a decision by hand as the decision's
 * own entry (its `manual`). A pause or resume that changed something is then announced by every notifier (a decision
 * by hand is announced as a decision).
 */
import type { AnalysisRegistry, AnalysisSnapshot } from '../analysis/analysis-registry.js';
import type { Decision, OperatorNotification } from '../contracts/index.js';
import type { AuditLog } from '../decide/audit-log.js';
import type { Resumer } from './pipeline.js';

export type OperatorAction = 'pause' | 'resume' | 'rollback' | 'promote';

export const OPERATOR_ACTIONS: readonly OperatorAction[] = ['pause', 'resume', 'rollback', 'promote'];

/** Who acts and why, as the caller gave them, and the name of the API token used. */
export interface Operator {
  by: string;
  reason: string;
  token: string;
}

/** What an action did: `done` (`changed` false when it was already so), `refused` (409: why), `unknown` (404). */
export type OperateResult =
  | { status: 'done'; action: OperatorAction; changed: boolean; analysis: AnalysisSnapshot; decision?: Decision }
  | { status: 'refused'; message: string }
  | { status: 'unknown' };

export interface OperatorDeps {
  registry: Pick<AnalysisRegistry, 'get' | 'operate'>;
  audit: Pick<AuditLog, 'append'>;
  /** Resumes a decided version (the pipeline's `resume`: registry, then its `resume` audit entry). */
  resumeVersion(service: string, version: string, who: Resumer): Promise<boolean>;
  /** Resolves once the decisions handed over so far are recorded in the audit log and their plans enqueued. */
  dispatched(): Promise<void>;
  now(): number;
  /** Announces a pause or a resume in chat (the plan runner's `notifyOperator`: once per notifier); a failure to
   *  enqueue is the callee's to log: the action stands once it is audited. */
  notify?(n: OperatorNotification): Promise<void>;
  /** The agent's action mode is dry-run: the announcement says so. */
  dryRun?: boolean;
}

/** Announces an action that changed something (decisions by hand are announced as decisions). */
async function announce(
  deps: OperatorDeps,
  action: 'pause' | 'resume',
  note: Operator & { atUnixMs: number },
  analysis: AnalysisSnapshot,
): Promise<void> {
  await deps.notify?.({ kind: 'operator', operator: { action, ...note }, analysis, dryRun: deps.dryRun ?? false });
}

/** Runs one operator action on the analysis `id` held here. */
export async function operate(
  deps: OperatorDeps,
  id: string,
  action: OperatorAction,
  who: Operator,
): Promise<OperateResult> {
  const before = deps.registry.get(id);
  if (before === undefined) return { status: 'unknown' };
  const note = { ...who, atUnixMs: deps.now() };
  if (action === 'resume' && before.phase !== 'running') {
    const ok = await deps.resumeVersion(before.service, before.canaryVersion, { ...note, analysis: id });
    if (!ok) return { status: 'refused', message: `analysis ${id}: its version is not decided any more` };
    await announce(deps, 'resume', note, before);
    return { status: 'done', action, changed: true, analysis: before };
  }
  const r = deps.registry.operate(id, action === 'resume' ? 'unpause' : action, note);
  if (r === undefined) return { status: 'unknown' };
  if ('refused' in r) return { status: 'refused', message: r.refused };
  if (r.decision) {
    await deps.dispatched(); // the answer comes once the decision is in the audit log and its plan enqueued
  } else if (r.changed) {
    const { service, canaryVersion } = r.analysis;
    const type = action === 'pause' ? 'pause' : 'unpause';
    try {
      await deps.audit.append({ type, analysis: id, service, canaryVersion, ...note });
    } catch (e) {
      // not recorded, not done: an action nobody can audit does not stand
      deps.registry.operate(id, type === 'pause' ? 'unpause' : 'pause', before.paused ?? note);
      throw e;
    }
    await announce(deps, action === 'pause' ? 'pause' : 'resume', note, r.analysis);
  }
  return {
    status: 'done',
    action,
    changed: r.changed,
    analysis: r.analysis,
    ...(r.decision ? { decision: r.decision } : {}),
  };
}
