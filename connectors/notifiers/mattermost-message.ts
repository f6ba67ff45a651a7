import type { Notification } from '../../src/contracts/connector.js';
import {
  fitWithin,
  moreMetricsLine,
  notificationView,
  refLabel,
  type NotificationView,
} from '../shared/notification-view.js';
import { truncate } from './slack-message.js';

/**
 * Mattermost limits: a post's message is at most 16,383 characters (server >= 5.0). Vigil keeps the
 * message, the attachment text and its fields together under that, so nothing depends on how a server
 * counts attachment props (`fitWithin` shrinks texts when needed).
 */
export const MATTERMOST_LIMITS = {
  text: 16_383,
  title: 1000,
  fallback: 3000,
  maxMetrics: 20,
} as const;

export interface MattermostField {
  short: boolean;
  title: string;
  value: string;
}
export interface MattermostAttachment {
  fallback: string;
  color: string;
  title: string;
  title_link?: string;
  text: string;
  fields: MattermostField[];
  /** Config hash and the dry-run marker; absent when there is neither (an operator's pause or resume). */
  footer?: string;
}

/** The incoming-webhook body (Slack-compatible): `text` plus one message attachment. */
export interface MattermostMessage {
  text: string;
  attachments: MattermostAttachment[];
  channel?: string;
  username?: string;
  icon_url?: string;
}

/**
 * Escapes Markdown in text Vigil did not write (Mattermost honours CommonMark backslash escapes) and
 * breaks mentions: a zero-width space after `@` keeps `@channel` / `@all` in a service name from
 * notifying a whole channel, while it reads the same.
 */
export function escapeMattermost(s: string): string {
  return breakMentions(s.replace(/[\\*_~`|>#[\]<]/g, '\\$&'));
}

/** A zero-width space after each `@` that starts a name: plain texts (the fallback) must not notify either. */
export function breakMentions(s: string): string {
  return s.replace(/@(?=[\w.-])/g, '@\u200b');
}

/** Cuts to `max` code points; never leaves a lone escaping backslash before the ellipsis. */
function cut(s: string, max: number): string {
  const t = truncate(s, max);
  return t.endsWith('\\…') && !t.endsWith('\\\\…') ? `${t.slice(0, -2)}…` : t;
}

const COLOR: Record<NotificationView['tone'], string> = {
  danger: '#d0021b',
  warning: '#f5a623',
  good: '#2eb67d',
  neutral: '#9b9b9b',
};

function attachmentText(v: NotificationView, limit: number): string {
  const esc = (s: string) => escapeMattermost(cut(s, limit));
  const parts: string[] = v.failure
    ? [`**${esc(v.failure.cause)}**`, esc(v.failure.advice), `*Why Vigil rolled back:* ${esc(v.reason)}`]
    : [esc(v.reason)];
  for (const m of v.metrics) {
    const lines = [`**${esc(m.name)}** (${esc(m.detector)}): **${m.phase}**`, esc(m.effect), esc(m.evidence)];
    if (m.summary) lines.push(`*${esc(m.summary)}*`);
    parts.push(lines.join('\n'));
  }
  if (v.moreMetrics > 0) parts.push(esc(moreMetricsLine(v.moreMetrics)));
  if (v.confidence) parts.push(`*${esc(v.confidence)}*`);
  if (v.otherMetrics) parts.push(`**Other metrics:** ${esc(v.otherMetrics)}`);
  if (v.action?.kind === 'steps') {
    parts.push(`**Steps:**\n${v.action.steps.map((s) => `- ${esc(s)}`).join('\n')}`);
  } else if (v.action?.kind === 'plan') {
    parts.push(
      `**Plan:** ${v.action.steps.map((s) => (s.failed ? `**${esc(s.connector)} (failed here)**` : esc(s.connector))).join(' → ')}`,
    );
  } else if (v.action) {
    parts.push(esc(v.action.text));
  }
  return parts.join('\n\n');
}

/** Characters counted against the post limit: message, attachment text and fields. */
export function mattermostChars(m: MattermostMessage): number {
  const len = (s: string) => Array.from(s).length;
  return (
    len(m.text) +
    m.attachments.reduce(
      (sum, a) => sum + len(a.text) + a.fields.reduce((f, x) => f + len(x.title) + len(x.value), 0),
      0,
    )
  );
}

/**
 * Builds the incoming-webhook body for one notification: `text` is the title in bold; one attachment
 * (coloured by outcome) has the decision as its linked title, the reason (for action-failed the
 * connector, its error and the advice first), one paragraph per deciding metric (effect with bounds,
 * p-value, alpha, samples, summary), other metrics, the plan or its steps, the facts as short fields, a
 * plain fallback and a footer with config hash and the dry-run marker. An operator's pause or resume: what it
 * means, By and Why, the analysis' facts, the analysis as the linked title. Pure.
 */
export function buildMattermostMessage(
  n: Notification,
  opts: { dryRun: boolean; channel?: string; username?: string; iconUrl?: string },
): MattermostMessage {
  const v = notificationView(n, { dryRun: opts.dryRun, maxMetrics: MATTERMOST_LIMITS.maxMetrics });
  const build = (limit: number): MattermostMessage => {
    const attachment: MattermostAttachment = {
      fallback: breakMentions(cut([v.title, ...v.lines].join('\n'), Math.min(limit, MATTERMOST_LIMITS.fallback))),
      color: COLOR[v.tone],
      title: cut(refLabel(v), MATTERMOST_LIMITS.title),
      text: attachmentText(v, limit),
      fields: v.facts.map((f) => ({ short: true, title: f.label, value: escapeMattermost(cut(f.value, limit)) })),
    };
    const footer = [...v.footnotes, ...(v.dryRun ? [`⚠ ${v.dryRunNote}`] : [])];
    if (footer.length > 0) attachment.footer = footer.join(' · ');
    if (v.link) attachment.title_link = v.link;
    const m: MattermostMessage = {
      text: `**${escapeMattermost(cut(v.title, Math.min(limit, MATTERMOST_LIMITS.title)))}**`,
      attachments: [attachment],
    };
    if (opts.channel !== undefined) m.channel = opts.channel;
    if (opts.username !== undefined) m.username = opts.username;
    if (opts.iconUrl !== undefined) m.icon_url = opts.iconUrl;
    return m;
  };
  return fitWithin(build, mattermostChars, MATTERMOST_LIMITS.text);
}
