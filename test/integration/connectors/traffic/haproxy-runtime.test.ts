/** The runtime API client against local sockets that misbehave the way a sick HAProxy can. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runtimeCommand } from '../../../../connectors/traffic/haproxy-runtime.js';
import type { VigilError } from '../../../../src/errors.js';
import { freePort } from './proxy-peers.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-hapsock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function socketServer(file: string, onConnection: (s: Socket) => void): Promise<Server> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(join(dir, file), resolve));
  return server;
}

const never = new AbortController().signal;

describe('runtimeCommand', () => {
  it('returns everything until HAProxy closes the connection, and sends one line', async () => {
    const received: string[] = [];
    const server = await socketServer('ok.sock', (s) =>
      s.on('data', (d) => {
        received.push(d.toString());
        s.end('12 (initial 100)\n\n');
      }),
    );
    expect(
      await runtimeCommand('haproxy', { path: join(dir, 'ok.sock') }, 'get weight be/srv', {
        signal: never,
        timeoutMs: 2_000,
      }),
    ).toBe('12 (initial 100)\n\n');
    expect(received).toEqual(['get weight be/srv\n']);
    server.close();
  });

  it('a silent socket times out (retryable, TimeoutError cause); an abort in flight is ABORTED', async () => {
    const held: Socket[] = [];
    const server = await socketServer('mute.sock', (s) => held.push(s));
    const err = (await runtimeCommand('haproxy', { path: join(dir, 'mute.sock') }, 'show cli level', {
      signal: never,
      timeoutMs: 200,
    }).catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable, (err.cause as Error).name]).toEqual([
      'VIGIL_ERR_CONNECTOR_TIMEOUT',
      true,
      'TimeoutError',
    ]);
    const ac = new AbortController();
    const pending = runtimeCommand('haproxy', { path: join(dir, 'mute.sock') }, 'show cli level', {
      signal: ac.signal,
      timeoutMs: 30_000,
    });
    setTimeout(() => ac.abort(new Error('shutting down')), 50);
    const aborted = (await pending.catch((e: unknown) => e)) as VigilError;
    expect([aborted.code, aborted.retryable, (aborted.cause as Error).message]).toEqual([
      'VIGIL_ERR_CONNECTOR_ABORTED',
      true,
      'shutting down',
    ]);
    for (const s of held) s.destroy();
    server.close();
  });

  it('a refused TCP address is a retryable network error; an already aborted signal sends nothing', async () => {
    const port = await freePort();
    const err = (await runtimeCommand('haproxy', { host: '127.0.0.1', port }, 'show cli level', {
      signal: never,
      timeoutMs: 2_000,
    }).catch((e: unknown) => e)) as VigilError;
    expect([err.code, err.retryable, (err.cause as NodeJS.ErrnoException).code]).toEqual([
      'VIGIL_ERR_CONNECTOR_NETWORK',
      true,
      'ECONNREFUSED',
    ]);
    const ac = new AbortController();
    ac.abort(new Error('cancelled'));
    let connections = 0;
    const server = await socketServer('count.sock', (s) => {
      connections++;
      s.end();
    });
    const early = (await runtimeCommand('haproxy', { path: join(dir, 'count.sock') }, 'show cli level', {
      signal: ac.signal,
      timeoutMs: 2_000,
    }).catch((e: unknown) => e)) as VigilError;
    expect(early.code).toBe('VIGIL_ERR_CONNECTOR_ABORTED');
    expect(connections).toBe(0);
    server.close();
  });
});
