import { createHash } from 'node:crypto';
import type { Notification } from '../../src/contracts/connector.js';
import {
  fitWithin,
  jsonBytes,
  moreMetricsLine,
  notificationView,
  openLinkText,
  refLabel,
  type NotificationView,
  type PlanView,
} from '../shared/notification-view.js';
import { truncate } from './slack-message.js';

/**
 * Google Chat's documented limits: a message (text and cards) is at most 32,000 bytes; a card holds at
 * most 100 widgets; message text at most 4,096 characters. The builder keeps the JSON under
 * `payloadBytes`, shrinking texts when needed (`fitWithin`), and uses at most ~35 widgets.
 */
export const GOOGLE_CHAT_LIMITS = {
  payloadBytes: 32_000,
  text: 4096,
  headerTitle: 200,
  maxMetrics: 20,
  threadKey: 64,
} as const;

interface TextParagraph {
  textParagraph: { text: string };
}
interface DecoratedText {
  decoratedText: { topLabel: string; text: string; wrapText: true };
}
interface ButtonList {
  buttonList: { buttons: { text: string; onClick: { openLink: { url: string } } }[] };
}
export type ChatWidget = TextParagraph | DecoratedText | ButtonList;
export interface ChatSection {
  header?: string;
  widgets: ChatWidget[];
}

/** An incoming-webhook message: `text` (notifications and the line above the card) plus one card. */
export interface GoogleChatMessage {
  text: string;
  cardsV2: [{ cardId: string; card: { header: { title: string; subtitle: string }; sections: ChatSection[] } }];
  thread?: { threadKey: string };
}

/** Card texts are HTML (a small subset): escape what Vigil did not write. */
export function escapeChatHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Message `text` has no escape for `<`, which starts mentions (`<users/all>`) and links (`<url|label>`):
 * angle brackets in decision data become the look-alike ‹ and ›.
 */
export function neutralizeChatText(s: string): string {
  return s.replace(/</g, '‹').replace(/>/g, '›');
}

const TONE_COLOR: Record<NotificationView['tone'], string> = {
  danger: '#d0021b',
  warning: '#b26b00',
  good: '#188038',
  neutral: '#5f6368',
};

/** A thread key per decision (every notification about a decision lands in one thread), or per analysis (its
 *  pauses and resumes); <= 64 chars. */
export function threadKeyOf(id: string): string {
  const key = `vigil-${id}`;
  if (key.length <= GOOGLE_CHAT_LIMITS.threadKey) return key;
  return `vigil-${createHash('sha256').update(id).digest('hex').slice(0, 40)}`;
}

const para = (text: string): TextParagraph => ({ textParagraph: { text } });
const colored = (s: string, color: string) => `<font color="${color}">${s}</font>`;

/** What the plan does (Plan), did (Steps), or where it stopped (Plan, the failed step marked). */
function actionSection(action: PlanView, html: (s: string) => string): ChatSection {
  if (action.kind === 'steps') {
    return { header: 'Steps', widgets: [para(action.steps.map((s) => `• ${html(s)}`).join('<br>'))] };
  }
  if (action.kind === 'plan') {
    const steps = action.steps.map((s) =>
      s.failed ? `<b>${colored(`${html(s.connector)} (failed here)`, TONE_COLOR.danger)}</b>` : html(s.connector),
    );
    return { header: 'Plan', widgets: [para(steps.join(' → '))] };
  }
  return { header: 'Plan', widgets: [para(html(action.text))] };
}

function sections(v: NotificationView, limit: number): ChatSection[] {
  const html = (s: string) => escapeChatHtml(truncate(s, limit));

  const lead = v.failure
    ? [
        `<b>${colored(html(v.failure.cause), TONE_COLOR.danger)}</b>`,
        html(v.failure.advice),
        `<i>Why Vigil rolled back:</i> ${html(v.reason)}`,
      ].join('<br>')
    : html(v.reason);

  const metricWidgets: ChatWidget[] = v.metrics.map((m) => {
    const phase =
      m.phase === 'FAIL'
        ? colored(m.phase, TONE_COLOR.danger)
        : m.phase === 'PASS'
          ? colored(m.phase, TONE_COLOR.good)
          : m.phase;
    const lines = [`<b>${html(m.name)}</b> (${html(m.detector)}): <b>${phase}</b>`, html(m.effect), html(m.evidence)];
    if (m.summary) lines.push(`<i>${html(m.summary)}</i>`);
    return para(lines.join('<br>'));
  });
  if (v.moreMetrics > 0) metricWidgets.push(para(html(moreMetricsLine(v.moreMetrics))));
  if (v.confidence) metricWidgets.push(para(`<i>${html(v.confidence)}</i>`));
  if (v.otherMetrics) metricWidgets.push(para(`<b>Other metrics:</b> ${html(v.otherMetrics)}`));

  const footer = [refLabel(v), ...v.footnotes].map(html);
  if (v.dryRun) footer.push(`<b>${colored(`⚠ ${v.dryRunNote}`, TONE_COLOR.warning)}</b>`);
  const last: ChatWidget[] = [para(footer.join(' · '))];
  if (v.link)
    last.push({ buttonList: { buttons: [{ text: openLinkText(v), onClick: { openLink: { url: v.link } } }] } });

  return [
    { widgets: [para(lead)] },
    {
      header: v.ref.heading,
      widgets: v.facts.map((f) => ({ decoratedText: { topLabel: f.label, text: html(f.value), wrapText: true } })),
    },
    ...(metricWidgets.length > 0 ? [{ header: 'Metrics', widgets: metricWidgets }] : []),
    ...(v.action ? [actionSection(v.action, html)] : []),
    { widgets: last },
  ];
}

/**
 * Builds the incoming-webhook body for one notification: `text` is the title; one card (cardsV2) has the
 * title and "service · canary vs baseline" as header, the reason (for action-failed the connector, its
 * error and the advice first), the facts, one paragraph per deciding metric (effect with bounds, p-value,
 * alpha, samples, summary), other metrics, the plan or its steps, the footer (decision id, config hash,
 * dry-run marker) and an "Open the decision" button when a link is set. An operator's pause or resume: what it
 * means, By and Why, the analysis' facts, its id and an "Open the analysis" button. With `threaded`, the message
 * carries a thread key per decision (per analysis for pauses and resumes). Pure.
 */
export function buildGoogleChatMessage(
  n: Notification,
  opts: { dryRun: boolean; threaded: boolean },
): GoogleChatMessage {
  const v = notificationView(n, { dryRun: opts.dryRun, maxMetrics: GOOGLE_CHAT_LIMITS.maxMetrics });
  const build = (limit: number): GoogleChatMessage => {
    const m: GoogleChatMessage = {
      text: truncate(neutralizeChatText(v.title), Math.min(limit, GOOGLE_CHAT_LIMITS.text)),
      cardsV2: [
        {
          cardId: `vigil-${v.ref.heading.toLowerCase()}`,
          card: {
            header: {
              title: truncate(v.title, Math.min(limit, GOOGLE_CHAT_LIMITS.headerTitle)),
              subtitle: truncate(v.subtitle, Math.min(limit, GOOGLE_CHAT_LIMITS.headerTitle)),
            },
            sections: sections(v, limit),
          },
        },
      ],
    };
    if (opts.threaded) m.thread = { threadKey: threadKeyOf(v.threadId) };
    return m;
  };
  return fitWithin(build, jsonBytes, GOOGLE_CHAT_LIMITS.payloadBytes);
}
