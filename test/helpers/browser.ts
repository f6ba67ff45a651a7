/**
 * A real browser for the page tests: Debian's `chromium` (/usr/bin/chromium, installed by `npm test` when
 * absent: scripts/test.sh) driven by playwright-core, headless, in a fresh temporary profile (playwright's own),
 * with nothing that reaches out on its own: this machine's network is closed, and without these flags Chromium
 * tries Google's hosts at every start (sync, component updates, background networking, QUIC).
 *
 * A missing Chromium follows the real-peer rule of the suite (see `chromiumPrerequisite`): under `npm test` or
 * CI (VIGIL_TEST_REQUIRE_PEERS or CI set) a page test fails with what to install; a bare `vitest run` skips it.
 */
import { accessSync, constants } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox', // the tests run as root, where Chromium's sandbox refuses to start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

const MISSING = `Chromium is not installed at ${CHROMIUM_PATH}: the page tests need it (Debian: apt-get install chromium; npm test installs it)`;

/** Whether Debian's Chromium is there to run. */
export function chromiumInstalled(): boolean {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Why the page tests cannot run here, when they must (npm test, CI) and Chromium is absent; undefined otherwise
 *  (installed, or a bare vitest run that skips them). */
export function chromiumPrerequisite(): string | undefined {
  if (chromiumInstalled()) return undefined;
  return process.env.CI || process.env.VIGIL_TEST_REQUIRE_PEERS ? MISSING : undefined;
}

/** Launches headless Chromium; the caller closes it (`browser.close()`). */
export async function launchBrowser(): Promise<Browser> {
  if (!chromiumInstalled()) throw new Error(MISSING);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS] });
}
