import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { kubernetesDeployerFactory } from '../../../../connectors/deployers/kubernetes.js';
import type { VigilError } from '../../../../src/errors.js';
import { connectorConformance } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { FakeKubeApi, writeKubeconfig } from '../../../helpers/connectors/kube-fake-api.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-k8s-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const APPS = '/apis/apps/v1/namespaces/shop';
const DEPLOY = `${APPS}/deployments/checkout`;
const CONFORMANCE_TOKEN = 'conformance-kube-token-0d6e';
const V = 'app.kubernetes.io/version';

function template(version: string, extra: { env?: string; hash?: string } = {}) {
  return {
    metadata: { labels: { app: 'checkout', [V]: version, ...(extra.hash ? { 'pod-template-hash': extra.hash } : {}) } },
    spec: {
      containers: [
        {
          name: 'app',
          image: `registry.local:5000/shop/checkout:${version}`,
          env: [{ name: 'MODE', value: extra.env ?? 'normal' }],
          resources: {},
        },
      ],
    },
  };
}

function deployment(version: string, more: { paused?: boolean; replicas?: number } = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'checkout',
      namespace: 'shop',
      uid: 'uid-deploy-checkout',
      annotations: {
        'deployment.kubernetes.io/revision': '4',
        'kubectl.kubernetes.io/last-applied-configuration': '{"kind":"Deployment"}',
        team: 'canary-owners',
      },
    },
    spec: {
      replicas: more.replicas ?? 4,
      paused: more.paused,
      selector: { matchLabels: { app: 'checkout' } },
      template: template(version),
    },
    status: { replicas: 4 },
  };
}

function replicaSet(name: string, version: string, revision: number, opts: { owner?: string; env?: string } = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      namespace: 'shop',
      labels: { app: 'checkout', [V]: version, 'pod-template-hash': `h${revision}` },
      annotations: {
        'deployment.kubernetes.io/revision': String(revision),
        'deployment.kubernetes.io/desired-replicas': '4',
        'deployment.kubernetes.io/max-replicas': '5',
        team: 'shop',
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: 'checkout',
          uid: opts.owner ?? 'uid-deploy-checkout',
          controller: true,
        },
      ],
    },
    spec: { replicas: 0, template: template(version, { env: opts.env, hash: `h${revision}` }) },
  };
}

/** A Deployment mid-canary: it runs `canary`; its history holds the baseline (and what the test adds). */
function seed(
  api: FakeKubeApi,
  canary: string,
  more: { paused?: boolean; extraRs?: ReturnType<typeof replicaSet>[] } = {},
): void {
  for (const r of ['rs-base-1', 'rs-base-3', 'rs-canary', 'rs-foreign']) api.delete(`${APPS}/replicasets/${r}`);
  api.put(DEPLOY, deployment(canary, { paused: more.paused }));
  api.put(`${APPS}/replicasets/rs-base-1`, replicaSet('rs-base-1', 'v1.7.3', 1));
  api.put(`${APPS}/replicasets/rs-canary`, replicaSet('rs-canary', canary, 4));
  for (const rs of more.extraRs ?? []) api.put(`${APPS}/replicasets/${rs.metadata.name}`, rs);
}

function connector(server: string, token: string, extra: object = {}) {
  const kubeconfig = writeKubeconfig(dir, server, token);
  return asPlan(
    kubernetesDeployerFactory.create(
      'undo',
      kubernetesDeployerFactory.parse({ kubeconfig, namespace: 'shop', deployment: 'checkout', ...extra }),
      deps,
    ),
  );
}

for (const mode of ['undo', 'scale-to-zero'] as const) {
  connectorConformance(
    `kubernetes (${mode})`,
    (t) => connector(t.url, CONFORMANCE_TOKEN, { timeoutMs: t.timeoutMs, mode }),
    {
      http: {
        secrets: [CONFORMANCE_TOKEN],
        requestPath: /^\/hook\/apis\/apps\/v1\/namespaces\/shop\/deployments\/checkout$/,
      },
      stateful: async () => {
        const api = await FakeKubeApi.start({ token: CONFORMANCE_TOKEN });
        return {
          url: api.url,
          rollOut: (v) => Promise.resolve(seed(api, v)),
          snapshot: () => Promise.resolve(JSON.stringify(api.object(DEPLOY))),
          close: () => api.close(),
        };
      },
    },
  );
}

describe('kubernetes undo against a Kubernetes API that checks the PATCH', () => {
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = await FakeKubeApi.start();
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
  });

  it("rolls back to the newest baseline ReplicaSet it controls, with kubectl's JSON patch", async () => {
    seed(api, 'v1.8.0', {
      extraRs: [
        replicaSet('rs-base-3', 'v1.7.3', 3, { env: 'tuned' }),
        replicaSet('rs-foreign', 'v1.7.3', 9, { owner: 'uid-someone-else' }),
      ],
    });
    const c = connector(api.url, api.token);
    const res = await c.apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail:
        'rolled back Deployment shop/checkout to revision 3 (rs-base-3, baseline v1.7.3; now v1.8.0) with a JSON patch (application/json-patch+json) replacing /spec/template and /metadata/annotations, as kubectl rollout undo',
    });
    const reads = api.requests.filter((r) => r.method === 'GET');
    expect(reads.map((r) => [r.path, r.query.get('labelSelector')])).toEqual([
      [DEPLOY, null],
      [`${APPS}/replicasets`, 'app=checkout'],
    ]);
    const [patch] = api.writes();
    expect(patch!.path).toBe(DEPLOY);
    expect(patch!.contentType).toBe('application/json-patch+json');
    expect(patch!.body).toEqual([
      { op: 'test', path: '/spec/template/metadata/labels/app.kubernetes.io~1version', value: 'v1.8.0' },
      { op: 'replace', path: '/spec/template', value: template('v1.7.3', { env: 'tuned' }) },
      {
        op: 'add',
        path: '/metadata/annotations',
        value: {
          'deployment.kubernetes.io/revision': '4',
          'kubectl.kubernetes.io/last-applied-configuration': '{"kind":"Deployment"}',
          team: 'shop',
        },
      },
    ]);
    const after = api.object<ReturnType<typeof deployment>>(DEPLOY)!;
    expect(after.spec.template).toEqual(template('v1.7.3', { env: 'tuned' }));
    expect(after.spec.replicas).toBe(4);
    expect(after.metadata.annotations.team).toBe('shop');

    const again = await c.apply(actionContext(rollbackDecision()));
    expect(again).toEqual({
      changed: false,
      detail: 'Deployment shop/checkout already runs the template of revision 3 (baseline v1.7.3)',
    });
    expect(api.writes()).toHaveLength(1);
  });

  it('reads the version from a container image tag when told to', async () => {
    seed(api, 'v1.8.0');
    const res = await connector(api.url, api.token, { versionContainer: 'app' }).apply(
      actionContext(rollbackDecision()),
    );
    expect(res.changed).toBe(true);
    expect(api.writes()[0]!.body).toContainEqual({
      op: 'test',
      path: '/spec/template/spec/containers/0/image',
      value: 'registry.local:5000/shop/checkout:v1.8.0',
    });
    expect(api.object<ReturnType<typeof deployment>>(DEPLOY)!.spec.template.spec.containers[0]!.image).toBe(
      'registry.local:5000/shop/checkout:v1.7.3',
    );
  });

  it('refuses, changing nothing: a paused Deployment, a newer version than the canary, no baseline ReplicaSet left', async () => {
    const c = connector(api.url, api.token);
    const failure = async () =>
      (await c.apply(actionContext(rollbackDecision())).catch((e: unknown) => e)) as VigilError;
    seed(api, 'v1.8.0', { paused: true });
    let err = await failure();
    expect([err.code, err.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', false]);
    expect(err.message).toMatch(/is paused.*kubectl rollout resume deployment\/checkout/);
    seed(api, 'v1.9.0');
    err = await failure();
    expect(err.message).toMatch(/now runs v1\.9\.0, not the canary v1\.8\.0/);
    seed(api, 'v1.8.0');
    api.delete(`${APPS}/replicasets/rs-base-1`);
    err = await failure();
    expect(err.message).toMatch(
      /no ReplicaSet whose label app\.kubernetes\.io\/version is the baseline v1\.7\.3 \(versions found: v1\.8\.0\)/,
    );
    expect(api.writes()).toHaveLength(0);
  });

  it('a redeploy between the GET and the PATCH fails the version test (422) and is not overwritten', async () => {
    seed(api, 'v1.8.0');
    api.beforePatch = (path) => api.put(path, deployment('v1.9.0'));
    const err = (await connector(api.url, api.token)
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    api.beforePatch = undefined;
    expect(err.details.status).toBe(422);
    expect(api.object<ReturnType<typeof deployment>>(DEPLOY)!.spec.template.metadata.labels[V]).toBe('v1.9.0');
  });

  it('dry run lists what it would do after reading', async () => {
    seed(api, 'v1.8.0');
    const res = await connector(api.url, api.token).apply(actionContext(rollbackDecision(), { dryRun: true }));
    expect(res.changed).toBe(false);
    expect(res.detail).toMatch(
      /^dry-run: would roll back Deployment shop\/checkout to revision 1 \(rs-base-1, baseline v1\.7\.3; now v1\.8\.0\)/,
    );
    expect(api.writes()).toHaveLength(0);
  });
});

describe('kubernetes scale-to-zero against a Kubernetes API that checks the PATCH', () => {
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = await FakeKubeApi.start();
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
  });

  it('scales the canary Deployment through the scale subresource with a merge patch, once', async () => {
    seed(api, 'v1.8.0');
    const c = connector(api.url, api.token, { mode: 'scale-to-zero' });
    const res = await c.apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail:
        'scaled Deployment shop/checkout from 4 to 0 replicas (merge patch {"spec":{"replicas":0}} to its scale subresource)',
    });
    expect(api.writes().map((r) => [r.method, r.path, r.contentType, JSON.stringify(r.body)])).toEqual([
      ['PATCH', `${DEPLOY}/scale`, 'application/merge-patch+json', '{"spec":{"replicas":0}}'],
    ]);
    expect(api.object<ReturnType<typeof deployment>>(DEPLOY)!.spec.replicas).toBe(0);
    expect(await c.apply(actionContext(rollbackDecision()))).toEqual({
      changed: false,
      detail: 'Deployment shop/checkout is already scaled to 0',
    });
    expect(api.writes()).toHaveLength(1);
  });

  it('refuses to scale a Deployment that runs another version than the canary', async () => {
    seed(api, 'v1.9.0');
    const err = (await connector(api.url, api.token, { mode: 'scale-to-zero' })
      .apply(actionContext(rollbackDecision()))
      .catch((e: unknown) => e)) as VigilError;
    expect(err.message).toMatch(/runs v1\.9\.0, not the canary v1\.8\.0 .*refusing to scale it to 0/);
    expect(api.object<ReturnType<typeof deployment>>(DEPLOY)!.spec.replicas).toBe(4);
  });

  it('health check uses a server-side dry run on the scale subresource and stores nothing', async () => {
    seed(api, 'v1.8.0');
    api.requests.length = 0;
    const ctx = actionContext(rollbackDecision());
    await connector(api.url, api.token, { mode: 'scale-to-zero' }).healthCheck!({
      logger: ctx.logger,
      signal: ctx.signal,
    });
    expect(api.requests.map((r) => [r.method, r.path, r.query.get('dryRun'), r.contentType])).toEqual([
      ['GET', DEPLOY, null, undefined],
      ['PATCH', `${DEPLOY}/scale`, 'All', 'application/merge-patch+json'],
    ]);
    expect(api.object<ReturnType<typeof deployment>>(DEPLOY)!.spec.replicas).toBe(4);
  });
});
