/**
 * The one recording HTTP peer of the tests: a real server on 127.0.0.1:<random port> that records every
 * request (method, path, headers, the raw body) and answers what the test scripts: a fixed status and
 * body (`answer`), never (`hang`), or a responder that sees each request (vendor and API stand-ins build on
 * it). Hanging answers are cut by `reset` and `close`.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The exact bytes received: signatures are verified over these, never over re-serialised JSON. */
  rawBody: Buffer;
  /** The body as UTF-8. */
  text: string;
}

/** An answer (content type `text/plain` unless `headers` says otherwise), or none at all: 'hang'. */
export type Reply = { status: number; body?: string | Uint8Array; headers?: Record<string, string> } | 'hang';

export type Responder = (req: RecordedRequest) => Reply | Promise<Reply>;

const OK: Responder = () => ({ status: 200, body: 'ok' });

export class HttpPeer {
  readonly requests: RecordedRequest[] = [];
  private respond: Responder;
  private waiters: { n: number; resolve: () => void }[] = [];
  private readonly hanging = new Set<ServerResponse>();
  private readonly server: Server;
  private base = '';
  private listening = 0;

  private constructor(private readonly initial: Responder) {
    this.respond = initial;
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void this.handle(req.method ?? '', req.url ?? '', req.headers, Buffer.concat(chunks), res));
    });
  }

  /** Starts a peer that answers with `respond` (default: 200 "ok") until told otherwise. */
  static async start(respond: Responder = OK): Promise<HttpPeer> {
    const peer = new HttpPeer(respond);
    await new Promise<void>((resolve) => peer.server.listen(0, '127.0.0.1', resolve));
    peer.listening = (peer.server.address() as AddressInfo).port;
    peer.base = `http://127.0.0.1:${peer.listening}`;
    return peer;
  }

  /** `http://127.0.0.1:<port>` */
  get url(): string {
    return this.base;
  }

  /** The port it listens on (or listened on, once closed). */
  get port(): number {
    return this.listening;
  }

  private async handle(
    method: string,
    path: string,
    headers: IncomingHttpHeaders,
    rawBody: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    const rec: RecordedRequest = { method, path, headers, rawBody, text: rawBody.toString('utf8') };
    this.requests.push(rec);
    this.waiters = this.waiters.filter((w) => {
      if (this.requests.length >= w.n) w.resolve();
      return this.requests.length < w.n;
    });
    let reply: Reply;
    try {
      reply = await this.respond(rec);
    } catch (e) {
      reply = { status: 500, body: `the test peer's responder failed: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (reply === 'hang') {
      this.hanging.add(res);
      return;
    }
    res.writeHead(reply.status, { 'content-type': 'text/plain', ...(reply.headers ?? {}) });
    res.end(reply.body ?? '');
  }

  /** Answer every following request with `respond`. */
  script(respond: Responder): void {
    this.respond = respond;
  }

  /** Answer every following request with this status (and body, headers). */
  answer(status: number, body = '', headers: Record<string, string> = {}): void {
    this.respond = () => ({ status, body, headers });
  }

  /** Never answer following requests (timeouts, aborts in flight). */
  hang(): void {
    this.respond = () => 'hang';
  }

  /** Forget recorded requests, cut hanging answers and answer as at the start again. */
  reset(): void {
    this.requests.length = 0;
    this.respond = this.initial;
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

/** A responder that forwards each request to `target` (a tee): its Content-Type and Content-Encoding go along. */
export function forwardTo(target: string): Responder {
  return async (rec) => {
    const headers: Record<string, string> = {};
    for (const k of ['content-type', 'content-encoding']) {
      const v = rec.headers[k];
      if (typeof v === 'string') headers[k] = v;
    }
    try {
      const r = await fetch(new URL(rec.path, target), { method: rec.method, headers, body: rec.rawBody });
      return {
        status: r.status,
        body: Buffer.from(await r.arrayBuffer()),
        headers: { 'content-type': r.headers.get('content-type') ?? 'application/json' },
      };
    } catch {
      return { status: 502 };
    }
  };
}

/** A URL on a port that nothing listens on (bound, then released), for network-failure tests. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hook`;
}
