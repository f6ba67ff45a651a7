import { type ConnectorDeps, type Notification, type Notifier } from '../../src/contracts/connector.js';
import { abortedError } from './http.js';
import { originOf } from './redact.js';
import { notificationLogger } from './log.js';
import { postSigned } from './signed-post.js';

/**
 * A notifier that POSTs one JSON message per notification to a webhook URL that is itself the credential
 * (Slack, Teams Workflows, Mattermost, Discord, Google Chat): logs and errors show only the URL's origin.
 * `build` turns the notification into the vendor's message; `postUrl` (default: the webhook URL) is where it
 * goes when the vendor wants query parameters added; everything else (abort, timeout, error mapping) is
 * shared (`postSigned`, unsigned: the URL is the credential).
 */
export function jsonWebhookNotifier(
  type: string,
  name: string,
  options: { webhookUrl: string; timeoutMs: number; postUrl?: string },
  deps: ConnectorDeps,
  build: (n: Notification, dryRun: boolean) => unknown,
  posted: string,
): Notifier {
  const logUrl = originOf(options.webhookUrl);
  return {
    name,
    type,
    kind: 'notifier',
    async post(n, ctx) {
      if (ctx.signal.aborted) throw abortedError(type, ctx.signal);
      await postSigned({
        vendor: type,
        url: options.postUrl ?? options.webhookUrl,
        logUrl,
        body: JSON.stringify(build(n, ctx.dryRun)),
        contentType: 'application/json; charset=utf-8',
        timeoutMs: options.timeoutMs,
        signal: ctx.signal,
        fetch: deps.fetch,
        logger: ctx.logger,
      });
      notificationLogger(ctx.logger, name, n).debug(`${type} ${posted} posted`);
    },
  };
}
