import type { Notification } from '../../src/contracts/connector.js';
import {
  fitWithin,
  moreMetricsLine,
  notificationView,
  refLabel,
  type NotificationView,
  type PlanView,
} from '../shared/notification-view.js';
import { truncate } from './slack-message.js';

/**
 * Discord's documented limits (Execute Webhook, Embed Limits): `content` 2000 characters; at most 10
 * embeds; embed title 256, description 4096, at most 25 fields of name 256 / value 1024, footer text 2048;
 * and 6000 characters in total over every embed's title, description, field names and values, footer and
 * author. The builder cuts each text to its limit and shrinks texts until the total fits (`fitWithin`).
 */
export const DISCORD_LIMITS = {
  content: 2000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  embedTotal: 6000,
} as const;

/** 8 fact fields (a decision by hand has By and Why) + metrics + "more" + confidence + "other metrics" + plan stays
 *  within 25 fields. */
export const DISCORD_MAX_METRICS = 13;

export interface DiscordEmbedField {
  name: string;
  value: string;
  inline: boolean;
}
export interface DiscordEmbed {
  title: string;
  url?: string;
  description: string;
  color: number;
  fields: DiscordEmbedField[];
  footer: { text: string };
  timestamp: string;
}

/** The Execute Webhook JSON body. `allowed_mentions: { parse: [] }`: nothing in a message pings anyone. */
export interface DiscordMessage {
  content: string;
  embeds: DiscordEmbed[];
  allowed_mentions: { parse: never[] };
  username?: string;
  avatar_url?: string;
}

/**
 * Backslash-escapes Discord markdown in text Vigil did not write: `\ * _ ~ ` | > # [ ] <` (bold, italic,
 * strike, code, spoilers, quotes, headers, masked links, mention and emoji syntax). Discord drops the
 * backslash before any escaped punctuation, so the text shows as typed.
 */
export function escapeDiscord(s: string): string {
  return s.replace(/[\\*_~`|>#[\]<]/g, '\\$&');
}

/** Cuts to `max` code points; never leaves a lone escaping backslash before the ellipsis. */
function cut(s: string, max: number): string {
  const t = truncate(s, max);
  return t.endsWith('\\…') && !t.endsWith('\\\\…') ? `${t.slice(0, -2)}…` : t;
}

const COLOR: Record<NotificationView['tone'], number> = {
  danger: 0xd0021b,
  warning: 0xf5a623,
  good: 0x2eb67d,
  neutral: 0x9b9b9b,
};

function actionField(action: PlanView): { name: string; value: string } {
  if (action.kind === 'steps')
    return { name: 'Steps', value: action.steps.map((s) => `• ${escapeDiscord(s)}`).join('\n') };
  if (action.kind === 'plan') {
    return {
      name: 'Plan',
      value: action.steps
        .map((s) => (s.failed ? `**${escapeDiscord(s.connector)} (failed here)**` : escapeDiscord(s.connector)))
        .join(' → '),
    };
  }
  return { name: 'Plan', value: escapeDiscord(action.text) };
}

function embedOf(v: NotificationView, limit: number): DiscordEmbed {
  const lim = (max: number) => Math.min(max, limit);
  const field = (name: string, value: string, inline: boolean): DiscordEmbedField => ({
    name: cut(name, lim(DISCORD_LIMITS.fieldName)),
    value: cut(value, lim(DISCORD_LIMITS.fieldValue)),
    inline,
  });

  const description = v.failure
    ? [
        `**${escapeDiscord(v.failure.cause)}**`,
        escapeDiscord(v.failure.advice),
        `*Why Vigil rolled back:* ${escapeDiscord(v.reason)}`,
      ].join('\n')
    : escapeDiscord(v.reason);

  const fields: DiscordEmbedField[] = v.facts.map((f) => field(f.label, escapeDiscord(f.value), true));
  for (const m of v.metrics) {
    const lines = [escapeDiscord(m.effect), escapeDiscord(m.evidence)];
    if (m.summary) lines.push(`*${escapeDiscord(m.summary)}*`);
    fields.push(field(`${m.name} (${m.detector}): ${m.phase}`, lines.join('\n'), false));
  }
  if (v.moreMetrics > 0) fields.push(field('More metrics', moreMetricsLine(v.moreMetrics), false));
  if (v.confidence) fields.push(field('Confidence', escapeDiscord(v.confidence.replace(/^Confidence: /, '')), false));
  if (v.otherMetrics) fields.push(field('Other metrics', escapeDiscord(v.otherMetrics), false));
  if (v.action) {
    const action = actionField(v.action);
    fields.push(field(action.name, action.value, false));
  }

  const footer = [refLabel(v), ...v.footnotes];
  if (v.dryRun) footer.push(`⚠ ${v.dryRunNote}`);
  const embed: DiscordEmbed = {
    title: truncate(v.title, DISCORD_LIMITS.title),
    description: cut(description, lim(DISCORD_LIMITS.description)),
    color: COLOR[v.tone],
    fields: fields.slice(0, DISCORD_LIMITS.fields),
    footer: { text: cut(footer.join(' · '), lim(DISCORD_LIMITS.footer)) },
    timestamp: new Date(v.atUnixMs).toISOString(),
  };
  if (v.link) embed.url = v.link;
  return embed;
}

/** Characters Discord counts against the 6000 total (code points, as Discord measures). */
export function embedChars(m: DiscordMessage): number {
  const len = (s: string) => Array.from(s).length;
  return m.embeds.reduce(
    (sum, e) =>
      sum +
      len(e.title) +
      len(e.description) +
      len(e.footer.text) +
      e.fields.reduce((f, x) => f + len(x.name) + len(x.value), 0),
    0,
  );
}

/**
 * Builds the Execute Webhook body for one notification: `content` is the title (what push notifications
 * show), one embed carries the explanation: title linked to the decision when a link is set, the reason
 * (for action-failed the connector, its error and the advice first) as description, the facts as inline
 * fields, one field per deciding metric (effect with bounds, p-value, alpha, samples, summary), other
 * metrics, the plan or its steps, and a footer with decision id, config hash and the dry-run marker. Pure.
 */
export function buildDiscordMessage(
  n: Notification,
  opts: { dryRun: boolean; username?: string; avatarUrl?: string },
): DiscordMessage {
  const v = notificationView(n, { dryRun: opts.dryRun, maxMetrics: DISCORD_MAX_METRICS });
  const build = (limit: number): DiscordMessage => {
    const m: DiscordMessage = {
      content: cut(escapeDiscord(v.title), DISCORD_LIMITS.content),
      embeds: [embedOf(v, limit)],
      allowed_mentions: { parse: [] },
    };
    if (opts.username !== undefined) m.username = opts.username;
    if (opts.avatarUrl !== undefined) m.avatar_url = opts.avatarUrl;
    return m;
  };
  return fitWithin(build, embedChars, DISCORD_LIMITS.embedTotal);
}
