import { z } from 'zod';
import type { ConnectorDeps, ConnectorFactory, Notification, Notifier } from '../../src/contracts/connector.js';
import { jsonWebhookNotifier } from '../shared/json-webhook-notifier.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { buildGoogleChatMessage } from './google-chat-message.js';

const schema = z.strictObject({
  webhookUrl: httpUrl('the Google Chat incoming-webhook URL of the space, e.g. "${GOOGLE_CHAT_WEBHOOK_URL}"', {
    httpsOnly: true,
  }),
  threaded: z.boolean({ error: 'must be true or false' }).default(true),
  timeoutMs: timeoutMsOption,
});

export type GoogleChatOptions = z.output<typeof schema>;

/** With `threaded`, asks Chat to reply in the decision's thread, or to start it (`messageReplyOption`). */
export function googleChatPostUrl(options: Pick<GoogleChatOptions, 'webhookUrl' | 'threaded'>): string {
  const u = new URL(options.webhookUrl);
  if (options.threaded) u.searchParams.set('messageReplyOption', 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
  return u.href;
}

/**
 * Posts each notification to a Google Chat space through an incoming webhook as a card message (see
 * `buildGoogleChatMessage`). Options: `webhookUrl` (required, https; its `key` and `token` query
 * parameters are the credential, so logs and errors show only the origin), `threaded` (default true: the
 * decision, a failed step and the completed plan of one decision share one thread), `timeoutMs`
 * (default 10000).
 *
 * Chat answers 200 with the created message. 4xx (400 invalid card, 401/403 bad key or token, 404 space
 * gone) are permanent; 429 and 5xx are retried. Dry runs post, marked as such. No `healthCheck`: an
 * incoming webhook can only be probed by posting.
 */
export const googleChatNotifierFactory: ConnectorFactory<GoogleChatOptions> = {
  type: 'google-chat',
  kind: 'notifier',
  parse: (options) => parseOptions('google-chat', schema, options),
  create(name: string, options: GoogleChatOptions, deps: ConnectorDeps): Notifier {
    const build = (n: Notification, dryRun: boolean) =>
      buildGoogleChatMessage(n, { dryRun, threaded: options.threaded });
    return jsonWebhookNotifier(
      'google-chat',
      name,
      { ...options, postUrl: googleChatPostUrl(options) },
      deps,
      build,
      'message',
    );
  },
};
