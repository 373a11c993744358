// Shared by the browser tests (console.test.mjs, sso.test.mjs); not a test file itself.
//
// Uses playwright-core with the system Chromium: it never downloads a browser.
// Env:
//   BERTH_CHROMIUM          Chromium binary (default /usr/bin/chromium)
//   BERTH_E2E_ARTIFACTS     where screenshots go (default ../target/e2e from web/)
//   BERTH_E2E_SCREENSHOTS   set to 1 to also save a screenshot of every step that passes

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** Every wait times out after this long. */
export const WAIT_MS = 10_000;

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = process.env.BERTH_E2E_ARTIFACTS
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
const STEP_SCREENSHOTS = !!process.env.BERTH_E2E_SCREENSHOTS && process.env.BERTH_E2E_SCREENSHOTS !== '0';

/**
 * The named env vars, or a thrown error that names every missing one: call it
 * at the top of a test file so the file fails at once with a clear message.
 * @param {Record<string, string>} vars name -> what it is, for the message
 * @param {string} example a full command line that would work
 * @returns {Record<string, string>}
 */
export function requireEnv(vars, example) {
  const missing = Object.keys(vars).filter((name) => !process.env[name]);
  if (missing.length > 0) {
    const lines = missing.map((name) => `  ${name}: ${vars[name]}`);
    throw new Error(`${missing.join(', ')} not set:\n${lines.join('\n')}\nexample: ${example}`);
  }
  return Object.fromEntries(Object.keys(vars).map((name) => [name, /** @type {string} */ (process.env[name])]));
}

/** Starts headless Chromium from a fresh temporary profile (Playwright removes it on close). */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install it (apt-get install -y --no-install-recommends chromium) or set BERTH_CHROMIUM`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/**
 * Runs `fn` with a fresh page (own cookies). `step(name, body)` inside names
 * what failed; on failure a screenshot `<prefix>-<step>.png` is saved and the
 * browser console errors are added to the message.
 * @param {import('playwright-core').Browser | undefined} browser
 * @param {string} prefix
 * @param {(page: import('playwright-core').Page, step: (name: string, body: () => Promise<void>) => Promise<void>) => Promise<void>} fn
 */
export async function withPage(browser, prefix, fn) {
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

  let current = 'start';
  /** @param {string} name @param {() => Promise<void>} body */
  async function step(name, body) {
    current = name;
    try {
      await body();
    } catch (err) {
      if (err instanceof Error) err.message = `step "${name}": ${err.message}`;
      throw err;
    }
    if (STEP_SCREENSHOTS) await screenshot(page, `${prefix}-${slug(name)}.png`);
  }

  try {
    await fn(page, step);
    // Uncaught exceptions fail the test; console errors (e.g. a logged 401) are only reported on failure.
    assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
  } catch (err) {
    await screenshot(page, `${prefix}-${slug(current)}.png`, true);
    const seen = [...new Set(consoleErrors)].map((m) => `browser console: ${m}`);
    if (err instanceof Error) {
      err.message += `\npage: ${page.url()}`;
      if (seen.length > 0) err.message += `\n${seen.join('\n')}`;
    }
    throw err;
  } finally {
    await context.close();
  }
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {boolean} [failure]
 */
async function screenshot(page, name, failure = false) {
  const file = path.join(ARTIFACTS, name);
  try {
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: file, fullPage: true, timeout: WAIT_MS });
    if (failure) console.error(`screenshot saved to ${file}`);
  } catch (shotErr) {
    console.error(`could not save screenshot to ${file}: ${shotErr}`);
  }
}

/** @param {string} text */
function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'step';
}

/**
 * Waits until the page's path is `pathname`.
 * @param {import('playwright-core').Page} page
 * @param {string} pathname
 */
export async function waitForPath(page, pathname) {
  try {
    await page.waitForURL((url) => url.pathname === pathname, { timeout: WAIT_MS, waitUntil: 'commit' });
  } catch (err) {
    throw new Error(`expected to be on ${pathname} within ${WAIT_MS} ms, still at ${page.url()}`, { cause: err });
  }
}

/**
 * The text of a test id once visible, trimmed.
 * @param {import('playwright-core').Page} page
 * @param {string} testId
 */
export async function textOf(page, testId) {
  const el = page.getByTestId(testId);
  await el.waitFor({ state: 'visible', timeout: WAIT_MS });
  return (await el.innerText({ timeout: WAIT_MS })).trim();
}

/**
 * Waits for the Overview and checks version, readiness and the store component.
 * @param {import('playwright-core').Page} page
 */
export async function expectOverview(page) {
  const version = page.getByTestId('server-version');
  const readiness = page.getByTestId('readiness');
  const errorBanner = page.getByTestId('error');
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
  assert.equal((await readiness.innerText({ timeout: WAIT_MS })).trim(), 'Ready', 'readiness badge');

  const storeRow = page.getByTestId('component-store');
  await storeRow.waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.match(await storeRow.innerText({ timeout: WAIT_MS }), /store/);
  assert.equal(await errorBanner.count(), 0, 'no error banner expected');
}
