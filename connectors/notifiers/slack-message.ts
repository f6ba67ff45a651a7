import type { Decision } from '../../src/contracts/decision.js';
import type { Notification } from '../../src/contracts/connector.js';
import {
  FAILURE_ADVICE,
  decidingVerdicts,
  describeConfidence,
  describeEffect,
  describeEvidence,
  describePlan,
  describeStep,
  explainNotification,
  formatCount,
  otherVerdicts,
  subjectOf,
} from '../shared/explain.js';

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
};

function verdictBlocks(d: Decision): SlackBlock[] {
  const deciding = decidingVerdicts(d);
  const blocks = deciding.slice(0, MAX_VERDICT_BLOCKS).map((v) => {
    const lines = [
      `*${escapeMrkdwn(v.metric)}* (${escapeMrkdwn(v.detector)}): *${v.phase.toUpperCase()}*`,
      escapeMrkdwn(describeEffect(v)),
      escapeMrkdwn(describeEvidence(v)),
    ];
    if (v.summary) lines.push(`_${escapeMrkdwn(v.summary)}_`);
    return section(lines.join('\n'));
  });
  if (deciding.length > MAX_VERDICT_BLOCKS) {
    blocks.push(section(`…and ${deciding.length - MAX_VERDICT_BLOCKS} more metrics (see the decision record).`));
  }
  const confidence = describeConfidence(d);
  if (confidence !== undefined)
    blocks.push({ type: 'context', elements: [mrkdwn(escapeMrkdwn(confidence), SLACK_LIMITS.sectionText)] });
  const others = otherVerdicts(d);
  if (others.length > 0) {
    const list = others.map((v) => `${v.metric} ${v.phase}${v.shadow ? ' (shadow)' : ''}`).join(', ');
    blocks.push(section(`*Other metrics:* ${escapeMrkdwn(list)}`));
  }
  return blocks;
}

/** What the plan does (decision), did (plan-completed), or where it stopped (action-failed). */
function actionText(n: Notification, d: Decision): string {
  if (n.kind === 'plan-completed' && n.steps && n.steps.length > 0) {
    return `*Steps:*\n${n.steps.map((s) => `• ${escapeMrkdwn(describeStep(s))}`).join('\n')}`;
  }
  const failed = n.kind === 'action-failed' ? n.failure?.connector : undefined;
  if (failed !== undefined && d.plan.includes(failed)) {
    const steps = d.plan.map((c) => (c === failed ? `*${escapeMrkdwn(c)} (failed here)*` : escapeMrkdwn(c)));
    return `*Plan:* ${steps.join(' → ')}`;
  }
  return escapeMrkdwn(describePlan(d));
}

/** The lead section: for action-failed the connector, its error and what that means, then the reason. */
function leadText(n: Notification, d: Decision): string {
  const icon = ICON[n.kind === 'decision' ? d.outcome : n.kind] ?? '';
  if (n.kind !== 'action-failed') return `${icon} ${escapeMrkdwn(d.reason)}`.trim();
  const f = n.failure;
  const cause = f
    ? `*Connector ${escapeMrkdwn(f.connector)} failed:* ${escapeMrkdwn(f.error)}${f.code ? ` \`${escapeMrkdwn(f.code)}\`` : ''}`
    : '*A rollback step failed* (no detail recorded)';
  return [`${icon} ${cause}`, FAILURE_ADVICE, `_Why Vigil rolled back:_ ${escapeMrkdwn(d.reason)}`].join('\n');
}

/**
 * Builds the Block Kit message for one notification: header (title), the reason (and for action-failed
 * which connector failed and its error), fields (service, outcome, versions, look, analysis), one section
 * per deciding metric (effect, bounds, p-value, alpha, samples), the confidence of the bounds (one level for
 * the whole message), other metrics in one line, what the plan
 * does / did, and a context line (decision link or id, config hash, dry-run marker). Pure; O(verdicts).
 * `dryRun` marks the message as a dry run even when the decision itself was not one.
 */
export function buildSlackMessage(
  n: Notification,
  opts: { dryRun: boolean; channel?: string; username?: string },
): SlackMessage {
  const d: Decision = opts.dryRun && !n.decision.dryRun ? { ...n.decision, dryRun: true } : n.decision;
  const note: Notification = { ...n, decision: d };
  const explained = explainNotification(note);

  const fields = [
    field('Service', subjectOf(d)),
    field('Outcome', d.dryRun ? `${d.outcome} (dry run)` : d.outcome),
    field('Canary', d.canaryVersion),
    field('Baseline', d.baselineVersion),
    field('Look', formatCount(d.look)),
    field('Analysis', d.analysis),
  ].slice(0, SLACK_LIMITS.fields);

  const context: Mrkdwn[] = [];
  const link = note.link ? slackLink(note.link, `Decision ${d.id}`) : undefined;
  context.push(mrkdwn(link ?? `Decision ${escapeMrkdwn(d.id)}`, SLACK_LIMITS.sectionText));
  context.push(mrkdwn(`config ${escapeMrkdwn(d.configHash)}`, SLACK_LIMITS.sectionText));
  if (d.dryRun)
    context.push(mrkdwn(':warning: *DRY RUN*: decided and notified, nothing was changed', SLACK_LIMITS.sectionText));

  const blocks: SlackBlock[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(explained.title, SLACK_LIMITS.headerText), emoji: true },
    },
    section(leadText(note, d)),
    { type: 'section', fields },
    ...verdictBlocks(d),
    section(actionText(note, d)),
    { type: 'context', elements: context.slice(0, SLACK_LIMITS.contextElements) },
  ];

  const fallback = [explained.title, ...explained.lines].join('\n');
  const message: SlackMessage = {
    text: truncate(escapeMrkdwn(fallback), SLACK_LIMITS.fallbackText),
    blocks: blocks.slice(0, SLACK_LIMITS.blocks),
  };
  if (opts.channel !== undefined) message.channel = opts.channel;
  if (opts.username !== undefined) message.username = opts.username;
  return message;
}
