/** KubeClient answers and failures beyond the conformance suite, against local HTTP servers. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeClient, jsonPointer } from '../../../../connectors/shared/kube-client.js';
import type { VigilError } from '../../../../src/errors.js';
import { writeKubeconfig } from '../../../unit/connectors/shared/kube-fake-api.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-kubeclient-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const call = () => ({ signal: new AbortController().signal, timeoutMs: 2_000 });

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function failure(p: Promise<unknown>): Promise<VigilError> {
  return (await p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e)) as VigilError;
}

describe('KubeClient', () => {
  it('sends the token and the exact content type, below the server\'s path prefix', async () => {
    const seen: { url?: string; auth?: string; type?: string; body: string }[] = [];
    const { server, url } = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        seen.push({ url: req.url, auth: req.headers.authorization, type: req.headers['content-type'], body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"kind":"X"}');
      });
    });
    const client = new KubeClient('test', { kubeconfig: writeKubeconfig(dir, `${url}/k8s/clusters/c-1`, 'tok-123') });
    expect(await client.patch('/apis/g/v1/namespaces/n/xs/a', 'application/merge-patch+json', { spec: { a: 1 } }, call())).toEqual({ kind: 'X' });
    expect(seen).toEqual([{ url: '/k8s/clusters/c-1/apis/g/v1/namespaces/n/xs/a', auth: 'Bearer tok-123', type: 'application/merge-patch+json', body: '{"spec":{"a":1}}' }]);
    server.close();
  });

  it('409 Conflict is retryable with the Status message; a 2xx that is not JSON is retryable; an oversized answer is refused', async () => {
    let mode = 'conflict';
    const { server, url } = await serve((_req, res) => {
      if (mode === 'conflict') res.writeHead(409).end(JSON.stringify({ kind: 'Status', message: 'Operation cannot be fulfilled: the object has been modified', code: 409 }));
      else if (mode === 'html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      else res.writeHead(200).end(Buffer.alloc(9 * 1024 * 1024, 32));
    });
    const client = new KubeClient('test', { kubeconfig: writeKubeconfig(dir, url, 't') });
    const conflict = await failure(client.get('/api/v1/namespaces/n/x', call()));
    expect([conflict.code, conflict.retryable, conflict.details.status]).toEqual(['VIGIL_ERR_CONNECTOR_HTTP_4XX', true, 409]);
    expect(conflict.message).toMatch(/HTTP 409 \(conflict, another writer\): Operation cannot be fulfilled/);
    mode = 'html';
    const html = await failure(client.get('/api/v1/namespaces/n/x', call()));
    expect([html.code, html.retryable]).toEqual(['VIGIL_ERR_CONNECTOR_FAILED', true]);
    mode = 'huge';
    const huge = await failure(client.get('/api/v1/namespaces/n/x', call()));
    expect(huge.message).toMatch(/exceeds 8388608 bytes/);
    server.close();
  });

  it('explains configuration problems without calling anything', async () => {
    const saved = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      const inCluster = await failure(new KubeClient('test', {}).check());
      expect(inCluster.message).toMatch(/not running in a cluster \(KUBERNETES_SERVICE_HOST is unset\): set options\.kubeconfig/);
    } finally {
      if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved;
    }
    const plain = join(dir, 'plain-http.yaml');
    writeFileSync(plain, 'apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: "http://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n');
    expect((await failure(new KubeClient('test', { kubeconfig: plain }).check())).message).toMatch(/uses plain http: set insecure-skip-tls-verify: true/);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'clusters: [');
    expect((await failure(new KubeClient('test', { kubeconfig: broken }).check())).message).toMatch(/cannot load kubeconfig .*broken\.yaml/);
  });

  it('escapes JSON pointer segments', () => {
    expect(jsonPointer('metadata', 'labels', 'app.kubernetes.io/version', 'a~b', 0)).toBe('/metadata/labels/app.kubernetes.io~1version/a~0b/0');
  });
});
