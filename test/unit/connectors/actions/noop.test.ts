import { describe, expect, it } from 'vitest';
import { noopActionFactory } from '../../../../connectors/actions/noop.js';
import { connectorConformance } from '../conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../fixtures.js';

connectorConformance('noop', () => asPlan(noopActionFactory.create('noop-step', noopActionFactory.parse({}), deps)), {});

describe('noop plan connector', () => {
  it('takes its kind from options, default action', () => {
    expect(noopActionFactory.create('a', noopActionFactory.parse(undefined), deps).kind).toBe('action');
    for (const kind of ['flag', 'traffic', 'deployer', 'action'] as const) {
      expect(noopActionFactory.create('a', noopActionFactory.parse({ kind }), deps).kind).toBe(kind);
    }
  });

  it('keeps state per instance and forgets it on close', async () => {
    const a = asPlan(noopActionFactory.create('a', noopActionFactory.parse({}), deps));
    const b = asPlan(noopActionFactory.create('b', noopActionFactory.parse({}), deps));
    const ctx = actionContext(rollbackDecision());
    expect((await a.apply(ctx)).changed).toBe(true);
    expect((await b.apply(ctx)).changed).toBe(true);
    await a.close?.();
    expect((await a.apply(ctx)).changed).toBe(true);
    expect((await b.apply(ctx)).changed).toBe(false);
  });
});
