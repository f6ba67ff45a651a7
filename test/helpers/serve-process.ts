/**
 * `vigil serve` as a real process (the CLI from the TypeScript sources through tsx, or the compiled one in dist/
 * when asked), for tests that kill it (SIGKILL) and start it again, and OTLP/HTTP JSON looks to send it. Every
 * process started is killed by `killAll` (call it in afterEach).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');
const children: ChildProcess[] = [];

export interface Serving {
  child: ChildProcess;
  otlpHttp: string;
  api: string;
  output(): string;
  /** The JSON log lines so far. */
  lines(): Record<string, unknown>[];
  exited: Promise<number | null>;
}

/**
 * A config file for `serve` in a fresh temporary directory: every port ephemeral on 127.0.0.1, the API open on
 * purpose (no token), the audit log beside it, then `rest` (YAML: more `server:` keys go in `server`, indented).
 */
export function serveConfig(name: string, rest: string, server = ''): { dir: string; cfg: string } {
  const dir = mkdtempSync(join(tmpdir(), `vigil-${name}-`));
  const cfg = join(dir, 'vigil.yaml');
  writeFileSync(
    cfg,
    `server:
  otlpHttp: { host: 127.0.0.1, port: 0 }
  otlpGrpc: { host: 127.0.0.1, port: 0 }
  api: { host: 127.0.0.1, port: 0 }
  auth: { open: true }
${server}audit: { path: "${join(dir, 'audit.jsonl')}" }
${rest}`,
  );
  return { dir, cfg };
}

/** Newest modification time (ms) of the files under `dir`. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) newest = Math.max(newest, statSync(join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/**
 * The compiled CLI (`npm run build`: dist/src/cli.js, what bin/vigil.js runs) when it exists and is not older than
 * any file under src/, connectors/ or detectors/; otherwise undefined (tsx runs the sources).
 */
export function builtCli(): string | undefined {
  const cli = join(root, 'dist/src/cli.js');
  if (!existsSync(cli)) return undefined;
  const built = statSync(cli).mtimeMs;
  const sources = Math.max(...['src', 'connectors', 'detectors'].map((d) => newestMtime(join(root, d))));
  return sources > built ? undefined : cli;
}

export interface ServeOptions {
  /** Run the compiled CLI (bin/vigil.js; see `builtCli`) instead of the sources through tsx. */
  built?: boolean;
}

/** `vigil serve --config <file>`; resolves once it logged 'vigil is listening'. */
export async function serve(configFile: string, opts: ServeOptions = {}): Promise<Serving> {
  const script = `const { main } = await import(${JSON.stringify(join(root, 'src/cli.ts'))}); process.exitCode = await main(['node', 'vigil', 'serve', '--config', ${JSON.stringify(configFile)}]);`;
  const argv = opts.built
    ? [join(root, 'bin/vigil.js'), 'serve', '--config', configFile]
    : ['--import', 'tsx', '--input-type=module', '-e', script];
  const child = spawn(process.execPath, argv, {
    cwd: root,
    env: { ...process.env, VIGIL_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitUntil(
    () => out.includes('vigil is listening'),
    30_000,
    () => out,
  );
  const line = out.split('\n').find((l) => l.includes('vigil is listening'))!;
  const { otlpHttp, api } = JSON.parse(line) as { otlpHttp: string; api: string };
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { child, otlpHttp, api, output: () => out, lines, exited };
}

/** Kills (SIGKILL) every process `serve` started that is still running. */
export function killAll(): void {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

export async function waitUntil(cond: () => boolean, timeoutMs: number, why: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out\n${why()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const T0_MS = 1_767_225_600_000;
let spanCounter = 0;

/**
 * Look `n` (10 s of event time from `t0Ms`, default T0_MS) of `service` as one OTLP/HTTP JSON request: 200 baseline requests
 * (version 1, every 100th fails) and 200 canary requests of `canaryVersion` (every `canaryErrorEvery`-th fails).
 */
export function look(
  n: number,
  opts: { service?: string; canaryVersion?: string; canaryErrorEvery?: number; t0Ms?: number } = {},
): string {
  const service = opts.service ?? 'cart';
  const resource = (version: string, cohort: string, errorEvery: number, offsetMs: number) => ({
    resource: {
      attributes: [
        { key: 'service.name', value: { stringValue: service } },
        { key: 'service.version', value: { stringValue: version } },
        { key: 'vigil.cohort', value: { stringValue: cohort } },
      ],
    },
    scopeSpans: [
      {
        spans: Array.from({ length: 200 }, (_, i) => {
          const endMs = (opts.t0Ms ?? T0_MS) + n * 10_000 + i * 50 + offsetMs;
          const id = ++spanCounter;
          return {
            traceId: id.toString(16).padStart(32, '0'),
            spanId: id.toString(16).padStart(16, '0'),
            name: `GET /${service}`,
            kind: 2,
            startTimeUnixNano: `${endMs - 30}000000`,
            endTimeUnixNano: `${endMs}000000`,
            ...(i % errorEvery === 0 ? { status: { code: 2 } } : {}),
          };
        }),
      },
    ],
  });
  return JSON.stringify({
    resourceSpans: [
      resource('1', 'baseline', 100, 0),
      resource(opts.canaryVersion ?? '2', 'canary', opts.canaryErrorEvery ?? 5, 1),
    ],
  });
}

/** POSTs one OTLP/HTTP JSON request; returns the status. */
export async function postTraces(otlpHttp: string, body: string): Promise<number> {
  const res = await fetch(`${otlpHttp}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}
