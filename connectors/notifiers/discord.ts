import { z } from 'zod';
import type { ConnectorDeps, ConnectorFactory, Notification, Notifier } from '../../src/contracts/connector.js';
import { jsonWebhookNotifier } from '../shared/json-webhook-notifier.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { buildDiscordMessage } from './discord-message.js';

const schema = z.strictObject({
  webhookUrl: httpUrl('the Discord webhook URL, e.g. "${DISCORD_WEBHOOK_URL}"', { httpsOnly: true }),
  username: z
    .string({ error: 'must be a string: the display name of the message author' })
    .min(1, { error: "must not be empty: remove it to use the webhook's own name" })
    .max(80, { error: "must be at most 80 characters (Discord's limit for names)" })
    .optional(),
  avatarUrl: httpUrl("an https URL of the author's avatar image", { httpsOnly: true }).optional(),
  threadId: z
    .string({ error: "must be a string of digits: the id of a thread in the webhook's channel (quote it in YAML)" })
    .regex(/^\d{1,20}$/, { error: 'must be a thread id (a Discord snowflake: digits only)' })
    .optional(),
  wait: z.boolean({ error: 'must be true or false' }).default(true),
  timeoutMs: timeoutMsOption,
});

export type DiscordOptions = z.output<typeof schema>;

/** The URL posted to: the webhook URL plus `wait=true` (and `thread_id`) in its query. */
export function discordPostUrl(options: Pick<DiscordOptions, 'webhookUrl' | 'threadId' | 'wait'>): string {
  const u = new URL(options.webhookUrl);
  if (options.wait) u.searchParams.set('wait', 'true');
  if (options.threadId !== undefined) u.searchParams.set('thread_id', options.threadId);
  return u.href;
}

/**
 * Posts each notification to a Discord channel webhook (Execute Webhook) as one embed (see
 * `buildDiscordMessage`). Options: `webhookUrl` (required, https; its path holds the webhook token, so logs
 * and errors show only the origin), `username`, `avatarUrl`, `threadId` (post into a thread, required for
 * forum channels), `wait` (default true: Discord confirms the message was saved, so a rejected message
 * fails the job instead of vanishing), `timeoutMs` (default 10000).
 *
 * Discord answers 200 with the message (`wait=true`) or 204. 4xx (400 invalid form body, 401/403/404 bad
 * or deleted webhook) are permanent; 429 (rate limit) and 5xx are retried. Dry runs post, marked as such.
 * No `healthCheck`: Get Webhook with Token would reveal nothing a post does not.
 */
export const discordNotifierFactory: ConnectorFactory<DiscordOptions> = {
  type: 'discord',
  kind: 'notifier',
  parse: (options) => parseOptions('discord', schema, options),
  create(name: string, options: DiscordOptions, deps: ConnectorDeps): Notifier {
    const build = (n: Notification, dryRun: boolean) =>
      buildDiscordMessage(n, { dryRun, username: options.username, avatarUrl: options.avatarUrl });
    return jsonWebhookNotifier(
      'discord',
      name,
      { ...options, postUrl: discordPostUrl(options) },
      deps,
      build,
      'message',
    );
  },
};
