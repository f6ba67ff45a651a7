import { describe, expect, it } from 'vitest';
import type { Decision } from '../../../src/contracts/decision.js';
import { notifyJobId, stepJobId } from '../../../src/jobs/plan-job-ids.js';

const d = (plan: string[]): Decision => ({
  id: 'dec-7',
  analysis: 'checkout',
  service: 'checkout',
  outcome: 'rollback',
  reason: 'r',
  canaryVersion: '2',
  baselineVersion: '1',
  look: 1,
  eventTimeUnixMs: 0,
  verdicts: [],
  configHash: 'h',
  plan,
  dryRun: false,
});

describe('plan job ids', () => {
  it('are <analysis>:<decision>:<connector>, with #<step> for a connector named again', () => {
    const plan = ['flag', 'proxy', 'flag'];
    expect(plan.map((_, i) => stepJobId(d(plan), i))).toEqual([
      'checkout:dec-7:flag',
      'checkout:dec-7:proxy',
      'checkout:dec-7:flag#2',
    ]);
    expect(notifyJobId(d(plan), 'ops', 'action-failed')).toBe('checkout:dec-7:notify:ops:action-failed');
  });
});
