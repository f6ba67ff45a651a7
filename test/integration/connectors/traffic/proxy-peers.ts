/**
 * Real peers for the proxy connectors' tests (and the promotion plans', test/integration/promotion-peers.test.ts):
 * named HTTP backends (test HTTP peers, each answers its own name), free ports, the nginx/haproxy binaries (Debian
 * packages; `.ci/run` installs them when absent), a child-process wrapper that waits for readiness and shuts down
 * cleanly, and a real nginx and a real haproxy in front of two named backends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseWeight, runtimeCommand } from '../../../../connectors/traffic/haproxy-runtime.js';
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

export interface Nginx {
  dir: string;
  bin: string;
  conf: string;
  include: string;
  other: string;
  url: string;
  splitUrl: string;
  baseline: NamedBackend;
  canary: NamedBackend;
  process: PeerProcess;
  upstreamFile(): string;
  /** Old workers that exited so far: one per completed reload (worker_processes 1). */
  reloadsDone(): number;
  waitForReloads(n: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real nginx (Debian package) in a temp directory: a non-root-friendly configuration (pid, error_log and temp
 * paths inside it, `daemon off` as a child process, 127.0.0.1 on free ports) proxying to two named backends, through
 * `upstream checkout` (`url`, weight 1 each; with `canaryDown` the canary's server is `down`, a canary at 0%) and
 * through `split_clients` (`splitUrl`, 50%).
 */
export async function startNginx(opts: { canaryDown?: boolean } = {}): Promise<Nginx> {
  const bin = findBinary('nginx');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-nginx-'));
  const [baseline, canary, port, splitPort] = [
    await namedBackend('baseline'),
    await namedBackend('canary'),
    await freePort(),
    await freePort(),
  ];
  const include = join(dir, 'checkout-upstream.conf');
  const other = join(dir, 'other.conf');
  const conf = join(dir, 'nginx.conf');
  mkdirSync(join(dir, 'tmp'));
  const upstreamFile = () =>
    [
      '# managed by the deploy pipeline; Vigil rewrites it on rollback',
      'upstream checkout {',
      `    server 127.0.0.1:${baseline.port} weight=1 max_fails=0;  # baseline`,
      `    server 127.0.0.1:${canary.port} weight=1 max_fails=0${opts.canaryDown ? ' down' : ''};  # canary`,
      '}',
      `upstream checkout_stable { server 127.0.0.1:${baseline.port}; }`,
      `upstream checkout_canary { server 127.0.0.1:${canary.port}; }`,
      'split_clients "${request_id}" $checkout_pool {',
      '    50%   checkout_canary;',
      '    *     checkout_stable;',
      '}',
      '',
    ].join('\n');
  writeFileSync(include, upstreamFile());
  writeFileSync(other, "# other teams' settings\n");
  writeFileSync(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${join(dir, 'error.log')} notice;`,
      'events { worker_connections 64; }',
      'http {',
      '    access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${join(dir, 'tmp', t)};`),
      `    include ${include};`,
      `    include ${other};`,
      `    server { listen 127.0.0.1:${port}; location / { proxy_pass http://checkout; } }`,
      `    server { listen 127.0.0.1:${splitPort}; location / { proxy_pass http://$checkout_pool; } }`,
      '}',
      '',
    ].join('\n'),
  );
  const url = `http://127.0.0.1:${port}/`;
  const proc = await startPeer(bin, ['-c', conf, '-e', join(dir, 'error.log')], async () =>
    ['baseline', 'canary'].includes(await whoAnswers(url)),
  );
  const log = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const reloadsDone = () => (log().match(/worker process \d+ exited with code/g) ?? []).length;
  return {
    dir,
    bin,
    conf,
    include,
    other,
    url,
    splitUrl: `http://127.0.0.1:${splitPort}/`,
    baseline,
    canary,
    process: proc,
    upstreamFile,
    reloadsDone,
    async waitForReloads(n) {
      const deadline = Date.now() + 10_000;
      while (reloadsDone() < n) {
        if (Date.now() > deadline) throw new Error(`nginx did not finish ${n} reloads:\n${log()}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      await proc.stop();
      await Promise.all([baseline.close(), canary.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Haproxy {
  dir: string;
  socket: string;
  url: string;
  baseline: NamedBackend;
  canary: NamedBackend;
  process: PeerProcess;
  /** Runs one runtime API command (test side, independent of the connector). */
  cli(command: string): Promise<string>;
  weights(): Promise<{ baseline: number; canary: number }>;
  close(): Promise<void>;
}

/**
 * A real haproxy (Debian package) in a temp directory with a `level admin` stats socket (`socket`) and a `level user`
 * one (`user.sock`), load-balancing `backend checkout` (servers `baseline` and `canary`, weight 100 each) on `url`.
 */
export async function startHaproxy(opts: { balance?: string } = {}): Promise<Haproxy> {
  const bin = findBinary('haproxy');
  const dir = mkdtempSync(join(tmpdir(), 'vigil-haproxy-'));
  const socket = join(dir, 'admin.sock');
  const [baseline, canary, port] = [await namedBackend('baseline'), await namedBackend('canary'), await freePort()];
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    [
      'global',
      `  stats socket ${socket} mode 600 level admin`,
      `  stats socket ${join(dir, 'user.sock')} mode 600 level user`,
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 10s',
      '  timeout server 10s',
      'frontend fe',
      `  bind 127.0.0.1:${port}`,
      '  default_backend checkout',
      'backend checkout',
      `  balance ${opts.balance ?? 'roundrobin'}`,
      `  server baseline 127.0.0.1:${baseline.port} weight 100`,
      `  server canary 127.0.0.1:${canary.port} weight 100`,
      '',
    ].join('\n'),
  );
  const cli = (command: string) =>
    runtimeCommand('test', { path: socket }, command, { signal: new AbortController().signal, timeoutMs: 5_000 });
  const proc = await startPeer(
    bin,
    ['-f', join(dir, 'haproxy.cfg'), '-db'],
    async () => (await cli('show cli level')).trim() === 'admin',
  );
  const weight = async (s: string) => parseWeight(await cli(`get weight checkout/${s}`))!.current;
  return {
    dir,
    socket,
    url: `http://127.0.0.1:${port}/`,
    baseline,
    canary,
    process: proc,
    cli,
    weights: async () => ({ baseline: await weight('baseline'), canary: await weight('canary') }),
    async close() {
      await proc.stop();
      await Promise.all([baseline.close(), canary.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
