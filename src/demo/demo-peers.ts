/**
 * The demo's stand-ins for the outside world, on 127.0.0.1: a traffic router that accepts Vigil's signed
 * rollback webhook (it verifies the signature over the raw body, then SETS all weight to the baseline) and
 * a chat endpoint that accepts Slack incoming-webhook messages. Both keep what they received.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../connectors/shared/signing.js';

export interface DemoPeers {
  url: string;
  router: { weights: { baseline: number; canary: number }; events: string[]; rejected: string[] };
  chat: { messages: { text?: string; blocks?: unknown[] }[] };
  close(): Promise<void>;
}

export async function startDemoPeers(secret: string): Promise<DemoPeers> {
  const state: Omit<DemoPeers, 'url' | 'close'> = {
    router: { weights: { baseline: 90, canary: 10 }, events: [], rejected: [] },
    chat: { messages: [] },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      if (req.method === 'POST' && req.url === '/router/rollback') {
        const check = verifySignature(
          secret,
          req.headers['x-vigil-timestamp'] as string | undefined,
          raw,
          req.headers['x-vigil-signature'] as string | undefined,
          { nowSec: Math.floor(Date.now() / 1000) },
        );
        if (!check.ok) {
          state.router.rejected.push(check.reason);
          res.writeHead(401).end(check.reason);
          return;
        }
        const event = JSON.parse(raw.toString('utf8')) as { id: string };
        if (!state.router.events.includes(event.id)) state.router.events.push(event.id);
        state.router.weights = { baseline: 100, canary: 0 }; // set, not toggle: idempotent
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        return;
      }
      if (req.method === 'POST' && req.url === '/chat') {
        state.chat.messages.push(JSON.parse(raw.toString('utf8')) as { text?: string });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return;
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ...state,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
