/**
 * Decision reports from a real agent (GET /api/v1/decisions/:id/report, `vigil report`): real OpenTelemetry SDK
 * traffic (OTLP/HTTP protobuf) of a service whose name carries a `|` and a `<script>`, its canary failing 20% of
 * requests against the baseline's 1%: rolled back through a plan of two steps (a noop connector, then a signed
 * webhook to a local HTTP peer), announced by a webhook notifier to the same peer, whose chat link is the report's.
 * The report is read as HTML and as Markdown with a read-scoped token (401 without one), checked against the agent's
 * own state (looks, audit entries), read again after an operator resumed the version (who and why, verbatim), and
 * printed by the built CLI (`npm run build` first: it spawns bin/vigil.js).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LookPoint } from '../../src/analysis/analysis-types.js';
import type { Decision } from '../../src/contracts/index.js';
import type { TrafficGenerator } from '../../src/demo/traffic-generator.js';
import { mdEscape } from '../../src/decide/report-render.js';
import { chromiumInstalled, launchBrowser } from '../helpers/browser.js';
import { HttpPeer } from '../helpers/http-peer.js';
import { startTestAgent, type StartedAgent } from '../helpers/test-agent.js';
import { cohortTraffic } from '../helpers/traffic.js';
import { mdRows } from '../helpers/markdown-table.js';
import { auditEntries } from '../helpers/api-agent.js';

const root = join(import.meta.dirname, '../..');
const run = promisify(execFile);

const SERVICE = 'shop|<script>alert(1)</script>';
const ANALYSIS = `${SERVICE}:1.1.0`;
const READ = 'r3ad-t0ken-report';
const OPERATE = 'op3rate-t0ken-report';
const PUBLIC = 'https://vigil.example.com';
const INTERVAL = 10_000;
const STEP = 5_000;

let peer: HttpPeer;
let started: StartedAgent;
let traffic: TrafficGenerator;
let healthy: TrafficGenerator;
let decision: Decision;
let looks: LookPoint[];

const audit = (): Record<string, unknown>[] => auditEntries(join(started.dir, 'audit.jsonl'));

const PAUSE_REASON = 'checking | the <b>dashboard</b>';

/** An operator's action through the API (the operate token). */
function operate(action: string, analysis: string, by: string, reason: string): Promise<Response> {
  return fetch(`${started.apiUrl}/api/v1/analyses/${encodeURIComponent(analysis)}/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${OPERATE}`, 'content-type': 'application/json' },
    body: JSON.stringify({ by, reason }),
  });
}

function report(id: string, o: { token?: string | null; accept?: string; query?: string } = {}): Promise<Response> {
  const token = o.token === undefined ? READ : o.token;
  return fetch(`${started.apiUrl}/api/v1/decisions/${encodeURIComponent(id)}/report${o.query ?? ''}`, {
    headers: {
      ...(o.accept === undefined ? {} : { accept: o.accept }),
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
  });
}

/** The cells of each row of the HTML table that follows `heading`. */
function htmlRows(html: string, heading: string): string[][] {
  const from = html.indexOf(heading);
  const table = html.slice(from, html.indexOf('</table>', from));
  return [...table.matchAll(/<tr>(.*?)<\/tr>/g)]
    .map((m) => [...m[1]!.matchAll(/<td>(.*?)<\/td>/g)].map((c) => c[1]!))
    .filter((cells) => cells.length > 0); // not the head
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

beforeAll(async () => {
  peer = await HttpPeer.start();
  started = await startTestAgent(
    [
      'analysis: { interval: 10s, minSamples: 25, maxDuration: 30m }',
      `server: { api: { publicUrl: "${PUBLIC}" }, auth: { tokens: [{ name: ops, token: "${OPERATE}", scopes: [read, operate] }, { name: viewer, token: "${READ}", scopes: [read] }] } }`,
      'connectors:',
      '  - { name: mark, type: noop }',
      `  - { name: hook, type: webhook, options: { url: "${peer.url}/rollback", secret: "hook-secret-4d2e" } }`,
      'notifiers:',
      `  - { name: chat, type: webhook, options: { url: "${peer.url}/chat", secret: "chat-secret-9a1b" } }`,
      'plan: [mark, hook]',
      '',
    ].join('\n'),
    'report',
  );
  traffic = cohortTraffic({ otlpHttpUrl: started.otlpHttpUrl, service: SERVICE, canaryErrorRate: 0.2, seed: 11 });
  healthy = cohortTraffic({ otlpHttpUrl: started.otlpHttpUrl, service: 'cart', canaryErrorRate: 0.01, seed: 12 });
  const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL - 30 * INTERVAL; // in the past: no span in the future
  for (let k = 0; k < 20 && started.agent.registry.get(ANALYSIS)?.phase !== 'rollback'; k++) {
    await traffic.emit(t0 + k * STEP, STEP, { baseline: 100, canary: 100 });
    if (k < 4) await healthy.emit(t0 + k * STEP, STEP, { baseline: 100, canary: 100 });
    await started.agent.settle();
    // an operator holds the regressed canary for two looks, then lets it decide; another rolls cart back by hand
    if (k === 1) expect((await operate('pause', ANALYSIS, 'bob', PAUSE_REASON)).status).toBe(200);
    if (k === 5) expect((await operate('resume', ANALYSIS, 'bob', 'the errors are real')).status).toBe(200);
    if (k === 3) expect((await operate('rollback', 'cart:1.1.0', 'carol', 'customers report errors')).status).toBe(200);
  }
  await started.agent.settle(); // the plan's steps and the notifications are done
  const a = started.agent.registry.get(ANALYSIS);
  expect(a?.phase).toBe('rollback');
  decision = started.agent.audit.findDecision(a!.decisionId!)!;
  looks = started.agent.registry.history(ANALYSIS)!;
}, 60_000);

afterAll(async () => {
  await healthy?.shutdown();
  await traffic?.shutdown();
  await started?.agent.stop();
  await peer?.close();
});

describe('GET /api/v1/decisions/:id/report', () => {
  it('needs a token with the read scope: 401 without one or with a wrong one', async () => {
    for (const [token, accept] of [
      [null, 'text/markdown'],
      [null, undefined],
      ['wrong-token', 'text/html'],
    ] as const) {
      const res = await report(decision.id, { token, ...(accept ? { accept } : {}) });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.json()).toMatchObject({ error: 'unauthorized' });
    }
    // a browser without a session (a link in chat) is sent to the dashboard's login form, and back after it
    const path = `/api/v1/decisions/${encodeURIComponent(decision.id)}/report`;
    const browser = await fetch(`${started.apiUrl}${path}`, {
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
      redirect: 'manual',
    });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe(`/login?next=${encodeURIComponent(path)}`);
    expect((await report(decision.id, { token: READ })).status).toBe(200);
    expect((await report(decision.id, { token: OPERATE })).status).toBe(200);
  });

  it('a browser gets a self-contained HTML page, no script, the service name as text, under the API CSP', async () => {
    const res = await report(decision.id, {
      accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', // Chromium's
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toMatch(
      /^default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';/,
    );
    expect(res.headers.get('vary')).toMatch(/accept/i);
    const html = await res.text();
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\son[a-z]+=/i); // no event handler attribute
    expect(html).not.toMatch(/(src|href)="(?!data:,|https:\/\/vigil\.example\.com\/)/); // nothing loaded, no other link
    expect(html).toContain('shop|&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain(`<title>Rollback shop|&#60;script&#62;alert(1)&#60;/script&#62;: canary 1.1.0 is worse`);
    expect(html).toContain(`<li>Config hash: ${decision.configHash}</li>`);

    // one row per look up to the decision, as the registry kept them
    const rows = htmlRows(html, '<h2>Evidence per look</h2>');
    const kept = looks.filter((l) => l.look <= decision.look);
    expect(rows.map((r) => r.slice(0, 3))).toEqual(
      kept.map((l) => [String(l.look), iso(l.atUnixMs), `${l.requests.canary} / ${l.requests.baseline}`]),
    );
    expect(rows.at(-1)!.at(-1)).toBe('<strong>rollback</strong>');
    expect(rows.every((r) => r.length === 5 + kept[0]!.metrics.length)).toBe(true);

    // the plan's steps with the connectors' answers, as the audit log has them
    const actions = audit().filter((e) => e.type === 'action' && e.decisionId === decision.id);
    expect(actions.map((e) => [e.step, e.connector])).toEqual([
      [0, 'mark'],
      [1, 'hook'],
    ]);
    const steps = htmlRows(html, '<h2>Plan</h2>');
    expect(steps.map((r) => r.slice(0, 6))).toEqual(
      actions.map((e) => [
        String((e.step as number) + 1),
        e.connector,
        'changed',
        String(e.detail).replace(/</g, '&#60;').replace(/>/g, '&#62;').replace(/'/g, '&#39;'),
        String(e.attempt),
        e.loggedAt,
      ]),
    );
    expect(steps.map((r) => r[6])).toEqual([expect.stringMatching(/^\+\d/), expect.stringMatching(/^\+\d/)]);
    expect(html).toContain('All 2 steps done.');
  });

  it('Markdown for text/markdown and when Accept names neither; every telemetry string escaped', async () => {
    for (const accept of ['text/markdown', '*/*', 'application/json']) {
      const res = await report(decision.id, { accept });
      expect(res.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    }
    const md = await (await report(decision.id, { accept: 'text/markdown' })).text();
    if (process.env.VIGIL_REPORT_SAMPLE) writeFileSync(process.env.VIGIL_REPORT_SAMPLE, md);
    expect(md.split('\n')[0]).toBe(
      '# Rollback shop\\|\\<script\\>alert(1)\\</script\\>: canary 1.1.0 is worse than baseline 1.0.0',
    );
    const outsideCode = md.replace(/^```sh\n[\s\S]*?\n```$/gm, ''); // in a code block it is text
    expect(outsideCode).not.toMatch(/(^|[^\\])<script>/);
    expect(outsideCode).not.toMatch(/(^|[^\\])\|<script/);
    expect(md).toContain(`- Analysis: ${mdEscape(ANALYSIS)}; decision ${decision.id}\n`);
    const rows = mdRows(md, '## Evidence per look');
    const kept = looks.filter((l) => l.look <= decision.look);
    expect(rows.map((r) => r.slice(0, 3))).toEqual(
      kept.map((l) => [String(l.look), iso(l.atUnixMs), `${l.requests.canary} / ${l.requests.baseline}`]),
    );
    expect(mdRows(md, '## Plan').map((r) => r.slice(0, 3))).toEqual([
      ['1', 'mark', 'changed'],
      ['2', 'hook', 'changed'],
    ]);
    // the resume command, quoted for a shell: the name runs nothing
    expect(md).toContain(
      `vigil resume 'shop|<script>alert(1)</script>:1.1.0' --by 'YOUR NAME' --reason 'WHY' --api '${PUBLIC}'`,
    );
    expect(md).toContain(`curl -X POST '${PUBLIC}/api/v1/analyses/${encodeURIComponent(ANALYSIS)}/resume'`);
  });

  it('?format= overrides Accept; an unknown format is 400; an unknown decision 404', async () => {
    const html = await report(decision.id, { accept: 'text/markdown', query: '?format=html' });
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const md = await report(decision.id, { accept: 'text/html', query: '?format=md' });
    expect(md.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect((await report(decision.id, { query: '?format=pdf' })).status).toBe(400);
    // the model as JSON (what the dashboard draws the plan's steps from)
    const json = await report(decision.id, { query: '?format=json' });
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    const model = (await json.json()) as { decision: { id: string }; plan: { state: string; steps: unknown[] } };
    expect(model.decision.id).toBe(decision.id);
    expect(model.plan).toMatchObject({ state: 'completed', steps: [{ status: 'done' }, { status: 'done' }] });
    const unknown = await report('d-0000000000000000');
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'not found' });
  });

  it("the chat message links to the report, and that link's path answers a browser with the page", async () => {
    const chat = peer.requests
      .filter((r) => r.path === '/chat')
      .map((r) => JSON.parse(r.text) as { data: { decisionId: string; kind: string; link?: string } })
      .filter((c) => c.data.decisionId === decision.id);
    expect(chat.map((c) => c.data.kind).sort()).toEqual(['decision', 'plan-completed']);
    const link = `${PUBLIC}/api/v1/decisions/${decision.id}/report`;
    expect(chat.map((c) => c.data.link)).toEqual([link, link]);
    const res = await fetch(`${started.apiUrl}${new URL(link).pathname}`, {
      headers: { accept: 'text/html', authorization: `Bearer ${READ}` },
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<h2>Plan</h2>');
  });

  it('the pause and its lifting before the decision: who, why (escaped), token, when', async () => {
    const [pause, unpause] = audit().filter((e) => e.type === 'pause' || e.type === 'unpause');
    expect([pause?.type, unpause?.type]).toEqual(['pause', 'unpause']);
    const md = await (await report(decision.id)).text();
    expect(mdRows(md, '## Manual actions')).toEqual([
      ['pause', 'bob', mdEscape(PAUSE_REASON), 'ops', pause!.loggedAt, expect.stringMatching(/^\d.* before$/)],
      ['unpause', 'bob', 'the errors are real', 'ops', unpause!.loggedAt, expect.stringMatching(/^\d.* before$/)],
    ]);
    const html = await (await report(decision.id, { accept: 'text/html' })).text();
    expect(htmlRows(html, '<h2>Manual actions</h2>')[0]!.slice(0, 4)).toEqual([
      'pause',
      'bob',
      'checking | the &#60;b&#62;dashboard&#60;/b&#62;',
      'ops',
    ]);
  });

  it('a rollback by hand: who, why and the token in what was compared, and its own row among the manual actions', async () => {
    const cart = started.agent.registry.get('cart:1.1.0');
    expect(cart?.phase).toBe('rollback');
    const byHand = started.agent.audit.findDecision(cart!.decisionId!)!;
    expect(byHand.manual).toMatchObject({ by: 'carol', reason: 'customers report errors', token: 'ops' });
    const md = await (await report(byHand.id)).text();
    const at = new Date(byHand.manual!.atUnixMs).toISOString();
    expect(md).toContain(
      `- Taken by hand: by carol (token ops) at ${at.replace('.000Z', 'Z')}: customers report errors\n`,
    );
    expect(md).toContain('**Reason:** rollback by hand: carol: customers report errors\n');
    expect(mdRows(md, '## Manual actions')).toEqual([
      [
        '**rollback** (this decision)',
        'carol',
        'customers report errors',
        'ops',
        at,
        expect.stringMatching(/ before$|^\+/),
      ],
    ]);
    expect(mdRows(md, '## Plan').map((r) => r.slice(0, 3))).toEqual([
      ['1', 'mark', 'changed'],
      ['2', 'hook', 'changed'],
    ]);
  });

  it('after an operator resumed the version: who and why, verbatim and escaped; the looks are gone, the verdicts stay', async () => {
    const reason = 'flag | fixed in <b>v2</b>';
    const resumed = await fetch(`${started.apiUrl}/api/v1/analyses/${encodeURIComponent(ANALYSIS)}/resume`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATE}`, 'content-type': 'application/json' },
      body: JSON.stringify({ by: 'alice', reason }),
    });
    expect(resumed.status).toBe(200);
    const entry = audit().find((e) => e.type === 'resume' && e.by === 'alice')!;

    const md = await (await report(decision.id)).text();
    expect(mdRows(md, '## Manual actions').map((r) => r.slice(0, 2))).toEqual([
      ['pause', 'bob'],
      ['unpause', 'bob'],
      ['resume', 'alice'],
    ]);
    expect(mdRows(md, '## Manual actions')[2]).toEqual([
      'resume',
      'alice',
      'flag \\| fixed in \\<b\\>v2\\</b\\>',
      'ops',
      entry.loggedAt,
      expect.stringMatching(/^\+\d/),
    ]);
    expect(md).toContain(`Already resumed by alice at ${entry.loggedAt as string}`);
    expect(md).toContain(`is no longer in memory`);
    expect(mdRows(md, '### Verdicts at the decision').map((r) => r.slice(0, 2))).toEqual(
      decision.verdicts.map((v) => [v.metric + (v.shadow ? ' (shadow)' : ''), v.phase]),
    );
    const html = await (await report(decision.id, { accept: 'text/html' })).text();
    expect(htmlRows(html, '<h2>Manual actions</h2>')[2]!.slice(0, 4)).toEqual([
      'resume',
      'alice',
      'flag | fixed in &#60;b&#62;v2&#60;/b&#62;',
      'ops',
    ]);
  });
});

describe.runIf(chromiumInstalled())('the report in headless Chromium (what a chat link opens)', () => {
  it('renders under the CSP with no console error; the <script> in the name stays text and runs nothing', async () => {
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${READ}` } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('dialog', (dlg) => {
        problems.push(`dialog: ${dlg.message()}`);
        void dlg.dismiss();
      });
      // the path of the chat link, on this agent (the link's host is the publicUrl)
      const res = await page.goto(`${started.apiUrl}/api/v1/decisions/${decision.id}/report`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-type']).toBe('text/html; charset=utf-8');
      expect(await page.title()).toBe(`Rollback ${SERVICE}: canary 1.1.0 is worse than baseline 1.0.0`);
      expect(await page.locator('h1').innerText()).toContain('shop|<script>alert(1)</script>');
      expect(await page.locator('script').count()).toBe(0);
      expect(await page.locator('h2').allInnerTexts()).toEqual([
        'What was compared',
        'Why',
        'Evidence per look',
        'Plan',
        'Manual actions',
        'How to resume',
        'Sources',
      ]);
      mkdirSync('bench-results', { recursive: true });
      await page.screenshot({ path: 'bench-results/report.png', fullPage: true });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 30_000);
});

describe('vigil report (the built CLI)', () => {
  const bin = join(root, 'bin/vigil.js');
  const cli = (...args: string[]) =>
    run(process.execPath, [bin, 'report', ...args], { env: { ...process.env, VIGIL_TOKEN: '' } }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('dist/ is built', () => {
    expect(existsSync(join(root, 'dist/src/report-client.js')), 'run `npm run build` first').toBe(true);
  });

  it('prints the Markdown report, or the HTML page with --format html', async () => {
    const md = await cli(decision.id, '--api', started.apiUrl, '--token', READ);
    expect(md.code).toBe(0);
    expect(md.stderr).toBe('');
    const api = await (await report(decision.id, { accept: 'text/markdown' })).text();
    const stable = (s: string) => s.replace(/generated at \S+/, 'generated at T').replace(/\(.* ago\)/, '(age)');
    expect(stable(md.stdout)).toBe(stable(api));
    const html = await cli(decision.id, '--format', 'html', '--api', started.apiUrl, '--token', READ);
    expect(html.code).toBe(0);
    expect(html.stdout.startsWith('<!doctype html>')).toBe(true);
    expect(html.stdout).toContain('<h2>Plan</h2>');
  });

  it('takes the token from VIGIL_TOKEN', async () => {
    const r = await run(process.execPath, [bin, 'report', decision.id, '--api', started.apiUrl], {
      env: { ...process.env, VIGIL_TOKEN: READ },
    });
    expect(r.stdout).toContain('## Plan');
  });

  it('one line and exit 1 on an unknown id, a missing token, an agent not there', async () => {
    const url = (id: string) => `${started.apiUrl}/api/v1/decisions/${id}/report?format=md`;
    const unknown = await cli('d-0000000000000000', '--api', started.apiUrl, '--token', READ);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      new RegExp(
        `^vigil report: ${url('d-0000000000000000').replace(/[.?]/g, '\\$&')}: HTTP 404: no decision d-0000000000000000: .* \\(vigil decisions lists the recent decisions and their ids\\)\\n$`,
      ),
    );
    const noToken = await cli(decision.id, '--api', started.apiUrl);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toBe(
      `vigil report: ${url(decision.id)}: HTTP 401: the API needs a bearer token; pass --token <token> or set VIGIL_TOKEN\n`,
    );
    const gone = await HttpPeer.start();
    await gone.close();
    const down = await cli(decision.id, '--api', gone.url, '--token', READ);
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(
      `vigil report: ${gone.url}/api/v1/decisions/${decision.id}/report?format=md: connection refused (ECONNREFUSED): is \`vigil serve\` running there? (point at it with --api or --config)\n`,
    );
    expect(down.stdout).toBe('');
  });
});
