import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { istioTrafficFactory } from '../../../../connectors/traffic/istio.js';
import type { VigilError } from '../../../../src/errors.js';
import { connectorConformance } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { FakeKubeApi, writeKubeconfig } from '../../../helpers/connectors/kube-fake-api.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-istio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VS_PATH = '/apis/networking.istio.io/v1/namespaces/shop/virtualservices/checkout';
const CONFORMANCE_TOKEN = 'conformance-kube-token-77d0';

interface Dest {
  host: string;
  subset?: string;
}
type Route = { destination: Dest; weight?: number }[];
function virtualService(http: Route[]) {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'checkout', namespace: 'shop' },
    spec: { hosts: ['checkout'], http: http.map((route, i) => ({ name: `r${i}`, route })) },
  };
}
const stable = (weight?: number) => ({
  destination: { host: 'checkout', subset: 'stable' },
  ...(weight === undefined ? {} : { weight }),
});
const canary = (weight?: number) => ({
  destination: { host: 'checkout', subset: 'canary' },
  ...(weight === undefined ? {} : { weight }),
});

function weights(api: FakeKubeApi): (number | undefined)[][] {
  return api.object<ReturnType<typeof virtualService>>(VS_PATH)!.spec.http.map((h) => h.route.map((r) => r.weight));
}

function connector(server: string, token: string, extra: object = {}) {
  const kubeconfig = writeKubeconfig(dir, server, token);
  return asPlan(
    istioTrafficFactory.create(
      'shift',
      istioTrafficFactory.parse({
        kubeconfig,
        namespace: 'shop',
        virtualService: 'checkout',
        baselineHost: 'checkout',
        baselineSubset: 'stable',
        canarySubset: 'canary',
        ...extra,
      }),
      deps,
    ),
  );
}

connectorConformance('istio', (t) => connector(t.url, CONFORMANCE_TOKEN, { timeoutMs: t.timeoutMs }), {
  http: {
    secrets: [CONFORMANCE_TOKEN],
    requestPath: /^\/hook\/apis\/networking\.istio\.io\/v1\/namespaces\/shop\/virtualservices\/checkout$/,
  },
  stateful: async () => {
    const api = await FakeKubeApi.start({ token: CONFORMANCE_TOKEN });
    return {
      url: api.url,
      rollOut: () => Promise.resolve(api.put(VS_PATH, virtualService([[stable(80), canary(20)]]))),
      snapshot: () => Promise.resolve(JSON.stringify(api.object(VS_PATH))),
      close: () => api.close(),
    };
  },
});

describe('istio against a Kubernetes API that checks the PATCH', () => {
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = await FakeKubeApi.start();
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
  });
  afterEach(() => api.delete(VS_PATH));

  it("moves each HTTP route's canary weight to the baseline subset with one JSON patch, and reads it back", async () => {
    api.put(
      VS_PATH,
      virtualService([
        [stable(70), canary(20), { destination: { host: 'checkout-mirror' }, weight: 10 }],
        [stable()],
        [canary(50), stable(50)],
      ]),
    );
    const c = connector(api.url, api.token);
    const res = await c.apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail:
        'PATCHed VirtualService shop/checkout (application/json-patch+json): http[0] (r0): checkout/stable 70→90, checkout/canary 20→0; http[2] (r2): checkout/canary 50→0, checkout/stable 50→100',
    });
    const patch = api.writes()[0]!;
    expect(patch.path).toBe(VS_PATH);
    expect(patch.contentType).toBe('application/json-patch+json');
    expect(patch.body).toEqual([
      { op: 'test', path: '/spec/http/0/route/0/destination/host', value: 'checkout' },
      { op: 'test', path: '/spec/http/0/route/0/destination/subset', value: 'stable' },
      { op: 'add', path: '/spec/http/0/route/0/weight', value: 90 },
      { op: 'test', path: '/spec/http/0/route/1/destination/host', value: 'checkout' },
      { op: 'test', path: '/spec/http/0/route/1/destination/subset', value: 'canary' },
      { op: 'add', path: '/spec/http/0/route/1/weight', value: 0 },
      { op: 'test', path: '/spec/http/2/route/0/destination/host', value: 'checkout' },
      { op: 'test', path: '/spec/http/2/route/0/destination/subset', value: 'canary' },
      { op: 'add', path: '/spec/http/2/route/0/weight', value: 0 },
      { op: 'test', path: '/spec/http/2/route/1/destination/host', value: 'checkout' },
      { op: 'test', path: '/spec/http/2/route/1/destination/subset', value: 'stable' },
      { op: 'add', path: '/spec/http/2/route/1/weight', value: 100 },
    ]);
    expect(weights(api)).toEqual([[90, 0, 10], [undefined], [0, 100]]);
    const again = await c.apply(actionContext(rollbackDecision()));
    expect(again.changed).toBe(false);
    expect(again.detail).toBe(
      'VirtualService shop/checkout: all weight already on checkout/stable (http[0] (r0): checkout/stable=90, checkout/canary=0; http[1] (r1): checkout/stable=100; http[2] (r2): checkout/canary=0, checkout/stable=100)',
    );
    expect(api.writes()).toHaveLength(1);
  });

  it('host-based splits (no subsets) match on host alone; a subset-less option does not match a subset', async () => {
    api.put(
      VS_PATH,
      virtualService([
        [
          { destination: { host: 'checkout-v1' }, weight: 90 },
          { destination: { host: 'checkout-v2' }, weight: 10 },
        ],
      ]),
    );
    const byHost = connector(api.url, api.token, {
      baselineHost: 'checkout-v1',
      baselineSubset: undefined,
      canaryHost: 'checkout-v2',
      canarySubset: undefined,
    });
    expect((await byHost.apply(actionContext(rollbackDecision()))).changed).toBe(true);
    expect(weights(api)).toEqual([[100, 0]]);
    expect(api.writes()[0]!.body).toEqual([
      { op: 'test', path: '/spec/http/0/route/0/destination/host', value: 'checkout-v1' },
      { op: 'add', path: '/spec/http/0/route/0/weight', value: 100 },
      { op: 'test', path: '/spec/http/0/route/1/destination/host', value: 'checkout-v2' },
      { op: 'add', path: '/spec/http/0/route/1/weight', value: 0 },
    ]);

    api.put(VS_PATH, virtualService([[stable(90), canary(10)]]));
    const err = (await byHost.apply(actionContext(rollbackDecision())).catch((e: unknown) => e)) as VigilError;
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_FAILED');
    expect(err.message).toMatch(/has no HTTP route to checkout-v1 or checkout-v2/);
  });

  it('dry run describes the patch and sends only the GET', async () => {
    api.put(VS_PATH, virtualService([[stable(95), canary(5)]]));
    const res = await connector(api.url, api.token).apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(res).toEqual({
      changed: false,
      detail:
        'dry-run: would PATCH VirtualService shop/checkout (application/json-patch+json): http[0] (r0): checkout/stable 95→100, checkout/canary 5→0',
    });
    expect(api.requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('validates its options', () => {
    const base = { virtualService: 'checkout', baselineHost: 'checkout', baselineSubset: 'stable' };
    expect(istioTrafficFactory.parse({ ...base, canarySubset: 'canary' })).toMatchObject({
      namespace: 'default',
      apiVersion: 'v1',
      timeoutMs: 10_000,
    });
    expect(() => istioTrafficFactory.parse({ ...base, canarySubset: 'stable' })).toThrow(
      /options\.canarySubset must differ from options\.baselineSubset/,
    );
    expect(() => istioTrafficFactory.parse({ ...base, canarySubset: 'Canary' })).toThrow(
      /options\.canarySubset must be a subset name/,
    );
    expect(() => istioTrafficFactory.parse({ ...base, canaryHost: 'checkout-v2', canaryPort: 80 })).toThrow(
      /unknown option options\.canaryPort/,
    );
    expect(() => istioTrafficFactory.parse({ ...base, canarySubset: 'canary', context: 'prod' })).toThrow(
      /options\.context needs options\.kubeconfig/,
    );
    expect(() => istioTrafficFactory.parse({ virtualService: 'checkout' })).toThrow(
      /options\.baselineHost is required/,
    );
  });

  // the same fake Kubernetes API, cleared before and after each test (the hooks above)
  describe('setCanaryShare', () => {
    /** The ops that set destination `j` of http route `i` (host checkout, `subset`) to weight `w`. */
    const set = (i: number, j: number, subset: string, w: number) => [
      { op: 'test', path: `/spec/http/${i}/route/${j}/destination/host`, value: 'checkout' },
      { op: 'test', path: `/spec/http/${i}/route/${j}/destination/subset`, value: subset },
      { op: 'add', path: `/spec/http/${i}/route/${j}/weight`, value: w },
    ];
    const mirror = { destination: { host: 'checkout-mirror' }, weight: 10 };
    const live = () => virtualService([[stable(70), canary(20), mirror], [stable()], [canary(50), stable(50)]]);
    const VS = 'VirtualService shop/checkout (application/json-patch+json)';

    it('5% → 25% → 100% → 0%: one exact JSON patch per step with tests of host and subset; other destinations untouched', async () => {
      api.put(VS_PATH, live());
      const c = connector(api.url, api.token);
      const steps: [number, string, unknown[], (number | undefined)[][]][] = [
        [
          5,
          `canary share 5% (was 22.222222%): PATCHed ${VS}: http[0] (r0): checkout/stable 70→95, checkout/canary 20→5; http[2] (r2): checkout/canary 50→5, checkout/stable 50→95`,
          [
            ...set(0, 0, 'stable', 95),
            ...set(0, 1, 'canary', 5),
            ...set(2, 0, 'canary', 5),
            ...set(2, 1, 'stable', 95),
          ],
          [[95, 5, 10], [undefined], [5, 95]],
        ],
        [
          25,
          `canary share 25% (was 5%): PATCHed ${VS}: http[0] (r0): checkout/stable 95→75, checkout/canary 5→25; http[2] (r2): checkout/canary 5→25, checkout/stable 95→75`,
          [
            ...set(0, 0, 'stable', 75),
            ...set(0, 1, 'canary', 25),
            ...set(2, 0, 'canary', 25),
            ...set(2, 1, 'stable', 75),
          ],
          [[75, 25, 10], [undefined], [25, 75]],
        ],
        [
          100,
          `canary share 100% (was 25%): PATCHed ${VS}: http[0] (r0): checkout/stable 75→0, checkout/canary 25→100; http[2] (r2): checkout/canary 25→100, checkout/stable 75→0`,
          [
            ...set(0, 0, 'stable', 0),
            ...set(0, 1, 'canary', 100),
            ...set(2, 0, 'canary', 100),
            ...set(2, 1, 'stable', 0),
          ],
          [[0, 100, 10], [undefined], [100, 0]],
        ],
        [
          0,
          `canary share 0% (was 100%): PATCHed ${VS}: http[0] (r0): checkout/stable 0→100, checkout/canary 100→0; http[2] (r2): checkout/canary 100→0, checkout/stable 0→100`,
          [
            ...set(0, 0, 'stable', 100),
            ...set(0, 1, 'canary', 0),
            ...set(2, 0, 'canary', 0),
            ...set(2, 1, 'stable', 100),
          ],
          [[100, 0, 10], [undefined], [0, 100]],
        ],
      ];
      for (const [share, detail, ops, after] of steps) {
        api.requests.length = 0;
        expect(await c.setCanaryShare!(share, actionContext(rollbackDecision()))).toEqual({ changed: true, detail });
        expect(api.requests.map((r) => [r.method, r.path])).toEqual([
          ['GET', VS_PATH],
          ['PATCH', VS_PATH],
        ]);
        expect(api.writes()[0]!.contentType).toBe('application/json-patch+json');
        expect(api.writes()[0]!.body).toEqual(ops);
        expect(weights(api)).toEqual(after);
      }
      api.requests.length = 0;
      const applied = await c.apply(actionContext(rollbackDecision()));
      expect(applied.changed).toBe(false);
      expect(applied.detail).toMatch(/^VirtualService shop\/checkout: all weight already on checkout\/stable/);
      expect(api.writes()).toEqual([]);
    });

    it('share 0 sends exactly the patch apply sends and leaves the same VirtualService; apply after it changes nothing', async () => {
      const mid = virtualService([[stable(60), canary(30), mirror]]);
      api.put(VS_PATH, mid);
      const c = connector(api.url, api.token);
      await c.apply(actionContext(rollbackDecision()));
      const byApply = { patch: api.writes()[0]!.body, spec: api.object<typeof mid>(VS_PATH)!.spec };
      api.put(VS_PATH, mid);
      api.requests.length = 0;
      const res = await c.setCanaryShare!(0, actionContext(rollbackDecision()));
      expect(res.changed).toBe(true);
      expect(res.detail).toMatch(/^canary share 0% \(was 33\.333333%\): PATCHed VirtualService shop\/checkout/);
      expect(api.writes()[0]!.body).toEqual(byApply.patch);
      expect(api.object<typeof mid>(VS_PATH)!.spec).toEqual(byApply.spec);
      expect(weights(api)).toEqual([[90, 0, 10]]);
      expect((await c.apply(actionContext(rollbackDecision()))).changed).toBe(false);
      expect(api.writes()).toHaveLength(1);
    });

    it('the same share twice sends no PATCH; a dry run sends only the GET', async () => {
      api.put(VS_PATH, live());
      const c = connector(api.url, api.token);
      const dry = await c.setCanaryShare!(25, actionContext(rollbackDecision(), { dryRun: true }));
      expect(dry.changed).toBe(true);
      expect(dry.detail).toBe(
        `dry-run: canary share 25% (was 22.222222%): would PATCH ${VS}: http[0] (r0): checkout/stable 70→75, checkout/canary 20→25; http[2] (r2): checkout/canary 50→25, checkout/stable 50→75`,
      );
      expect(api.requests.map((r) => r.method)).toEqual(['GET']);
      expect(weights(api)).toEqual([[70, 20, 10], [undefined], [50, 50]]);

      expect((await c.setCanaryShare!(25, actionContext(rollbackDecision()))).changed).toBe(true);
      api.requests.length = 0;
      const again = await c.setCanaryShare!(25, actionContext(rollbackDecision()));
      expect(again).toEqual({
        changed: false,
        detail:
          'canary share 25% (was 25%): VirtualService shop/checkout already gives it (http[0] (r0): checkout/stable=75, checkout/canary=25; http[2] (r2): checkout/canary=25, checkout/stable=75)',
      });
      expect((await c.setCanaryShare!(25, actionContext(rollbackDecision(), { dryRun: true }))).changed).toBe(false);
      expect(api.requests.map((r) => r.method)).toEqual(['GET', 'GET']);
    });

    it('absent weights (0 each) give no share to speak of; a share that no total up to 1,000,000 expresses is rounded and says so', async () => {
      api.put(VS_PATH, virtualService([[stable(), canary()]]));
      const c = connector(api.url, api.token);
      const res = await c.setCanaryShare!(2.5, actionContext(rollbackDecision()));
      expect(res.detail).toBe(
        `canary share 2.5% (was unknown): PATCHed ${VS}: http[0] (r0): checkout/stable 0→195, checkout/canary 0→5`,
      );
      expect(weights(api)).toEqual([[195, 5]]);
      // a third is exact on 300 (k = 3)
      const third = await c.setCanaryShare!(100 / 3, actionContext(rollbackDecision()));
      expect(third.detail).toMatch(
        /^canary share 33\.333333% \(was 2\.5%\): PATCHed .*checkout\/stable 195→200, checkout\/canary 5→100$/,
      );
      expect(weights(api)).toEqual([[200, 100]]);
      expect((await c.setCanaryShare!(100 / 3, actionContext(rollbackDecision()))).changed).toBe(false);
      const fine = await c.setCanaryShare!(12.345678, actionContext(rollbackDecision()));
      expect(fine.detail).toBe(
        `canary share 12.3457% (was 33.333333%): PATCHed ${VS}: http[0] (r0): checkout/stable 200→876543, checkout/canary 100→123457 (12.345678% rounded to integer weights on a total of 1000000)`,
      );
      expect(weights(api)).toEqual([[876543, 123457]]);
      const again = await c.setCanaryShare!(12.345678, actionContext(rollbackDecision()));
      expect(again.changed).toBe(false);
      expect(again.detail).toMatch(
        /^canary share 12\.3457% \(was 12\.3457%\): VirtualService shop\/checkout already gives it/,
      );
    });

    it('an invalid share fails permanently before any request; a VirtualService without a split cannot take one', async () => {
      api.put(VS_PATH, virtualService([[stable()]]));
      const c = connector(api.url, api.token);
      for (const bad of [-0.5, 101, Number.NaN, Number.NEGATIVE_INFINITY]) {
        const err = (await c.setCanaryShare!(bad, actionContext(rollbackDecision())).catch(
          (e: unknown) => e,
        )) as VigilError;
        expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
      }
      expect(api.requests).toEqual([]);
      const err = (await c.setCanaryShare!(10, actionContext(rollbackDecision())).catch(
        (e: unknown) => e,
      )) as VigilError;
      expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
      expect(err.message).toMatch(
        /VirtualService shop\/checkout has no HTTP route with both checkout\/stable and checkout\/canary as destinations/,
      );
      expect(api.writes()).toEqual([]);
    });

    it('declares the capability for validate', () => {
      const o = istioTrafficFactory.parse({
        virtualService: 'checkout',
        baselineHost: 'checkout',
        baselineSubset: 'stable',
        canarySubset: 'canary',
      });
      expect(istioTrafficFactory.setsShare?.(o)).toBe(true);
    });
  });
});
