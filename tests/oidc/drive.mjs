#!/usr/bin/env node
// Scripted "browser" for the test OpenID provider (provider.mjs).
//
//   node drive.mjs authorize <authorization_url> <login>
//       Follows the authorization request through oidc-provider's
//       devInteractions login + consent pages and prints the first URL that
//       leaves the provider (the client's redirect_uri with code/state/iss).
//
//   node drive.mjs device <verification_uri_complete> <login>
//   node drive.mjs device <verification_uri> <login> <user_code>
//       Approves a device authorization (RFC 8628) as <login> and prints
//       "approved".
//
// Exit codes: 0 success, 1 flow failed (message on stderr), 2 usage error.
// Uses only Node's built-in fetch, with a tiny in-memory cookie jar.

const MAX_STEPS = 40;
const REQUEST_TIMEOUT_MS = Number(process.env.DRIVE_REQUEST_TIMEOUT_MS || 10000);
const TOTAL_TIMEOUT_MS = Number(process.env.DRIVE_TOTAL_TIMEOUT_MS || 30000);
const VERBOSE = !!process.env.DRIVE_VERBOSE;

class DriveError extends Error {}

function debug(...args) {
  if (VERBOSE) process.stderr.write(`drive: ${args.join(' ')}\n`);
}

// ---------------------------------------------------------------- cookies

class CookieJar {
  #cookies = new Map(); // key `${name}\0${path}` -> { name, value, path, expires }

  store(setCookieHeaders, url) {
    for (const header of setCookieHeaders) {
      const [pair, ...attrs] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = null;
      let expires = null;
      for (const attr of attrs) {
        const [k, ...rest] = attr.split('=');
        const key = k.trim().toLowerCase();
        const v = rest.join('=').trim();
        if (key === 'path' && v.startsWith('/')) path = v;
        else if (key === 'expires') {
          const t = Date.parse(v);
          if (!Number.isNaN(t) && expires === null) expires = t;
        } else if (key === 'max-age') {
          const n = Number(v);
          if (Number.isFinite(n)) expires = Date.now() + n * 1000; // max-age wins over expires
        }
      }
      if (path === null) {
        // default-path per RFC 6265 5.1.4
        const p = url.pathname;
        path = p.lastIndexOf('/') > 0 ? p.slice(0, p.lastIndexOf('/')) : '/';
      }
      const key = `${name}\0${path}`;
      if (expires !== null && expires <= Date.now()) {
        this.#cookies.delete(key);
      } else {
        this.#cookies.set(key, { name, value, path, expires });
      }
    }
  }

  header(url) {
    const now = Date.now();
    const matches = [];
    for (const [key, c] of this.#cookies) {
      if (c.expires !== null && c.expires <= now) {
        this.#cookies.delete(key);
        continue;
      }
      const p = url.pathname;
      const pathMatch = p === c.path
        || (p.startsWith(c.path) && (c.path.endsWith('/') || p[c.path.length] === '/'));
      if (pathMatch) matches.push(c);
    }
    matches.sort((a, b) => b.path.length - a.path.length);
    return matches.map((c) => `${c.name}=${c.value}`).join('; ');
  }
}

// ---------------------------------------------------------------- html

function decodeEntities(s) {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function parseAttrs(s) {
  const attrs = {};
  const re = /([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m;
  while ((m = re.exec(s))) {
    attrs[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

function parseForms(html, baseUrl) {
  const forms = [];
  const formRe = /<form\b([^>]*)>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = formRe.exec(html))) {
    const attrs = parseAttrs(m[1]);
    const inputs = [];
    const inputRe = /<input\b([^>]*?)\/?>/gi;
    let im;
    while ((im = inputRe.exec(m[2]))) {
      const a = parseAttrs(im[1]);
      if (a.name) inputs.push({ name: a.name, type: (a.type || 'text').toLowerCase(), value: a.value ?? '' });
    }
    forms.push({
      id: attrs.id,
      method: (attrs.method || 'get').toUpperCase(),
      action: new URL(attrs.action || baseUrl.href, baseUrl),
      inputs,
    });
  }
  return forms;
}

function pageText(html) {
  return decodeEntities(
    html
      .replace(/<head[\s\S]*?<\/head>/gi, ' ')
      .replace(/<style[\s\S]*?<\/style>/gi, ' ')
      .replace(/<script[\s\S]*?<\/script>/gi, ' ')
      .replace(/<details[\s\S]*?<\/details>/gi, ' ')
      .replace(/<[^>]+>/g, ' '),
  ).replace(/\s+/g, ' ').trim();
}

function titleOf(html) {
  const m = /<title>([\s\S]*?)<\/title>/i.exec(html);
  return m ? decodeEntities(m[1]).trim() : '';
}

// ---------------------------------------------------------------- browser

class Browser {
  constructor(providerOrigin) {
    this.providerOrigin = providerOrigin;
    this.jar = new CookieJar();
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = { 'user-agent': 'berth-oidc-drive/1', accept: 'text/html,application/json;q=0.9,*/*;q=0.8' };
    const cookie = this.jar.header(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    debug(method, url.href, form ? JSON.stringify(form) : '');
    let res;
    try {
      res = await fetch(url, {
        method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new DriveError(`${method} ${url.href} failed: ${err.cause?.message || err.message}`);
    }
    this.jar.store(res.headers.getSetCookie(), url);
    const text = await res.text();
    debug('  ->', res.status, res.headers.get('location') || titleOf(text));
    return { status: res.status, location: res.headers.get('location'), text, url };
  }
}

function errorSummary(res) {
  const text = pageText(res.text);
  let json;
  try { json = JSON.parse(res.text); } catch { /* not json */ }
  if (json && (json.error || json.error_description)) {
    return `${json.error || ''}${json.error_description ? `: ${json.error_description}` : ''}`;
  }
  return text.slice(0, 500) || `HTTP ${res.status}`;
}

// Runs the user-agent loop. `handlers` decides what to do with HTML pages.
// Returns { kind: 'left', url } when a redirect leaves the provider, or
// { kind: 'page', res } when a handler says the page is final.
async function run(startUrl, login, { userCode, stopOnPage }) {
  const start = new URL(startUrl);
  const browser = new Browser(start.origin);
  let next = { url: start, method: 'GET' };
  let loginsSubmitted = 0;
  let consentsSubmitted = 0;
  let codeInputsSubmitted = 0;

  for (let step = 0; step < MAX_STEPS; step += 1) {
    const res = await browser.request(next.url, { method: next.method, form: next.form });

    if (res.status >= 300 && res.status < 400 && res.location) {
      const target = new URL(res.location, res.url);
      if (target.origin !== browser.providerOrigin) return { kind: 'left', url: target.href };
      // 307/308 would keep the method; oidc-provider only uses 302/303 here.
      next = (res.status === 307 || res.status === 308)
        ? { url: target, method: next.method, form: next.form }
        : { url: target, method: 'GET' };
      continue;
    }

    if (res.status === 401 && /Invalid login/i.test(res.text)) {
      throw new DriveError(`login rejected for "${login}": ${pageText(res.text).replace(/Sign-in\s*/g, '').slice(0, 200)}`);
    }
    if (res.status >= 400) {
      throw new DriveError(`${next.method} ${res.url.pathname} -> HTTP ${res.status}: ${errorSummary(res)}`);
    }

    const html = res.text;
    if (/oops! something went wrong/i.test(html)) {
      throw new DriveError(`provider error page at ${res.url.pathname}: ${errorSummary(res)}`);
    }
    if (stopOnPage) {
      const verdict = stopOnPage(res);
      if (verdict) return { kind: 'page', res, verdict };
    }

    const forms = parseForms(html, res.url);
    const loginForm = forms.find((f) => f.inputs.some((i) => i.name === 'login') && f.inputs.some((i) => i.name === 'prompt' && i.value === 'login'));
    const consentForm = forms.find((f) => f.inputs.some((i) => i.name === 'prompt' && i.value === 'consent'));
    const codeInputForm = forms.find((f) => f.id === 'op.deviceInputForm');
    const codeConfirmForm = forms.find((f) => f.id === 'op.deviceConfirmForm');

    const hidden = (f) => Object.fromEntries(f.inputs.filter((i) => i.type === 'hidden').map((i) => [i.name, i.value]));

    let form;
    let fields;
    if (loginForm) {
      if (loginsSubmitted > 0) {
        throw new DriveError(`login rejected for "${login}": the provider showed the login form again`);
      }
      loginsSubmitted += 1;
      form = loginForm;
      fields = { ...hidden(loginForm), login, password: 'password' };
    } else if (consentForm) {
      if (consentsSubmitted > 2) throw new DriveError('consent loop: the provider keeps asking for consent');
      consentsSubmitted += 1;
      form = consentForm;
      fields = hidden(consentForm);
    } else if (codeConfirmForm) {
      form = codeConfirmForm; // hidden xsrf, user_code, confirm=yes (the Abort button is outside the form)
      fields = hidden(codeConfirmForm);
    } else if (codeInputForm) {
      const msg = pageText(html).replace(/^Sign-in\s*/, '').replace(/\s*Continue$/, '');
      // oidc-provider re-renders the input page with <p class="red"> on any
      // problem (unknown, expired, already used or aborted code).
      if (/<p class="red">/.test(html)) {
        throw new DriveError(`device code rejected: ${msg.slice(0, 200)}`);
      }
      if (!userCode) {
        throw new DriveError(`the provider asks for a user code (${msg.slice(0, 120)}); pass verification_uri_complete or a user_code argument`);
      }
      if (codeInputsSubmitted > 0) throw new DriveError(`device code rejected: ${msg.slice(0, 200)}`);
      codeInputsSubmitted += 1;
      form = codeInputForm;
      fields = { ...hidden(codeInputForm), user_code: userCode };
    } else if (forms.length === 1 && forms[0].method === 'POST'
      && forms[0].inputs.length > 0 && forms[0].inputs.every((i) => i.type === 'hidden')) {
      // Auto-submitting form_post page (e.g. /device?user_code=... or a
      // response_mode=form_post authorization response).
      [form] = forms;
      fields = hidden(form);
      if (form.action.origin !== browser.providerOrigin) {
        const u = new URL(form.action);
        for (const [k, v] of Object.entries(fields)) u.searchParams.set(k, v);
        return { kind: 'left', url: u.href, formPost: true };
      }
    } else {
      const msg = pageText(html);
      if (/incorrect|not found|expired|already used|interrupted/i.test(msg)) {
        throw new DriveError(`device flow failed: ${msg.slice(0, 300)}`);
      }
      throw new DriveError(`don't know what to do with page "${titleOf(html)}" at ${res.url.href}: ${msg.slice(0, 300)}`);
    }

    if (form.method === 'GET') {
      const u = new URL(form.action);
      for (const [k, v] of Object.entries(fields)) u.searchParams.set(k, v);
      next = { url: u, method: 'GET' };
    } else {
      next = { url: form.action, method: 'POST', form: fields };
    }
  }
  throw new DriveError(`gave up after ${MAX_STEPS} requests (redirect loop?)`);
}

// ---------------------------------------------------------------- commands

async function authorize(authorizationUrl, login) {
  const out = await run(authorizationUrl, login, {});
  if (out.kind !== 'left') throw new DriveError('flow ended without leaving the provider');
  const u = new URL(out.url);
  if (u.searchParams.get('error') || u.hash.includes('error=')) {
    process.stdout.write(`${out.url}\n`);
    throw new DriveError(`authorization error returned to the client: ${u.searchParams.get('error') || u.hash} ${u.searchParams.get('error_description') || ''}`.trim());
  }
  process.stdout.write(`${out.url}\n`);
}

async function device(verificationUrl, login, userCode) {
  const u = new URL(verificationUrl);
  const code = userCode || u.searchParams.get('user_code') || undefined;
  const out = await run(verificationUrl, login, {
    userCode: code,
    stopOnPage: (res) => (/<title>\s*Sign-in Success\s*<\/title>/i.test(res.text) ? 'approved' : undefined),
  });
  if (out.kind === 'page' && out.verdict === 'approved') {
    process.stdout.write('approved\n');
    return;
  }
  throw new DriveError(`device flow did not end on the success page (ended at ${out.url || out.res?.url?.href})`);
}

function usage() {
  process.stderr.write(`usage:
  node drive.mjs authorize <authorization_url> <login>
  node drive.mjs device <verification_uri_complete> <login>
  node drive.mjs device <verification_uri> <login> <user_code>
`);
  process.exit(2);
}

const [cmd, url, login, extra] = process.argv.slice(2);
if (!cmd || !url || !login) usage();
try { new URL(url); } catch { process.stderr.write(`drive: not a URL: ${url}\n`); process.exit(2); }

const timer = setTimeout(() => {
  process.stderr.write(`drive: ${cmd} timed out after ${TOTAL_TIMEOUT_MS} ms\n`);
  process.exit(1);
}, TOTAL_TIMEOUT_MS);
timer.unref();

try {
  if (cmd === 'authorize') await authorize(url, login);
  else if (cmd === 'device') await device(url, login, extra);
  else usage();
} catch (err) {
  process.stderr.write(`drive: ${cmd} failed: ${err instanceof DriveError ? err.message : err?.stack || err}\n`);
  process.exitCode = 1;
}
