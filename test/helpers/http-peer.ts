/** A real local HTTP server for tests: records every request (method, url, headers, raw body) and answers
 *  with a status chosen by the test. Optionally forwards each request to a target (a tee). */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }

export interface HttpPeer {
  url: string;
  requests: RecordedRequest[];
  status: number;
  close(): Promise<void>;
}

export async function startHttpPeer(opts: { forwardTo?: string } = {}): Promise<HttpPeer> {
  const peer = { requests: [] as RecordedRequest[], status: 200 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      peer.requests.push(rec);
      if (!opts.forwardTo) {
        res.writeHead(peer.status, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      const headers: Record<string, string> = {};
      for (const k of ['content-type', 'content-encoding']) {
        const v = req.headers[k];
        if (typeof v === 'string') headers[k] = v;
      }
      fetch(new URL(rec.url, opts.forwardTo), { method: rec.method, headers, body: rec.body }).then(
        async (r) => res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await r.arrayBuffer())),
        () => res.writeHead(502).end(),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return Object.assign(peer, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  });
}
