/** KubeClient answers and failures beyond the conformance suite, against local HTTP servers. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeClient, jsonPointer } from '../../../../connectors/shared/kube-client.js';
import type { VigilError } from '../../../../src/errors.js';
import { HttpPeer } from '../../../helpers/http-peer.js';
import { writeKubeconfig } from '../../../helpers/connectors/kube-fake-api.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-kubeclient-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const call = () => ({ signal: new AbortController().signal, timeoutMs: 2_000 });

async function failure(p: Promise<unknown>): Promise<VigilError> {
  return (await p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  )) as VigilError;
}

describe('KubeClient', () => {
  it("sends the token and the exact content type, below the server's path prefix", async () => {
    const server = await HttpPeer.start(() => ({
      status: 200,
      body: '{"kind":"X"}',
      headers: { 'content-type': 'application/json' },
    }));
    const client = new KubeClient('test', {
      kubeconfig: writeKubeconfig(dir, `${server.url}/k8s/clusters/c-1`, 'tok-123'),
    });
    expect(
      await client.patch('/apis/g/v1/namespaces/n/xs/a', 'application/merge-patch+json', { spec: { a: 1 } }, call()),
    ).toEqual({ kind: 'X' });
    const seen = server.requests.map((r) => ({
      url: r.path,
      auth: r.headers.authorization,
      type: r.headers['content-type'],
      body: r.text,
    }));
    expect(seen).toEqual([
      {
        url: '/k8s/clusters/c-1/apis/g/v1/namespaces/n/xs/a',
        auth: 'Bearer tok-123',
        type: 'application/merge-patch+json',
        body: '{"spec":{"a":1}}',
      },
    ]);
    await server.close();
  });

  it('409 Conflict is retryable with the Status message; a 2xx that is not JSON is retryable; an oversized answer is refused', async () => {
    const server = await HttpPeer.start();
    server.answer(
      409,
      JSON.stringify({
        kind: 'Status',
        message: 'Operation cannot be fulfilled: the object has been modified',
        code: 409,
      }),
    );
    const client = new KubeClient('test', { kubeconfig: writeKubeconfig(dir, server.url, 't') });
    const conflict = await failure(client.get('/api/v1/namespaces/n/x', call()));
    expect([conflict.code, conflict.retryable, conflict.details.status]).toEqual([
      'VIGIL_ERR_CONNECTOR_HTTP_4XX',
      true,
      409,
    ]);
    expect(conflict.message).toMatch(/HTTP 409 \(conflict, another writer\): Operation cannot be fulfilled/);
    server.answer(200, '<html>login</html>', { 'content-type': 'text/html' });
    const html = await failure(client.get('/api/v1/namespaces/n/x', call()));
    expect([html.code, html.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', true]);
    server.script(() => ({ status: 200, body: Buffer.alloc(9 * 1024 * 1024, 32) }));
    const huge = await failure(client.get('/api/v1/namespaces/n/x', call()));
    expect(huge.message).toMatch(/exceeds 8388608 bytes/);
    await server.close();
  });

  it('explains configuration problems without calling anything', async () => {
    const saved = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      const inCluster = await failure(new KubeClient('test', {}).check());
      expect(inCluster.message).toMatch(
        /not running in a cluster \(KUBERNETES_SERVICE_HOST is unset\): set options\.kubeconfig/,
      );
    } finally {
      if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved;
    }
    const plain = join(dir, 'plain-http.yaml');
    writeFileSync(
      plain,
      'apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: "http://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n',
    );
    expect((await failure(new KubeClient('test', { kubeconfig: plain }).check())).message).toMatch(
      /uses plain http: set insecure-skip-tls-verify: true/,
    );
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'clusters: [');
    expect((await failure(new KubeClient('test', { kubeconfig: broken }).check())).message).toMatch(
      /cannot load kubeconfig .*broken\.yaml/,
    );
  });

  it('escapes JSON pointer segments', () => {
    expect(jsonPointer('metadata', 'labels', 'app.kubernetes.io/version', 'a~b', 0)).toBe(
      '/metadata/labels/app.kubernetes.io~1version/a~0b/0',
    );
  });
});
