/**
 * Promotion plans through a running agent (issue 17): real OTel SDK spans in synthetic time
 * (test/helpers/promotion-drive.ts), the `noop` traffic connector as the router (real peers:
 * test/integration/promotion-peers.test.ts, and test/integration/connectors/traffic for setCanaryShare itself).
 * - a healthy canary walks 10 → 50 → 100%: each step after minLooksPerStep looks, the 50% gate waits for an approval
 *   given through the API (recorded with who and why), and at 100% the analysis is promoted by the plan;
 * - a regressed canary is rolled back at the step where it shows, and no further share is set.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli-run.js';
import { type Cleanups, promotionConfig, promotionDrive } from '../helpers/promotion-drive.js';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const CONFIG = promotionConfig();

async function run(canaryErrors: number, approveAt: (look: number) => boolean) {
  const drive = await promotionDrive(CONFIG, 'promotion', cleanups);
  const approvals: number[] = [];
  const approvalOutput: string[] = [];
  await drive.run({
    canaryErrors: () => canaryErrors,
    async afterLook(look) {
      if (!approveAt(look)) return;
      // through the CLI, as an operator would
      const args = ['approve', 'checkout:2.0', '--by', 'alice', '--reason', 'error budget fine, go to half'];
      const r = await runCli(...args, '--api', drive.started.apiUrl);
      approvals.push(r.code);
      approvalOutput.push(r.stdout);
    },
  });
  const metrics = await (await fetch(`${drive.started.apiUrl}/metrics`)).text();
  return { decisions: drive.decisions, audit: drive.audit(), approvals, approvalOutput, metrics };
}

describe('promotion plans', () => {
  it('walks a healthy canary 10 → 50 → 100%, waits for the approval of 50%, then promotes', async () => {
    let asked = false;
    const { decisions, audit, approvals, approvalOutput, metrics } = await run(0.01, (look) => {
      // approve once the plan waits (after 10% has had its looks): ask a few looks in
      if (look < 6 || asked) return false;
      asked = true;
      return true;
    });
    const steps = audit.filter((e) => e.type === 'promote-step');
    expect(steps.map((e) => e.share)).toEqual([10, 50, 100]);
    expect(steps[1]).toMatchObject({ analysis: 'checkout:2.0', changed: true });
    expect(String(steps[1]!.detail)).toContain('canary share 50% (was 10%)');
    expect(approvals).toEqual([0]); // the CLI's exit code
    expect(approvalOutput.join('')).toContain('analysis checkout:2.0: 50% approved, recorded in the audit log');
    expect(audit.find((e) => e.type === 'approve')).toMatchObject({
      analysis: 'checkout:2.0',
      share: 50,
      by: 'alice',
      reason: 'error budget fine, go to half',
    });
    // the approval came before the 50% step
    expect(audit.findIndex((e) => e.type === 'approve')).toBeLessThan(audit.indexOf(steps[1]!));
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ outcome: 'promote', manual: { by: 'promotion plan' } });
    // the share gauge of a decided analysis is gone
    expect(metrics).toContain('# TYPE vigil_promotion_share_percent gauge');
    expect(metrics).not.toContain('vigil_promotion_share_percent{');
  }, 60_000);

  it('rolls back a regressed canary at the step where it shows; no further share is set', async () => {
    const { decisions, audit } = await run(0.3, () => false);
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ outcome: 'rollback', plan: ['router'] });
    expect(audit.filter((e) => e.type === 'promote-step').map((e) => e.share)).toEqual([10]);
  }, 60_000);
});
