/**
 * The dashboard as a person sees it, in a real browser (headless Debian Chromium through playwright-core): a
 * running agent with a bearer token, opened before any telemetry (the empty state), then real traces from the
 * OpenTelemetry JS SDK (OTLP/HTTP protobuf) for two services with explicit event times:
 *   - checkout: the canary fails 15% of its requests against the baseline's 1%: rolled back (a reddish row);
 *   - search: a healthy canary whose pipeline stalls 30 s (event time) while the baseline goes on; past
 *     `analysis.sourceIdleTimeout` (10 s here) the looks close without it, and the stalled spans, delivered
 *     afterwards, arrive for looks already closed: counted late (the `late:` line, a `used:` share below 100%).
 * The page refreshes itself (meta refresh, 5 s) and then shows one row per analysis that agrees with the API.
 * A screenshot goes to bench-results/dashboard.png (not committed) for a look by eye.
 */
import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnalysisSnapshot } from '../../src/analysis/analysis-types.js';
import type { TrafficGenerator } from '../../src/demo/traffic-generator.js';
import { cohortTraffic } from '../helpers/traffic.js';
import { chromiumInstalled, chromiumPrerequisite, launchBrowser } from '../helpers/browser.js';
import { startTestAgent, type StartedAgent } from '../helpers/test-agent.js';

/** What the page functions use of the browser's window (tsconfig has no DOM library). */
interface PageWindow {
  getComputedStyle(el: unknown): { backgroundColor: string };
}

/** The lines (text nodes) of the table's cells, but the last column's (why), that the browser broke over more than
 *  one line box. */
const WRAPPED_LINES = `[...document.querySelectorAll('td:not(:last-child)')].flatMap((td) =>
  [...td.childNodes].filter((n) => {
    if (n.nodeType !== Node.TEXT_NODE) return false;
    const r = document.createRange();
    r.selectNodeContents(n);
    return r.getClientRects().length > 1;
  }).map((n) => n.textContent))`;

const TOKEN = 'dash-t0ken';
const INTERVAL = 10_000;
const STEP = 5_000; // the SDK's default export interval
const PER_STEP = 100; // requests per cohort per 5 s
const STEPS = 16; // 80 s of event time: 8 looks
const STALL = { from: 4, to: 10 }; // search's canary sends nothing for steps [4, 10) (30 s), then all of them at once

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
  const consoleProblems: string[] = [];
  const loads = { n: 0 };
  const generators: TrafficGenerator[] = [];

  beforeAll(async () => {
    started = await startTestAgent(
      `analysis: { interval: 10s, minSamples: 25, maxDuration: 30m, sourceIdleTimeout: 10s }\nserver: { auth: { tokens: ["${TOKEN}"] } }\nplan: []\n`,
      'dashboard',
    );
    browser = await launchBrowser();
    context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${TOKEN}` } });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning')
        consoleProblems.push(`${m.type()}: ${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => consoleProblems.push(`pageerror: ${e.message}`));
    page.on('load', () => loads.n++);
    page.on('response', (r) => {
      if (r.status() >= 400) consoleProblems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const g of generators) await g.shutdown();
    await started?.agent.stop();
  });

  function generator(service: string, canaryErrorRate: number, seed: number): TrafficGenerator {
    const g = cohortTraffic({ otlpHttpUrl: started.otlpHttpUrl, service, canaryErrorRate, seed });
    generators.push(g);
    return g;
  }

  /** The text of each cell of the row whose first cell is `service`. */
  async function row(service: string): Promise<{ tr: Locator; cells: string[] }> {
    const tr = page.locator('tr', { has: page.locator('td:first-child', { hasText: service }) });
    await expect.poll(() => tr.count()).toBe(1);
    return { tr, cells: await tr.locator('td').allInnerTexts() };
  }

  /** The row's background colour as the browser computed it (the page's own window, not Node's). */
  const background = (tr: Locator): Promise<string> =>
    tr.evaluate((el) => (globalThis as unknown as PageWindow).getComputedStyle(el).backgroundColor);

  it('shows the empty state before any analysis, and a refresh every 5 s', async () => {
    const res = await page.goto(started.apiUrl);
    expect(res?.status()).toBe(200);
    // the page works under its Content-Security-Policy: no console error says it blocked anything (afterAll)
    expect(res?.headers()['content-security-policy']).toMatch(/^default-src 'none'; style-src 'unsafe-inline';/);
    expect(res?.headers()['x-frame-options']).toBe('DENY');
    expect(await page.title()).toBe('Vigil');
    expect(await page.locator('h1').innerText()).toBe('Vigil');
    expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('5');
    expect(await page.locator('th').allInnerTexts()).toEqual([
      'service',
      'versions',
      'phase',
      'look',
      'requests canary / baseline',
      'verdicts',
      'why',
    ]);
    const cells = page.locator('td');
    expect(await cells.count()).toBe(1);
    expect(await cells.innerText()).toBe(
      'No analysis yet: Vigil starts one when a service shows both a canary and a baseline cohort.',
    );
  });

  it('after real telemetry, one row per analysis: the rolled-back one reddish, late canary requests counted', async () => {
    const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL - 30 * INTERVAL; // in the past: no span dated in the future
    const checkout = generator('checkout', 0.15, 41);
    const search = generator('search', 0.01, 42);
    const stalled = (k: number) => k >= STALL.from && k < STALL.to;
    for (let k = 0; k < STEPS; k++) {
      const from = t0 + k * STEP;
      await checkout.emit(from, STEP, { baseline: PER_STEP, canary: PER_STEP });
      await search.emit(from, STEP, { baseline: PER_STEP, canary: stalled(k) ? 0 : PER_STEP });
      // the stalled pipeline delivers its backlog: older than the looks closed without it
      if (k === STALL.to - 1)
        for (let j = STALL.from; j < STALL.to; j++)
          await search.emit(t0 + j * STEP, STEP, { baseline: 0, canary: PER_STEP });
    }
    await started.agent.settle();

    const snap = (id: string): AnalysisSnapshot => {
      const a = started.agent.registry.get(id);
      if (!a) throw new Error(`no analysis ${id}`);
      return a;
    };
    const bad = snap('checkout:1.1.0');
    const good = snap('search:1.1.0');
    expect(bad.phase).toBe('rollback');
    expect(good.phase).toBe('running');
    expect(good.late.canary).toBeGreaterThan(0);
    expect(good.late.baseline).toBe(0);
    expect(bad.late).toEqual({ baseline: 0, canary: 0 });

    // no reload by hand: the page that showed the empty state refreshes itself (a request sent from now on sees
    // every analysis as it is now)
    await page.waitForRequest((r) => r.isNavigationRequest(), { timeout: 15_000 });
    const loaded = loads.n;
    await expect.poll(() => loads.n, { timeout: 5_000, interval: 50 }).toBeGreaterThan(loaded);

    expect(await page.locator('tr:has(td)').count()).toBe(2);
    const pct = (n: number, late: number) => `${((n / (n + late)) * 100).toFixed(1)}%`;

    const rb = await row('checkout');
    expect(rb.cells.slice(0, 4)).toEqual(['checkout', '1.1.0 vs 1.0.0', 'rollback', String(bad.look)]);
    expect(rb.cells[4]!.split('\n')).toEqual([
      `${bad.totals.canary.requests} / ${bad.totals.baseline.requests}`,
      'used: 100.0% / 100.0%',
    ]);
    expect(await rb.tr.getAttribute('class')).toBe('rollback');
    expect(await background(rb.tr)).toBe('rgb(253, 232, 232)');
    const badVerdicts = rb.cells[5]!.split('\n');
    expect(badVerdicts).toHaveLength(bad.verdicts.length);
    for (const [i, v] of bad.verdicts.entries())
      expect(badVerdicts[i]).toBe(`${v.metric}${v.shadow ? ' (shadow)' : ''}: ${v.phase} p=${v.pValue.toPrecision(2)}`);
    expect(badVerdicts.some((l) => /^error-rate: \S+ p=/.test(l))).toBe(true);
    expect(rb.cells[6]).toBe(bad.why);

    const ok = await row('search');
    expect(ok.cells.slice(0, 4)).toEqual(['search', '1.1.0 vs 1.0.0', 'running', String(good.look)]);
    expect(ok.cells[4]!.split('\n')).toEqual([
      `${good.totals.canary.requests} / ${good.totals.baseline.requests}`,
      `used: ${pct(good.totals.canary.requests, good.late.canary)} / 100.0%`,
      `late: ${good.late.canary} / 0`,
    ]);
    expect(await ok.tr.getAttribute('class')).toBe('running');
    expect(await background(ok.tr)).toBe('rgba(0, 0, 0, 0)');
    expect(ok.cells[5]!.split('\n')).toHaveLength(good.verdicts.length);
    expect(ok.cells[6]).toBe(good.why);

    // each line of a cell but the why stays whole: a `used:` share or a verdict broken over two lines reads wrong
    expect(await page.evaluate<string[]>(WRAPPED_LINES)).toEqual([]);

    mkdirSync('bench-results', { recursive: true });
    await page.screenshot({ path: 'bench-results/dashboard.png', fullPage: true });

    console.log(
      `[dashboard] checkout rolled back at look ${bad.look}; search look ${good.look}, ${good.late.canary} canary requests late`,
    );
  }, 60_000);

  it('logged no console error or warning, nor any failed request', () => {
    expect(consoleProblems).toEqual([]);
  });

  it('links to the JSON of the analyses and the decisions', async () => {
    // (the token goes along as the context's header)
    const jsonOf = async (link: string) => {
      await page.getByRole('link', { name: link }).click();
      await page.waitForURL(`${started.apiUrl}${link}`);
      return JSON.parse(await page.locator('body').innerText()) as Record<string, { id: string }[]>;
    };
    expect((await jsonOf('/api/v1/analyses')).analyses!.map((a) => a.id).sort()).toEqual([
      'checkout:1.1.0',
      'search:1.1.0',
    ]);
    await page.goBack();
    expect((await jsonOf('/api/v1/decisions')).decisions!.map((d) => d.id)).toEqual([
      started.agent.registry.get('checkout:1.1.0')?.decisionId,
    ]);
  });
});
