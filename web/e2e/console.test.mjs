// Browser test of the console's Overview page against a running berthd.
//
//   BERTH_URL=http://127.0.0.1:8080 npm run e2e
//
// Uses playwright-core with the system Chromium (no browser download).
// Env:
//   BERTH_URL             base URL of the daemon serving the console (required)
//   BERTH_CHROMIUM        Chromium binary (default /usr/bin/chromium)
//   BERTH_E2E_ARTIFACTS   where a failure screenshot goes (default ../target/e2e from web/)

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const WAIT_MS = 10_000;
const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARTIFACTS = process.env.BERTH_E2E_ARTIFACTS
  ? path.resolve(process.env.BERTH_E2E_ARTIFACTS)
  : path.resolve(WEB_DIR, '../target/e2e');
const CHROMIUM = process.env.BERTH_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const BERTH_URL = process.env.BERTH_URL;
if (!BERTH_URL) {
  throw new Error(
    'BERTH_URL is not set: point it at a running berthd that serves the console, e.g. BERTH_URL=http://127.0.0.1:8080 npm run e2e',
  );
}

/** @type {import('playwright-core').Browser | undefined} */
let browser;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install it (apt-get install -y --no-install-recommends chromium) or set BERTH_CHROMIUM`,
    );
  }
  // chromium.launch() always starts from a fresh temporary profile (user-data-dir) that Playwright removes on close.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
});

after(async () => {
  await browser?.close();
});

/**
 * Runs `fn` with a fresh page; on failure saves a screenshot and adds the browser console errors to the message.
 * @param {string} screenshotName
 * @param {(page: import('playwright-core').Page) => Promise<void>} fn
 */
async function withPage(screenshotName, fn) {
  assert.ok(browser, 'browser did not start');
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);
  /** @type {string[]} */
  const pageErrors = [];
  /** @type {string[]} */
  const consoleErrors = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(msg.text());
  });
  try {
    await fn(page);
    // Uncaught exceptions fail the test; console errors (e.g. a logged 503) are only reported on failure.
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  } catch (err) {
    const file = path.join(ARTIFACTS, screenshotName);
    try {
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: file, fullPage: true, timeout: WAIT_MS });
      console.error(`screenshot saved to ${file}`);
    } catch (shotErr) {
      console.error(`could not save screenshot to ${file}: ${shotErr}`);
    }
    const seen = [...new Set(consoleErrors)].map((m) => `browser console: ${m}`);
    if (seen.length > 0 && err instanceof Error) {
      err.message += `\n${seen.join('\n')}`;
    }
    throw err;
  } finally {
    await context.close();
  }
}

test('Overview shows the server version and readiness', { timeout: 60_000 }, async () => {
  await withPage('console-overview.png', async (page) => {
    const response = await page.goto(BERTH_URL, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
    assert.ok(response, `no response for ${BERTH_URL}`);
    assert.equal(response.status(), 200, `GET ${BERTH_URL} answered HTTP ${response.status()}`);

    const version = page.locator('[data-testid=server-version]');
    const readiness = page.locator('[data-testid=readiness]');
    const errorBanner = page.locator('[data-testid=error]');

    try {
      await version.waitFor({ state: 'visible', timeout: WAIT_MS });
      await readiness.waitFor({ state: 'visible', timeout: WAIT_MS });
    } catch (err) {
      // Say what the page said rather than only "timeout".
      const banner = (await errorBanner.count()) > 0 ? await errorBanner.innerText({ timeout: 1_000 }) : '(none)';
      throw new Error(`Overview did not show version and readiness within ${WAIT_MS} ms; error banner: ${banner}`, {
        cause: err,
      });
    }

    const versionText = (await version.innerText({ timeout: WAIT_MS })).trim();
    assert.match(versionText, /\d+\.\d+\.\d+/, `server version text: ${JSON.stringify(versionText)}`);

    // A daemon that is still starting may report "Not ready" first; the page re-polls every 5 s.
    await page
      .waitForFunction(
        () => document.querySelector('[data-testid=readiness]')?.textContent?.trim() === 'Ready',
        undefined,
        { timeout: WAIT_MS },
      )
      .catch(() => {});
    const readinessText = (await readiness.innerText({ timeout: WAIT_MS })).trim();
    assert.equal(readinessText, 'Ready', 'readiness badge');

    const storeRow = page.locator('[data-testid=component-store]');
    await storeRow.waitFor({ state: 'visible', timeout: WAIT_MS });
    assert.match(await storeRow.innerText({ timeout: WAIT_MS }), /store/);

    assert.equal(await errorBanner.count(), 0, 'no error banner expected');
  });
});
