import { describe, expect, it } from 'vitest';
import { noopConnectorFactory } from '../../../connectors/noop.js';
import { connectorConformance } from '../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../helpers/connectors/fixtures.js';

connectorConformance(
  'noop',
  () => asPlan(noopConnectorFactory.create('noop-step', noopConnectorFactory.parse({}), deps)),
  {},
);

connectorConformance(
  'noop (traffic kind, with setCanaryShare)',
  () => asPlan(noopConnectorFactory.create('noop-router', noopConnectorFactory.parse({ kind: 'traffic' }), deps)),
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

  it('flag and traffic noops remember the canary share per service; other kinds do not declare it', async () => {
    const c = asPlan(noopConnectorFactory.create('a', noopConnectorFactory.parse({ kind: 'flag' }), deps));
    const ctx = actionContext(rollbackDecision());
    expect(await c.setCanaryShare!(5, ctx)).toEqual({
      changed: true,
      detail: 'canary share 5% (was 0%): noop recorded it',
    });
    expect(await c.setCanaryShare!(25, actionContext(rollbackDecision(), { dryRun: true }))).toEqual({
      changed: true,
      detail: 'dry-run: canary share 25% (was 5%): noop would record it',
    });
    expect((await c.setCanaryShare!(5, ctx)).changed).toBe(false);
    for (const kind of ['deployer', 'webhook'] as const)
      expect('setCanaryShare' in noopConnectorFactory.create('b', noopConnectorFactory.parse({ kind }), deps)).toBe(
        false,
      );
  });

  it('a traffic noop: apply sets the share to 0, so setCanaryShare(0) after it changes nothing', async () => {
    const c = asPlan(noopConnectorFactory.create('a', noopConnectorFactory.parse({ kind: 'traffic' }), deps));
    const ctx = actionContext(rollbackDecision());
    await c.setCanaryShare!(50, ctx);
    await c.apply(ctx);
    expect(await c.setCanaryShare!(0, ctx)).toEqual({
      changed: false,
      detail: 'canary share 0% (was 0%): noop already had it',
    });
  });
});
