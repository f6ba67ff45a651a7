/**
 * The promotion driver (issue 17, `rollouts[].promote`, docs/promotion.md): after each look of a running analysis of a
 * service with a promotion plan, the pure rule (src/analysis/promotion.ts) says what to do, and this does it:
 * - `set-share`: the canary share is SET through the plan's connector (`setCanaryShare`, idempotent), recorded in the
 *   audit log (`promote-step`); a connector error holds the rollout where it is (`promote-step-failed`, logged at
 *   error) and the next look tries again: it never advances past a share that is not in place;
 * - `await-approval`: waits for `approve` (the API's `POST /api/v1/analyses/:id/approve`), recorded with who and why;
 * - `complete`: the last step (100%) had its looks: the analysis is promoted (a decision by the promotion plan);
 * - a failing metric is the decision engine's: its rollback plan runs at once.
 * The analysis stays one analysis across the steps: the looks are stratified, so the moving split is already handled.
 * State is per analysis and in memory (a restart starts the plan again from its first share).
 */
import type { Logger } from 'pino';
import type { LookEvent } from '../analysis/analysis-registry.js';
import type { PromotionPlan, PromotionState } from '../analysis/promotion.js';
import { initialPromotion, nextPromotion, shareSet } from '../analysis/promotion.js';
import type { VigilConfig } from '../config/schema.js';
import type { ActionContext, Decision, PlanConnector } from '../contracts/index.js';
import type { AuditEntry } from '../decide/audit-replay.js';
import type { OperateResult, Operator, OperatorAction } from './operator.js';

export interface PromoterDeps {
  config: Readonly<VigilConfig>;
  connectors: ReadonlyMap<string, PlanConnector>;
  audit: { append(entry: AuditEntry): Promise<void> };
  logger: Logger;
  dryRun: boolean;
  operate(id: string, action: OperatorAction, who: Operator): Promise<OperateResult>;
  now?: () => number;
}

export type ApproveResult =
  { status: 'done'; share: number } | { status: 'refused'; message: string } | { status: 'unknown' };

interface Rollout {
  plan: PromotionPlan;
  state: PromotionState;
  /** The share waiting for an approval, when one is awaited. */
  awaiting?: number;
  /** The last reason it did not move, logged when it changes. */
  why?: string;
  busy: boolean;
}

export interface Promoter {
  onLook(e: LookEvent): void;
  approve(id: string, who: Operator): Promise<ApproveResult>;
  /** The share in place for a service's running analysis, in percent (undefined: none set). */
  share(service: string): number | undefined;
  /** Resolves when no share is being set. */
  settled(): Promise<void>;
}

export function createPromoter(deps: PromoterDeps): Promoter {
  const plans = new Map<string, PromotionPlan>();
  for (const r of deps.config.rollouts) if (r.promote) plans.set(r.service, r.promote);
  const rollouts = new Map<string, Rollout>();
  const shares = new Map<string, number>();
  let inFlight: Promise<void> = Promise.resolve();
  const now = deps.now ?? Date.now;
  const minSamples = deps.config.analysis.minSamples;

  const act = (e: LookEvent, r: Rollout): void => {
    const a = e.analysis;
    const facts = { look: a.look, samples: samplesOf(e), verdicts: a.verdicts };
    // a share that failed is tried again at the next look (the rule holds on it; the driver retries it)
    const { failed, ...state } = r.state;
    const action = failed
      ? { kind: 'set-share' as const, share: failed.share, step: r.state.step + 1 }
      : nextPromotion(r.plan, state, facts, minSamples);
    if (failed && action.kind === 'set-share' && a.verdicts.some((v) => !v.shadow && v.phase === 'fail')) return;
    r.awaiting = action.kind === 'await-approval' ? action.share : undefined;
    if (action.kind === 'set-share') {
      r.busy = true;
      inFlight = inFlight
        .then(() => setShare(deps, shares, e, r, action.share, action.step))
        .finally(() => (r.busy = false));
      return;
    }
    if (action.kind === 'complete') {
      r.busy = true;
      const who = { by: 'promotion plan', reason: `every step done: ${r.plan.steps.join(' → ')}%`, token: 'vigil' };
      inFlight = inFlight
        .then(async () => void (await deps.operate(a.id, 'promote', who)))
        .catch((err: unknown) =>
          deps.logger.error({ analysis: a.id, err }, 'promotion: the promote after the last step failed'),
        )
        .finally(() => (r.busy = false));
      return;
    }
    const why = action.kind === 'await-approval' ? `waiting for an approval of ${action.share}%` : action.why;
    if (why !== r.why) deps.logger.info({ analysis: a.id, service: a.service }, `promotion: ${why}`);
    r.why = why;
  };

  return {
    onLook(e) {
      const plan = plans.get(e.analysis.service);
      if (plan === undefined) return;
      if (e.analysis.phase !== 'running') {
        rollouts.delete(e.analysis.id);
        return;
      }
      // paused by an operator: the share stays where it is, the plan goes on from there once resumed
      if (e.analysis.paused !== undefined) return;
      let r = rollouts.get(e.analysis.id);
      if (r === undefined) rollouts.set(e.analysis.id, (r = { plan, state: initialPromotion(), busy: false }));
      if (!r.busy) act(e, r);
    },
    async approve(id, who) {
      const r = rollouts.get(id);
      if (r === undefined) return { status: 'unknown' };
      if (r.awaiting === undefined)
        return {
          status: 'refused',
          message: `${id} is not waiting for an approval (${r.why ?? 'nothing to approve'})`,
        };
      const share = r.awaiting;
      await deps.audit.append({ type: 'approve', analysis: id, share, ...who, atUnixMs: now() });
      r.state = { ...r.state, approved: [...r.state.approved, share] };
      r.awaiting = undefined;
      return { status: 'done', share };
    },
    share: (service) => shares.get(service),
    settled: () => inFlight,
  };
}

/** Sets a share through the plan's connector and records it; a failure holds the rollout (recorded, logged). */
async function setShare(
  deps: PromoterDeps,
  shares: Map<string, number>,
  e: LookEvent,
  r: Rollout,
  share: number,
  step: number,
): Promise<void> {
  const a = e.analysis;
  const connector = deps.connectors.get(r.plan.via);
  const base = {
    analysis: a.id,
    service: a.service,
    canaryVersion: a.canaryVersion,
    share,
    step,
    atUnixMs: (deps.now ?? Date.now)(),
  };
  const log = deps.logger.child({ analysis: a.id, service: a.service, connector: r.plan.via });
  try {
    if (connector?.setCanaryShare === undefined)
      throw new Error(`connector ${r.plan.via} cannot set a canary share (see docs/connectors.md)`);
    const res = await connector.setCanaryShare(share, contextOf(e, share, deps.dryRun, log));
    await deps.audit.append({ type: 'promote-step', ...base, changed: res.changed, detail: res.detail });
    r.state = shareSet(r.state, step, { look: a.look, samples: samplesOf(e), verdicts: a.verdicts });
    shares.set(a.service, share);
    log.info({ share, changed: res.changed }, `promotion: canary share ${share}%`);
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    r.state = { ...r.state, failed: { share, error } };
    await deps.audit.append({ type: 'promote-step-failed', ...base, error }).catch(() => undefined);
    log.error({ share, error }, `promotion held: the canary share ${share}% could not be set`);
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
