/**
 * Starts a REAL unleash-server (the npm package, 7.5.1) for tests: a fresh PostgreSQL database
 * `vigil_unleash_<random>` on the local server (VIGIL_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres),
 * Unleash in a child process (its module graph and timers stay out of the test worker) on a free port,
 * with an admin API token and a backend (SDK) token configured through its documented
 * `authentication.initApiTokens` option.
 * Outbound calls (version check, telemetry) are off. `close()` stops the process and drops the database.
 * Startup (migrations included) takes about 5 s on this machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';

export interface UnleashServer {
  url: string;
  adminToken: string;
  /** A backend (SDK) token for project "default", environment "production": what an SDK would see. */
  backendToken: string;
  close(): Promise<void>;
}

interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}
type PgClientCtor = new (cfg: { connectionString: string }) => PgClient;

const PG_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** unleash-server's own PostgreSQL driver (the `pg` package it depends on). */
function pgClient(): PgClient {
  const require = createRequire(import.meta.resolve('unleash-server'));
  const { Client } = require('pg') as { Client: PgClientCtor };
  return new Client({ connectionString: PG_URL });
}

/** Whether a PostgreSQL server accepts TCP connections where VIGIL_TEST_PG_URL points. */
export async function postgresReachable(): Promise<boolean> {
  const u = new URL(PG_URL);
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
    s.connect(Number(u.port || 5432), u.hostname);
  });
}

async function admin(sql: string): Promise<void> {
  const c = pgClient();
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** The child: starts Unleash with the options in VIGIL_UNLEASH_OPTIONS and prints the port it listens on. */
const CHILD = `
const { start } = await import(process.env.VIGIL_UNLEASH_ENTRY);
const u = await start(JSON.parse(process.env.VIGIL_UNLEASH_OPTIONS));
process.stdout.write('VIGIL_UNLEASH_PORT=' + u.server.address().port + '\\n');
`;

function waitForPort(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(
      () => reject(new Error(`unleash-server did not start within ${timeoutMs} ms: ${err.slice(-2000)}`)),
      timeoutMs,
    );
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /VIGIL_UNLEASH_PORT=(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`unleash-server exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}

async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok && ((await res.json()) as { health?: string }).health === 'GOOD') return;
    } catch {
      // not up yet
    }
    if (Date.now() > until) throw new Error(`unleash-server at ${url} did not report health GOOD`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startUnleash(
  opts: { startupTimeoutMs?: number; adminToken?: string } = {},
): Promise<UnleashServer> {
  const database = `vigil_unleash_${randomBytes(6).toString('hex')}`;
  const adminToken = opts.adminToken ?? `*:*.vigil-test-${randomBytes(12).toString('hex')}`;
  const backendToken = `default:production.vigil-test-${randomBytes(12).toString('hex')}`;
  const pg = new URL(PG_URL);
  await admin(`CREATE DATABASE ${database}`);
  const options = {
    db: {
      host: pg.hostname,
      port: Number(pg.port || 5432),
      user: decodeURIComponent(pg.username) || 'postgres',
      password: decodeURIComponent(pg.password),
      database,
      ssl: false,
    },
    server: { host: '127.0.0.1', port: 0, gracefulShutdownEnable: false },
    logLevel: 'error',
    versionCheck: { enable: false },
    authentication: {
      initApiTokens: [
        { secret: adminToken, type: 'admin', tokenName: 'vigil-test', projects: ['*'], environment: '*' },
        {
          secret: backendToken,
          type: 'backend',
          tokenName: 'vigil-test-sdk',
          projects: ['default'],
          environment: 'production',
        },
      ],
    },
  };
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: {
      PATH: process.env.PATH ?? '',
      TZ: 'UTC',
      NODE_ENV: 'production',
      CHECK_VERSION: 'false',
      SEND_TELEMETRY: 'false',
      VIGIL_UNLEASH_ENTRY: import.meta.resolve('unleash-server'),
      VIGIL_UNLEASH_OPTIONS: JSON.stringify(options),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      await exited;
    }
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  };
  try {
    const port = await waitForPort(child, opts.startupTimeoutMs ?? 45_000);
    const url = `http://127.0.0.1:${port}`;
    await waitHealthy(url, 10_000);
    return { url, adminToken, backendToken, close };
  } catch (err) {
    await close();
    throw err;
  }
}
