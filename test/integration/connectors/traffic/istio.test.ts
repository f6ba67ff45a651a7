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
});
