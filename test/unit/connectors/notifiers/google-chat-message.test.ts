import { describe, expect, it } from 'vitest';
import {
  GOOGLE_CHAT_LIMITS,
  buildGoogleChatMessage,
  escapeChatHtml,
  neutralizeChatText,
  threadKeyOf,
  type GoogleChatMessage,
} from '../../../../connectors/notifiers/google-chat-message.js';
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

const bytes = (m: GoogleChatMessage) => Buffer.byteLength(JSON.stringify(m), 'utf8');
const widgets = (m: GoogleChatMessage) => m.cardsV2[0].card.sections.flatMap((s) => s.widgets);
const cardText = (m: GoogleChatMessage) => JSON.stringify(m.cardsV2);

describe('buildGoogleChatMessage', () => {
  it('fits 32,000 bytes and 100 widgets for every kind of notification', () => {
    for (const n of everyNotification()) {
      const m = buildGoogleChatMessage(n, { dryRun: false, threaded: true });
      expect(bytes(m)).toBeLessThanOrEqual(GOOGLE_CHAT_LIMITS.payloadBytes);
      expect(widgets(m).length).toBeLessThanOrEqual(100);
      expect(m.thread).toEqual({ threadKey: 'vigil-dec-01JH2Q7K8Z' });
    }
  });

  it('cuts oversized decisions (multi-byte text included) until they fit', () => {
    const huge = 'é'.repeat(30_000);
    const d = rollbackDecision({ service: huge, reason: huge, canaryVersion: huge });
    const m = buildGoogleChatMessage(
      { ...actionFailed(d), failure: { connector: 'c', error: huge } },
      { dryRun: false, threaded: true },
    );
    expect(bytes(m)).toBeLessThanOrEqual(GOOGLE_CHAT_LIMITS.payloadBytes);
    expect(m.text.endsWith('…')).toBe(true);
  });

  it('caps metric paragraphs and counts the rest, within 100 widgets', () => {
    const verdicts: MetricVerdict[] = Array.from({ length: 150 }, (_, i) => ({ ...errorRateFail, metric: `m${i}` }));
    const m = buildGoogleChatMessage(
      { kind: 'decision', decision: rollbackDecision({ verdicts }) },
      { dryRun: false, threaded: false },
    );
    expect(widgets(m).length).toBeLessThanOrEqual(100);
    expect(cardText(m)).toContain(`<b>m${GOOGLE_CHAT_LIMITS.maxMetrics - 1}</b>`);
    expect(cardText(m)).not.toContain(`<b>m${GOOGLE_CHAT_LIMITS.maxMetrics}</b>`);
    expect(cardText(m)).toContain(`…and ${150 - GOOGLE_CHAT_LIMITS.maxMetrics} more metrics`);
  });

  it('escapes HTML in card texts and neutralises mentions in the message text', () => {
    expect(escapeChatHtml('<a href="x">&</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
    expect(neutralizeChatText('hi <users/all> <https://evil|x>')).toBe('hi ‹users/all› ‹https://evil|x›');
    const d = rollbackDecision({ service: '<users/all>', reason: '<a href="https://evil">x</a>' });
    const m = buildGoogleChatMessage({ kind: 'decision', decision: d }, { dryRun: false, threaded: false });
    expect(m.text).not.toContain('<');
    expect(cardText(m)).not.toContain('<a href');
    expect(cardText(m)).toContain('&lt;a href=&quot;https://evil&quot;&gt;x&lt;/a&gt;');
    expect(cardText(m)).toContain('&lt;users/all&gt;');
  });

  it('threads per decision with a key Chat accepts; no thread when not threaded', () => {
    expect(threadKeyOf('dec-1')).toBe('vigil-dec-1');
    const long = threadKeyOf('d'.repeat(300));
    expect(long.length).toBeLessThanOrEqual(GOOGLE_CHAT_LIMITS.threadKey);
    expect(long).toBe(threadKeyOf('d'.repeat(300)));
    expect(long).not.toBe(threadKeyOf('d'.repeat(301)));
    expect(buildGoogleChatMessage(everyNotification()[0]!, { dryRun: false, threaded: false }).thread).toBeUndefined();
  });

  it('adds the Open button only for http(s) links', () => {
    const buttons = (link: string) =>
      widgets(buildGoogleChatMessage({ ...everyNotification()[0]!, link }, { dryRun: false, threaded: false })).filter(
        (w) => 'buttonList' in w,
      );
    expect(buttons('https://vigil.example.com/d/1')).toEqual([
      {
        buttonList: {
          buttons: [{ text: 'Open the decision', onClick: { openLink: { url: 'https://vigil.example.com/d/1' } } }],
        },
      },
    ]);
    expect(buttons('javascript:alert(1)')).toEqual([]);
  });

  it('marks dry runs in header, text and footer', () => {
    const m = buildGoogleChatMessage(everyNotification()[0]!, { dryRun: true, threaded: false });
    expect(m.cardsV2[0].card.header.title).toMatch(/^\[dry-run\] /);
    expect(m.text).toMatch(/^\[dry-run\] /);
    expect(cardText(m)).toContain('DRY RUN');
    expect(cardText(m)).toContain('NOT applied');
  });

  it('fits for every kind of notification, a huge operator notification included', () => {
    for (const n of [...everyKind(), hugeOperatorNotification('é'.repeat(30_000))]) {
      const m = buildGoogleChatMessage(n, { dryRun: false, threaded: true });
      expect(bytes(m)).toBeLessThanOrEqual(GOOGLE_CHAT_LIMITS.payloadBytes);
      expect(widgets(m).length).toBeLessThanOrEqual(100);
    }
  });

  it("an operator's pause: By and Why HTML-escaped, mentions neutralised, its own thread and button", () => {
    const n = operatorNotification({ operator: { by: HOSTILE, reason: HOSTILE } });
    const m = buildGoogleChatMessage(n, { dryRun: false, threaded: true });
    const html = escapeChatHtml(HOSTILE);
    expect(html).toBe(
      '&lt;script&gt;alert(1)&lt;/script&gt; *bold* _it_ @here &lt;!channel&gt; [x](https://evil.example)',
    );
    expect(m.text).toBe(`checkout canary v1.8.0: analysis paused by ${neutralizeChatText(HOSTILE)}`);
    expect(m.text).not.toContain('<');
    expect(m.thread).toEqual({ threadKey: 'vigil-checkout' });
    const [lead, facts, last] = m.cardsV2[0].card.sections;
    expect(m.cardsV2[0].card.sections).toHaveLength(3);
    expect(lead!.widgets).toEqual([
      { textParagraph: { text: 'Looks still run and are shown; nothing is decided until the analysis is resumed.' } },
    ]);
    expect(facts!.header).toBe('Analysis');
    expect(facts!.widgets.slice(0, 2)).toEqual([
      { decoratedText: { topLabel: 'By', text: `${html} (token ops-bot)`, wrapText: true } },
      { decoratedText: { topLabel: 'Why', text: html, wrapText: true } },
    ]);
    expect(last!.widgets).toEqual([
      { textParagraph: { text: 'Analysis checkout' } },
      {
        buttonList: {
          buttons: [
            {
              text: 'Open the analysis',
              onClick: { openLink: { url: 'https://vigil.example.com/api/v1/analyses/checkout' } },
            },
          ],
        },
      },
    ]);
  });

  it('a rollback by hand: title by hand, By and Why first among the facts', () => {
    const m = buildGoogleChatMessage(
      { kind: 'decision', decision: manualRollback() },
      { dryRun: false, threaded: true },
    );
    expect(m.text).toBe('Rollback by hand (alice): checkout canary v1.8.0 → baseline v1.7.3');
    const facts = m.cardsV2[0].card.sections.find((s) => s.header === 'Decision')!;
    expect(facts.widgets.slice(0, 2)).toEqual([
      { decoratedText: { topLabel: 'By', text: 'alice (token ops-bot)', wrapText: true } },
      { decoratedText: { topLabel: 'Why', text: 'database migration on the orders DB until 14:00', wrapText: true } },
    ]);
  });
});
