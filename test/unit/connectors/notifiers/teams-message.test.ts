import { describe, expect, it } from 'vitest';
import {
  TEAMS_LIMITS,
  buildTeamsMessage,
  type CardElement,
  type TeamsMessage,
  type TextRun,
} from '../../../../connectors/notifiers/teams-message.js';
import type { MetricVerdict } from '../../../../src/contracts/decision.js';
import {
  HOSTILE,
  actionFailed,
  errorRateFail,
  everyKind,
  everyNotification,
  hugeOperatorNotification,
  manualRollback,
  operatorNotification,
  rollbackDecision,
} from '../../../helpers/connectors/fixtures.js';

function runs(elements: CardElement[]): TextRun[] {
  return elements.flatMap((e) => (e.type === 'Container' ? runs(e.items) : e.inlines));
}
const card = (m: TeamsMessage) => m.attachments[0].content;
const allText = (m: TeamsMessage) =>
  runs(card(m).body)
    .map((r) => r.text)
    .join('\n');
const bytes = (m: TeamsMessage) => Buffer.byteLength(JSON.stringify(m), 'utf8');

describe('buildTeamsMessage', () => {
  it('is a message with one Adaptive Card 1.4 attachment, for every kind of notification', () => {
    for (const n of everyKind()) {
      const m = buildTeamsMessage(n, { dryRun: false });
      expect(m.type).toBe('message');
      expect(m.attachments).toHaveLength(1);
      expect(m.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
      expect(card(m)).toMatchObject({ type: 'AdaptiveCard', version: '1.4' });
      expect(bytes(m)).toBeLessThanOrEqual(TEAMS_LIMITS.payloadBytes);
    }
  });

  it('explains the decision: numbers, versions, plan, decision id', () => {
    const text = allText(buildTeamsMessage(everyNotification()[0]!, { dryRun: false }));
    for (const s of [
      'checkout',
      'v1.8.0',
      'v1.7.3',
      '2.10 (bounds 1.45–3.05)',
      'p-value 0.0031 (alpha 0.025)',
      '12,480',
      '1,315',
      'kill-flag → shift-traffic → undo-deploy',
      'dec-01JH2Q7K8Z',
    ]) {
      expect(text).toContain(s);
    }
    const steps = allText(buildTeamsMessage(everyNotification()[2]!, { dryRun: false }));
    expect(steps).toContain('• kill-flag: changed, flag checkout-v2 set to off');
  });

  it('puts decision data only in TextRuns, which Teams never renders as Markdown', () => {
    const d = rollbackDecision({ service: '[click](https://evil.example)', reason: '**bold** <at>all</at>' });
    const m = buildTeamsMessage({ kind: 'decision', decision: d }, { dryRun: false });
    const types = new Set<string>();
    const walk = (es: CardElement[]) =>
      es.forEach((e) => {
        types.add(e.type);
        if (e.type === 'Container') walk(e.items);
      });
    walk(card(m).body);
    expect([...types].sort()).toEqual(['Container', 'RichTextBlock']);
    expect(runs(card(m).body).map((r) => r.text)).toContain('[click](https://evil.example)');
    expect(allText(m)).toContain('**bold** <at>all</at>');
  });

  it('cuts oversized decisions until the card fits 28 KB', () => {
    const huge = 'x'.repeat(50_000);
    const d = rollbackDecision({ service: huge, reason: huge, canaryVersion: huge });
    const m = buildTeamsMessage({ ...actionFailed(d), failure: { connector: 'c', error: huge } }, { dryRun: false });
    expect(bytes(m)).toBeLessThanOrEqual(TEAMS_LIMITS.payloadBytes);
    expect(runs(card(m).body)[0]!.text.endsWith('…')).toBe(true);
  });

  it('caps per-metric sections and counts the rest', () => {
    const verdicts: MetricVerdict[] = Array.from({ length: 60 }, (_, i) => ({ ...errorRateFail, metric: `m${i}` }));
    const m = buildTeamsMessage({ kind: 'decision', decision: rollbackDecision({ verdicts }) }, { dryRun: false });
    const text = allText(m);
    expect(text).toContain(`m${TEAMS_LIMITS.maxMetrics - 1}`);
    expect(text).not.toContain(`m${TEAMS_LIMITS.maxMetrics}\n`);
    expect(text).toContain(`…and ${60 - TEAMS_LIMITS.maxMetrics} more metrics`);
    expect(bytes(m)).toBeLessThanOrEqual(TEAMS_LIMITS.payloadBytes);
  });

  it('adds an Open button only for http(s) links', () => {
    const withLink = (link: string) =>
      card(buildTeamsMessage({ ...everyNotification()[0]!, link }, { dryRun: false })).actions;
    expect(withLink('https://vigil.example.com/d/1')).toEqual([
      { type: 'Action.OpenUrl', title: 'Open the decision', url: 'https://vigil.example.com/d/1' },
    ]);
    expect(withLink('javascript:alert(1)')).toEqual([]);
  });

  it('marks dry runs, whether the decision or the delivery is the dry run', () => {
    for (const [d, dryRun] of [
      [rollbackDecision({ dryRun: true }), false],
      [rollbackDecision(), true],
    ] as const) {
      const m = buildTeamsMessage({ kind: 'decision', decision: d }, { dryRun });
      expect(runs(card(m).body)[0]!.text).toMatch(/^\[dry-run\] /);
      expect(allText(m)).toContain('DRY RUN');
      expect(allText(m)).toContain('NOT applied');
    }
    expect(allText(buildTeamsMessage(everyNotification()[0]!, { dryRun: false }))).not.toContain('DRY RUN');
  });

  it("an operator's pause: title, what it means, By and Why verbatim in TextRuns, the facts, Open the analysis", () => {
    const n = operatorNotification({ operator: { by: HOSTILE, reason: HOSTILE } });
    const m = buildTeamsMessage(n, { dryRun: false });
    const blocks = card(m).body;
    expect(blocks[0]).toMatchObject({ type: 'Container', style: 'warning' });
    expect(runs(blocks).map((r) => r.text)).toEqual([
      `checkout canary v1.8.0: analysis paused by ${HOSTILE}`,
      'Looks still run and are shown; nothing is decided until the analysis is resumed.',
      'By: ',
      `${HOSTILE} (token ops-bot)`,
      'Why: ',
      HOSTILE,
      'Service: ',
      'checkout',
      'Canary: ',
      'v1.8.0',
      'Baseline: ',
      'v1.7.3',
      'Look: ',
      '7',
      'Analysis: ',
      'checkout',
      'Analysis checkout',
    ]);
    expect(card(m).actions).toEqual([
      { type: 'Action.OpenUrl', title: 'Open the analysis', url: 'https://vigil.example.com/api/v1/analyses/checkout' },
    ]);
    const dry = buildTeamsMessage(n, { dryRun: true });
    expect(runs(card(dry).body)[0]!.text).toMatch(/^\[dry-run\] /);
    expect(allText(dry)).toContain('DRY RUN: Vigil decides and notifies, it changes nothing');
  });

  it('a rollback by hand: the title says so, By and Why come first', () => {
    const text = allText(buildTeamsMessage({ kind: 'decision', decision: manualRollback() }, { dryRun: false }));
    expect(text).toContain('Rollback by hand (alice): checkout canary v1.8.0 → baseline v1.7.3');
    expect(text).toContain(
      'By: \nalice (token ops-bot)\nWhy: \ndatabase migration on the orders DB until 14:00\nService: ',
    );
  });

  it('cuts a huge operator notification until the card fits', () => {
    expect(
      bytes(buildTeamsMessage(hugeOperatorNotification('x'.repeat(50_000)), { dryRun: false })),
    ).toBeLessThanOrEqual(TEAMS_LIMITS.payloadBytes);
  });
});
