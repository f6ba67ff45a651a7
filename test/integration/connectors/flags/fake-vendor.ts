/**
 * Base of the local stand-ins for flag vendors' admin APIs: a real HTTP server on 127.0.0.1:<random>
 * that records every request and routes it to the vendor's handler. A handler answers only the requests
 * the vendor documents (method, path, query, headers, body); anything else is recorded as a violation and
 * answered 4xx, so a test that ends with `violations` empty proves the connector sent exactly those.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FakeReply {
  status: number;
  json?: unknown;
  text?: string;
}

export type Handler = (req: FakeRequest) => FakeReply;

export class FakeVendor {
  readonly requests: FakeRequest[] = [];
  readonly violations: string[] = [];
  /** Answer the next write (non-GET) with this instead of handling it (5xx, 403...). */
  failNextWrite: FakeReply | undefined;
  private base = '';

  private constructor(private readonly server: Server) {}

  get url(): string {
    return this.base;
  }

  static async start(handler: (fake: FakeVendor, req: FakeRequest) => FakeReply): Promise<FakeVendor> {
    const ref: { fake?: FakeVendor } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec: FakeRequest = {
          method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'),
        };
        const f = ref.fake!;
        f.requests.push(rec);
        let reply: FakeReply;
        if (rec.method !== 'GET' && f.failNextWrite) {
          reply = f.failNextWrite;
          f.failNextWrite = undefined;
        } else {
          reply = handler(f, rec);
        }
        const body = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? '');
        const type = reply.json !== undefined ? 'application/json; charset=utf-8' : 'text/plain';
        res.writeHead(reply.status, { 'content-type': type }).end(body);
      });
    });
    const fake = ref.fake = new FakeVendor(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  /** Records a protocol violation and returns the answer a strict vendor gives (400 by default). */
  reject(req: FakeRequest, why: string, status = 400): FakeReply {
    this.violations.push(`${req.method} ${req.path}: ${why}`);
    return { status, json: { message: why } };
  }

  /** Writes received (every non-GET request that reached the handler). */
  writes(): FakeRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  reset(): void {
    this.requests.length = 0;
    this.violations.length = 0;
    this.failNextWrite = undefined;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve, reject) => this.server.close((e) => (e ? reject(e) : resolve())));
  }
}

/** Parses a JSON body; undefined when it is not JSON. */
export function jsonBody(req: FakeRequest): unknown {
  try {
    return JSON.parse(req.body) as unknown;
  } catch {
    return undefined;
  }
}
