/**
 * Promotion plans through a running agent (issue 17): real OTel SDK spans in synthetic time, the `noop` traffic
 * connector as the router (real peers: test/integration/connectors/traffic for setCanaryShare itself).
 * - a healthy canary walks 10 → 50 → 100%: each step after minLooksPerStep looks, the 50% gate waits for an approval
 *   given through the API (recorded with who and why), and at 100% the analysis is promoted by the plan;
 * - a regressed canary is rolled back at the step where it shows, and no further share is set.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../src/contracts/index.js';
import { seededRandom } from '../../src/seeded-random.js';
import { auditEntries } from '../helpers/api-agent.js';
import { runCli } from '../helpers/cli-run.js';
import { startTestAgent } from '../helpers/test-agent.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const CONFIG = `
analysis: { interval: 10s, allowedLateness: 1s, minSamples: 25, maxDuration: 1h, alpha: 0.01 }
connectors: [{ name: router, type: noop, options: { kind: traffic } }]
plan: [router]
rollouts:
  - service: checkout
    promote: { via: router, steps: [10, 50, 100], minLooksPerStep: 2, approve: [50] }
server: { auth: { open: true } }
`;

function deployment(url: string, version: string, cohort: string) {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'checkout',
      'service.version': version,
      'vigil.cohort': cohort,
    }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${url}/v1/traces` }), {
        maxQueueSize: 4096,
        maxExportBatchSize: 1024,
        scheduledDelayMillis: 60_000,
      }),
    ],
  });
  cleanups.push(() => provider.shutdown());
  return { provider, tracer: provider.getTracer('@shop/http') };
}

async function run(canaryErrors: number, approveAt: (look: number) => boolean) {
  const started = await startTestAgent(CONFIG, 'promotion');
  cleanups.push(() => started.agent.stop());
  const decisions: Decision[] = [];
  started.agent.onDecision((d) => decisions.push(d));
  const baseline = deployment(started.otlpHttpUrl, '1.0', 'baseline');
  const canary = deployment(started.otlpHttpUrl, '2.0', 'canary');
  const rand = seededRandom(17);
  const T0 = Math.floor(Date.now() / 10_000) * 10_000 - 3_600_000;
  const approvals: number[] = [];
  const approvalOutput: string[] = [];
  for (let look = 0; look < 40 && decisions.length === 0; look++) {
    for (const [d, errors] of [
      [baseline, 0.01],
      [canary, canaryErrors],
    ] as const) {
      for (let i = 0; i < 100; i++) {
        const end = T0 + look * 10_000 + i * 100;
        const s = d.tracer.startSpan('GET /cart', { kind: SpanKind.SERVER, startTime: end - 20 });
        if (rand() < errors) s.setStatus({ code: SpanStatusCode.ERROR });
        s.end(end);
      }
    }
    await Promise.all([baseline.provider.forceFlush(), canary.provider.forceFlush()]);
    await started.agent.settle();
    await new Promise((resolve) => setTimeout(resolve, 20)); // the share is set between looks
    if (approveAt(look)) {
      // through the CLI, as an operator would
      const args = ['approve', 'checkout:2.0', '--by', 'alice', '--reason', 'error budget fine, go to half'];
      const r = await runCli(...args, '--api', started.apiUrl);
      approvals.push(r.code);
      approvalOutput.push(r.stdout);
    }
  }
  await started.agent.settle();
  const audit = auditEntries(join(started.dir, 'audit.jsonl'));
  return { decisions, audit, approvals, approvalOutput };
}

describe('promotion plans', () => {
  it('walks a healthy canary 10 → 50 → 100%, waits for the approval of 50%, then promotes', async () => {
    let asked = false;
    const { decisions, audit, approvals, approvalOutput } = await run(0.01, (look) => {
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
  }, 60_000);

  it('rolls back a regressed canary at the step where it shows; no further share is set', async () => {
    const { decisions, audit } = await run(0.3, () => false);
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ outcome: 'rollback', plan: ['router'] });
    expect(audit.filter((e) => e.type === 'promote-step').map((e) => e.share)).toEqual([10]);
  }, 60_000);
});
