import { describe, expect, it } from 'vitest';
import { noopConnectorFactory } from '../../../connectors/noop.js';
import { connectorConformance } from '../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../helpers/connectors/fixtures.js';

connectorConformance(
  'noop',
  () => asPlan(noopConnectorFactory.create('noop-step', noopConnectorFactory.parse({}), deps)),
  {},
);

describe('noop plan connector', () => {
  it('takes its kind from options, default webhook', () => {
    expect(noopConnectorFactory.create('a', noopConnectorFactory.parse(undefined), deps).kind).toBe('webhook');
    for (const kind of ['flag', 'traffic', 'deployer', 'webhook'] as const) {
      expect(noopConnectorFactory.create('a', noopConnectorFactory.parse({ kind }), deps).kind).toBe(kind);
    }
  });

  it('accepts `action`, the old name of the webhook kind', () => {
    expect(noopConnectorFactory.create('a', noopConnectorFactory.parse({ kind: 'action' }), deps).kind).toBe('webhook');
  });

  it('keeps state per instance and forgets it on close', async () => {
    const a = asPlan(noopConnectorFactory.create('a', noopConnectorFactory.parse({}), deps));
    const b = asPlan(noopConnectorFactory.create('b', noopConnectorFactory.parse({}), deps));
    const ctx = actionContext(rollbackDecision());
    expect((await a.apply(ctx)).changed).toBe(true);
    expect((await b.apply(ctx)).changed).toBe(true);
    await a.close?.();
    expect((await a.apply(ctx)).changed).toBe(true);
    expect((await b.apply(ctx)).changed).toBe(false);
  });
});
