import type { Notification } from '../../src/contracts/connector.js';
import { FAILURE_ADVICE } from '../shared/explain.js';
import {
  moreMetricsLine,
  notificationView,
  refLabel,
  type NotificationView,
  type PlanView,
} from '../shared/notification-view.js';

/**
 * Slack's documented Block Kit limits (block reference): header text 150 chars; section text 3000;
 * section fields at most 10 of 2000 chars each; context at most 10 elements; 50 blocks per message.
 * The top-level `text` (fallback for notifications and screen readers) is kept under 4000 chars, Slack's
 * recommended size. Every text this builder emits is cut to its limit, so any decision posts.
 */
export const SLACK_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  fallbackText: 4000,
} as const;

/** At most this many per-metric sections; the rest are counted in one line (keeps well under 50 blocks). */
export const MAX_VERDICT_BLOCKS = 20;

interface PlainText {
  type: 'plain_text';
  text: string;
  emoji: boolean;
}
interface Mrkdwn {
  type: 'mrkdwn';
  text: string;
}
export type SlackBlock =
  | { type: 'header'; text: PlainText }
  | { type: 'section'; text: Mrkdwn }
  | { type: 'section'; fields: Mrkdwn[] }
  | { type: 'context'; elements: Mrkdwn[] };

/** An incoming-webhook message: `text` fallback plus `blocks`; `channel`/`username` only when configured. */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
  channel?: string;
  username?: string;
}

/** Slack mrkdwn control characters: &, < and > must be HTML-escaped in any text we did not write. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts to `max` characters (code points), ending with "…"; never leaves half an HTML entity behind. */
export function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  if (chars.length <= max) return s;
  return `${chars
    .slice(0, max - 1)
    .join('')
    .replace(/&[a-z]{0,4}$/, '')}…`;
}

const mrkdwn = (text: string, max: number): Mrkdwn => ({ type: 'mrkdwn', text: truncate(text, max) });
const section = (text: string): SlackBlock => ({ type: 'section', text: mrkdwn(text, SLACK_LIMITS.sectionText) });
const field = (label: string, value: string): Mrkdwn =>
  mrkdwn(`*${label}*\n${escapeMrkdwn(value)}`, SLACK_LIMITS.fieldText);

/** `<url|label>` for http(s) links; characters that would end Slack's link syntax are percent-encoded. */
function slackLink(url: string, label: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  const href = u.href.replace(/\|/g, '%7C').replace(/</g, '%3C').replace(/>/g, '%3E');
  return `<${href}|${escapeMrkdwn(label)}>`;
}

const ICON: Record<string, string> = {
  rollback: ':rewind:',
  promote: ':white_check_mark:',
  abandoned: ':grey_question:',
  'action-failed': ':x:',
  'plan-completed': ':rewind:',
  pause: ':double_vertical_bar:',
  resume: ':arrow_forward:',
  approve: ':ballot_box_with_check:',
  'approval-needed': ':raising_hand:',
  'promotion-held': ':octagonal_sign:',
};

function verdictBlocks(v: NotificationView): SlackBlock[] {
  const blocks = v.metrics.map((m) => {
    const lines = [
      `*${escapeMrkdwn(m.name)}* (${escapeMrkdwn(m.detector)}): *${m.phase}*`,
      escapeMrkdwn(m.effect),
      escapeMrkdwn(m.evidence),
    ];
    if (m.summary) lines.push(`_${escapeMrkdwn(m.summary)}_`);
    return section(lines.join('\n'));
  });
  if (v.moreMetrics > 0) blocks.push(section(moreMetricsLine(v.moreMetrics)));
  if (v.confidence !== undefined)
    blocks.push({ type: 'context', elements: [mrkdwn(escapeMrkdwn(v.confidence), SLACK_LIMITS.sectionText)] });
  if (v.otherMetrics !== undefined) blocks.push(section(`*Other metrics:* ${escapeMrkdwn(v.otherMetrics)}`));
  return blocks;
}

/** What the plan does (decision), did (plan-completed), or where it stopped (action-failed). */
function actionText(action: PlanView): string {
  if (action.kind === 'steps') return `*Steps:*\n${action.steps.map((s) => `• ${escapeMrkdwn(s)}`).join('\n')}`;
  if (action.kind === 'plan') {
    const steps = action.steps.map((s) =>
      s.failed ? `*${escapeMrkdwn(s.connector)} (failed here)*` : escapeMrkdwn(s.connector),
    );
    return `*Plan:* ${steps.join(' → ')}`;
  }
  return escapeMrkdwn(action.text);
}

/** The lead section: for action-failed the connector, its error and what that means, then the reason. */
function leadText(n: Notification, v: NotificationView): string {
  const icon =
    ICON[n.kind === 'decision' ? n.decision.outcome : n.kind === 'operator' ? n.operator.action : n.kind] ?? '';
  if (n.kind !== 'action-failed') return `${icon} ${escapeMrkdwn(v.reason)}`.trim();
  const f = n.failure;
  const cause = f
    ? `*Connector ${escapeMrkdwn(f.connector)} failed:* ${escapeMrkdwn(f.error)}${f.code ? ` \`${escapeMrkdwn(f.code)}\`` : ''}`
    : '*A rollback step failed* (no detail recorded)';
  return [`${icon} ${cause}`, FAILURE_ADVICE, `_Why Vigil rolled back:_ ${escapeMrkdwn(v.reason)}`].join('\n');
}

/**
 * Builds the Block Kit message for one notification: header (title), the reason (and for action-failed
 * which connector failed and its error), fields (By and Why of an action by hand, service, outcome, versions, look,
 * analysis), one section per deciding metric (effect, bounds, p-value, alpha, samples), the confidence of the bounds
 * (one level for the whole message), other metrics in one line, what the plan does / did, and a context line
 * (decision link or id, config hash, dry-run marker). An operator's pause or resume: what it means, By and Why, the
 * analysis' facts and its link or id. Pure; O(verdicts). `dryRun` marks the message as a dry run even when the
 * decision itself was not one.
 */
export function buildSlackMessage(
  n: Notification,
  opts: { dryRun: boolean; channel?: string; username?: string },
): SlackMessage {
  const v = notificationView(n, { dryRun: opts.dryRun, maxMetrics: MAX_VERDICT_BLOCKS });
  const fields = v.facts.map((f) => field(f.label, f.value)).slice(0, SLACK_LIMITS.fields);

  const context: Mrkdwn[] = [];
  const link = v.link ? slackLink(v.link, refLabel(v)) : undefined;
  context.push(mrkdwn(link ?? escapeMrkdwn(refLabel(v)), SLACK_LIMITS.sectionText));
  for (const note of v.footnotes) context.push(mrkdwn(escapeMrkdwn(note), SLACK_LIMITS.sectionText));
  if (v.dryRun)
    context.push(mrkdwn(`:warning: ${v.dryRunNote.replace(/^DRY RUN:/, '*DRY RUN*:')}`, SLACK_LIMITS.sectionText));

  const blocks: SlackBlock[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(v.title, SLACK_LIMITS.headerText), emoji: true },
    },
    section(leadText(n, v)),
    { type: 'section', fields },
    ...verdictBlocks(v),
    ...(v.action ? [section(actionText(v.action))] : []),
    { type: 'context', elements: context.slice(0, SLACK_LIMITS.contextElements) },
  ];

  const message: SlackMessage = {
    text: truncate(escapeMrkdwn([v.title, ...v.lines].join('\n')), SLACK_LIMITS.fallbackText),
    blocks: blocks.slice(0, SLACK_LIMITS.blocks),
  };
  if (opts.channel !== undefined) message.channel = opts.channel;
  if (opts.username !== undefined) message.username = opts.username;
  return message;
}
