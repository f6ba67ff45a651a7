import { z } from 'zod';
import type { ConnectorDeps, ConnectorFactory, Notifier } from '../../src/contracts/connector.js';
import { jsonWebhookNotifier } from '../shared/json-webhook-notifier.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { buildMattermostMessage } from './mattermost-message.js';

const schema = z.strictObject({
  webhookUrl: httpUrl(
    'the Mattermost incoming-webhook URL (https://<server>/hooks/<key>), e.g. "${MATTERMOST_WEBHOOK_URL}"',
    { httpsOnly: true },
  ),
  channel: z
    .string({ error: 'must be a string: a channel name such as "releases", or "@user" for a direct message' })
    .min(1, { error: "must not be empty: remove it to post to the webhook's own channel" })
    .max(64, { error: 'must be at most 64 characters (Mattermost channel names are shorter)' })
    .optional(),
  username: z
    .string({ error: 'must be a string: the display name of the message author' })
    .min(1, { error: "must not be empty: remove it to use the webhook's own name" })
    .max(64, { error: 'must be at most 64 characters' })
    .optional(),
  iconUrl: httpUrl("an http(s) URL of the author's icon", { httpsOnly: false }).optional(),
  timeoutMs: timeoutMsOption,
});

export type MattermostOptions = z.output<typeof schema>;

/**
 * Posts each notification to a Mattermost incoming webhook (Slack-compatible body: `text` plus one
 * attachment, see `buildMattermostMessage`). Options: `webhookUrl` (required, https; its path is the
 * credential, so logs and errors show only the origin), `channel`, `username` and `iconUrl` (honoured
 * when the server allows webhooks to override them), `timeoutMs` (default 10000).
 *
 * Mattermost answers 200 "ok". 4xx (400 invalid payload, 403 overrides disabled, 404 webhook deleted) are
 * permanent; 429 and 5xx are retried. Dry runs post, marked as such. No `healthCheck`: an incoming webhook
 * can only be probed by posting.
 */
export const mattermostNotifierFactory: ConnectorFactory<MattermostOptions> = {
  type: 'mattermost',
  kind: 'notifier',
  parse: (options) => parseOptions('mattermost', schema, options),
  create(name: string, options: MattermostOptions, deps: ConnectorDeps): Notifier {
    return jsonWebhookNotifier(
      'mattermost',
      name,
      options,
      deps,
      (n, dryRun) =>
        buildMattermostMessage(n, {
          dryRun,
          channel: options.channel,
          username: options.username,
          iconUrl: options.iconUrl,
        }),
      'message',
    );
  },
};
