import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { argoRolloutsDeployerFactory } from '../../../../connectors/deployers/argo-rollouts.js';
import type { VigilError } from '../../../../src/errors.js';
import { connectorConformance } from '../../../helpers/connectors/conformance.js';
import { actionContext, asPlan, deps, rollbackDecision } from '../../../helpers/connectors/fixtures.js';
import { FakeKubeApi, writeKubeconfig } from '../../../helpers/connectors/kube-fake-api.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-argo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RO_PATH = '/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout';
const CONFORMANCE_TOKEN = 'conformance-kube-token-a91f';

/** A Rollout mid-canary: the template runs `version`, the stable ReplicaSet is another one. */
function rollout(version: string, status: Record<string, unknown> = {}) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'checkout', namespace: 'shop' },
    spec: {
      replicas: 4,
      selector: { matchLabels: { app: 'checkout' } },
      template: {
        metadata: { labels: { app: 'checkout', 'app.kubernetes.io/version': version } },
        spec: { containers: [{ name: 'app', image: `shop/checkout:${version}` }] },
      },
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }] } },
    },
    status: {
      phase: 'Paused',
      currentPodHash: `hash-${version}`,
      stableRS: 'hash-v1.7.3',
      currentStepIndex: 1,
      ...status,
    },
  };
}

function connector(server: string, token: string, extra: object = {}) {
  const kubeconfig = writeKubeconfig(dir, server, token);
  return asPlan(
    argoRolloutsDeployerFactory.create(
      'abort',
      argoRolloutsDeployerFactory.parse({ kubeconfig, namespace: 'shop', rollout: 'checkout', ...extra }),
      deps,
    ),
  );
}

connectorConformance('argo-rollouts', (t) => connector(t.url, CONFORMANCE_TOKEN, { timeoutMs: t.timeoutMs }), {
  http: {
    secrets: [CONFORMANCE_TOKEN],
    requestPath: /^\/hook\/apis\/argoproj\.io\/v1alpha1\/namespaces\/shop\/rollouts\/checkout$/,
  },
  stateful: async () => {
    const api = await FakeKubeApi.start({ token: CONFORMANCE_TOKEN });
    return {
      url: api.url,
      rollOut: (v) => Promise.resolve(api.put(RO_PATH, rollout(v))),
      snapshot: () => Promise.resolve(JSON.stringify(api.object(RO_PATH))),
      close: () => api.close(),
    };
  },
});

describe('argo-rollouts against a Kubernetes API that checks the PATCH', () => {
  let api: FakeKubeApi;
  beforeAll(async () => {
    api = await FakeKubeApi.start();
  });
  afterAll(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
    api.statusSubresource = true;
  });
  afterEach(() => api.delete(RO_PATH));

  it("aborts with the CLI's merge patch on the status subresource; the spec is untouched", async () => {
    api.put(RO_PATH, rollout('v1.8.0'));
    const before = api.object<ReturnType<typeof rollout>>(RO_PATH)!;
    const c = connector(api.url, api.token);
    const res = await c.apply(actionContext(rollbackDecision()));
    expect(res).toEqual({
      changed: true,
      detail: `aborted Rollout shop/checkout (phase Paused): PATCHed ${RO_PATH}/status with {"status":{"abort":true}}`,
    });
    expect(api.writes().map((r) => [r.method, r.path, r.contentType, JSON.stringify(r.body)])).toEqual([
      ['PATCH', `${RO_PATH}/status`, 'application/merge-patch+json', '{"status":{"abort":true}}'],
    ]);
    const after = api.object<ReturnType<typeof rollout>>(RO_PATH)!;
    expect(after.status).toEqual({ ...before.status, abort: true });
    expect(after.spec).toEqual(before.spec);

    expect(await c.apply(actionContext(rollbackDecision()))).toEqual({
      changed: false,
      detail: 'Rollout shop/checkout is already aborted (phase Paused)',
    });
    expect(api.writes()).toHaveLength(1);
  });

  it('falls back to the object when the CRD has no status subresource, as the Argo CLI does', async () => {
    api.statusSubresource = false;
    api.put(RO_PATH, rollout('v1.8.0'));
    const res = await connector(api.url, api.token).apply(actionContext(rollbackDecision()));
    expect(res.detail).toBe(
      `aborted Rollout shop/checkout (phase Paused): PATCHed ${RO_PATH} with {"status":{"abort":true}}`,
    );
    expect(api.writes().map((r) => [r.path, r.contentType])).toEqual([
      [`${RO_PATH}/status`, 'application/merge-patch+json'],
      [RO_PATH, 'application/merge-patch+json'],
    ]);
    expect(api.object<{ status: { abort?: boolean } }>(RO_PATH)!.status.abort).toBe(true);
  });

  it('with no update in progress: already rolled back when it runs the baseline, a permanent failure when the canary was promoted', async () => {
    api.put(RO_PATH, rollout('v1.7.3', { currentPodHash: 'hash-v1.7.3', phase: 'Healthy' }));
    const c = connector(api.url, api.token);
    expect(await c.apply(actionContext(rollbackDecision()))).toEqual({
      changed: false,
      detail: 'Rollout shop/checkout has no update in progress and runs the baseline v1.7.3: already rolled back',
    });
    api.put(RO_PATH, rollout('v1.8.0', { currentPodHash: 'hash-v1.8.0', stableRS: 'hash-v1.8.0', phase: 'Healthy' }));
    const err = (await c.apply(actionContext(rollbackDecision())).catch((e: unknown) => e)) as VigilError;
    expect(err.code).toBe('VIGIL_ERR_CONNECTOR_FAILED');
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/no update in progress .*version v1\.8\.0.*kubectl argo rollouts undo checkout/);
    expect(api.writes()).toHaveLength(0);
  });

  it('dry run reads and describes; health check sends a server-side dry-run patch that stores nothing', async () => {
    api.put(RO_PATH, rollout('v1.8.0'));
    const before = api.object(RO_PATH);
    const c = connector(api.url, api.token);
    expect(await c.apply(actionContext(rollbackDecision(), { dryRun: true }))).toEqual({
      changed: false,
      detail:
        'dry-run: would abort Rollout shop/checkout: merge patch {"status":{"abort":true}} (application/merge-patch+json) to its status subresource (phase Paused)',
    });
    const ctx = actionContext(rollbackDecision());
    await c.healthCheck!({ logger: ctx.logger, signal: ctx.signal });
    expect(api.requests.map((r) => [r.method, r.path, r.query.get('dryRun')])).toEqual([
      ['GET', RO_PATH, null],
      ['GET', RO_PATH, null],
      ['PATCH', `${RO_PATH}/status`, 'All'],
    ]);
    expect(api.object(RO_PATH)).toEqual(before);
  });
});
