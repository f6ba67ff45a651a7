/** A rollback decision with a three-step plan, for tests of the plan runner and of the audit log read back. */
import type { Decision } from '../../src/contracts/decision.js';

export function planDecision(over: Partial<Decision> = {}): Decision {
  return {
    id: 'dec-1',
    analysis: 'checkout',
    service: 'checkout',
    outcome: 'rollback',
    reason: 'error rate doubled',
    canaryVersion: '1.4.0',
    baselineVersion: '1.3.2',
    look: 7,
    eventTimeUnixMs: 1_767_225_670_000,
    verdicts: [],
    configHash: 'cfg-abc',
    plan: ['kill-flag', 'shift-traffic', 'undo-deploy'],
    dryRun: false,
    ...over,
  };
}
