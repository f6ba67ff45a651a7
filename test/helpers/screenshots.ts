/**
 * `npm run screenshots`: the dashboard's pictures in docs/images/, taken from a real agent fed real SDK traffic and
 * opened in headless Chromium (test/helpers/browser.ts), logged in through the form:
 *   - dashboard-list.png: the analyses (a rollback, a running canary, a paused one);
 *   - dashboard-analysis.png: the rolled-back analysis's page (its plots over looks, the decision and its plan).
 * Event times start ten minutes before the run (the ages read as during a rollout); the rest is seeded.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './browser.js';
import { decodePng, encodeIndexedPng } from './png-palette.js';
import { startTestAgent, type StartedAgent } from './test-agent.js';
import { cohortTraffic } from './traffic.js';

const TOKEN = 'screenshot-t0ken';
const OUT = 'docs/images';
/** Ten minutes ago, on a whole minute: the pages read as they would during a rollout. */
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 600_000;
const STEP = 5_000;

export const SCREENSHOT_CONFIG = `analysis: { interval: 10s, minSamples: 25, maxDuration: 30m, sourceIdleTimeout: 10s }
server: { auth: { tokens: [ { name: alice, token: "${TOKEN}", scopes: [read, operate] } ] } }
connectors:
  - { name: flag-off, type: noop, options: { kind: flag } }
  - { name: shift-traffic, type: noop, options: { kind: traffic } }
plan: [flag-off, shift-traffic]
`;

/** Real traffic: checkout's canary fails 6% of its requests (rolled back after some looks), search and cart are
 *  healthy and keep running; cart is paused by a person. */
export async function feed(started: StartedAgent, steps: number): Promise<void> {
  const services = [
    { name: 'checkout', errors: 0.06, seed: 7 },
    { name: 'search', errors: 0.01, seed: 8 },
    { name: 'cart', errors: 0.012, seed: 9 },
  ];
  for (const s of services) {
    const g = cohortTraffic({
      otlpHttpUrl: started.otlpHttpUrl,
      service: s.name,
      canaryErrorRate: s.errors,
      seed: s.seed,
    });
    for (let k = 0; k < steps; k++) {
      const n = 160 + ((k * 37) % 50);
      await g.emit(T0 + k * STEP, STEP, { baseline: n, canary: Math.round(n * 0.9) });
    }
    await g.shutdown();
  }
  await started.agent.settle();
}

/** Logs in through the form, as a person would. */
export async function logIn(page: Page, apiUrl: string, token: string): Promise<void> {
  await page.goto(`${apiUrl}/`);
  await page.waitForURL(/\/login/);
  await page.fill('input[name="token"]', token);
  await Promise.all([page.waitForURL(`${apiUrl}/`), page.click('button[type="submit"]')]);
}

async function main(): Promise<void> {
  const started = await startTestAgent(SCREENSHOT_CONFIG, 'screenshots');
  // grey anti-aliasing rather than coloured (LCD) text fringes: the same pictures in far fewer colours and bytes
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, '--disable-lcd-text', '--force-color-profile=srgb'],
  });
  try {
    await feed(started, 24);
    const cart = started.agent.registry.list().find((a) => a.service === 'cart');
    if (cart)
      started.agent.registry.operate(cart.id, 'pause', {
        by: 'alice',
        reason: 'checking a dashboard alert before it promotes',
        token: 'alice',
        atUnixMs: Date.now(),
      });
    const page = await browser.newPage({ viewport: { width: 1280, height: 480 } });
    await logIn(page, started.apiUrl, TOKEN);
    await page.locator('table.analyses tbody tr').first().waitFor();
    mkdirSync(OUT, { recursive: true });
    const list = join(OUT, 'dashboard-list.png');
    await page.screenshot({ path: list, fullPage: true });
    await page.click('a:text-is("checkout")');
    await page.locator('svg[data-plot="requests"]').waitFor();
    const analysis = join(OUT, 'dashboard-analysis.png');
    await page.screenshot({ path: analysis, fullPage: true });
    for (const f of [list, analysis]) {
      writeFileSync(f, encodeIndexedPng(decodePng(readFileSync(f))));
      console.log(`${f}: ${statSync(f).size} bytes`);
    }
  } finally {
    await browser.close();
    await started.agent.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
