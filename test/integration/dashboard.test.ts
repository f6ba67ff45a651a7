/**
 * The dashboard's login, session cookie, CSRF and scopes (issue 15), against a real agent's API (fastify inject):
 * a browser logs in with a token at /login and gets a random session id in an HttpOnly, SameSite=Strict cookie; the
 * cookie reads the API and the pages; a write it authenticates needs the page's CSRF token and this origin; bearer
 * requests are unchanged; /api/* without credentials stays 401 JSON while a page sends a browser to /login.
 * The browser side (the pages drawing, live updates, a pause clicked): test/e2e/dashboard.test.ts.
 */
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/main.js';
import { SECURITY_HEADERS } from '../../src/http/api-app.js';
import { assetSizes } from '../../src/http/dashboard/static-assets.js';
import { agent, auditEntries, regressed, stopApiAgents } from '../helpers/api-agent.js';

afterEach(stopApiAgents);

const TOKENS = `{ tokens: [ { name: viewer, token: "r3ad-only", scopes: [read] }, { name: oncall-alice, token: "0perate", scopes: [read, operate] }, { name: bot, token: "act-only", scopes: [operate] } ] }`;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const HOST = 'vigil.internal:8080';

/** POST /login as a form from the login page (`remoteAddress`: the client). */
function login(a: Agent, token: string, opts: { next?: string; headers?: Record<string, string>; from?: string } = {}) {
  const body = new URLSearchParams({ token, ...(opts.next ? { next: opts.next } : {}) }).toString();
  return a.apiApp.inject({
    method: 'POST',
    url: '/login',
    headers: { ...FORM, host: HOST, 'sec-fetch-site': 'same-origin', ...opts.headers },
    payload: body,
    ...(opts.from ? { remoteAddress: opts.from } : {}),
  });
}

/** The session cookie a login set (name=value), and its attributes. */
function cookieOf(res: { headers: Record<string, unknown> }): { pair: string; attributes: string[] } {
  const [pair, ...attributes] = String(res.headers['set-cookie']).split('; ');
  return { pair: pair!, attributes };
}

/** Logs in with `token` and reads the CSRF token off the list page. */
async function session(a: Agent, token: string): Promise<{ cookie: string; csrf: string }> {
  const cookie = cookieOf(await login(a, token)).pair;
  const page = await a.apiApp.inject({ url: '/', headers: { cookie } });
  const csrf = /<meta name="vigil-csrf" content="([^"]*)">/.exec(page.body)?.[1];
  if (!csrf) throw new Error(`no CSRF token in the page: ${page.statusCode} ${page.body.slice(0, 200)}`);
  return { cookie, csrf };
}

/** A healthy running analysis cart:2. */
async function running(a: Agent): Promise<void> {
  for (let look = 0; look < 3; look++) a.ingest(regressed(look, 100));
  await a.settle();
}

function pause(a: Agent, headers: Record<string, string>, reason = 'checking the "payments" <alert>') {
  return a.apiApp.inject({
    method: 'POST',
    url: '/api/v1/analyses/cart:2/pause',
    headers: { host: HOST, ...headers },
    payload: { by: 'alice <oncall>', reason },
  });
}

describe('dashboard login', () => {
  it('GET /login serves the form; a page without credentials sends the browser there; /api/* stays 401 JSON', async () => {
    const { a } = agent('', { auth: TOKENS });
    const form = await a.apiApp.inject('/login');
    expect(form.statusCode).toBe(200);
    expect(form.headers['content-type']).toMatch(/^text\/html/);
    expect(form.headers['cache-control']).toBe('no-store');
    expect(form.headers['content-security-policy']).toContain("form-action 'self'");
    expect(form.body).toContain('<form method="post" action="/login">');
    expect(form.body).toMatch(/<input type="password" name="token" required/);

    const list = await a.apiApp.inject('/');
    expect(list.statusCode).toBe(303);
    expect(list.headers.location).toBe('/login?next=%2F');
    const one = await a.apiApp.inject('/analyses/cart%3A2');
    expect(one.headers.location).toBe(`/login?next=${encodeURIComponent('/analyses/cart%3A2')}`);
    // the form carries it on
    expect((await a.apiApp.inject(one.headers.location as string)).body).toContain(
      '<input type="hidden" name="next" value="/analyses/cart%3A2">',
    );

    const api = await a.apiApp.inject('/api/v1/analyses');
    expect(api.statusCode).toBe(401);
    expect(api.headers['www-authenticate']).toBe('Bearer');
    expect(api.json()).toMatchObject({ error: 'unauthorized', message: expect.stringContaining('/login') });
    // a client that sent a (wrong) bearer token is an API client: 401, not a redirect
    expect((await a.apiApp.inject({ url: '/', headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
  });

  it('a wrong token gets the form again, 401, the same words whatever was wrong, and no cookie', async () => {
    const { a } = agent('', { auth: TOKENS });
    const answers = await Promise.all(['nope', '0perat', '0perate0', 'r3ad-only '.repeat(3)].map((t) => login(a, t)));
    for (const res of answers) {
      expect(res.statusCode).toBe(401);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.body).toContain('<p class="error" role="alert">That token was not accepted.</p>');
      expect(res.body).toContain('<form method="post" action="/login">');
    }
    const json = await a.apiApp.inject({ method: 'POST', url: '/login', payload: { token: 'nope' } });
    expect(json.statusCode).toBe(401);
    expect(json.json()).toEqual({ error: 'unauthorized', message: 'That token was not accepted.' });
  });

  it('the right token: a random session id in an HttpOnly, SameSite=Strict cookie for 12 h, Secure over https; never the token', async () => {
    const { a } = agent('', { auth: TOKENS });
    const res = await login(a, '0perate', { next: '/analyses/cart%3A2' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/analyses/cart%3A2');
    const { pair, attributes } = cookieOf(res);
    expect(pair).toMatch(/^vigil_session=[A-Za-z0-9_-]{43}$/);
    expect(pair).not.toContain('0perate');
    expect(attributes).toEqual(['Path=/', 'HttpOnly', 'SameSite=Strict', 'Max-Age=43200']);
    // behind a TLS-terminating proxy
    const https = await login(a, '0perate', { headers: { 'x-forwarded-proto': 'https' } });
    expect(cookieOf(https).attributes).toEqual(['Path=/', 'HttpOnly', 'SameSite=Strict', 'Max-Age=43200', 'Secure']);
    expect(cookieOf(https).pair).not.toBe(pair); // a new session each time
    // never off to another site after the login
    expect((await login(a, '0perate', { next: '//evil.example/x' })).headers.location).toBe('/');
    // JSON in, JSON out (scripts), with the CSRF token the session's writes need
    const json = await a.apiApp.inject({ method: 'POST', url: '/login', payload: { token: '0perate' } });
    expect(json.statusCode).toBe(200);
    expect(json.json()).toMatchObject({
      caller: 'oncall-alice',
      scopes: ['read', 'operate'],
      csrf: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    // a login from another site's page is refused
    const crossSite = await login(a, '0perate', { headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.statusCode).toBe(403);
    expect(crossSite.headers['set-cookie']).toBeUndefined();
  });

  it('the cookie reads the API and the pages; the cookie of another agent (replica) does not', async () => {
    const { a } = agent('', { auth: TOKENS });
    const { b } = { b: agent('', { auth: TOKENS }).a };
    const { cookie, csrf } = await session(a, 'r3ad-only');
    expect((await a.apiApp.inject({ url: '/api/v1/analyses', headers: { cookie } })).statusCode).toBe(200);
    const page = await a.apiApp.inject({ url: '/analyses/cart%3A2', headers: { cookie } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.body).toContain(`<meta name="vigil-csrf" content="${csrf}">`);
    expect(page.body).toContain('<body data-page="analysis" data-analysis="cart:2">');
    expect(page.body).toContain('<input type="hidden" name="csrf"'); // the logout form
    expect((await b.apiApp.inject({ url: '/api/v1/analyses', headers: { cookie } })).statusCode).toBe(401);
    expect((await b.apiApp.inject({ url: '/', headers: { cookie } })).statusCode).toBe(303);
  });

  it('an operate-only token cannot read the dashboard: its login says so (403), and it opens no session', async () => {
    const { a } = agent('', { auth: TOKENS });
    const res = await login(a, 'act-only');
    expect(res.statusCode).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toContain('The token bot cannot read the dashboard: it needs the read scope.');
  });
});

describe('writes authenticated by the cookie', () => {
  it('need the CSRF token in x-vigil-csrf (403 without, or with a wrong one) and this origin; then they go through', async () => {
    const { a, auditPath } = agent('', { auth: TOKENS });
    await running(a);
    const { cookie, csrf } = await session(a, '0perate');
    const refused = [
      await pause(a, { cookie }),
      await pause(a, { cookie, 'x-vigil-csrf': `${csrf.slice(1)}x` }),
      await pause(a, { cookie, 'x-vigil-csrf': '' }),
      await pause(a, { cookie, 'x-vigil-csrf': csrf, 'sec-fetch-site': 'cross-site' }),
      await pause(a, { cookie, 'x-vigil-csrf': csrf, 'sec-fetch-site': 'same-site' }),
      await pause(a, { cookie, 'x-vigil-csrf': csrf, origin: 'https://evil.example' }),
      await pause(a, { cookie, 'x-vigil-csrf': csrf, origin: 'null' }),
    ];
    for (const r of refused) {
      expect(r.statusCode).toBe(403);
      expect(r.json().error).toBe('forbidden');
    }
    expect(refused[0]!.json().message).toMatch(/CSRF token in x-vigil-csrf/);
    expect(refused[3]!.json().message).toMatch(/a cross-site request with the session cookie is refused/);
    expect(refused[5]!.json().message).toMatch(/another origin/);
    expect(existsSync(auditPath) ? auditEntries(auditPath).filter((e) => e.type === 'pause') : []).toEqual([]);

    // the dashboard's own fetch: same origin, the token in the header
    const ok = await pause(a, {
      cookie,
      'x-vigil-csrf': csrf,
      'sec-fetch-site': 'same-origin',
      origin: `http://${HOST}`,
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ action: 'pause', changed: true, analysis: { paused: { by: 'alice <oncall>' } } });
    expect(auditEntries(auditPath).filter((e) => e.type === 'pause')).toEqual([
      expect.objectContaining({
        analysis: 'cart:2',
        by: 'alice <oncall>',
        reason: 'checking the "payments" <alert>',
        token: 'oncall-alice',
      }),
    ]);
    // reads by cookie need no CSRF token
    expect((await a.apiApp.inject({ url: '/api/v1/analyses/cart:2', headers: { cookie } })).statusCode).toBe(200);
  });

  it('a bearer token needs no CSRF token (it is not an ambient credential)', async () => {
    const { a, auditPath } = agent('', { auth: TOKENS });
    await running(a);
    const res = await pause(a, { authorization: 'Bearer 0perate', origin: 'https://elsewhere.example' });
    expect(res.statusCode).toBe(200);
    expect(auditEntries(auditPath).filter((e) => e.type === 'pause')).toHaveLength(1);
  });

  it('a read-only session: no action form on the page, and 403 on an action even with the CSRF token', async () => {
    const { a } = agent('', { auth: TOKENS });
    await running(a);
    const viewer = await session(a, 'r3ad-only');
    const page = (await a.apiApp.inject({ url: '/analyses/cart%3A2', headers: { cookie: viewer.cookie } })).body;
    expect(page).not.toContain('id="actions-form"');
    expect(page).not.toMatch(/<button class="act/);
    expect(page).toContain('Read only: the token viewer has the scopes [read]');
    const refused = await pause(a, { cookie: viewer.cookie, 'x-vigil-csrf': viewer.csrf });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().message).toMatch(/token viewer has the scopes \[read\]; this needs operate/);

    const operator = await session(a, '0perate');
    const actions = (await a.apiApp.inject({ url: '/analyses/cart%3A2', headers: { cookie: operator.cookie } })).body;
    expect(actions).toContain('id="actions-form"');
    expect(actions).toContain('<input name="by" required maxlength="200" value="oncall-alice"');
    expect(
      [...actions.matchAll(/<button class="act[^"]*" type="submit" name="action" value="(\w+)"/g)].map((m) => m[1]),
    ).toEqual(['pause', 'resume', 'rollback', 'promote', 'approve']);
    // the approval button shows only while a promotion plan waits for one (dashboard.js)
    expect(actions).toMatch(/value="approve" id="approve-button" hidden/);
  });
});

describe('logout, limits, modes', () => {
  it('logout needs the CSRF token, clears the cookie, and the session is gone', async () => {
    const { a } = agent('', { auth: TOKENS });
    const { cookie, csrf } = await session(a, '0perate');
    const logout = (payload: string) =>
      a.apiApp.inject({ method: 'POST', url: '/logout', headers: { ...FORM, cookie, host: HOST }, payload });
    expect((await logout('')).statusCode).toBe(403);
    expect((await a.apiApp.inject({ url: '/api/v1/analyses', headers: { cookie } })).statusCode).toBe(200);
    const out = await logout(`csrf=${csrf}`);
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/login');
    expect(out.headers['set-cookie']).toBe('vigil_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0');
    expect((await a.apiApp.inject({ url: '/api/v1/analyses', headers: { cookie } })).statusCode).toBe(401);
  });

  it('failed logins are limited per address: past 10 in a minute, 429 even with the right token; other addresses log in', async () => {
    const { a } = agent('', { auth: TOKENS });
    for (let i = 0; i < 10; i++) expect((await login(a, `guess-${i}`, { from: '10.0.0.7' })).statusCode).toBe(401);
    const limited = await login(a, '0perate', { from: '10.0.0.7' });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['set-cookie']).toBeUndefined();
    expect(limited.body).toMatch(/Too many failed logins from this address/);
    expect((await login(a, '0perate', { from: '10.0.0.8' })).statusCode).toBe(303);
  });

  it('server.auth.open: no login; the pages answer, /login goes to the dashboard', async () => {
    const { a } = agent('', { auth: '{ open: true }' });
    const page = await a.apiApp.inject('/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('open API (server.auth.open): no login');
    expect((await a.apiApp.inject('/login')).headers.location).toBe('/');
  });

  it('no token and not open: the pages are refused like the API (401), and nobody can log in', async () => {
    const { a } = agent('', { auth: '{ tokens: [] }' });
    expect((await a.apiApp.inject('/')).statusCode).toBe(401);
    expect((await login(a, 'anything')).statusCode).toBe(401);
  });
});

describe('the pages and their files', () => {
  it('scripts are same-origin files under a versioned, immutable URL; no inline script; the CSP allows exactly that', async () => {
    const { a } = agent('', { auth: '{ open: true }' });
    const csp = SECURITY_HEADERS['content-security-policy']!;
    expect(csp.split('; ')).toEqual(
      expect.arrayContaining([
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
      ]),
    );
    expect(csp).not.toMatch(/unsafe-eval|script-src[^;]*unsafe-inline/);
    const pages = [
      await a.apiApp.inject('/'),
      await a.apiApp.inject('/analyses/x%3A1'),
      await a.apiApp.inject('/login'),
    ];
    for (const p of pages) expect(p.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const src = /<script type="module" src="(\/assets\/([0-9a-f]{12})\/dashboard\.js)"><\/script>/.exec(pages[0]!.body);
    expect(src).not.toBeNull();
    const version = src![2]!;
    for (const file of ['dashboard.js', 'views.js', 'plot.js', 'dashboard.css', 'icon.svg']) {
      const res = await a.apiApp.inject(`/assets/${version}/${file}`);
      expect(res.statusCode, file).toBe(200);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-security-policy']).toBe(csp);
    }
    expect((await a.apiApp.inject(`/assets/${version}/dashboard.js`)).headers['content-type']).toBe(
      'text/javascript; charset=utf-8',
    );
    expect((await a.apiApp.inject('/assets/000000000000/dashboard.js')).statusCode).toBe(404);
    expect((await a.apiApp.inject(`/assets/${version}/../../package.json`)).statusCode).toBe(404);
    // small: the page and everything it loads, before compression
    const sizes = assetSizes();
    const total = Object.values(sizes).reduce((x, y) => x + y, 0) + pages[1]!.body.length;
    console.log(
      `[dashboard] analysis page ${pages[1]!.body.length} B, assets ${JSON.stringify(sizes)}, total ${total} B`,
    );
    expect(total).toBeLessThan(64 * 1024);
  });
});
