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
const CANARY_ID = '86208e6e-468f-4425-b334-7f318397f95c';
const SHARE = { variation: 'baseline', canaryVariation: 'canary' } as const;
const WHERE = 'flag "checkout-v2" (project "shop") in environment "production"';

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
  [
    'fallthrough variation with a canary variation (setCanaryShare)',
    { variation: 'baseline', canaryVariation: 'canary' },
  ],
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

  it('setCanaryShare 5 → 25 → 100: the default rule becomes a percentage rollout in thousandths; the same share writes nothing', async () => {
    const c = connector(fake.url, SHARE);
    const d = rollbackDecision();
    for (const [share, was] of [
      [5, 100],
      [25, 5],
      [100, 25],
    ] as const) {
      fake.vendor.reset();
      fake.patches.length = 0;
      const w = share * 1000;
      const res = await c.setCanaryShare!(share, actionContext(d));
      expect(res).toEqual({
        changed: true,
        detail:
          `canary share ${share}% (was ${was}%): set the default rule of ${WHERE} to a percentage rollout: "canary" ${w}, "baseline" ${100_000 - w} ` +
          `(thousandths of a percent) (PATCH ${fake.url}${FLAG_PATH}, updateFallthroughVariationOrRollout); before: ${WHERE} is on, its default rule serves ${was === 100 ? 'variation #0' : 'a percentage rollout'}`,
      });
      expect(fake.vendor.violations).toEqual([]);
      expect(fake.vendor.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
        `GET ${FLAG_PATH}?env=production`,
        `PATCH ${FLAG_PATH}`,
      ]);
      const patch = fake.vendor.requests[1]!;
      expect(patch.headers['content-type']).toBe('application/json; domain-model=launchdarkly.semanticpatch');
      expect(JSON.parse(patch.text)).toEqual({
        environmentKey: 'production',
        comment: `Vigil: canary share ${share}% for checkout canary v1.8.0 (baseline v1.7.3)`,
        instructions: [
          {
            kind: 'updateFallthroughVariationOrRollout',
            rolloutWeights: { [CANARY_ID]: w, [BASELINE_ID]: 100_000 - w },
          },
        ],
      });
      expect(fake.flag.environments.production!.fallthrough).toEqual({
        rollout: {
          variations: [
            { variation: 0, weight: w },
            { variation: 1, weight: 100_000 - w },
          ],
        },
      });
      fake.vendor.reset();
      const again = await c.setCanaryShare!(share, actionContext(d));
      expect(again.changed).toBe(false);
      expect(again.detail).toBe(
        `canary share ${share}% (was ${share}%): ${WHERE} is on, its default rule serves a percentage rollout`,
      );
      expect((await c.setCanaryShare!(share, actionContext(d, { dryRun: true }))).changed).toBe(false);
      expect(fake.vendor.writes()).toEqual([]);
    }
    expect(fake.flag.environments.staging!.fallthrough).toEqual({ variation: 0 });
  });

  it('setCanaryShare dry run only reads; fractions down to 0.001% are exact, finer ones rounded (never to 0)', async () => {
    const c = connector(fake.url, SHARE);
    const dry = await c.setCanaryShare!(2.5, actionContext(rollbackDecision(), { dryRun: true }));
    expect(dry.changed).toBe(true);
    expect(dry.detail).toMatch(
      /^dry-run: canary share 2\.5% \(was 100%\): would set .*"canary" 2500, "baseline" 97500 /,
    );
    expect(fake.vendor.writes()).toEqual([]);
    const fine = await c.setCanaryShare!(0.0001, actionContext(rollbackDecision()));
    expect(fine.detail).toMatch(
      /^canary share 0\.001% \(was 100%\): .*; before: .*\(0\.0001% rounded to LaunchDarkly's thousandths of a percent\)$/,
    );
    expect(fake.flag.environments.production!.fallthrough.rollout!.variations).toEqual([
      { variation: 0, weight: 1 },
      { variation: 1, weight: 99_999 },
    ]);
    expect(fake.vendor.violations).toEqual([]);
  });

  it('a rollout\'s bucketBy and contextKind are kept; a rollout weighting a third variation is not "the same share"', async () => {
    fake.flag.environments.production!.fallthrough = {
      rollout: {
        variations: [
          { variation: 0, weight: 20_000 },
          { variation: 1, weight: 70_000 },
          { variation: 2, weight: 10_000 },
        ],
        bucketBy: 'accountId',
        contextKind: 'organization',
      },
    };
    const res = await connector(fake.url, SHARE).setCanaryShare!(20, actionContext(rollbackDecision()));
    expect(res.changed).toBe(true);
    expect(res.detail).toMatch(/^canary share 20% \(was 20%\)/);
    expect((fake.patches[0] as { instructions: unknown[] }).instructions).toEqual([
      {
        kind: 'updateFallthroughVariationOrRollout',
        rolloutWeights: { [CANARY_ID]: 20_000, [BASELINE_ID]: 80_000 },
        rolloutBucketBy: 'accountId',
        rolloutContextKind: 'organization',
      },
    ]);
    expect(fake.flag.environments.production!.fallthrough.rollout).toEqual({
      variations: [
        { variation: 0, weight: 20_000 },
        { variation: 1, weight: 80_000 },
      ],
      bucketBy: 'accountId',
      contextKind: 'organization',
    });
    expect(fake.vendor.violations).toEqual([]);
  });

  it('share 0 and the rollback both leave the default rule on the baseline variation: no canary in it', async () => {
    const c = connector(fake.url, SHARE);
    await c.setCanaryShare!(25, actionContext(rollbackDecision()));
    const rollback = await c.apply(actionContext(rollbackDecision()));
    expect(rollback.changed).toBe(true);
    expect(fake.flag.environments.production!.fallthrough).toEqual({ variation: 1 });
    const zero = await c.setCanaryShare!(0, actionContext(rollbackDecision()));
    expect(zero).toEqual({
      changed: false,
      detail: `canary share 0% (was 0%): ${WHERE} is on, its default rule serves variation #1`,
    });
    await c.setCanaryShare!(25, actionContext(rollbackDecision()));
    fake.patches.length = 0;
    const down = await c.setCanaryShare!(0, actionContext(rollbackDecision()));
    expect(down.detail).toMatch(/^canary share 0% \(was 25%\): set the default rule of .* to variation "baseline"/);
    expect((fake.patches[0] as { instructions: unknown[] }).instructions).toEqual([
      { kind: 'updateFallthroughVariationOrRollout', variationId: BASELINE_ID },
    ]);
    expect((await c.apply(actionContext(rollbackDecision()))).changed).toBe(false);
    expect(fake.vendor.violations).toEqual([]);
  });

  it('options: canaryVariation needs variation; only then is the capability declared; bad variations fail before a write', async () => {
    const base = { apiKey: 'k', project: 'p', flag: 'f', environment: 'e' };
    expect(() => launchDarklyFactory.parse({ ...base, canaryVariation: 'canary' })).toThrow(/needs options\.variation/);
    expect(launchDarklyFactory.setsShare!(launchDarklyFactory.parse(base))).toBe(false);
    expect(launchDarklyFactory.setsShare!(launchDarklyFactory.parse({ ...base, variation: 'b' }))).toBe(false);
    expect(launchDarklyFactory.setsShare!(launchDarklyFactory.parse({ ...base, ...SHARE }))).toBe(true);
    expect('setCanaryShare' in connector(fake.url, { variation: 'baseline' })).toBe(false);
    const unknown = await rejection(
      connector(fake.url, { ...SHARE, canaryVariation: 'blue' }).setCanaryShare!(5, actionContext(rollbackDecision())),
    );
    expect([unknown.code, unknown.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    expect(unknown.message).toContain('has no variation "blue"');
    expect(unknown.message).toContain('fix options.canaryVariation');
    const same = await rejection(
      connector(fake.url, { ...SHARE, canaryVariation: BASELINE_ID }).setCanaryShare!(
        5,
        actionContext(rollbackDecision()),
      ),
    );
    expect(same.message).toContain('name the same variation');
    const ctx = actionContext(rollbackDecision());
    const health = await rejection(
      connector(fake.url, { ...SHARE, canaryVariation: 'blue' }).healthCheck!({
        logger: ctx.logger,
        signal: ctx.signal,
      }),
    );
    expect(health.message).toContain('fix options.canaryVariation');
    fake.vendor.failNextWrite = { status: 405, json: { code: 'method_not_allowed', message: 'approval is required' } };
    const refused = await rejection(connector(fake.url, SHARE).setCanaryShare!(5, actionContext(rollbackDecision())));
    expect([refused.code, refused.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_HTTP_4XX', false]);
    expect(refused.message).toContain('approval is required');
    expect(fake.flag.environments.production!.fallthrough).toEqual({ variation: 0 });
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
