/**
 * A redis-server of a test's own (not the shared one of test/setup/global-redis.ts), to break on purpose: stopped
 * with SIGKILL (down: connections refused), frozen with SIGSTOP (TCP still accepts, nothing answers) and thawed with
 * SIGCONT, started again on the same port. No persistence. `stopAllRedis` (afterEach) kills every one still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';

const running = new Set<ChildProcess>();

export interface OwnRedis {
  url: string;
  port: number;
  /** SIGKILL: gone, connections refused. */
  kill(): Promise<void>;
  /** SIGSTOP: frozen; the kernel still accepts connections, Redis answers nothing. */
  freeze(): void;
  /** SIGCONT after `freeze`. */
  thaw(): void;
  /** A new redis-server on the same port (after `kill`); resolves once it answers PING. */
  restart(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** Whether a Redis on `host:port` answers PING within `timeoutMs`. */
export function answersPing(port: number, timeoutMs = 300, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

async function launch(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}`);
    if (await answersPing(port)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} never answered PING`);
}

export async function startRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child = await launch(port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    freeze: () => void child.kill('SIGSTOP'),
    thaw: () => void child.kill('SIGCONT'),
    async restart() {
      child = await launch(port);
    },
  };
}

/** SIGKILL to every redis-server started here that still runs (a frozen one too). */
export function stopAllRedis(): void {
  for (const c of running) c.kill('SIGKILL');
  running.clear();
}
