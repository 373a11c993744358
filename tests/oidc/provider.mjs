// Test-only OpenID Connect provider for Berth's integration tests.
//
// A thin wrapper around `oidc-provider` (panva, OpenID Certified). Configured
// entirely from environment variables, prints one JSON "ready" line on stdout
// and serves a few `/__test/*` helper endpoints on the same port.
// See README.md next to this file for the contract.
//
// stdout carries ONLY the ready line: everything oidc-provider prints (it uses
// console.info for notices) is redirected to stderr.

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as querystring from 'node:querystring';

import * as jose from 'jose';
import Provider from 'oidc-provider';

console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);

function fail(msg) {
  process.stderr.write(`oidc test provider: ${msg}\n`);
  process.exit(2);
}

function envJson(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  try {
    return JSON.parse(raw);
  } catch (err) {
    return fail(`${name} is not valid JSON: ${err.message}`);
  }
}

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) fail(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

const PORT = envInt('OIDC_PORT', 0);
const ID_TOKEN_TTL = envInt('OIDC_ID_TOKEN_TTL', 3600) || 3600;
const DEVICE_POLL_INTERVAL = envInt('OIDC_DEVICE_POLL_INTERVAL', 1);
const CLIENTS = envJson('OIDC_CLIENTS', []);
const USERS = envJson('OIDC_USERS', {});

if (!Array.isArray(CLIENTS)) fail('OIDC_CLIENTS must be a JSON array of client metadata objects');
if (USERS === null || typeof USERS !== 'object' || Array.isArray(USERS)) {
  fail('OIDC_USERS must be a JSON object mapping account id to claims');
}

const hasUser = (id) => typeof id === 'string' && Object.hasOwn(USERS, id);

// ---------------------------------------------------------------- keys

// Newest key first: oidc-provider signs with the first matching key, and
// publishes every key in the jwks_uri.
const signingKeys = [];

async function newSigningKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  const kid = `test-${crypto.randomBytes(8).toString('hex')}`;
  Object.assign(jwk, { kid, alg: 'RS256', use: 'sig' });
  const entry = { kid, jwk, privateKey };
  signingKeys.unshift(entry);
  return entry;
}

// Cookie signing keys are shared by every Provider instance so that browser
// sessions and in-flight interactions survive a key rotation (which swaps the
// instance).
const COOKIE_KEYS = [crypto.randomBytes(32).toString('hex')];

// ---------------------------------------------------------------- storage

// oidc-provider's built-in MemoryAdapter keeps a separate store per Provider
// instance, so sessions, codes, grants, refresh tokens and device codes would
// be lost when /__test/rotate-keys swaps the instance. This process-wide
// in-memory adapter (the documented adapter interface) is shared by all of
// them instead.
const GRACE_MS = 5 * 60 * 1000; // keep expired entries a while; oidc-provider checks expiry itself
const store = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const grantKeys = new Map(); // grantId -> Set of store keys
const sessionUids = new Map(); // session uid -> session id
const userCodes = new Map(); // device user code -> device code id

class SharedMemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 + GRACE_MS : Infinity;
    store.set(key, { payload: structuredClone(payload), expiresAt });
    if (this.model === 'Session' && payload.uid) sessionUids.set(payload.uid, id);
    if (payload.userCode) userCodes.set(payload.userCode, id);
    if (payload.grantId) {
      if (!grantKeys.has(payload.grantId)) grantKeys.set(payload.grantId, new Set());
      grantKeys.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    const key = this.key(id);
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      store.delete(key);
      return undefined;
    }
    return structuredClone(entry.payload);
  }

  async findByUid(uid) {
    const id = sessionUids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = userCodes.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantKeys.get(grantId) ?? []) store.delete(key);
    grantKeys.delete(grantId);
  }
}

// ---------------------------------------------------------------- provider

async function findAccount(_ctx, id) {
  if (!hasUser(id)) return undefined;
  return {
    accountId: id,
    async claims(_use, _scope) {
      return { ...USERS[id], sub: id };
    },
  };
}

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    adapter: SharedMemoryAdapter,
    clients: CLIENTS,
    findAccount,
    jwks: { keys: signingKeys.map((k) => k.jwk) },
    cookies: { keys: COOKIE_KEYS },
    claims: {
      openid: ['sub'],
      profile: [
        'name', 'preferred_username', 'given_name', 'family_name', 'middle_name', 'nickname',
        'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
      ],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // Put scope-derived claims (email, preferred_username, groups, ...) into
    // the ID token even when an access token is issued alongside it.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    // PKCE (S256 only in oidc-provider v9) is always accepted; it is required
    // for public clients (token_endpoint_auth_method "none").
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    // Refresh tokens for any client whose grant_types include refresh_token
    // (no need to request offline_access).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      IdToken: ID_TOKEN_TTL,
      AccessToken: 3600,
      DeviceCode: 600,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
      RefreshToken: 24 * 3600,
    },
    clientBasedCORS: () => true,
    // Render errors as plain text so test logs / drive.mjs show them clearly.
    async renderError(ctx, out) {
      ctx.type = 'html';
      const safe = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.body = `<!DOCTYPE html><html><head><title>oops! something went wrong</title></head><body>
<h1>oops! something went wrong</h1>
${Object.entries(out).map(([k, v]) => `<pre><strong>${safe(k)}</strong>: ${safe(v)}</pre>`).join('\n')}
</body></html>`;
    },
  });

  provider.on('device_authorization.success', (_ctx, body) => {
    if (DEVICE_POLL_INTERVAL > 0 && body && typeof body === 'object') body.interval = DEVICE_POLL_INTERVAL;
  });
  // Log the reason behind error responses (error_detail is never sent to the
  // client) so failing Rust tests can be diagnosed from the provider's stderr.
  for (const event of ['grant.error', 'authorization.error', 'device_authorization.error',
    'userinfo.error', 'introspection.error', 'revocation.error', 'jwks.error', 'discovery.error',
    'end_session.error', 'code_verification.error', 'device_resume.error']) {
    provider.on(event, (_ctx, err) => {
      process.stderr.write(`oidc test provider: ${event}: ${err?.error || err?.name}: ${err?.error_description || err?.message}${err?.error_detail ? ` (${err.error_detail})` : ''}\n`);
    });
  }
  provider.on('server_error', (_ctx, err) => {
    process.stderr.write(`oidc test provider: server_error: ${err?.stack || err}\n`);
  });

  return { provider, handler: provider.callback() };
}

// Static clients are validated lazily by oidc-provider; validate them all up
// front so a bad OIDC_CLIENTS fails at startup instead of at the first request.
async function validateClients(provider) {
  for (const { client_id: id } of CLIENTS) {
    try {
      // eslint-disable-next-line no-await-in-loop
      const client = await provider.Client.find(String(id));
      if (!client) throw new Error('not found after configuration');
    } catch (err) {
      throw new Error(`client ${JSON.stringify(id)}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`);
    }
  }
}

let current; // { provider, handler }
let issuer;

// ---------------------------------------------------------------- helpers

function readBody(req, limit = 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(data);
}

function htmlEscape(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function handleTest(req, res, path) {
  if (path === '/__test/health' && (req.method === 'GET' || req.method === 'HEAD')) {
    return sendJson(res, 200, { ok: true, issuer, kid: signingKeys[0].kid });
  }
  if (path === '/__test/rotate-keys' && req.method === 'POST') {
    await readBody(req);
    const { kid } = await newSigningKey();
    const next = buildProvider(issuer);
    await validateClients(next.provider);
    current = next;
    process.stderr.write(`oidc test provider: rotated signing key, new kid ${kid}\n`);
    return sendJson(res, 200, { kid });
  }
  if (path === '/__test/sign' && req.method === 'POST') {
    let claims;
    try {
      const raw = (await readBody(req)).toString('utf8');
      claims = raw.trim() === '' ? {} : JSON.parse(raw);
    } catch (err) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: `body must be a JSON object: ${err.message}` });
    }
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'body must be a JSON object of claims' });
    }
    const { kid, privateKey } = signingKeys[0];
    const jwt = await new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .sign(privateKey);
    return sendJson(res, 200, { jwt, kid });
  }
  return sendJson(res, 404, { error: 'not_found', error_description: `no test endpoint ${req.method} ${path}` });
}

// devInteractions accepts ANY login name. Reject names that are not in
// OIDC_USERS before the request reaches oidc-provider, re-rendering a login
// form with an error (HTTP 401) like a real IdP would.
async function guardLogin(req, res, path) {
  const body = await readBody(req, 64 * 1024);
  const form = querystring.parse(body.toString('utf8'));
  if (form.prompt === 'login' && !hasUser(form.login)) {
    const login = Array.isArray(form.login) ? form.login.join(',') : (form.login ?? '');
    process.stderr.write(`oidc test provider: rejected unknown login ${JSON.stringify(login)}\n`);
    res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!DOCTYPE html><html><head><title>Sign-in</title></head><body>
<h1>Sign-in</h1>
<p class="error" id="login-error">Invalid login: unknown user "${htmlEscape(login)}"</p>
<form autocomplete="off" action="${htmlEscape(path)}" method="post">
  <input type="hidden" name="prompt" value="login"/>
  <input required type="text" name="login" placeholder="Enter any login">
  <input required type="password" name="password" placeholder="and password">
  <button type="submit" class="login login-submit">Sign-in</button>
</form>
</body></html>`);
    return;
  }
  // oidc-provider's body parser falls back to req.body when the stream has
  // already been consumed.
  req.body = body;
  current.handler(req, res);
}

// ---------------------------------------------------------------- server

const server = http.createServer((req, res) => {
  const path = (req.url || '/').split('?')[0];
  const onError = (err) => {
    process.stderr.write(`oidc test provider: ${err?.stack || err}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err?.message || err) });
    else res.destroy();
  };
  try {
    if (!current) {
      sendJson(res, 503, { error: 'starting' });
    } else if (path.startsWith('/__test/')) {
      handleTest(req, res, path).catch(onError);
    } else if (req.method === 'POST' && /^\/interaction\/[^/]+$/.test(path)) {
      guardLogin(req, res, path).catch(onError);
    } else {
      current.handler(req, res);
    }
  } catch (err) {
    onError(err);
  }
});

function shutdown(signal) {
  process.stderr.write(`oidc test provider: ${signal}, shutting down\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

await newSigningKey();

server.listen(PORT, '127.0.0.1', async () => {
  const { port } = server.address();
  issuer = `http://127.0.0.1:${port}`;
  try {
    const built = buildProvider(issuer);
    await validateClients(built.provider);
    current = built;
  } catch (err) {
    fail(`invalid configuration: ${err?.message || err}`);
  }
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});
server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${PORT}: ${err.message}`));
