import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The exact bytes received: signatures are verified over these, never over re-serialised JSON. */
  rawBody: Buffer;
  text: string;
}

export type Reply = { status: number; body?: string; headers?: Record<string, string> } | 'hang';

/**
 * A real HTTP server on 127.0.0.1:<random port> that records every request and answers what the test
 * chooses (a status and body, or never: 'hang'). Hanging responses are cut when the server closes.
 */
export class HttpReceiver {
  readonly requests: RecordedRequest[] = [];
  private reply: (req: RecordedRequest) => Reply = () => ({ status: 200, body: 'ok' });
  private waiters: { n: number; resolve: () => void }[] = [];
  private readonly hanging = new Set<ServerResponse>();

  private readonly server: Server;
  private base = '';

  private constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req.method ?? '', req.url ?? '', req.headers, Buffer.concat(chunks), res));
    });
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return this.base;
  }

  static async start(): Promise<HttpReceiver> {
    const r = new HttpReceiver();
    await new Promise<void>((resolve) => r.server.listen(0, '127.0.0.1', resolve));
    r.base = `http://127.0.0.1:${(r.server.address() as AddressInfo).port}`;
    return r;
  }

  private handle(method: string, path: string, headers: IncomingHttpHeaders, rawBody: Buffer, res: ServerResponse): void {
    const rec: RecordedRequest = { method, path, headers, rawBody, text: rawBody.toString('utf8') };
    this.requests.push(rec);
    this.waiters = this.waiters.filter((w) => {
      if (this.requests.length >= w.n) w.resolve();
      return this.requests.length < w.n;
    });
    const reply = this.reply(rec);
    if (reply === 'hang') {
      this.hanging.add(res);
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'text/plain', ...(reply.headers ?? {}) });
    res.end(reply.body ?? '');
  }

  /** Answer every following request with this status (and body). */
  answer(status: number, body = '', headers: Record<string, string> = {}): void {
    this.reply = () => ({ status, body, headers });
  }

  /** Never answer following requests (timeouts, aborts in flight). */
  hang(): void {
    this.reply = () => 'hang';
  }

  /** Forget recorded requests and answer 200 "ok" again. */
  reset(): void {
    this.requests.length = 0;
    this.reply = () => ({ status: 200, body: 'ok' });
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
  }

  /** Resolves once `n` requests in total have arrived. */
  waitForRequests(n: number): Promise<void> {
    if (this.requests.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((e) => (e ? reject(e) : resolve())));
  }
}

/** A URL on a port that nothing listens on (bound, then released), for network-failure tests. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hook`;
}
