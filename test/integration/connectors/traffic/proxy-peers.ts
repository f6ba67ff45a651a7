/**
 * Real peers for the proxy connectors' tests: named HTTP backends (test HTTP peers, each answers its own name),
 * free ports, the nginx/haproxy binaries (Debian packages; `.ci/run` installs them when absent), and a
 * child-process wrapper that waits for readiness and shuts down cleanly.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { HttpPeer } from '../../../helpers/http-peer.js';

export interface NamedBackend {
  name: string;
  port: number;
  /** Requests it answered. */
  readonly hits: number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that answers every request with its name. */
export async function namedBackend(name: string): Promise<NamedBackend> {
  const peer = await HttpPeer.start(() => ({ status: 200, body: name, headers: { 'content-type': 'text/plain' } }));
  return {
    name,
    port: peer.port,
    get hits() {
      return peer.requests.length;
    },
    close: () => peer.close(),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createNetServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** The absolute path of a binary on PATH or in /usr/sbin (Debian puts nginx and haproxy there). */
export function findBinary(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const d of dirs.filter(Boolean)) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  throw new Error(
    `${name} is not installed: the real-peer tests need it (Debian: apt-get install ${name}; .ci/run does this)`,
  );
}

/** GETs `url` on a fresh connection and returns the body (which backend answered). */
export async function whoAnswers(url: string): Promise<string> {
  const res = await fetch(url, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5_000) });
  return res.text();
}

/** Counts answers per body over `n` sequential requests. */
export async function tally(url: string, n: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await whoAnswers(url);
    out[who] = (out[who] ?? 0) + 1;
  }
  return out;
}

export interface PeerProcess {
  child: ChildProcess;
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  /** SIGTERM (then SIGKILL after 5 s) and wait for the exit. */
  stop(): Promise<void>;
}

/** Starts a foreground daemon and resolves once `ready()` holds (polled), or rejects with its output. */
export async function startPeer(
  bin: string,
  args: string[],
  ready: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<PeerProcess> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const peer: PeerProcess = {
    child,
    output: () => out,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(killer);
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${bin} exited during start-up:\n${out}`);
    if (await ready().catch(() => false)) return peer;
    await new Promise((r) => setTimeout(r, 50));
  }
  await peer.stop();
  throw new Error(`${bin} was not ready within ${timeoutMs} ms:\n${out}`);
}

/**
 * Whether `hits` canary answers out of `n` requests fit a canary share of `percent`: within 4 standard deviations
 * of the binomial mean (plus one for rounding), exact at 0% and 100%.
 */
export function fitsShare(hits: number, n: number, percent: number): boolean {
  const p = percent / 100;
  return Math.abs(hits - n * p) <= 4 * Math.sqrt(n * p * (1 - p)) + (p === 0 || p === 1 ? 0 : 1);
}
