import { z } from 'zod';
import type { ConnectorDeps, ConnectorFactory, Notifier } from '../../src/contracts/connector.js';
import { jsonWebhookNotifier } from '../shared/json-webhook-notifier.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { buildSlackMessage } from './slack-message.js';

const schema = z.strictObject({
  webhookUrl: httpUrl('the Slack incoming-webhook URL, e.g. "${SLACK_WEBHOOK_URL}"', { httpsOnly: true }),
  channel: z
    .string({ error: 'must be a string: a channel name such as "#releases" or a channel id' })
    .min(1, { error: "must not be empty: remove it to post to the webhook's own channel" })
    .max(80, { error: 'must be at most 80 characters (Slack channel names are shorter)' })
    .optional(),
  username: z
    .string({ error: 'must be a string: the display name of the message author' })
    .min(1, { error: "must not be empty: remove it to use the webhook's own name" })
    .max(80, { error: 'must be at most 80 characters' })
    .optional(),
  timeoutMs: timeoutMsOption,
});

export type SlackOptions = z.output<typeof schema>;

/**
 * Posts each notification to a Slack incoming webhook as a Block Kit message (see `buildSlackMessage`).
 * Options: `webhookUrl` (required, https; the URL is itself the credential, so logs and errors show only
 * its origin), `channel` and `username` (legacy overrides, ignored by webhooks of newer Slack apps),
 * `timeoutMs` (default 10000).
 *
 * Slack answers 200 "ok". Its 4xx answers (400 invalid_payload, 403 action_prohibited, 404 no_service,
 * 410 channel_is_archived) are permanent; 429 and 5xx are retried. Dry runs still post, marked as such:
 * `actions.mode: dry-run` means decide and notify, touch nothing. No `healthCheck`: the only probe an
 * incoming webhook offers is posting a message to the channel.
 */
export const slackNotifierFactory: ConnectorFactory<SlackOptions> = {
  type: 'slack',
  kind: 'notifier',
  parse: (options) => parseOptions('slack', schema, options),
  create(name: string, options: SlackOptions, deps: ConnectorDeps): Notifier {
    return jsonWebhookNotifier(
      'slack',
      name,
      options,
      deps,
      (n, dryRun) => buildSlackMessage(n, { dryRun, channel: options.channel, username: options.username }),
      'message',
    );
  },
};
