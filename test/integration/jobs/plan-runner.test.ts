/**
 * The plan runner against both queue adapters. Connectors and notifiers are in-test doubles that record their
 * calls (they stand in for vendors, not for the runner); the queues and the runner are the real ones.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type {
  ActionContext,
  DecisionNotification,
  Notifier,
  OperatorNotification,
  PlanConnector,
} from '../../../src/contracts/connector.js';
import type { Decision } from '../../../src/contracts/decision.js';
import { planDecision } from '../../helpers/decisions.js';
import { VigilError } from '../../../src/errors.js';
import { createPlanRunner, type NotifyJob, type PlanRunner, type StepJob } from '../../../src/jobs/plan-runner.js';
import type { JobQueue, RetryPolicy } from '../../../src/jobs/queue.js';
import { silentLogger } from '../../../src/logger.js';
import { captureLogs } from '../../helpers/log-lines.js';
import type { Logger } from 'pino';
import { ADAPTERS, gate, queueFactory } from './queue-adapters.js';

const decision = (over: Partial<Decision> = {}): Decision => planDecision(over);

const PAUSED_AT = 1_767_225_665_000;
/** What the API hands over after a pause: the analysis' snapshot, which carries far more than the notification. */
const snapshot = {
  id: 'checkout',
  service: 'checkout',
  canaryVersion: '1.4.0',
  baselineVersion: '1.3.2',
  look: 7,
  phase: 'running' as const,
  why: 'paused by alice (db migration): nothing is decided until it is resumed',
  startedAtUnixMs: 1_767_225_000_000,
  verdicts: [],
  totals: { baseline: { requests: 1200, errors: 3 }, canary: { requests: 130, errors: 1 } },
  paused: { by: 'alice', reason: 'db migration', token: 'ops-bot', atUnixMs: PAUSED_AT },
};
const pause = (over: Partial<OperatorNotification['operator']> = {}): OperatorNotification => ({
  kind: 'operator',
  operator: { action: 'pause', by: 'alice', reason: 'db migration', token: 'ops-bot', atUnixMs: PAUSED_AT, ...over },
  analysis: snapshot,
  dryRun: false,
});

interface World {
  events: string[];
  ctxs: { connector: string; dryRun: boolean; decisionId: string }[];
  posts: { notifier: string; kind: string; dryRun: boolean; n: DecisionNotification }[];
  /** Operator notifications (pause / resume), apart so the decision tests read `posts` as before. */
  operatorPosts: { notifier: string; dryRun: boolean; n: OperatorNotification }[];
  audit: Record<string, unknown>[];
  metrics: string[];
}

type Behaviour = (call: number, ctx: ActionContext) => Promise<void>;
const succeed: Behaviour = () => Promise.resolve();

function connector(w: World, name: string, behave: Behaviour = succeed): PlanConnector {
  let calls = 0;
  return {
    kind: 'flag',
    name,
    type: 'test',
    async apply(ctx) {
      calls++;
      w.events.push(`start:${name}`);
      w.ctxs.push({ connector: name, dryRun: ctx.dryRun, decisionId: ctx.target.decisionId });
      await new Promise((r) => setTimeout(r, 15)); // long enough to overlap with a concurrent step, if any ran
      await behave(calls, ctx);
      w.events.push(`end:${name}`);
      return { changed: !ctx.dryRun, detail: `${name} set to ${ctx.target.baselineVersion}` };
    },
  };
}

function notifier(w: World, name: string, post?: Notifier['post']): Notifier {
  return {
    kind: 'notifier',
    name,
    type: 'test',
    post:
      post ??
      ((n, ctx) => {
        if (n.kind === 'operator') w.operatorPosts.push({ notifier: name, dryRun: ctx.dryRun, n });
        else w.posts.push({ notifier: name, kind: n.kind, dryRun: ctx.dryRun, n });
        return Promise.resolve();
      }),
  };
}

describe.each(ADAPTERS)('plan runner on the $kind queue', ({ kind }) => {
  const factory = queueFactory(kind);
  let runner: PlanRunner | undefined;
  afterEach(async () => {
    await runner?.close();
    runner = undefined;
    await factory.cleanup();
  });

  function setup(opts: {
    connectors: PlanConnector[];
    notifiers: Notifier[];
    w: World;
    dryRun?: boolean;
    stepTimeoutMs?: number;
    notifyPolicy?: RetryPolicy;
    notifyConcurrency?: number;
    logger?: Logger;
  }): { actions: JobQueue<StepJob>; notifications: JobQueue<NotifyJob>; settle: () => Promise<void> } {
    // Several action workers: if the runner enqueued steps eagerly, they would overlap and the order test would see it.
    const actions = factory.make<StepJob>('actions', { attempts: 3, backoffMs: 10 }, { concurrency: 4 });
    const notifications = factory.make<NotifyJob>(
      'notifications',
      opts.notifyPolicy ?? { attempts: 2, backoffMs: 10 },
      { concurrency: opts.notifyConcurrency ?? 1 },
    );
    runner = createPlanRunner({
      actions,
      notifications,
      connectors: new Map(opts.connectors.map((c) => [c.name, c])),
      notifiers: opts.notifiers,
      audit: {
        append: (e) => {
          opts.w.audit.push(e);
          return Promise.resolve();
        },
      },
      logger: opts.logger ?? silentLogger(),
      dryRun: opts.dryRun ?? false,
      stepTimeoutMs: opts.stepTimeoutMs ?? 2_000,
      metrics: {
        jobOutcome: (k, o, c) => opts.w.metrics.push(`${k}:${o}:${c}`),
        jobRefused: (k) => opts.w.metrics.push(`${k}:refused`),
      },
      link: (d) => `https://vigil.example/decisions/${d.id}`,
      analysisLink: (id) => `https://vigil.example/analyses/${id}`,
    });
    runner.start();
    return {
      actions,
      notifications,
      settle: async () => {
        await actions.drain(10_000); // step jobs enqueue their notifications before they complete
        await notifications.drain(10_000);
      },
    };
  }

  const newWorld = (): World => ({ events: [], ctxs: [], posts: [], operatorPosts: [], audit: [], metrics: [] });

  it('a decision whose jobs are refused as duplicates is loud: an error line per job and a metric, never silence', async () => {
    const w = newWorld();
    const logs = captureLogs('info');
    const { settle } = setup({
      w,
      connectors: [connector(w, 'kill-flag')],
      notifiers: [notifier(w, 'ops')],
      logger: logs.logger,
    });
    await runner?.dispatch(decision({ plan: ['kill-flag'] }));
    await settle();
    expect(w.metrics.filter((m) => m.endsWith(':refused'))).toEqual([]);
    // the same id again (before analysis incarnations, a resumed version's second rollback looked like this)
    await runner?.dispatch(decision({ plan: ['kill-flag'] }));
    await settle();
    expect(w.ctxs).toHaveLength(1); // the plan did not run twice
    expect(w.metrics.filter((m) => m.endsWith(':refused')).sort()).toEqual([
      'actions:refused',
      'notifications:refused',
    ]);
    const errors = logs.parsed().filter((l) => l.level === 50);
    expect(errors.map((l) => [l.queue, l.decisionId])).toEqual(
      expect.arrayContaining([
        ['actions', 'dec-1'],
        ['notifications', 'dec-1'],
      ]),
    );
    expect(errors.every((l) => String(l.msg).includes('will NOT run'))).toBe(true);
  });

  it('runs the plan in order, audits each step and notifies decision and plan-completed', async () => {
    const w = newWorld();
    const { settle } = setup({
      w,
      connectors: ['kill-flag', 'shift-traffic', 'undo-deploy'].map((n) => connector(w, n)),
      notifiers: [notifier(w, 'ops'), notifier(w, 'team')],
    });
    await runner?.dispatch(decision());
    await settle();
    expect(w.events).toEqual([
      'start:kill-flag',
      'end:kill-flag',
      'start:shift-traffic',
      'end:shift-traffic',
      'start:undo-deploy',
      'end:undo-deploy',
    ]);
    expect(w.audit).toEqual(
      ['kill-flag', 'shift-traffic', 'undo-deploy'].map((c, step): unknown =>
        expect.objectContaining({
          type: 'action',
          decisionId: 'dec-1',
          connector: c,
          step,
          changed: true,
          detail: `${c} set to 1.3.2`,
          dryRun: false,
          attempt: 1,
        }),
      ),
    );
    const byNotifier = (n: string): string[] =>
      w.posts
        .filter((p) => p.notifier === n)
        .map((p) => p.kind)
        .sort();
    expect(byNotifier('ops')).toEqual(['decision', 'plan-completed']);
    expect(byNotifier('team')).toEqual(['decision', 'plan-completed']);
    const done = w.posts.find((p) => p.kind === 'plan-completed');
    expect(done?.n.steps?.map((s) => s.connector)).toEqual(['kill-flag', 'shift-traffic', 'undo-deploy']);
    expect(done?.n.link).toBe('https://vigil.example/decisions/dec-1');
    expect(w.metrics.filter((m) => m.startsWith('actions:'))).toEqual([
      'actions:completed:kill-flag',
      'actions:completed:shift-traffic',
      'actions:completed:undo-deploy',
    ]);
  });

  it('is idempotent: dispatching the same decision twice applies each step once', async () => {
    const w = newWorld();
    const { settle } = setup({
      w,
      connectors: ['kill-flag', 'shift-traffic', 'undo-deploy'].map((n) => connector(w, n)),
      notifiers: [notifier(w, 'ops')],
    });
    await Promise.all([runner?.dispatch(decision()), runner?.dispatch(decision())]);
    await settle();
    await runner?.dispatch(decision());
    await settle();
    expect(w.ctxs.map((c) => c.connector)).toEqual(['kill-flag', 'shift-traffic', 'undo-deploy']);
    expect(w.posts.map((p) => p.kind).sort()).toEqual(['decision', 'plan-completed']);
  });

  it('recover goes on from the step given with the results given, once; a warn line names the plan and the step', async () => {
    const w = newWorld();
    const logs = captureLogs('info');
    const { settle } = setup({
      w,
      connectors: ['kill-flag', 'shift-traffic', 'undo-deploy'].map((n) => connector(w, n)),
      notifiers: [notifier(w, 'ops')],
      logger: logs.logger,
    });
    const step0 = { connector: 'kill-flag', changed: true, detail: 'done before the restart' };
    expect(await runner?.recover(decision(), 1, [step0])).toEqual({ added: true });
    await settle();
    expect(w.ctxs.map((c) => c.connector)).toEqual(['shift-traffic', 'undo-deploy']);
    expect(w.audit.map((e) => [e.type, e.step])).toEqual([
      ['action', 1],
      ['action', 2],
    ]);
    // no 'decision' notification again (step 0 had run); plan-completed carries the step done before the restart
    expect(w.posts.map((p) => p.kind)).toEqual(['plan-completed']);
    expect(w.posts[0]?.n.steps).toEqual([
      step0,
      { connector: 'shift-traffic', changed: true, detail: 'shift-traffic set to 1.3.2' },
      { connector: 'undo-deploy', changed: true, detail: 'undo-deploy set to 1.3.2' },
    ]);
    const warn = logs.parsed().filter((l) => l.level === 40 && String(l.msg).startsWith('resuming'));
    expect(warn).toEqual([
      expect.objectContaining({ decisionId: 'dec-1', step: 1, connector: 'shift-traffic', queue: 'actions' }),
    ]);
  });

  it('recover from step 0 enqueues the decision notifications too, as dispatch does', async () => {
    const w = newWorld();
    const { settle } = setup({
      w,
      connectors: ['kill-flag', 'shift-traffic', 'undo-deploy'].map((n) => connector(w, n)),
      notifiers: [notifier(w, 'ops')],
    });
    expect(await runner?.recover(decision(), 0, [])).toEqual({ added: true });
    await settle();
    expect(w.ctxs.map((c) => c.connector)).toEqual(['kill-flag', 'shift-traffic', 'undo-deploy']);
    expect(w.posts.map((p) => p.kind).sort()).toEqual(['decision', 'plan-completed']);
  });

  it('recover of a plan whose job is already in the queue runs nothing again and is not a refusal', async () => {
    const w = newWorld();
    const logs = captureLogs('info');
    const { settle } = setup({
      w,
      connectors: ['kill-flag', 'shift-traffic', 'undo-deploy'].map((n) => connector(w, n)),
      notifiers: [notifier(w, 'ops')],
      logger: logs.logger,
    });
    await runner?.dispatch(decision());
    await settle(); // every job of the plan is finished and still known to the queue
    expect(await runner?.recover(decision(), 0, [])).toEqual({ added: false });
    const step0 = { connector: 'kill-flag', changed: true, detail: 'kill-flag set to 1.3.2' };
    expect(await runner?.recover(decision(), 1, [step0])).toEqual({ added: false });
    await settle();
    expect(w.ctxs.map((c) => c.connector)).toEqual(['kill-flag', 'shift-traffic', 'undo-deploy']);
    expect(w.posts.map((p) => p.kind).sort()).toEqual(['decision', 'plan-completed']);
    expect(w.metrics.filter((m) => m.endsWith(':refused'))).toEqual([]);
    const lines = logs.parsed();
    expect(lines.filter((l) => l.level === 50)).toEqual([]);
    expect(
      lines.filter((l) => String(l.msg).startsWith('plan already queued')).map((l) => [l.level, l.queue, l.jobId]),
    ).toEqual(
      expect.arrayContaining([
        [30, 'actions', 'checkout:dec-1:kill-flag'],
        [30, 'notifications', 'checkout:dec-1:notify:ops:decision'],
        [30, 'actions', 'checkout:dec-1:shift-traffic'],
      ]),
    );
  });

  it('recover refuses a step that is not in the rollback plan, or results that do not match it', async () => {
    const w = newWorld();
    setup({ w, connectors: [connector(w, 'kill-flag')], notifiers: [] });
    const r = { connector: 'kill-flag', changed: true, detail: 'x' };
    await expect(runner!.recover(decision(), 3, [r, r, r])).rejects.toThrow(RangeError);
    await expect(runner!.recover(decision(), -1, [])).rejects.toThrow(RangeError);
    await expect(runner!.recover(decision(), 2, [r])).rejects.toThrow(RangeError);
    await expect(runner!.recover(decision({ outcome: 'promote' }), 0, [])).rejects.toThrow(RangeError);
    expect(w.ctxs).toEqual([]);
  });

  it('stops the plan on a permanent failure, audits it and sends action-failed', async () => {
    const w = newWorld();
    const { settle } = setup({
      w,
      connectors: [
        connector(w, 'kill-flag'),
        connector(w, 'shift-traffic', () =>
          Promise.reject(new VigilError('VIGIL_ERR_CONNECTOR_HTTP_4XX', ['proxy answered HTTP 403'])),
        ),
        connector(w, 'undo-deploy'),
      ],
      notifiers: [notifier(w, 'ops')],
    });
    await runner?.dispatch(decision());
    await settle();
    expect(w.ctxs.map((c) => c.connector)).toEqual(['kill-flag', 'shift-traffic']); // once, no retry; step 3 never ran
    expect(w.audit).toEqual([
      expect.objectContaining({ type: 'action', connector: 'kill-flag', step: 0 }),
      expect.objectContaining({
        type: 'action-failed',
        decisionId: 'dec-1',
        connector: 'shift-traffic',
        step: 1,
        attempt: 1,
        code: 'VIGIL_ERR_CONNECTOR_HTTP_4XX',
        error: expect.stringContaining('HTTP 403') as unknown,
      }),
    ]);
    const failed = w.posts.filter((p) => p.kind === 'action-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.n.failure).toEqual({
      connector: 'shift-traffic',
      error: expect.stringContaining('403') as unknown,
      code: 'VIGIL_ERR_CONNECTOR_HTTP_4XX',
    });
    expect(w.posts.some((p) => p.kind === 'plan-completed')).toBe(false);
    expect(w.metrics).toContain('actions:failed:shift-traffic');
  });

  it('retries a retryable failure and then finishes the plan', async () => {
    const w = newWorld();
    const { settle } = setup({
      w,
      connectors: [
        connector(w, 'kill-flag'),
        connector(w, 'shift-traffic', (call) =>
          call === 1
            ? Promise.reject(new VigilError('VIGIL_ERR_CONNECTOR_HTTP_5XX', ['proxy answered HTTP 503']))
            : Promise.resolve(),
        ),
        connector(w, 'undo-deploy'),
      ],
      notifiers: [notifier(w, 'ops')],
    });
    await runner?.dispatch(decision());
    await settle();
    expect(w.ctxs.map((c) => c.connector)).toEqual(['kill-flag', 'shift-traffic', 'shift-traffic', 'undo-deploy']);
    expect(w.audit.map((e) => [e.type, e.connector, e.attempt])).toEqual([
      ['action', 'kill-flag', 1],
      ['action', 'shift-traffic', 2],
      ['action', 'undo-deploy', 1],
    ]);
    expect(w.metrics).toContain('actions:retry:shift-traffic');
    expect(w.posts.map((p) => p.kind).sort()).toEqual(['decision', 'plan-completed']);
  });

  it('treats a connector that ignores its deadline as a retryable timeout', async () => {
    const w = newWorld();
    const { settle } = setup({
      w,
      stepTimeoutMs: 100,
      connectors: [
        connector(w, 'kill-flag', (call) => (call === 1 ? new Promise<void>(() => undefined) : Promise.resolve())),
      ],
      notifiers: [notifier(w, 'ops')],
    });
    await runner?.dispatch(decision({ plan: ['kill-flag'] }));
    await settle();
    expect(w.ctxs.map((c) => c.connector)).toEqual(['kill-flag', 'kill-flag']);
    expect(w.audit).toEqual([expect.objectContaining({ type: 'action', connector: 'kill-flag', attempt: 2 })]);
  });

  it('a notifier that always fails never delays or blocks the plan', async () => {
    const w = newWorld();
    const hang = gate(); // the chat service never answers
    const broken = notifier(w, 'chat', async (n, ctx) => {
      w.events.push(`chat-called:${n.kind}`);
      ctx.signal.addEventListener('abort', () => w.events.push(`chat-timeout:${n.kind}`));
      await hang.promise;
    });
    const { actions, notifications } = setup({
      w,
      stepTimeoutMs: 800,
      notifyPolicy: { attempts: 1, backoffMs: 0 },
      notifyConcurrency: 2,
      connectors: ['kill-flag', 'shift-traffic', 'undo-deploy'].map((n) => connector(w, n)),
      notifiers: [broken, notifier(w, 'ops')],
    });
    await runner?.dispatch(decision());
    await actions.drain(10_000);
    // The whole plan ran while the chat post was hanging (called, not yet timed out).
    expect(w.ctxs.map((c) => c.connector)).toEqual(['kill-flag', 'shift-traffic', 'undo-deploy']);
    expect(w.events).toContain('chat-called:decision');
    expect(w.events.filter((e) => e.startsWith('chat-timeout'))).toEqual([]);
    await notifications.drain(10_000);
    hang.open();
    expect(
      w.posts
        .filter((p) => p.notifier === 'ops')
        .map((p) => p.kind)
        .sort(),
    ).toEqual(['decision', 'plan-completed']);
    expect(
      w.audit
        .filter((e) => e.type === 'notify-failed')
        .map((e) => [e.notifier, e.kind, e.code])
        .sort(),
    ).toEqual([
      ['chat', 'decision', 'VIGIL_ERR_CONNECTOR_TIMEOUT'],
      ['chat', 'plan-completed', 'VIGIL_ERR_CONNECTOR_TIMEOUT'],
    ]);
  });

  it.each([
    { why: 'the global kill switch', global: true, own: false },
    { why: "the decision's own flag", global: false, own: true },
  ])('dry-run via $why passes dryRun: true to connectors and notifiers', async ({ global, own }) => {
    const w = newWorld();
    const { settle } = setup({
      w,
      dryRun: global,
      connectors: ['kill-flag', 'shift-traffic'].map((n) => connector(w, n)),
      notifiers: [notifier(w, 'ops')],
    });
    await runner?.dispatch(decision({ plan: ['kill-flag', 'shift-traffic'], dryRun: own }));
    await settle();
    expect(w.ctxs).toEqual([
      { connector: 'kill-flag', dryRun: true, decisionId: 'dec-1' },
      { connector: 'shift-traffic', dryRun: true, decisionId: 'dec-1' },
    ]);
    expect(w.audit.map((e) => [e.connector, e.dryRun, e.changed])).toEqual([
      ['kill-flag', true, false],
      ['shift-traffic', true, false],
    ]);
    expect(w.posts.map((p) => p.dryRun)).toEqual([true, true]);
  });

  it('sends only the decision notification for a promote, and fails a plan naming an unknown connector', async () => {
    const w = newWorld();
    const { settle } = setup({ w, connectors: [connector(w, 'kill-flag')], notifiers: [notifier(w, 'ops')] });
    await runner?.dispatch(decision({ id: 'dec-p', outcome: 'promote', plan: [] }));
    await runner?.dispatch(decision({ id: 'dec-u', plan: ['no-such-thing', 'kill-flag'] }));
    await settle();
    expect(w.ctxs).toEqual([]);
    expect(w.posts.map((p) => `${p.n.decision.id}:${p.kind}`).sort()).toEqual([
      'dec-p:decision',
      'dec-u:action-failed',
      'dec-u:decision',
    ]);
    expect(w.audit).toEqual([
      expect.objectContaining({
        type: 'action-failed',
        connector: 'no-such-thing',
        code: 'VIGIL_ERR_CONFIG_UNKNOWN_CONNECTOR',
      }),
    ]);
  });
  it("notifyOperator posts an operator's pause once per notifier (only its declared fields, the analysis link); the same action again is not posted twice", async () => {
    const w = newWorld();
    const logs = captureLogs('info');
    const { settle } = setup({
      w,
      connectors: [],
      notifiers: [notifier(w, 'ops'), notifier(w, 'team')],
      logger: logs.logger,
    });
    await Promise.all([runner?.notifyOperator(pause()), runner?.notifyOperator(pause())]);
    await settle();
    await runner?.notifyOperator(pause()); // a retried API call: the same analysis, action and time
    await settle();
    const expected: OperatorNotification = {
      kind: 'operator',
      operator: { action: 'pause', by: 'alice', reason: 'db migration', token: 'ops-bot', atUnixMs: PAUSED_AT },
      analysis: {
        id: 'checkout',
        service: 'checkout',
        canaryVersion: '1.4.0',
        baselineVersion: '1.3.2',
        look: 7,
        phase: 'running',
        why: 'paused by alice (db migration): nothing is decided until it is resumed',
      },
      dryRun: false,
      link: 'https://vigil.example/analyses/checkout',
    };
    expect(w.operatorPosts.map((p) => p.notifier).sort()).toEqual(['ops', 'team']);
    for (const p of w.operatorPosts) {
      expect(p.n).toEqual(expected); // toEqual: no snapshot field (verdicts, totals, paused) travelled
      expect(p.dryRun).toBe(false);
    }
    expect(w.posts).toEqual([]);
    expect(w.metrics.sort()).toEqual(['notifications:completed:ops', 'notifications:completed:team']);
    const lines = logs.parsed();
    expect(lines.filter((l) => Number(l.level) >= 50)).toEqual([]);
    expect(
      lines
        .filter((l) => String(l.msg).startsWith('operator notification already queued'))
        .map((l) => [l.level, l.jobId])
        .sort(),
    ).toEqual([
      [30, `checkout:operator:pause:${PAUSED_AT}:notify:ops`],
      [30, `checkout:operator:pause:${PAUSED_AT}:notify:ops`],
      [30, `checkout:operator:pause:${PAUSED_AT}:notify:team`],
      [30, `checkout:operator:pause:${PAUSED_AT}:notify:team`],
    ]);
    // a later action (the resume, or another pause) is another notification
    await runner?.notifyOperator(pause({ action: 'resume', atUnixMs: PAUSED_AT + 60_000 }));
    await settle();
    expect(w.operatorPosts.map((p) => `${p.notifier}:${p.n.operator.action}`).sort()).toEqual([
      'ops:pause',
      'ops:resume',
      'team:pause',
      'team:resume',
    ]);
  });

  it('an operator notification is retried, delivered as a dry run under the kill switch, and audited when it fails for good', async () => {
    const w = newWorld();
    let calls = 0;
    const flaky = notifier(w, 'flaky', (n, ctx) => {
      calls++;
      if (calls === 1)
        return Promise.reject(new VigilError('VIGIL_ERR_CONNECTOR_HTTP_5XX', ['chat answered HTTP 503']));
      if (n.kind === 'operator') w.operatorPosts.push({ notifier: 'flaky', dryRun: ctx.dryRun, n });
      w.events.push(JSON.stringify(runner?.running()));
      return Promise.resolve();
    });
    const broken = notifier(w, 'chat', () =>
      Promise.reject(new VigilError('VIGIL_ERR_CONNECTOR_HTTP_4XX', ['chat answered HTTP 403'])),
    );
    const { settle } = setup({ w, dryRun: true, connectors: [], notifiers: [flaky, broken] });
    await runner?.notifyOperator(pause());
    await settle();
    expect(w.operatorPosts.map((p) => [p.notifier, p.dryRun])).toEqual([['flaky', true]]);
    expect(calls).toBe(2);
    expect(JSON.parse(w.events[0]!)).toEqual([
      {
        queue: 'notifications',
        jobId: `checkout:operator:pause:${PAUSED_AT}:notify:flaky`,
        analysis: 'checkout',
        connector: 'flaky',
        kind: 'operator',
      },
    ]);
    expect(w.audit).toEqual([
      {
        type: 'notify-failed',
        analysis: 'checkout',
        notifier: 'chat',
        kind: 'operator',
        action: 'pause',
        atUnixMs: PAUSED_AT,
        attempt: 1,
        error: expect.stringContaining('HTTP 403') as unknown,
        code: 'VIGIL_ERR_CONNECTOR_HTTP_4XX',
      },
    ]);
    expect(w.metrics.sort()).toEqual([
      'notifications:completed:flaky',
      'notifications:failed:chat',
      'notifications:retry:flaky',
    ]);
  });
});
