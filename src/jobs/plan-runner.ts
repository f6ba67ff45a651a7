/**
 * Runs a decision's rollback plan through the job queues.
 *
 * - One job per plan step on the `actions` queue, with deterministic ids (plan-job-ids.ts). Step i+1 is enqueued
 *   by step i's job after its connector succeeded and its audit entry was written, so the plan runs in order and a
 *   crash between the two is repaired by the queue's retry (connectors SET state: re-applying is harmless). The
 *   results of the steps done so far travel in the next step's job data and end in the 'plan-completed'
 *   notification.
 * - After a restart, `recover` goes on with a plan from the first step its audit entries do not show done (the audit
 *   log is read back by src/agent/recovery.ts); the step's deterministic id keeps a job still in a BullMQ queue from
 *   being enqueued twice, and that is not a refusal there.
 * - Notifications go on their own `notifications` queue: a chat outage delays or fails only notification jobs,
 *   never a rollback step. An operator's pause or resume of an analysis (`notifyOperator`) goes the same way: one
 *   job per notifier, the same retries, dry run, redaction and `notify-failed` audit entries; its job ids come from
 *   the analysis, the action and its time, so the same action notified twice is posted once.
 * - A step that fails for good (non-retryable error, or its last attempt) writes an 'action-failed' audit entry and
 *   enqueues an 'action-failed' notification to every notifier BEFORE the job is marked failed, then the plan stops:
 *   later steps are never enqueued. Doing it in the handler (not in an onFailed listener) keeps it durable with
 *   BullMQ: if the process dies in between, the job is retried and the side effects are idempotent (job ids).
 * - Each attempt gets `AbortSignal.timeout(stepTimeoutMs)`; a connector that ignores the signal is abandoned at the
 *   deadline with a retryable VIGIL_ERR_CONNECTOR_TIMEOUT. With BullMQ keep stepTimeoutMs below the worker lock
 *   duration (30 s) so a slow step is not taken for stalled.
 * - Dry run (deps.dryRun, the global kill switch, or decision.dryRun): connectors and notifiers are still called,
 *   with dryRun: true; they describe what they would do and touch nothing.
 * - Secrets: a step's `detail` and every error are passed through `deps.redact` (the connectors' secrets of the
 *   config: URL path tokens, `?sig=`, credentials in options) before they reach the audit log, a notification, a log
 *   line or the queue, so a vendor that echoes its URL in an error, or a connector that names its URL, leaks nothing.
 * - Names: every log line of a job carries `queue` (the queue's name: `actions`, `notifications`), `jobId`,
 *   `decisionId`, `analysis`, `connector` (plan connector or notifier), `attempt` (and `step` or `kind`), each key
 *   once; its last line says `outcome` (completed, retry, failed). vigil_jobs_total uses the same `queue`,
 *   `outcome` and `connector` values (deps.metrics).
 */
import type { Logger } from 'pino';
import {
  notificationIds,
  type DecisionNotification,
  type DecisionNotificationKind,
  type Notification,
  type Notifier,
  type OperatorNotification,
  type PlanConnector,
  type RollbackTarget,
} from '../contracts/connector.js';
import type { Decision } from '../contracts/decision.js';
import { VigilError, isRetryable, isVigilError } from '../errors.js';
import { notifyJobId, operatorNotifyJobId, stepJobId } from './plan-job-ids.js';
import type { JobInfo, JobQueue } from './queue.js';

export interface StepResult {
  connector: string;
  changed: boolean;
  detail: string;
}

export interface StepJob {
  decision: Decision;
  /** Index into decision.plan. */
  step: number;
  /** Results of steps 0..step-1 (absent on step 0). */
  done?: StepResult[];
}

/** One notification for one notifier: plain JSON (BullMQ keeps it in Redis). */
export interface NotifyJob {
  notification: Notification;
  notifier: string;
}

export interface PlanRunnerDeps {
  actions: JobQueue<StepJob>;
  notifications: JobQueue<NotifyJob>;
  connectors: ReadonlyMap<string, PlanConnector>;
  notifiers: readonly Notifier[];
  /** JSON-lines audit log (written by the lead's audit module). */
  audit: { append(entry: Record<string, unknown>): Promise<void> };
  logger: Logger;
  /** Global kill switch (actions.mode: dry-run); a decision's own dryRun also applies. */
  dryRun: boolean;
  /** Deadline of one attempt of one step or notification. */
  stepTimeoutMs: number;
  /** Called once per finished attempt. `queue` is the queue's name (`actions.name`, `notifications.name`) and
   *  `connector` the plan connector or notifier: the same values as the `queue`, `outcome` and `connector` keys of
   *  the job's log lines. */
  metrics?: {
    jobOutcome(queue: string, outcome: JobOutcome, connector: string): void;
    /** A job of a decision was refused because its id was already used: that job will not run. */
    jobRefused?(queue: string): void;
  };
  link?(decision: Decision): string | undefined;
  /** The link of an analysis an operator paused or resumed (server.api.publicUrl); absent: none. */
  analysisLink?(analysisId: string): string | undefined;
  /**
   * Hides the connectors' secrets: `text` in a step's detail, `error` in an error's message and stack (in place).
   * src/agent/actions.ts builds it from the config (connectors/shared/redact.ts); absent: shown as is.
   */
  redact?: { text(s: string): string; error<E>(err: E): E };
}

/** A job this process is running (what a shutdown past its deadline leaves unfinished). */
export interface RunningJob {
  queue: string;
  jobId: string;
  /** The decision; absent for the notification of an operator's pause or resume. */
  decisionId?: string;
  analysis: string;
  connector: string;
  /** The plan step (actions queue). */
  step?: number;
  /** The notification kind (notifications queue). */
  kind?: string;
}

/** How one attempt of a job ended: the `outcome` of vigil_jobs_total and of the job's last log line. */
export type JobOutcome = 'completed' | 'retry' | 'failed';

export interface PlanRunner {
  /** Enqueues the 'decision' notifications and, for a rollback with a non-empty plan, step 0. Idempotent. */
  dispatch(decision: Decision): Promise<void>;
  /**
   * Goes on with a rollback plan a restart interrupted (its audit entries say steps `0..nextStep-1` are done, with
   * the results `done`): enqueues the job of step `nextStep` (deterministic id, `done` in its data) and, when
   * `nextStep` is 0, the 'decision' notifications, as `dispatch` does. A warn line names the plan and the step. A job
   * whose id is already used is NOT an error here: with BullMQ it may still be in Redis (waiting, active or
   * finished: it runs or ran already); it is logged at info ('plan already queued') and not counted as refused.
   * `added` is false then. Throws a RangeError when `nextStep` is not a step of a rollback plan or `done` does not
   * hold `nextStep` results.
   */
  recover(decision: Decision, nextStep: number, done: readonly StepResult[]): Promise<{ added: boolean }>;
  /**
   * Enqueues the 'operator' notification of an operator's pause or resume to every notifier (call it once the audit
   * log holds the action). Only the fields of OperatorNotification are kept (an AnalysisSnapshot given as `analysis`
   * is cut down to them); `link` defaults to `deps.analysisLink`. Idempotent: the job ids come from the analysis, the
   * action and `operator.atUnixMs`; an id already used is logged at info and nothing is posted again. Resolves once
   * enqueued (delivery is the queue's: retries, dry run, `notify-failed` audit entries as for decisions).
   */
  notifyOperator(n: OperatorNotification): Promise<void>;
  /** Starts the workers of both queues. */
  start(): void;
  /** Closes the actions queue (waiting for the active step), then the notifications queue. */
  close(): Promise<void>;
  /** Aborts both queues (`JobQueue.abort`): nothing more is waited for; a `close()` under way resolves. */
  abort(): Promise<void>;
  /** The jobs whose handler is running in this process now, oldest first. */
  running(): RunningJob[];
}

function describeError(err: unknown): { error: string; code?: string } {
  const error = err instanceof Error ? err.message : String(err);
  return isVigilError(err) ? { error, code: err.code } : { error };
}

/** The outcome a failed attempt reports: `failed` when it was the last one, `retry` otherwise. */
function outcomeOf(final: boolean): JobOutcome {
  return final ? 'failed' : 'retry';
}

/** What a connector is told about the decision it acts on. */
export function targetOf(d: Decision): RollbackTarget {
  return {
    service: d.service,
    analysisId: d.analysis,
    decisionId: d.id,
    canaryVersion: d.canaryVersion,
    baselineVersion: d.baselineVersion,
    reason: d.reason,
  };
}

/**
 * Runs `fn` with a fresh timeout signal. Rejects with a retryable VIGIL_ERR_CONNECTOR_TIMEOUT at the deadline even
 * if `fn` ignores the signal; an error thrown because of the abort is converted the same way.
 */
async function withDeadline<R>(timeoutMs: number, fn: (signal: AbortSignal) => Promise<R>): Promise<R> {
  const signal = AbortSignal.timeout(timeoutMs);
  const timeoutError = (cause?: unknown): VigilError =>
    new VigilError('VIGIL_ERR_CONNECTOR_TIMEOUT', [timeoutMs], cause === undefined ? {} : { cause });
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    onAbort = () => reject(timeoutError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([fn(signal), deadline]);
  } catch (err) {
    if (signal.aborted && !isVigilError(err)) throw timeoutError(err);
    throw err;
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** The kill switch and the decision's own dry run. */
function dryRunOf(deps: PlanRunnerDeps, d: Decision): boolean {
  return deps.dryRun || d.dryRun;
}

/** Enqueues one notification job per notifier (ids are deterministic: enqueued once). A job whose id is already used
 *  goes to `onUsed` (default: `refused`, an error). */
async function notifyAll(
  deps: PlanRunnerDeps,
  kind: DecisionNotificationKind,
  decision: Decision,
  extra: Pick<DecisionNotification, 'failure' | 'steps'> = {},
  onUsed: (queue: string, jobId: string) => void = (queue, jobId) => refused(deps, queue, decision, jobId),
): Promise<void> {
  const link = deps.link?.(decision);
  const notification: DecisionNotification = { kind, decision, ...(link === undefined ? {} : { link }), ...extra };
  await Promise.all(
    deps.notifiers.map(async (n) => {
      const id = notifyJobId(decision, n.name, kind);
      const { added } = await deps.notifications.add({
        id,
        name: `notify-${kind}`,
        data: { notification, notifier: n.name },
      });
      if (!added) onUsed(deps.notifications.name, id);
    }),
  );
}

/** A job id that was already used: the job does not run. Never silent (an error line and a metric to alert on). */
function refused(deps: PlanRunnerDeps, queue: string, decision: Decision, jobId: string): void {
  deps.metrics?.jobRefused?.(queue);
  deps.logger.error(
    { queue, jobId, decisionId: decision.id, analysis: decision.analysis, service: decision.service },
    'job refused: its id was already used, so it will NOT run (the same decision dispatched twice, or an earlier decision with the same id)',
  );
}

/** The operator notification as enqueued: its declared fields only (plain JSON, nothing else of a snapshot). */
function operatorNotificationOf(n: OperatorNotification, link: string | undefined): OperatorNotification {
  const { action, by, reason, token, atUnixMs } = n.operator;
  const { id, service, canaryVersion, baselineVersion, look, phase, why } = n.analysis;
  return {
    kind: 'operator',
    operator: { action, by, reason, token, atUnixMs },
    analysis: { id, service, canaryVersion, baselineVersion, look, phase, why },
    dryRun: n.dryRun,
    ...(link === undefined ? {} : { link }),
    ...(n.promotion === undefined ? {} : { promotion: { ...n.promotion } }),
  };
}

/** `PlanRunner.notifyOperator`: one 'operator' notification job per notifier. */
async function notifyOperator(deps: PlanRunnerDeps, n: OperatorNotification): Promise<void> {
  const notification = operatorNotificationOf(n, n.link ?? deps.analysisLink?.(n.analysis.id));
  const { notifications } = deps;
  await Promise.all(
    deps.notifiers.map(async ({ name }) => {
      const id = operatorNotifyJobId(notification, name);
      const { added } = await notifications.add({
        id,
        name: 'notify-operator',
        data: { notification, notifier: name },
      });
      if (added) return;
      deps.logger.info(
        {
          queue: notifications.name,
          jobId: id,
          analysis: notification.analysis.id,
          service: notification.analysis.service,
          action: notification.operator.action,
        },
        'operator notification already queued: a job with this id exists (the same action notified again), so it is not posted twice',
      );
    }),
  );
}

/** Awaits every task, then rethrows the first failure (every task is tried). */
async function allOrFirstError<T>(tasks: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/** `PlanRunner.recover`: enqueues step `nextStep` of an interrupted plan (and the 'decision' notifications at 0). */
async function recoverPlan(
  deps: PlanRunnerDeps,
  decision: Decision,
  nextStep: number,
  done: readonly StepResult[],
): Promise<{ added: boolean }> {
  const { plan } = decision;
  if (decision.outcome !== 'rollback' || !Number.isInteger(nextStep) || nextStep < 0 || nextStep >= plan.length) {
    throw new RangeError(`decision ${decision.id}: step ${nextStep} is not a step of its rollback plan`);
  }
  if (done.length !== nextStep) {
    throw new RangeError(`decision ${decision.id}: ${done.length} results given for ${nextStep} steps done`);
  }
  const { actions } = deps;
  const id = stepJobId(decision, nextStep);
  const ids = { decisionId: decision.id, analysis: decision.analysis, service: decision.service };
  deps.logger.warn(
    {
      ...ids,
      queue: actions.name,
      jobId: id,
      step: nextStep,
      connector: plan[nextStep],
      plan,
      dryRun: dryRunOf(deps, decision),
    },
    `resuming a rollback plan interrupted by a restart: from step ${nextStep} of ${plan.length}`,
  );
  const alreadyQueued = (queue: string, jobId: string): void =>
    deps.logger.info(
      { ...ids, queue, jobId },
      'plan already queued: a job with this id exists (waiting, running or finished), so it runs or ran already',
    );
  const data: StepJob = nextStep === 0 ? { decision, step: 0 } : { decision, step: nextStep, done: [...done] };
  const step = actions.add({ id, name: 'rollback-step', data }).then(({ added }) => {
    if (!added) alreadyQueued(actions.name, id);
    return added;
  });
  const tasks: Promise<boolean>[] = [step];
  if (nextStep === 0) tasks.push(notifyAll(deps, 'decision', decision, {}, alreadyQueued).then(() => true));
  const [added = false] = await allOrFirstError(tasks);
  return { added };
}

/** Final failure of a step: audit, alert every notifier. Errors here are logged; the step still fails. */
async function stepFailedForGood(
  deps: PlanRunnerDeps,
  job: JobInfo<StepJob>,
  connector: string,
  err: unknown,
  log: Logger,
): Promise<void> {
  const { decision, step } = job.data;
  const why = describeError(err);
  try {
    await deps.audit.append({
      type: 'action-failed',
      decisionId: decision.id,
      analysis: decision.analysis,
      service: decision.service,
      connector,
      step,
      dryRun: dryRunOf(deps, decision),
      attempt: job.attempt,
      ...why,
    });
  } catch (auditErr) {
    log.error({ err: describeError(auditErr) }, 'audit entry for a failed step could not be written');
  }
  try {
    await notifyAll(deps, 'action-failed', decision, { failure: { connector, ...why } });
  } catch (notifyErr) {
    log.error({ err: describeError(notifyErr) }, 'action-failed notifications could not be enqueued');
  }
}

/** The handler of the actions queue: applies one step of a plan, then enqueues the next (or notifies the end). */
function stepHandler(deps: PlanRunnerDeps): (job: JobInfo<StepJob>) => Promise<void> {
  const { actions, audit, logger } = deps;
  return async (job) => {
    const { decision, step } = job.data;
    const name = decision.plan[step] ?? `step-${step}`;
    const dryRun = dryRunOf(deps, decision);
    // Bound once here: connectors log through this logger and must not repeat these keys (connectors/shared/log.ts).
    const log = logger.child({
      queue: actions.name,
      jobId: job.id,
      decisionId: decision.id,
      analysis: decision.analysis,
      connector: name,
      step,
      attempt: job.attempt,
    });
    try {
      const connector = decision.plan[step] === undefined ? undefined : deps.connectors.get(name);
      if (!connector) throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR', [name], { details: { step } });
      const r = await withDeadline(deps.stepTimeoutMs, (signal) =>
        connector.apply({ logger: log, signal, dryRun, target: targetOf(decision), decision }),
      );
      const detail = deps.redact ? deps.redact.text(r.detail) : r.detail;
      const result: StepResult = { connector: name, changed: r.changed, detail };
      await audit.append({
        type: 'action',
        decisionId: decision.id,
        analysis: decision.analysis,
        service: decision.service,
        connector: name,
        step,
        changed: result.changed,
        detail: result.detail,
        dryRun,
        attempt: job.attempt,
      });
      const done = [...(job.data.done ?? []), result];
      if (step + 1 < decision.plan.length) {
        await actions.add({
          id: stepJobId(decision, step + 1),
          name: 'rollback-step',
          data: { decision, step: step + 1, done },
        });
      } else {
        await notifyAll(deps, 'plan-completed', decision, { steps: done });
      }
      log.info({ outcome: 'completed' satisfies JobOutcome, changed: result.changed, dryRun }, 'rollback step applied');
    } catch (caught) {
      const err = deps.redact ? deps.redact.error(caught) : caught;
      const final = !isRetryable(err) || job.attempt >= job.maxAttempts;
      log.warn(
        { outcome: outcomeOf(final), err: describeError(err) },
        final ? 'rollback step failed for good; plan stops' : 'rollback step failed; will retry',
      );
      if (final) await stepFailedForGood(deps, job, name, err, log);
      throw err;
    }
  };
}

/** The dry run of a notification's delivery: the kill switch, or the decision's (the operator notification's) own. */
function notificationDryRun(deps: PlanRunnerDeps, n: Notification): boolean {
  return n.kind === 'operator' ? deps.dryRun || n.dryRun : dryRunOf(deps, n.decision);
}

/** The ids a notification job names in its log lines and audit entries: decisionId (decisions) and analysis. */
function notifyIds(n: Notification): { decisionId?: string; analysis: string } {
  const { service: _service, ...ids } = notificationIds(n); // no decisionId key for an operator's action
  return ids;
}

/** A notification that failed for good, in the audit log (an operator's: with its action and time). */
function notifyFailedEntry(n: Notification, notifier: string, attempt: number, err: unknown): Record<string, unknown> {
  const what = n.kind === 'operator' ? { action: n.operator.action, atUnixMs: n.operator.atUnixMs } : {};
  return { type: 'notify-failed', ...notifyIds(n), notifier, kind: n.kind, ...what, attempt, ...describeError(err) };
}

/** The handler of the notifications queue: one notification posted by one notifier. */
function notifyHandler(deps: PlanRunnerDeps): (job: JobInfo<NotifyJob>) => Promise<void> {
  const { notifications, audit, logger } = deps;
  const notifierByName = new Map(deps.notifiers.map((n) => [n.name, n] as const));
  return async (job) => {
    const { notification, notifier: name } = job.data;
    // A notifier is a connector: its name is the `connector` key, as in vigil_jobs_total{queue="notifications"}.
    const log = logger.child({
      queue: notifications.name,
      jobId: job.id,
      ...notifyIds(notification),
      connector: name,
      kind: notification.kind,
      attempt: job.attempt,
    });
    const dryRun = notificationDryRun(deps, notification);
    try {
      const notifier = notifierByName.get(name);
      if (!notifier) throw new VigilError('VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR', [name]);
      await withDeadline(deps.stepTimeoutMs, (signal) => notifier.post(notification, { logger: log, signal, dryRun }));
      log.info({ outcome: 'completed' satisfies JobOutcome, dryRun }, 'notification handled');
    } catch (caught) {
      const err = deps.redact ? deps.redact.error(caught) : caught;
      const final = !isRetryable(err) || job.attempt >= job.maxAttempts;
      log.warn(
        { outcome: outcomeOf(final), err: describeError(err) },
        final ? 'notification failed for good' : 'notification failed; will retry',
      );
      if (final) {
        await audit
          .append(notifyFailedEntry(notification, name, job.attempt, err))
          .catch((auditErr: unknown) =>
            log.error({ err: describeError(auditErr) }, 'audit entry could not be written'),
          );
      }
      throw err;
    }
  };
}

/** Runs `handler` with each job listed in `running` while it runs. */
function tracked<T>(
  running: Map<object, RunningJob>,
  describe: (job: JobInfo<T>) => RunningJob,
  handler: (job: JobInfo<T>) => Promise<void>,
): (job: JobInfo<T>) => Promise<void> {
  return async (job) => {
    const key = {};
    running.set(key, describe(job));
    try {
      await handler(job);
    } finally {
      running.delete(key);
    }
  };
}

export function createPlanRunner(deps: PlanRunnerDeps): PlanRunner {
  const { actions, notifications } = deps;
  const stepConnector = (job: JobInfo<StepJob>): string =>
    job.data.decision.plan[job.data.step] ?? `step-${job.data.step}`;
  const running = new Map<object, RunningJob>();
  const stepJob = (job: JobInfo<StepJob>): RunningJob => ({
    queue: actions.name,
    jobId: job.id,
    decisionId: job.data.decision.id,
    analysis: job.data.decision.analysis,
    connector: stepConnector(job),
    step: job.data.step,
  });
  const notifyJob = (job: JobInfo<NotifyJob>): RunningJob => ({
    queue: notifications.name,
    jobId: job.id,
    ...notifyIds(job.data.notification),
    connector: job.data.notifier,
    kind: job.data.notification.kind,
  });

  return {
    async dispatch(decision) {
      const tasks: Promise<unknown>[] = [];
      if (decision.outcome === 'rollback' && decision.plan.length > 0) {
        const id = stepJobId(decision, 0);
        tasks.push(
          actions.add({ id, name: 'rollback-step', data: { decision, step: 0 } }).then(({ added }) => {
            if (!added) refused(deps, actions.name, decision, id);
          }),
        );
      }
      tasks.push(notifyAll(deps, 'decision', decision));
      await allOrFirstError(tasks);
    },
    recover: (decision, nextStep, done) => recoverPlan(deps, decision, nextStep, done),
    notifyOperator: (n) => notifyOperator(deps, n),
    start() {
      actions.process(tracked(running, stepJob, stepHandler(deps)), {
        onCompleted: (job) => deps.metrics?.jobOutcome(actions.name, 'completed', stepConnector(job)),
        onFailed: (job, _err, willRetry) =>
          deps.metrics?.jobOutcome(actions.name, outcomeOf(!willRetry), stepConnector(job)),
      });
      notifications.process(tracked(running, notifyJob, notifyHandler(deps)), {
        onCompleted: (job) => deps.metrics?.jobOutcome(notifications.name, 'completed', job.data.notifier),
        onFailed: (job, _err, willRetry) =>
          deps.metrics?.jobOutcome(notifications.name, outcomeOf(!willRetry), job.data.notifier),
      });
    },
    async close() {
      try {
        await actions.close();
      } finally {
        await notifications.close();
      }
    },
    async abort() {
      await Promise.all([actions.abort(), notifications.abort()]);
    },
    running: () => [...running.values()],
  };
}
