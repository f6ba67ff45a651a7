import type {
  ActionContext,
  AnyConnector,
  ConnectorDeps,
  DecisionNotification,
  Notification,
  Notifier,
  OperatorNotification,
  PlanConnector,
} from '../../../src/contracts/connector.js';
import type { Decision, MetricVerdict } from '../../../src/contracts/decision.js';
import { targetOf } from '../../../src/jobs/plan-runner.js';
import { silentLogger } from '../../../src/logger.js';

/** 2026-01-01T00:01:10.000Z: the injected clock of every connector test. */
export const NOW_MS = Date.UTC(2026, 0, 1, 0, 1, 10);
export const NOW_SEC = Math.floor(NOW_MS / 1000);

export const deps: ConnectorDeps = { fetch: globalThis.fetch, now: () => NOW_MS };

export const errorRateFail: MetricVerdict = {
  detector: 'error-rate-sequential',
  metric: 'error-rate',
  phase: 'fail',
  pValue: 0.00312,
  estimate: 2.1034,
  lower: 1.4521,
  upper: 3.0467,
  effect: 'error-rate ratio canary/baseline',
  samples: { baseline: 12480, canary: 1315 },
  summary: 'canary fails 2.1x as often as baseline (5.9% vs 2.8%)',
  alpha: 0.025,
  shadow: false,
};

export const latencyInconclusive: MetricVerdict = {
  detector: 'latency-sequential',
  metric: 'latency',
  phase: 'inconclusive',
  pValue: 0.41,
  estimate: 1.031,
  lower: 0.962,
  upper: 1.108,
  effect: 'latency ratio canary/baseline (geometric mean)',
  samples: { baseline: 12480, canary: 1315 },
  summary: 'latency is within 3% of baseline so far',
  alpha: 0.025,
  shadow: false,
};

export const shadowFail: MetricVerdict = {
  detector: 'latency-quantile',
  metric: 'latency-p99',
  phase: 'fail',
  pValue: 0.00004,
  estimate: 1.52,
  lower: 1.21,
  upper: Infinity,
  effect: 'p99 latency ratio canary/baseline',
  samples: { baseline: 12480, canary: 1315 },
  summary: 'p99 latency is 52% higher on the canary',
  alpha: 0.05,
  shadow: true,
};

/** A rollback on error-rate with concrete numbers (the golden Slack payloads are built from it). */
export function rollbackDecision(overrides: Partial<Decision> = {}): Decision {
  return {
    id: 'dec-01JH2Q7K8Z',
    analysis: 'checkout',
    service: 'checkout',
    outcome: 'rollback',
    reason: 'error-rate of canary v1.8.0 is 2.10x baseline (p 0.0031 < alpha 0.025) at look 7',
    canaryVersion: 'v1.8.0',
    baselineVersion: 'v1.7.3',
    look: 7,
    eventTimeUnixMs: Date.UTC(2026, 0, 1, 0, 1, 0),
    verdicts: [errorRateFail, latencyInconclusive, shadowFail],
    configHash: 'sha256:3f9a1c07d2e4',
    plan: ['kill-flag', 'shift-traffic', 'undo-deploy'],
    dryRun: false,
    ...overrides,
  };
}

/** What the plan runner tells a connector about a decision (the runner's own mapping). */
export { targetOf };

export function actionContext(d: Decision, opts: { dryRun?: boolean; signal?: AbortSignal } = {}): ActionContext {
  return {
    logger: silentLogger(),
    signal: opts.signal ?? new AbortController().signal,
    dryRun: opts.dryRun ?? false,
    target: targetOf(d),
    decision: d,
  };
}

export function notifyContext(opts: { dryRun?: boolean; signal?: AbortSignal } = {}) {
  return {
    logger: silentLogger(),
    signal: opts.signal ?? new AbortController().signal,
    dryRun: opts.dryRun ?? false,
  };
}

export function actionFailed(d: Decision = rollbackDecision()): DecisionNotification {
  return {
    kind: 'action-failed',
    decision: d,
    link: 'https://vigil.example.com/api/decisions/dec-01JH2Q7K8Z',
    failure: {
      connector: 'shift-traffic',
      error: 'traffic answered HTTP 403: route checkout-canary is owned by another controller',
      code: 'VIGIL_ERR_CONNECTOR_HTTP_4XX',
    },
  };
}

export function everyNotification(d: Decision = rollbackDecision()): DecisionNotification[] {
  return [
    { kind: 'decision', decision: d, link: 'https://vigil.example.com/api/decisions/dec-01JH2Q7K8Z' },
    actionFailed(d),
    {
      kind: 'plan-completed',
      decision: d,
      steps: [
        { connector: 'kill-flag', changed: true, detail: 'flag checkout-v2 set to off' },
        { connector: 'shift-traffic', changed: false, detail: 'all weight already on baseline' },
      ],
    },
  ];
}

/** When the operator acted in the fixtures: 2026-01-01T00:01:05.000Z (wall clock). */
export const OPERATOR_AT_MS = Date.UTC(2026, 0, 1, 0, 1, 5);

/** Who acted by hand and why, as Decision.manual and OperatorNotification.operator carry it. */
export const ALICE = {
  by: 'alice',
  reason: 'database migration on the orders DB until 14:00',
  token: 'ops-bot',
  atUnixMs: OPERATOR_AT_MS,
} as const;

/** Text that every vendor must show as typed: HTML, Markdown, mentions and a masked link. */
export const HOSTILE = '<script>alert(1)</script> *bold* _it_ @here <!channel> [x](https://evil.example)';

/** A rollback an operator decided by hand (`POST /api/v1/analyses/checkout/rollback`). */
export function manualRollback(overrides: Partial<Decision> = {}): Decision {
  return rollbackDecision({
    id: 'd-manual0000000001',
    reason: `rollback by hand: ${ALICE.by}: ${ALICE.reason}`,
    manual: { ...ALICE },
    ...overrides,
  });
}

/** An operator paused the analysis `checkout` of canary v1.8.0 (`POST /api/v1/analyses/checkout/pause`). */
export function operatorNotification(
  overrides: {
    operator?: Partial<OperatorNotification['operator']>;
    analysis?: Partial<OperatorNotification['analysis']>;
  } & Partial<Pick<OperatorNotification, 'dryRun' | 'link' | 'promotion'>> = {},
): OperatorNotification {
  const { operator, analysis, ...rest } = overrides;
  return {
    kind: 'operator',
    operator: { action: 'pause', ...ALICE, ...operator },
    analysis: {
      id: 'checkout',
      service: 'checkout',
      canaryVersion: 'v1.8.0',
      baselineVersion: 'v1.7.3',
      look: 7,
      phase: 'running',
      why: `paused by ${ALICE.by} (${ALICE.reason}): nothing is decided until it is resumed`,
      ...analysis,
    },
    dryRun: false,
    link: 'https://vigil.example.com/api/v1/analyses/checkout',
    ...rest,
  };
}

/** The promotion plan's calls (issue 17): it waits for an approval of 50% at 25%, or could not set 50%. */
export function promotionNotification(action: 'approval-needed' | 'promotion-held' | 'approve'): OperatorNotification {
  const plan = { by: 'promotion plan', token: 'vigil' };
  if (action === 'approve')
    return operatorNotification({ operator: { action }, promotion: { share: 50, inPlace: 25 } });
  if (action === 'approval-needed')
    return operatorNotification({
      operator: { action, ...plan, reason: 'the plan waits for an approval of 50%' },
      analysis: { why: 'waiting for an approval of 50%' },
      promotion: { share: 50, inPlace: 25 },
    });
  return operatorNotification({
    operator: { action, ...plan, reason: 'held: the share 50% could not be set (nginx -t failed)' },
    promotion: { share: 50, inPlace: 25, connector: 'router', error: 'nginx -t failed' },
  });
}

/** Every kind of notification: a decision's three, a rollback by hand, an operator's pause, resume and approval, the
 *  promotion plan's call for an approval and its hold. */
export function everyKind(): Notification[] {
  return [
    ...everyNotification(),
    { kind: 'decision', decision: manualRollback() },
    operatorNotification(),
    operatorNotification({ operator: { action: 'resume' }, analysis: { phase: 'rollback' } }),
    promotionNotification('approve'),
    promotionNotification('approval-needed'),
    promotionNotification('promotion-held'),
  ];
}

/** An operator's pause whose every text (who, why, token, names, versions, ids) is `text`. */
export function hugeOperatorNotification(text: string): OperatorNotification {
  return operatorNotification({
    operator: { by: text, reason: text, token: text },
    analysis: { id: text, service: text, canaryVersion: text, baselineVersion: text, why: text },
  });
}

/** Narrows a factory's product to a plan connector (fails the test if it is a notifier). */
export function asPlan(c: AnyConnector): PlanConnector {
  if (c.kind === 'notifier') throw new Error(`${c.name} is a notifier, expected a plan connector`);
  return c;
}

/** Narrows a factory's product to a notifier (fails the test otherwise). */
export function asNotifier(c: AnyConnector): Notifier {
  if (c.kind !== 'notifier') throw new Error(`${c.name} is a ${c.kind} connector, expected a notifier`);
  return c;
}
