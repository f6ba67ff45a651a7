/**
 * `vigil connectors test`: main() in-process against real local HTTP servers standing in for the vendors,
 * plus the runner with connectors built to fail in each way a check must catch.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli.js';
import { parseConfig, type Registries } from '../../src/config/load.js';
import { runConnectorTest } from '../../src/connectors-test.js';
import { redactUrl } from '../../connectors/shared/redact.js';
import { verifySignature } from '../../connectors/shared/signing.js';
import type { ActionResult, ConnectorDeps, ConnectorFactory, PlanConnector } from '../../src/contracts/index.js';
import { VigilError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { BUILTIN_REGISTRIES } from '../../src/registries.js';
import { HttpPeer } from '../helpers/http-peer.js';
import { FakeKubeApi, writeKubeconfig } from '../helpers/connectors/kube-fake-api.js';

const ROUTING_KEY = 'CLIROUTINGKEY0123456789abcdefABC';
const SIG = 'sig-0f9e8d7c6b5a';
let stdout = '';
let stderr = '';
let dir: string;
let receiver: HttpPeer;

beforeAll(async () => {
  receiver = await HttpPeer.start();
  dir = mkdtempSync(join(tmpdir(), 'vigil-connectors-cli-'));
});
afterAll(async () => {
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  stdout = '';
  stderr = '';
  receiver.reset();
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

const run = (...args: string[]) => main(['node', 'vigil', ...args]);

function config(): string {
  const file = join(dir, 'vigil.yaml');
  writeFileSync(
    file,
    [
      'server: { api: { publicUrl: "https://vigil.example.com" } }',
      'plan: [kill-flag]',
      'connectors:',
      `  - { name: kill-flag, type: webhook, options: { url: "${receiver.url}/flags", secret: "hook-secret-123" } }`,
      '  - { name: nothing, type: noop }',
      '  - { name: router, type: noop, options: { kind: traffic } }',
      'notifiers:',
      `  - { name: teams-ops, type: teams, options: { webhookUrl: "${receiver.url}/workflows/abc/invoke?api-version=1&sig=${SIG}" } }`,
      `  - { name: pager, type: pagerduty, options: { routingKey: "${ROUTING_KEY}", url: "${receiver.url}/v2/enqueue" } }`,
      '',
    ].join('\n'),
  );
  return file;
}

describe('vigil connectors test', () => {
  it('previews a notifier: prints the request it would post, sends nothing, hides the credential', async () => {
    expect(await run('connectors', 'test', 'teams-ops', '--config', config())).toBe(0);
    expect(receiver.requests).toHaveLength(0);
    expect(stdout).toContain('notifier teams-ops (type teams)');
    expect(stdout).toContain('health check: none (teams has no health check)');
    expect(stdout).toContain('preview (NOT sent');
    expect(stdout).toContain(`POST ${receiver.url}/… (path and query hidden`);
    expect(stdout).toContain(
      '"text": "[dry-run] Rollback vigil-connectors-test: canary v0.0.0-test-canary is worse than baseline v0.0.0-test-baseline"',
    );
    expect(stdout).toContain('TEST from `vigil connectors test`');
    // the chat link opens the decision's report (GET /api/v1/decisions/:id/report)
    expect(stdout).toMatch(
      /"url": "https:\/\/vigil\.example\.com\/api\/v1\/decisions\/vigil-connectors-test-[^"/]+\/report"/,
    );
    expect(stdout).not.toContain(SIG);
    expect(stdout).not.toContain('/workflows/abc');
    expect(stdout).toMatch(/result: ok\n$/);
  });

  it('--send posts one marked test notification to the vendor', async () => {
    expect(await run('connectors', 'test', 'teams-ops', '--config', config(), '--send')).toBe(0);
    expect(receiver.requests).toHaveLength(1);
    const req = receiver.requests[0]!;
    expect(req.path).toBe(`/workflows/abc/invoke?api-version=1&sig=${SIG}`);
    expect(req.text).toContain('vigil-connectors-test');
    expect(req.text).toContain('[dry-run]');
    expect(stdout).toContain('sent: a TEST notification (rollback, marked dry-run) was posted (HTTP 200)');
    expect(stdout).not.toContain(SIG);
  });

  it('exits 1 when the vendor rejects the test notification, with the error and without the credential', async () => {
    receiver.answer(401, `bad signature ${SIG}`);
    expect(await run('connectors', 'test', 'teams-ops', '--config', config(), '--send')).toBe(1);
    expect(stdout).toContain('send: FAILED: vendor rejected the request: teams answered HTTP 401');
    expect(stdout).toContain('[VIGIL_ERR_CONNECTOR_HTTP_4XX]');
    expect(stdout).not.toContain(SIG);
    expect(stdout).toMatch(/result: FAILED\n$/);
  });

  it('redacts the PagerDuty routing key from the preview; --outcome promote previews the resolve', async () => {
    expect(await run('connectors', 'test', 'pager', '--config', config())).toBe(0);
    expect(stdout).not.toContain(ROUTING_KEY);
    expect(stdout).toContain('"routing_key": "[redacted]"');
    expect(stdout).toContain('"event_action": "trigger"');
    expect(stdout).toContain('"severity": "info"');
    stdout = '';
    expect(await run('connectors', 'test', 'pager', '--config', config(), '--outcome', 'promote')).toBe(0);
    expect(stdout).toContain('"event_action": "resolve"');
    expect(stdout).toContain('"dedup_key": "vigil-connectors-test:v0.0.0-test-canary"');
    expect(receiver.requests).toHaveLength(0);
  });

  it('names the setCanaryShare capability of the connectors that declare it', async () => {
    expect(await run('connectors', 'test', 'router', '--config', config())).toBe(0);
    expect(stdout).toContain('traffic connector router (type noop) from');
    expect(stdout).toContain('  capability: setCanaryShare (promotion plans can set the canary share through it)\n');
    stdout = '';
    expect(await run('connectors', 'test', 'nothing', '--config', config())).toBe(0);
    expect(stdout).not.toContain('setCanaryShare');
  });

  it('names the capability for gateway-api and istio, whose health check and dry run pass against the API', async () => {
    const api = await FakeKubeApi.start();
    try {
      const ns = '/namespaces/shop';
      api.put(`/apis/gateway.networking.k8s.io/v1${ns}/httproutes/checkout`, {
        spec: {
          rules: [
            {
              backendRefs: [
                { name: 's', weight: 90 },
                { name: 'c', weight: 10 },
              ],
            },
          ],
        },
      });
      api.put(`/apis/networking.istio.io/v1${ns}/virtualservices/checkout`, {
        spec: {
          http: [
            {
              route: [
                { destination: { host: 'h', subset: 's' }, weight: 90 },
                { destination: { host: 'h', subset: 'c' }, weight: 10 },
              ],
            },
          ],
        },
      });
      const kubeconfig = writeKubeconfig(dir, api.url, api.token);
      const file = join(dir, 'kube.yaml');
      writeFileSync(
        file,
        [
          'plan: [gw, mesh]',
          'connectors:',
          `  - { name: gw, type: gateway-api, options: { kubeconfig: "${kubeconfig}", namespace: shop, route: checkout, baselineBackend: s, canaryBackend: c } }`,
          `  - { name: mesh, type: istio, options: { kubeconfig: "${kubeconfig}", namespace: shop, virtualService: checkout, baselineHost: h, baselineSubset: s, canarySubset: c } }`,
          '',
        ].join('\n'),
      );
      for (const [name, type] of [
        ['gw', 'gateway-api'],
        ['mesh', 'istio'],
      ]) {
        stdout = '';
        expect(await run('connectors', 'test', name!, '--config', file)).toBe(0);
        expect(stdout).toContain(`traffic connector ${name} (type ${type}) from`);
        expect(stdout).toContain(
          '  capability: setCanaryShare (promotion plans can set the canary share through it)\n',
        );
      }
      // the health checks' server-side dry-run PATCHes, nothing else
      expect(api.writes().map((r) => r.query.get('dryRun'))).toEqual(['All', 'All']);
    } finally {
      await api.close();
    }
  });

  it('dry-runs a plan connector: nothing is sent, nothing changes', async () => {
    expect(await run('connectors', 'test', 'kill-flag', '--config', config())).toBe(0);
    expect(receiver.requests).toHaveLength(0);
    expect(stdout).toContain('webhook connector kill-flag (type webhook)');
    expect(stdout).toMatch(/dry run \(rollback of vigil-connectors-test\): .*dry-run.*\(changed: false\)/);
    expect(stdout).not.toContain('hook-secret-123');
  });

  it('--send delivers a real, signed webhook event marked test, and prints the host without the secrets', async () => {
    const peer = await HttpPeer.start();
    try {
      const TOKEN = 'nq8Xr4ZpQ2LmW7vK1sD9fG3h';
      const HOOK_SECRET = 'hook-secret-456';
      const file = join(dir, 'send.yaml');
      writeFileSync(
        file,
        [
          'connectors:',
          `  - { name: hook, type: webhook, options: { url: "${peer.url}/hooks/T0AB12CDE/B0AB12CDE/${TOKEN}?api-version=1&sig=${SIG}", secret: "\${HOOK_SECRET}" } }`,
          '  - { name: fake-flag, type: noop, options: { kind: flag } }',
          '',
        ].join('\n'),
      );
      process.env.HOOK_SECRET = HOOK_SECRET;
      expect(await run('connectors', 'test', 'hook', '--config', file, '--send')).toBe(0);

      expect(peer.requests).toHaveLength(1);
      const req = peer.requests[0]!;
      expect(req.method).toBe('POST');
      expect(req.path).toBe(`/hooks/T0AB12CDE/B0AB12CDE/${TOKEN}?api-version=1&sig=${SIG}`);
      const event = JSON.parse(req.text) as {
        type: string;
        vigiltest?: boolean;
        subject: string;
        data: { test?: boolean; dryRun: boolean; service: string; reason: string };
      };
      expect(event.type).toBe('dev.vigil.rollback');
      expect(event.vigiltest).toBe(true);
      expect(event.data).toMatchObject({ test: true, dryRun: true, service: 'vigil-connectors-test' });
      expect(event.data.reason).toContain('TEST from `vigil connectors test`');
      const verified = verifySignature(
        HOOK_SECRET,
        req.headers['x-vigil-timestamp'] as string,
        req.rawBody,
        req.headers['x-vigil-signature'] as string,
        { nowSec: Math.floor(Date.now() / 1000) },
      );
      expect(verified).toEqual({ ok: true });

      expect(stdout).toContain('webhook connector hook (type webhook)');
      expect(stdout).toContain(`POST ${peer.url}/hooks/T0AB12CDE/B0AB12CDE/****?api-version=1&sig=**** → HTTP 200`);
      expect(stdout).toContain(
        'sent: a TEST event (rollback of vigil-connectors-test, marked test and dry-run) was delivered (HTTP 200)',
      );
      expect(stdout).toMatch(/result: ok\n$/);
      for (const secret of [TOKEN, SIG, HOOK_SECRET]) expect(stdout + stderr).not.toContain(secret);

      // a connector that would really act refuses --send, and sends nothing
      expect(await run('connectors', 'test', 'fake-flag', '--config', file, '--send')).toBe(2);
      expect(stderr).toContain('--send is for notifiers and webhook connectors');
      expect(peer.requests).toHaveLength(1);
    } finally {
      delete process.env.HOOK_SECRET;
      await peer.close();
    }
  });

  it('prints URLs with token-like path segments and secret query values hidden, host and port kept', () => {
    expect(redactUrl('https://hooks.slack.com/services/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')).toBe(
      'https://hooks.slack.com/services/T0AB12CDE/B0AB12CDE/****',
    );
    expect(
      redactUrl(
        'https://discord.com/api/webhooks/123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGhIjKlMnOpQrStUvWxYz012345?wait=true',
      ),
    ).toBe('https://discord.com/api/webhooks/123456789012345678/****?wait=true');
    expect(
      redactUrl(
        'https://prod-01.westeurope.logic.azure.com:443/workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=AbC123',
      ),
    ).toBe(
      'https://prod-01.westeurope.logic.azure.com/workflows/****/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=****',
    );
    expect(
      redactUrl(
        'https://chat.googleapis.com/v1/spaces/AAAAbcdEfg/messages?key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&token=x',
      ),
    ).toBe('https://chat.googleapis.com/v1/spaces/AAAAbcdEfg/messages?key=****&token=****');
    expect(redactUrl('http://user:pass@flags.internal:8081/vigil/rollback?access_token=abc&team=checkout')).toBe(
      'http://flags.internal:8081/vigil/rollback?access_token=****&team=checkout',
    );
  });

  it('runs the health check of connectors that have one', async () => {
    expect(await run('connectors', 'test', 'nothing', '--config', config())).toBe(0);
    expect(stdout).toContain('health check: ok');
  });

  it('exits 2 for an unknown name (listing the known ones), a missing --config or an invalid config', async () => {
    expect(await run('connectors', 'test', 'kil-flag', '--config', config())).toBe(2);
    expect(stderr).toContain('no connector or notifier named "kil-flag"');
    expect(stderr).toContain('connectors: kill-flag, nothing, router; notifiers: teams-ops, pager');
    expect(await run('connectors', 'test', 'kill-flag')).toBe(2);
    expect(stderr).toContain('--config');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'notifiers:\n  - { name: ops, type: teams, options: { webhookUrl: "http://teams.example.com/x" } }\n',
    );
    expect(await run('connectors', 'test', 'ops', '--config', bad)).toBe(2);
    expect(stderr).toContain('must use https');
    expect(await run('connectors', 'test', 'ops', '--config', config(), '--timeout', 'soon')).toBe(2);
  });

  it('is listed in --help', async () => {
    expect(await run('connectors', 'test', '--help')).toBe(0);
    expect(stdout).toContain('--send');
    expect(stdout).toContain('--outcome');
  });
});

/** Plan connectors that break the dry-run contract in one way each, to prove the runner catches it. */
function misbehaving(kind: 'unhealthy' | 'changes' | 'writes', target: string): ConnectorFactory {
  return {
    type: `bad-${kind}`,
    kind: 'flag',
    parse: (o) => o,
    create(name: string, _o: unknown, deps: ConnectorDeps): PlanConnector {
      return {
        name,
        type: `bad-${kind}`,
        kind: 'flag',
        ...(kind === 'unhealthy'
          ? {
              healthCheck: () =>
                Promise.reject(new VigilError('VIGIL_ERR_CONNECTOR_HTTP_4XX', ['flags answered HTTP 401: bad token'])),
            }
          : {}),
        async apply(): Promise<ActionResult> {
          if (kind === 'writes') await deps.fetch(`${target}/flags/x`, { method: 'PATCH', body: '{}' });
          return { changed: kind === 'changes', detail: 'dry-run: would set flag x off' };
        },
      };
    },
  };
}

describe('runConnectorTest catches connectors that break the contract', () => {
  const registries = (): Registries => ({
    ...BUILTIN_REGISTRIES,
    planConnectors: new Map(
      ['unhealthy', 'changes', 'writes'].map((k) => [`bad-${k}`, misbehaving(k as 'unhealthy', receiver.url)]),
    ),
  });
  const test = async (name: string) => {
    const lines: string[] = [];
    const reg = registries();
    const loaded = parseConfig(
      [
        'connectors:',
        '  - { name: a, type: bad-unhealthy }',
        '  - { name: b, type: bad-changes }',
        '  - { name: c, type: bad-writes }',
      ].join('\n'),
      'test.yaml',
      reg,
      {},
    );
    const code = await runConnectorTest({
      loaded,
      registries: reg,
      name,
      send: false,
      outcome: 'rollback',
      timeoutMs: 5000,
      logger: silentLogger(),
      out: (l) => lines.push(l),
      err: (l) => lines.push(l),
    });
    return { code, text: lines.join('\n') };
  };

  it('a failing health check', async () => {
    const r = await test('a');
    expect(r.code).toBe(1);
    expect(r.text).toContain(
      'health check: FAILED: vendor rejected the request: flags answered HTTP 401: bad token [VIGIL_ERR_CONNECTOR_HTTP_4XX]',
    );
  });

  it('a dry run that reports a change', async () => {
    const r = await test('b');
    expect(r.code).toBe(1);
    expect(r.text).toContain('it reports a change, a dry run must touch nothing');
  });

  it('a dry run that sends a write request', async () => {
    const r = await test('c');
    expect(r.code).toBe(1);
    expect(r.text).toContain(`it sent 1 write request(s) (PATCH ${receiver.url})`);
    expect(receiver.requests.map((q) => q.method)).toEqual(['PATCH']);
  });
});
