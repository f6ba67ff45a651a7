import { describe, expect, it } from 'vitest';
import {
  TEXT_LIMITS,
  decisionView,
  fitWithin,
  notificationView,
  openLinkText,
  refLabel,
  safeHttpUrl,
} from '../../../../connectors/shared/notification-view.js';
import { explainOperator } from '../../../../connectors/shared/explain.js';
import type { MetricVerdict } from '../../../../src/contracts/decision.js';
import {
  actionFailed,
  errorRateFail,
  everyNotification,
  manualRollback,
  operatorNotification,
  rollbackDecision,
} from '../../../helpers/connectors/fixtures.js';

describe('notificationView', () => {
  it('explains a rollback: facts, the failing metric, other metrics, the plan', () => {
    const v = notificationView(everyNotification()[0]!, { dryRun: false, maxMetrics: 20 });
    expect(v.title).toBe('Rollback checkout: canary v1.8.0 is worse than baseline v1.7.3');
    expect(v.tone).toBe('danger');
    expect(v.facts.map((f) => `${f.label}=${f.value}`)).toEqual([
      'Service=checkout',
      'Outcome=rollback',
      'Canary=v1.8.0',
      'Baseline=v1.7.3',
      'Look=7',
      'Analysis=checkout',
    ]);
    expect(v.metrics).toEqual([
      {
        name: 'error-rate',
        detector: 'error-rate-sequential',
        phase: 'FAIL',
        effect: 'error-rate ratio canary/baseline 2.10 (bounds 1.45–3.05)',
        evidence: 'p-value 0.0031 (alpha 0.025), samples baseline 12,480 / canary 1,315',
        summary: 'canary fails 2.1x as often as baseline (5.9% vs 2.8%)',
      },
    ]);
    expect(v.otherMetrics).toBe('latency inconclusive, latency-p99 fail (shadow)');
    expect(v.action).toEqual({ kind: 'text', text: 'Rollback plan: kill-flag → shift-traffic → undo-deploy.' });
    expect(v.failure).toBeUndefined();
  });

  it('marks the failed step of an action-failed notification and gives the cause', () => {
    const v = notificationView(actionFailed(), { dryRun: false, maxMetrics: 20 });
    expect(v.action).toEqual({
      kind: 'plan',
      steps: [
        { connector: 'kill-flag', failed: false },
        { connector: 'shift-traffic', failed: true },
        { connector: 'undo-deploy', failed: false },
      ],
    });
    expect(v.failure?.cause).toBe(
      'Connector shift-traffic failed: traffic answered HTTP 403: route checkout-canary is owned by another controller [VIGIL_ERR_CONNECTOR_HTTP_4XX]',
    );
  });

  it('marks a dry-run delivery of a real decision as a dry run', () => {
    const v = notificationView(everyNotification()[0]!, { dryRun: true, maxMetrics: 20 });
    expect(v.dryRun).toBe(true);
    expect(v.title.startsWith('[dry-run] ')).toBe(true);
    expect(v.action).toEqual({ kind: 'text', text: expect.stringContaining('NOT applied') });
  });

  it('caps the metrics and counts the rest', () => {
    const verdicts: MetricVerdict[] = Array.from({ length: 7 }, (_, i) => ({ ...errorRateFail, metric: `m${i}` }));
    const v = notificationView(
      { kind: 'decision', decision: rollbackDecision({ verdicts }) },
      { dryRun: false, maxMetrics: 5 },
    );
    expect(v.metrics.map((m) => m.name)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(v.moreMetrics).toBe(2);
  });

  it('keeps only http(s) links', () => {
    expect(safeHttpUrl('https://vigil.example.com/d/1')).toBe('https://vigil.example.com/d/1');
    expect(safeHttpUrl('javascript:alert(1)')).toBeUndefined();
    expect(safeHttpUrl('not a url')).toBeUndefined();
    const v = notificationView(
      { ...everyNotification()[0]!, link: 'data:text/html,x' },
      { dryRun: false, maxMetrics: 5 },
    );
    expect(v.link).toBeUndefined();
  });
});

describe('notificationView of actions by hand', () => {
  it("an operator's pause: what it means as the lead, By and Why first, the analysis as ref; no metrics, no plan", () => {
    const v = notificationView(operatorNotification(), { dryRun: false, maxMetrics: 20 });
    expect(v).toEqual({
      title: 'checkout canary v1.8.0: analysis paused by alice',
      tone: 'warning',
      reason: 'Looks still run and are shown; nothing is decided until the analysis is resumed.',
      facts: [
        { label: 'By', value: 'alice (token ops-bot)' },
        { label: 'Why', value: 'database migration on the orders DB until 14:00' },
        { label: 'Service', value: 'checkout' },
        { label: 'Canary', value: 'v1.8.0' },
        { label: 'Baseline', value: 'v1.7.3' },
        { label: 'Look', value: '7' },
        { label: 'Analysis', value: 'checkout' },
      ],
      metrics: [],
      moreMetrics: 0,
      link: 'https://vigil.example.com/api/v1/analyses/checkout',
      ref: { heading: 'Analysis', id: 'checkout' },
      footnotes: [],
      subtitle: 'checkout · canary v1.8.0 vs baseline v1.7.3',
      atUnixMs: Date.UTC(2026, 0, 1, 0, 1, 5),
      threadId: 'checkout',
      dryRun: false,
      dryRunNote: 'DRY RUN: Vigil decides and notifies, it changes nothing',
      lines: explainOperator(operatorNotification()).lines,
    });
    expect([refLabel(v), openLinkText(v)]).toEqual(['Analysis checkout', 'Open the analysis']);
  });

  it('a resume is neutral; a dry-run delivery marks it', () => {
    const v = notificationView(operatorNotification({ operator: { action: 'resume' } }), {
      dryRun: true,
      maxMetrics: 20,
    });
    expect(v.tone).toBe('neutral');
    expect(v.dryRun).toBe(true);
    expect(v.title).toBe('[dry-run] checkout canary v1.8.0: analysis resumed by alice');
  });

  it('a decision by hand: By and Why before the other facts, the title by hand; the decision as ref', () => {
    const v = decisionView({ kind: 'decision', decision: manualRollback() }, { dryRun: false, maxMetrics: 20 });
    expect(v.title).toBe('Rollback by hand (alice): checkout canary v1.8.0 → baseline v1.7.3');
    const usual = decisionView({ kind: 'decision', decision: rollbackDecision() }, { dryRun: false, maxMetrics: 20 });
    expect(v.facts).toEqual([
      { label: 'By', value: 'alice (token ops-bot)' },
      { label: 'Why', value: 'database migration on the orders DB until 14:00' },
      ...usual.facts,
    ]);
    expect([refLabel(v), openLinkText(v), v.footnotes]).toEqual([
      'Decision d-manual0000000001',
      'Open the decision',
      ['config sha256:3f9a1c07d2e4'],
    ]);
  });
});

describe('fitWithin', () => {
  it('returns the first (largest) build that fits', () => {
    const built: number[] = [];
    const out = fitWithin(
      (limit) => {
        built.push(limit);
        return 'x'.repeat(limit);
      },
      (s) => s.length,
      500,
    );
    expect(out.length).toBe(400);
    expect(built).toEqual([4000, 1000, 400]);
  });

  it('returns the smallest build when nothing fits', () => {
    const out = fitWithin(
      (limit) => 'x'.repeat(limit * 10),
      (s) => s.length,
      10,
    );
    expect(out.length).toBe(TEXT_LIMITS.at(-1)! * 10);
  });
});
