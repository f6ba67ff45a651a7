import { afterEach, describe, expect, it } from 'vitest';
import { SECURITY_HEADERS } from '../../src/http/api-app.js';
import { agent, auditEntries, regressed, resume, stopApiAgents } from '../helpers/api-agent.js';
import { HttpPeer } from '../helpers/http-peer.js';
import { captureLogs } from '../helpers/log-lines.js';

afterEach(stopApiAgents);

const auth = { authorization: 'Bearer t0ken' };

describe('control API', () => {
  it('health is open; readiness waits for listening; metrics are Prometheus text', async () => {
    const { a } = agent();
    expect((await a.apiApp.inject('/healthz')).statusCode).toBe(200);
    const notReady = await a.apiApp.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json().reasons).toContain('not listening yet');
    a.ingest(regressed(0));
    const m = await a.apiApp.inject('/metrics');
    expect(m.statusCode).toBe(200);
    expect(m.headers['content-type']).toMatch(/text\/plain/);
    expect(m.body).toMatch(/vigil_request_samples_total\{cohort="canary"\} 200/);
    expect(m.body).toContain('vigil_queue_lag_seconds{queue="actions"} 0');
    expect(m.body).toContain('vigil_analyses{state="running"} 1');
  });

  it('readiness shows a failing connector health check as a warning without failing', async () => {
    const { a } = agent(
      'connectors:\n  - { name: kill-flag, type: flagd, options: { path: /nonexistent/vigil/flags.json, flag: f, variant: off } }\nplan: [kill-flag]\n',
    );
    await a.start();
    const res = await a.apiApp.inject('/readyz');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.status).toBe('ready');
    expect(body.warnings.join('\n')).toContain('kill-flag');
  });

  it('/api needs the bearer token when tokens are configured', async () => {
    const { a } = agent();
    expect((await a.apiApp.inject('/api/v1/analyses')).statusCode).toBe(401);
    expect(
      (await a.apiApp.inject({ url: '/api/v1/analyses', headers: { authorization: 'Bearer wrong' } })).statusCode,
    ).toBe(401);
    expect((await a.apiApp.inject({ url: '/api/v1/analyses', headers: auth })).statusCode).toBe(200);
  });

  it('shows decisions and resumes a rolled-back version with who and why in the audit log', async () => {
    const { a, auditPath } = agent();
    for (let look = 0; look < 10; look++) a.ingest(regressed(look));
    await a.settle();
    const list = (await a.apiApp.inject({ url: '/api/v1/analyses', headers: auth })).json();
    expect(list.analyses[0]).toMatchObject({ id: 'cart:2', phase: 'rollback' });
    const decisions = (await a.apiApp.inject({ url: '/api/v1/decisions', headers: auth })).json().decisions;
    expect(decisions).toHaveLength(1);
    const one = await a.apiApp.inject({ url: `/api/v1/decisions/${decisions[0].id}`, headers: auth });
    expect(one.json()).toMatchObject({ outcome: 'rollback', service: 'cart' });

    const bad = await resume(a, 'cart:2', auth, {});
    expect(bad.statusCode).toBe(400);
    const unknown = await resume(a, 'nope:9', auth, { by: 'alice', reason: 'typo' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: 'not found', message: 'no analysis nope:9' });
    const ok = await resume(a, 'cart:2', auth, { by: 'alice', reason: 'fixed the flag' });
    expect(ok.statusCode).toBe(200);
    expect(auditEntries(auditPath).find((e) => e.type === 'resume')).toMatchObject({
      service: 'cart',
      canaryVersion: '2',
      by: 'alice',
      reason: 'fixed the flag',
    });
    // after resume, the same version is analysed again
    for (let look = 10; look < 20; look++) a.ingest(regressed(look));
    await a.settle();
    expect((await a.apiApp.inject({ url: '/api/v1/decisions', headers: auth })).json().decisions).toHaveLength(2);
  });

  it('token scopes: a read token reads but cannot act (403), an operate token acts and its name is in the audit log', async () => {
    const { a, auditPath } = agent('', {
      auth: `{ tokens: [ { name: dashboards, token: "r3ad-only", scopes: [read] }, { name: oncall-alice, token: "0perate", scopes: [read, operate] }, { name: bot, token: "act-only", scopes: [operate] } ] }`,
    });
    for (let look = 0; look < 10; look++) a.ingest(regressed(look));
    await a.settle();
    const as = (token: string) => ({ authorization: `Bearer ${token}` });
    const resumeAs = (token: string) => resume(a, 'cart:2', as(token), { by: 'alice', reason: 'fixed the flag' });
    expect((await a.apiApp.inject({ url: '/api/v1/analyses', headers: as('r3ad-only') })).statusCode).toBe(200);
    expect((await a.apiApp.inject({ url: '/', headers: as('r3ad-only') })).statusCode).toBe(200);
    const refused = await resumeAs('r3ad-only');
    expect(refused.statusCode).toBe(403);
    expect(refused.json().message).toMatch(/token dashboards has the scopes \[read\]; this needs operate/);
    // an operate-only token acts but does not read
    expect((await a.apiApp.inject({ url: '/api/v1/analyses', headers: as('act-only') })).statusCode).toBe(403);
    expect((await a.apiApp.inject({ url: '/api/v1/analyses', headers: as('nope') })).statusCode).toBe(401);
    // a token is never taken from the query string on the analysis routes
    expect((await a.apiApp.inject({ url: '/api/v1/analyses?token=r3ad-only' })).statusCode).toBe(401);
    expect((await resumeAs('0perate')).statusCode).toBe(200);
    expect(auditEntries(auditPath).find((e) => e.type === 'resume')).toMatchObject({
      by: 'alice',
      token: 'oncall-alice',
    });
  });

  it('a resumed version that regresses again runs its rollback plan again, under a new decision id', async () => {
    const hook = await HttpPeer.start();
    try {
      const { a } = agent(
        `connectors: [{ name: hook, type: webhook, options: { url: "${hook.url}/vigil", secret: "s3cret-s3cret-s3cret" } }]\nplan: [hook]\n`,
      );
      for (let look = 0; look < 10; look++) a.ingest(regressed(look));
      await a.settle();
      expect(hook.requests).toHaveLength(1);
      const resumed = await resume(a, 'cart:2', auth, { by: 'alice', reason: 'fixed the flag, trying again' });
      expect(resumed.statusCode).toBe(200);
      for (let look = 10; look < 20; look++) a.ingest(regressed(look));
      await a.settle();
      const decisions = (await a.apiApp.inject({ url: '/api/v1/decisions', headers: auth })).json().decisions as {
        id: string;
        look: number;
        outcome: string;
      }[];
      expect(decisions.map((d) => d.outcome)).toEqual(['rollback', 'rollback']);
      // the same analysis id and look number: before incarnations, the same decision id and job id, and the
      // queue dropped the second plan as a duplicate without a word
      expect(decisions[1]!.look).toBe(decisions[0]!.look);
      expect(decisions[1]!.id).not.toBe(decisions[0]!.id);
      expect(hook.requests).toHaveLength(2);
      const eventIds = hook.requests.map((r) => (JSON.parse(r.text) as { id: string }).id);
      expect(new Set(eventIds).size).toBe(2);
    } finally {
      await hook.close();
    }
  });

  it('the dashboard lists analyses (HTML-escaped)', async () => {
    const { a } = agent();
    a.ingest(regressed(0).map((s) => ({ ...s, service: '<script>x</script>' })));
    const page = await a.apiApp.inject({ url: '/', headers: auth });
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toContain('&#60;script&#62;x&#60;/script&#62;');
    expect(page.body).not.toContain('<script>x');
  });

  it('every answer carries the security headers: dashboard, JSON, 401, probes, metrics, 404', async () => {
    const { a } = agent();
    expect(SECURITY_HEADERS).toMatchObject({
      'content-security-policy': expect.stringMatching(/default-src 'none';.*frame-ancestors 'none'/),
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    });
    const answers = await Promise.all([
      a.apiApp.inject({ url: '/', headers: auth }),
      a.apiApp.inject({ url: '/api/v1/analyses', headers: auth }),
      a.apiApp.inject('/api/v1/decisions'),
      a.apiApp.inject('/healthz'),
      a.apiApp.inject('/readyz'),
      a.apiApp.inject('/metrics'),
      a.apiApp.inject('/nope'),
    ]);
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 401, 200, 503, 200, 404]);
    for (const r of answers) {
      expect(r.headers['content-security-policy']).toBe(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      );
      expect(r.headers['x-frame-options']).toBe('DENY');
      expect(r.headers['referrer-policy']).toBe('no-referrer');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('server.auth.open: true answers without a token and says so loudly, once, at start', async () => {
    const logs = captureLogs('info');
    const { a } = agent('', { auth: '{ open: true }', logger: logs.logger });
    await a.start();
    expect((await a.apiApp.inject('/api/v1/analyses')).statusCode).toBe(200);
    expect((await a.apiApp.inject('/')).statusCode).toBe(200);
    const loud = logs.parsed().filter((l) => /server\.auth\.open is true/.test(String(l.msg)));
    expect(loud).toHaveLength(1);
    expect(loud[0]).toMatchObject({ level: 40 });
    expect(String(loud[0]!.msg)).toMatch(/ANYONE who can reach them .* RESUME rolled-back versions/);
  });

  it('without tokens and without open: true, every request to /api and the dashboard is refused (fails closed)', async () => {
    const logs = captureLogs('info');
    const { a } = agent('', { auth: '{ tokens: [] }', logger: logs.logger });
    await a.start();
    const refused = await a.apiApp.inject('/api/v1/analyses');
    expect(refused.statusCode).toBe(401);
    expect(refused.json().message).toContain('no bearer token configured');
    expect((await a.apiApp.inject({ url: '/', headers: { authorization: 'Bearer ' } })).statusCode).toBe(401);
    expect((await a.apiApp.inject('/healthz')).statusCode).toBe(200);
    expect(logs.parsed().some((l) => l.level === 40 && /answer 401 to every request/.test(String(l.msg)))).toBe(true);
  });
});
