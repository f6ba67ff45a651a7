/**
 * What happens to a decision, one decision at a time and in order: it is recorded in the audit log (durably,
 * BEFORE any job exists), then the listeners hear of it, then its rollback plan and notifications are
 * enqueued. A decision that cannot be recorded or dispatched is logged, and the next one still goes.
 */
import type { Logger } from 'pino';
import type { Decision } from '../contracts/index.js';
import type { AuditLog } from '../decide/audit-log.js';
import type { PlanRunner } from '../jobs/plan-runner.js';
import type { JobQueue } from '../jobs/queue.js';

export interface DecisionDispatcherDeps {
  audit: Pick<AuditLog, 'recordDecision'>;
  runner: Pick<PlanRunner, 'dispatch'>;
  /** The queues the runner fills (actions, then notifications): `settle` waits for them to drain. */
  queues: readonly Pick<JobQueue<unknown>, 'drain'>[];
  logger: Logger;
}

export class DecisionDispatcher {
  private chain: Promise<void> = Promise.resolve();
  private readonly listeners: ((d: Decision) => void)[] = [];
  /** Decisions handed over and not yet durably recorded (a checkpoint keeps them: a restart records them). */
  private readonly unrecorded = new Map<string, Decision>();
  /** Ids of the decisions handed over whose plan and notifications are not enqueued yet (nor failed to be). */
  private readonly inFlight = new Set<string>();

  constructor(private readonly deps: DecisionDispatcherDeps) {}

  /** Called after a decision is durably recorded (before its jobs are enqueued). */
  onDecision(listener: (d: Decision) => void): void {
    this.listeners.push(listener);
  }

  /** Queues a decision behind the ones before it: audit log, listeners, then the runner. Never throws. */
  dispatch(d: Decision): void {
    const log = this.deps.logger.child({ decisionId: d.id, analysis: d.analysis, service: d.service });
    this.unrecorded.set(d.id, d);
    this.inFlight.add(d.id);
    this.chain = this.chain
      .then(async () => {
        await this.deps.audit.recordDecision(d); // recorded BEFORE any job is enqueued
        this.unrecorded.delete(d.id);
        log.info({ outcome: d.outcome, reason: d.reason, plan: d.plan, dryRun: d.dryRun }, 'decision recorded');
        for (const l of this.listeners) l(d);
        await this.deps.runner.dispatch(d);
      })
      .catch((e: unknown) => log.error({ err: e }, 'decision could not be recorded or dispatched'))
      .finally(() => this.inFlight.delete(d.id));
  }

  /** Decisions handed over and not yet dispatched: `recorded` are in the audit log and wait for the queue. */
  pending(): { recorded: number; unrecorded: number } {
    const unrecorded = [...this.inFlight].filter((id) => this.unrecorded.has(id)).length;
    return { recorded: this.inFlight.size - unrecorded, unrecorded };
  }

  /** Decisions dispatched and not yet recorded in the audit log, oldest first. */
  unrecordedDecisions(): Decision[] {
    return [...this.unrecorded.values()];
  }

  /** Resolves when the decisions dispatched so far are recorded and handed to the runner. */
  dispatched(): Promise<void> {
    return this.chain;
  }

  /** Waits until no decision is on its way and the queues are drained (each drain bounded by `deadline`). */
  async settle(deadline: number): Promise<void> {
    let seen: Promise<void> | undefined;
    while (seen !== this.chain) {
      seen = this.chain;
      await seen;
      const left = Math.max(1, deadline - Date.now());
      for (const q of this.deps.queues) await q.drain(left);
    }
  }
}
