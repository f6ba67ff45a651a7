import { z } from 'zod';
import type { Logger } from 'pino';
import type { ConnectorDeps, ConnectorFactory, Notification, Notifier } from '../../src/contracts/connector.js';
import { abortedError, describeUrl, postWithTimeout } from '../shared/http.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { buildMattermostMessage } from './mattermost-message.js';

const schema = z.strictObject({
  webhookUrl: httpUrl('the Mattermost incoming-webhook URL (https://<server>/hooks/<key>), e.g. "${MATTERMOST_WEBHOOK_URL}"', { httpsOnly: true }),
  channel: z
    .string({ error: 'must be a string: a channel name such as "releases", or "@user" for a direct message' })
    .min(1, { error: 'must not be empty: remove it to post to the webhook\'s own channel' })
    .max(64, { error: 'must be at most 64 characters (Mattermost channel names are shorter)' })
    .optional(),
  username: z
    .string({ error: 'must be a string: the display name of the message author' })
    .min(1, { error: 'must not be empty: remove it to use the webhook\'s own name' })
    .max(64, { error: 'must be at most 64 characters' })
    .optional(),
  iconUrl: httpUrl('an http(s) URL of the author\'s icon', { httpsOnly: false }).optional(),
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
    const logUrl = describeUrl(options.webhookUrl, { keepPath: false });
    return {
      name,
      type: 'mattermost',
      kind: 'notifier',
      async post(n: Notification, ctx: { logger: Logger; signal: AbortSignal; dryRun: boolean }): Promise<void> {
        if (ctx.signal.aborted) throw abortedError('mattermost', ctx.signal);
        const message = buildMattermostMessage(n, {
          dryRun: ctx.dryRun, channel: options.channel, username: options.username, iconUrl: options.iconUrl,
        });
        await postWithTimeout({
          vendor: 'mattermost',
          url: options.webhookUrl,
          body: JSON.stringify(message),
          headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'vigil' },
          timeoutMs: options.timeoutMs,
          signal: ctx.signal,
          fetch: deps.fetch,
          logger: ctx.logger,
          logUrl,
        });
        ctx.logger.debug({ notifier: name, kind: n.kind, decisionId: n.decision.id }, 'mattermost message posted');
      },
    };
  },
};
