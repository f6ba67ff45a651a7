import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FlagsmithOptions, flagsmithFactory } from '../../../../connectors/flags/flagsmith.js';
import { connectorConformance, type StatefulPeer } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { captureLogger } from './capture-logger.js';
import { FakeFlagsmith, flagsmithStates } from './fake-flagsmith.js';
import { rejection } from '../../../helpers/rejection.js';

const API_KEY = 'ser.conformance-flagsmith-key-4d1a';
const TOKEN = 'conformance-flagsmith-user-token-8e2c';
const ENV_KEY = 'Xk3pQ9envkey';
const STATES_PATH = `/api/v1/environments/${ENV_KEY}/featurestates/`;

function connector(baseUrl: string, extra: Partial<FlagsmithOptions> = {}) {
  return asPlan(
    flagsmithFactory.create(
      'kill-flag',
      flagsmithFactory.parse({
        apiKey: API_KEY,
        environmentKey: ENV_KEY,
        feature: 'checkout_v2',
        baseUrl,
        ...extra,
      }),
      deps,
    ),
  );
}

connectorConformance(
  'flagsmith (server that checks the documented requests)',
  (t) => connector(t.url, { timeoutMs: t.timeoutMs }),
  {
    http: { secrets: [API_KEY], requestPath: new RegExp(`^/hook${STATES_PATH}\\?feature_name=checkout_v2$`) },
    stateful: async (): Promise<StatefulPeer> => {
      const fake = await FakeFlagsmith.start(ENV_KEY, [`Api-Key ${API_KEY}`]);
      return {
        url: fake.url,
        rollOut: () => {
          fake.states = flagsmithStates();
          return Promise.resolve();
        },
        snapshot: () => Promise.resolve(JSON.stringify({ states: fake.states, writes: fake.vendor.writes().length })),
        close: () => fake.vendor.close(),
      };
    },
  },
);

describe('flagsmith against a server that checks the documented requests', () => {
  let fake: FakeFlagsmith;
  beforeAll(async () => {
    fake = await FakeFlagsmith.start(ENV_KEY, [`Api-Key ${API_KEY}`, `Token ${TOKEN}`]);
  });
  afterAll(() => fake.vendor.close());
  beforeEach(() => {
    fake.vendor.reset();
    fake.states = flagsmithStates();
  });

  it('finds the environment-default feature state by name, then PATCHes enabled=false', async () => {
    const res = await connector(fake.url).apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail:
        `applied: disable feature "checkout_v2" in its environment default (PATCH ${fake.url}${STATES_PATH}9101/); ` +
        'before: feature "checkout_v2" in its environment default is enabled (feature state 9101)',
    });
    expect(fake.vendor.violations).toEqual([]);
    expect(fake.vendor.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET ${STATES_PATH}?feature_name=checkout_v2`,
      `PATCH ${STATES_PATH}9101/`,
    ]);
    for (const r of fake.vendor.requests) expect(r.headers.authorization).toBe(`Api-Key ${API_KEY}`);
    expect(fake.vendor.requests[1]!.headers['content-type']).toBe('application/json');
    expect(fake.vendor.requests[1]!.text).toBe('{"enabled":false}');
    expect(fake.states.map((s) => s.enabled)).toEqual([false, true]);
  });

  it('authenticates with a user token as "Token <token>" when configured so', async () => {
    const res = await connector(fake.url, { apiKey: undefined, token: TOKEN }).apply(actionContext(rollbackDecision()));
    expect(res.changed).toBe(true);
    for (const r of fake.vendor.requests) expect(r.headers.authorization).toBe(`Token ${TOKEN}`);
    expect(fake.vendor.violations).toEqual([]);
  });

  it('writes nothing when the feature is already disabled; dry run only reads', async () => {
    const dry = await connector(fake.url).apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(dry).toEqual({
      changed: false,
      detail:
        `dry-run: would disable feature "checkout_v2" in its environment default (PATCH ${fake.url}${STATES_PATH}9101/); ` +
        'now feature "checkout_v2" in its environment default is enabled (feature state 9101)',
    });
    fake.states[0]!.enabled = false;
    const res = await connector(fake.url).apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: false,
      detail: 'already rolled back: feature "checkout_v2" in its environment default is disabled (feature state 9101)',
    });
    expect(fake.vendor.writes()).toEqual([]);
  });

  it('an unknown feature, or an ambiguous name, fails permanently before any write', async () => {
    const none = await rejection(connector(fake.url, { feature: 'nope' }).apply(actionContext(rollbackDecision())));
    expect(none.code).toBe('VIGIL_ERR_CONNECTOR_FAILED');
    expect(none.retryable).toBe(false);
    expect(none.message).toContain('has no feature named "nope"');
    fake.states.push({ id: 9103, featureId: 53, name: 'CHECKOUT_V2', enabled: true });
    const two = await rejection(connector(fake.url).apply(actionContext(rollbackDecision())));
    expect(two.message).toContain('has 2 environment-default feature states for "checkout_v2"');
    expect(fake.vendor.writes()).toEqual([]);
  });

  it('a refused write (versioned environment, change requests) is permanent with the cause; 5xx is retried', async () => {
    fake.vendor.failNextWrite = {
      status: 400,
      json: { detail: 'Cannot write feature states directly in an environment with feature versioning' },
    };
    const refused = await rejection(connector(fake.url).apply(actionContext(rollbackDecision())));
    expect(refused.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
    expect(refused.message).toContain('feature versioning');
    fake.vendor.failNextWrite = { status: 500, text: 'Server Error (500)' };
    const down = await rejection(connector(fake.url).apply(actionContext(rollbackDecision())));
    expect(down.retryable).toBe(true);
    expect(fake.states[0]!.enabled).toBe(true);
  });

  it('an unknown environment key or a bad credential fails the health check permanently', async () => {
    const ctx = actionContext(rollbackDecision());
    await expect(connector(fake.url).healthCheck!({ logger: ctx.logger, signal: ctx.signal })).resolves.toBeUndefined();
    const env = await rejection(
      connector(fake.url, { environmentKey: 'other' }).healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    );
    expect(env.details.status).toBe(404);
    expect(env.message).toContain('Environment not found.');
    const bad = await rejection(
      connector(fake.url, { apiKey: 'ser.wrong-77' }).healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    );
    expect(bad.details.status).toBe(401);
    expect(bad.message).not.toContain('ser.wrong-77');
  });

  it('never hands the key to its logger', async () => {
    const cap = captureLogger();
    const ctx = { ...actionContext(rollbackDecision()), logger: cap.logger };
    await connector(fake.url).apply({ ...ctx, dryRun: true });
    await connector(fake.url).apply(ctx);
    expect(cap.text()).toContain('vendor answered');
    expect(cap.text()).not.toContain(API_KEY);
  });
});
