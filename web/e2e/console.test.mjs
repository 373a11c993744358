// Browser test of the console against a fresh berthd (no user yet): first-admin
// setup, Overview, Users (with a new local account), Tokens, Spaces, the Catalog
// (a repository, an item, an install and uninstall from the console), sign-out,
// local sign-in, and the audit log of all that.
//
//   BERTH_URL=http://127.0.0.1:8080 \
//   BERTH_SETUP_URL='http://127.0.0.1:8080/setup#token=<64 hex>' \
//   node --test e2e/console.test.mjs
//
// Env:
//   BERTH_URL        base URL of the daemon serving the console (required)
//   BERTH_SETUP_URL  the whole first-admin setup link berthd printed on stdout (required)
//   BERTH_CHARTS_URL a chart repository with the demo chart (berth_testkit::charts::publish_demo);
//                    berthd installs it with helm (required)
// and those of e2e/browser.mjs (BERTH_CHROMIUM, BERTH_E2E_ARTIFACTS, BERTH_E2E_SCREENSHOTS).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WAIT_MS, expectOverview, launchBrowser, requireEnv, textOf, waitForPath, withPage } from './browser.mjs';

const { BERTH_URL, BERTH_SETUP_URL, BERTH_CHARTS_URL } = requireEnv(
  {
    BERTH_URL: 'base URL of a running berthd that serves the console',
    BERTH_CHARTS_URL: 'a chart repository holding the demo chart of berth_testkit::charts::publish_demo (berthd must be able to run helm)',
    BERTH_SETUP_URL: 'the first-admin setup link that berthd printed on stdout (…/setup#token=<64 hex>), for a fresh data directory',
  },
  "BERTH_URL=http://127.0.0.1:8080 BERTH_SETUP_URL='http://127.0.0.1:8080/setup#token=…' node --test e2e/console.test.mjs",
);
if (!/#token=[^&]+/.test(BERTH_SETUP_URL)) {
  throw new Error(`BERTH_SETUP_URL must be the whole setup link, with its #token=… fragment; got ${BERTH_SETUP_URL}`);
}

const ADMIN = 'admin';
const PASSWORD = 'e2e-admin-password-7f3k';
const TOKEN_NAME = 'e2e';
const SPACE = 'e2e-space';
const NEW_USER = 'dana';
const NEW_USER_ROLE = 'auditor';
const NEW_USER_PASSWORD = 'e2e-dana-password-9q2w';

/** @type {import('playwright-core').Browser | undefined} */
let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('first admin: setup, overview, users (a new local account), tokens, sign-out, sign-in and the audit log', { timeout: 120_000 }, async () => {
  await withPage(browser, 'console', async (page, step) => {
    await step('signed-out visitors land on the login page', async () => {
      const response = await page.goto(BERTH_URL, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
      assert.ok(response, `no response for ${BERTH_URL}`);
      assert.equal(response.status(), 200, `GET ${BERTH_URL} answered HTTP ${response.status()}`);
      await waitForPath(page, '/login');
      const notice = await textOf(page, 'setup-required').catch((err) => {
        throw new Error(
          'the login page does not say "No admin yet": this test needs a daemon on a fresh data directory (no user yet)',
          { cause: err },
        );
      });
      assert.match(notice, /No admin yet/);
    });

    await step('setup', async () => {
      await page.goto(BERTH_SETUP_URL, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
      await page.getByTestId('setup-username').fill(ADMIN, { timeout: WAIT_MS });
      await page.getByTestId('setup-password').fill(PASSWORD, { timeout: WAIT_MS });
      await page.getByTestId('setup-submit').click({ timeout: WAIT_MS });
      const landed = await Promise.race([
        waitForPath(page, '/').then(() => null),
        page
          .getByTestId('setup-error')
          .waitFor({ state: 'visible', timeout: WAIT_MS })
          .then(async () => page.getByTestId('setup-error').innerText({ timeout: 1_000 })),
      ]);
      assert.equal(landed, null, `setup failed: ${landed}`);
    });

    await step('overview', async () => {
      await expectOverview(page);
      const user = await textOf(page, 'current-user');
      assert.match(user, new RegExp(`\\b${ADMIN}\\b`), `current user: ${JSON.stringify(user)}`);
      assert.match(user, /Admin/, `current user shows the role: ${JSON.stringify(user)}`);
    });

    await step('users', async () => {
      await page.getByTestId('nav-users').click({ timeout: WAIT_MS });
      await waitForPath(page, '/users');
      const row = page.getByTestId(`user-row-${ADMIN}`);
      await row.waitFor({ state: 'visible', timeout: WAIT_MS });
      const text = await row.innerText({ timeout: WAIT_MS });
      assert.match(text, /Local/, `kind in ${JSON.stringify(text)}`);
      assert.match(text, /Active/, `status in ${JSON.stringify(text)}`);
    });

    await step('users: create a local account', async () => {
      await page.getByTestId('new-user-toggle').click({ timeout: WAIT_MS });
      const form = page.getByTestId('new-user-form');
      await form.waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.equal(await page.getByTestId('new-user-role').inputValue({ timeout: WAIT_MS }), 'member', 'default role');
      await page.getByTestId('new-user-username').fill(NEW_USER, { timeout: WAIT_MS });
      await page.getByTestId('new-user-password').fill(NEW_USER_PASSWORD, { timeout: WAIT_MS });
      await page.getByTestId('new-user-role').selectOption(NEW_USER_ROLE, { timeout: WAIT_MS });
      await page.getByTestId('new-user-submit').click({ timeout: WAIT_MS });
      const row = page.getByTestId(`user-row-${NEW_USER}`);
      await row.waitFor({ state: 'visible', timeout: WAIT_MS }).catch(async (err) => {
        const refused = page.getByTestId('new-user-error');
        const why = (await refused.count()) > 0 ? await refused.innerText({ timeout: 1_000 }) : '(no error shown)';
        throw new Error(`no row for ${NEW_USER} after creating it: ${why}`, { cause: err });
      });
      assert.equal(
        await page.getByTestId(`user-role-${NEW_USER}`).inputValue({ timeout: WAIT_MS }),
        NEW_USER_ROLE,
        `role of ${NEW_USER}`,
      );
      const text = await row.innerText({ timeout: WAIT_MS });
      assert.match(text, /Local/, `kind in ${JSON.stringify(text)}`);
      assert.match(text, /Active/, `status in ${JSON.stringify(text)}`);
      // The form is reset for the next account.
      assert.equal(await page.getByTestId('new-user-username').inputValue({ timeout: WAIT_MS }), '', 'user name reset');
      assert.equal(await page.getByTestId('new-user-password').inputValue({ timeout: WAIT_MS }), '', 'password reset');
      assert.equal(await page.getByTestId('new-user-role').inputValue({ timeout: WAIT_MS }), 'member', 'role reset');
      assert.equal(await page.getByTestId('new-user-error').count(), 0, 'no error after creating');
      assert.match(await textOf(page, 'new-user-created'), new RegExp(`${NEW_USER}\\b.*\\b${NEW_USER_ROLE}\\b`));
    });

    await step('users: the same name again is refused', async () => {
      // A short password is caught in the page, next to the field, before any request.
      await page.getByTestId('new-user-username').fill(NEW_USER, { timeout: WAIT_MS });
      await page.getByTestId('new-user-password').fill('short', { timeout: WAIT_MS });
      await page.getByTestId('new-user-submit').click({ timeout: WAIT_MS });
      assert.match(await textOf(page, 'new-user-password-error'), /At least 12 characters/);
      assert.equal(await page.getByTestId('new-user-error').count(), 0, 'nothing sent with a short password');

      // The daemon refuses the taken name (409) and the page says so.
      await page.getByTestId('new-user-password').fill(NEW_USER_PASSWORD, { timeout: WAIT_MS });
      // Once fixed, the field's message goes away.
      await page.getByTestId('new-user-password-error').waitFor({ state: 'detached', timeout: WAIT_MS });
      await page.getByTestId('new-user-submit').click({ timeout: WAIT_MS });
      const refusal = await textOf(page, 'new-user-error');
      assert.match(refusal, new RegExp(`\\b${NEW_USER}\\b.*\\btaken\\b`, 'i'), `conflict message: ${JSON.stringify(refusal)}`);
      assert.equal(await page.getByTestId(`user-row-${NEW_USER}`).count(), 1, `still one ${NEW_USER} row`);
    });

    await step('create a token', async () => {
      await page.getByTestId('nav-tokens').click({ timeout: WAIT_MS });
      await waitForPath(page, '/tokens');
      await page.getByTestId('token-name').fill(TOKEN_NAME, { timeout: WAIT_MS });
      await page.getByTestId('token-create').click({ timeout: WAIT_MS });
      const secret = await textOf(page, 'new-token-secret');
      assert.match(secret, /^berth_pat_\S+$/, 'the new secret is shown');
      await page.getByTestId(`token-row-${TOKEN_NAME}`).waitFor({ state: 'visible', timeout: WAIT_MS });
    });

    await step('revoke the token', async () => {
      await page.getByTestId(`token-revoke-${TOKEN_NAME}`).click({ timeout: WAIT_MS });
      await page.getByTestId(`token-revoke-confirm-${TOKEN_NAME}`).click({ timeout: WAIT_MS });
      await page.getByTestId(`token-row-${TOKEN_NAME}`).waitFor({ state: 'detached', timeout: WAIT_MS });
      assert.equal(await page.getByTestId('tokens-error').count(), 0, 'no error after revoking');
    });

    await step('spaces: create one, see it reconciled, sleep and wake it', async () => {
      await page.getByTestId('nav-spaces').click({ timeout: WAIT_MS });
      await waitForPath(page, '/spaces');
      // The admin's personal space was made at the first sign-in.
      await page.getByTestId(`space-row-${ADMIN}`).waitFor({ state: 'visible', timeout: WAIT_MS });
      await page.getByTestId('space-new-name').fill(SPACE, { timeout: WAIT_MS });
      await page.getByTestId('space-new-submit').click({ timeout: WAIT_MS });
      await page.getByTestId(`space-row-${SPACE}`).waitFor({ state: 'visible', timeout: WAIT_MS });
      await page.getByTestId(`space-phase-${SPACE}`).filter({ hasText: 'Active' }).waitFor({ state: 'visible', timeout: WAIT_MS });
      await page.getByTestId(`space-link-${SPACE}`).click({ timeout: WAIT_MS });
      await waitForPath(page, `/spaces/${SPACE}`);
      await page.locator('[data-testid="condition-Ready"][data-status="true"]').waitFor({ state: 'visible', timeout: WAIT_MS });
      // The objects view refreshes by itself until the cluster holds them.
      await page
        .locator('[data-testid="object-ResourceQuota-berth-quota"][data-in-sync="true"]')
        .waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.equal(await textOf(page, 'object-ResourceQuota-berth-quota-in-sync'), 'Yes');
      await page.getByTestId('space-sleep').click({ timeout: WAIT_MS });
      await page.getByTestId('space-wake').waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.match(await textOf(page, 'space-wakefulness'), new RegExp(`put to sleep by ${ADMIN}`));
      await page.getByTestId('space-wake').click({ timeout: WAIT_MS });
      await page.getByTestId('space-sleep').waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.match(await textOf(page, 'space-wakefulness'), new RegExp(`woken by ${ADMIN}`));
      assert.equal(await page.getByTestId('error').count(), 0, 'no error banner on the space page');
    });

    await step('catalog: a chart repository, an item, an install from its form, the application in the space', async () => {
      await page.goto(`${BERTH_URL}/catalog`, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
      await page.getByTestId('repo-new-name').fill('e2e', { timeout: WAIT_MS });
      await page.getByTestId('repo-new-url').fill(BERTH_CHARTS_URL, { timeout: WAIT_MS });
      await page.getByTestId('repo-new-submit').click({ timeout: WAIT_MS });
      await page.getByTestId('repo-row-e2e').waitFor({ state: 'visible', timeout: WAIT_MS });

      await page.getByTestId('item-new-toggle').click({ timeout: WAIT_MS });
      await page.getByTestId('item-new-form').waitFor({ state: 'visible', timeout: WAIT_MS });
      await page.getByTestId('item-new-name').fill('demo', { timeout: WAIT_MS });
      await page.getByTestId('item-new-repository').selectOption('e2e', { timeout: WAIT_MS });
      await page.getByTestId('item-new-chart').fill('demo', { timeout: WAIT_MS });
      await page.getByTestId('item-new-submit').click({ timeout: WAIT_MS });
      await page.getByTestId('item-link-demo').click({ timeout: WAIT_MS });
      await waitForPath(page, '/catalog/items/demo');

      // The form comes from the chart's values.schema.json; a value it refuses is named.
      await page.getByTestId('field-message').fill('from the browser', { timeout: WAIT_MS });
      await page.getByTestId('install-space').selectOption(SPACE, { timeout: WAIT_MS });
      await page.getByTestId('field-replicaCount').fill('9', { timeout: WAIT_MS });
      await page.getByTestId('install-submit').click({ timeout: WAIT_MS });
      assert.match(await textOf(page, 'field-error-replicaCount'), /5/);
      await page.getByTestId('field-replicaCount').fill('2', { timeout: WAIT_MS });
      await page.getByTestId('install-submit').click({ timeout: WAIT_MS });
      await waitForPath(page, `/spaces/${SPACE}`);

      // Helm runs in the background; the space's applications show it end.
      await page
        .getByTestId('app-status-demo')
        .filter({ hasText: 'deployed' })
        .waitFor({ state: 'visible', timeout: 60_000 });
      assert.match(await textOf(page, 'app-release-demo'), /1/);
      await page.getByTestId('app-expand-demo').click({ timeout: WAIT_MS });
      await page.getByTestId('app-logs-demo').filter({ hasText: 'NAME: demo' }).waitFor({ state: 'visible', timeout: WAIT_MS });

      await page.getByTestId('app-uninstall-demo').click({ timeout: WAIT_MS });
      await page.getByTestId('app-uninstall-name-demo').fill('demo', { timeout: WAIT_MS });
      await page.getByTestId('app-uninstall-confirm-demo').click({ timeout: WAIT_MS });
      await page.getByTestId('app-demo').waitFor({ state: 'detached', timeout: 60_000 });
    });

    await step('sign out', async () => {
      await page.getByTestId('logout').click({ timeout: WAIT_MS });
      await waitForPath(page, '/login');
      await page.getByTestId('login-username').waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.equal(await page.getByTestId('current-user').count(), 0, 'no signed-in user after sign-out');
    });

    await step('local sign-in', async () => {
      await page.getByTestId('login-username').fill(ADMIN, { timeout: WAIT_MS });
      await page.getByTestId('login-password').fill(PASSWORD, { timeout: WAIT_MS });
      await page.getByTestId('login-submit').click({ timeout: WAIT_MS });
      const landed = await Promise.race([
        waitForPath(page, '/').then(() => null),
        page
          .getByTestId('login-error')
          .waitFor({ state: 'visible', timeout: WAIT_MS })
          .then(async () => page.getByTestId('login-error').innerText({ timeout: 1_000 })),
      ]);
      assert.equal(landed, null, `sign-in failed: ${landed}`);
      await expectOverview(page);
      assert.match(await textOf(page, 'current-user'), new RegExp(`\\b${ADMIN}\\b`));
    });

    await step('audit log', async () => {
      await page.getByTestId('nav-audit').click({ timeout: WAIT_MS });
      await waitForPath(page, '/audit');
      // The earlier steps: the first admin, the token made and revoked, the space.
      for (const action of ['auth.setup', 'token.create', 'token.revoke', 'space.create', 'space.sleep', 'space.wake']) {
        const row = auditRows(page, `[data-action="${action}"]`).first();
        await row.waitFor({ state: 'visible', timeout: WAIT_MS }).catch(async (err) => {
          throw new Error(`no ${action} row; the page shows: ${(await auditActions(page)).join(', ') || '(no rows)'}`, {
            cause: err,
          });
        });
        const text = await row.innerText({ timeout: WAIT_MS });
        assert.match(text, /Success/, `${action} outcome in ${JSON.stringify(text)}`);
        assert.match(text, new RegExp(`\\b${ADMIN}\\b`), `${action} actor in ${JSON.stringify(text)}`);
      }
      const created = await auditRows(page, '[data-action="token.create"]').first().innerText({ timeout: WAIT_MS });
      assert.match(created, new RegExp(`token/${TOKEN_NAME}\\b`), `token.create resource in ${JSON.stringify(created)}`);
      assert.equal(await page.getByTestId('error').count(), 0, 'no error banner on the audit log');
    });

    await step('audit log: filter by action', async () => {
      await page.getByTestId('audit-filter-action').fill('token.', { timeout: WAIT_MS });
      await page.getByTestId('audit-apply').click({ timeout: WAIT_MS });
      await page.waitForURL((url) => url.pathname === '/audit' && url.searchParams.get('action') === 'token.', {
        timeout: WAIT_MS,
        waitUntil: 'commit',
      });
      await expectOnlyTokenRows(page);

      // The filter lives in the address: it survives a reload.
      await page.reload({ waitUntil: 'domcontentloaded', timeout: WAIT_MS });
      await expectOnlyTokenRows(page);
      assert.equal(await page.getByTestId('audit-filter-action').inputValue({ timeout: WAIT_MS }), 'token.');

      // The export link carries the filter and downloads only token events.
      const href = await page.getByTestId('audit-export').getAttribute('href', { timeout: WAIT_MS });
      assert.equal(href, '/api/v1/audit/export?action=token.', 'export link');
      const response = await page.request.get(new URL(href, page.url()).href, { timeout: WAIT_MS });
      assert.equal(response.status(), 200, `export answered HTTP ${response.status()}`);
      const exported = (await response.text())
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line).action);
      assert.ok(exported.includes('token.create') && exported.includes('token.revoke'), `exported: ${exported.join(', ')}`);
      assert.ok(exported.every((a) => a.startsWith('token.')), `exported: ${exported.join(', ')}`);
    });

    await step('audit log: verify', async () => {
      await page.getByTestId('audit-verify-run').click({ timeout: WAIT_MS });
      const result = page.getByTestId('audit-verify-result');
      await result.waitFor({ state: 'visible', timeout: WAIT_MS }).catch(async (err) => {
        const failed = page.getByTestId('audit-verify-error');
        const why = (await failed.count()) > 0 ? await failed.innerText({ timeout: 1_000 }) : '(no error shown)';
        throw new Error(`no verification result: ${why}`, { cause: err });
      });
      const text = await result.innerText({ timeout: WAIT_MS });
      assert.equal(await result.getAttribute('data-ok'), 'true', `verification: ${JSON.stringify(text)}`);
      assert.match(text, /Verified/);
      assert.match(text, /\d+ events? \(seq 1–\d+\)/, `counts in ${JSON.stringify(text)}`);
      assert.match(await textOf(page, 'audit-public-key'), /^[0-9a-f]{64}$/, 'public key (hex Ed25519)');
    });
  });
});

/**
 * The audit log's rows, optionally narrowed by a CSS attribute selector.
 * @param {import('playwright-core').Page} page
 * @param {string} [extra]
 */
function auditRows(page, extra = '') {
  return page.locator(`[data-testid^="audit-row-"]${extra}`);
}

/** @param {import('playwright-core').Page} page */
async function auditActions(page) {
  return auditRows(page).evaluateAll((rows) => rows.map((row) => row.getAttribute('data-action') ?? '?'));
}

/**
 * Waits until the audit rows are exactly the token events (create and revoke among them).
 * @param {import('playwright-core').Page} page
 */
async function expectOnlyTokenRows(page) {
  const ok = (/** @type {string[]} */ actions) =>
    actions.length >= 2 &&
    actions.every((a) => a.startsWith('token.')) &&
    actions.includes('token.create') &&
    actions.includes('token.revoke');
  const deadline = Date.now() + WAIT_MS;
  let actions = await auditActions(page);
  while (!ok(actions) && Date.now() < deadline) {
    await page.waitForTimeout(100);
    actions = await auditActions(page);
  }
  assert.ok(ok(actions), `expected only token.* rows (token.create and token.revoke), got: ${actions.join(', ') || '(none)'}`);
}
