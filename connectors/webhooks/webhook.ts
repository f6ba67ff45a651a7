import type { z } from 'zod';
import type {
  ActionContext,
  ActionResult,
  ConnectorDeps,
  ConnectorFactory,
  PlanConnector,
} from '../../src/contracts/connector.js';
import { CLOUDEVENT_CONTENT_TYPE, ROLLBACK_EVENT_TYPE, rollbackEvent } from '../shared/cloudevent.js';
import { abortedError } from '../shared/http.js';
import { redactUrl } from '../shared/redact.js';
import { parseOptions, webhookOptionsSchema } from '../shared/options.js';
import { postSigned } from '../shared/signed-post.js';
import { withBindings } from '../shared/log.js';

const schema = webhookOptionsSchema('the http(s) URL that receives the CloudEvent');

export type WebhookConnectorOptions = z.output<typeof schema>;

/**
 * Plan step of kind `webhook` that forwards a rollback decision as a signed CloudEvent (`dev.vigil.rollback`,
 * DESIGN.md's webhook contract) to `options.url`, e.g. a team's own flag service or a deploy pipeline trigger.
 * Options: `url` (required), `secret` (HMAC key; unsigned without it), `timeoutMs` (default 10000),
 * `headers` (extra request headers, e.g. Authorization; never logged), `source` (default "vigil").
 *
 * Idempotency: the event `id` is the decision id and stays the same on every retry of the job (only
 * `time` and the signature timestamp change), so receivers MUST treat the event id as an idempotency key
 * and act on it at most once. `changed: true` therefore means "delivered", not "the receiver changed
 * something": only the receiver knows whether a delivery was a repeat.
 *
 * Dry run sends nothing and describes what would have been sent. There is no `healthCheck`: HEAD and
 * OPTIONS are answered by proxies and frameworks whether or not the POST handler works, and a test POST
 * would be a real event to the receiver; the URL is validated when the options are parsed.
 */
export const webhookConnectorFactory: ConnectorFactory<WebhookConnectorOptions> = {
  type: 'webhook',
  kind: 'webhook',
  parse: (options) => parseOptions('webhook', schema, options),
  create(name: string, options: WebhookConnectorOptions, deps: ConnectorDeps): PlanConnector<'webhook'> {
    // what the audit log, chat and logs show of the URL: a token in its path or query never reaches them
    const logUrl = redactUrl(options.url);
    return {
      name,
      type: 'webhook',
      kind: 'webhook',
      async apply(ctx: ActionContext): Promise<ActionResult> {
        if (ctx.signal.aborted) throw abortedError('webhook', ctx.signal);
        const nowMs = deps.now();
        const event = rollbackEvent(ctx.decision, { source: options.source, nowMs });
        const body = JSON.stringify(event);
        const what =
          `CloudEvent ${ROLLBACK_EVENT_TYPE} id=${event.id} (${Buffer.byteLength(body)} bytes, ` +
          `${options.secret !== undefined ? 'signed' : 'unsigned'}) to ${logUrl}`;
        if (ctx.dryRun) return { changed: false, detail: `dry-run: would POST ${what}` };
        const res = await postSigned({
          vendor: 'webhook',
          url: options.url,
          logUrl,
          body,
          contentType: CLOUDEVENT_CONTENT_TYPE,
          headers: options.headers,
          signing: { id: event.id, nowMs, secret: options.secret },
          timeoutMs: options.timeoutMs,
          signal: ctx.signal,
          fetch: deps.fetch,
          logger: ctx.logger,
        });
        withBindings(ctx.logger, { connector: name }).info(
          { eventId: event.id, status: res.status },
          'rollback event delivered',
        );
        return { changed: true, detail: `POSTed ${what}: HTTP ${res.status}` };
      },
    };
  },
};
