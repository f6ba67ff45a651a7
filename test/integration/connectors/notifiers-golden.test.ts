/**
 * Golden payloads of the chat and paging notifiers (teams, discord, google-chat, mattermost, pagerduty):
 * fixed notifications (decisions, a rollback by hand, an operator's pause or resume), posted through each real
 * connector to a local server, must equal
 * fixtures/notifiers/<type>-*.json (as parsed JSON), and go to the documented path. Review the fixtures by
 * eye when they change; regenerate with
 * UPDATE_GOLDEN=1 npx vitest run test/integration/connectors/notifiers-golden.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discordNotifierFactory } from '../../../connectors/notifiers/discord.js';
import { googleChatNotifierFactory } from '../../../connectors/notifiers/google-chat.js';
import { mattermostNotifierFactory } from '../../../connectors/notifiers/mattermost.js';
import { pagerDutyNotifierFactory } from '../../../connectors/notifiers/pagerduty.js';
import { teamsNotifierFactory } from '../../../connectors/notifiers/teams.js';
import type { ConnectorFactory, Notification } from '../../../src/contracts/connector.js';
import {
  actionFailed,
  asNotifier,
  deps,
  everyNotification,
  manualRollback,
  notifyContext,
  operatorNotification,
  rollbackDecision,
} from '../../helpers/connectors/fixtures.js';
import { HttpPeer } from '../../helpers/http-peer.js';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/notifiers/', import.meta.url));
const ROUTING_KEY = 'R0UTINGKEY0123456789abcdefABCDEF';
const LINK = 'https://vigil.example.com/api/v1/decisions/dec-01JH2Q7K8Z';

const rollback: Notification = { kind: 'decision', decision: rollbackDecision(), link: LINK };
const planCompleted = everyNotification()[2]!;
const promote: Notification = {
  kind: 'decision',
  decision: rollbackDecision({
    id: 'dec-01JH2R0PROM',
    outcome: 'promote',
    reason: 'every acting metric excludes harm at look 12: promote canary v1.8.0',
    plan: [],
    verdicts: rollbackDecision().verdicts.map((v) => ({ ...v, phase: 'pass' as const })),
  }),
  link: LINK,
};

const paused = operatorNotification();
const resumed = operatorNotification({
  operator: { action: 'resume', reason: 'migration done', atUnixMs: Date.UTC(2026, 0, 1, 0, 30) },
  analysis: { why: 'resumed by hand: the next look decides' },
});
const manual: Notification = {
  kind: 'decision',
  decision: manualRollback(),
  link: 'https://vigil.example.com/api/v1/decisions/d-manual0000000001',
};

interface Case {
  file: string;
  factory: ConnectorFactory;
  options: (base: string) => Record<string, unknown>;
  notification: Notification;
  /** The path (with query) the notifier must post to, under the receiver. */
  path: string;
  contentType: string;
  dryRun?: boolean;
}

const json = 'application/json; charset=utf-8';
const cases: Case[] = [
  {
    file: 'teams-rollback.json',
    factory: teamsNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIG` }),
    notification: rollback,
    path: '/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIG',
    contentType: json,
  },
  {
    file: 'teams-action-failed.json',
    factory: teamsNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/workflows/abc` }),
    notification: actionFailed(),
    path: '/workflows/abc',
    contentType: json,
  },
  {
    file: 'discord-rollback.json',
    factory: discordNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/api/webhooks/123/TOKEN`, username: 'Vigil' }),
    notification: rollback,
    path: '/api/webhooks/123/TOKEN?wait=true',
    contentType: json,
  },
  {
    file: 'discord-action-failed.json',
    factory: discordNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/api/webhooks/123/TOKEN`, threadId: '998877' }),
    notification: actionFailed(),
    path: '/api/webhooks/123/TOKEN?wait=true&thread_id=998877',
    contentType: json,
  },
  {
    file: 'google-chat-rollback.json',
    factory: googleChatNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/v1/spaces/AAAA/messages?key=KEY&token=TOKEN` }),
    notification: rollback,
    path: '/v1/spaces/AAAA/messages?key=KEY&token=TOKEN&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD',
    contentType: json,
  },
  {
    file: 'google-chat-plan-completed.json',
    factory: googleChatNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/v1/spaces/AAAA/messages?key=KEY&token=TOKEN`, threaded: false }),
    notification: planCompleted,
    path: '/v1/spaces/AAAA/messages?key=KEY&token=TOKEN',
    contentType: json,
  },
  {
    file: 'mattermost-rollback.json',
    factory: mattermostNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/hooks/xxx-generatedkey-xxx`, channel: 'releases', username: 'vigil' }),
    notification: rollback,
    path: '/hooks/xxx-generatedkey-xxx',
    contentType: json,
  },
  {
    file: 'mattermost-action-failed.json',
    factory: mattermostNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/hooks/xxx-generatedkey-xxx` }),
    notification: actionFailed(),
    path: '/hooks/xxx-generatedkey-xxx',
    contentType: json,
    dryRun: true,
  },
  {
    file: 'pagerduty-rollback.json',
    factory: pagerDutyNotifierFactory,
    options: (b) => ({ routingKey: ROUTING_KEY, url: `${b}/v2/enqueue`, source: 'checkout.prod' }),
    notification: rollback,
    path: '/v2/enqueue',
    contentType: 'application/json',
  },
  {
    file: 'pagerduty-action-failed.json',
    factory: pagerDutyNotifierFactory,
    options: (b) => ({ routingKey: ROUTING_KEY, url: `${b}/v2/enqueue` }),
    notification: actionFailed(),
    path: '/v2/enqueue',
    contentType: 'application/json',
  },
  {
    file: 'pagerduty-plan-completed.json',
    factory: pagerDutyNotifierFactory,
    options: (b) => ({ routingKey: ROUTING_KEY, url: `${b}/v2/enqueue`, severity: 'warning' }),
    notification: planCompleted,
    path: '/v2/enqueue',
    contentType: 'application/json',
  },
  {
    file: 'teams-operator-pause.json',
    factory: teamsNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/workflows/abc` }),
    notification: paused,
    path: '/workflows/abc',
    contentType: json,
  },
  {
    file: 'teams-manual-rollback.json',
    factory: teamsNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/workflows/abc` }),
    notification: manual,
    path: '/workflows/abc',
    contentType: json,
  },
  {
    file: 'discord-operator-pause.json',
    factory: discordNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/api/webhooks/123/TOKEN` }),
    notification: paused,
    path: '/api/webhooks/123/TOKEN?wait=true',
    contentType: json,
  },
  {
    file: 'google-chat-operator-resume.json',
    factory: googleChatNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/v1/spaces/AAAA/messages?key=KEY&token=TOKEN` }),
    notification: resumed,
    path: '/v1/spaces/AAAA/messages?key=KEY&token=TOKEN&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD',
    contentType: json,
  },
  {
    file: 'mattermost-operator-pause.json',
    factory: mattermostNotifierFactory,
    options: (b) => ({ webhookUrl: `${b}/hooks/xxx-generatedkey-xxx` }),
    notification: paused,
    path: '/hooks/xxx-generatedkey-xxx',
    contentType: json,
    dryRun: true,
  },
  {
    file: 'pagerduty-operator-pause.json',
    factory: pagerDutyNotifierFactory,
    options: (b) => ({ routingKey: ROUTING_KEY, url: `${b}/v2/enqueue` }),
    notification: paused,
    path: '/v2/change/enqueue',
    contentType: 'application/json',
  },
  {
    file: 'pagerduty-manual-rollback.json',
    factory: pagerDutyNotifierFactory,
    options: (b) => ({ routingKey: ROUTING_KEY, url: `${b}/v2/enqueue` }),
    notification: manual,
    path: '/v2/enqueue',
    contentType: 'application/json',
  },
  {
    file: 'pagerduty-promote.json',
    factory: pagerDutyNotifierFactory,
    options: (b) => ({ routingKey: ROUTING_KEY, url: `${b}/v2/enqueue` }),
    notification: promote,
    path: '/v2/enqueue',
    contentType: 'application/json',
  },
];

describe('chat and paging golden payloads', () => {
  let receiver: HttpPeer;
  beforeAll(async () => {
    receiver = await HttpPeer.start();
  });
  afterAll(async () => {
    await receiver.close();
  });

  for (const c of cases) {
    it(`${c.factory.type} posts ${c.file}`, async () => {
      receiver.reset();
      receiver.answer(
        c.factory.type === 'pagerduty' ? 202 : 200,
        c.factory.type === 'pagerduty' ? '{"status":"success","message":"Event processed"}' : 'ok',
      );
      const notifier = asNotifier(c.factory.create('golden', c.factory.parse(c.options(receiver.url)), deps));
      await notifier.post(c.notification, notifyContext({ dryRun: c.dryRun ?? false }));
      expect(receiver.requests).toHaveLength(1);
      const req = receiver.requests[0]!;
      expect(req.method).toBe('POST');
      expect(req.path).toBe(c.path);
      expect(req.headers['content-type']).toBe(c.contentType);
      const posted: unknown = JSON.parse(req.text);
      const path = `${FIXTURES}${c.file}`;
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, `${JSON.stringify(posted, null, 2)}\n`);
      expect(existsSync(path), `${c.file} is missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
      expect(posted).toEqual(JSON.parse(readFileSync(path, 'utf8')));
    });
  }
});
