import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ApiError,
  MalformedResponseError,
  UnreachableError,
  addRepository,
  createItem,
  deleteItem,
  fetchApp,
  fetchAppLogs,
  fetchItem,
  installApp,
  listApps,
  listItems,
  uninstallApp,
  updateItem,
  upgradeApp,
  fetchRepository,
  listCharts,
  listRepositories,
  refreshRepository,
  removeRepository,
  auditExportHref,
  auditQueryString,
  createLocalUser,
  createSession,
  createSpace,
  deleteSpace,
  endSession,
  fetchSession,
  listSessions,
  listDev,
  listWorkloads,
  stopDev,
  fetchSpace,
  listSpaceObjects,
  listSpaces,
  shareSpace,
  sleepSpace,
  unshareSpace,
  updateSpace,
  wakeSpace,
  createToken,
  fetchAuditPublicKey,
  fetchAuthMethods,
  fetchMapping,
  fetchReadiness,
  fetchVersion,
  fetchWhoami,
  getCsrfToken,
  isUnauthenticated,
  listAuditEvents,
  listTokens,
  listUsers,
  login,
  logout,
  onUnauthenticated,
  previewMapping,
  revokeToken,
  saveMapping,
  setCsrfToken,
  setupFirstAdmin,
  ssoLoginHref,
  updateUser,
  verifyAuditLog,
} from './index';

type Handler = (url: string, init: RequestInit | undefined) => Response | Promise<Response>;

/** Replaces the global fetch; records the calls. */
function stubFetch(handler: Handler) {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      calls.push({ url, init });
      return handler(url, init);
    }),
  );
  return calls;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

const READY = {
  ready: true,
  components: { store: { status: 'ready' }, server: { status: 'ready' } },
};

const NOT_READY = {
  ready: false,
  components: { store: { status: 'ready' }, server: { status: 'not_ready', reason: 'draining' } },
};

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('fetchVersion', () => {
  it('parses the version body', async () => {
    const calls = stubFetch(() => json(200, { version: '0.1.0', api: 'v1' }));
    await expect(fetchVersion()).resolves.toEqual({ version: '0.1.0', api: 'v1' });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe('/api/v1/version');
    expect(calls[0]?.init?.method).toBe('GET');
  });

  it('ignores unknown extra fields', async () => {
    stubFetch(() => json(200, { version: '1.2.3', api: 'v1', commit: 'abc' }));
    await expect(fetchVersion()).resolves.toEqual({ version: '1.2.3', api: 'v1' });
  });

  it('turns an error body into an ApiError with its fields', async () => {
    stubFetch(() =>
      json(404, { error: { code: 'not_found', message: 'no such route', request_id: 'req-42' } }),
    );
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      code: 'not_found',
      message: 'no such route',
      requestId: 'req-42',
      status: 404,
      endpoint: '/api/v1/version',
    });
  });

  it('accepts an error body without a request id', async () => {
    stubFetch(() => json(500, { error: { code: 'internal', message: 'boom' } }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).requestId).toBeUndefined();
  });

  it('rejects a body with the wrong shape, naming the field', async () => {
    stubFetch(() => json(200, { version: 1, api: 'v1' }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('field "version" must be a string, got number 1');
  });

  it('rejects a body that is not JSON', async () => {
    stubFetch(() => new Response('<html>Bad gateway</html>', { status: 502 }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect(err).toMatchObject({ status: 502, endpoint: '/api/v1/version' });
    expect((err as Error).message).toBe('HTTP 502 with a body that is not JSON: <html>Bad gateway</html>');
  });

  it('rejects a 200 whose body is not JSON', async () => {
    stubFetch(() => new Response('<!doctype html><title>Berth</title>', { status: 200 }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toMatch(/^HTTP 200 with a body that is not JSON/);
  });

  it('reports an empty error response', async () => {
    stubFetch(() => new Response('', { status: 500 }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('HTTP 500 with an empty body');
  });

  it('reports a JSON error response without the error envelope', async () => {
    stubFetch(() => json(500, { oops: true }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('unexpected HTTP 500 without an error body');
  });

  it('wraps a network failure in UnreachableError', async () => {
    stubFetch(() => {
      throw new TypeError('Failed to fetch');
    });
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err).toMatchObject({ message: 'Failed to fetch', endpoint: '/api/v1/version' });
  });

  it('gives up after the timeout', async () => {
    vi.useFakeTimers();
    stubFetch(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const pending = fetchVersion({ timeoutMs: 1_000 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_000);
    const err = await pending;
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as Error).message).toBe('no answer within 1 s');
  });

  it('passes the caller abort on to fetch', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    stubFetch(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          seen = init?.signal ?? undefined;
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const pending = fetchVersion({ signal: controller.signal }).catch((e: unknown) => e);
    controller.abort();
    await pending;
    expect(seen?.aborted).toBe(true);
  });
});

describe('fetchReadiness', () => {
  it('parses a 200 ready report', async () => {
    const calls = stubFetch(() => json(200, READY));
    await expect(fetchReadiness()).resolves.toEqual(READY);
    expect(calls[0]?.url).toBe('/readyz');
  });

  it('parses a 503 not-ready report instead of throwing', async () => {
    stubFetch(() => json(503, NOT_READY));
    await expect(fetchReadiness()).resolves.toEqual({
      ready: false,
      components: {
        store: { status: 'ready' },
        server: { status: 'not_ready', reason: 'draining' },
      },
    });
  });

  it('treats a 503 with an error body as an ApiError', async () => {
    stubFetch(() =>
      json(503, { error: { code: 'unavailable', message: 'shutting down', request_id: 'r-1' } }),
    );
    const err = await fetchReadiness().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'unavailable', status: 503, requestId: 'r-1', endpoint: '/readyz' });
  });

  it('turns other statuses with an error body into ApiError', async () => {
    stubFetch(() => json(401, { error: { code: 'unauthorized', message: 'login required', request_id: 'x' } }));
    const err = await fetchReadiness().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'unauthorized', message: 'login required', status: 401 });
  });

  it('rejects a readiness body missing "ready"', async () => {
    stubFetch(() => json(200, { components: {} }));
    const err = await fetchReadiness().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('field "ready" must be a boolean, got nothing');
  });

  it('rejects a 503 whose body is not JSON', async () => {
    stubFetch(() => new Response('Service Unavailable', { status: 503 }));
    const err = await fetchReadiness().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('HTTP 503 with a body that is not JSON: Service Unavailable');
  });
});

// The readiness report is checked against the document's ReadinessReport
// (a component's status is `ready`, or `not_ready` with a reason).
describe('fetchReadiness checks the report', () => {
  it('accepts an empty component map', async () => {
    stubFetch(() => json(200, { ready: true, components: {} }));
    await expect(fetchReadiness()).resolves.toEqual({ ready: true, components: {} });
  });

  it('keeps unknown statuses and drops a null reason', async () => {
    stubFetch(() => json(503, { ready: false, components: { store: { status: 'warming_up', reason: null } } }));
    await expect(fetchReadiness()).resolves.toEqual({ ready: false, components: { store: { status: 'warming_up' } } });
  });

  it.each([
    [null, 'expected a JSON object, got null'],
    [[], 'expected a JSON object, got an array'],
    ['ready', 'expected a JSON object, got the string "ready"'],
    [{ ready: 'yes', components: {} }, 'field "ready" must be a boolean, got the string "yes"'],
    [{ ready: true, components: [] }, 'field "components" must be an object, got an array'],
    [{ ready: true, components: { store: 'ready' } }, 'field "components.store" must be an object, got the string "ready"'],
    [{ ready: true, components: { store: {} } }, 'field "components.store.status" must be a string, got nothing'],
    [
      { ready: false, components: { store: { status: 'not_ready', reason: 3 } } },
      'field "components.store.reason" must be a string, got number 3',
    ],
    [{ ready: false, components: { store: { status: 'not_ready' } } }, 'field "components.store.reason" must be a string, got nothing'],
  ])('rejects %j', async (body, message) => {
    stubFetch(() => json(200, body));
    const err = await fetchReadiness().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe(message);
  });
});

// ---------------------------------------------------------------------------
// Session, CSRF and the identity API

const USER = {
  id: 'u-1',
  username: 'admin',
  email: 'admin@example.com',
  display_name: null,
  role: 'admin',
  role_source: 'setup',
  kind: 'local',
  disabled: false,
  created_at: '2026-01-02T03:04:05Z',
  last_login_at: null,
  groups: [],
  groups_claim_missing: false,
};

const WHOAMI = { user: USER, via: 'session', scopes: ['read', 'write'], csrf_token: 'csrf-123' };

const TOKEN = {
  id: 't-1',
  name: 'laptop',
  kind: 'personal',
  prefix: 'berth_pat_ab12',
  scopes: ['read'],
  user_id: 'u-1',
  username: 'admin',
  created_at: '2026-01-02T03:04:05Z',
  expires_at: '2026-04-02T03:04:05Z',
  last_used_at: null,
};

function header(init: RequestInit | undefined, name: string): string | undefined {
  const headers = (init?.headers ?? {}) as Record<string, string>;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

function bodyOf(init: RequestInit | undefined): unknown {
  return typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
}

/** Signs in (as far as the client knows): remembers WHOAMI's CSRF token. */
async function signIn() {
  stubFetch(() => json(200, WHOAMI));
  await fetchWhoami();
  vi.unstubAllGlobals();
}

describe('session and CSRF', () => {
  afterEach(() => setCsrfToken(null));

  it('fetchWhoami parses the body and remembers the CSRF token', async () => {
    const calls = stubFetch(() => json(200, WHOAMI));
    await expect(fetchWhoami()).resolves.toEqual(WHOAMI);
    expect(calls[0]?.url).toBe('/api/v1/whoami');
    expect(getCsrfToken()).toBe('csrf-123');
  });

  it('sends no CSRF header on GET', async () => {
    await signIn();
    const calls = stubFetch(() => json(200, [USER]));
    await listUsers();
    expect(calls[0]?.init?.method).toBe('GET');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBeUndefined();
  });

  it('sends the CSRF header and a JSON body on POST', async () => {
    await signIn();
    const calls = stubFetch(() => json(201, { token: TOKEN, secret: 'berth_pat_ab12secret' }));
    const created = await createToken({ name: 'laptop', expires_in_days: 30, scopes: ['read'] });
    expect(created).toEqual({ token: TOKEN, secret: 'berth_pat_ab12secret' });
    expect(calls[0]?.url).toBe('/api/v1/tokens');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(header(calls[0]?.init, 'content-type')).toBe('application/json');
    expect(bodyOf(calls[0]?.init)).toEqual({ name: 'laptop', expires_in_days: 30, scopes: ['read'] });
  });

  it('sends the CSRF header on PATCH, to the escaped user path', async () => {
    await signIn();
    const calls = stubFetch(() => json(200, { ...USER, id: 'u/2', role: 'auditor', role_source: 'manual' }));
    const user = await updateUser('u/2', { role: 'auditor' });
    expect(user.role).toBe('auditor');
    expect(calls[0]?.url).toBe('/api/v1/users/u%2F2');
    expect(calls[0]?.init?.method).toBe('PATCH');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(bodyOf(calls[0]?.init)).toEqual({ role: 'auditor' });
  });

  it('sends the CSRF header on DELETE and accepts the revoked token or an empty 204', async () => {
    await signIn();
    const calls = stubFetch(() => json(200, TOKEN));
    await expect(revokeToken('t-1')).resolves.toBeUndefined();
    expect(calls[0]?.url).toBe('/api/v1/tokens/t-1');
    expect(calls[0]?.init?.method).toBe('DELETE');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(calls[0]?.init?.body).toBeUndefined();

    stubFetch(() => new Response(null, { status: 204 }));
    await expect(revokeToken('t-1')).resolves.toBeUndefined();
  });

  it('sends the CSRF header on PUT', async () => {
    await signIn();
    const rules = { admin_groups: ['admins'], auditor_groups: [] };
    const calls = stubFetch(() => json(200, rules));
    await expect(saveMapping(rules)).resolves.toEqual(rules);
    expect(calls[0]?.init?.method).toBe('PUT');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
  });

  it('sends no CSRF header before one is known', async () => {
    const calls = stubFetch(() => json(200, WHOAMI));
    await login('admin', 'correct horse battery');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBeUndefined();
    expect(bodyOf(calls[0]?.init)).toEqual({ username: 'admin', password: 'correct horse battery' });
    // ...and remembers the one the sign-in answer carries.
    expect(getCsrfToken()).toBe('csrf-123');
  });

  it('turns an error body on a change into an ApiError naming the method', async () => {
    await signIn();
    stubFetch(() =>
      json(409, { error: { code: 'conflict', message: 'you cannot disable yourself', request_id: 'r-9' } }),
    );
    const err = await updateUser('u-1', { disabled: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      code: 'conflict',
      status: 409,
      method: 'PATCH',
      endpoint: '/api/v1/users/u-1',
      requestId: 'r-9',
    });
  });

  it('reports a 403 for a missing CSRF token as an ApiError', async () => {
    stubFetch(() =>
      json(403, { error: { code: 'forbidden', message: 'missing or wrong x-csrf-token header', request_id: 'r' } }),
    );
    const err = await createToken({ name: 'x' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ApiError', code: 'forbidden', status: 403, method: 'POST' });
  });

  it('signals a 401 on a session request and forgets the CSRF token', async () => {
    await signIn();
    const seen: ApiError[] = [];
    const unsubscribe = onUnauthenticated((e) => seen.push(e));
    stubFetch(() => json(401, { error: { code: 'unauthenticated', message: 'your session ended; sign in again' } }));
    const err = await listTokens().catch((e: unknown) => e);
    unsubscribe();
    expect(err).toBeInstanceOf(ApiError);
    expect(isUnauthenticated(err)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.endpoint).toBe('/api/v1/tokens');
    expect(getCsrfToken()).toBeNull();
  });

  it('does not signal the 401 of a wrong password, the whoami probe or a refused ID token', async () => {
    const seen: ApiError[] = [];
    const unsubscribe = onUnauthenticated((e) => seen.push(e));
    stubFetch(() => json(401, { error: { code: 'unauthenticated', message: 'wrong user name or password' } }));
    await expect(login('admin', 'nope')).rejects.toMatchObject({ status: 401, message: 'wrong user name or password' });
    await expect(fetchWhoami()).rejects.toMatchObject({ status: 401 });
    await expect(previewMapping({ id_token: 'a.b.c' })).rejects.toMatchObject({ status: 401 });
    unsubscribe();
    expect(seen).toEqual([]);
  });

  it('stops telling a listener once unsubscribed', async () => {
    const seen: ApiError[] = [];
    onUnauthenticated((e) => seen.push(e))();
    stubFetch(() => json(401, { error: { code: 'unauthenticated', message: 'x' } }));
    await listUsers().catch(() => {});
    expect(seen).toEqual([]);
  });

  it('logout accepts a 204 and forgets the CSRF token', async () => {
    await signIn();
    const calls = stubFetch(() => new Response(null, { status: 204 }));
    await expect(logout()).resolves.toBeUndefined();
    expect(calls[0]?.url).toBe('/api/v1/auth/logout');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(getCsrfToken()).toBeNull();
  });

  it('logout forgets the CSRF token even when it fails', async () => {
    await signIn();
    stubFetch(() => {
      throw new TypeError('Failed to fetch');
    });
    await expect(logout()).rejects.toBeInstanceOf(UnreachableError);
    expect(getCsrfToken()).toBeNull();
  });
});

describe('sign-in endpoints', () => {
  afterEach(() => setCsrfToken(null));

  it('fetchAuthMethods parses with and without SSO', async () => {
    stubFetch(() => json(200, { local: true, sso: null, setup_required: true }));
    await expect(fetchAuthMethods()).resolves.toEqual({ local: true, sso: null, setup_required: true });
    stubFetch(() =>
      json(200, { local: false, sso: { display_name: 'Okta', login_url: '/auth/oidc/login' }, setup_required: false }),
    );
    await expect(fetchAuthMethods()).resolves.toEqual({
      local: false,
      sso: { display_name: 'Okta', login_url: '/auth/oidc/login' },
      setup_required: false,
    });
  });

  it('fetchAuthMethods names a bad field', async () => {
    stubFetch(() => json(200, { local: true, sso: { display_name: 'Okta' }, setup_required: false }));
    await expect(fetchAuthMethods()).rejects.toThrow('field "sso.login_url" must be a string, got nothing');
  });

  it('setupFirstAdmin posts the token and leaves out an empty email', async () => {
    const calls = stubFetch(() => json(201, WHOAMI));
    await setupFirstAdmin({ setup_token: 'abc', username: 'admin', password: 'long enough pw', email: '' });
    expect(calls[0]?.url).toBe('/api/v1/setup');
    expect(bodyOf(calls[0]?.init)).toEqual({ setup_token: 'abc', username: 'admin', password: 'long enough pw' });
    expect(getCsrfToken()).toBe('csrf-123');
  });

  it('setupFirstAdmin reports a used link as an ApiError', async () => {
    stubFetch(() => json(401, { error: { code: 'unauthenticated', message: 'the setup link is not valid' } }));
    await expect(
      setupFirstAdmin({ setup_token: 'abc', username: 'admin', password: 'long enough pw' }),
    ).rejects.toMatchObject({ name: 'ApiError', status: 401, method: 'POST', endpoint: '/api/v1/setup' });
  });

  it('ssoLoginHref adds return_to', () => {
    expect(ssoLoginHref({ display_name: 'SSO', login_url: '/auth/oidc/login' }, '/users?x=1')).toBe(
      '/auth/oidc/login?return_to=%2Fusers%3Fx%3D1',
    );
    expect(ssoLoginHref({ display_name: 'SSO', login_url: '/auth/oidc/login?a=b' }, '/')).toBe(
      '/auth/oidc/login?a=b&return_to=%2F',
    );
  });
});

describe('users, tokens and mapping', () => {
  it('listTokens asks for everyone with all=true', async () => {
    const calls = stubFetch(() => json(200, [TOKEN]));
    await expect(listTokens({ all: true })).resolves.toEqual([TOKEN]);
    expect(calls[0]?.url).toBe('/api/v1/tokens?all=true');
    await listTokens();
    expect(calls[1]?.url).toBe('/api/v1/tokens');
  });

  it('listUsers names the bad field of the bad item', async () => {
    stubFetch(() => json(200, [USER, { ...USER, groups: 'dev' }]));
    await expect(listUsers()).rejects.toThrow('field "[1].groups" must be an array of strings, got the string "dev"');
  });

  it('listUsers wants an array', async () => {
    stubFetch(() => json(200, { users: [] }));
    await expect(listUsers()).rejects.toThrow('expected a JSON array, got an object');
  });

  it('fetchWhoami names nested fields, and takes a missing CSRF token as null', async () => {
    stubFetch(() => json(200, { ...WHOAMI, user: { ...USER, role: 1 } }));
    await expect(fetchWhoami()).rejects.toThrow('field "user.role" must be a string, got number 1');
    stubFetch(() => json(200, { ...WHOAMI, user: null }));
    await expect(fetchWhoami()).rejects.toThrow('field "user" must be an object, got null');
    stubFetch(() => json(200, { ...WHOAMI, csrf_token: undefined }));
    expect((await fetchWhoami()).csrf_token).toBeNull();
  });

  it('listTokens takes missing optional timestamps as null', async () => {
    const { expires_at: _e, last_used_at: _l, ...rest } = TOKEN;
    stubFetch(() => json(200, [rest]));
    await expect(listTokens()).resolves.toEqual([{ ...TOKEN, expires_at: null, last_used_at: null }]);
  });

  it('fetchMapping answers null when single sign-on is not configured', async () => {
    stubFetch(() => json(404, { error: { code: 'not_found', message: 'single sign-on not found' } }));
    await expect(fetchMapping()).resolves.toBeNull();
  });

  it('fetchMapping still throws other errors', async () => {
    stubFetch(() => json(403, { error: { code: 'forbidden', message: 'admins only' } }));
    await expect(fetchMapping()).rejects.toMatchObject({ status: 403 });
  });

  it('previewMapping sends the edited rules and parses the result', async () => {
    const rules = { admin_groups: ['admins'], auditor_groups: ['sec'] };
    const preview = {
      claims: { issuer: 'https://idp', subject: 's-1', username: 'alice', groups: ['admins'] },
      username: 'alice',
      allowed: true,
      refusal: null,
      role: 'admin',
      existing_user: { ...USER, username: 'alice', role: 'member', role_source: 'mapping', kind: 'sso' },
      warnings: ['something to know'],
    };
    const calls = stubFetch(() => json(200, preview));
    const result = await previewMapping({ claims: { issuer: 'https://idp', subject: 's-1' }, rules });
    expect(calls[0]?.url).toBe('/api/v1/auth/mapping/preview');
    expect(bodyOf(calls[0]?.init)).toEqual({ claims: { issuer: 'https://idp', subject: 's-1' }, rules });
    expect(result.role).toBe('admin');
    expect(result.existing_user?.role).toBe('member');
    expect(result.claims.groups).toEqual(['admins']);
    expect(result.warnings).toEqual(['something to know']);
  });

  it('previewMapping keeps "no groups claim" apart from "no groups"', async () => {
    const base = { claims: { issuer: 'i', subject: 's' }, username: null, allowed: false, refusal: 'no name', role: null, existing_user: null, warnings: [] };
    stubFetch(() => json(200, base));
    expect((await previewMapping({ id_token: 'a.b.c' })).claims.groups).toBeNull();
    stubFetch(() => json(200, { ...base, claims: { issuer: 'i', subject: 's', groups: [] } }));
    expect((await previewMapping({ id_token: 'a.b.c' })).claims.groups).toEqual([]);
    stubFetch(() => json(200, { ...base, allowed: 'no' }));
    await expect(previewMapping({ id_token: 'a.b.c' })).rejects.toThrow('field "allowed" must be a boolean');
  });
});

describe('createLocalUser', () => {
  afterEach(() => setCsrfToken(null));

  const DANA = {
    ...USER,
    id: 'u-7',
    username: 'dana',
    email: null,
    role: 'auditor',
    role_source: 'manual',
  };

  it('posts the account with the CSRF header and parses the 201 UserView', async () => {
    await signIn();
    const calls = stubFetch(() => json(201, DANA));
    const user = await createLocalUser({ username: 'dana', password: 'twelve chars!', email: '', role: 'auditor' });
    expect(user).toEqual(DANA);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe('/api/v1/users');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(header(calls[0]?.init, 'content-type')).toBe('application/json');
    // An empty email is left out (the daemon would keep "" as the address).
    expect(bodyOf(calls[0]?.init)).toEqual({ username: 'dana', password: 'twelve chars!', role: 'auditor' });
  });

  it('sends the email when there is one and leaves out an unset role', async () => {
    await signIn();
    const calls = stubFetch(() => json(201, { ...DANA, email: 'dana@example.com', role: 'member' }));
    const user = await createLocalUser({ username: 'dana', password: 'twelve chars!', email: 'dana@example.com' });
    expect(user.email).toBe('dana@example.com');
    expect(bodyOf(calls[0]?.init)).toEqual({ username: 'dana', password: 'twelve chars!', email: 'dana@example.com' });
  });

  it('names the bad field of an answer outside the contract', async () => {
    await signIn();
    stubFetch(() => json(201, { ...DANA, disabled: 'no' }));
    const err = await createLocalUser({ username: 'dana', password: 'twelve chars!' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect(err).toMatchObject({ status: 201, method: 'POST', endpoint: '/api/v1/users' });
    expect((err as Error).message).toBe('field "disabled" must be a boolean, got the string "no"');
  });

  it('refuses a 201 that is not JSON', async () => {
    await signIn();
    stubFetch(() => new Response('created', { status: 201 }));
    await expect(createLocalUser({ username: 'dana', password: 'twelve chars!' })).rejects.toThrow(
      'HTTP 201 with a body that is not JSON: created',
    );
  });

  it.each([
    [409, 'conflict', 'the user name dana is taken'],
    [422, 'invalid', 'password: must be at least 12 characters'],
    [422, 'invalid', 'username: "Dana" must be 1 to 63 lowercase letters, digits, \'-\', \'_\' or \'.\', starting with a letter or digit'],
    [403, 'forbidden', 'local accounts are turned off (auth.local_accounts = false)'],
  ])('turns a %i %s into an ApiError with the daemon\'s message', async (status, code, message) => {
    await signIn();
    stubFetch(() => json(status, { error: { code, message, request_id: 'r-5' } }));
    const err = await createLocalUser({ username: 'dana', password: 'twelve chars!' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status, code, message, method: 'POST', endpoint: '/api/v1/users', requestId: 'r-5' });
  });

  it('signals a 401 (the session ended) like the other changes', async () => {
    await signIn();
    const seen: ApiError[] = [];
    const unsubscribe = onUnauthenticated((e) => seen.push(e));
    stubFetch(() => json(401, { error: { code: 'unauthenticated', message: 'your session ended; sign in again' } }));
    await expect(createLocalUser({ username: 'dana', password: 'twelve chars!' })).rejects.toMatchObject({ status: 401 });
    unsubscribe();
    expect(seen).toHaveLength(1);
    expect(getCsrfToken()).toBeNull();
  });
});

// ---------------------------------------------------------------------------
// Audit log

const AUDIT_EVENT = {
  seq: 3,
  time_unix_nano: 1795792704950203299,
  actor: { kind: 'user', id: 'u-1', name: 'admin' },
  origin: { source: '127.0.0.1', user_agent: 'curl/7.88.1', request_id: 'r-1', trace_id: 't-1' },
  action: 'token.create',
  resource: { kind: 'token', id: '7e9b', name: 't1', space: null },
  outcome: 'success',
  status: null,
  reason: null,
  changes: { scopes: { before: null, after: ['read', 'write'] } },
  prev_hash: 'fe0b',
  hash: '7d8e',
};

const SYSTEM_EVENT = {
  ...AUDIT_EVENT,
  seq: 1,
  actor: { kind: 'system', id: null, name: 'berthd' },
  origin: { source: null, user_agent: null, request_id: null, trace_id: null },
  action: 'auth.setup_link',
  resource: { kind: 'setup', id: null, name: null, space: null },
  changes: {},
  prev_hash: '0000',
  hash: '8358',
};

const VERIFY_OK = {
  ok: true,
  events: 15,
  first_seq: 1,
  last_seq: 15,
  checkpoints: 2,
  first_broken_seq: null,
  problem: null,
  detail: null,
  public_key: 'ab12',
};

describe('audit log', () => {
  it('auditQueryString keeps the filter order, drops empty values and adds the page', () => {
    expect(auditQueryString({})).toBe('');
    expect(auditQueryString({ actor: '', action: '' })).toBe('');
    expect(
      auditQueryString(
        { outcome: 'denied', action: 'token.', since: '1795792704950203299', resource: 't1', resource_kind: 'token' },
        { limit: 50, before: 12 },
      ),
    ).toBe('?since=1795792704950203299&action=token.&resource_kind=token&resource=t1&outcome=denied&limit=50&before=12');
    expect(auditQueryString({ actor: 'a b&c' })).toBe('?actor=a+b%26c');
  });

  it('listAuditEvents asks with the filters and parses the page', async () => {
    const calls = stubFetch(() => json(200, { events: [AUDIT_EVENT, SYSTEM_EVENT], next: 1 }));
    const page = await listAuditEvents({ action: 'token.', space: '' }, { limit: 2 });
    expect(calls[0]?.url).toBe('/api/v1/audit/events?action=token.&limit=2');
    expect(calls[0]?.init?.method).toBe('GET');
    expect(page.next).toBe(1);
    expect(page.events).toEqual([AUDIT_EVENT, SYSTEM_EVENT]);
  });

  it('listAuditEvents passes `before` for the next page and accepts the last page', async () => {
    const calls = stubFetch(() => json(200, { events: [], next: null }));
    await expect(listAuditEvents({}, { before: 3 })).resolves.toEqual({ events: [], next: null });
    expect(calls[0]?.url).toBe('/api/v1/audit/events?before=3');
  });

  it('listAuditEvents fills a missing change side and missing changes with null / {}', async () => {
    const { changes: _changes, ...withoutChanges } = AUDIT_EVENT;
    stubFetch(() => json(200, { events: [withoutChanges, { ...AUDIT_EVENT, changes: { role: { after: 'admin' } } }], next: null }));
    const { events } = await listAuditEvents();
    expect(events[0]?.changes).toEqual({});
    expect(events[1]?.changes).toEqual({ role: { before: null, after: 'admin' } });
  });

  it('listAuditEvents takes nanoseconds past 2^53 as a number, not as a string', async () => {
    stubFetch(() => json(200, { events: [AUDIT_EVENT], next: null }));
    expect((await listAuditEvents()).events[0]?.time_unix_nano).toBe(1795792704950203299);
    stubFetch(() => json(200, { events: [{ ...AUDIT_EVENT, time_unix_nano: '1795792704950203299' }], next: null }));
    await expect(listAuditEvents()).rejects.toThrow(
      'field "events[0].time_unix_nano" must be a whole number, at least 0, got the string "1795792704950203299"',
    );
  });

  it.each([
    [{ ...AUDIT_EVENT, seq: -1 }, 'field "events[0].seq" must be a whole number, at least 0, got number -1'],
    [{ ...AUDIT_EVENT, seq: '3' }, 'field "events[0].seq" must be a whole number, at least 0, got the string "3"'],
    [{ ...AUDIT_EVENT, time_unix_nano: 'soon' }, 'field "events[0].time_unix_nano" must be a whole number, at least 0, got the string "soon"'],
    [{ ...AUDIT_EVENT, actor: null }, 'field "events[0].actor" must be an object, got null'],
    [{ ...AUDIT_EVENT, actor: { kind: 7, id: null, name: 'admin' } }, 'field "events[0].actor.kind" must be a string, got number 7'],
    [{ ...AUDIT_EVENT, actor: { kind: 'system', id: null, name: null } }, 'field "events[0].actor.name" must be a string, got null'],
    [{ ...AUDIT_EVENT, origin: { ...AUDIT_EVENT.origin, source: 1 } }, 'field "events[0].origin.source" must be a string or null'],
    [{ ...AUDIT_EVENT, resource: { kind: 'token', space: 5 } }, 'field "events[0].resource.space" must be a string or null'],
    [{ ...AUDIT_EVENT, status: 'denied' }, 'field "events[0].status" must be a whole number'],
    [{ ...AUDIT_EVENT, changes: [] }, 'field "events[0].changes" must be an object, got an array'],
    [{ ...AUDIT_EVENT, changes: { role: 'admin' } }, 'field "events[0].changes.role" must be an object'],
    [{ ...AUDIT_EVENT, hash: 5 }, 'field "events[0].hash" must be a string, got number 5'],
  ])('listAuditEvents names a bad field (%#)', async (event, message) => {
    stubFetch(() => json(200, { events: [event], next: null }));
    const err = await listAuditEvents().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain(message);
  });

  it('listAuditEvents rejects a page without events or with a bad next', async () => {
    stubFetch(() => json(200, { items: [] }));
    await expect(listAuditEvents()).rejects.toThrow('field "events" must be an array, got nothing');
    stubFetch(() => json(200, { events: [], next: 'abc' }));
    await expect(listAuditEvents()).rejects.toThrow('field "next" must be a whole number');
  });

  it('listAuditEvents turns a refused filter (422) or role (403) into an ApiError', async () => {
    stubFetch(() => json(422, { error: { code: 'invalid', message: 'resource: needs resource_kind', request_id: 'r-2' } }));
    const err = await listAuditEvents({ resource: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 422, code: 'invalid', message: 'resource: needs resource_kind' });
    expect((err as ApiError).endpoint).toBe('/api/v1/audit/events?resource=x');

    stubFetch(() => json(403, { error: { code: 'forbidden', message: 'this needs the admin role' } }));
    await expect(listAuditEvents()).rejects.toMatchObject({ name: 'ApiError', status: 403 });
  });

  it('listAuditEvents reports a plain-text refusal as malformed', async () => {
    stubFetch(() => new Response('Failed to deserialize query string: since: invalid digit found in string', { status: 400 }));
    await expect(listAuditEvents({ since: 'x' })).rejects.toThrow(
      'HTTP 400 with a body that is not JSON: Failed to deserialize query string',
    );
  });

  it('verifyAuditLog parses an intact and a broken log', async () => {
    const calls = stubFetch(() => json(200, VERIFY_OK));
    await expect(verifyAuditLog()).resolves.toEqual(VERIFY_OK);
    expect(calls[0]?.url).toBe('/api/v1/audit/verify');

    const broken = {
      ok: false,
      events: 7,
      first_seq: 1,
      last_seq: 9,
      checkpoints: 1,
      first_broken_seq: 8,
      problem: 'altered',
      detail: 'hash of seq 8 does not match its content',
      public_key: 'ab12',
    };
    stubFetch(() => json(200, broken));
    await expect(verifyAuditLog()).resolves.toEqual(broken);
  });

  it('verifyAuditLog accepts an empty log and names a bad field', async () => {
    const empty = { ...VERIFY_OK, events: 0, first_seq: null, last_seq: null, checkpoints: 0 };
    stubFetch(() => json(200, empty));
    await expect(verifyAuditLog()).resolves.toEqual(empty);
    stubFetch(() => json(200, { ...VERIFY_OK, ok: 'yes' }));
    await expect(verifyAuditLog()).rejects.toThrow('field "ok" must be a boolean, got the string "yes"');
    stubFetch(() => json(200, { ...VERIFY_OK, first_broken_seq: 1.5 }));
    await expect(verifyAuditLog()).rejects.toThrow('field "first_broken_seq" must be a whole number');
  });

  it('verifyAuditLog waits longer than the usual timeout', async () => {
    vi.useFakeTimers();
    stubFetch(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const pending = verifyAuditLog().catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10_000);
    let settled = false;
    void pending.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await pending).toBeInstanceOf(UnreachableError);
  });

  it('fetchAuditPublicKey returns the key', async () => {
    const calls = stubFetch(() => json(200, { public_key: '8303bb' }));
    await expect(fetchAuditPublicKey()).resolves.toBe('8303bb');
    expect(calls[0]?.url).toBe('/api/v1/audit/public-key');
    stubFetch(() => json(200, { key: '8303bb' }));
    await expect(fetchAuditPublicKey()).rejects.toThrow('field "public_key" must be a string, got nothing');
  });

  it('auditExportHref carries the filters', () => {
    expect(auditExportHref({})).toBe('/api/v1/audit/export');
    expect(auditExportHref({ action: 'token.', outcome: 'failure' })).toBe('/api/v1/audit/export?action=token.&outcome=failure');
  });

  it('signals a 401 from the audit endpoints like any session request', async () => {
    const seen: ApiError[] = [];
    const unsubscribe = onUnauthenticated((e) => seen.push(e));
    stubFetch(() => json(401, { error: { code: 'unauthenticated', message: 'sign in first' } }));
    await listAuditEvents().catch(() => {});
    await verifyAuditLog().catch(() => {});
    unsubscribe();
    expect(seen.map((e) => e.endpoint)).toEqual(['/api/v1/audit/events', '/api/v1/audit/verify']);
  });
});

// ---------------------------------------------------------------------------
// Spaces

const SPACE = {
  name: 'alpha',
  owner: { user_id: 'u-1', username: 'admin', role: 'owner' },
  members: [
    { user_id: 'u-1', username: 'admin', role: 'owner' },
    { user_id: 'u-2', username: '', role: 'member' },
  ],
  persistent: false,
  personal: true,
  labels: { team: 'web' },
  quota_profile: 'default',
  generation: 2,
  created_at: '2026-11-27T10:00:00Z',
  last_activity: '2026-11-27T10:02:00Z',
  last_activity_reason: 'api call by admin',
  wakefulness: { asleep: false, reason: 'dev session of admin since 10:02', by: 'admin', since: '2026-11-27T10:02:00Z' },
  sleeps_at: '2026-11-27T12:02:00Z',
  deleted_at: null,
  status: {
    phase: 'Active',
    observed_generation: 2,
    conditions: [
      { type: 'Ready', status: true, reason: 'Converged', message: 'in place', last_transition: '2026-11-27T10:01:00Z' },
    ],
    quota: { profile: 'default', hard: { pods: '50' }, used: { pods: '3' } },
  },
  your_role: 'owner',
};

describe('spaces', () => {
  afterEach(() => setCsrfToken(null));

  it('listSpaces parses the list', async () => {
    const calls = stubFetch(() => json(200, [SPACE, { ...SPACE, name: 'beta', your_role: null }]));
    const spaces = await listSpaces();
    expect(calls[0]?.url).toBe('/api/v1/spaces');
    expect(calls[0]?.init?.method).toBe('GET');
    expect(spaces).toEqual([SPACE, { ...SPACE, name: 'beta', your_role: null }]);
  });

  it('wants the labels and quota maps the document requires, and keeps an object of any shape', async () => {
    const { labels: _labels, ...noLabels } = SPACE;
    stubFetch(() => json(200, noLabels));
    await expect(fetchSpace('alpha')).rejects.toThrow('field "labels" must be an object of strings, got nothing');
    stubFetch(() => json(200, { ...SPACE, labels: {}, status: { ...SPACE.status, quota: { profile: '', hard: {}, used: {} } } }));
    const space = await fetchSpace('alpha');
    expect(space.labels).toEqual({});
    expect(space.status.quota).toEqual({ profile: '', hard: {}, used: {} });
    stubFetch(() => json(200, { ...SPACE, status: { ...SPACE.status, quota: { profile: '' } } }));
    await expect(fetchSpace('alpha')).rejects.toThrow('field "status.quota.hard" must be an object of strings, got nothing');

    stubFetch(() => json(200, [{ api_version: 'v1', kind: 'ConfigMap', name: 'x', in_sync: false }]));
    await expect(listSpaceObjects('alpha')).resolves.toEqual([
      { api_version: 'v1', kind: 'ConfigMap', name: 'x', in_sync: false, object: null },
    ]);
  });

  it.each([
    [{ ...SPACE, members: null }, 'field "[0].members" must be an array, got null'],
    [{ ...SPACE, owner: { user_id: 'u-1', username: 'admin' } }, 'field "[0].owner.role" must be a string, got nothing'],
    [{ ...SPACE, labels: { team: 1 } }, 'field "[0].labels" must be an object of strings, got an object'],
    [{ ...SPACE, wakefulness: { ...SPACE.wakefulness, asleep: 'no' } }, 'field "[0].wakefulness.asleep" must be a boolean'],
    [{ ...SPACE, sleeps_at: 5 }, 'field "[0].sleeps_at" must be a string or null, got number 5'],
    [{ ...SPACE, status: { ...SPACE.status, phase: 5 } }, 'field "[0].status.phase" must be a string, got number 5'],
    [
      { ...SPACE, status: { ...SPACE.status, conditions: [{ type: 'Ready', status: 'True' }] } },
      'field "[0].status.conditions[0].status" must be a boolean, got the string "True"',
    ],
    [{ ...SPACE, status: { ...SPACE.status, quota: { profile: 'x', hard: { pods: 50 } } } }, 'field "[0].status.quota.hard" must be an object of strings'],
    [{ ...SPACE, generation: -1 }, 'field "[0].generation" must be a whole number, at least 0, got number -1'],
  ])('listSpaces names a bad field (%#)', async (space, message) => {
    stubFetch(() => json(200, [space]));
    const err = await listSpaces().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain(message);
  });

  it('createSpace posts the request with the CSRF header and takes the 201', async () => {
    await signIn();
    const calls = stubFetch(() => json(201, SPACE));
    await expect(createSpace({ name: 'alpha', persistent: true })).resolves.toEqual(SPACE);
    expect(calls[0]?.url).toBe('/api/v1/spaces');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(bodyOf(calls[0]?.init)).toEqual({ name: 'alpha', persistent: true });
  });

  it.each([
    [422, 'invalid', 'name: "Alpha" must be 1 to 63 lowercase letters, digits or \'-\''],
    [403, 'forbidden', 'you own 3 spaces, the most allowed; delete one first'],
    [409, 'conflict', 'the space alpha exists'],
  ])('createSpace turns a %i into an ApiError with the daemon\'s message', async (status, code, message) => {
    stubFetch(() => json(status, { error: { code, message, request_id: 'r-3' } }));
    const err = await createSpace({ name: 'Alpha' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status, code, message, method: 'POST', endpoint: '/api/v1/spaces', requestId: 'r-3' });
  });

  it('each change goes to its own method and escaped path, with the CSRF header', async () => {
    await signIn();
    const calls = stubFetch((_url, init) => json(init?.method === 'DELETE' && !_url.includes('/members/') ? 202 : 200, SPACE));
    await fetchSpace('a b');
    await updateSpace('alpha', { persistent: true, labels: { team: 'api' } });
    await deleteSpace('alpha');
    await shareSpace('alpha', 'dana@example.com');
    await unshareSpace('alpha', 'u/2');
    await sleepSpace('alpha');
    await wakeSpace('alpha');
    expect(calls.map((c) => `${c.init?.method} ${c.url}`)).toEqual([
      'GET /api/v1/spaces/a%20b',
      'PATCH /api/v1/spaces/alpha',
      'DELETE /api/v1/spaces/alpha',
      'POST /api/v1/spaces/alpha/members',
      'DELETE /api/v1/spaces/alpha/members/u%2F2',
      'POST /api/v1/spaces/alpha/sleep',
      'POST /api/v1/spaces/alpha/wake',
    ]);
    expect(header(calls[0]?.init, 'x-csrf-token')).toBeUndefined();
    for (const call of calls.slice(1)) expect(header(call.init, 'x-csrf-token')).toBe('csrf-123');
    expect(bodyOf(calls[1]?.init)).toEqual({ persistent: true, labels: { team: 'api' } });
    expect(bodyOf(calls[3]?.init)).toEqual({ user: 'dana@example.com' });
    expect(calls[5]?.init?.body).toBeUndefined();
  });

  it('deleteSpace takes the 202 and its Terminating space', async () => {
    stubFetch(() => json(202, { ...SPACE, status: { ...SPACE.status, phase: 'Terminating' } }));
    await expect(deleteSpace('alpha')).resolves.toMatchObject({ status: { phase: 'Terminating' } });
  });

  it('fetchSpace reports a space one may not see as a 404 ApiError', async () => {
    stubFetch(() => json(404, { error: { code: 'not_found', message: 'space alpha not found' } }));
    await expect(fetchSpace('alpha')).rejects.toMatchObject({
      name: 'ApiError',
      status: 404,
      endpoint: '/api/v1/spaces/alpha',
    });
  });

  it('listSpaceObjects wants an array and names a bad field', async () => {
    stubFetch(() => json(200, [{ api_version: 'v1', kind: 'ConfigMap', name: 'x', in_sync: 'yes', object: {} }]));
    await expect(listSpaceObjects('alpha')).rejects.toThrow('field "[0].in_sync" must be a boolean, got the string "yes"');
    stubFetch(() => json(200, { objects: [] }));
    await expect(listSpaceObjects('alpha')).rejects.toThrow('expected a JSON array, got an object');
  });
});

// ---------------------------------------------------------------------------
// Dev sessions

const DEV_SESSION = {
  id: 's-4f2a',
  space: 'alpha',
  owner: 'admin',
  owner_id: 'u-1',
  created_at: '2026-11-27T10:00:00Z',
  state: 'connected',
  client_connected: true,
  agent_connected: true,
  streams: 2,
  bytes_to_agent: 1536,
  bytes_to_client: 3670016,
  ended_reason: null,
  ended_at: null,
};

describe('dev sessions', () => {
  afterEach(() => setCsrfToken(null));

  it('listSessions parses the list, with no CSRF header', async () => {
    await signIn();
    const ended = { ...DEV_SESSION, id: 's-0', state: 'ended', ended_reason: 'ended by admin', ended_at: '2026-11-27T10:05:00Z' };
    const calls = stubFetch(() => json(200, [DEV_SESSION, ended]));
    await expect(listSessions()).resolves.toEqual([DEV_SESSION, ended]);
    expect(calls[0]?.url).toBe('/api/v1/sessions');
    expect(calls[0]?.init?.method).toBe('GET');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBeUndefined();
  });

  it('takes missing ended_reason and ended_at as null, and keeps an unknown state', async () => {
    const { ended_reason: _r, ended_at: _a, ...open } = DEV_SESSION;
    stubFetch(() => json(200, { ...open, state: 'paused' }));
    await expect(fetchSession('s-4f2a')).resolves.toEqual({ ...DEV_SESSION, state: 'paused' });
  });

  it.each([
    [{ ...DEV_SESSION, id: 7 }, 'field "[0].id" must be a string, got number 7'],
    [{ ...DEV_SESSION, state: null }, 'field "[0].state" must be a string, got null'],
    [{ ...DEV_SESSION, agent_connected: 'yes' }, 'field "[0].agent_connected" must be a boolean, got the string "yes"'],
    [{ ...DEV_SESSION, streams: -1 }, 'field "[0].streams" must be a whole number, at least 0, got number -1'],
    [{ ...DEV_SESSION, bytes_to_client: '12' }, 'field "[0].bytes_to_client" must be a whole number'],
    [{ ...DEV_SESSION, ended_at: 5 }, 'field "[0].ended_at" must be a string or null, got number 5'],
  ])('listSessions names a bad field (%#)', async (view, message) => {
    stubFetch(() => json(200, [view]));
    const err = await listSessions().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain(message);
  });

  it('createSession posts the space with the CSRF header and takes the 201 with the agent token', async () => {
    await signIn();
    const created = { session: { ...DEV_SESSION, state: 'waiting' }, agent_token: 'berth_agt_abc' };
    const calls = stubFetch(() => json(201, created));
    await expect(createSession({ space: 'alpha' })).resolves.toEqual(created);
    expect(calls[0]?.url).toBe('/api/v1/sessions');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(bodyOf(calls[0]?.init)).toEqual({ space: 'alpha' });
  });

  it('createSession names a missing token or a bad session', async () => {
    stubFetch(() => json(201, { session: DEV_SESSION }));
    await expect(createSession({ space: 'alpha' })).rejects.toThrow('field "agent_token" must be a string, got nothing');
    stubFetch(() => json(201, { session: { ...DEV_SESSION, owner_id: 7 }, agent_token: 'berth_agt_abc' }));
    await expect(createSession({ space: 'alpha' })).rejects.toThrow('field "session.owner_id" must be a string, got number 7');
  });

  it.each([
    [403, 'forbidden', 'you have 3 live dev sessions, the most allowed; end one first'],
    [404, 'not_found', 'space gamma not found'],
  ])("createSession turns a %i into an ApiError with the daemon's message", async (status, code, message) => {
    stubFetch(() => json(status, { error: { code, message, request_id: 'r-9' } }));
    const err = await createSession({ space: 'gamma' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status, code, message, method: 'POST', endpoint: '/api/v1/sessions', requestId: 'r-9' });
  });

  it('fetchSession and endSession go to the escaped session path; ending carries the CSRF header', async () => {
    await signIn();
    const ended = { ...DEV_SESSION, state: 'ended', ended_reason: 'ended by admin', ended_at: '2026-11-27T10:05:00Z' };
    const calls = stubFetch((_url, init) => json(200, init?.method === 'DELETE' ? ended : DEV_SESSION));
    await expect(fetchSession('s-4f2a')).resolves.toEqual(DEV_SESSION);
    await expect(endSession('s/1 x')).resolves.toEqual(ended);
    expect(calls.map((c) => `${c.init?.method} ${c.url}`)).toEqual([
      'GET /api/v1/sessions/s-4f2a',
      'DELETE /api/v1/sessions/s%2F1%20x',
    ]);
    expect(header(calls[0]?.init, 'x-csrf-token')).toBeUndefined();
    expect(header(calls[1]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(calls[1]?.init?.body).toBeUndefined();
  });

  it('endSession reports a session one may not end as a 404 ApiError and a 401 as signed out', async () => {
    stubFetch(() => json(404, { error: { code: 'not_found', message: 'session s-1 not found' } }));
    await expect(endSession('s-1')).rejects.toMatchObject({ name: 'ApiError', status: 404, method: 'DELETE', endpoint: '/api/v1/sessions/s-1' });

    const seen: string[] = [];
    const unsubscribe = onUnauthenticated((e) => seen.push(e.endpoint));
    stubFetch(() => json(401, { error: { code: 'unauthenticated', message: 'sign in first' } }));
    await listSessions().catch(() => {});
    unsubscribe();
    expect(seen).toEqual(['/api/v1/sessions']);
  });
});

// ---------------------------------------------------------------------------
// Dev mode

const DEV = {
  space: 'alpha',
  target: 'api',
  workload: 'deployment/api',
  mode: 'cluster',
  session: DEV_SESSION,
  started_by: 'admin',
  started_at: '2026-11-27T09:58:00Z',
  image: 'node:22',
  command: ['npm', 'run', 'dev'],
  local_root: null,
  volumes: ['/root/.cache'],
  wake: null,
};

const WORKLOAD = {
  workload: 'deployment/api',
  containers: [
    { name: 'api', image: 'registry.example.com/api:1.4', ports: [8080, 9229], workdir: '/app' },
    { name: 'envoy', image: 'envoyproxy/envoy:v1.31', ports: [], workdir: null },
  ],
  dev_target: 'api',
};

describe('dev mode', () => {
  afterEach(() => setCsrfToken(null));

  it('listDev and listWorkloads read the space’s lists, with no CSRF header', async () => {
    await signIn();
    const local = { ...DEV, target: 'worker', mode: 'local', image: null, command: [], local_root: '/var/lib/berth/dev/alpha/worker' };
    const calls = stubFetch((url) => json(200, url.endsWith('/dev') ? [DEV, local] : [WORKLOAD, { ...WORKLOAD, workload: 'statefulset/db', dev_target: null }]));
    await expect(listDev('alpha')).resolves.toEqual([DEV, local]);
    await expect(listWorkloads('a b')).resolves.toEqual([WORKLOAD, { ...WORKLOAD, workload: 'statefulset/db', dev_target: null }]);
    expect(calls.map((c) => `${c.init?.method} ${c.url}`)).toEqual([
      'GET /api/v1/spaces/alpha/dev',
      'GET /api/v1/spaces/a%20b/workloads',
    ]);
    for (const call of calls) expect(header(call.init, 'x-csrf-token')).toBeUndefined();
  });

  it('takes a missing image, local_root, wake, workdir and dev_target as null, missing volumes as none, and keeps an unknown mode', async () => {
    const { image: _i, local_root: _l, wake: _w, volumes: _v, ...bare } = DEV;
    stubFetch(() => json(200, [{ ...bare, mode: 'remote' }]));
    await expect(listDev('alpha')).resolves.toEqual([{ ...DEV, mode: 'remote', image: null, local_root: null, volumes: [] }]);
    stubFetch(() => json(200, [{ workload: 'deployment/x', containers: [{ name: '', image: '', ports: [] }] }]));
    await expect(listWorkloads('alpha')).resolves.toEqual([
      { workload: 'deployment/x', containers: [{ name: '', image: '', ports: [], workdir: null }], dev_target: null },
    ]);
  });

  it('stopDev sends DELETE to the escaped target path with the CSRF header and takes the target as it was', async () => {
    await signIn();
    const ended = { ...DEV, session: { ...DEV_SESSION, state: 'ended', ended_reason: 'dev mode ended', ended_at: '2026-11-27T10:05:00Z' } };
    const calls = stubFetch(() => json(200, ended));
    await expect(stopDev('alpha', 'api')).resolves.toEqual(ended);
    await stopDev('a b', 'x/y');
    expect(calls.map((c) => `${c.init?.method} ${c.url}`)).toEqual([
      'DELETE /api/v1/spaces/alpha/dev/api',
      'DELETE /api/v1/spaces/a%20b/dev/x%2Fy',
    ]);
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(calls[0]?.init?.body).toBeUndefined();
  });

  it('stopDev turns a refusal into an ApiError with the daemon’s message', async () => {
    stubFetch(() => json(404, { error: { code: 'not_found', message: 'dev target api in space alpha not found', request_id: 'r-5' } }));
    const err = await stopDev('alpha', 'api').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      status: 404,
      code: 'not_found',
      message: 'dev target api in space alpha not found',
      method: 'DELETE',
      endpoint: '/api/v1/spaces/alpha/dev/api',
    });
  });

  it.each([
    [{ ...DEV, target: 1 }, 'field "[0].target" must be a string, got number 1'],
    [{ ...DEV, mode: null }, 'field "[0].mode" must be a string, got null'],
    [{ ...DEV, session: null }, 'field "[0].session" must be an object, got null'],
    [{ ...DEV, session: { ...DEV_SESSION, client_connected: 'yes' } }, 'field "[0].session.client_connected" must be a boolean'],
    [{ ...DEV, command: 'npm run dev' }, 'field "[0].command" must be an array of strings, got the string "npm run dev"'],
    [{ ...DEV, image: 22 }, 'field "[0].image" must be a string or null, got number 22'],
  ])('listDev names a bad field (%#)', async (view, message) => {
    stubFetch(() => json(200, [view]));
    const err = await listDev('alpha').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain(message);
  });

  it.each([
    [{ ...WORKLOAD, containers: null }, 'field "[0].containers" must be an array, got null'],
    [{ ...WORKLOAD, containers: [{ name: 'api', image: 'x', ports: ['8080'] }] }, 'field "[0].containers[0].ports" must be an array of whole numbers, at least 0, got an array'],
    [{ ...WORKLOAD, containers: [{ name: 'api', image: 'x', ports: [-1] }] }, 'field "[0].containers[0].ports" must be an array of whole numbers, at least 0'],
    [{ ...WORKLOAD, containers: [{ name: 'api', ports: [] }] }, 'field "[0].containers[0].image" must be a string, got nothing'],
    [{ ...WORKLOAD, dev_target: 1 }, 'field "[0].dev_target" must be a string or null, got number 1'],
  ])('listWorkloads names a bad field (%#)', async (view, message) => {
    stubFetch(() => json(200, [view]));
    const err = await listWorkloads('alpha').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain(message);
  });
});

// ---------------------------------------------------------------------------
// Catalog: chart repositories

const REPOSITORY = {
  name: 'stable',
  url: 'https://charts.example.com',
  username_file: '/etc/berth/secrets/charts/username',
  password_file: '/etc/berth/secrets/charts/password',
  ca_file: null,
  added_by: 'admin',
  added_at: '2026-11-27T10:00:00Z',
  fetched_at: '2026-11-27T11:00:00Z',
  last_error: null,
  failed_at: null,
  charts: 1,
  versions: 2,
};

const CHART = {
  name: 'redis',
  versions: [
    {
      version: '1.10.0',
      app_version: '7.4',
      description: 'An in-memory store',
      icon: 'https://charts.example.com/redis.png',
      created: '2026-11-20T10:00:00Z',
      digest: 'abc',
      urls: ['https://charts.example.com/redis-1.10.0.tgz'],
      deprecated: false,
    },
    { version: '1.2.0', app_version: null, description: null, icon: null, created: null, digest: null, urls: [], deprecated: true },
  ],
};

describe('catalog repositories', () => {
  afterEach(() => setCsrfToken(null));

  it('reads the list, one repository and its charts, with no CSRF header', async () => {
    await signIn();
    const calls = stubFetch((url) =>
      json(200, url.endsWith('/charts') ? [CHART] : url.endsWith('/repositories') ? [REPOSITORY] : REPOSITORY),
    );
    await expect(listRepositories()).resolves.toEqual([REPOSITORY]);
    await expect(fetchRepository('stable')).resolves.toEqual(REPOSITORY);
    await expect(listCharts('a b')).resolves.toEqual([CHART]);
    expect(calls.map((c) => `${c.init?.method} ${c.url}`)).toEqual([
      'GET /api/v1/catalog/repositories',
      'GET /api/v1/catalog/repositories/stable',
      'GET /api/v1/catalog/repositories/a%20b/charts',
    ]);
    for (const call of calls) expect(header(call.init, 'x-csrf-token')).toBeUndefined();
  });

  it('addRepository posts the request with the CSRF header, leaves out empty files and takes the 201', async () => {
    await signIn();
    const calls = stubFetch(() => json(201, REPOSITORY));
    await expect(
      addRepository({
        name: 'stable',
        url: 'https://charts.example.com',
        username_file: '/etc/berth/secrets/charts/username',
        password_file: '/etc/berth/secrets/charts/password',
        ca_file: '',
      }),
    ).resolves.toEqual(REPOSITORY);
    expect(calls[0]?.url).toBe('/api/v1/catalog/repositories');
    expect(calls[0]?.init?.method).toBe('POST');
    expect(header(calls[0]?.init, 'x-csrf-token')).toBe('csrf-123');
    expect(bodyOf(calls[0]?.init)).toEqual({
      name: 'stable',
      url: 'https://charts.example.com',
      username_file: '/etc/berth/secrets/charts/username',
      password_file: '/etc/berth/secrets/charts/password',
    });
  });

  it.each([
    [422, 'invalid', 'url: cannot fetch https://charts.example.com/index.yaml: connection refused'],
    [409, 'conflict', 'a chart repository is named stable already'],
    [403, 'forbidden', 'only admins may do this'],
  ])('addRepository turns a %i into an ApiError with the daemon\'s message', async (status, code, message) => {
    stubFetch(() => json(status, { error: { code, message, request_id: 'r-9' } }));
    const err = await addRepository({ name: 'stable', url: 'https://charts.example.com' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status, code, message, method: 'POST', endpoint: '/api/v1/catalog/repositories' });
  });

  it('refreshRepository and removeRepository send POST (no body) and DELETE with the CSRF header', async () => {
    await signIn();
    const failed = { ...REPOSITORY, last_error: 'https://charts.example.com/index.yaml answered 500', failed_at: '2026-11-27T12:00:00Z' };
    const calls = stubFetch((_url, init) => json(200, init?.method === 'POST' ? failed : REPOSITORY));
    // A failed fetch is an ordinary 200 answer with last_error.
    await expect(refreshRepository('stable')).resolves.toEqual(failed);
    await expect(removeRepository('x/y')).resolves.toEqual(REPOSITORY);
    expect(calls.map((c) => `${c.init?.method} ${c.url}`)).toEqual([
      'POST /api/v1/catalog/repositories/stable/refresh',
      'DELETE /api/v1/catalog/repositories/x%2Fy',
    ]);
    for (const call of calls) {
      expect(header(call.init, 'x-csrf-token')).toBe('csrf-123');
      expect(call.init?.body).toBeUndefined();
    }
  });

  it('adding and refreshing wait longer than the usual timeout: the daemon fetches the index first', async () => {
    vi.useFakeTimers();
    stubFetch(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const adding = addRepository({ name: 'stable', url: 'https://charts.example.com' }).catch((e: unknown) => e);
    const refreshing = refreshRepository('stable').catch((e: unknown) => e);
    let settled = 0;
    void adding.then(() => (settled += 1));
    void refreshing.then(() => (settled += 1));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(settled).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await adding).toBeInstanceOf(UnreachableError);
    expect(await refreshing).toBeInstanceOf(UnreachableError);
  });

  it.each([
    [{ ...REPOSITORY, charts: '1' }, 'field "[0].charts" must be a whole number, at least 0, got the string "1"'],
    [{ ...REPOSITORY, last_error: 5 }, 'field "[0].last_error" must be a string or null, got number 5'],
    [{ ...REPOSITORY, url: 1 }, 'field "[0].url" must be a string, got number 1'],
  ])('listRepositories names a bad field (%#)', async (view, message) => {
    stubFetch(() => json(200, [view]));
    const err = await listRepositories().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain(message);
  });

  it.each([
    [{ ...CHART, versions: null }, 'field "[0].versions" must be an array, got null'],
    [{ ...CHART, versions: [{ ...CHART.versions[0], deprecated: 'no' }] }, 'field "[0].versions[0].deprecated" must be a boolean'],
    [{ ...CHART, versions: [{ ...CHART.versions[0], urls: 'x.tgz' }] }, 'field "[0].versions[0].urls" must be an array of strings'],
    [{ ...CHART, versions: [{ ...CHART.versions[0], version: 1 }] }, 'field "[0].versions[0].version" must be a string, got number 1'],
  ])('listCharts names a bad field (%#)', async (view, message) => {
    stubFetch(() => json(200, [view]));
    const err = await listCharts('stable').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain(message);
  });

  it('takes missing optional fields as null', async () => {
    stubFetch(() => json(200, { name: 'x', url: 'http://x', added_by: 'admin', added_at: '2026-11-27T10:00:00Z', charts: 0, versions: 0 }));
    await expect(fetchRepository('x')).resolves.toMatchObject({
      username_file: null,
      password_file: null,
      ca_file: null,
      fetched_at: null,
      last_error: null,
      failed_at: null,
    });
  });
});

const ITEM_SPEC = {
  name: 'redis',
  description: 'An in-memory store',
  icon: null,
  repository: 'stable',
  chart: 'redis',
  version: '^1.4',
  values: { architecture: 'standalone' },
  parameters: ['auth.password'],
  hidden: false,
};

const FIELD = {
  path: 'auth.password',
  kind: 'string',
  title: 'Password',
  description: null,
  default: null,
  choices: [],
  required: true,
  minimum: null,
  maximum: null,
  secret: true,
};

const ITEM = {
  spec: ITEM_SPEC,
  icon: 'https://charts.example.com/redis.png',
  chart_version: '1.10.0',
  app_version: '7.4',
  chart_description: 'An in-memory store',
  fields: [FIELD, { ...FIELD, path: 'replicas', kind: 'integer', title: null, default: 1, required: false, minimum: 1, maximum: 10, secret: false, choices: [] }],
  has_schema: true,
  created_by: 'root',
  created_at: '2026-11-27T10:00:00Z',
  updated_by: 'root',
  updated_at: '2026-11-27T10:00:00Z',
};

const APP = {
  space: 'alpha',
  name: 'cache',
  item: 'redis',
  chart: 'redis',
  chart_version: '1.10.0',
  values: { replicas: 2 },
  status: 'installing',
  operation: {
    number: 1,
    kind: 'install',
    state: 'running',
    chart_version: '1.10.0',
    started_by: 'alice',
    started_at: '2026-11-27T10:00:00Z',
    finished_at: null,
    error: null,
    runner: 'helm',
  },
  release: null,
  installed_by: 'alice',
  installed_at: '2026-11-27T10:00:00Z',
};

describe('catalog items', () => {
  afterEach(() => setCsrfToken(null));

  it('reads the list and one item, with no CSRF header', async () => {
    await signIn();
    const calls = stubFetch((url) => json(200, url.endsWith('/items') ? [ITEM] : ITEM));
    await expect(listItems()).resolves.toEqual([ITEM]);
    await expect(fetchItem('a b')).resolves.toEqual(ITEM);
    expect(calls.map((c) => `${c.init?.method} ${c.url}`)).toEqual([
      'GET /api/v1/catalog/items',
      'GET /api/v1/catalog/items/a%20b',
    ]);
    for (const call of calls) expect(header(call.init, 'x-csrf-token')).toBeUndefined();
  });

  it('creates (POST), replaces (PUT) and deletes items with the CSRF header', async () => {
    await signIn();
    const calls = stubFetch((_url, init) => json(init?.method === 'POST' ? 201 : 200, ITEM));
    await expect(createItem(ITEM_SPEC)).resolves.toEqual(ITEM);
    await expect(updateItem('redis', { ...ITEM_SPEC, hidden: true })).resolves.toEqual(ITEM);
    await expect(deleteItem('redis')).resolves.toEqual(ITEM);
    expect(calls.map((c) => `${c.init?.method} ${c.url}`)).toEqual([
      'POST /api/v1/catalog/items',
      'PUT /api/v1/catalog/items/redis',
      'DELETE /api/v1/catalog/items/redis',
    ]);
    expect(bodyOf(calls[0]?.init)).toEqual(ITEM_SPEC);
    expect(bodyOf(calls[1]?.init)).toEqual({ ...ITEM_SPEC, hidden: true });
    expect(calls[2]?.init?.body).toBeUndefined();
    for (const call of calls) expect(header(call.init, 'x-csrf-token')).toBe('csrf-123');
  });

  it('turns a 422 into an ApiError with the daemon’s message', async () => {
    const message = 'values.replicas: 0 is less than the minimum of 1';
    stubFetch(() => json(422, { error: { code: 'invalid', message, request_id: 'r-1' } }));
    const err = await createItem(ITEM_SPEC).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 422, message, method: 'POST', endpoint: '/api/v1/catalog/items' });
  });

  it('takes missing optional fields as null and an absent values as {}', async () => {
    const { icon: _icon, parameters: _parameters, values: _values, ...spec } = ITEM_SPEC;
    stubFetch(() => json(200, { ...ITEM, spec, fields: [{ ...FIELD, default: undefined }] }));
    const item = await fetchItem('redis');
    expect(item.spec).toMatchObject({ icon: null, parameters: null, values: {} });
    expect(item.fields[0]).toMatchObject({ default: null, choices: [] });
  });

  it.each([
    [{ ...ITEM, fields: null }, 'field "[0].fields" must be an array, got null'],
    [{ ...ITEM, spec: { ...ITEM_SPEC, hidden: 'no' } }, 'field "[0].spec.hidden" must be a boolean'],
    [{ ...ITEM, fields: [{ ...FIELD, minimum: '1' }] }, 'field "[0].fields[0].minimum" must be a number or null'],
    [{ ...ITEM, spec: { ...ITEM_SPEC, values: [] } }, 'field "[0].spec.values" must be an object, got an array'],
  ])('listItems names a bad field (%#)', async (view, message) => {
    stubFetch(() => json(200, [view]));
    const err = await listItems().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain(message);
  });
});

describe('applications', () => {
  afterEach(() => setCsrfToken(null));

  it('reads the list and one application', async () => {
    const calls = stubFetch((url) => json(200, url.endsWith('/apps') ? [APP] : APP));
    await expect(listApps('alpha')).resolves.toEqual([APP]);
    await expect(fetchApp('alpha', 'cache')).resolves.toEqual(APP);
    expect(calls.map((c) => c.url)).toEqual(['/api/v1/spaces/alpha/apps', '/api/v1/spaces/alpha/apps/cache']);
  });

  it('installs, upgrades and uninstalls (202), leaving out what is empty', async () => {
    await signIn();
    const calls = stubFetch(() => json(202, APP));
    await installApp('alpha', { item: 'redis', name: '', values: {} });
    await installApp('alpha', { item: 'redis', name: 'cache', values: { auth: { password: 'pw' } } });
    await upgradeApp('alpha', 'cache', { values: {}, reset_values: false });
    await upgradeApp('alpha', 'cache', { values: { replicas: 3 }, reset_values: true });
    await uninstallApp('alpha', 'cache');
    expect(calls.map((c) => `${c.init?.method} ${c.url}`)).toEqual([
      'POST /api/v1/spaces/alpha/apps',
      'POST /api/v1/spaces/alpha/apps',
      'POST /api/v1/spaces/alpha/apps/cache/upgrade',
      'POST /api/v1/spaces/alpha/apps/cache/upgrade',
      'DELETE /api/v1/spaces/alpha/apps/cache',
    ]);
    expect(calls.map((c) => bodyOf(c.init))).toEqual([
      { item: 'redis' },
      { item: 'redis', name: 'cache', values: { auth: { password: 'pw' } } },
      {},
      { values: { replicas: 3 }, reset_values: true },
      undefined,
    ]);
    for (const call of calls) expect(header(call.init, 'x-csrf-token')).toBe('csrf-123');
  });

  it('reads Helm’s output as text, even when it looks like JSON', async () => {
    const calls = stubFetch(() => new Response('42', { status: 200, headers: { 'content-type': 'text/plain' } }));
    await expect(fetchAppLogs('alpha', 'cache')).resolves.toBe('42');
    expect(calls[0]?.url).toBe('/api/v1/spaces/alpha/apps/cache/logs');
    expect(header(calls[0]?.init, 'accept')).toBe('text/plain');
  });

  it('turns a 404 of the logs (the app is gone) into an ApiError', async () => {
    stubFetch(() => json(404, { error: { code: 'not_found', message: 'application cache not found', request_id: 'r-2' } }));
    const err = await fetchAppLogs('alpha', 'cache').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 404, endpoint: '/api/v1/spaces/alpha/apps/cache/logs' });
  });

  it.each([
    [{ ...APP, operation: { ...APP.operation, number: -1 } }, 'field "[0].operation.number" must be a whole number'],
    [{ ...APP, release: { revision: 1 } }, 'field "[0].release.status" must be a string, got nothing'],
    [{ ...APP, status: 3 }, 'field "[0].status" must be a string, got number 3'],
  ])('listApps names a bad field (%#)', async (view, message) => {
    stubFetch(() => json(200, [view]));
    const err = await listApps('alpha').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toContain(message);
  });
});
