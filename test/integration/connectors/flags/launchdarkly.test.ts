import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LaunchDarklyOptions, launchDarklyFactory } from '../../../../connectors/flags/launchdarkly.js';
import { connectorConformance, type StatefulPeer } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { captureLogger } from './capture-logger.js';
import { FakeLaunchDarkly, ldFlag } from './fake-launchdarkly.js';
import { rejection } from '../../../helpers/rejection.js';

const API_KEY = 'api-conformance-ld-2b6f1e0a';
const FLAG_PATH = '/api/v2/flags/shop/checkout-v2';
const BASELINE_ID = '7b32de80-f346-4276-bb77-28dfa7ddc2d8';

function connector(baseUrl: string, extra: Partial<LaunchDarklyOptions> = {}) {
  return asPlan(
    launchDarklyFactory.create(
      'kill-flag',
      launchDarklyFactory.parse({
        apiKey: API_KEY,
        project: 'shop',
        flag: 'checkout-v2',
        environment: 'production',
        baseUrl,
        ...extra,
      }),
      deps,
    ),
  );
}

/** A fresh fake whose flag a live canary leaves on, its default rule serving the canary variation. */
async function ldPeer(): Promise<StatefulPeer> {
  const fake = await FakeLaunchDarkly.start(API_KEY);
  return {
    url: fake.url,
    rollOut: () => {
      fake.flag = ldFlag();
      return Promise.resolve();
    },
    snapshot: () => Promise.resolve(JSON.stringify({ flag: fake.flag, writes: fake.vendor.writes().length })),
    close: () => fake.vendor.close(),
  };
}

for (const [mode, extra] of [
  ['turnFlagOff', {}],
  ['fallthrough variation', { variation: 'baseline' }],
] as const) {
  connectorConformance(
    `launchdarkly, ${mode} (server that checks the documented requests)`,
    (t) => connector(t.url, { timeoutMs: t.timeoutMs, ...extra }),
    {
      http: { secrets: [API_KEY], requestPath: /^\/hook\/api\/v2\/flags\/shop\/checkout-v2\?env=production$/ },
      stateful: ldPeer,
    },
  );
}

describe('launchdarkly against a server that checks the documented requests', () => {
  let fake: FakeLaunchDarkly;
  beforeAll(async () => {
    fake = await FakeLaunchDarkly.start(API_KEY);
  });
  afterAll(() => fake.vendor.close());
  beforeEach(() => {
    fake.vendor.reset();
    fake.patches.length = 0;
    fake.flag = ldFlag();
  });

  it('turns the flag off with one semantic patch after reading it', async () => {
    const d = rollbackDecision();
    const res = await connector(fake.url).apply(actionContext(d));
    expect(res).toEqual({
      changed: true,
      detail:
        `applied: turn flag "checkout-v2" (project "shop") in environment "production" off (PATCH ${fake.url}${FLAG_PATH}, turnFlagOff); ` +
        'before: flag "checkout-v2" (project "shop") in environment "production" is on',
    });
    expect(fake.vendor.violations).toEqual([]);
    const [get, patch] = fake.vendor.requests;
    expect(fake.vendor.requests).toHaveLength(2);
    expect(`${get!.method} ${get!.path}`).toBe(`GET ${FLAG_PATH}?env=production`);
    expect(`${patch!.method} ${patch!.path}`).toBe(`PATCH ${FLAG_PATH}`);
    expect(get!.headers.authorization).toBe(API_KEY);
    expect(patch!.headers.authorization).toBe(API_KEY);
    expect(patch!.headers['content-type']).toBe('application/json; domain-model=launchdarkly.semanticpatch');
    expect(JSON.parse(patch!.text)).toEqual({
      environmentKey: 'production',
      comment: `Vigil rollback of checkout canary v1.8.0 to baseline v1.7.3 (decision ${d.id}): ${d.reason}`,
      instructions: [{ kind: 'turnFlagOff' }],
    });
    expect(fake.flag.environments.production!.on).toBe(false);
    expect(fake.flag.environments.staging!.on).toBe(true);
  });

  it('with `variation`, sets the default rule to that variation by id, found by name, _id or value', async () => {
    for (const variation of ['baseline', BASELINE_ID, 'v1.7.3']) {
      fake.flag = ldFlag();
      fake.patches.length = 0;
      const res = await connector(fake.url, { variation }).apply(actionContext(rollbackDecision()));
      expect(res.changed).toBe(true);
      expect(res.detail).toContain(
        'set the default rule of flag "checkout-v2" (project "shop") in environment "production" to variation "baseline"',
      );
      expect((fake.patches[0] as { instructions: unknown }).instructions).toEqual([
        { kind: 'updateFallthroughVariationOrRollout', variationId: BASELINE_ID },
      ]);
      expect(fake.flag.environments.production!.fallthrough).toEqual({ variation: 1 });
      expect(fake.flag.environments.production!.on).toBe(true);
    }
    expect(fake.vendor.violations).toEqual([]);
  });

  it('reads first: an off flag, or a default rule already on the variation, is not written again', async () => {
    fake.flag.environments.production!.on = false;
    const off = await connector(fake.url).apply(actionContext(rollbackDecision()));
    expect(off).toEqual({
      changed: false,
      detail: 'already rolled back: flag "checkout-v2" (project "shop") in environment "production" is off',
    });
    fake.flag.environments.production!.fallthrough = { variation: 1 };
    const same = await connector(fake.url, { variation: 'baseline' }).apply(actionContext(rollbackDecision()));
    expect(same.changed).toBe(false);
    expect(same.detail).toBe(
      'already rolled back: flag "checkout-v2" (project "shop") in environment "production" is off, ' +
        'its default rule serves variation #1; note: the flag is off, so it serves its off variation until it is turned on',
    );
    expect(fake.vendor.writes()).toEqual([]);
  });

  it('a percentage rollout on the default rule is replaced by the variation; rules left in place are reported', async () => {
    fake.flag.environments.production!.fallthrough = {
      rollout: {
        variations: [
          { variation: 0, weight: 50000 },
          { variation: 1, weight: 50000 },
        ],
      },
    };
    fake.flag.environments.production!.rules = [{ _id: 'r1', variation: 0, clauses: [] }];
    const dry = await connector(fake.url, { variation: 'baseline' }).apply(
      actionContext(rollbackDecision(), { dryRun: true }),
    );
    expect(dry.detail).toBe(
      `dry-run: would set the default rule of flag "checkout-v2" (project "shop") in environment "production" to variation "baseline" ` +
        `(PATCH ${fake.url}${FLAG_PATH}, updateFallthroughVariationOrRollout); now flag "checkout-v2" (project "shop") in environment "production" is on, ` +
        'its default rule serves a percentage rollout; note: 1 targeting rule(s) still serve their own variations',
    );
    expect(fake.vendor.writes()).toEqual([]);
    const res = await connector(fake.url, { variation: 'baseline' }).apply(actionContext(rollbackDecision()));
    expect(res.changed).toBe(true);
    expect(fake.flag.environments.production!.fallthrough).toEqual({ variation: 1 });
  });

  it('an unknown or ambiguous variation, or a missing environment, fails permanently before any write', async () => {
    const unknown = await rejection(
      connector(fake.url, { variation: 'blue' }).apply(actionContext(rollbackDecision())),
    );
    expect(unknown.code).toBe('VIGIL_ERR_CONNECTOR_FAILED');
    expect(unknown.retryable).toBe(false);
    expect(unknown.message).toContain(
      'has no variation "blue" (it has: "canary" _id 86208e6e-468f-4425-b334-7f318397f95c, ' +
        '"baseline" _id 7b32de80-f346-4276-bb77-28dfa7ddc2d8, #2 ("legacy") _id c0ffee00-0000-4000-8000-000000000003)',
    );
    fake.flag.variations[2]!.name = 'baseline';
    const twice = await rejection(
      connector(fake.url, { variation: 'baseline' }).apply(actionContext(rollbackDecision())),
    );
    expect(twice.message).toContain('matches 2 variations: use the variation _id');
    const env = await rejection(connector(fake.url, { environment: 'qa' }).apply(actionContext(rollbackDecision())));
    expect(env.message).toContain('flag "checkout-v2" has no environment "qa" in project "shop"');
    expect(fake.vendor.writes()).toEqual([]);
  });

  it('a write refused (approvals required) is permanent with the vendor message; 429 and 5xx are retried', async () => {
    fake.vendor.failNextWrite = {
      status: 405,
      json: { code: 'method_not_allowed', message: 'approval is required to make changes in production' },
    };
    const refused = await rejection(connector(fake.url).apply(actionContext(rollbackDecision())));
    expect(refused.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
    expect(refused.message).toContain('approval is required');
    for (const status of [429, 502]) {
      fake.vendor.failNextWrite = { status, json: { code: 'rate_limited', message: 'slow down' } };
      const err = await rejection(connector(fake.url).apply(actionContext(rollbackDecision())));
      expect(err.retryable).toBe(true);
    }
    expect(fake.flag.environments.production!.on).toBe(true);
  });

  it('health check reads the flag (and resolves the variation); a bad key fails without showing it', async () => {
    const ctx = actionContext(rollbackDecision());
    await expect(
      connector(fake.url, { variation: 'baseline' }).healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    ).resolves.toBeUndefined();
    const err = await rejection(
      connector(fake.url, { apiKey: 'api-wrong-91' }).healthCheck!({ logger: ctx.logger, signal: ctx.signal }),
    );
    expect(err.details.status).toBe(401);
    expect(err.message).not.toContain('api-wrong-91');
    expect(fake.vendor.writes()).toEqual([]);
  });

  it('never hands the API key to its logger', async () => {
    const cap = captureLogger();
    const ctx = { ...actionContext(rollbackDecision()), logger: cap.logger };
    await connector(fake.url).apply({ ...ctx, dryRun: true });
    await connector(fake.url).apply(ctx);
    expect(cap.text()).toContain('vendor answered');
    expect(cap.text()).not.toContain(API_KEY);
  });
});
