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

for (const [mode, extra] of [
  ['kill switch', {}],
  ['canary share (canaryValue)', { canaryValue: 'v2' }],
] as const) {
  connectorConformance(
    `flagsmith, ${mode} (server that checks the documented requests)`,
    (t) => connector(t.url, { timeoutMs: t.timeoutMs, ...extra }),
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
}

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
    fake.states.push({ id: 9103, featureId: 53, name: 'CHECKOUT_V2', enabled: true, mv: [] });
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

describe('flagsmith setCanaryShare (multivariate percentage split) against the documented requests', () => {
  let fake: FakeFlagsmith;
  const SHARE = { canaryValue: 'v2' } as const;
  const STATE_URL = `${STATES_PATH}9101/`;
  const READS = [
    `GET ${STATES_PATH}?feature_name=checkout_v2`,
    `GET /api/v1/environments/${ENV_KEY}/`,
    `GET /api/v1/projects/3/features/51/mv-options/`,
  ];
  const mvBody = (enabled: boolean, v1: number, v2: number, int42: number): string =>
    JSON.stringify({
      enabled,
      multivariate_feature_state_values: [
        { id: 7001, multivariate_feature_option: 301, percentage_allocation: v1 },
        { id: 7002, multivariate_feature_option: 302, percentage_allocation: v2 },
        { id: 7003, multivariate_feature_option: 303, percentage_allocation: int42 },
      ],
    });
  const share = (p: number, dryRun = false, extra: Partial<FlagsmithOptions> = SHARE) =>
    connector(fake.url, extra).setCanaryShare!(p, actionContext(rollbackDecision(), { dryRun }));
  const allocations = () => fake.states[0]!.mv.map((x) => x.percentage);

  beforeAll(async () => {
    fake = await FakeFlagsmith.start(ENV_KEY, [`Api-Key ${API_KEY}`]);
  });
  afterAll(() => fake.vendor.close());
  beforeEach(() => {
    fake.vendor.reset();
    fake.states = flagsmithStates();
  });

  it('setsShare only with canaryValue; without it the connector has no setCanaryShare', () => {
    const base = { apiKey: 'k', environmentKey: 'e', feature: 'f' };
    expect(flagsmithFactory.setsShare!(flagsmithFactory.parse(base))).toBe(false);
    expect(flagsmithFactory.setsShare!(flagsmithFactory.parse({ ...base, canaryValue: 'v2' }))).toBe(true);
    expect(() => flagsmithFactory.parse({ ...base, canaryValue: '' })).toThrow(/canaryValue/);
    expect('setCanaryShare' in connector('http://127.0.0.1:9')).toBe(false);
  });

  it('5 → 25 → 100: one PATCH each with the canary option at p, the others at 0, enabled; exact bodies', async () => {
    const five = await share(5);
    expect(five.changed).toBe(true);
    expect(five.detail).toMatch(/^canary share 5% \(was 0%\): enable feature "checkout_v2" in its environment default/);
    expect(five.detail).toContain(`option "v2" (id 302) at 5%`);
    expect((await share(25)).detail).toMatch(/^canary share 25% \(was 5%\)/);
    expect((await share(100)).detail).toMatch(/^canary share 100% \(was 25%\)/);
    expect(fake.vendor.violations).toEqual([]);
    expect(fake.vendor.requests.map((r) => `${r.method} ${r.path}`)).toEqual(
      [5, 25, 100].flatMap(() => [...READS, `PATCH ${STATE_URL}`]),
    );
    expect(fake.vendor.writes().map((r) => r.text)).toEqual([
      mvBody(true, 0, 5, 0),
      mvBody(true, 0, 25, 0),
      mvBody(true, 0, 100, 0),
    ]);
    for (const r of fake.vendor.writes()) expect(r.headers['content-type']).toBe('application/json');
    expect(allocations()).toEqual([0, 100, 0]);
  });

  it('fractions are sent as they are; other options are zeroed; an integer option resolves by its value', async () => {
    fake.states[0]!.mv[0]!.percentage = 30;
    const res = await share(2.5);
    expect(res.detail).toMatch(/^canary share 2\.5% \(was 0%\)/);
    expect(fake.vendor.writes().map((r) => r.text)).toEqual([mvBody(true, 0, 2.5, 0)]);
    await share(10, false, { canaryValue: '42' });
    expect(fake.vendor.writes()[1]!.text).toBe(mvBody(true, 0, 0, 10));
  });

  it('a value missing from the feature state is created without an id (others keep theirs)', async () => {
    fake.states[0]!.mv = fake.states[0]!.mv.filter((x) => x.option !== 302);
    await share(25);
    expect(JSON.parse(fake.vendor.writes()[0]!.text)).toEqual({
      enabled: true,
      multivariate_feature_state_values: [
        { id: 7001, multivariate_feature_option: 301, percentage_allocation: 0 },
        { id: 7003, multivariate_feature_option: 303, percentage_allocation: 0 },
        { multivariate_feature_option: 302, percentage_allocation: 25 },
      ],
    });
    expect(fake.vendor.violations).toEqual([]);
    expect((await share(25)).changed).toBe(false);
  });

  it('the same share twice writes nothing; a dry run only reads and says what it would do', async () => {
    const dry = await share(25, true);
    expect(dry.changed).toBe(true);
    expect(dry.detail).toMatch(/^dry-run: canary share 25% \(was 0%\): would enable /);
    expect(fake.vendor.requests.map((r) => `${r.method} ${r.path}`)).toEqual(READS);
    await share(25);
    fake.vendor.reset();
    const again = await share(25);
    expect(again).toEqual({
      changed: false,
      detail:
        'canary share 25% (was 25%): feature "checkout_v2" in its environment default is enabled (feature state 9101), ' +
        'multivariate allocations: option 301 0%, option 302 25%, option 303 0%',
    });
    expect((await share(25, true)).changed).toBe(false);
    expect(fake.vendor.writes()).toEqual([]);
  });

  it('rollback after a share: apply disables AND zeroes the allocations; then share 0 and apply change nothing', async () => {
    await share(25);
    fake.vendor.reset();
    const res = await connector(fake.url, SHARE).apply(actionContext(rollbackDecision()));
    expect(res.changed).toBe(true);
    expect(res.detail).toContain('disable feature "checkout_v2" in its environment default and set every multivariate');
    expect(fake.vendor.writes().map((r) => r.text)).toEqual([mvBody(false, 0, 0, 0)]);
    expect(fake.vendor.requests).toHaveLength(2);
    expect([fake.states[0]!.enabled, allocations()]).toEqual([false, [0, 0, 0]]);
    expect(await share(0)).toMatchObject({
      changed: false,
      detail: expect.stringMatching(/^canary share 0% \(was 0%\)/),
    });
    expect((await connector(fake.url, SHARE).apply(actionContext(rollbackDecision()))).changed).toBe(false);
    expect(fake.vendor.writes()).toHaveLength(1);
  });

  it('share 0 leaves what apply leaves: disabled, every allocation 0; the kill-switch mode leaves allocations alone', async () => {
    await share(25);
    const zero = await share(0);
    expect(zero.detail).toMatch(/^canary share 0% \(was 25%\): disable feature "checkout_v2"/);
    expect(fake.vendor.writes()[1]!.text).toBe(mvBody(false, 0, 0, 0));
    expect((await connector(fake.url, SHARE).apply(actionContext(rollbackDecision()))).changed).toBe(false);
    fake.states = flagsmithStates();
    fake.states[0]!.mv[1]!.percentage = 40;
    fake.vendor.reset();
    await connector(fake.url).apply(actionContext(rollbackDecision()));
    expect(fake.vendor.writes().map((r) => r.text)).toEqual(['{"enabled":false}']);
    expect(allocations()).toEqual([0, 40, 0]);
  });

  it('an invalid share sends no request; an unknown canaryValue fails permanently before a write', async () => {
    for (const bad of [-1, 100.5, Number.NaN]) {
      const err = await rejection(share(bad));
      expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    }
    expect(fake.vendor.requests).toEqual([]);
    const unknown = await rejection(share(5, false, { canaryValue: 'v9' }));
    expect([unknown.code, unknown.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    expect(unknown.message).toContain('has no multivariate option with the value "v9"');
    expect(unknown.message).toContain('fix options.canaryValue');
    const ctx = actionContext(rollbackDecision());
    const health = await rejection(
      connector(fake.url, { canaryValue: 'v9' }).healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    );
    expect(health.message).toContain('fix options.canaryValue');
    const flat = await rejection(share(5, false, { ...SHARE, feature: 'search_v3' }));
    expect(flat.message).toContain('it is not multivariate');
    expect(fake.vendor.writes()).toEqual([]);
  });

  it('a refused write (versioned environment, change requests) is permanent; 5xx is retryable', async () => {
    fake.vendor.failNextWrite = { status: 400, json: { detail: 'feature versioning is enabled' } };
    const refused = await rejection(share(5));
    expect([refused.code, refused.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_HTTP_4XX', false]);
    fake.vendor.failNextWrite = { status: 502, text: 'Bad Gateway' };
    expect((await rejection(share(5))).retryable).toBe(true);
    expect(allocations()).toEqual([0, 0, 0]);
  });
});
