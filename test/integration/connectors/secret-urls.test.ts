/**
 * A webhook connector whose URL holds its credential (a Slack-style path token and a `?sig=`), and a webhook
 * notifier whose URL does too: a real agent rolls back through them against a local peer that fails (500, its
 * body echoing the path as many frameworks do) and one that succeeds. The secrets never reach the audit log
 * file, the chat notifications, or the log lines.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import type { RequestSample } from '../../../src/contracts/index.js';
import { createAgent, type Agent } from '../../../src/main.js';
import { BUILTIN_REGISTRIES } from '../../../src/registries.js';
import { HttpPeer } from '../../helpers/http-peer.js';
import { captureLogs } from '../../helpers/log-lines.js';

const PATH_TOKEN = 'nq8Xr4ZpQ2LmW7vK1sD9fG3h';
const SIG = 'sIg0f9e8d7c6b5a4';
const CHAT_KEY = 'chat9key8generated7abc';
const SECRETS = [PATH_TOKEN, SIG, CHAT_KEY];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A canary at 20% errors vs 1%: a rollback within a few looks. */
function regressed(look: number): RequestSample[] {
  const out: RequestSample[] = [];
  for (let i = 0; i < 200; i++) {
    const t = 1_767_225_600_000 + look * 10_000 + i * 50;
    out.push({ service: 'cart', version: '1', cohort: 'baseline', endUnixMs: t, durationMs: 30, error: i % 100 === 0 });
    out.push({ service: 'cart', version: '2', cohort: 'canary', endUnixMs: t + 1, durationMs: 30, error: i % 5 === 0 });
  }
  return out;
}

async function rollbackThrough(hookStatus: number): Promise<{ peer: HttpPeer; audit: string; logs: string }> {
  // The hook answers `hookStatus` with a body that echoes the path and query (as Express's "Cannot POST …" does);
  // the chat notifier's endpoint always accepts.
  const peer = await HttpPeer.start((req) =>
    req.path.startsWith('/services/')
      ? { status: hookStatus, body: hookStatus < 300 ? 'ok' : `no route for POST ${req.path}` }
      : { status: 200, body: 'ok' },
  );
  cleanups.push(() => peer.close());
  const dir = mkdtempSync(join(tmpdir(), 'vigil-secret-urls-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const auditPath = join(dir, 'audit.jsonl');
  const logs = captureLogs('debug');
  const loaded = parseConfig(
    [
      `audit: { path: "${auditPath}" }`,
      'analysis: { interval: 10s, allowedLateness: 0s, minSamples: 20 }',
      'actions: { attempts: 1 }',
      'connectors:',
      `  - { name: router, type: webhook, options: { url: "${peer.url}/services/T0AB12CDE/B0AB12CDE/${PATH_TOKEN}?sig=${SIG}" } }`,
      'notifiers:',
      `  - { name: chat, type: webhook, options: { url: "${peer.url}/hooks/${CHAT_KEY}" } }`,
      'plan: [router]',
      '',
    ].join('\n'),
    'secret-urls.yaml',
    BUILTIN_REGISTRIES,
    {},
  );
  const agent: Agent = createAgent({
    loaded,
    registries: BUILTIN_REGISTRIES,
    logger: logs.logger,
    ports: { otlpHttp: 0, otlpGrpc: 0, api: 0 },
  });
  cleanups.push(() => agent.stop());
  for (let look = 0; look < 10; look++) agent.ingest(regressed(look));
  await agent.settle();
  return { peer, audit: readFileSync(auditPath, 'utf8'), logs: logs.raw().join('\n') };
}

const chatBodies = (peer: HttpPeer) => peer.requests.filter((r) => r.path.startsWith('/hooks/')).map((r) => r.text);

describe('secrets in connector URLs', () => {
  it('a failing vendor that echoes its URL: the audit log, the chat and the logs never show the secret', async () => {
    const { peer, audit, logs } = await rollbackThrough(500);
    // the secrets did travel where they belong: in the requests themselves
    expect(peer.requests.some((r) => r.path.includes(PATH_TOKEN) && r.path.includes(SIG))).toBe(true);
    expect(peer.requests.some((r) => r.path === `/hooks/${CHAT_KEY}`)).toBe(true);

    const failed = audit
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.type === 'action-failed');
    expect(failed).toMatchObject({ connector: 'router', code: 'VIGIL_ERR_CONNECTOR_HTTP_5XX' });
    expect(String(failed!.error)).toContain(
      'webhook answered HTTP 500: no route for POST /services/T0AB12CDE/B0AB12CDE/****?sig=****',
    );

    const chat = chatBodies(peer);
    const alert = chat.find((b) => b.includes('action-failed'));
    expect(alert, chat.join('\n')).toBeDefined();
    expect(alert).toContain('/services/T0AB12CDE/B0AB12CDE/****?sig=****');

    expect(logs).toContain('rollback step failed for good');
    for (const secret of SECRETS) {
      expect(audit, 'audit log').not.toContain(secret);
      for (const body of chat) expect(body, 'chat notification').not.toContain(secret);
      expect(logs, 'log lines').not.toContain(secret);
    }
  });

  it('a succeeding vendor: the step detail in the audit log and the chat shows the URL redacted', async () => {
    const { peer, audit, logs } = await rollbackThrough(200);
    const step = audit
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => e.type === 'action');
    expect(step).toMatchObject({ connector: 'router', changed: true });
    expect(String(step!.detail)).toMatch(
      /^POSTed CloudEvent dev\.vigil\.rollback id=\S+ \(\d+ bytes, unsigned\) to http:\/\/127\.0\.0\.1:\d+\/services\/T0AB12CDE\/B0AB12CDE\/\*\*\*\*\?sig=\*\*\*\*: HTTP 200$/,
    );
    const chat = chatBodies(peer);
    expect(chat.some((b) => b.includes('plan-completed') && b.includes('/B0AB12CDE/****?sig=****'))).toBe(true);
    for (const secret of SECRETS) {
      expect(audit, 'audit log').not.toContain(secret);
      for (const body of chat) expect(body, 'chat notification').not.toContain(secret);
      expect(logs, 'log lines').not.toContain(secret);
    }
  });
});
