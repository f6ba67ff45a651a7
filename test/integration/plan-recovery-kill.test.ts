/**
 * `vigil serve` killed with SIGKILL in the middle of a rollback plan, with the embedded (in-memory) queue, then
 * started again on the same audit log: the plan goes on from the step that was cut and finishes, and the steps
 * done before the kill do not run again. Real processes (the CLI from the TypeScript sources through tsx), real
 * OTLP/HTTP JSON telemetry that rolls a canary back, real webhook connectors posting to a local HTTP peer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpPeer, type RecordedRequest } from '../helpers/http-peer.js';

const root = join(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Serving {
  child: ChildProcess;
  otlpHttp: string;
  output(): string;
  exited: Promise<number | null>;
}

/** `vigil serve --config <file>` from the sources; resolves once it logged 'vigil is listening'. */
async function serve(configFile: string): Promise<Serving> {
  const script = `const { main } = await import(${JSON.stringify(join(root, 'src/cli.ts'))}); process.exitCode = await main(['node', 'vigil', 'serve', '--config', ${JSON.stringify(configFile)}]);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
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
  const { otlpHttp } = JSON.parse(line) as { otlpHttp: string };
  return { child, otlpHttp, output: () => out, exited };
}

async function waitUntil(cond: () => boolean, timeoutMs: number, why: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out\n${why()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const T0_MS = 1_767_225_600_000;
let spanCounter = 0;

/** One look (10 s of event time) of `cart`: 200 baseline requests at 1% errors, 200 canary requests at 20%. */
function look(n: number): string {
  const resource = (version: string, cohort: string, errorEvery: number, offsetMs: number) => ({
    resource: {
      attributes: [
        { key: 'service.name', value: { stringValue: 'cart' } },
        { key: 'service.version', value: { stringValue: version } },
        { key: 'vigil.cohort', value: { stringValue: cohort } },
      ],
    },
    scopeSpans: [
      {
        spans: Array.from({ length: 200 }, (_, i) => {
          const endMs = T0_MS + n * 10_000 + i * 50 + offsetMs;
          const id = ++spanCounter;
          return {
            traceId: id.toString(16).padStart(32, '0'),
            spanId: id.toString(16).padStart(16, '0'),
            name: 'GET /cart',
            kind: 2,
            startTimeUnixNano: `${endMs - 30}000000`,
            endTimeUnixNano: `${endMs}000000`,
            ...(i % errorEvery === 0 ? { status: { code: 2 } } : {}),
          };
        }),
      },
    ],
  });
  return JSON.stringify({ resourceSpans: [resource('1', 'baseline', 100, 0), resource('2', 'canary', 5, 1)] });
}

const paths = (reqs: readonly RecordedRequest[]): string[] =>
  reqs.map((r) => {
    if (r.path !== '/notify') return r.path.slice(1);
    return (JSON.parse(r.text) as { type: string }).type.replace('dev.vigil.notification.', 'notify:');
  });

const count = (reqs: readonly RecordedRequest[], what: string): number => paths(reqs).filter((p) => p === what).length;

describe('vigil serve killed with SIGKILL in the middle of a rollback plan (embedded queue)', () => {
  it('finishes the plan after the restart from the step that was cut; the steps done before do not run again', async () => {
    const peer = await HttpPeer.start((r) => (r.path === '/router' ? 'hang' : { status: 200, body: 'ok' }));
    cleanups.push(() => peer.close());
    const dir = mkdtempSync(join(tmpdir(), 'vigil-kill-'));
    const cfg = join(dir, 'vigil.yaml');
    const hooks = ['flag', 'router', 'deploy']
      .map((c) => `  - { name: ${c}, type: webhook, options: { url: "${peer.url}/${c}" } }`)
      .join('\n');
    writeFileSync(
      cfg,
      `server:
  otlpHttp: { host: 127.0.0.1, port: 0 }
  otlpGrpc: { host: 127.0.0.1, port: 0 }
  api: { host: 127.0.0.1, port: 0 }
audit: { path: "${join(dir, 'audit.jsonl')}" }
analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }
connectors:
${hooks}
notifiers:
  - { name: chat, type: webhook, options: { url: "${peer.url}/notify" } }
plan: [flag, router, deploy]
`,
    );

    const first = await serve(cfg);
    for (let n = 0; n < 10 && count(peer.requests, 'router') === 0; n++) {
      const res = await fetch(`${first.otlpHttp}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: look(n),
      });
      expect(res.status).toBe(200);
    }
    // step 0 (flag) done and audited, step 1 (router) in flight: the peer holds its answer
    await waitUntil(
      () => count(peer.requests, 'router') === 1 && count(peer.requests, 'notify:decision') === 1,
      20_000,
      () => `${paths(peer.requests).join(', ')}\n${first.output()}`,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(paths(peer.requests).sort()).toEqual(['flag', 'notify:decision', 'router']);

    peer.script(() => ({ status: 200, body: 'ok' }));
    const second = await serve(cfg);
    await waitUntil(
      () => count(peer.requests, 'notify:plan-completed') === 1,
      20_000,
      () => `${paths(peer.requests).join(', ')}\n${second.output()}`,
    );
    await new Promise((r) => setTimeout(r, 500)); // anything that would run twice has had the time to
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    // router twice: the cut request, then the step again (receivers dedupe on the event id, the decision id)
    expect(paths(peer.requests).sort()).toEqual([
      'deploy',
      'flag',
      'notify:decision',
      'notify:plan-completed',
      'router',
      'router',
    ]);
    const lines = second
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => String(l.msg).startsWith('resuming a rollback plan'))).toEqual([
      expect.objectContaining({ level: 40, step: 1, connector: 'router', analysis: 'cart:2' }),
    ]);
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
  }, 90_000);
});
