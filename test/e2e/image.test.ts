/**
 * The container image, without a Docker engine: the Dockerfile's stages run as written in a temporary
 * directory (test/helpers/dockerfile-run.ts: `npm ci --ignore-scripts`, the TypeScript build, `npm prune
 * --omit=dev`, the runtime stage's COPYs), driven by the Dockerfile itself so the test cannot drift from
 * it (an instruction the runner does not understand fails the test). Then the runtime stage's tree, which
 * holds no devDependency, runs the image's ENTRYPOINT + CMD: `serve` answers /healthz and the Dockerfile's
 * HEALTHCHECK, accepts OTLP from the real OpenTelemetry JS exporters (HTTP protobuf, HTTP JSON, gRPC),
 * decodes it in the compiled worker threads, counts it in /metrics, and exits 0 on SIGTERM. The other
 * subcommands (`--help`, `validate`, `demo`) run from that tree too.
 *
 * Slow (npm ci + tsc + prune: about a minute on 2 busy cores, npm ci from the local npm cache being most
 * of it): long timeouts; the step timings are printed. VIGIL_IMAGE_TEST_KEEP=1 keeps the temporary
 * directory for a look afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { parseDockerDuration } from '../helpers/dockerfile.js';
import { buildDockerfile, hostPath, imageProcess, type BuiltImage } from '../helpers/dockerfile-run.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_TIMEOUT = 300_000;
const DEFAULTS = configSchema.parse({});

let work = '';
let image: BuiltImage;
let buildMs = 0;
const children: ChildProcess[] = [];
const timings: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'vigil-image-'));
  const t0 = performance.now();
  image = await buildDockerfile({ dockerfile: join(REPO, 'Dockerfile'), context: REPO, workDir: work });
  buildMs = performance.now() - t0;
}, BUILD_TIMEOUT);

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (image !== undefined) {
    console.log(
      `[image] build ${(buildMs / 1000).toFixed(1)} s:\n${image.steps.map((s) => `  ${s.stage}: ${s.instruction}  ${(s.ms / 1000).toFixed(1)} s`).join('\n')}\n${timings.map((t) => `  ${t}`).join('\n')}`,
    );
  }
  if (process.env.VIGIL_IMAGE_TEST_KEEP) console.log(`[image] kept ${work}`);
  else if (work !== '') rmSync(work, { recursive: true, force: true });
});

/** The image's /app: where its ENTRYPOINT script lives (/app/bin/vigil.js → /app). */
function appDir(): string {
  const entry = image.image.entrypoint;
  if (entry === undefined || !('exec' in entry) || entry.exec[0] !== 'node' || entry.exec[1] === undefined)
    throw new Error(`unexpected ENTRYPOINT ${JSON.stringify(entry)}`);
  return hostPath(image.image, posix.dirname(posix.dirname(entry.exec[1])));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  ms: number;
}

/** Runs a command to its end (killed after `timeoutMs`). */
function runToEnd(argv: string[], opts: { cwd: string; env: Record<string, string>; timeoutMs: number }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, ms: performance.now() - t0 });
    });
  });
}

/** `n` SERVER spans of one deployment (every 10th fails), ended now, as the SDK hands them to an exporter. */
function spans(service: string, version: string, cohort: 'baseline' | 'canary', n: number): ReadableSpan[] {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.version': version, 'vigil.cohort': cohort }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('vigil-image-test');
  for (let i = 0; i < n; i++) {
    const span = tracer.startSpan('GET /cart', {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET',
        'http.route': '/cart',
        'http.response.status_code': i % 10 === 0 ? 500 : 200,
      },
    });
    if (i % 10 === 0) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }
  return memory.getFinishedSpans();
}

async function exportWith(exporter: SpanExporter, batch: ReadableSpan[]): Promise<ExportResult> {
  try {
    return await new Promise<ExportResult>((resolve) => exporter.export(batch, resolve));
  } finally {
    await exporter.shutdown();
  }
}

/** A sample value of Prometheus text exposition, e.g. metric(text, 'x_total', 'transport="http"'). */
function metric(text: string, name: string, labels: string): number | undefined {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('the container image, built from the Dockerfile as written', () => {
  it("holds the build's dist/ and production dependencies only", async () => {
    const app = appDir();
    expect(readdirSync(app).sort()).toEqual(['bin', 'dist', 'node_modules', 'package.json']);
    expect(existsSync(join(app, 'dist/src/cli.js'))).toBe(true);
    expect(existsSync(join(app, 'dist/src/ingest/admission/decode-worker.js'))).toBe(true);

    // every package the lock marks dev-only is gone; the build and test tools by name, too
    const build = image.stages.find((s) => s.stage.name === 'build')!;
    const lock = JSON.parse(readFileSync(hostPath(build, '/app/package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([p, meta]) => p.startsWith('node_modules/') && meta.dev === true)
      .map(([p]) => p);
    expect(devOnly.length).toBeGreaterThan(100);
    expect(devOnly.filter((p) => existsSync(join(app, p)))).toEqual([]);
    for (const tool of ['typescript', 'tsx', 'vitest', 'eslint', 'typescript-eslint', 'fast-check'])
      expect(existsSync(join(app, 'node_modules', tool)), tool).toBe(false);
    // devDependencies still present are ones a production dependency needs too (the lock says so, checked above)
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const shared = Object.keys(pkg.devDependencies).filter((d) => existsSync(join(app, 'node_modules', d)));
    timings.push(
      `devDependencies also needed by production dependencies (kept by the prune): ${shared.join(', ') || 'none'}`,
    );

    // and nothing above the image's root could lend it a module the image lacks
    const above: string[] = [];
    for (let d = dirname(image.image.root); ; d = dirname(d)) {
      if (existsSync(join(d, 'node_modules'))) above.push(join(d, 'node_modules'));
      if (dirname(d) === d) break;
    }
    expect(above).toEqual([]);

    // every production dependency is installed, at the locked version
    const ls = await runToEnd(['npm', 'ls', '--omit=dev', '--all'], {
      cwd: app,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work },
      timeoutMs: 60_000,
    });
    expect(ls.code, ls.output).toBe(0);
  });

  it('serve: answers /healthz and the HEALTHCHECK, takes OTLP over HTTP and gRPC, stops cleanly on SIGTERM', async () => {
    const img = image.image;
    expect(img.env.NODE_ENV).toBe('production');
    // EXPOSE lists the default ports of the config schema, which HEALTHCHECK and the docs rely on
    expect([...img.expose].sort()).toEqual(
      [DEFAULTS.server.otlpGrpc.port, DEFAULTS.server.otlpHttp.port, DEFAULTS.server.api.port].sort(),
    );

    // the CMD's config file, written where a mounted ConfigMap would put it, with free ports (others may use 4318/8080 here)
    const cmd = img.cmd !== undefined && 'exec' in img.cmd ? img.cmd.exec : [];
    expect(cmd.slice(0, 2)).toEqual(['serve', '--config']);
    const configFile = hostPath(img, cmd[2]!);
    const [http, grpc, api] = [await freePort(), await freePort(), await freePort()];
    mkdirSync(dirname(configFile), { recursive: true });
    writeFileSync(
      configFile,
      [
        'server:',
        `  otlpHttp: { host: 127.0.0.1, port: ${http} }`,
        `  otlpGrpc: { host: 127.0.0.1, port: ${grpc} }`,
        `  api: { host: 127.0.0.1, port: ${api} }`,
        '  auth: { open: true }',
        '# every trace body is decoded in a worker thread: the compiled worker module runs from the image too',
        'ingest: { workerDecodeBytes: 1, decodeWorkers: 1 }',
        '',
      ].join('\n'),
    );

    const proc = imageProcess(img);
    expect(proc.argv.slice(1)).toEqual([join(appDir(), 'bin/vigil.js'), 'serve', '--config', configFile]);
    const t0 = performance.now();
    const child = spawn(proc.argv[0]!, proc.argv.slice(1), {
      cwd: proc.cwd,
      env: proc.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );

    const base = `http://127.0.0.1:${api}`;
    let healthy = false;
    for (let i = 0; i < 300 && !healthy; i++) {
      if (child.exitCode !== null)
        throw new Error(`vigil serve exited ${child.exitCode} before answering /healthz:\n${output}`);
      healthy = await fetch(`${base}/healthz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (!healthy) await new Promise((r) => setTimeout(r, 100));
    }
    expect(healthy, `no /healthz within 30 s:\n${output}`).toBe(true);
    timings.push(`serve: /healthz answered ${((performance.now() - t0) / 1000).toFixed(1)} s after start`);

    // the Dockerfile's HEALTHCHECK targets the default API port; run it as Docker would (sh -c, in the image's env) on the port in use
    const hc = img.healthcheck!;
    expect(hc.command !== null && 'shell' in hc.command).toBe(true);
    const hcShell = (hc.command as { shell: string }).shell;
    expect(hcShell).toContain(`http://127.0.0.1:${DEFAULTS.server.api.port}/healthz`);
    const hcTimeout = parseDockerDuration(hc.options.timeout ?? '30s');
    const healthcheck = () =>
      runToEnd(['/bin/sh', '-c', hcShell.replace(`127.0.0.1:${DEFAULTS.server.api.port}/`, `127.0.0.1:${api}/`)], {
        cwd: proc.cwd,
        env: proc.env,
        timeoutMs: hcTimeout,
      });
    const hcOk = await healthcheck();
    expect(hcOk.code, hcOk.output).toBe(0);
    timings.push(`HEALTHCHECK: exit 0 in ${hcOk.ms.toFixed(0)} ms (timeout ${hcTimeout} ms)`);

    // real OpenTelemetry JS exporters as clients
    const t1 = performance.now();
    const results = await Promise.all([
      exportWith(
        new ProtoExporter({ url: `http://127.0.0.1:${http}/v1/traces` }),
        spans('checkout', '1.0.0', 'baseline', 40),
      ),
      exportWith(
        new JsonExporter({ url: `http://127.0.0.1:${http}/v1/traces` }),
        spans('checkout', '1.1.0', 'canary', 30),
      ),
      exportWith(new GrpcExporter({ url: `http://127.0.0.1:${grpc}` }), [
        ...spans('search', '2.0.0', 'baseline', 20),
        ...spans('search', '2.1.0', 'canary', 10),
      ]),
    ]);
    for (const r of results) expect(r.code, String(r.error)).toBe(ExportResultCode.SUCCESS);
    timings.push(
      `OTLP: 3 exports (HTTP protobuf, HTTP JSON, gRPC) succeeded in ${(performance.now() - t1).toFixed(0)} ms`,
    );

    // spans by transport and encoding; request samples by cohort (checkout 40 + search 20 baseline, 30 + 10 canary)
    const EXPECTED = [40, 30, 30, 60, 40];
    let metrics = '';
    const expected = () => [
      metric(metrics, 'vigil_otlp_spans_accepted_total', 'transport="http",encoding="protobuf"'),
      metric(metrics, 'vigil_otlp_spans_accepted_total', 'transport="http",encoding="json"'),
      metric(metrics, 'vigil_otlp_spans_accepted_total', 'transport="grpc"'),
      metric(metrics, 'vigil_request_samples_total', 'cohort="baseline"'),
      metric(metrics, 'vigil_request_samples_total', 'cohort="canary"'),
    ];
    for (let i = 0; i < 50; i++) {
      metrics = await (await fetch(`${base}/metrics`)).text();
      if (JSON.stringify(expected()) === JSON.stringify(EXPECTED)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(expected()).toEqual(EXPECTED);
    const analyses = (await (await fetch(`${base}/api/v1/analyses`)).json()) as {
      analyses: { id: string; phase: string }[];
    };
    expect(analyses.analyses.map((a) => a.id).sort()).toEqual(['checkout:1.1.0', 'search:2.1.0']);

    // graceful shutdown: exit 0; then the HEALTHCHECK reports the container unhealthy
    child.kill((img.stopSignal ?? 'SIGTERM') as NodeJS.Signals);
    const t2 = performance.now();
    const end = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
    expect(end, output).toEqual({ code: 0, signal: null });
    timings.push(`${img.stopSignal ?? 'SIGTERM'}: exit 0 after ${(performance.now() - t2).toFixed(0)} ms`);
    expect((await healthcheck()).code).not.toBe(0);

    // JSON log lines; nothing at error level or above
    const logs = output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
  }, 60_000);

  it('--help, validate and demo run from the image too', async () => {
    const img = image.image;
    const run = (args: string[]) => {
      const p = imageProcess(img, args);
      return runToEnd(p.argv, { cwd: p.cwd, env: p.env, timeoutMs: 60_000 });
    };
    const help = await run(['--help']);
    expect(help.code, help.output).toBe(0);
    expect(help.output).toContain('serve [options]');

    const config = hostPath(img, '/etc/vigil/validate.yaml');
    mkdirSync(dirname(config), { recursive: true });
    writeFileSync(config, 'analysis: { interval: 10s }\nserver: { auth: { open: true } }\n');
    const validate = await run(['validate', '/etc/vigil/validate.yaml']);
    expect(validate.code, validate.output).toBe(0);
    expect(validate.output).toContain('valid (config hash');

    // the demo drives the agent with the OpenTelemetry SDK: those packages must be production dependencies
    const demo = await run(['demo', '--requests', '100']);
    expect(demo.code, demo.output).toBe(0);
    expect(demo.output).toContain('Rollback plan ran');
    timings.push(
      `--help ${help.ms.toFixed(0)} ms, validate ${validate.ms.toFixed(0)} ms, demo ${demo.ms.toFixed(0)} ms`,
    );
  }, 60_000);
});
