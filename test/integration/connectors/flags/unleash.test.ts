import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type UnleashOptions, unleashFactory } from '../../../../connectors/flags/unleash.js';
import { connectorConformance, type StatefulPeer } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { closedPortUrl } from '../../../helpers/http-peer.js';
import { captureLogger } from './capture-logger.js';
import { FakeUnleash } from './fake-unleash.js';
import { postgresReachable, startUnleash, type UnleashServer } from './unleash-server.js';
import { rejection } from '../../../helpers/rejection.js';

const TOKEN = '*:*.conformance-unleash-admin-3c9d7e';
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
          return Promise.resolve();
        },
        snapshot: () =>
          Promise.resolve(JSON.stringify({ envs: fake.feature.environments, writes: fake.vendor.writes().length })),
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

  /** Creates the feature with a 100% rollout in both environments and enables it there (a live canary). */
  async function liveFeature(name: string): Promise<void> {
    const exists = await fetch(`${(await server()).url}/api/admin/projects/default/features/${name}`, {
      headers: { authorization: (await server()).adminToken },
    });
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
