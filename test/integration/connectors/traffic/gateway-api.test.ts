import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type GatewayApiOptions, gatewayApiTrafficFactory } from '../../../../connectors/traffic/gateway-api.js';
import { VigilError } from '../../../../src/errors.js';
import { connectorConformance } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { FakeKubeApi, writeKubeconfig } from '../../../helpers/connectors/kube-fake-api.js';
import { rejection } from '../../../helpers/rejection.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-gwapi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROUTE_PATH = '/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/checkout';
const CONFORMANCE_TOKEN = 'conformance-kube-token-5be2';

interface Ref {
  name: string;
  port?: number;
  weight?: number;
  kind?: string;
}
function route(rules: Ref[][]) {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'checkout', namespace: 'shop' },
    spec: {
      parentRefs: [{ name: 'public' }],
      rules: rules.map((backendRefs, i) => ({
        matches: [{ path: { type: 'PathPrefix', value: `/r${i}` } }],
        backendRefs,
      })),
    },
    status: { parents: [] },
  };
}

function weights(api: FakeKubeApi): (number | undefined)[][] {
  const r = api.object<ReturnType<typeof route>>(ROUTE_PATH)!;
  return r.spec.rules.map((rule) => rule.backendRefs.map((b: Ref) => b.weight));
}

function connector(server: string, token: string, extra: Partial<GatewayApiOptions> = {}) {
  const kubeconfig = writeKubeconfig(dir, server, token);
  return asPlan(
    gatewayApiTrafficFactory.create(
      'shift',
      gatewayApiTrafficFactory.parse({
        kubeconfig,
        namespace: 'shop',
        route: 'checkout',
        baselineBackend: 'checkout-stable',
        canaryBackend: 'checkout-canary',
        ...extra,
      }),
      deps,
    ),
  );
}

connectorConformance('gateway-api', (t) => connector(t.url, CONFORMANCE_TOKEN, { timeoutMs: t.timeoutMs }), {
  http: {
    secrets: [CONFORMANCE_TOKEN],
    requestPath: /^\/hook\/apis\/gateway\.networking\.k8s\.io\/v1\/namespaces\/shop\/httproutes\/checkout$/,
  },
  stateful: async () => {
    const api = await FakeKubeApi.start({ token: CONFORMANCE_TOKEN });
    return {
      url: api.url,
      rollOut: () => {
        api.put(
          ROUTE_PATH,
          route([
            [
              { name: 'checkout-stable', port: 80, weight: 90 },
              { name: 'checkout-canary', port: 80, weight: 10 },
            ],
          ]),
        );
        return Promise.resolve();
      },
      snapshot: () => Promise.resolve(JSON.stringify(api.object(ROUTE_PATH))),
      close: () => api.close(),
    };
  },
});

describe('gateway-api against a Kubernetes API that checks the PATCH', () => {
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = await FakeKubeApi.start();
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
    api.beforePatch = undefined;
  });
  afterEach(() => api.delete(ROUTE_PATH));

  it('moves the canary weight to the baseline with one JSON patch, and reads it back', async () => {
    api.put(
      ROUTE_PATH,
      route([
        [
          { name: 'checkout-stable', port: 80, weight: 80 },
          { name: 'checkout-canary', port: 80, weight: 15 },
          { name: 'checkout-shadow', port: 80, weight: 5 },
        ],
        [{ name: 'checkout-stable', port: 80 }],
        [
          { name: 'checkout-canary', port: 80 },
          { name: 'checkout-stable', port: 80 },
        ],
      ]),
    );
    const c = connector(api.url, api.token);
    const res = await c.apply(actionContext(rollbackDecision()));
    expect(res.changed).toBe(true);
    expect(res.detail).toBe(
      'PATCHed HTTPRoute shop/checkout (application/json-patch+json): rule 0: checkout-stable 80→95, checkout-canary 15→0; rule 2: checkout-canary 1→0, checkout-stable 1→2',
    );
    const [get, patch] = api.requests;
    expect(get).toMatchObject({ method: 'GET', path: ROUTE_PATH, authorization: `Bearer ${api.token}` });
    expect(patch).toMatchObject({ method: 'PATCH', path: ROUTE_PATH, contentType: 'application/json-patch+json' });
    expect(patch!.body).toEqual([
      { op: 'test', path: '/spec/rules/0/backendRefs/0/name', value: 'checkout-stable' },
      { op: 'add', path: '/spec/rules/0/backendRefs/0/weight', value: 95 },
      { op: 'test', path: '/spec/rules/0/backendRefs/1/name', value: 'checkout-canary' },
      { op: 'add', path: '/spec/rules/0/backendRefs/1/weight', value: 0 },
      { op: 'test', path: '/spec/rules/2/backendRefs/0/name', value: 'checkout-canary' },
      { op: 'add', path: '/spec/rules/2/backendRefs/0/weight', value: 0 },
      { op: 'test', path: '/spec/rules/2/backendRefs/1/name', value: 'checkout-stable' },
      { op: 'add', path: '/spec/rules/2/backendRefs/1/weight', value: 2 },
    ]);
    expect(weights(api)).toEqual([[95, 0, 5], [undefined], [0, 2]]);

    const again = await c.apply(actionContext(rollbackDecision()));
    expect(again).toEqual({
      changed: false,
      detail:
        'HTTPRoute shop/checkout: all weight already on checkout-stable (rule 0: checkout-stable=95, checkout-canary=0; rule 1: checkout-stable=1; rule 2: checkout-canary=0, checkout-stable=2)',
    });
    expect(api.writes()).toHaveLength(1);
  });

  it('dry run reads the route and describes the patch without sending it', async () => {
    api.put(
      ROUTE_PATH,
      route([
        [
          { name: 'checkout-stable', weight: 50 },
          { name: 'checkout-canary', weight: 50 },
        ],
      ]),
    );
    const res = await connector(api.url, api.token).apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(res).toEqual({
      changed: false,
      detail:
        'dry-run: would PATCH HTTPRoute shop/checkout (application/json-patch+json): rule 0: checkout-stable 50→100, checkout-canary 50→0',
    });
    expect(api.requests.map((r) => r.method)).toEqual(['GET']);
    expect(weights(api)).toEqual([[50, 50]]);
  });

  it('fails permanently, changing nothing, when canary traffic has no baseline to go to or the route names neither', async () => {
    api.put(
      ROUTE_PATH,
      route([
        [
          { name: 'checkout-canary', weight: 10 },
          { name: 'other', weight: 90 },
        ],
      ]),
    );
    const c = connector(api.url, api.token);
    const err = await c.apply(actionContext(rollbackDecision())).catch((e: unknown) => e as VigilError);
    expect(err).toBeInstanceOf(VigilError);
    expect((err as VigilError).code).toBe('VIGIL_ERR_CONNECTOR_FAILED');
    expect((err as VigilError).retryable).toBe(false);
    expect((err as VigilError).message).toMatch(
      /HTTPRoute shop\/checkout rule 0 sends traffic to the canary but has no baseline/,
    );

    api.put(ROUTE_PATH, route([[{ name: 'cart', weight: 1 }]]));
    await expect(c.apply(actionContext(rollbackDecision()))).rejects.toThrow(
      /has no backendRef to Service checkout-stable or checkout-canary/,
    );
    expect(api.writes()).toHaveLength(0);
  });

  it('ignores backendRefs that are not core Services even when their name matches', async () => {
    api.put(
      ROUTE_PATH,
      route([
        [
          { name: 'checkout-stable', weight: 1 },
          { name: 'checkout-canary', kind: 'ServiceImport', weight: 3 },
        ],
      ]),
    );
    const res = await connector(api.url, api.token).apply(actionContext(rollbackDecision()));
    expect(res.changed).toBe(false);
    expect(weights(api)).toEqual([[1, 3]]);
  });

  it('a route reordered between the GET and the PATCH fails the test operation (422, permanent) and is left alone', async () => {
    api.put(
      ROUTE_PATH,
      route([
        [
          { name: 'checkout-stable', weight: 90 },
          { name: 'checkout-canary', weight: 10 },
        ],
      ]),
    );
    api.beforePatch = (path) =>
      api.put(
        path,
        route([
          [
            { name: 'checkout-canary', weight: 10 },
            { name: 'checkout-stable', weight: 90 },
          ],
        ]),
      );
    const err = (await connector(api.url, api.token)
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
    expect(err.details.status).toBe(422);
    expect(err.message).toMatch(/testing value \/spec\/rules\/0\/backendRefs\/0\/name failed/);
    expect(weights(api)).toEqual([[10, 90]]);
  });

  it('a missing route is a permanent 404 carrying the API server message; a bad token a permanent 401', async () => {
    const err = (await connector(api.url, api.token)
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_HTTP_4XX');
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(
      'vendor rejected the request: gateway-api answered HTTP 404: httproutes "checkout" not found',
    );
    api.put(ROUTE_PATH, route([[{ name: 'checkout-stable' }]]));
    const denied = (await connector(api.url, 'wrong-token')
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect(denied.details.status).toBe(401);
    expect(denied.message).not.toContain('wrong-token');
  });

  it('health check GETs the route and sends a server-side dry-run PATCH that stores nothing', async () => {
    api.put(
      ROUTE_PATH,
      route([
        [
          { name: 'checkout-stable', weight: 90 },
          { name: 'checkout-canary', weight: 10 },
        ],
      ]),
    );
    const before = api.object(ROUTE_PATH);
    const c = connector(api.url, api.token);
    const ctx = actionContext(rollbackDecision());
    await c.healthCheck!({ logger: ctx.logger, signal: ctx.signal });
    expect(
      api.requests.map((r) => [r.method, r.path, r.query.get('dryRun'), r.contentType, JSON.stringify(r.body)]),
    ).toEqual([
      ['GET', ROUTE_PATH, null, undefined, undefined],
      ['PATCH', ROUTE_PATH, 'All', 'application/json-patch+json', '[]'],
    ]);
    expect(api.object(ROUTE_PATH)).toEqual(before);
    api.delete(ROUTE_PATH);
    await expect(c.healthCheck!({ logger: ctx.logger, signal: ctx.signal })).rejects.toThrow(/404/);
  });

  it('uses the kubeconfig context it is told to, and fails clearly on a missing file or context', async () => {
    api.put(
      ROUTE_PATH,
      route([
        [
          { name: 'checkout-stable', weight: 9 },
          { name: 'checkout-canary', weight: 1 },
        ],
      ]),
    );
    const kubeconfig = writeKubeconfig(dir, api.url, api.token, { file: 'ctx.yaml', context: 'staging' });
    const parse = (o: object) =>
      gatewayApiTrafficFactory.parse({
        kubeconfig,
        namespace: 'shop',
        route: 'checkout',
        baselineBackend: 'checkout-stable',
        canaryBackend: 'checkout-canary',
        ...o,
      });
    const ok = asPlan(gatewayApiTrafficFactory.create('shift', parse({ context: 'staging' }), deps));
    expect((await ok.apply(actionContext(rollbackDecision()))).changed).toBe(true);
    const wrongCtx = asPlan(gatewayApiTrafficFactory.create('shift', parse({ context: 'prod' }), deps));
    await expect(wrongCtx.apply(actionContext(rollbackDecision()))).rejects.toThrow(/has no context "prod"/);
    const missing = asPlan(
      gatewayApiTrafficFactory.create('shift', parse({ kubeconfig: join(dir, 'nope.yaml') }), deps),
    );
    const err = (await missing.apply(actionContext(rollbackDecision())).catch((e: unknown) => e)) as VigilError;
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_FAILED');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/cannot load kubeconfig .*nope\.yaml/);
  });

  // the same fake Kubernetes API, cleared before and after each test (the hooks above)
  describe('setCanaryShare', () => {
    /** The ops that set backendRef `j` of rule `i` (named `name`) to weight `w`. */
    const set = (i: number, j: number, name: string, w: number) => [
      { op: 'test', path: `/spec/rules/${i}/backendRefs/${j}/name`, value: name },
      { op: 'add', path: `/spec/rules/${i}/backendRefs/${j}/weight`, value: w },
    ];
    const S = 'checkout-stable';
    const C = 'checkout-canary';
    /** A split with a third backend, a baseline-only rule, and a split on default weights (1 and 1). */
    const live = () =>
      route([
        [
          { name: S, port: 80, weight: 90 },
          { name: C, port: 80, weight: 10 },
          { name: 'checkout-shadow', port: 80, weight: 5 },
        ],
        [{ name: S, port: 80 }],
        [
          { name: C, port: 80 },
          { name: S, port: 80 },
        ],
      ]);
    const patches = () => api.writes().map((r) => [r.method, r.path, r.contentType, r.body]);

    it('5% → 25% → 100% → 0%: one exact JSON patch per step, pair weights p·k / (100 − p)·k, other backends untouched', async () => {
      api.put(ROUTE_PATH, live());
      const c = connector(api.url, api.token);
      const steps: [number, string, unknown[], (number | undefined)[][]][] = [
        [
          5,
          'canary share 5% (was 10%): PATCHed HTTPRoute shop/checkout (application/json-patch+json): rule 0: checkout-stable 90→95, checkout-canary 10→5; rule 2: checkout-canary 1→5, checkout-stable 1→95',
          [...set(0, 0, S, 95), ...set(0, 1, C, 5), ...set(2, 0, C, 5), ...set(2, 1, S, 95)],
          [[95, 5, 5], [undefined], [5, 95]],
        ],
        [
          25,
          'canary share 25% (was 5%): PATCHed HTTPRoute shop/checkout (application/json-patch+json): rule 0: checkout-stable 95→75, checkout-canary 5→25; rule 2: checkout-canary 5→25, checkout-stable 95→75',
          [...set(0, 0, S, 75), ...set(0, 1, C, 25), ...set(2, 0, C, 25), ...set(2, 1, S, 75)],
          [[75, 25, 5], [undefined], [25, 75]],
        ],
        [
          100,
          'canary share 100% (was 25%): PATCHed HTTPRoute shop/checkout (application/json-patch+json): rule 0: checkout-stable 75→0, checkout-canary 25→100; rule 2: checkout-canary 25→100, checkout-stable 75→0',
          [...set(0, 0, S, 0), ...set(0, 1, C, 100), ...set(2, 0, C, 100), ...set(2, 1, S, 0)],
          [[0, 100, 5], [undefined], [100, 0]],
        ],
        [
          0,
          'canary share 0% (was 100%): PATCHed HTTPRoute shop/checkout (application/json-patch+json): rule 0: checkout-stable 0→100, checkout-canary 100→0; rule 2: checkout-canary 100→0, checkout-stable 0→100',
          [...set(0, 0, S, 100), ...set(0, 1, C, 0), ...set(2, 0, C, 0), ...set(2, 1, S, 100)],
          [[100, 0, 5], [undefined], [0, 100]],
        ],
      ];
      for (const [share, detail, ops, after] of steps) {
        api.requests.length = 0;
        expect(await c.setCanaryShare!(share, actionContext(rollbackDecision()))).toEqual({ changed: true, detail });
        expect(api.requests.map((r) => r.method)).toEqual(['GET', 'PATCH']);
        expect(patches()).toEqual([['PATCH', ROUTE_PATH, 'application/json-patch+json', ops]]);
        expect(weights(api)).toEqual(after);
      }
      api.requests.length = 0;
      expect(await c.apply(actionContext(rollbackDecision()))).toEqual({
        changed: false,
        detail:
          'HTTPRoute shop/checkout: all weight already on checkout-stable (rule 0: checkout-stable=100, checkout-canary=0; rule 1: checkout-stable=1; rule 2: checkout-canary=0, checkout-stable=100)',
      });
      expect(await c.setCanaryShare!(0, actionContext(rollbackDecision()))).toEqual({
        changed: false,
        detail:
          'canary share 0% (was 0%): HTTPRoute shop/checkout: all weight already on checkout-stable (rule 0: checkout-stable=100, checkout-canary=0; rule 1: checkout-stable=1; rule 2: checkout-canary=0, checkout-stable=100)',
      });
      expect(api.writes()).toEqual([]);
    });

    it('share 0 sends exactly the patch apply sends and leaves exactly the route apply leaves; apply after it changes nothing', async () => {
      const mid = route([
        [
          { name: S, weight: 65 },
          { name: C, weight: 35 },
          { name: 'checkout-shadow', weight: 5 },
        ],
        [
          { name: C, weight: 3 },
          { name: S, weight: 1 },
          { name: C, weight: 2 },
        ],
      ]);
      api.put(ROUTE_PATH, mid);
      const c = connector(api.url, api.token);
      expect((await c.apply(actionContext(rollbackDecision()))).changed).toBe(true);
      const byApply = { patch: api.writes()[0]!.body, spec: api.object<typeof mid>(ROUTE_PATH)!.spec };
      api.requests.length = 0;
      api.put(ROUTE_PATH, mid);
      const res = await c.setCanaryShare!(0, actionContext(rollbackDecision()));
      expect(res.changed).toBe(true);
      expect(res.detail).toMatch(/^canary share 0% \(was 35%\): PATCHed HTTPRoute shop\/checkout/);
      expect(api.writes()[0]!.body).toEqual(byApply.patch);
      expect(api.object<typeof mid>(ROUTE_PATH)!.spec).toEqual(byApply.spec);
      expect(weights(api)).toEqual([
        [100, 0, 5],
        [0, 6, 0],
      ]);
      expect((await c.apply(actionContext(rollbackDecision()))).changed).toBe(false);
      expect(api.writes()).toHaveLength(1);
    });

    it('the same share twice sends no PATCH; a pair that already gives the share (150/50) is not rewritten', async () => {
      api.put(ROUTE_PATH, live());
      const c = connector(api.url, api.token);
      expect((await c.setCanaryShare!(25, actionContext(rollbackDecision()))).changed).toBe(true);
      api.requests.length = 0;
      expect(await c.setCanaryShare!(25, actionContext(rollbackDecision()))).toEqual({
        changed: false,
        detail:
          'canary share 25% (was 25%): HTTPRoute shop/checkout already gives it (rule 0: checkout-stable=75, checkout-canary=25; rule 2: checkout-canary=25, checkout-stable=75)',
      });
      expect(api.requests.map((r) => r.method)).toEqual(['GET']);

      api.put(
        ROUTE_PATH,
        route([
          [
            { name: S, weight: 150 },
            { name: C, weight: 50 },
          ],
        ]),
      );
      expect((await c.setCanaryShare!(25, actionContext(rollbackDecision()))).changed).toBe(false);
      expect(api.writes()).toEqual([]);
      expect(weights(api)).toEqual([[150, 50]]);
    });

    it('a fractional share gets the smallest exact integer weights (2.5% → 5/195)', async () => {
      api.put(ROUTE_PATH, live());
      const res = await connector(api.url, api.token).setCanaryShare!(2.5, actionContext(rollbackDecision()));
      expect(res.detail).toMatch(
        /^canary share 2\.5% \(was 10%\): PATCHed .*checkout-stable 90→195, checkout-canary 10→5;/,
      );
      expect(weights(api)).toEqual([[195, 5, 5], [undefined], [5, 195]]);
    });

    it('dry run sends only the GET, says whether it would change, and changes nothing', async () => {
      api.put(ROUTE_PATH, live());
      const c = connector(api.url, api.token);
      const before = api.object(ROUTE_PATH);
      expect(await c.setCanaryShare!(25, actionContext(rollbackDecision(), { dryRun: true }))).toEqual({
        changed: true,
        detail:
          'dry-run: canary share 25% (was 10%): would PATCH HTTPRoute shop/checkout (application/json-patch+json): rule 0: checkout-stable 90→75, checkout-canary 10→25; rule 2: checkout-canary 1→25, checkout-stable 1→75',
      });
      const zero = await c.setCanaryShare!(0, actionContext(rollbackDecision(), { dryRun: true }));
      expect(zero.changed).toBe(true);
      expect(zero.detail).toMatch(/^dry-run: canary share 0% \(was 10%\): would PATCH /);
      expect(api.requests.map((r) => r.method)).toEqual(['GET', 'GET']);
      expect(api.object(ROUTE_PATH)).toEqual(before);

      await c.setCanaryShare!(25, actionContext(rollbackDecision()));
      api.requests.length = 0;
      const same = await c.setCanaryShare!(25, actionContext(rollbackDecision(), { dryRun: true }));
      expect(same.changed).toBe(false);
      expect(api.requests.map((r) => r.method)).toEqual(['GET']);
    });

    it('an invalid share fails permanently before any request', async () => {
      api.put(ROUTE_PATH, live());
      const c = connector(api.url, api.token);
      for (const bad of [-1, 100.01, Number.NaN, Number.POSITIVE_INFINITY]) {
        const err = await rejection(c.setCanaryShare!(bad, actionContext(rollbackDecision())));
        expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
        expect(err.message).toMatch(/gateway-api: a canary share must be a number of percent from 0 to 100/);
      }
      expect(api.requests).toEqual([]);
    });

    it('a route with no rule that has both backends cannot take a share (permanent, nothing sent)', async () => {
      api.put(ROUTE_PATH, route([[{ name: S, weight: 1 }], [{ name: C, weight: 0 }]]));
      const c = connector(api.url, api.token);
      const err = await rejection(c.setCanaryShare!(10, actionContext(rollbackDecision())));
      expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
      expect(err.message).toMatch(
        /HTTPRoute shop\/checkout has no rule with both checkout-stable and checkout-canary as destinations/,
      );
      expect(api.writes()).toEqual([]);
      expect((await c.setCanaryShare!(0, actionContext(rollbackDecision()))).changed).toBe(false);
    });

    it('a route reordered between the GET and the PATCH fails the test of identity (422) and is left alone', async () => {
      api.put(ROUTE_PATH, live());
      const reordered = route([
        [
          { name: C, weight: 10 },
          { name: S, weight: 90 },
        ],
      ]);
      api.beforePatch = (path) => api.put(path, reordered);
      const err = await rejection(connector(api.url, api.token).setCanaryShare!(25, actionContext(rollbackDecision())));
      expect([err.code, err.details.status, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_HTTP_4XX', 422, false]);
      expect(weights(api)).toEqual([[10, 90]]);
    });

    it('declares the capability for validate', () => {
      expect(
        gatewayApiTrafficFactory.setsShare?.(
          gatewayApiTrafficFactory.parse({ route: 'checkout', baselineBackend: S, canaryBackend: C }),
        ),
      ).toBe(true);
    });
  });
});
