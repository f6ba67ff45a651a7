import { webhookConnectorFactory } from '../../../connectors/webhooks/webhook.js';
import { slackNotifierFactory } from '../../../connectors/notifiers/slack.js';
import { webhookNotifierFactory } from '../../../connectors/notifiers/webhook.js';
import { connectorConformance, notifierConformance } from '../../helpers/connectors/conformance.js';
import { asNotifier, asPlan, deps } from '../../helpers/connectors/fixtures.js';

const SECRET = 'conformance-hmac-secret-7f3a';
const TOKEN = 'Bearer conformance-token-91c2';

connectorConformance(
  'webhook',
  (t) =>
    asPlan(
      webhookConnectorFactory.create(
        'hook',
        webhookConnectorFactory.parse({
          url: t.url,
          secret: SECRET,
          timeoutMs: t.timeoutMs,
          headers: { authorization: TOKEN },
        }),
        deps,
      ),
    ),
  { http: { secrets: [SECRET, TOKEN] } },
);

notifierConformance(
  'webhook',
  (t) =>
    asNotifier(
      webhookNotifierFactory.create(
        'hook',
        webhookNotifierFactory.parse({
          url: t.url,
          secret: SECRET,
          timeoutMs: t.timeoutMs,
          headers: { authorization: TOKEN },
        }),
        deps,
      ),
    ),
  {
    http: {
      secrets: [SECRET, TOKEN],
      contentType: /^application\/cloudevents\+json; charset=utf-8$/,
      dryRunMarked: (raw) => (JSON.parse(raw) as { data: { dryRun: boolean } }).data.dryRun,
    },
  },
);

notifierConformance(
  'slack',
  // The path of a Slack incoming-webhook URL is the credential: it must never show in errors.
  (t) =>
    asNotifier(
      slackNotifierFactory.create(
        'ops',
        slackNotifierFactory.parse({ webhookUrl: t.url, timeoutMs: t.timeoutMs }),
        deps,
      ),
    ),
  {
    http: {
      secrets: ['/hook'],
      contentType: /^application\/json/,
      dryRunMarked: (raw) => {
        const msg = JSON.parse(raw) as { blocks: { type: string; text?: { text: string } }[] };
        return msg.blocks[0]!.text!.text.startsWith('[dry-run]');
      },
    },
  },
);
