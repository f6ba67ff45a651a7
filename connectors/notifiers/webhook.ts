import type { z } from 'zod';
import {
  type ConnectorDeps,
  type ConnectorFactory,
  type Notification,
  type Notifier,
} from '../../src/contracts/connector.js';
import type { Logger } from 'pino';
import { CLOUDEVENT_CONTENT_TYPE, notificationEvent } from '../shared/cloudevent.js';
import { abortedError } from '../shared/http.js';
import { redactUrl } from '../shared/redact.js';
import { parseOptions, webhookOptionsSchema } from '../shared/options.js';
import { postSigned } from '../shared/signed-post.js';
import { notificationLogger } from '../shared/log.js';

const schema = webhookOptionsSchema('the http(s) URL that receives the notification CloudEvent');

export type WebhookNotifierOptions = z.output<typeof schema>;

/**
 * Generic notifier: POSTs each notification as a CloudEvent `dev.vigil.notification.<kind>` with id
 * `<decision id>:<kind>` (stable across retries: receivers dedupe on it), signed exactly like the webhook
 * connector (`postSigned`). `data` is the decision record plus `kind`, `link`, `failure` and `steps`. An
 * operator's pause or resume is `dev.vigil.notification.operator` with id `<analysis id>:<action>:<atUnixMs>` and
 * `data` {kind, action, by, reason, token, atUnixMs, the analysis' id, service, versions, look, phase, why, dryRun,
 * link} (`operatorEvent`).
 *
 * Dry run (`ctx.dryRun` or a dry-run decision) still posts, because `actions.mode: dry-run` means "decide
 * and notify, touch nothing": the event's `data.dryRun` is true so the receiver can tell.
 * Options as the webhook connector: `url`, `secret`, `timeoutMs`, `headers`, `source`.
 */
export const webhookNotifierFactory: ConnectorFactory<WebhookNotifierOptions> = {
  type: 'webhook',
  kind: 'notifier',
  parse: (options) => parseOptions('webhook', schema, options),
  create(name: string, options: WebhookNotifierOptions, deps: ConnectorDeps): Notifier {
    const logUrl = redactUrl(options.url);
    return {
      name,
      type: 'webhook',
      kind: 'notifier',
      async post(n: Notification, ctx: { logger: Logger; signal: AbortSignal; dryRun: boolean }): Promise<void> {
        if (ctx.signal.aborted) throw abortedError('webhook', ctx.signal);
        const nowMs = deps.now();
        const event = notificationEvent(n, { source: options.source, nowMs, dryRun: ctx.dryRun });
        const res = await postSigned({
          vendor: 'webhook',
          url: options.url,
          logUrl,
          body: JSON.stringify(event),
          contentType: CLOUDEVENT_CONTENT_TYPE,
          headers: options.headers,
          signing: { id: event.id, nowMs, secret: options.secret },
          timeoutMs: options.timeoutMs,
          signal: ctx.signal,
          fetch: deps.fetch,
          logger: ctx.logger,
        });
        notificationLogger(ctx.logger, name, n).debug(
          { eventId: event.id, status: res.status },
          'notification delivered',
        );
      },
    };
  },
};
