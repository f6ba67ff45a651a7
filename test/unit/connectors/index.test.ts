import { describe, expect, it } from 'vitest';
import { NOTIFIERS, PLAN_CONNECTORS } from '../../../connectors/index.js';
import { deps } from '../../helpers/connectors/fixtures.js';

/** The smallest valid options of every built-in type (a new connector must add its entry here).
 *  None of these `create` calls touches the disk or the network. */
const minimalPlan: Record<string, unknown> = {
  webhook: { url: 'https://h.example.com/hook' },
  noop: {},
  flagd: { path: '/etc/flagd/flags.json', flag: 'f', variant: 'off' },
  unleash: { url: 'https://u.example.com', token: 't', feature: 'f', environment: 'production' },
  launchdarkly: { apiKey: 'k', project: 'p', flag: 'f', environment: 'production' },
  flagsmith: { apiKey: 'k', environmentKey: 'e', feature: 'f' },
  nginx: {
    includePath: '/etc/nginx/conf.d/c.conf',
    upstream: 'checkout',
    baselineServer: 'a:80',
    canaryServer: 'b:80',
  },
  haproxy: { socket: '/run/haproxy/admin.sock', backend: 'checkout', baselineServer: 'v1', canaryServer: 'v2' },
  'gateway-api': { route: 'checkout', baselineBackend: 's', canaryBackend: 'c' },
  istio: { virtualService: 'checkout', baselineHost: 'checkout', baselineSubset: 'stable', canarySubset: 'canary' },
  kubernetes: { deployment: 'checkout' },
  'argo-rollouts': { rollout: 'checkout' },
  command: { command: ['helm', 'rollback', 'checkout'] },
};
const minimalNotifier: Record<string, unknown> = {
  webhook: { url: 'https://h.example.com/hook' },
  noop: {},
  slack: { webhookUrl: 'https://hooks.slack.com/services/T0/B0/X' },
  teams: { webhookUrl: 'https://x.logic.azure.com/workflows/1' },
  discord: { webhookUrl: 'https://discord.com/api/webhooks/1/t' },
  'google-chat': { webhookUrl: 'https://chat.googleapis.com/v1/spaces/A/messages?key=k&token=t' },
  mattermost: { webhookUrl: 'https://mm.example.com/hooks/k' },
  pagerduty: { routingKey: 'a'.repeat(32) },
};

describe('connector registries', () => {
  it('list the built-in types, keyed by their own type', () => {
    expect([...PLAN_CONNECTORS.keys()].sort()).toEqual(Object.keys(minimalPlan).sort());
    expect([...NOTIFIERS.keys()].sort()).toEqual(Object.keys(minimalNotifier).sort());
    for (const [type, f] of [...PLAN_CONNECTORS, ...NOTIFIERS]) expect(f.type).toBe(type);
  });

  it('plan factories build plan connectors, notifier factories build notifiers', () => {
    for (const [type, f] of PLAN_CONNECTORS) {
      const c = f.create(`my-${type}`, f.parse(minimalPlan[type]), deps);
      expect(c.kind).not.toBe('notifier');
      expect(c.type).toBe(type);
      expect(c.name).toBe(`my-${type}`);
    }
    for (const [type, f] of NOTIFIERS) {
      const c = f.create(`my-${type}`, f.parse(minimalNotifier[type]), deps);
      expect(c.kind).toBe('notifier');
      expect(c.type).toBe(type);
    }
  });

  it('have no fallback for unknown types', () => {
    expect(PLAN_CONNECTORS.get('prometheus')).toBeUndefined();
    expect(NOTIFIERS.get('carrier-pigeon')).toBeUndefined();
  });
});
