import { describe, expect, it } from 'vitest';
import {
  MAX_VERDICT_BLOCKS,
  SLACK_LIMITS,
  buildSlackMessage,
  escapeMrkdwn,
  truncate,
  type SlackBlock,
  type SlackMessage,
} from '../../../../connectors/notifiers/slack-message.js';
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

function texts(b: SlackBlock): string[] {
  if (b.type === 'header') return [b.text.text];
  if (b.type === 'context') return b.elements.map((e) => e.text);
  return 'fields' in b ? b.fields.map((f) => f.text) : [b.text.text];
}

function expectWithinLimits(m: SlackMessage): void {
  expect(m.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
  expect(Array.from(m.text).length).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
  for (const b of m.blocks) {
    if (b.type === 'header') expect(Array.from(b.text.text).length).toBeLessThanOrEqual(SLACK_LIMITS.headerText);
    if (b.type === 'context') expect(b.elements.length).toBeLessThanOrEqual(SLACK_LIMITS.contextElements);
    if (b.type === 'section' && 'fields' in b) {
      expect(b.fields.length).toBeLessThanOrEqual(SLACK_LIMITS.fields);
      for (const f of b.fields) expect(Array.from(f.text).length).toBeLessThanOrEqual(SLACK_LIMITS.fieldText);
    } else if (b.type === 'section') {
      expect(Array.from(b.text.text).length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    }
  }
}

describe('buildSlackMessage', () => {
  it('stays within Block Kit limits for every kind of notification', () => {
    for (const n of everyKind()) expectWithinLimits(buildSlackMessage(n, { dryRun: false }));
    expectWithinLimits(buildSlackMessage(hugeOperatorNotification('x'.repeat(10_000)), { dryRun: false }));
  });

  it('cuts oversized texts to their limits', () => {
    const huge = 'x'.repeat(10_000);
    const d = rollbackDecision({ service: `svc-${huge}`, reason: huge, canaryVersion: huge });
    const n = { ...actionFailed(d), failure: { connector: 'c', error: huge } };
    const m = buildSlackMessage(n, { dryRun: false });
    expectWithinLimits(m);
    expect(m.blocks[0]!.type).toBe('header');
    expect(texts(m.blocks[0]!)[0]!.endsWith('…')).toBe(true);
  });

  it('caps per-metric sections and counts the rest', () => {
    const verdicts: MetricVerdict[] = Array.from({ length: 60 }, (_, i) => ({ ...errorRateFail, metric: `m${i}` }));
    const m = buildSlackMessage({ kind: 'decision', decision: rollbackDecision({ verdicts }) }, { dryRun: false });
    expectWithinLimits(m);
    const all = m.blocks.flatMap(texts).join('\n');
    expect(all).toContain(`*m${MAX_VERDICT_BLOCKS - 1}*`);
    expect(all).not.toContain(`*m${MAX_VERDICT_BLOCKS}*`);
    expect(all).toContain(`…and ${60 - MAX_VERDICT_BLOCKS} more metrics`);
  });

  it('escapes mrkdwn control characters from decision data', () => {
    const d = rollbackDecision({ service: 'a<b>&c', reason: 'see <!channel> & <http://evil|x>' });
    const m = buildSlackMessage({ kind: 'decision', decision: d }, { dryRun: false });
    const all = [m.text, ...m.blocks.filter((b) => b.type !== 'header').flatMap(texts)].join('\n');
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<http://evil');
    expect(all).toContain('see &lt;!channel&gt; &amp; &lt;http://evil|x&gt;');
    expect(all).toContain('a&lt;b&gt;&amp;c');
  });

  it('links the decision only for http(s) links, with link syntax characters encoded', () => {
    const d = rollbackDecision();
    const ctx = (link: string) => {
      const m = buildSlackMessage({ kind: 'decision', decision: d, link }, { dryRun: false });
      return texts(m.blocks.at(-1)!)[0]!;
    };
    expect(ctx('https://vigil.example.com/d/1?a=|b')).toBe(
      '<https://vigil.example.com/d/1?a=%7Cb|Decision dec-01JH2Q7K8Z>',
    );
    expect(ctx('javascript:alert(1)')).toBe('Decision dec-01JH2Q7K8Z');
  });

  it('marks dry runs clearly, whether the decision or the delivery is the dry run', () => {
    for (const [d, dryRun] of [
      [rollbackDecision({ dryRun: true }), false],
      [rollbackDecision(), true],
    ] as const) {
      const m = buildSlackMessage({ kind: 'decision', decision: d }, { dryRun });
      expect(texts(m.blocks[0]!)[0]).toMatch(/^\[dry-run\] /);
      expect(texts(m.blocks.at(-1)!).join(' ')).toContain('*DRY RUN*');
      expect(m.blocks.flatMap(texts).join('\n')).toContain('NOT applied');
    }
    const live = buildSlackMessage({ kind: 'decision', decision: rollbackDecision() }, { dryRun: false });
    expect(live.blocks.flatMap(texts).join('\n')).not.toMatch(/dry.run/i);
  });

  it('sets channel and username only when configured', () => {
    const n = everyNotification()[0]!;
    expect(buildSlackMessage(n, { dryRun: false })).not.toHaveProperty('channel');
    expect(buildSlackMessage(n, { dryRun: false, channel: '#releases', username: 'Vigil' })).toMatchObject({
      channel: '#releases',
      username: 'Vigil',
    });
  });
});

describe('buildSlackMessage for actions by hand', () => {
  const esc = escapeMrkdwn(HOSTILE);

  it("an operator's pause: title, what it means, By and Why, the analysis' facts, its link", () => {
    const m = buildSlackMessage(operatorNotification(), { dryRun: false });
    expect(m.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context']);
    expect(texts(m.blocks[0]!)).toEqual(['checkout canary v1.8.0: analysis paused by alice']);
    expect(texts(m.blocks[1]!)).toEqual([
      ':double_vertical_bar: Looks still run and are shown; nothing is decided until the analysis is resumed.',
    ]);
    expect(texts(m.blocks[2]!)).toEqual([
      '*By*\nalice (token ops-bot)',
      '*Why*\ndatabase migration on the orders DB until 14:00',
      '*Service*\ncheckout',
      '*Canary*\nv1.8.0',
      '*Baseline*\nv1.7.3',
      '*Look*\n7',
      '*Analysis*\ncheckout',
    ]);
    expect(texts(m.blocks[3]!)).toEqual(['<https://vigil.example.com/api/v1/analyses/checkout|Analysis checkout>']);
    const resume = buildSlackMessage(operatorNotification({ operator: { action: 'resume' } }), { dryRun: true });
    expect(texts(resume.blocks[0]!)).toEqual(['[dry-run] checkout canary v1.8.0: analysis resumed by alice']);
    expect(texts(resume.blocks[1]!)).toEqual([':arrow_forward: The pause is lifted: the next look decides as usual.']);
    expect(texts(resume.blocks.at(-1)!).join(' ')).toContain(':warning: *DRY RUN*: Vigil decides and notifies');
  });

  it('escapes &, < and > of who and why (mrkdwn has no escape for * and _: they may format, never link or mention)', () => {
    const n = operatorNotification({ operator: { by: HOSTILE, reason: HOSTILE } });
    const m = buildSlackMessage(n, { dryRun: false });
    const mrkdwn = [m.text, ...m.blocks.filter((b) => b.type !== 'header').flatMap(texts)].join('\n');
    expect(mrkdwn).not.toContain('<script>');
    expect(mrkdwn).not.toContain('<!channel>');
    expect(mrkdwn).not.toContain('<https://evil');
    expect(texts(m.blocks[2]!).slice(0, 2)).toEqual([`*By*\n${esc} (token ops-bot)`, `*Why*\n${esc}`]);
    // the header is plain_text: Slack shows it as typed
    expect(m.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: `checkout canary v1.8.0: analysis paused by ${HOSTILE}`, emoji: true },
    });
  });

  it('a rollback by hand says so in the title and shows By and Why first', () => {
    const m = buildSlackMessage({ kind: 'decision', decision: manualRollback() }, { dryRun: false });
    expect(texts(m.blocks[0]!)).toEqual(['Rollback by hand (alice): checkout canary v1.8.0 → baseline v1.7.3']);
    expect(texts(m.blocks[2]!).slice(0, 3)).toEqual([
      '*By*\nalice (token ops-bot)',
      '*Why*\ndatabase migration on the orders DB until 14:00',
      '*Service*\ncheckout',
    ]);
    const promote = manualRollback({
      outcome: 'promote',
      plan: [],
      manual: { ...manualRollback().manual!, by: HOSTILE },
    });
    const p = buildSlackMessage({ kind: 'decision', decision: promote }, { dryRun: false });
    expect(texts(p.blocks[0]!)).toEqual([`Promoted by hand (${HOSTILE}): checkout canary v1.8.0`]);
    expect(texts(p.blocks[2]!)[0]).toBe(`*By*\n${esc} (token ops-bot)`);
  });
});

describe('text helpers', () => {
  it('truncate counts code points and does not leave half an entity', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('😀😀😀', 2)).toBe('😀…');
    expect(truncate(escapeMrkdwn('ab&cd'), 5)).toBe('ab…');
  });
});
