/**
 * The notifier conformance suite against a real local HTTP server, for the chat and paging notifiers
 * (teams, discord, google-chat, mattermost, pagerduty), plus the PagerDuty event mapping over HTTP.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { discordNotifierFactory } from '../../../connectors/notifiers/discord.js';
import { googleChatNotifierFactory } from '../../../connectors/notifiers/google-chat.js';
import { mattermostNotifierFactory } from '../../../connectors/notifiers/mattermost.js';
import { pagerDutyNotifierFactory } from '../../../connectors/notifiers/pagerduty.js';
import { teamsNotifierFactory } from '../../../connectors/notifiers/teams.js';
import type { Notification } from '../../../src/contracts/connector.js';
import { VigilError } from '../../../src/errors.js';
import { notifierConformance } from '../../helpers/connectors/conformance.js';
import {
  asNotifier,
  deps,
  everyNotification,
  notifyContext,
  operatorNotification,
  rollbackDecision,
} from '../../helpers/connectors/fixtures.js';
import { HttpPeer } from '../../helpers/http-peer.js';

const ROUTING_KEY = 'CONFORMANCEKEY0123456789abcdefAB';

// Raw vendor JSON: its shape is what the assertions check.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const parse = (raw: string): Record<string, any> => JSON.parse(raw);

notifierConformance(
  'teams',
  // The query (sig=…) of a Workflows URL is the credential; the suite's URL has a path only, which must
  // not show either.
  (t) =>
    asNotifier(
      teamsNotifierFactory.create(
        'teams',
        teamsNotifierFactory.parse({ webhookUrl: t.url, timeoutMs: t.timeoutMs }),
        deps,
      ),
    ),
  {
    http: {
      secrets: ['/hook'],
      contentType: /^application\/json; charset=utf-8$/,
      dryRunMarked: (raw) => parse(raw).attachments[0].content.body[0].items[0].inlines[0].text.startsWith('[dry-run]'),
    },
  },
);

notifierConformance(
  'discord',
  (t) =>
    asNotifier(
      discordNotifierFactory.create(
        'discord',
        discordNotifierFactory.parse({ webhookUrl: t.url, timeoutMs: t.timeoutMs }),
        deps,
      ),
    ),
  {
    http: {
      secrets: ['/hook'],
      requestPath: /^\/hook\?wait=true$/,
      contentType: /^application\/json; charset=utf-8$/,
      dryRunMarked: (raw) => parse(raw).embeds[0].title.startsWith('[dry-run]'),
    },
  },
);

notifierConformance(
  'google-chat',
  (t) =>
    asNotifier(
      googleChatNotifierFactory.create(
        'chat',
        googleChatNotifierFactory.parse({ webhookUrl: t.url, timeoutMs: t.timeoutMs }),
        deps,
      ),
    ),
  {
    http: {
      secrets: ['/hook'],
      requestPath: /^\/hook\?messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD$/,
      contentType: /^application\/json; charset=utf-8$/,
      dryRunMarked: (raw) => parse(raw).cardsV2[0].card.header.title.startsWith('[dry-run]'),
    },
  },
);

notifierConformance(
  'mattermost',
  (t) =>
    asNotifier(
      mattermostNotifierFactory.create(
        'mm',
        mattermostNotifierFactory.parse({ webhookUrl: t.url, timeoutMs: t.timeoutMs }),
        deps,
      ),
    ),
  {
    http: {
      secrets: ['/hook'],
      contentType: /^application\/json; charset=utf-8$/,
      dryRunMarked: (raw) => parse(raw).attachments[0].footer.includes('DRY RUN'),
    },
  },
);

notifierConformance(
  'pagerduty',
  // The routing key travels in the body, as the Events API requires; it must never reach an error.
  (t) =>
    asNotifier(
      pagerDutyNotifierFactory.create(
        'pd',
        pagerDutyNotifierFactory.parse({ routingKey: ROUTING_KEY, url: t.url, timeoutMs: t.timeoutMs }),
        deps,
      ),
    ),
  {
    http: {
      secrets: [],
      contentType: /^application\/json$/,
      dryRunMarked: (raw) => {
        const e = parse(raw);
        return (
          e.payload.summary.startsWith('[dry-run]') &&
          e.payload.severity === 'info' &&
          e.payload.custom_details.dry_run === true
        );
      },
    },
  },
);

describe('pagerduty over HTTP', () => {
  let receiver: HttpPeer;
  beforeAll(async () => {
    receiver = await HttpPeer.start();
  });
  afterAll(async () => {
    await receiver.close();
  });
  beforeEach(() => receiver.reset());

  const notifier = (options: Record<string, unknown> = {}) =>
    asNotifier(
      pagerDutyNotifierFactory.create(
        'pd',
        pagerDutyNotifierFactory.parse({
          routingKey: ROUTING_KEY,
          url: `${receiver.url}/v2/enqueue`,
          timeoutMs: 2000,
          ...options,
        }),
        deps,
      ),
    );

  it('keeps the routing key out of every error, even when the answer echoes it', async () => {
    for (const status of [400, 429, 500]) {
      receiver.reset();
      receiver.answer(status, `{"status":"invalid event","message":"bad key ${ROUTING_KEY}"}`);
      const err: unknown = await notifier()
        .post(everyNotification()[0]!, notifyContext())
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VigilError);
      const e = err as VigilError;
      expect(`${e.message} ${JSON.stringify(e.details)} ${e.stack ?? ''}`).not.toContain(ROUTING_KEY);
      expect(e.message).toContain('[routing key]');
      expect(e.retryable).toBe(status !== 400);
    }
  });

  it('triggers, re-triggers and resolves one alert per analysis: same dedup key throughout', async () => {
    receiver.answer(202, '{"status":"success","message":"Event processed","dedup_key":"checkout:v1.8.0"}');
    const d = rollbackDecision({ analysis: 'checkout:v1.8.0' });
    const promote: Notification = {
      kind: 'decision',
      decision: rollbackDecision({ analysis: 'checkout:v1.8.0', outcome: 'promote', plan: [] }),
    };
    const pd = notifier();
    for (const n of [...everyNotification(d), promote]) await pd.post(n, notifyContext());
    const events = receiver.requests.map((r) => parse(r.text));
    expect(events.map((e) => e.event_action)).toEqual(['trigger', 'trigger', 'trigger', 'resolve']);
    expect(events.map((e) => e.dedup_key)).toEqual(Array(4).fill('checkout:v1.8.0'));
    expect(events.map((e) => e.payload?.severity)).toEqual(['error', 'critical', 'error', undefined]);
    expect(events.every((e) => e.routing_key === ROUTING_KEY)).toBe(true);
  });

  it('sends nothing for an abandoned analysis unless onAbandoned is trigger', async () => {
    const abandoned: Notification = {
      kind: 'decision',
      decision: rollbackDecision({ outcome: 'abandoned', plan: [] }),
    };
    await notifier().post(abandoned, notifyContext());
    expect(receiver.requests).toHaveLength(0);
    await notifier({ onAbandoned: 'trigger' }).post(abandoned, notifyContext());
    expect(receiver.requests).toHaveLength(1);
    expect(parse(receiver.requests[0]!.text).payload.severity).toBe('warning');
  });

  it("sends an operator's pause as a change event to /v2/change/enqueue (the same key), pages nobody", async () => {
    receiver.answer(202, '{"status":"success","message":"Change event processed"}');
    await notifier().post(operatorNotification(), notifyContext());
    expect(receiver.requests).toHaveLength(1);
    const r = receiver.requests[0]!;
    expect(r.path).toBe('/v2/change/enqueue');
    const e = parse(r.text);
    expect(e.routing_key).toBe(ROUTING_KEY);
    expect(e).not.toHaveProperty('event_action');
    expect(e).not.toHaveProperty('dedup_key');
    expect(e.payload.summary).toBe('checkout canary v1.8.0: analysis paused by alice');
  });

  it('keeps the routing key out of a change event error too; 400 is permanent', async () => {
    receiver.answer(400, `{"status":"invalid event","message":"bad key ${ROUTING_KEY}"}`);
    const err: unknown = await notifier()
      .post(operatorNotification(), notifyContext())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VigilError);
    const e = err as VigilError;
    expect(`${e.message} ${JSON.stringify(e.details)} ${e.stack ?? ''}`).not.toContain(ROUTING_KEY);
    expect(e.retryable).toBe(false);
  });

  it('resolves after a completed rollback with resolveAfterRollback', async () => {
    await notifier({ resolveAfterRollback: true }).post(everyNotification()[2]!, notifyContext());
    expect(parse(receiver.requests[0]!.text)).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: 'checkout',
    });
  });
});
