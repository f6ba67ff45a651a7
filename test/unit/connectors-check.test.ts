import { describe, expect, it } from 'vitest';
import { checkConnectors, connectorHealth, formatProblem } from '../../src/connectors-check.js';
import type { Notifier, PlanConnector } from '../../src/contracts/index.js';
import { VigilError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';

const ok = () => Promise.resolve({ changed: false, detail: 'x' });

function plan(name: string, healthCheck?: PlanConnector['healthCheck']): PlanConnector {
  return { name, type: 'flagd', kind: 'flag', apply: ok, ...(healthCheck ? { healthCheck } : {}) };
}
function notifier(name: string, healthCheck?: Notifier['healthCheck']): Notifier {
  return {
    name,
    type: 'slack',
    kind: 'notifier',
    post: () => Promise.resolve(),
    ...(healthCheck ? { healthCheck } : {}),
  };
}

describe('checkConnectors', () => {
  it('returns no problem when every check passes or there is none to run', async () => {
    const conns = new Map([
      ['a', plan('a', () => Promise.resolve())],
      ['b', plan('b')],
    ]);
    expect(await checkConnectors(conns, [notifier('n')], silentLogger(), new AbortController().signal)).toEqual([]);
  });

  it('reports each failing check with its name, type, kind, error and code, in config order', async () => {
    const problems = await checkConnectors(
      [
        plan('flags', () =>
          Promise.reject(new VigilError('VIGIL_ERR_CONNECTOR_HTTP_4XX', ['flagd answered HTTP 401'])),
        ),
        plan('fine', () => Promise.resolve()),
      ],
      [notifier('chat', () => Promise.reject(new Error('ENOENT: no such file')))],
      silentLogger(),
      new AbortController().signal,
    );
    expect(problems).toEqual([
      {
        name: 'flags',
        type: 'flagd',
        kind: 'flag',
        error: 'vendor rejected the request: flagd answered HTTP 401',
        code: 'VIGIL_ERR_CONNECTOR_HTTP_4XX',
      },
      { name: 'chat', type: 'slack', kind: 'notifier', error: 'ENOENT: no such file' },
    ]);
    expect(problems.map(formatProblem)).toEqual([
      'connector flags (flagd): vendor rejected the request: flagd answered HTTP 401 [VIGIL_ERR_CONNECTOR_HTTP_4XX]',
      'notifier chat (slack): ENOENT: no such file',
    ]);
  });

  it('stops waiting for a check that ignores the signal once the signal fires', async () => {
    const ac = new AbortController();
    const pending = checkConnectors(
      [plan('stuck', () => new Promise<void>(() => undefined))],
      [],
      silentLogger(),
      ac.signal,
    );
    ac.abort(new Error('readiness probe budget spent'));
    expect(await pending).toEqual([
      {
        name: 'stuck',
        type: 'flagd',
        kind: 'flag',
        error: 'health check did not finish: readiness probe budget spent',
      },
    ]);
  });

  it('passes the signal to the checks', async () => {
    const ac = new AbortController();
    let seen: AbortSignal | undefined;
    await checkConnectors(
      [
        plan('a', (ctx) => {
          seen = ctx.signal;
          return Promise.resolve();
        }),
      ],
      [],
      silentLogger(),
      ac.signal,
    );
    expect(seen).toBe(ac.signal);
  });
});

describe('connectorHealth', () => {
  it('keeps the problems of the last refresh for a synchronous readiness probe', async () => {
    let healthy = false;
    const health = connectorHealth({
      connectors: [plan('flags', () => (healthy ? Promise.resolve() : Promise.reject(new Error('unreachable'))))],
      notifiers: [],
      logger: silentLogger(),
      timeoutMs: 5000,
    });
    expect(health.problems()).toEqual([]);
    await health.refresh();
    expect(health.problems()).toEqual(['connector flags (flagd): unreachable']);
    healthy = true;
    await health.refresh();
    expect(health.problems()).toEqual([]);
  });
});
