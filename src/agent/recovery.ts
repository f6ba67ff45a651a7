/**
 * What the agent does with its audit log at start, before it listens: reads the log's tail back
 * (`readAuditTail`), serves the decisions recorded before this start from the API again (`AuditLog.restore`),
 * and, when asked (the agent, never `vigil replay`), finishes every rollback plan a restart interrupted
 * (`unfinishedPlans` → `PlanRunner.recover`), one plan at a time, in the order they were decided.
 *
 * Only plans decided within `maxAgeMs` (default 24 h) before this start are finished: an older one (a log kept
 * for months, or a plan the embedded queue lost before this version) would act on a rollout that has most
 * likely moved on since. It is logged at warn (the decision, the step it stopped at) and counted, for a human to
 * finish or drop. A decision entry without a readable `loggedAt` counts as too old.
 *
 * Exactly once: each step's job appends its `action` entry before it enqueues the next step, so the audit log
 * names the first step not done; the job ids are deterministic, so a job still in a BullMQ queue is not enqueued
 * twice. A step cut between its connector call and its audit entry runs again (connectors SET state).
 */
import type { Logger } from 'pino';
import type { AnalysisRegistry } from '../analysis/analysis-registry.js';
import type { Decision } from '../contracts/index.js';
import { readAuditTail, type AuditEntry, type AuditLog } from '../decide/audit-log.js';
import { pauseStates, unfinishedPlans, versionHistory, type UnfinishedPlan } from '../decide/audit-replay.js';
import type { VigilMetrics } from '../http/metrics.js';
import type { PlanRunner } from '../jobs/plan-runner.js';

export interface RecoveryDeps {
  audit: Pick<AuditLog, 'path' | 'restore'>;
  runner: Pick<PlanRunner, 'recover'>;
  logger: Logger;
  metrics: Pick<VigilMetrics, 'plansRecovered'>;
  /** Finish the interrupted plans (the agent); false: only restore the decisions list. */
  recoverPlans: boolean;
  /** Bytes of the audit log read back (default 64 MiB: `DEFAULT_AUDIT_TAIL_BYTES`). */
  maxBytes?: number;
  /** The analyses restored from a checkpoint (or none): what the audit log recorded after it is applied to them. */
  analyses?: AnalysesToReconcile;
  /** Plans decided longer ago than this are not finished (default `DEFAULT_RECOVER_MAX_AGE_MS`, 24 h). */
  maxAgeMs?: number;
  now?: () => number;
}

/** The restored analysis state, and the decisions its checkpoint held that were not yet recorded. */
export interface AnalysesToReconcile {
  registry: Pick<AnalysisRegistry, 'resumeTo' | 'markDecided' | 'pauseTo'>;
  unrecorded: readonly Decision[];
  /** Records a decision and runs its plan (the dispatcher). */
  dispatch(d: Decision): void;
}

/** How old an interrupted plan may be and still be finished at start. */
export const DEFAULT_RECOVER_MAX_AGE_MS = 24 * 3600 * 1000;

/** What the start found in the audit log and did with it. */
export interface RecoveryReport {
  /** Entries read back. */
  entries: number;
  /** Lines skipped (malformed, or a torn last line). */
  skippedLines: number;
  /** The last line was an append cut by a crash. */
  torn: boolean;
  /** Offset where reading began (> 0: the log is longer than the part read). */
  from: number;
  /** Decisions served again by the API. */
  decisions: number;
  /** Interrupted plans whose next step was enqueued here. */
  plansEnqueued: number;
  /** Interrupted plans whose next job was still in the queue (it runs or ran). */
  plansAlreadyQueued: number;
  /** Interrupted plans that could not be enqueued (logged; the next start tries again). */
  plansFailed: number;
  /** Interrupted plans decided longer ago than `maxAgeMs`: not finished (logged). */
  plansTooOld: number;
  /** Versions decided in the audit log after the last checkpoint: decided in the analyses too (no second decision). */
  versionsDecided: number;
  /** Versions resumed in the audit log after the last checkpoint: resumed in the analyses too. */
  versionsResumed: number;
  /** Pauses and their liftings in the audit log after the last checkpoint: applied to the analyses too. */
  pausesApplied: number;
  /** Decisions the checkpoint held and the audit log did not: recorded and dispatched now. */
  decisionsRedispatched: number;
}

/**
 * Applies to the restored analyses what the audit log recorded after their checkpoint (the audit log is written
 * first and is the truth): resumes, then the last decision of each version after its last resume; then records
 * and dispatches the decisions the checkpoint held that never reached the audit log (a kill between the look
 * that decided and the audit write). Pauses and their liftings later than an analysis's own are applied too.
 * Idempotent: a state that already has them is left as it is.
 */
export function reconcileAnalyses(
  analyses: AnalysesToReconcile,
  entries: readonly AuditEntry[],
): Pick<RecoveryReport, 'versionsDecided' | 'versionsResumed' | 'pausesApplied' | 'decisionsRedispatched'> {
  const out = { versionsDecided: 0, versionsResumed: 0, pausesApplied: 0, decisionsRedispatched: 0 };
  for (const h of versionHistory(entries)) {
    if (analyses.registry.resumeTo(h.service, h.canaryVersion, h.resumes)) out.versionsResumed++;
    if (h.lastDecision && analyses.registry.markDecided(h.lastDecision)) out.versionsDecided++;
  }
  for (const p of pauseStates(entries)) if (analyses.registry.pauseTo(p.analysis, p)) out.pausesApplied++;
  const recorded = new Set(entries.filter((e) => e.type === 'decision').map((e) => e.id));
  for (const d of analyses.unrecorded) {
    if (recorded.has(d.id)) continue;
    analyses.dispatch(d);
    out.decisionsRedispatched++;
  }
  return out;
}

export async function recoverFromAudit(deps: RecoveryDeps): Promise<RecoveryReport> {
  const { audit, logger } = deps;
  const started = performance.now();
  const tail = await readAuditTail(audit.path, { maxBytes: deps.maxBytes });
  const report: RecoveryReport = {
    entries: tail.entries.length,
    skippedLines: tail.skipped,
    torn: tail.torn,
    from: tail.from,
    decisions: audit.restore(tail.entries),
    plansEnqueued: 0,
    plansAlreadyQueued: 0,
    plansFailed: 0,
    plansTooOld: 0,
    ...(deps.analyses
      ? reconcileAnalyses(deps.analyses, tail.entries)
      : { versionsDecided: 0, versionsResumed: 0, pausesApplied: 0, decisionsRedispatched: 0 }),
  };
  const plans = deps.recoverPlans ? unfinishedPlans(tail.entries) : [];
  const now = (deps.now ?? Date.now)();
  const maxAgeMs = deps.maxAgeMs ?? DEFAULT_RECOVER_MAX_AGE_MS;
  for (const plan of plans) {
    const { decision, nextStep, done } = plan;
    if (tooOld(plan, now, maxAgeMs)) {
      report.plansTooOld++;
      deps.metrics.plansRecovered.inc({ outcome: 'too_old' });
      logger.warn(
        { ...idsOf(plan), step: nextStep, connector: decision.plan[nextStep], loggedAt: plan.loggedAt, maxAgeMs },
        'an interrupted rollback plan is too old to be finished automatically: finish or drop it by hand',
      );
      continue;
    }
    try {
      const { added } = await deps.runner.recover(decision, nextStep, done);
      if (added) report.plansEnqueued++;
      else report.plansAlreadyQueued++;
      deps.metrics.plansRecovered.inc({ outcome: added ? 'enqueued' : 'already_queued' });
    } catch (e) {
      report.plansFailed++;
      deps.metrics.plansRecovered.inc({ outcome: 'error' });
      logger.error(
        { ...idsOf(plan), step: nextStep, err: e },
        'an interrupted rollback plan could not be enqueued again; the next start tries again',
      );
    }
  }
  const level = tail.skipped > 0 || plans.length > 0 ? 'warn' : 'info';
  logger[level](
    { audit: audit.path, size: tail.size, ms: Math.round(performance.now() - started), ...report },
    `audit log read back: ${report.decisions} decision(s) restored, ${plans.length} interrupted rollback plan(s) found` +
      (tail.skipped > 0
        ? `, ${tail.skipped} unreadable line(s) skipped${tail.torn ? ' (the last one torn by a crash)' : ''}`
        : ''),
  );
  return report;
}

function idsOf({ decision }: UnfinishedPlan): { decisionId: string; analysis: string; service: string } {
  return { decisionId: decision.id, analysis: decision.analysis, service: decision.service };
}

/** Decided longer than `maxAgeMs` before `now`, or at an unknown time. */
function tooOld(plan: UnfinishedPlan, now: number, maxAgeMs: number): boolean {
  const at = plan.loggedAt === undefined ? NaN : Date.parse(plan.loggedAt);
  return !Number.isFinite(at) || now - at > maxAgeMs;
}
