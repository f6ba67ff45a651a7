import type { Notification } from '../../src/contracts/connector.js';
import {
  fitWithin,
  jsonBytes,
  moreMetricsLine,
  notificationView,
  openLinkText,
  refLabel,
  type NotificationView,
} from '../shared/notification-view.js';
import { truncate } from './slack-message.js';

/**
 * Microsoft Teams through a Workflows (Power Automate) webhook: the flow "When a Teams webhook request is
 * received → Post card in a chat or channel" posts `attachments[0].content`, an Adaptive Card. Teams
 * renders cards up to schema 1.5 on desktop and web, 1.4 is what every client (mobile included) shows, so
 * the card declares 1.4. Teams' documented message limit is 28 KB: the whole JSON is kept under
 * `TEAMS_LIMITS.payloadBytes`, cutting texts step by step when needed (`fitWithin`).
 *
 * Text from the decision (service names, versions, reasons, vendor errors) is placed in `TextRun`s of
 * `RichTextBlock`s, which Adaptive Cards never parse as Markdown (TextBlock and FactSet would): a service
 * called `[click](https://evil)` shows as typed.
 */
export const TEAMS_LIMITS = {
  payloadBytes: 28_000,
  title: 400,
  maxMetrics: 20,
} as const;

export interface TextRun {
  type: 'TextRun';
  text: string;
  weight?: 'Bolder';
  italic?: boolean;
  isSubtle?: boolean;
  size?: 'Small' | 'Large';
  color?: 'Attention' | 'Warning' | 'Good' | 'Accent';
}
export interface RichTextBlock {
  type: 'RichTextBlock';
  inlines: TextRun[];
  spacing?: 'None' | 'Small' | 'Medium';
}
export interface Container {
  type: 'Container';
  items: RichTextBlock[];
  style?: 'attention' | 'warning' | 'good' | 'emphasis';
  separator?: boolean;
  spacing?: 'Medium';
}
export type CardElement = RichTextBlock | Container;

export interface AdaptiveCard {
  $schema: 'http://adaptivecards.io/schemas/adaptive-card.json';
  type: 'AdaptiveCard';
  version: '1.4';
  msteams: { width: 'Full' };
  body: CardElement[];
  actions: { type: 'Action.OpenUrl'; title: string; url: string }[];
}

/** The webhook body: a message with one Adaptive Card attachment. */
export interface TeamsMessage {
  type: 'message';
  attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive'; contentUrl: null; content: AdaptiveCard }];
}

const STYLE: Record<NotificationView['tone'], Container['style']> = {
  danger: 'attention',
  warning: 'warning',
  good: 'good',
  neutral: 'emphasis',
};
const PHASE_COLOR: Record<string, TextRun['color']> = { FAIL: 'Attention', PASS: 'Good', ERROR: 'Warning' };

function cardBody(v: NotificationView, limit: number): CardElement[] {
  const run = (text: string, extra: Omit<TextRun, 'type' | 'text'> = {}): TextRun => ({
    type: 'TextRun',
    text: truncate(text, limit),
    ...extra,
  });
  const block = (inlines: TextRun[], spacing?: RichTextBlock['spacing']): RichTextBlock => ({
    type: 'RichTextBlock',
    inlines,
    ...(spacing ? { spacing } : {}),
  });

  const lead: RichTextBlock[] = v.failure
    ? [
        block([run(v.failure.cause, { weight: 'Bolder', color: 'Attention' })]),
        block([run(v.failure.advice)], 'Small'),
        block([run('Why Vigil rolled back: ', { italic: true }), run(v.reason)], 'Small'),
      ]
    : [block([run(v.reason)])];

  const facts = v.facts.map((f, i) =>
    block([run(`${f.label}: `, { weight: 'Bolder' }), run(f.value)], i === 0 ? 'Medium' : 'None'),
  );

  const metrics: Container[] = v.metrics.map((m) => ({
    type: 'Container',
    separator: true,
    items: [
      block([
        run(m.name, { weight: 'Bolder' }),
        run(` (${m.detector}): `),
        run(m.phase, { weight: 'Bolder', color: PHASE_COLOR[m.phase] }),
      ]),
      block([run(m.effect)], 'None'),
      block([run(m.evidence)], 'None'),
      ...(m.summary ? [block([run(m.summary, { italic: true })], 'None')] : []),
    ],
  }));
  const tail: RichTextBlock[] = [];
  if (v.moreMetrics > 0) tail.push(block([run(moreMetricsLine(v.moreMetrics), { isSubtle: true })]));
  if (v.confidence) tail.push(block([run(v.confidence, { isSubtle: true })]));
  if (v.otherMetrics) tail.push(block([run('Other metrics: ', { weight: 'Bolder' }), run(v.otherMetrics)]));

  const action: RichTextBlock[] = [];
  if (v.action?.kind === 'steps') {
    action.push(
      block([run('Steps:', { weight: 'Bolder' })]),
      ...v.action.steps.map((s) => block([run(`• ${s}`)], 'None')),
    );
  } else if (v.action?.kind === 'plan') {
    const inlines = [run('Plan: ', { weight: 'Bolder' })];
    v.action.steps.forEach((s, i) => {
      if (i > 0) inlines.push(run(' → '));
      inlines.push(
        s.failed ? run(`${s.connector} (failed here)`, { weight: 'Bolder', color: 'Attention' }) : run(s.connector),
      );
    });
    action.push(block(inlines));
  } else if (v.action) {
    action.push(block([run(v.action.text)]));
  }

  const footer = [run([refLabel(v), ...v.footnotes].join(' · '), { isSubtle: true, size: 'Small' })];
  if (v.dryRun) footer.push(run(` · ${v.dryRunNote}`, { weight: 'Bolder', color: 'Warning', size: 'Small' }));

  return [
    {
      type: 'Container',
      style: STYLE[v.tone],
      items: [block([run(truncate(v.title, TEAMS_LIMITS.title), { size: 'Large', weight: 'Bolder' })])],
    },
    ...lead,
    ...facts,
    ...metrics,
    ...tail,
    ...(action.length > 0
      ? [{ type: 'Container' as const, separator: true, spacing: 'Medium' as const, items: action }]
      : []),
    block([...footer], 'Medium'),
  ];
}

/**
 * Builds the Workflows webhook body for one notification: a coloured title, the reason (for action-failed
 * the connector, its error and the advice first), the facts, one section per deciding metric (effect with
 * bounds, p-value, alpha, samples, summary), other metrics, what the plan does / did, the footer (decision
 * id, config hash, dry-run marker) and an "Open the decision" button when a link is set. An operator's pause or
 * resume: what it means, By and Why, the analysis' facts, its id and an "Open the analysis" button. Pure.
 */
export function buildTeamsMessage(n: Notification, opts: { dryRun: boolean }): TeamsMessage {
  const v = notificationView(n, { dryRun: opts.dryRun, maxMetrics: TEAMS_LIMITS.maxMetrics });
  const build = (limit: number): TeamsMessage => ({
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          msteams: { width: 'Full' },
          body: cardBody(v, limit),
          actions: v.link ? [{ type: 'Action.OpenUrl', title: openLinkText(v), url: v.link }] : [],
        },
      },
    ],
  });
  return fitWithin(build, jsonBytes, TEAMS_LIMITS.payloadBytes);
}
