/**
 * Manual authority (issue 15): pause, resume, rollback and promote an analysis by hand through the API and the CLI
 * verbs, each audited with who and why verbatim and the token's name; a paused analysis keeps looking and holds what
 * its looks would decide; decisions by hand run the plan and answer the judge like any other.
 */
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Agent } from '../../src/main.js';
import { main } from '../../src/cli.js';
import { agent, auditEntries, regressed, stopApiAgents } from '../helpers/api-agent.js';
import { HttpPeer } from '../helpers/http-peer.js';

const afterTest: (() => Promise<void>)[] = [];
afterEach(async () => {
  await stopApiAgents();
  for (const f of afterTest.splice(0)) await f();
});

const TOKENS = `{ tokens: [ { name: dashboards, token: "r3ad-only", scopes: [read] }, { name: oncall-alice, token: "0perate", scopes: [read, operate] } ] }`;
const operator = { authorization: 'Bearer 0perate' };

function act(a: Agent, id: string, action: string, payload: object, headers: Record<string, string> = operator) {
  return a.apiApp.inject({
    method: 'POST',
    url: `/api/v1/analyses/${encodeURIComponent(id)}/${action}`,
    headers,
    payload,
  });
}

async function analysis(a: Agent, id = 'cart:2') {
  return (await a.apiApp.inject({ url: `/api/v1/analyses/${id}`, headers: operator })).json();
}

async function feed(a: Agent, from: number, to: number, canaryErrorEvery = 5): Promise<void> {
  for (let look = from; look < to; look++) a.ingest(regressed(look, canaryErrorEvery));
  await a.settle();
}

describe('manual authority (API)', () => {
  it('a pause holds a regressed canary: looks go on, the rollback waits; the resume lets the next look decide', async () => {
    const chat = await HttpPeer.start();
    afterTest.push(() => chat.close());
    const { a, auditPath } = agent(
      `notifiers: [{ name: chat, type: webhook, options: { url: "${chat.url}/events", secret: "s3cret-s3cret-s3cret" } }]\n`,
      { auth: TOKENS },
    );
    await feed(a, 0, 1);
    const paused = await act(a, 'cart:2', 'pause', { by: 'alice <oncall>', reason: 'checking the "payments" outage' });
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({
      action: 'pause',
      changed: true,
      analysis: { id: 'cart:2', phase: 'running' },
    });
    // pausing again changes nothing and writes nothing
    expect((await act(a, 'cart:2', 'pause', { by: 'bob', reason: 'me too' })).json()).toMatchObject({ changed: false });
    await feed(a, 1, 10);
    const held = await analysis(a);
    expect(held.phase).toBe('running');
    expect(held.paused).toMatchObject({
      by: 'alice <oncall>',
      reason: 'checking the "payments" outage',
      token: 'oncall-alice',
    });
    expect(held.why).toMatch(
      /^paused by alice <oncall> \(checking the "payments" outage\): nothing is decided until it is resumed; its last look would have decided rollback: canary is worse/,
    );
    const looks = (await a.apiApp.inject({ url: '/api/v1/analyses/cart:2/looks', headers: operator })).json().looks;
    expect(looks.length).toBeGreaterThanOrEqual(9);
    expect(looks.some((l: { held?: string }) => l.held === 'rollback')).toBe(true);
    expect(looks.some((l: { decided?: string }) => l.decided !== undefined)).toBe(false);
    expect((await a.apiApp.inject({ url: '/api/v1/decisions', headers: operator })).json().decisions).toEqual([]);

    const resumed = await act(a, 'cart:2', 'resume', { by: 'alice', reason: 'outage over' });
    expect(resumed.json()).toMatchObject({ action: 'resume', changed: true });
    await feed(a, 10, 11);
    const decided = await analysis(a);
    expect(decided.phase).toBe('rollback');
    expect(decided.paused).toBeUndefined();
    const entries = auditEntries(auditPath);
    expect(entries.filter((e) => e.type === 'pause')).toEqual([
      expect.objectContaining({
        analysis: 'cart:2',
        service: 'cart',
        canaryVersion: '2',
        by: 'alice <oncall>',
        reason: 'checking the "payments" outage',
        token: 'oncall-alice',
      }),
    ]);
    expect(entries.find((e) => e.type === 'unpause')).toMatchObject({ by: 'alice', reason: 'outage over' });
    expect(entries.find((e) => e.type === 'decision')).not.toHaveProperty('manual'); // the detectors decided
    // announced in chat: the pause and the resume once each (the second pause changed nothing), then the decision
    const events = chat.requests.map((r) => JSON.parse(r.text) as { type: string; data: Record<string, unknown> });
    expect(events.map((e) => [e.type, e.data.action ?? e.data.outcome])).toEqual([
      ['dev.vigil.notification.operator', 'pause'],
      ['dev.vigil.notification.operator', 'resume'],
      ['dev.vigil.notification.decision', 'rollback'],
    ]);
    expect(events[0]!.data).toMatchObject({
      by: 'alice <oncall>',
      reason: 'checking the "payments" outage',
      token: 'oncall-alice',
      analysis: 'cart:2',
    });
  });

  it('a rollback by hand runs the plan, is recorded with who and why, and a resume lets the version be analysed again', async () => {
    const hook = await HttpPeer.start();
    try {
      const { a, auditPath } = agent(
        `connectors: [{ name: hook, type: webhook, options: { url: "${hook.url}/vigil", secret: "s3cret-s3cret-s3cret" } }]\nplan: [hook]\n`,
        { auth: TOKENS },
      );
      await feed(a, 0, 3, 100); // a healthy canary: nothing decided yet
      expect((await analysis(a)).phase).toBe('running');
      const r = await act(a, 'cart:2', 'rollback', { by: 'alice', reason: 'customers report broken checkout' });
      expect(r.statusCode).toBe(200);
      const { decision } = r.json();
      expect(decision).toMatchObject({
        outcome: 'rollback',
        plan: ['hook'],
        reason: 'rollback by hand: alice: customers report broken checkout',
        manual: { by: 'alice', reason: 'customers report broken checkout', token: 'oncall-alice' },
      });
      // answered once recorded: the decision entry is in the audit log already
      expect(auditEntries(auditPath).find((e) => e.type === 'decision')).toMatchObject({
        id: decision.id,
        manual: { by: 'alice' },
      });
      await a.settle();
      expect(hook.requests).toHaveLength(1);
      expect(JSON.parse(hook.requests[0]!.text)).toMatchObject({ data: { outcome: 'rollback', analysis: 'cart:2' } });
      // a decided analysis cannot be paused nor decided again
      const again = await act(a, 'cart:2', 'pause', { by: 'bob', reason: 'late' });
      expect(again.statusCode).toBe(409);
      expect(again.json().message).toMatch(/already decided \(rollback, decision d-/);
      expect((await act(a, 'cart:2', 'promote', { by: 'bob', reason: 'x' })).statusCode).toBe(409);
      // resume of the decided version: analysed again
      expect((await act(a, 'cart:2', 'resume', { by: 'alice', reason: 'fixed the flag' })).statusCode).toBe(200);
      expect(auditEntries(auditPath).find((e) => e.type === 'resume')).toMatchObject({
        analysis: 'cart:2',
        by: 'alice',
        reason: 'fixed the flag',
        token: 'oncall-alice',
      });
      // the judge no longer says fail for the resumed version: unknown until its new analysis starts, then running
      const judge = () =>
        a.apiApp.inject({ url: '/api/v1/judge?service=cart&canaryVersion=2', headers: operator }).then((x) => x.json());
      expect(await judge()).toMatchObject({
        verdict: 'unknown',
        reason: expect.stringMatching(/^version 2 of service cart was resumed by an operator after its decision/),
      });
      await feed(a, 3, 5, 100);
      expect((await analysis(a)).phase).toBe('running');
      expect((await judge()).verdict).toBe('running');
    } finally {
      await hook.close();
    }
  });

  it('a promotion by hand ends the analysis as passed: the judge answers pass, Flagger may promote', async () => {
    const { a } = agent('', { auth: TOKENS });
    await feed(a, 0, 2, 100);
    const judge = () =>
      a.apiApp.inject({ url: '/api/v1/judge?service=cart&canaryVersion=2', headers: operator }).then((x) => x.json());
    expect((await judge()).verdict).toBe('running');
    const confirm = () =>
      a.apiApp.inject({
        method: 'POST',
        url: '/api/v1/flagger/confirm-promotion',
        headers: { authorization: 'Bearer r3ad-only' },
        payload: { name: 'cart', namespace: 'shop', phase: 'Progressing', metadata: { canaryVersion: '2' } },
      });
    expect((await confirm()).statusCode).toBeGreaterThanOrEqual(400); // Flagger is not told to promote yet
    const r = await act(a, 'cart:2', 'promote', { by: 'carol', reason: 'signed off by the team' });
    expect(r.json().decision).toMatchObject({ outcome: 'promote', plan: [], manual: { by: 'carol' } });
    expect(await judge()).toMatchObject({ verdict: 'pass', reason: 'promote by hand: carol: signed off by the team' });
    expect((await confirm()).statusCode).toBe(200); // and Flagger's confirm-promotion hook now lets it promote
  });

  it('refuses what it cannot do: 400 without by or reason, 403 for a read token, 404 unknown, 409 nothing to resume', async () => {
    const { a, auditPath } = agent('', { auth: TOKENS });
    await feed(a, 0, 1, 100);
    const missing = await act(a, 'cart:2', 'pause', { by: 'alice' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toMatch(
      /send JSON \{"by": "<who>", "reason": "<why>"\}.*a pause holds the analysis/,
    );
    expect((await act(a, 'cart:2', 'pause', { by: ' ', reason: 'blank by' })).statusCode).toBe(400);
    expect((await act(a, 'cart:2', 'pause', { by: 'x'.repeat(201), reason: 'long' })).statusCode).toBe(400);
    const readOnly = await act(
      a,
      'cart:2',
      'rollback',
      { by: 'eve', reason: 'x' },
      { authorization: 'Bearer r3ad-only' },
    );
    expect(readOnly.statusCode).toBe(403);
    expect((await act(a, 'cart:2', 'rollback', { by: 'eve', reason: 'x' }, {})).statusCode).toBe(401);
    const unknown = await act(a, 'nope:9', 'promote', { by: 'alice', reason: 'typo' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: 'not found', message: 'no analysis nope:9' });
    const notPaused = await act(a, 'cart:2', 'resume', { by: 'alice', reason: 'nothing' });
    expect(notPaused.statusCode).toBe(409);
    expect(notPaused.json().message).toBe('analysis cart:2 is running and not paused: there is nothing to resume');
    expect((await analysis(a)).phase).toBe('running');
    expect(existsSync(auditPath)).toBe(false); // nothing refused was written
  });

  it('the looks of an analysis: per look requests per cohort and each metric with p-value, alpha, bounds and threshold', async () => {
    const { a } = agent('', { auth: TOKENS });
    await feed(a, 0, 4, 100);
    const res = await a.apiApp.inject({
      url: '/api/v1/analyses/cart:2/looks',
      headers: { authorization: 'Bearer r3ad-only' },
    });
    expect(res.statusCode).toBe(200);
    const { looks } = res.json();
    expect(looks.map((l: { look: number }) => l.look)).toEqual([1, 2, 3]);
    expect(looks[0]).toMatchObject({ requests: { baseline: 200, canary: 200 }, errors: { baseline: 2, canary: 2 } });
    const errorRate = looks[2].metrics.find((m: { metric: string }) => m.metric === 'error-rate');
    expect(errorRate).toMatchObject({ phase: expect.any(String), threshold: 1 });
    expect(errorRate.alpha).toBeGreaterThan(0);
    expect(errorRate.pValue).toBeLessThanOrEqual(1);
    expect((await a.apiApp.inject({ url: '/api/v1/analyses/x/looks', headers: operator })).statusCode).toBe(404);
  });
});

describe('manual authority (CLI verbs against a listening agent)', () => {
  let stdout = '';
  let stderr = '';
  beforeEach(() => {
    stdout = '';
    stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  });
  afterEach(() => vi.restoreAllMocks());

  it('vigil pause | resume | rollback with --by and --reason; errors are one line, exit 1', async () => {
    const { a, auditPath } = agent('', { auth: TOKENS });
    const { apiUrl } = await a.start();
    await feed(a, 0, 2, 100);
    const vigil = (...args: string[]) => main(['node', 'vigil', ...args, '--api', apiUrl]);
    process.env.VIGIL_TOKEN = '0perate';
    try {
      expect(await vigil('pause', 'cart:2', '--by', 'alice', '--reason', 'deploy freeze')).toBe(0);
      expect(stdout).toBe('analysis cart:2 (cart canary 2): paused, recorded in the audit log\n');
      expect(await vigil('resume', 'cart:2', '--by', 'alice', '--reason', 'freeze over')).toBe(0);
      expect(await vigil('rollback', 'cart:2', '--by', 'alice', '--reason', 'bad smell')).toBe(0);
      expect(stdout).toMatch(/analysis cart:2 \(cart canary 2\): rollback decided by hand, decision d-[0-9a-f]{16}\n$/);
      expect(await vigil('promote', 'nope', '--by', 'alice', '--reason', 'x')).toBe(1);
      expect(stderr).toBe(`vigil promote: ${apiUrl}/api/v1/analyses/nope/promote: HTTP 404: no analysis nope\n`);
      expect(await vigil('pause', 'cart:2', '--by', 'alice', '--reason', 'x', '--token', 'r3ad-only')).toBe(1);
      expect(stderr).toMatch(
        /HTTP 403: the token was refused; pass one of the agent's server.auth.tokens \(with the operate scope\)/,
      );
      // a missing --reason is a usage error (2), nothing is sent
      expect(await vigil('pause', 'cart:2', '--by', 'alice')).toBe(2);
    } finally {
      delete process.env.VIGIL_TOKEN;
    }
    const types = auditEntries(auditPath).map((e) => e.type);
    expect(types.filter((t) => t === 'pause' || t === 'unpause' || t === 'decision')).toEqual([
      'pause',
      'unpause',
      'decision',
    ]);
  });
});
