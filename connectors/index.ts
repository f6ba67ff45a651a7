import type { ConnectorFactory } from '../src/contracts/connector.js';
import { argoRolloutsDeployerFactory } from './deployers/argo-rollouts.js';
import { commandDeployerFactory } from './deployers/command.js';
import { kubernetesDeployerFactory } from './deployers/kubernetes.js';
import { flagdFactory } from './flags/flagd.js';
import { flagsmithFactory } from './flags/flagsmith.js';
import { launchDarklyFactory } from './flags/launchdarkly.js';
import { unleashFactory } from './flags/unleash.js';
import { noopConnectorFactory } from './noop.js';
import { noopNotifierFactory } from './notifiers/noop.js';
import { discordNotifierFactory } from './notifiers/discord.js';
import { googleChatNotifierFactory } from './notifiers/google-chat.js';
import { mattermostNotifierFactory } from './notifiers/mattermost.js';
import { pagerDutyNotifierFactory } from './notifiers/pagerduty.js';
import { slackNotifierFactory } from './notifiers/slack.js';
import { teamsNotifierFactory } from './notifiers/teams.js';
import { webhookNotifierFactory } from './notifiers/webhook.js';
import { gatewayApiTrafficFactory } from './traffic/gateway-api.js';
import { haproxyTrafficFactory } from './traffic/haproxy.js';
import { istioTrafficFactory } from './traffic/istio.js';
import { nginxTrafficFactory } from './traffic/nginx.js';
import { webhookConnectorFactory } from './webhooks/webhook.js';

function byType(factories: ConnectorFactory[]): ReadonlyMap<string, ConnectorFactory> {
  const map = new Map<string, ConnectorFactory>();
  for (const f of factories) {
    if (map.has(f.type)) throw new Error(`two connector factories claim type ${f.type}`);
    map.set(f.type, f);
  }
  return map;
}

/**
 * Built-in plan connectors (config `connectors:`; kinds flag, traffic, deployer, webhook), keyed by `type`.
 * An unknown type is rejected by the composition root (VIGIL_ERR_CONFIG_UNKNOWN_TYPE); there is no fallback.
 */
export const PLAN_CONNECTORS: ReadonlyMap<string, ConnectorFactory> = byType([
  webhookConnectorFactory,
  noopConnectorFactory,
  flagdFactory,
  unleashFactory,
  launchDarklyFactory,
  flagsmithFactory,
  nginxTrafficFactory,
  haproxyTrafficFactory,
  gatewayApiTrafficFactory,
  istioTrafficFactory,
  kubernetesDeployerFactory,
  argoRolloutsDeployerFactory,
  commandDeployerFactory,
]);

/** Built-in notifiers (config `notifiers:`), keyed by `type`; same rule for unknown types. */
export const NOTIFIERS: ReadonlyMap<string, ConnectorFactory> = byType([
  webhookNotifierFactory,
  noopNotifierFactory,
  slackNotifierFactory,
  teamsNotifierFactory,
  discordNotifierFactory,
  googleChatNotifierFactory,
  mattermostNotifierFactory,
  pagerDutyNotifierFactory,
]);
