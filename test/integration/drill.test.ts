/**
 * `vigil drill` (issue 17) end to end, through the CLI: a synthetic regressed canary goes through the real pipeline
 * and the plan runs against a real local HTTP receiver behind the `webhook` connector and notifier.
 * - target drill: passes, and the receiver gets no request (nothing real is touched);
 * - target live, receiver answers 200: passes, the event is marked as a drill (CloudEvents `vigildrill`);
 * - target live, receiver answers 500: fails (exit 1), the report names the step, its error and the fix;
 * - the API's drills, and the agent's own schedule (`rollouts[].drill.every`).
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { runCli } from '../helpers/cli-run.js';
import { startTestAgent } from '../helpers/test-agent.js';

interface Received {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let server: Server;
let url = '';
let status = 200;
const received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received.length = 0;
  status = 200;
});

function config(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-drill-test-'));
  const file = join(dir, 'drill.yaml');
  writeFileSync(
    file,
    `
analysis: { interval: 10s, alpha: 0.01 }
connectors:
  - { name: drill-flag, type: webhook, options: { url: "${url}/flags/drill", timeoutMs: 2000 } }
notifiers:
  - { name: chat, type: webhook, options: { url: "${url}/chat", timeoutMs: 2000 } }
rollouts:
  - { service: checkout, plan: [drill-flag] }
plan: []
actions: { attempts: 2, backoff: 100ms }
audit: { path: "${join(dir, 'audit.jsonl')}" }
server: { auth: { open: true } }
`,
  );
  return file;
}

/** `vigil drill …` in-process. */
const drill = (...args: string[]) => runCli('drill', ...args);

describe('vigil drill', () => {
  it('target drill: the detectors decide, the plan dry-runs, and the receiver gets nothing', async () => {
    const file = config();
    const { code, stdout } = await drill('--config', file, '--service', 'checkout');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^drill checkout \(target drill: dry runs, nothing real touched\): PASSED in /);
    expect(stdout).toMatch(/time to detect: \d+ looks \(\d+ s of telemetry at 10 s looks\): error-rate: /);
    expect(stdout).toMatch(/time to decide: [\d.]+ s \(wall clock\): rollback \(d-[0-9a-f]+\)/);
    expect(stdout).toMatch(/step 1 drill-flag \+\d+ ms: done \(dry run\)/);
    expect(received).toEqual([]); // nothing real: no event, no chat message
  });

  it('target live: the plan really runs and its event says it is a drill', async () => {
    const file = config();
    const { code, stdout } = await drill('--config', file, '--service', 'checkout', '--target', 'live', '--json');
    const report = JSON.parse(stdout);
    expect(code).toBe(0);
    expect(report).toMatchObject({ type: 'drill', service: 'checkout', target: 'live', passed: true, failures: [] });
    expect(report.steps).toEqual([expect.objectContaining({ step: 0, connector: 'drill-flag', status: 'done' })]);
    const event = received.find((r) => r.path === '/flags/drill');
    expect(event).toBeDefined();
    const body = JSON.parse(event!.body);
    expect(body).toMatchObject({ type: 'dev.vigil.rollback', vigildrill: true, data: { drill: true } });
    expect(body.data.canaryVersion).toMatch(/^vigil-drill-/);
    // the notifier posted too, its events marked as a drill as well
    const chat = received.filter((r) => r.path === '/chat').map((r) => JSON.parse(r.body));
    expect(chat.length).toBeGreaterThan(0);
    expect(chat.every((e) => e.vigildrill === true)).toBe(true);
  });

  it('target live against a receiver that answers 500: fails, naming the step, its error and the fix', async () => {
    status = 500;
    const file = config();
    const { code, stdout } = await drill('--config', file, '--service', 'checkout', '--target', 'live');
    expect(code).toBe(1);
    expect(stdout).toMatch(/^drill checkout \(target live: LIVE, the plan really ran\): FAILED in /);
    expect(stdout).toMatch(/step 1 drill-flag( \+\d+ ms)?: FAILED: .*500/);
    expect(stdout).toContain('failed: step 1 drill-flag failed: ');
    expect(stdout).toContain('fix: vigil connectors test drill-flag');
    expect(received.filter((r) => r.path === '/flags/drill').length).toBe(2); // actions.attempts
  });
});

describe('drills through the API', () => {
  it('POST /api/v1/drills runs a drill in the agent and records it; GET /api/v1/drills lists the last per service', async () => {
    const { agent, apiUrl, dir } = await startTestAgent(
      `
connectors: [{ name: router, type: noop, options: { kind: traffic } }]
plan: [router]
server: { auth: { open: true } }
`,
      'drill-api',
    );
    try {
      const post = (body: unknown) =>
        fetch(`${apiUrl}/api/v1/drills`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      expect((await post({ service: 'checkout' })).status).toBe(400); // who and why are required
      // the agent's connectors are the production ones: no live drill through the API
      expect((await post({ service: 'checkout', target: 'live', by: 'alice', reason: 'x' })).status).toBe(400);
      const res = await post({ service: 'checkout', by: 'alice', reason: 'monthly rollback drill' });
      expect(res.status).toBe(200);
      const report = (await res.json()) as { passed: boolean; target: string; steps: { connector: string }[] };
      expect(report).toMatchObject({ passed: true, target: 'drill' });
      expect(report.steps.map((s) => s.connector)).toEqual(['router']);
      const entries = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const drill = entries.find((e) => e.type === 'drill');
      expect(drill).toMatchObject({ service: 'checkout', passed: true, by: 'alice', reason: 'monthly rollback drill' });
      // the drill's own decision never reaches the agent's audit log, analyses or decisions
      expect(entries.some((e) => e.type === 'decision')).toBe(false);
      expect(agent.registry.list()).toEqual([]);
      const listed = (await (await fetch(`${apiUrl}/api/v1/drills`)).json()) as { drills: { service: string }[] };
      expect(listed.drills).toEqual([expect.objectContaining({ service: 'checkout', passed: true, by: 'alice' })]);
    } finally {
      await agent.stop();
    }
  });
});

describe('scheduled drills (rollouts[].drill.every)', () => {
  it('the agent drills a service on its own schedule (dry runs: the webhook gets nothing), records and lists it', async () => {
    const { agent, apiUrl, dir } = await startTestAgent(
      `
connectors: [{ name: hook, type: webhook, options: { url: "${url}/flags/checkout", timeoutMs: 2000 } }]
plan: [hook]
rollouts: [{ service: checkout, drill: { every: 10s } }]
server: { auth: { open: true } }
`,
      'drill-schedule',
    );
    try {
      const listed = async () =>
        ((await (await fetch(`${apiUrl}/api/v1/drills`)).json()) as { drills: Record<string, unknown>[] }).drills;
      // checked every second (a tenth of the period): the first drill is due at once, as none was recorded
      await expect.poll(listed, { timeout: 20_000, interval: 250 }).toEqual([
        expect.objectContaining({
          service: 'checkout',
          passed: true,
          target: 'drill',
          by: 'drill schedule',
          reason: 'every 10s (rollouts[].drill.every)',
          token: 'vigil',
        }),
      ]);
      expect(received).toEqual([]); // the webhook is a dry run in a drill
      const metrics = await (await fetch(`${apiUrl}/metrics`)).text();
      expect(metrics).toContain('vigil_drills_total{service="checkout",outcome="passed"} 1');
      // not due again before 10 s: still one drill in the audit log 3 s later
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const drills = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((e) => e.type === 'drill');
      expect(drills).toHaveLength(1);
    } finally {
      await agent.stop();
    }
  }, 40_000);

  it('refuses a period under 10 s, naming the key', () => {
    expect(() =>
      parseConfig('rollouts: [{ service: checkout, drill: { every: 2s } }]\n', 'v.yaml', BUILTIN_REGISTRIES, {}),
    ).toThrow(/rollouts\[0\]\.drill\.every.*must be at least 10s, got 2s: drills would run back to back/s);
  });
});
