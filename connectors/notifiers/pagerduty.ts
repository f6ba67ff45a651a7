import { z } from 'zod';
import type { Logger } from 'pino';
import {
  type ConnectorDeps,
  type ConnectorFactory,
  type Notification,
  type Notifier,
} from '../../src/contracts/connector.js';
import { abortedError } from '../shared/http.js';
import { redactUrl } from '../shared/redact.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { postSigned } from '../shared/signed-post.js';
import { buildPagerDutyEvent, changeEventsUrl, isAlertEvent } from './pagerduty-event.js';
import { notificationLogger } from '../shared/log.js';

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

const schema = z.strictObject({
  routingKey: z
    .string({
      error: (iss) =>
        iss.input === undefined
          ? 'is required: the 32-character integration key of an Events API v2 integration, e.g. "${PAGERDUTY_ROUTING_KEY}"'
          : 'must be a string: the integration key',
    })
    .regex(/^[A-Za-z0-9]{32}$/, {
      error: 'must be the 32-character integration (routing) key of an Events API v2 integration',
    }),
  url: httpUrl(
    `the Events API v2 endpoint (default ${PAGERDUTY_EVENTS_URL}; EU accounts: https://events.eu.pagerduty.com/v2/enqueue)`,
    { httpsOnly: true },
  ).default(PAGERDUTY_EVENTS_URL),
  severity: z
    .enum(['critical', 'error', 'warning', 'info'], { error: 'must be one of critical, error, warning, info' })
    .default('error'),
  source: z
    .string({ error: 'must be a string: the affected system as PagerDuty shows it (default: the service)' })
    .min(1, { error: 'must not be empty: remove it to use the service name' })
    .max(255, { error: 'must be at most 255 characters' })
    .optional(),
  onAbandoned: z.enum(['ignore', 'trigger'], { error: 'must be ignore or trigger' }).default('ignore'),
  resolveAfterRollback: z.boolean({ error: 'must be true or false' }).default(false),
  timeoutMs: timeoutMsOption,
});

export type PagerDutyOptions = z.output<typeof schema>;

/**
 * Pages through the PagerDuty Events API v2: a rollback triggers an alert whose `dedup_key` is the
 * analysis id, a failed step re-triggers it as critical, the completed plan is appended to it, a promote
 * resolves it (see `buildPagerDutyEvent`). Options: `routingKey` (required: the integration key; it
 * travels in the body, never in logs or errors), `url` (default the US endpoint), `severity` of a
 * rollback (default `error`), `source` (default the service), `onAbandoned` (`ignore` or `trigger` a
 * warning), `resolveAfterRollback` (default false: the alert stays open for a human), `timeoutMs`. An operator's
 * pause or resume is no incident: it goes out as a change event (`change/enqueue` next to `url`, the same routing
 * key), which pages nobody and shows among the service's recent changes.
 *
 * PagerDuty answers 202 Accepted. 400 (invalid event) is permanent; 429 (throttled) and 5xx are retried,
 * as PagerDuty documents. Dry runs trigger with severity `info` and a "[dry-run]" summary. No
 * `healthCheck`: the Events API has no read-only probe.
 */
export const pagerDutyNotifierFactory: ConnectorFactory<PagerDutyOptions> = {
  type: 'pagerduty',
  kind: 'notifier',
  parse: (options) => parseOptions('pagerduty', schema, options),
  create(name: string, options: PagerDutyOptions, deps: ConnectorDeps): Notifier {
    const changeUrl = changeEventsUrl(options.url);
    return {
      name,
      type: 'pagerduty',
      kind: 'notifier',
      async post(n: Notification, ctx: { logger: Logger; signal: AbortSignal; dryRun: boolean }): Promise<void> {
        if (ctx.signal.aborted) throw abortedError('pagerduty', ctx.signal);
        const event = buildPagerDutyEvent(n, { ...options, dryRun: ctx.dryRun, nowMs: deps.now() });
        const log = notificationLogger(ctx.logger, name, n);
        if (!event) {
          log.debug(
            { decisionOutcome: n.kind === 'operator' ? undefined : n.decision.outcome },
            'pagerduty: nothing to send for this notification',
          );
          return;
        }
        const url = isAlertEvent(event) ? options.url : changeUrl;
        await postSigned({
          vendor: 'pagerduty',
          url,
          logUrl: redactUrl(url),
          body: JSON.stringify(event),
          contentType: 'application/json',
          // PagerDuty's answers do not echo the routing key; should one ever do, the key must not travel on.
          conceal: { secret: options.routingKey, as: '[routing key]' },
          timeoutMs: options.timeoutMs,
          signal: ctx.signal,
          fetch: deps.fetch,
          logger: ctx.logger,
        });
        if (isAlertEvent(event)) {
          log.debug({ action: event.event_action, dedupKey: event.dedup_key }, 'pagerduty event accepted');
        } else log.debug('pagerduty change event accepted');
      },
    };
  },
};
