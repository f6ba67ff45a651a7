import { describe, expect, it } from 'vitest';
import { DecisionDispatcher } from '../../../src/agent/decision-dispatcher.js';
import type { Decision } from '../../../src/contracts/index.js';
import { silentLogger } from '../../../src/logger.js';

const decision = (id: string): Decision =>
  ({ id, analysis: 'a', service: 's', outcome: 'rollback' }) as unknown as Decision;

function harness(fail?: (step: string, id: string) => boolean) {
  const steps: string[] = [];
  const step = async (name: string, id: string) => {
    await new Promise((r) => setImmediate(r));
    steps.push(`${name} ${id}`);
    if (fail?.(name, id)) throw new Error(`${name} failed`);
  };
  const dispatcher = new DecisionDispatcher({
    audit: { recordDecision: (d) => step('audit', d.id) },
    runner: { dispatch: (d) => step('enqueue', d.id) },
    queues: [{ drain: () => step('drain', 'actions') }, { drain: () => step('drain', 'notifications') }],
    logger: silentLogger(),
  });
  dispatcher.onDecision((d) => steps.push(`listener ${d.id}`));
  return { dispatcher, steps };
}

describe('DecisionDispatcher', () => {
  it('records each decision, then tells the listeners, then enqueues its jobs; one decision at a time, in order', async () => {
    const { dispatcher, steps } = harness();
    dispatcher.dispatch(decision('d1'));
    dispatcher.dispatch(decision('d2'));
    await dispatcher.dispatched();
    expect(steps).toEqual(['audit d1', 'listener d1', 'enqueue d1', 'audit d2', 'listener d2', 'enqueue d2']);
  });

  it('a decision that cannot be recorded is neither heard of nor acted on; the next one still goes', async () => {
    const { dispatcher, steps } = harness((name, id) => name === 'audit' && id === 'd1');
    dispatcher.dispatch(decision('d1'));
    dispatcher.dispatch(decision('d2'));
    await dispatcher.dispatched();
    expect(steps).toEqual(['audit d1', 'audit d2', 'listener d2', 'enqueue d2']);
  });

  it('settles once no decision is on its way and the queues are drained', async () => {
    const { dispatcher, steps } = harness();
    dispatcher.dispatch(decision('d1'));
    await dispatcher.settle(Date.now() + 1000);
    expect(steps).toEqual(['audit d1', 'listener d1', 'enqueue d1', 'drain actions', 'drain notifications']);
  });
});
