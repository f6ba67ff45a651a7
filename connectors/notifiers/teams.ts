import { z } from 'zod';
import type { ConnectorDeps, ConnectorFactory, Notifier } from '../../src/contracts/connector.js';
import { jsonWebhookNotifier } from '../shared/json-webhook-notifier.js';
import { httpUrl, parseOptions, timeoutMsOption } from '../shared/options.js';
import { buildTeamsMessage } from './teams-message.js';

const schema = z.strictObject({
  webhookUrl: httpUrl('the URL of the Teams Workflows webhook trigger, e.g. "${TEAMS_WEBHOOK_URL}"', {
    httpsOnly: true,
  }),
  timeoutMs: timeoutMsOption,
});

export type TeamsOptions = z.output<typeof schema>;

/**
 * Posts each notification to Microsoft Teams through a Workflows webhook (the successor of the retired
 * Office 365 "Incoming Webhook" connector): create a flow from the template "Post to a channel when a
 * webhook request is received" and give its URL as `webhookUrl`. The body is a `message` whose one
 * attachment is an Adaptive Card 1.4 (see `buildTeamsMessage`).
 *
 * Options: `webhookUrl` (required, https; its `sig` query parameter is the credential, so logs and errors
 * show only the origin), `timeoutMs` (default 10000). The flow answers 202 Accepted; 4xx (400 bad
 * payload, 401/403 bad signature, 404 flow deleted) are permanent, 429 and 5xx retried. Dry runs post,
 * marked as such. No `healthCheck`: a Workflows trigger cannot be probed without running the flow.
 */
export const teamsNotifierFactory: ConnectorFactory<TeamsOptions> = {
  type: 'teams',
  kind: 'notifier',
  parse: (options) => parseOptions('teams', schema, options),
  create(name: string, options: TeamsOptions, deps: ConnectorDeps): Notifier {
    return jsonWebhookNotifier('teams', name, options, deps, (n, dryRun) => buildTeamsMessage(n, { dryRun }), 'card');
  },
};
