// Self-test for the OIDC test fixture: `node --test tests/oidc/selftest.mjs`
// Starts provider.mjs as a child process and drives real flows against it.

import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROVIDER = path.join(HERE, 'provider.mjs');
const DRIVE = path.join(HERE, 'drive.mjs');

const CONFIDENTIAL_REDIRECT = 'http://127.0.0.1:8080/auth/oidc/callback';
const PUBLIC_REDIRECT = 'http://127.0.0.1:47913/callback';
const CLIENTS = [
  {
    client_id: 'berth',
    client_secret: 's3cret',
    redirect_uris: [CONFIDENTIAL_REDIRECT],
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    client_id: 'berth-cli',
    redirect_uris: [PUBLIC_REDIRECT],
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  },
  {
    // native + http loopback: the port of the redirect_uri is ignored (RFC 8252)
    client_id: 'berth-native',
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  },
];
const USERS = {
  alice: {
    email: 'alice@example.com', email_verified: true, name: 'Alice', preferred_username: 'alice', groups: ['berth-admins', 'dev'],
  },
  bob: {
    email: 'bob@example.com', email_verified: false, name: 'Bob', preferred_username: 'bob', groups: ['dev'],
  },
};

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const randomToken = () => b64url(crypto.randomBytes(24));

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function fetchT(url, init = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(10000) });
}

function runDrive(args, ms = 30000) {
  return withTimeout(new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DRIVE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: stdout.trim(), stderr: stderr.trim() }));
  }), ms, `drive.mjs ${args[0]}`);
}

let child;
let childExit;
let childStderr = '';
let issuer;
let port;
let discovery;

async function startProvider() {
  child = spawn(process.execPath, [PROVIDER], {
    env: {
      ...process.env,
      OIDC_PORT: '0',
      OIDC_CLIENTS: JSON.stringify(CLIENTS),
      OIDC_USERS: JSON.stringify(USERS),
      OIDC_ID_TOKEN_TTL: '600',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  childExit = once(child, 'exit');
  child.stderr.on('data', (d) => {
    childStderr += d;
    if (process.env.OIDC_SELFTEST_VERBOSE) process.stderr.write(d);
  });

  const firstLine = await withTimeout(new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        child.stdout.off('data', onData);
        resolve(buf.slice(0, nl));
      }
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`provider exited early (${code}): ${childStderr}`)));
  }), 15000, 'provider ready line');
  // Anything printed on stdout after the ready line would be a contract breach.
  child.stdout.on('data', (d) => { childStderr += `[unexpected stdout] ${d}`; });
  return firstLine;
}

async function authorizationUrl({ clientId, redirectUri, scope = 'openid profile email groups' }) {
  const state = randomToken();
  const nonce = randomToken();
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const u = new URL(discovery.authorization_endpoint);
  u.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  return {
    url: u.href, state, nonce, verifier,
  };
}

function basicAuth(id, secret) {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

async function tokenRequest(params, { clientId = 'berth', secret = 's3cret' } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  const body = new URLSearchParams(params);
  if (secret) headers.authorization = basicAuth(clientId, secret);
  else body.set('client_id', clientId);
  const res = await fetchT(discovery.token_endpoint, { method: 'POST', headers, body });
  return { status: res.status, json: await res.json() };
}

async function loginWithCode(login, { clientId = 'berth', redirectUri = CONFIDENTIAL_REDIRECT, secret = 's3cret' } = {}) {
  const req = await authorizationUrl({ clientId, redirectUri });
  const drive = await runDrive(['authorize', req.url, login]);
  assert.equal(drive.code, 0, `drive.mjs authorize failed: ${drive.stderr}`);
  const cb = new URL(drive.stdout);
  assert.equal(`${cb.origin}${cb.pathname}`, redirectUri);
  assert.equal(cb.searchParams.get('state'), req.state);
  assert.equal(cb.searchParams.get('iss'), issuer);
  const code = cb.searchParams.get('code');
  assert.ok(code, 'redirect carries a code');
  const tok = await tokenRequest({
    grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: req.verifier,
  }, { clientId, secret });
  assert.equal(tok.status, 200, `token endpoint: ${JSON.stringify(tok.json)}`);
  return { ...req, tokens: tok.json };
}

async function deviceAuthorization(clientId, secret, scope = 'openid profile email groups') {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  const body = new URLSearchParams({ scope });
  if (secret) headers.authorization = basicAuth(clientId, secret);
  else body.set('client_id', clientId);
  const res = await fetchT(discovery.device_authorization_endpoint, { method: 'POST', headers, body });
  assert.equal(res.status, 200);
  return res.json();
}

function pollDeviceToken(da, clientId, secret, ms = 20000) {
  return withTimeout((async () => {
    for (;;) {
      const r = await tokenRequest({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: da.device_code }, { clientId, secret });
      if (r.status === 200) return r.json;
      assert.ok(['authorization_pending', 'slow_down'].includes(r.json.error), JSON.stringify(r.json));
      await new Promise((resolve) => { setTimeout(resolve, (da.interval || 5) * 1000); });
    }
  })(), ms, 'device token');
}

async function fetchJwks() {
  const res = await fetchT(discovery.jwks_uri);
  assert.equal(res.status, 200);
  return res.json();
}

before(async () => {
  const line = await startProvider();
  assert.match(line, /^\{"issuer":"http:\/\/127\.0\.0\.1:\d+","port":\d+\}$/);
  ({ issuer, port } = JSON.parse(line));
  assert.equal(issuer, `http://127.0.0.1:${port}`);
  const res = await fetchT(`${issuer}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  discovery = await res.json();
}, { timeout: 30000 });

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    try {
      const [code, signal] = await withTimeout(childExit, 5000, 'provider exit on SIGTERM');
      assert.equal(code, 0, `provider exit code on SIGTERM (signal ${signal})`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }
  assert.ok(!childStderr.includes('[unexpected stdout]'), `provider wrote to stdout after the ready line:\n${childStderr}`);
}, { timeout: 15000 });

describe('oidc test provider', { timeout: 120000 }, () => {
  it('serves discovery and the health endpoint', async () => {
    assert.equal(discovery.issuer, issuer);
    for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'device_authorization_endpoint']) {
      assert.ok(discovery[k]?.startsWith(`${issuer}/`), `${k}: ${discovery[k]}`);
    }
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
    assert.ok(discovery.scopes_supported.includes('groups'));
    assert.ok(discovery.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:device_code'));
    assert.ok(discovery.id_token_signing_alg_values_supported.includes('RS256'));
    const health = await fetchT(`${issuer}/__test/health`);
    assert.equal(health.status, 200);
  });

  it('(a) authorization code + PKCE, confidential client: ID token carries the claims', async () => {
    const { nonce, tokens } = await loginWithCode('alice');
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(tokens.access_token);
    assert.ok(tokens.refresh_token, 'refresh token issued for a client with the refresh_token grant');

    const header = jose.decodeProtectedHeader(tokens.id_token);
    assert.equal(header.alg, 'RS256');
    assert.ok(header.kid);

    const { payload } = await jose.jwtVerify(tokens.id_token, jose.createRemoteJWKSet(new URL(discovery.jwks_uri)), {
      issuer, audience: 'berth', algorithms: ['RS256'],
    });
    assert.equal(payload.iss, issuer);
    assert.equal(payload.aud, 'berth');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.nonce, nonce);
    assert.equal(payload.email, 'alice@example.com');
    assert.equal(payload.email_verified, true);
    assert.equal(payload.preferred_username, 'alice');
    assert.equal(payload.name, 'Alice');
    assert.deepEqual(payload.groups, ['berth-admins', 'dev']);
    assert.equal(payload.exp - payload.iat, 600, 'OIDC_ID_TOKEN_TTL honoured');

    // userinfo with the access token
    const ui = await fetchT(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(ui.status, 200);
    const userinfo = await ui.json();
    assert.equal(userinfo.sub, 'alice');
    assert.deepEqual(userinfo.groups, ['berth-admins', 'dev']);

    // refresh grant returns a fresh ID token with the same claims
    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.json));
    const rp = jose.decodeJwt(refreshed.json.id_token);
    assert.equal(rp.sub, 'alice');
    assert.deepEqual(rp.groups, ['berth-admins', 'dev']);
  });

  it('(a) authorization code + PKCE, public client (token_endpoint_auth_method none)', async () => {
    const { tokens, nonce } = await loginWithCode('bob', { clientId: 'berth-cli', redirectUri: PUBLIC_REDIRECT, secret: null });
    const p = jose.decodeJwt(tokens.id_token);
    assert.equal(p.aud, 'berth-cli');
    assert.equal(p.nonce, nonce);
    assert.equal(p.email, 'bob@example.com');
    assert.equal(p.email_verified, false);
    assert.deepEqual(p.groups, ['dev']);
  });

  it('public client without PKCE is refused', async () => {
    const u = new URL(discovery.authorization_endpoint);
    u.search = new URLSearchParams({
      client_id: 'berth-cli', response_type: 'code', redirect_uri: PUBLIC_REDIRECT, scope: 'openid', state: 's',
    }).toString();
    const drive = await runDrive(['authorize', u.href, 'alice']);
    assert.notEqual(drive.code, 0);
    assert.match(drive.stdout, /error=invalid_request/);
    assert.match(drive.stderr, /PKCE/);
  });

  it('native public client: any loopback port matches http://127.0.0.1/callback', async () => {
    const { tokens } = await loginWithCode('alice', { clientId: 'berth-native', redirectUri: 'http://127.0.0.1:51234/callback', secret: null });
    assert.equal(jose.decodeJwt(tokens.id_token).aud, 'berth-native');
  });

  it('(b) device authorization grant', async () => {
    for (const [clientId, secret] of [['berth', 's3cret'], ['berth-cli', null]]) {
      const da = await deviceAuthorization(clientId, secret);
      assert.ok(da.device_code && da.user_code && da.verification_uri && da.verification_uri_complete, JSON.stringify(da));
      assert.equal(da.interval, 1);

      const pending = await tokenRequest({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: da.device_code }, { clientId, secret });
      assert.equal(pending.status, 400);
      assert.equal(pending.json.error, 'authorization_pending');

      const drive = await runDrive(['device', da.verification_uri_complete, 'alice']);
      assert.equal(drive.code, 0, drive.stderr);
      assert.equal(drive.stdout, 'approved');

      const tokens = await pollDeviceToken(da, clientId, secret);
      const p = jose.decodeJwt(tokens.id_token);
      assert.equal(p.aud, clientId);
      assert.equal(p.sub, 'alice');
      assert.deepEqual(p.groups, ['berth-admins', 'dev']);
      assert.equal(p.preferred_username, 'alice');

      // a user code can only be used once
      const again = await runDrive(['device', da.verification_uri_complete, 'alice']);
      assert.notEqual(again.code, 0);
    }
  });

  it('(c) rotate-keys: new tokens use the new kid, JWKS publishes it', async () => {
    const before = await loginWithCode('alice');
    const oldKid = jose.decodeProtectedHeader(before.tokens.id_token).kid;
    const pendingDevice = await deviceAuthorization('berth', 's3cret');

    const rot = await fetchT(`${issuer}/__test/rotate-keys`, { method: 'POST' });
    assert.equal(rot.status, 200);
    const { kid: newKid } = await rot.json();
    assert.ok(newKid);
    assert.notEqual(newKid, oldKid);

    const afterLogin = await loginWithCode('alice');
    assert.equal(jose.decodeProtectedHeader(afterLogin.tokens.id_token).kid, newKid);

    const jwks = await fetchJwks();
    const kids = jwks.keys.map((k) => k.kid);
    assert.ok(kids.includes(newKid), `JWKS ${kids} has new kid`);
    assert.ok(kids.includes(oldKid), `JWKS ${kids} still has old kid`);
    for (const k of jwks.keys) assert.equal(k.d, undefined, 'JWKS must not leak private parts');

    const { payload } = await jose.jwtVerify(afterLogin.tokens.id_token, jose.createRemoteJWKSet(new URL(discovery.jwks_uri)), { issuer, audience: 'berth' });
    assert.equal(payload.nonce, afterLogin.nonce);
    assert.deepEqual(payload.groups, ['berth-admins', 'dev']);

    // a device authorization started before the rotation completes after it
    const approved = await runDrive(['device', pendingDevice.verification_uri_complete, 'bob']);
    assert.equal(approved.code, 0, approved.stderr);
    const deviceTokens = await pollDeviceToken(pendingDevice, 'berth', 's3cret');
    assert.equal(jose.decodeProtectedHeader(deviceTokens.id_token).kid, newKid);
    assert.equal(jose.decodeJwt(deviceTokens.id_token).sub, 'bob');

    // refresh tokens issued before the rotation still work
    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: before.tokens.refresh_token });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.json));
    assert.equal(jose.decodeProtectedHeader(refreshed.json.id_token).kid, newKid);
  });

  it('(d) /__test/sign returns JWTs that verify against the JWKS', async () => {
    const now = Math.floor(Date.now() / 1000);
    const sign = async (claims) => {
      const res = await fetchT(`${issuer}/__test/sign`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(claims),
      });
      assert.equal(res.status, 200);
      return (await res.json()).jwt;
    };
    const health = await (await fetchT(`${issuer}/__test/health`)).json();

    const good = await sign({
      iss: issuer, aud: 'someone-else', sub: 'alice', nonce: 'wrong', iat: now, exp: now + 300,
    });
    const header = jose.decodeProtectedHeader(good);
    assert.equal(header.alg, 'RS256');
    assert.equal(header.kid, health.kid, 'signed with the current key');
    const jwks = jose.createRemoteJWKSet(new URL(discovery.jwks_uri));
    const { payload } = await jose.jwtVerify(good, jwks, { issuer });
    assert.equal(payload.aud, 'someone-else');
    assert.equal(payload.nonce, 'wrong');
    await assert.rejects(jose.jwtVerify(good, jwks, { issuer, audience: 'berth' }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });

    // expired token: signature is fine (jose checks it before claims), exp is not
    const expired = await sign({
      iss: issuer, aud: 'berth', sub: 'alice', iat: now - 7200, exp: now - 3600,
    });
    await assert.rejects(jose.jwtVerify(expired, jwks, { issuer, audience: 'berth' }), { code: 'ERR_JWT_EXPIRED' });

    const bad = await fetchT(`${issuer}/__test/sign`, { method: 'POST', body: '[1,2]' });
    assert.equal(bad.status, 400);
  });

  it('(e) unknown login is rejected by drive.mjs', async () => {
    const req = await authorizationUrl({ clientId: 'berth', redirectUri: CONFIDENTIAL_REDIRECT });
    const drive = await runDrive(['authorize', req.url, 'mallory']);
    assert.notEqual(drive.code, 0);
    assert.equal(drive.stdout, '');
    assert.match(drive.stderr, /login rejected/);
    assert.match(drive.stderr, /mallory/);
  });
});
