// Browser test of single sign-on: the console's SSO button, the identity
// provider's login and consent pages (oidc-provider devInteractions, see
// tests/oidc/README.md), and back to the console signed in.
//
//   BERTH_URL=http://127.0.0.1:8080 OIDC_LOGIN=alice OIDC_EXPECT_ROLE=admin \
//   node --test e2e/sso.test.mjs
//
// Env:
//   BERTH_URL         base URL of a berthd with [auth.oidc] configured, serving the console (required);
//                     it must be the daemon's server.public_url, since the session cookie is set on that origin
//   OIDC_LOGIN        a login name the test provider knows (a key of its OIDC_USERS) (required)
//   OIDC_EXPECT_ROLE  the Berth role that user should get: admin, auditor or member (required)
// and those of e2e/browser.mjs (BERTH_CHROMIUM, BERTH_E2E_ARTIFACTS, BERTH_E2E_SCREENSHOTS).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WAIT_MS, launchBrowser, requireEnv, textOf, waitForPath, withPage } from './browser.mjs';

const { BERTH_URL, OIDC_LOGIN, OIDC_EXPECT_ROLE } = requireEnv(
  {
    BERTH_URL: 'base URL of a running berthd with [auth.oidc] configured (its server.public_url)',
    OIDC_LOGIN: 'a user name the test identity provider knows (a key of its OIDC_USERS)',
    OIDC_EXPECT_ROLE: 'the role that user should get in Berth: admin, auditor or member',
  },
  'BERTH_URL=http://127.0.0.1:8080 OIDC_LOGIN=alice OIDC_EXPECT_ROLE=admin node --test e2e/sso.test.mjs',
);
if (!['admin', 'auditor', 'member'].includes(OIDC_EXPECT_ROLE.toLowerCase())) {
  throw new Error(`OIDC_EXPECT_ROLE must be admin, auditor or member; got ${JSON.stringify(OIDC_EXPECT_ROLE)}`);
}

const BERTH_ORIGIN = new URL(BERTH_URL).origin;
/** The provider's pages: a login form, then a consent form; a few more in case it asks again. */
const MAX_PROVIDER_PAGES = 6;

/** @type {import('playwright-core').Browser | undefined} */
let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/**
 * Clicks `submit` and waits until the page has committed a new document.
 * @param {import('playwright-core').Page} page
 * @param {import('playwright-core').Locator} submit
 */
async function submitAndWait(page, submit) {
  await Promise.all([
    page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame(), timeout: WAIT_MS }),
    submit.click({ timeout: WAIT_MS }),
  ]);
  await page.waitForLoadState('domcontentloaded', { timeout: WAIT_MS });
}

/**
 * What a page says, in one line, for error messages.
 * @param {import('playwright-core').Page} page
 */
async function pageSummary(page) {
  const title = await page.title().catch(() => '');
  const text = await page
    .locator('body')
    .innerText({ timeout: 1_000 })
    .catch(() => '');
  return `"${title}" ${text.replace(/\s+/g, ' ').trim().slice(0, 300)}`;
}

test(`single sign-on as ${OIDC_LOGIN} gives the ${OIDC_EXPECT_ROLE} role`, { timeout: 120_000 }, async () => {
  await withPage(browser, 'sso', async (page, step) => {
    await step('login page shows the SSO button', async () => {
      const response = await page.goto(BERTH_URL, { waitUntil: 'domcontentloaded', timeout: WAIT_MS });
      assert.ok(response, `no response for ${BERTH_URL}`);
      assert.equal(response.status(), 200, `GET ${BERTH_URL} answered HTTP ${response.status()}`);
      await waitForPath(page, '/login');
      assert.match(await textOf(page, 'sso-login'), /^Sign in with \S/);
    });

    await step('to the identity provider', async () => {
      await Promise.all([
        page.waitForURL((url) => url.origin !== BERTH_ORIGIN, { timeout: WAIT_MS, waitUntil: 'domcontentloaded' }),
        page.getByTestId('sso-login').click({ timeout: WAIT_MS }),
      ]).catch(async (err) => {
        throw new Error(`the SSO button did not lead to the identity provider; at ${page.url()}: ${await pageSummary(page)}`, {
          cause: err,
        });
      });
    });

    await step('provider login and consent', async () => {
      for (let i = 0; ; i += 1) {
        const url = new URL(page.url());
        if (url.origin === BERTH_ORIGIN) {
          if (url.pathname.startsWith('/auth/')) {
            // berthd answers a failed callback with its JSON error.
            throw new Error(`berthd refused the sign-in at ${url.pathname}: ${await pageSummary(page)}`);
          }
          break;
        }
        if (i >= MAX_PROVIDER_PAGES) {
          throw new Error(`still at the identity provider after ${MAX_PROVIDER_PAGES} pages: ${await pageSummary(page)}`);
        }
        const loginForm = page.locator('form').filter({ has: page.locator('input[name=login]') });
        const consentForm = page.locator('form').filter({ has: page.locator('input[name=prompt][value=consent]') });
        if ((await loginForm.count()) > 0) {
          if ((await page.locator('#login-error').count()) > 0) {
            throw new Error(`the provider refused the login: ${await pageSummary(page)}`);
          }
          await loginForm.locator('input[name=login]').fill(OIDC_LOGIN, { timeout: WAIT_MS });
          await loginForm.locator('input[name=password]').fill('any-password', { timeout: WAIT_MS });
          await submitAndWait(page, loginForm.locator('button[type=submit]').first());
        } else if ((await consentForm.count()) > 0) {
          await submitAndWait(page, consentForm.locator('button[type=submit]').first());
        } else {
          throw new Error(`unexpected identity provider page at ${page.url()}: ${await pageSummary(page)}`);
        }
      }
    });

    await step('back on the console, signed in', async () => {
      await waitForPath(page, '/');
      await page.getByTestId('server-version').waitFor({ state: 'visible', timeout: WAIT_MS });
      const user = await textOf(page, 'current-user');
      assert.match(user, new RegExp(`\\b${OIDC_LOGIN.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'i'), `current user: ${JSON.stringify(user)}`);
      assert.match(user, new RegExp(`\\b${OIDC_EXPECT_ROLE}\\b`, 'i'), `current user's role: ${JSON.stringify(user)}`);
    });
  });
});
