/**
 * The dashboard as a person uses it, in a real browser (headless Debian Chromium through playwright-core), against a
 * running agent with scoped tokens and real traces from the OpenTelemetry JS SDK (OTLP/HTTP protobuf) with explicit
 * event times:
 *   - checkout: the canary fails 15% of its requests against the baseline's 1%: rolled back (a reddish row), its
 *     plan (two noop steps) listed under the decision marked on every plot;
 *   - search: a healthy canary whose pipeline stalls 30 s (event time) while the baseline goes on; the stalled spans,
 *     delivered after their looks closed, are counted late (`late:`, a `used:` share below 100%); it keeps running,
 *     so its plots grow as more traffic arrives, and it is paused from the page;
 *   - two services named `<script>alert(1)</script>` and `<img src=x onerror=alert(1)>`: shown as text, no dialog.
 * The person logs in through the form with a token (no header injected), never reloads, and every page keeps
 * itself up to date by polling the JSON API. Screenshots go to bench-results/ (not committed) for a look by eye;
 * docs/images/ comes from `npm run screenshots`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisSnapshot } from '../../src/analysis/analysis-types.js';
import type { TrafficGenerator } from '../../src/demo/traffic-generator.js';
import { auditEntries } from '../helpers/api-agent.js';
import { chromiumInstalled, chromiumPrerequisite, launchBrowser } from '../helpers/browser.js';
import { startTestAgent, type StartedAgent } from '../helpers/test-agent.js';
import { cohortTraffic } from '../helpers/traffic.js';

/** What the page functions use of the browser's window (tsconfig has no DOM library). */
interface PageWindow {
  getComputedStyle(el: unknown): { backgroundColor: string };
}

/** The text nodes of the list's cells, but the why column's, that the browser broke over more than one line box. */
const WRAPPED_LINES = `[...document.querySelectorAll('table.analyses td:not(.why)')].flatMap((td) => {
  const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const r = document.createRange();
    r.selectNodeContents(n);
    if (r.getClientRects().length > 1) out.push(n.textContent);
  }
  return out;
})`;

const TOKEN = 'dash-t0ken';
const VIEWER = 'v1ew-only';
const INTERVAL = 10_000;
const STEP = 5_000; // the SDK's default export interval
const PER_STEP = 100; // requests per cohort per 5 s
const STEPS = 16; // 80 s of event time: 8 looks
const STALL = { from: 4, to: 10 }; // search's canary sends nothing for steps [4, 10) (30 s), then all of them at once
const HOSTILE = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>'];

describe('dashboard prerequisites', () => {
  it('Chromium is installed (npm test and CI must run the page tests; a bare vitest run skips them without it)', () => {
    const missing = chromiumPrerequisite();
    if (missing) throw new Error(missing);
  });
});

describe.runIf(chromiumInstalled())('the dashboard in headless Chromium', () => {
  let started: StartedAgent;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const navigations: string[] = [];
  const generators = new Map<string, TrafficGenerator>();
  const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL - 30 * INTERVAL; // in the past: no span dated in the future

  /** Set when the test logs out: a poll already on its way may then get its 401 (the page aborts the others). */
  let loggedOut = false;
  /** The failed answers the tests ask for: a wrong token at the login (401), a pause of a decided analysis (409). */
  const expected = (status: number, url: string) =>
    (status === 401 && url === `${started.apiUrl}/login`) ||
    (status === 409 && url.endsWith('/pause')) ||
    (status === 401 && loggedOut && url.startsWith(`${started.apiUrl}/api/`));

  /** Fails the test on anything the browser complains about, and on any dialog (an XSS would alert). */
  function watch(p: Page): void {
    p.on('console', (m) => {
      const status = /the server responded with a status of (\d+)/.exec(m.text())?.[1];
      if (status && expected(Number(status), m.location().url)) return;
      if (m.type() === 'error' || m.type() === 'warning')
        problems.push(`${m.type()}: ${m.text()} (${m.location().url})`);
    });
    p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    p.on('dialog', (d) => {
      problems.push(`dialog ${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
  }

  beforeAll(async () => {
    started = await startTestAgent(
      `analysis: { interval: 10s, minSamples: 25, maxDuration: 30m, sourceIdleTimeout: 10s }
server: { auth: { tokens: [ { name: alice, token: "${TOKEN}", scopes: [read, operate] }, { name: viewer, token: "${VIEWER}", scopes: [read] } ] } }
connectors:
  - { name: flag-off, type: noop, options: { kind: flag } }
  - { name: shift-traffic, type: noop, options: { kind: traffic } }
plan: [flag-off, shift-traffic]
rollouts:
  - { service: promo, promote: { via: shift-traffic, steps: [10, 100], minLooksPerStep: 1, approve: [100] } }
`,
      'dashboard',
    );
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    watch(page);
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations.push(f.url());
    });
    page.on('response', (r) => {
      if (r.status() >= 400 && !expected(r.status(), r.url())) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const g of generators.values()) await g.shutdown();
    await started?.agent.stop();
  });

  function generator(service: string, canaryErrorRate: number, seed: number): TrafficGenerator {
    let g = generators.get(service);
    if (!g) {
      g = cohortTraffic({ otlpHttpUrl: started.otlpHttpUrl, service, canaryErrorRate, seed });
      generators.set(service, g);
    }
    return g;
  }

  const snap = (id: string): AnalysisSnapshot => {
    const a = started.agent.registry.get(id);
    if (!a) throw new Error(`no analysis ${id}`);
    return a;
  };

  /** The list's row of an analysis, and the text of each of its cells. */
  async function row(id: string): Promise<{ tr: Locator; cells: string[] }> {
    const tr = page.locator(`tr[data-analysis="${id.replace(/["\\]/g, '\\$&')}"]`);
    await expect.poll(() => tr.count()).toBe(1);
    return { tr, cells: await tr.locator('td').allInnerTexts() };
  }

  /** The row's background colour as the browser computed it (the page's own window, not Node's). */
  const background = (tr: Locator): Promise<string> =>
    tr.evaluate((el) => (globalThis as unknown as PageWindow).getComputedStyle(el).backgroundColor);

  /** How many points the requests plot draws for the canary. */
  const canaryPoints = () => page.locator('svg[data-plot="requests"] g[data-series="canary"] circle').count();

  it('sends a browser without a session to the login form; the token typed there opens the list (empty at first)', async () => {
    const res = await page.goto(started.apiUrl);
    expect(page.url()).toBe(`${started.apiUrl}/login?next=%2F`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toMatch(/^default-src 'none'; script-src 'self';/);
    // a wrong token: the form again, 401, one sentence
    await page.fill('input[name="token"]', 'not-it');
    const [wrong] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/login')), page.click('button')]);
    expect(wrong.status()).toBe(401);
    expect(await page.locator('p.error').innerText()).toBe('That token was not accepted.');
    await page.fill('input[name="token"]', TOKEN);
    await Promise.all([page.waitForURL(`${started.apiUrl}/`), page.click('button')]);
    const cookies = await context.cookies();
    expect(cookies).toEqual([
      expect.objectContaining({ name: 'vigil_session', httpOnly: true, sameSite: 'Strict', path: '/' }),
    ]);
    expect(cookies[0]!.value).not.toContain(TOKEN);
    expect(await page.title()).toBe('Vigil');
    expect(await page.locator('.who').innerText()).toBe('alice · read, operate');
    await expect
      .poll(() => page.locator('#analyses').innerText())
      .toBe('No analysis yet: Vigil starts one when a service shows both a canary and a baseline cohort.');
    await expect.poll(() => page.locator('#live').getAttribute('class')).toBe('live ok');
  });

  it('after real telemetry, without a reload: one row per analysis agreeing with the API, newest first, coloured by phase', async () => {
    const checkout = generator('checkout', 0.15, 41);
    const search = generator('search', 0.01, 42);
    const hostile = HOSTILE.map((name, i) => generator(name, 0.01, 50 + i));
    const stalled = (k: number) => k >= STALL.from && k < STALL.to;
    for (let k = 0; k < STEPS; k++) {
      const from = t0 + k * STEP;
      await checkout.emit(from, STEP, { baseline: PER_STEP, canary: PER_STEP });
      await search.emit(from, STEP, { baseline: PER_STEP, canary: stalled(k) ? 0 : PER_STEP });
      for (const g of hostile) await g.emit(from, STEP, { baseline: PER_STEP / 2, canary: PER_STEP / 2 });
      // the stalled pipeline delivers its backlog: older than the looks closed without it
      if (k === STALL.to - 1)
        for (let j = STALL.from; j < STALL.to; j++)
          await search.emit(t0 + j * STEP, STEP, { baseline: 0, canary: PER_STEP });
    }
    await started.agent.settle();
    const bad = snap('checkout:1.1.0');
    const good = snap('search:1.1.0');
    expect(bad.phase).toBe('rollback');
    expect(good.phase).toBe('running');
    expect(good.late.canary).toBeGreaterThan(0);

    const navigated = navigations.length;
    await expect.poll(() => page.locator('tr[data-analysis]').count(), { timeout: 10_000 }).toBe(4);
    // the page polled while the telemetry went in: wait for a poll that saw it all (the last looks, the decision)
    const shown = async (id: string) => (await row(id)).cells.slice(0, 5);
    await expect
      .poll(() => shown(bad.id), { timeout: 10_000 })
      .toEqual(['rollback', 'checkout', '1.1.0 vs 1.0.0', expect.stringMatching(/ (s|min)$/), String(bad.look)]);
    await expect
      .poll(() => shown(good.id), { timeout: 10_000 })
      .toEqual(['running', 'search', '1.1.0 vs 1.0.0', expect.stringMatching(/ (s|min)$/), String(good.look)]);
    expect(navigations).toHaveLength(navigated); // drawn by the page itself: no reload
    // what the API answers the browser's session
    const api = await page.evaluate(async () => {
      const res = await fetch('/api/v1/analyses', { credentials: 'same-origin' });
      return (await res.json()) as { analyses: AnalysisSnapshot[] };
    });
    const newestFirst = [...api.analyses].sort((x, y) => y.startedAtUnixMs - x.startedAtUnixMs).map((a) => a.id);
    expect(
      await page.locator('tr[data-analysis]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-analysis'))),
    ).toEqual(newestFirst);
    const pct = (n: number, late: number) => `${((n / (n + late)) * 100).toFixed(1)}%`;

    const rb = await row(bad.id);
    expect(rb.cells[5]!.split('\n')).toEqual([
      `${bad.totals.canary.requests} / ${bad.totals.baseline.requests}`,
      `errors ${bad.totals.canary.errors} / ${bad.totals.baseline.errors}`,
    ]);
    expect(rb.cells[6]).toBe('100.0% / 100.0%');
    expect(rb.cells[7]).toBe(`rollback look ${bad.look}`);
    expect(rb.cells[8]).toBe(bad.why);
    expect(await rb.tr.getAttribute('class')).toBe('rollback');
    expect(await background(rb.tr)).toBe('rgb(255, 245, 245)');

    const ok = await row(good.id);
    expect(ok.cells[6]!.split('\n')).toEqual([
      `${pct(good.totals.canary.requests, good.late.canary)} / 100.0%`,
      `late: ${good.late.canary} / 0`,
    ]);
    expect(ok.cells[7]).toBe('–');
    expect(ok.cells[8]).toBe(good.why);
    expect(await ok.tr.getAttribute('class')).toBe('running');
    expect(await background(ok.tr)).toBe('rgba(0, 0, 0, 0)');
    // each line of a cell but the why stays whole: a `used:` share broken over two lines reads wrong
    expect(await page.evaluate<string[]>(WRAPPED_LINES)).toEqual([]);

    mkdirSync('bench-results', { recursive: true });
    await page.screenshot({ path: join('bench-results', 'dashboard-list.png'), fullPage: true });
  }, 90_000);

  it('names from telemetry stay text: <script> and <img onerror> services are shown literally and run nothing', async () => {
    for (const name of HOSTILE) {
      const link = page.locator('td.service a', { hasText: name });
      await expect.poll(() => link.count()).toBe(1);
      expect(await link.innerText()).toBe(name);
      expect(await link.getAttribute('href')).toBe(`/analyses/${encodeURIComponent(`${name}:1.1.0`)}`);
    }
    const count = (sel: string) => page.locator(sel).count();
    expect(await count('img')).toBe(0);
    expect(await count('script:not([src])')).toBe(0);
    // and on its own page, heading and title
    await page.locator('td.service a', { hasText: HOSTILE[1]! }).click();
    await page.waitForURL(`${started.apiUrl}/analyses/${encodeURIComponent(`${HOSTILE[1]!}:1.1.0`)}`);
    await expect.poll(() => page.locator('#summary h1').innerText()).toBe(HOSTILE[1]);
    expect(await page.title()).toBe(`${HOSTILE[1]} 1.1.0 · Vigil`);
    await page.locator('svg[data-plot="requests"]').waitFor();
    expect(await count('img')).toBe(0);
    await page.goto(`${started.apiUrl}/analyses/${encodeURIComponent(`${HOSTILE[0]!}:1.1.0`)}`);
    await expect.poll(() => page.locator('#summary h1').innerText()).toBe(HOSTILE[0]);
    expect(await count('script:not([src])')).toBe(0);
    expect(problems.filter((p) => p.startsWith('dialog'))).toEqual([]);
  });

  it('the page of a live analysis plots its looks, and the plots grow as new looks arrive, without a reload', async () => {
    await page.goto(`${started.apiUrl}/analyses/${encodeURIComponent('search:1.1.0')}`);
    const looks = () => started.agent.registry.history('search:1.1.0')?.length ?? 0;
    const before = looks();
    expect(before).toBeGreaterThanOrEqual(6);
    await expect.poll(canaryPoints, { timeout: 10_000 }).toBe(before);
    const plots = await page
      .locator('svg[data-plot]')
      .evaluateAll((svgs) => svgs.map((s) => s.getAttribute('data-plot')));
    expect(plots).toEqual(expect.arrayContaining(['estimate:error-rate', 'estimate:latency', 'p-values', 'requests']));
    // every plot has a drawn line with a point per look, on one time axis
    for (const name of ['estimate:error-rate', 'p-values', 'requests']) {
      const d = await page.locator(`svg[data-plot="${name}"] g.series path`).first().getAttribute('d');
      expect(d).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/);
    }
    expect(await page.locator('svg[data-plot="estimate:error-rate"] .rule').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^threshold /)]),
    );
    expect(await page.locator('svg[data-plot="p-values"] .rule').allTextContents()).toEqual([
      expect.stringMatching(/^α /),
    ]);
    expect(
      await page.locator('svg[data-plot="requests"] g[data-series="canary"] circle title').first().textContent(),
    ).toMatch(/^look \d+ · \d\d:\d\d:\d\d UTC\ncanary: \d+ requests, \d+ failed$/);

    const navigated = navigations.length;
    const search = generator('search', 0.01, 42);
    for (let k = STEPS; k < STEPS + 6; k++)
      await search.emit(t0 + k * STEP, STEP, { baseline: PER_STEP, canary: PER_STEP });
    await started.agent.settle();
    const after = looks();
    expect(after).toBeGreaterThan(before);
    await expect.poll(canaryPoints, { timeout: 10_000 }).toBe(after);
    expect(await page.locator('svg[data-plot="p-values"] g[data-series="error-rate"] circle').count()).toBe(after);
    expect(navigations).toHaveLength(navigated);
  }, 60_000);

  it('a pause with a reason, clicked on the page, lands in the audit log verbatim and the page shows it paused', async () => {
    const reason = 'checking the "search" latency <alert> & the p99 before it promotes';
    expect(await page.inputValue('input[name="by"]')).toBe('alice');
    await page.fill('input[name="by"]', 'Alice <on call>');
    await page.fill('textarea[name="reason"]', reason);
    await page.click('button[value="pause"]');
    await expect.poll(() => page.locator('form.actions output').innerText()).toBe('Done: paused by Alice <on call>.');
    await expect
      .poll(() => page.locator('#paused-banner').innerText())
      .toContain(`Paused by Alice <on call>: ${reason}`);
    expect(await page.locator('#summary .badge.paused').innerText()).toBe('paused');
    const pauses = auditEntries(join(started.dir, 'audit.jsonl')).filter((e) => e.type === 'pause');
    expect(pauses).toEqual([
      expect.objectContaining({ analysis: 'search:1.1.0', by: 'Alice <on call>', reason, token: 'alice' }),
    ]);
    expect(snap('search:1.1.0').paused).toMatchObject({ by: 'Alice <on call>', reason });
    // the list shows the marker too
    await page.click('a:text-is("← Analyses")');
    await expect.poll(async () => (await row('search:1.1.0')).cells[0]).toBe('running paused');
  });

  it('the rolled-back analysis: its decision on every plot, its plan listed; an action that does not apply says why (409)', async () => {
    await page.locator('td.service a', { hasText: 'checkout' }).click();
    const bad = snap('checkout:1.1.0');
    await page.locator('#decision-card ol.plan').waitFor();
    expect(await page.locator('#decision-card ol.plan li code').allInnerTexts()).toEqual(['flag-off', 'shift-traffic']);
    expect(await page.locator('#decision-card h2').innerText()).toMatch(/^Decision rollback/);
    const plots = await page.locator('svg[data-plot]').count();
    expect(plots).toBeGreaterThanOrEqual(4);
    // on every plot: the decision, then its plan's two steps at their delay after it (from the decision's report)
    await expect.poll(() => page.locator('svg[data-plot] g.marker').count(), { timeout: 15_000 }).toBe(3 * plots);
    const labels = await page
      .locator('svg[data-plot] g.marker')
      .evaluateAll((gs) => gs.map((g) => g.getAttribute('data-marker')));
    for (let i = 0; i < plots; i++) {
      expect(labels.slice(3 * i, 3 * i + 3)).toEqual([
        `rollback · look ${bad.look}`,
        expect.stringMatching(/^step 1 flag-off: done \+[0-9.]+ (ms|s)$/),
        expect.stringMatching(/^step 2 shift-traffic: done \+[0-9.]+ (ms|s)$/),
      ]);
    }
    expect(await page.locator('#decision-card ol.plan li .step').allInnerTexts()).toEqual([
      expect.stringMatching(/^ ?done \+/),
      expect.stringMatching(/^ ?done \+/),
    ]);
    await page.fill('textarea[name="reason"]', 'too late, it is decided');
    await page.click('button[value="pause"]');
    await expect
      .poll(() => page.locator('form.actions output').innerText())
      .toMatch(/^409: analysis checkout:1\.1\.0 is already decided \(rollback/);
    expect(await page.locator('form.actions output').getAttribute('class')).toBe('answer error');
    await page.screenshot({ path: join('bench-results', 'dashboard-analysis.png'), fullPage: true });
    // the decision's report opens with the same session (an /api route, HTML for a browser)
    const [report] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/v1/decisions/${bad.decisionId}/report`)),
      page.click('#decision-card a:text-is("report")'),
    ]);
    expect(report.status()).toBe(200);
    expect(report.headers()['content-type']).toBe('text/html; charset=utf-8');
    expect(await page.locator('body').innerText()).toContain('checkout');
    await page.goBack();
  });

  it('the list shows the last rollback drill of each service, recorded through the API', async () => {
    const res = await fetch(`${started.apiUrl}/api/v1/drills`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'payments', by: 'alice', reason: 'weekly rollback drill' }),
    });
    expect(res.status).toBe(200);
    await page.goto(started.apiUrl);
    await expect
      .poll(() => page.locator('#drills li').allInnerTexts(), { timeout: 10_000 })
      .toEqual([expect.stringMatching(/^payments: last drill \d+ s ago, passed in [\d.]+ s$/)]);
  });

  it('a promotion plan waiting for an approval: its steps and banner on the page; Approve step records who and why', async () => {
    const promo = generator('promo', 0.01, 7);
    const emit = async (from: number, to: number) => {
      for (let k = from; k < to; k++) await promo.emit(t0 + k * STEP, STEP, { baseline: PER_STEP, canary: PER_STEP });
      await started.agent.settle();
    };
    const promotion = () => started.agent.registry.get('promo:1.1.0')?.promotion;
    // 10% after the first look, then the 100% gate once 10% had its look and samples
    await emit(0, 8);
    await expect.poll(() => promotion()?.awaiting, { timeout: 10_000 }).toBe(100);
    await page.goto(`${started.apiUrl}/analyses/${encodeURIComponent('promo:1.1.0')}`);
    await expect
      .poll(() => page.locator('#awaiting-banner').innerText(), { timeout: 10_000 })
      .toContain('Waiting for an approval of 100%');
    expect(await page.locator('#promotion li.step').allInnerTexts()).toEqual(['10%', '100% (approval?)']);
    expect(await page.locator('#promotion li.step.current').innerText()).toBe('10%');
    expect(await page.locator('#approve-button').isVisible()).toBe(true);
    const reason = 'error budget fine at 10%: go to 100';
    await page.fill('textarea[name="reason"]', reason);
    await page.click('#approve-button');
    await expect
      .poll(() => page.locator('form.actions output').innerText())
      .toBe('Done: 100% approved by alice; the plan sets it at its next look.');
    const approvals = auditEntries(join(started.dir, 'audit.jsonl')).filter((e) => e.type === 'approve');
    expect(approvals).toEqual([
      expect.objectContaining({ analysis: 'promo:1.1.0', share: 100, by: 'alice', reason, token: 'alice' }),
    ]);
    await expect.poll(() => page.locator('#approve-button').isVisible()).toBe(false);
    // the next looks set 100%: the page shows it in place, approved
    await emit(8, 12);
    await expect.poll(() => promotion()?.share, { timeout: 10_000 }).toBe(100);
    await expect
      .poll(() => page.locator('#promotion li.step.current').innerText(), { timeout: 10_000 })
      .toBe('100% ✓ approved');
  });

  it('a read-only token sees the plots but no action buttons', async () => {
    const other = await browser.newContext();
    const viewer = await other.newPage();
    watch(viewer);
    await viewer.goto(`${started.apiUrl}/analyses/${encodeURIComponent('search:1.1.0')}`);
    await viewer.fill('input[name="token"]', VIEWER);
    await Promise.all([viewer.waitForURL(/\/analyses\//), viewer.click('button')]);
    await viewer.locator('svg[data-plot="requests"]').waitFor();
    expect(await viewer.locator('button.act').count()).toBe(0);
    expect(await viewer.locator('#read-only').innerText()).toMatch(
      /^Read only: the token viewer has the scopes \[read\]/,
    );
    await other.close();
  });

  it('logs out: the session ends, the pages send the browser back to the form', async () => {
    loggedOut = true;
    await Promise.all([page.waitForURL(`${started.apiUrl}/login`), page.click('header button')]);
    expect(await context.cookies()).toEqual([]);
    await page.goto(started.apiUrl);
    expect(page.url()).toBe(`${started.apiUrl}/login?next=%2F`);
  });

  it('logged no console error or warning, no failed request, and no dialog', () => {
    expect(problems).toEqual([]);
  });
});
