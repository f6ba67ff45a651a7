/**
 * Base of the local stand-ins for flag vendors' admin APIs: the test HTTP peer (test/helpers/http-peer.ts)
 * records every request and routes it to the vendor's handler. A handler answers only the requests
 * the vendor documents (method, path, query, headers, body); anything else is recorded as a violation and
 * answered 4xx, so a test that ends with `violations` empty proves the connector sent exactly those.
 */
import { HttpPeer, type RecordedRequest, type Reply } from '../../../helpers/http-peer.js';

export interface FakeReply {
  status: number;
  json?: unknown;
  text?: string;
}

export type Handler = (req: RecordedRequest) => FakeReply;

export class FakeVendor {
  readonly violations: string[] = [];
  /** Answer the next write (non-GET) with this instead of handling it (5xx, 403...). */
  failNextWrite: FakeReply | undefined;

  private constructor(private readonly peer: HttpPeer) {}

  get url(): string {
    return this.peer.url;
  }

  /** Every request received, as sent. */
  get requests(): RecordedRequest[] {
    return this.peer.requests;
  }

  static async start(handler: (fake: FakeVendor, req: RecordedRequest) => FakeReply): Promise<FakeVendor> {
    const ref: { fake?: FakeVendor } = {};
    const peer = await HttpPeer.start((rec): Reply => {
      const f = ref.fake!;
      let reply: FakeReply;
      if (rec.method !== 'GET' && f.failNextWrite) {
        reply = f.failNextWrite;
        f.failNextWrite = undefined;
      } else {
        reply = handler(f, rec);
      }
      const body = reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? '');
      const type = reply.json !== undefined ? 'application/json; charset=utf-8' : 'text/plain';
      return { status: reply.status, body, headers: { 'content-type': type } };
    });
    return (ref.fake = new FakeVendor(peer));
  }

  /** Records a protocol violation and returns the answer a strict vendor gives (400 by default). */
  reject(req: RecordedRequest, why: string, status = 400): FakeReply {
    this.violations.push(`${req.method} ${req.path}: ${why}`);
    return { status, json: { message: why } };
  }

  /** Writes received (every non-GET request that reached the handler). */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET');
  }

  reset(): void {
    this.peer.reset();
    this.violations.length = 0;
    this.failNextWrite = undefined;
  }

  close(): Promise<void> {
    return this.peer.close();
  }
}

/** Parses a JSON body; undefined when it is not JSON. */
export function jsonBody(req: RecordedRequest): unknown {
  try {
    return JSON.parse(req.text) as unknown;
  } catch {
    return undefined;
  }
}
