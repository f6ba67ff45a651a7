import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type UnleashOptions, unleashFactory } from '../../../../connectors/flags/unleash.js';
import { connectorConformance, type StatefulPeer } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { closedPortUrl } from '../../../helpers/http-peer.js';
import { captureLogger } from './capture-logger.js';
import { defaultStrategies, FakeUnleash, rollout100 } from './fake-unleash.js';
import { postgresReachable, startUnleash, type UnleashServer } from './unleash-server.js';
import { rejection } from '../../../helpers/rejection.js';

const TOKEN = '*:*.conformance-unleash-admin-3c9d7e';

interface StoredStrategy {
  id: string;
  name: string;
  parameters: Record<string, string>;
}
const FEATURE_PATH = '/api/admin/projects/default/features/checkout-v2';

function connector(url: string, token: string, extra: Partial<UnleashOptions> = {}) {
  return asPlan(
    unleashFactory.create(
      'kill-flag',
      unleashFactory.parse({
        url,
        token,
        feature: 'checkout-v2',
        environment: 'production',
        ...extra,
      }),
      deps,
    ),
  );
}

connectorConformance(
  'unleash (server that checks the documented requests)',
  (t) => connector(t.url, TOKEN, { timeoutMs: t.timeoutMs }),
  {
    http: { secrets: [TOKEN], requestPath: /^\/hook\/api\/admin\/projects\/default\/features\/checkout-v2$/ },
    stateful: async (): Promise<StatefulPeer> => {
      const fake = await FakeUnleash.start(TOKEN);
      return {
        url: fake.url,
        rollOut: () => {
          fake.feature.environments.production = true;
          fake.feature.strategies = defaultStrategies('checkout-v2', ['development', 'production']);
          return Promise.resolve();
        },
        snapshot: () =>
          Promise.resolve(
            JSON.stringify({
              envs: fake.feature.environments,
              strategies: fake.feature.strategies,
              writes: fake.vendor.writes().length,
            }),
          ),
        close: () => fake.vendor.close(),
      };
    },
  },
);

describe('unleash against a server that checks the documented requests', () => {
  let fake: FakeUnleash;
  beforeAll(async () => {
    fake = await FakeUnleash.start(TOKEN);
  });
  afterAll(() => fake.vendor.close());
  beforeEach(() => {
    fake.vendor.reset();
    fake.feature.environments = { development: true, production: true };
    fake.feature.strategies = defaultStrategies('checkout-v2', ['development', 'production']);
  });

  it('reads the feature, then disables it in the environment with one bodiless POST', async () => {
    const res = await connector(fake.url, TOKEN).apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail:
        `applied: disable feature "checkout-v2" (project "default") in environment "production" (POST ${fake.url}${FEATURE_PATH}/environments/production/off); ` +
        'before: feature "checkout-v2" (project "default") in environment "production" is enabled',
    });
    expect(fake.vendor.violations).toEqual([]);
    expect(fake.vendor.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET ${FEATURE_PATH}`,
      `POST ${FEATURE_PATH}/environments/production/off`,
    ]);
    for (const r of fake.vendor.requests) {
      expect(r.headers.authorization).toBe(TOKEN);
      expect(r.headers.accept).toBe('application/json');
    }
    expect(fake.feature.environments).toEqual({ development: true, production: false });
  });

  it('writes nothing when the feature is already disabled there, and says so', async () => {
    fake.feature.environments.production = false;
    const res = await connector(fake.url, TOKEN).apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: false,
      detail: 'already rolled back: feature "checkout-v2" (project "default") in environment "production" is disabled',
    });
    expect(fake.vendor.writes()).toEqual([]);
  });

  it('dry run describes the exact write and only reads', async () => {
    const res = await connector(fake.url, TOKEN).apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(res.changed).toBe(false);
    expect(res.detail).toBe(
      `dry-run: would disable feature "checkout-v2" (project "default") in environment "production" ` +
        `(POST ${fake.url}${FEATURE_PATH}/environments/production/off); now feature "checkout-v2" (project "default") in environment "production" is enabled`,
    );
    expect(fake.vendor.writes()).toEqual([]);
    expect(fake.feature.environments.production).toBe(true);
  });

  it('a refused write (change requests, permissions) is permanent and names the cause; a failing one is retried', async () => {
    fake.vendor.failNextWrite = {
      status: 403,
      json: { name: 'PermissionError', message: 'change requests are enabled for production' },
    };
    const denied = await rejection(connector(fake.url, TOKEN).apply(actionContext(rollbackDecision())));
    expect(denied.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
    expect(denied.retryable).toBe(false);
    expect(denied.message).toContain('change requests are enabled for production');
    fake.vendor.failNextWrite = { status: 503, text: 'maintenance' };
    const down = await rejection(connector(fake.url, TOKEN).apply(actionContext(rollbackDecision())));
    expect(down.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_5XX');
    expect(down.retryable).toBe(true);
    expect(fake.feature.environments.production).toBe(true);
  });

  it('an environment the feature does not have is a permanent error listing the ones it has', async () => {
    const err = await rejection(
      connector(fake.url, TOKEN, { environment: 'prod' }).apply(actionContext(rollbackDecision())),
    );
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_FAILED');
    expect(err.retryable).toBe(false);
    expect(err.message).toContain('has no environment "prod" in project "default" (it has: development, production)');
    expect(fake.vendor.writes()).toEqual([]);
  });

  const STRATEGY_PATH = `${FEATURE_PATH}/environments/production/strategies`;

  it('setCanaryShare 5 → 25 → 100 patches only the rollout of the flexibleRollout strategy; the same share writes nothing', async () => {
    const c = connector(fake.url, TOKEN);
    const ctx = actionContext(rollbackDecision());
    const details: string[] = [];
    for (const [share, was] of [
      [5, 100],
      [25, 5],
      [100, 25],
    ] as const) {
      fake.vendor.reset();
      const res = await c.setCanaryShare!(share, ctx);
      expect(res.changed).toBe(true);
      details.push(res.detail);
      expect(
        res.detail.startsWith(
          `canary share ${share}% (was ${was}%): set the rollout of the flexibleRollout strategy s-production`,
        ),
      ).toBe(true);
      expect(fake.vendor.requests.map((r) => `${r.method} ${r.path} ${r.text}`)).toEqual([
        `GET ${FEATURE_PATH} `,
        `PATCH ${STRATEGY_PATH}/s-production [{"op":"add","path":"/parameters/rollout","value":"${share}"}]`,
      ]);
      expect(fake.feature.strategies.production).toEqual([
        {
          ...rollout100('checkout-v2', 's-production'),
          parameters: { groupId: 'checkout-v2', rollout: String(share), stickiness: 'default' },
        },
      ]);
      fake.vendor.reset();
      const again = await c.setCanaryShare!(share, ctx);
      expect(again).toEqual({
        changed: false,
        detail: `canary share ${share}% (was ${share}%): feature "checkout-v2" (project "default") in environment "production" is enabled with a flexibleRollout at ${share}%`,
      });
      expect(fake.vendor.writes()).toEqual([]);
    }
    expect(fake.vendor.violations).toEqual([]);
    // development was never touched
    expect(fake.feature.strategies.development![0]!.parameters.rollout).toBe('100');
    expect(details[0]).toContain(`(PATCH ${fake.url}${STRATEGY_PATH}/s-production)`);
  });

  it('setCanaryShare dry run only reads and says what it would write', async () => {
    const res = await connector(fake.url, TOKEN).setCanaryShare!(
      25,
      actionContext(rollbackDecision(), { dryRun: true }),
    );
    expect(res.changed).toBe(true);
    expect(res.detail).toBe(
      `dry-run: canary share 25% (was 100%): would set the rollout of the flexibleRollout strategy s-production of ` +
        `feature "checkout-v2" (project "default") in environment "production" to 25% (PATCH ${fake.url}${STRATEGY_PATH}/s-production)`,
    );
    expect(fake.vendor.requests.map((r) => r.method)).toEqual(['GET']);
    expect(fake.feature.strategies.production![0]!.parameters.rollout).toBe('100');
  });

  it('an environment without strategies gets a flexibleRollout; a disabled one is enabled only after the strategy is set', async () => {
    fake.strategiesOf('production').length = 0;
    fake.feature.environments.production = false;
    const res = await connector(fake.url, TOKEN).setCanaryShare!(5, actionContext(rollbackDecision()));
    expect(res.changed).toBe(true);
    expect(res.detail).toMatch(
      /^canary share 5% \(was 0%\): add a flexibleRollout strategy at 5% .*, then enable feature/,
    );
    expect(fake.vendor.violations).toEqual([]);
    expect(fake.vendor.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET ${FEATURE_PATH}`,
      `POST ${STRATEGY_PATH}`,
      `POST ${FEATURE_PATH}/environments/production/on`,
    ]);
    expect(JSON.parse(fake.vendor.requests[1]!.text)).toEqual({
      name: 'flexibleRollout',
      constraints: [],
      parameters: { rollout: '5', stickiness: 'default', groupId: 'checkout-v2' },
    });
    expect(fake.vendor.requests[1]!.headers['content-type']).toBe('application/json');
    expect(fake.vendor.requests[2]!.text).toBe('');
    expect(fake.feature.environments.production).toBe(true);
    expect(fake.strategiesOf('production').map((x) => x.parameters.rollout)).toEqual(['5']);
  });

  it('share 0 and the rollback both disable the environment: no canary exposure; each is a no-op after the other', async () => {
    const c = connector(fake.url, TOKEN);
    await c.setCanaryShare!(25, actionContext(rollbackDecision()));
    const zero = await c.setCanaryShare!(0, actionContext(rollbackDecision()));
    expect(zero).toEqual({
      changed: true,
      detail: `canary share 0% (was 25%): disable feature "checkout-v2" (project "default") in environment "production" (POST ${fake.url}${FEATURE_PATH}/environments/production/off)`,
    });
    expect(fake.feature.environments.production).toBe(false);
    expect((await c.apply(actionContext(rollbackDecision()))).changed).toBe(false);
    // a new share enables the environment again; the rollback then disables it
    expect((await c.setCanaryShare!(10, actionContext(rollbackDecision()))).detail).toMatch(
      /^canary share 10% \(was 0%\)/,
    );
    expect([fake.feature.environments.production, fake.strategiesOf('production')[0]!.parameters.rollout]).toEqual([
      true,
      '10',
    ]);
    expect((await c.apply(actionContext(rollbackDecision()))).changed).toBe(true);
    expect(fake.feature.environments.production).toBe(false);
    expect((await c.setCanaryShare!(0, actionContext(rollbackDecision()))).changed).toBe(false);
    expect(fake.vendor.violations).toEqual([]);
  });

  it('a fraction is rounded to a whole percent (above 0 stays at least 1%) and the detail says so', async () => {
    const c = connector(fake.url, TOKEN);
    const res = await c.setCanaryShare!(2.5, actionContext(rollbackDecision()));
    expect(res.detail).toMatch(/^canary share 3% \(was 100%\): .* \(2\.5% rounded to Unleash's whole percent\)$/);
    await c.setCanaryShare!(0.2, actionContext(rollbackDecision()));
    expect(fake.strategiesOf('production')[0]!.parameters.rollout).toBe('1');
  });

  it('strategies other than one plain flexibleRollout are never overwritten; a refused write is permanent', async () => {
    const c = connector(fake.url, TOKEN);
    fake.strategiesOf('production')[0]!.constraints = [{ contextName: 'userId', operator: 'IN', values: ['a'] }];
    const err = await rejection(c.setCanaryShare!(25, actionContext(rollbackDecision())));
    expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    expect(err.message).toContain(
      'has strategies other than one flexibleRollout without constraints or segments (flexibleRollout)',
    );
    fake.strategiesOf('production')[0]!.constraints = [];
    fake.strategiesOf('production').push({ ...rollout100('checkout-v2', 's-2'), name: 'default' });
    expect((await rejection(c.setCanaryShare!(25, actionContext(rollbackDecision())))).message).toContain(
      '(flexibleRollout, default)',
    );
    fake.strategiesOf('production')[1]!.disabled = true; // a disabled strategy is not evaluated: it does not count
    fake.vendor.failNextWrite = {
      status: 403,
      json: { name: 'PermissionError', message: 'change requests are enabled' },
    };
    const denied = await rejection(c.setCanaryShare!(25, actionContext(rollbackDecision())));
    expect([denied.code, denied.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_HTTP_4XX', false]);
    expect(denied.message).toContain('change requests are enabled');
    expect(fake.strategiesOf('production')[0]!.parameters.rollout).toBe('100');
    expect((await c.setCanaryShare!(25, actionContext(rollbackDecision()))).changed).toBe(true);
    expect(fake.vendor.violations).toEqual([]);
  });

  it('declares the capability', () => {
    expect(
      unleashFactory.setsShare!(unleashFactory.parse({ url: fake.url, token: TOKEN, feature: 'f', environment: 'e' })),
    ).toBe(true);
  });

  it('health check proves token and feature; a wrong token fails permanently without showing the token', async () => {
    const ctx = actionContext(rollbackDecision());
    await expect(
      connector(fake.url, TOKEN).healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    ).resolves.toBeUndefined();
    const err = await rejection(
      connector(fake.url, 'wrong-token-77').healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    );
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
    expect(err.details.status).toBe(401);
    expect(`${err.message}${JSON.stringify(err.details)}`).not.toContain('wrong-token-77');
    const missing = await rejection(
      connector(fake.url, TOKEN, { feature: 'nope' }).healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    );
    expect(missing.message).toContain('There\'s no feature named \\"nope\\" in project \\"default\\".');
  });

  it('an unreachable server is a retryable network error whose message says why (hosts only, no token)', async () => {
    const base = (await closedPortUrl()).replace(/\/hook$/, '');
    const err = await rejection(connector(base, TOKEN).apply(actionContext(rollbackDecision())));
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_NETWORK');
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^vendor unreachable: unleash: fetch failed: connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    expect(((err.cause as Error).cause as Error).message).toBe('fetch failed');
  });

  it('never hands the token to its logger', async () => {
    const cap = captureLogger();
    const ctx = { ...actionContext(rollbackDecision()), logger: cap.logger };
    await connector(fake.url, TOKEN).apply({ ...ctx, dryRun: true });
    await connector(fake.url, TOKEN).apply(ctx);
    await connector(fake.url, TOKEN).healthCheck!({ logger: cap.logger, signal: ctx.signal });
    expect(cap.text()).toContain('vendor answered');
    expect(cap.text()).not.toContain(TOKEN);
  });
});

// ---- the real thing: unleash-server 7.5.1 from npm on the local PostgreSQL ----

const pgUp = await postgresReachable();

describe('real unleash-server prerequisites', () => {
  it('PostgreSQL is reachable (npm test and CI must run the real-peer test; a bare vitest run skips it without one)', () => {
    if (!pgUp)
      expect(
        process.env.CI ?? process.env.VIGIL_TEST_REQUIRE_PEERS,
        'no PostgreSQL at VIGIL_TEST_PG_URL (default 127.0.0.1:5432): install and start it',
      ).toBeFalsy();
  });
});

describe.runIf(pgUp)('unleash against a real unleash-server 7.5.1 on PostgreSQL', () => {
  let started: Promise<UnleashServer> | undefined;
  const REAL_TOKEN = '*:*.vigil-real-unleash-admin-51f0';
  const server = (): Promise<UnleashServer> => (started ??= startUnleash({ adminToken: REAL_TOKEN }));
  // Started here, before the conformance suite's own hooks, with room for a loaded machine (~5 s idle).
  beforeAll(async () => {
    await server();
  }, 120_000);
  afterAll(async () => {
    if (started) await (await started).close();
  });

  async function call(method: string, path: string, body?: unknown): Promise<Response> {
    const s = await server();
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: { authorization: s.adminToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res;
  }

  /** The strategies of the feature's environment, as the admin API stores them. */
  async function strategies(name: string, env = 'production'): Promise<StoredStrategy[]> {
    const res = await call('GET', `/api/admin/projects/default/features/${name}/environments/${env}/strategies`);
    return (await res.json()) as StoredStrategy[];
  }

  /**
   * Creates the feature with a 100% rollout in both environments (or puts an existing one's rollouts back at 100%,
   * as a share a case set may have left them) and enables it there (a live canary).
   */
  async function liveFeature(name: string): Promise<void> {
    const exists = await fetch(`${(await server()).url}/api/admin/projects/default/features/${name}`, {
      headers: { authorization: (await server()).adminToken },
    });
    if (exists.status === 200) {
      for (const env of ['development', 'production'])
        for (const st of await strategies(name, env))
          if (st.parameters.rollout !== '100')
            await call(
              'PATCH',
              `/api/admin/projects/default/features/${name}/environments/${env}/strategies/${st.id}`,
              [{ op: 'replace', path: '/parameters/rollout', value: '100' }],
            );
    }
    if (exists.status === 404) {
      await call('POST', '/api/admin/projects/default/features', { name, type: 'release' });
      for (const env of ['development', 'production']) {
        await call('POST', `/api/admin/projects/default/features/${name}/environments/${env}/strategies`, {
          name: 'flexibleRollout',
          parameters: { rollout: '100', stickiness: 'default', groupId: name },
        });
      }
    }
    for (const env of ['development', 'production'])
      await call('POST', `/api/admin/projects/default/features/${name}/environments/${env}/on`);
  }

  /**
   * Unleash's own evaluation (the admin playground runs the SDK's strategy code on the server): how many of 1000
   * users (userId u0..u999, what stickiness `default` hashes) get the feature enabled in production.
   */
  async function enabledFor1000(name: string): Promise<number> {
    const userId = Array.from({ length: 1000 }, (_, i) => `u${i}`).join(',');
    const res = await call('POST', '/api/admin/playground/advanced', {
      environments: ['production'],
      projects: ['default'],
      context: { appName: 'vigil-test', userId },
    });
    const body = (await res.json()) as {
      features: { name: string; environments: Record<string, { isEnabled: boolean }[]> }[];
    };
    const evaluations = body.features.find((f) => f.name === name)!.environments.production!;
    expect(evaluations).toHaveLength(1000);
    return evaluations.filter((e) => e.isEnabled).length;
  }

  async function events(name: string): Promise<number[]> {
    const res = await call('GET', `/api/admin/events/${name}`);
    return ((await res.json()) as { events: { id: number }[] }).events.map((e) => e.id);
  }

  /** What an SDK with a backend token for "production" is served. */
  async function sdkSees(name: string): Promise<boolean> {
    const s = await server();
    const res = await fetch(`${s.url}/api/client/features/${name}`, { headers: { authorization: s.backendToken } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { enabled: boolean }).enabled;
  }

  connectorConformance(
    'unleash (real unleash-server)',
    (t) => connector(t.url, REAL_TOKEN, { timeoutMs: t.timeoutMs }),
    {
      stateful: async (): Promise<StatefulPeer> => {
        const s = await server();
        return {
          url: s.url,
          rollOut: () => liveFeature('checkout-v2'),
          snapshot: async () => {
            const f = (await (await call('GET', '/api/admin/projects/default/features/checkout-v2')).json()) as {
              environments: { name: string; enabled: boolean }[];
            };
            return JSON.stringify({
              envs: f.environments.map((e) => [e.name, e.enabled]),
              events: await events('checkout-v2'),
            });
          },
          close: () => Promise.resolve(),
        };
      },
    },
  );

  it('disables the feature in production only; an SDK is then served it disabled; a retry writes nothing', async () => {
    await liveFeature('payments-v3');
    const s = await server();
    expect(await sdkSees('payments-v3')).toBe(true);
    const c = connector(s.url, s.adminToken, { feature: 'payments-v3' });
    const first = await c.apply(actionContext(rollbackDecision()));
    expect(first.changed).toBe(true);
    expect(await sdkSees('payments-v3')).toBe(false);
    const f = (await (await call('GET', '/api/admin/projects/default/features/payments-v3')).json()) as {
      environments: { name: string; enabled: boolean }[];
    };
    expect(f.environments.map((e) => [e.name, e.enabled])).toEqual([
      ['development', true],
      ['production', false],
    ]);
    const before = await events('payments-v3');
    const second = await c.apply(actionContext(rollbackDecision()));
    expect(second.changed).toBe(false);
    expect(await events('payments-v3')).toEqual(before);
  });

  it("setCanaryShare 5 → 25 → 100: the strategy's rollout is p at the server and its evaluation follows; the rollback exposes nobody", async () => {
    await liveFeature('search-v4');
    const s = await server();
    const c = connector(s.url, s.adminToken, { feature: 'search-v4' });
    const [created] = await strategies('search-v4');
    expect(await enabledFor1000('search-v4')).toBe(1000);
    for (const [share, low, high] of [
      [5, 25, 80],
      [25, 200, 300],
      [100, 1000, 1000],
    ] as const) {
      const res = await c.setCanaryShare!(share, actionContext(rollbackDecision()));
      expect(res.changed).toBe(true);
      const stored = await strategies('search-v4');
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({
        id: created!.id,
        name: 'flexibleRollout',
        parameters: { rollout: String(share), stickiness: 'default', groupId: 'search-v4' },
      });
      const enabled = await enabledFor1000('search-v4');
      expect(enabled).toBeGreaterThanOrEqual(low);
      expect(enabled).toBeLessThanOrEqual(high);
      const before = await events('search-v4');
      expect((await c.setCanaryShare!(share, actionContext(rollbackDecision()))).changed).toBe(false);
      expect((await c.setCanaryShare!(share, actionContext(rollbackDecision(), { dryRun: true }))).changed).toBe(false);
      expect(await events('search-v4')).toEqual(before);
    }
    expect((await strategies('search-v4', 'development'))[0]!.parameters.rollout).toBe('100');
    await c.setCanaryShare!(25, actionContext(rollbackDecision()));
    expect((await c.apply(actionContext(rollbackDecision()))).changed).toBe(true);
    expect(await enabledFor1000('search-v4')).toBe(0);
    expect(await sdkSees('search-v4')).toBe(false);
    expect((await c.setCanaryShare!(0, actionContext(rollbackDecision()))).changed).toBe(false);
    // the next canary: a share enables the environment again, at that share only
    const next = await c.setCanaryShare!(5, actionContext(rollbackDecision()));
    expect(next.detail).toMatch(/^canary share 5% \(was 0%\): set the rollout .* then enable feature "search-v4"/);
    const enabled = await enabledFor1000('search-v4');
    expect(enabled).toBeGreaterThanOrEqual(25);
    expect(enabled).toBeLessThanOrEqual(80);
  });

  it('a new feature without strategies gets a flexibleRollout at p through the admin API', async () => {
    await call('POST', '/api/admin/projects/default/features', { name: 'cart-v5', type: 'release' });
    const s = await server();
    const c = connector(s.url, s.adminToken, { feature: 'cart-v5' });
    const res = await c.setCanaryShare!(25, actionContext(rollbackDecision()));
    expect(res.detail).toMatch(/^canary share 25% \(was 0%\): add a flexibleRollout strategy at 25%/);
    const stored = await strategies('cart-v5');
    expect(stored.map((x) => [x.name, x.parameters])).toEqual([
      ['flexibleRollout', { rollout: '25', stickiness: 'default', groupId: 'cart-v5' }],
    ]);
    const enabled = await enabledFor1000('cart-v5');
    expect(enabled).toBeGreaterThanOrEqual(200);
    expect(enabled).toBeLessThanOrEqual(300);
    expect((await c.setCanaryShare!(25, actionContext(rollbackDecision()))).changed).toBe(false);
  });

  it('a wrong token is refused permanently; an unknown environment names the real ones', async () => {
    await liveFeature('payments-v3');
    const s = await server();
    const ctx = actionContext(rollbackDecision());
    const denied = await rejection(connector(s.url, '*:*.not-a-token', { feature: 'payments-v3' }).apply(ctx));
    expect(denied.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
    expect(denied.details.status).toBe(401);
    const env = await rejection(
      connector(s.url, s.adminToken, { feature: 'payments-v3', environment: 'staging' }).apply(ctx),
    );
    expect(env.message).toContain('(it has: development, production)');
    await expect(
      connector(s.url, s.adminToken, { feature: 'payments-v3' }).healthCheck!({
        logger: ctx.logger,
        signal: ctx.signal,
      }),
    ).resolves.toBeUndefined();
  });
});
