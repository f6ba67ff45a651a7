/**
 * The promotion driver (issue 17, `rollouts[].promote`, docs/promotion.md): after each look of a running analysis of a
 * service with a promotion plan, the pure rule (src/analysis/promotion.ts) says what to do, and this does it:
 * - `set-share`: the canary share is SET through the plan's connector (`setCanaryShare`, idempotent), recorded in the
 *   audit log (`promote-step`); a connector error holds the rollout where it is (`promote-step-failed`, logged at
 *   error, announced once as `promotion-held` by every notifier) and the next look tries again: it never advances past
 *   a share that is not in place;
 * - `await-approval`: announced once (`approval-needed`, with the analysis' link), then waits for `approve` (the API's
 *   `POST /api/v1/analyses/:id/approve`, the CLI, the dashboard), recorded with who and why and announced;
 * - `complete`: the last step (100%) had its looks: the analysis is promoted (a decision by the promotion plan);
 * - a failing metric is the decision engine's: its rollback plan runs at once.
 * The analysis stays one analysis across the steps: the looks are stratified, so the moving split is already handled.
 * Where a rollout stands is kept in the analysis (the registry's `keepPromotion`): checkpoints, restarts and cluster
 * handovers carry it, and the srm guard is told each look's share from it. Only "a share is being set" is this
 * process's.
 */
import type { Logger } from 'pino';
import type { AnalysisRegistry, LookEvent } from '../analysis/analysis-registry.js';
import type { PromotionPlan, PromotionRecord } from '../analysis/promotion.js';
import { newPromotion, nextPromotion, promotionView, shareSet } from '../analysis/promotion.js';
import type { VigilConfig } from '../config/schema.js';
import type { ActionContext, Decision, OperatorNotification, PlanConnector } from '../contracts/index.js';
import type { AuditEntry } from '../decide/audit-replay.js';
import type { OperateResult, Operator, OperatorAction } from './operator.js';

export interface PromoterDeps {
  config: Readonly<VigilConfig>;
  connectors: ReadonlyMap<string, PlanConnector>;
  registry: Pick<AnalysisRegistry, 'promotion' | 'keepPromotion' | 'get'>;
  audit: { append(entry: AuditEntry): Promise<void> };
  logger: Logger;
  dryRun: boolean;
  operate(id: string, action: OperatorAction, who: Operator): Promise<OperateResult>;
  /** Announces an approval asked for, given, or a held step (the plan runner's `notifyOperator`). */
  notify?(n: OperatorNotification): Promise<void>;
  /** A share is in place for an analysis (`vigil_promotion_share_percent`). */
  onShare?(analysis: { id: string; service: string }, percent: number): void;
  now?: () => number;
}

export type ApproveResult =
  { status: 'done'; share: number } | { status: 'refused'; message: string } | { status: 'unknown' };

export interface Promoter {
  onLook(e: LookEvent): void;
  approve(id: string, who: Operator): Promise<ApproveResult>;
  /** Resolves when no share is being set and no announcement is being enqueued. */
  settled(): Promise<void>;
  /** Takes no more looks; resolves once what is under way is done (the agent's shutdown, before the audit closes). */
  close(): Promise<void>;
}

/** Who the plan's own announcements are by. */
const PLAN = { by: 'promotion plan', token: 'vigil' };

type Announce = (
  e: LookEvent['analysis'],
  action: 'approve' | 'approval-needed' | 'promotion-held',
  why: { reason: string; by?: string; token?: string },
  promotion: NonNullable<OperatorNotification['promotion']>,
) => Promise<void>;

export function createPromoter(deps: PromoterDeps): Promoter {
  const plans = new Map<string, PromotionPlan>();
  for (const r of deps.config.rollouts) if (r.promote) plans.set(r.service, r.promote);
  const busy = new Set<string>();
  let closed = false;
  let inFlight: Promise<void> = Promise.resolve();
  const now = deps.now ?? Date.now;
  const minSamples = deps.config.analysis.minSamples;
  const later = (id: string, work: () => Promise<void>): void => {
    busy.add(id);
    inFlight = inFlight.then(work).finally(() => busy.delete(id));
  };
  const announce = announcer(deps, now);

  const act = (e: LookEvent, plan: PromotionPlan, r: PromotionRecord): void => {
    const a = e.analysis;
    const gate = a.promotion?.gate;
    const facts = { look: a.look, samples: samplesOf(e), verdicts: a.verdicts, ...(gate ? { gate } : {}) };
    // a share that failed is tried again at the next look (the rule holds on it; the driver retries it)
    const { failed, ...state } = r.state;
    if (failed && a.verdicts.some((v) => !v.shadow && v.phase === 'fail')) return;
    const action = failed
      ? { kind: 'set-share' as const, share: failed.share, step: r.state.step + 1 }
      : nextPromotion(plan, state, facts, minSamples);
    if (action.kind === 'set-share')
      return later(a.id, () => setShare({ ...deps, announce }, e, plan, action.share, action.step));
    if (action.kind === 'complete') {
      const who = { ...PLAN, reason: `every step done: ${plan.steps.join(' → ')}%` };
      return later(a.id, async () => {
        await deps.operate(a.id, 'promote', who).catch((err: unknown) => {
          deps.logger.error({ analysis: a.id, err }, 'promotion: the promote after the last step failed');
        });
      });
    }
    if (action.kind === 'restart-gate') {
      deps.logger.warn({ analysis: a.id, service: a.service }, `promotion: ${action.why}`);
      deps.registry.keepPromotion(a.id, { ...r, why: action.why, epoch: r.epoch + 1 });
      return;
    }
    const why = action.kind === 'await-approval' ? `waiting for an approval of ${action.share}%` : action.why;
    if (why !== r.why) deps.logger.info({ analysis: a.id, service: a.service }, `promotion: ${why}`);
    const awaiting = action.kind === 'await-approval' ? action.share : undefined;
    const { awaiting: _was, ...rest } = r;
    deps.registry.keepPromotion(a.id, { ...rest, why, ...(awaiting === undefined ? {} : { awaiting }) });
    if (awaiting !== undefined && r.awaiting !== awaiting) {
      const inPlace = promotionView(r).share;
      const promotion = { share: awaiting, inPlace };
      later(a.id, () =>
        announce(a, 'approval-needed', { reason: `the plan waits for an approval of ${awaiting}%` }, promotion),
      );
    }
  };

  return {
    onLook(e) {
      const plan = plans.get(e.analysis.service);
      const { id } = e.analysis;
      // decided: nothing more to move; paused by an operator: the share stays, the plan goes on once resumed
      const idle = e.analysis.phase !== 'running' || e.analysis.paused !== undefined;
      if (closed || plan === undefined || idle || busy.has(id)) return;
      act(e, plan, deps.registry.promotion(id) ?? newPromotion(plan));
    },
    async approve(id, who) {
      const r = await approveStep(deps, id, who, now);
      const a = r.status === 'done' ? deps.registry.get(id) : undefined;
      if (r.status === 'done' && a !== undefined) {
        const promotion = { share: r.share, inPlace: r.inPlace };
        inFlight = inFlight.then(() => announce(a, 'approve', who, promotion));
      }
      return r.status === 'done' ? { status: 'done', share: r.share } : r;
    },
    settled: () => inFlight,
    close: () => {
      closed = true;
      return inFlight;
    },
  };
}

/** Records an approval of the share a rollout waits at (audit log, the analysis' record); the caller announces it. */
async function approveStep(
  deps: PromoterDeps,
  id: string,
  who: Operator,
  now: () => number,
): Promise<{ status: 'done'; share: number; inPlace: number | null } | Exclude<ApproveResult, { status: 'done' }>> {
  const r = deps.registry.promotion(id);
  if (r === undefined) return { status: 'unknown' };
  if (r.awaiting === undefined)
    return { status: 'refused', message: `${id} is not waiting for an approval (${r.why ?? 'nothing to approve'})` };
  const share = r.awaiting;
  const { awaiting: _was, ...rest } = r;
  const why = `${share}% approved by ${who.by}`;
  // taken at once: a second approval meanwhile is refused, not recorded twice
  deps.registry.keepPromotion(id, { ...rest, why, state: { ...r.state, approved: [...r.state.approved, share] } });
  try {
    await deps.audit.append({ type: 'approve', analysis: id, share, ...who, atUnixMs: now() });
  } catch (err) {
    deps.registry.keepPromotion(id, r); // not recorded: not approved
    throw err;
  }
  return { status: 'done', share, inPlace: promotionView(r).share };
}

/** Announces the plan's calls (and an approval) through every notifier; a failure to enqueue is logged here. */
function announcer(deps: PromoterDeps, now: () => number): Announce {
  return async (a, action, why, promotion) => {
    const operator = { action, ...PLAN, ...why, atUnixMs: now() };
    const n: OperatorNotification = { kind: 'operator', operator, analysis: a, promotion, dryRun: deps.dryRun };
    await deps
      .notify?.(n)
      .catch((err: unknown) =>
        deps.logger.warn({ analysis: a.id, err }, `promotion: the ${action} announcement could not be enqueued`),
      );
  };
}

/**
 * Sets a share through the plan's connector and records it (audit log, the analysis' record); a failure holds the
 * rollout (recorded, logged, announced when the hold begins).
 */
async function setShare(
  deps: PromoterDeps & { announce: Announce },
  e: LookEvent,
  plan: PromotionPlan,
  share: number,
  step: number,
): Promise<void> {
  const a = e.analysis;
  const connector = deps.connectors.get(plan.via);
  const base = {
    analysis: a.id,
    service: a.service,
    canaryVersion: a.canaryVersion,
    share,
    step,
    atUnixMs: (deps.now ?? Date.now)(),
  };
  const log = deps.logger.child({ analysis: a.id, service: a.service, connector: plan.via });
  // the record as it is now (an approval may have come meanwhile)
  const current = (): PromotionRecord => deps.registry.promotion(a.id) ?? newPromotion(plan);
  try {
    if (connector?.setCanaryShare === undefined)
      throw new Error(`connector ${plan.via} cannot set a canary share (see docs/connectors.md)`);
    const res = await connector.setCanaryShare(share, contextOf(e, share, deps.dryRun, log));
    await deps.audit.append({ type: 'promote-step', ...base, look: a.look, changed: res.changed, detail: res.detail });
    const r = current();
    const { awaiting: _a, why: _w, ...rest } = r;
    const state = shareSet(r.state, step, { look: a.look, samples: samplesOf(e), verdicts: a.verdicts });
    deps.registry.keepPromotion(a.id, { ...rest, state, epoch: r.epoch + 1 }, { percent: share, afterLook: a.look });
    deps.onShare?.(a, share);
    log.info({ share, changed: res.changed }, `promotion: canary share ${share}%`);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    const r = current();
    const first = r.state.failed?.share !== share; // a hold begins: announced once, not at every retry
    const why = `held: the share ${share}% could not be set (${error})`;
    deps.registry.keepPromotion(a.id, { ...r, why, state: { ...r.state, failed: { share, error } } });
    await deps.audit.append({ type: 'promote-step-failed', ...base, error }).catch(() => undefined);
    log.error({ share, error }, `promotion held: the canary share ${share}% could not be set`);
    if (first) {
      const promotion = { share, inPlace: promotionView(r).share, connector: plan.via, error };
      await deps.announce(a, 'promotion-held', { reason: why }, promotion);
    }
  }
}

function samplesOf(e: LookEvent): { baseline: number; canary: number } {
  return { baseline: e.analysis.totals.baseline.requests, canary: e.analysis.totals.canary.requests };
}

/** What a connector is told when it sets a share: the analysis as the target, a `promote` decision of the step. */
function contextOf(e: LookEvent, share: number, dryRun: boolean, logger: Logger): ActionContext {
  const a = e.analysis;
  const id = `${a.id}:share-${share}`;
  const reason = `promotion plan: canary share ${share}%`;
  const decision: Decision = {
    id,
    analysis: a.id,
    service: a.service,
    outcome: 'promote',
    reason,
    canaryVersion: a.canaryVersion,
    baselineVersion: a.baselineVersion,
    look: a.look,
    eventTimeUnixMs: a.watermarkUnixMs,
    verdicts: a.verdicts,
    configHash: '',
    plan: [],
    dryRun,
  };
  return {
    logger,
    signal: AbortSignal.timeout(30_000),
    dryRun,
    target: {
      service: a.service,
      analysisId: a.id,
      decisionId: id,
      canaryVersion: a.canaryVersion,
      baselineVersion: a.baselineVersion,
      reason,
    },
    decision,
  };
}
