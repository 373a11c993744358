// The berthd API client (same origin as the console).
//
// Every call goes through openapi-fetch, typed by src/api/schema.gen.ts
// (generated from web/openapi.json): a path, a parameter or a body that the
// server's document does not have fails `tsc`. Every answer is checked
// against the document's schema for its status (src/api/contract.ts) and
// fails with one of the three errors of src/api/errors.ts.
//
// What is not generated is here: the timeouts; the CSRF header (console
// sign-in is a session cookie the daemon sets, HttpOnly, so this code never
// sees it, and every change made with it, POST/PUT/PATCH/DELETE, must carry
// the session's token in `x-csrf-token`: the client remembers the token from
// the last whoami/login/setup answer and adds the header by itself); the
// error envelope; and the "signed out" signal when a session request
// answers 401.

import createClient from 'openapi-fetch';
import { answerSchema, conform, Refusal, snippet, type Wire } from './contract';
import { ApiError, MalformedResponseError, UnreachableError, isNotFound, isUnauthenticated, type HttpMethod } from './errors';
import type { paths } from './schema.gen';
import {
  AUDIT_FILTER_KEYS,
  type AppView,
  type AuditFilters,
  type AuditPage,
  type AuditPageQuery,
  type AuditVerification,
  type AuthMethods,
  type ChartView,
  type DevView,
  type InstallRequest,
  type ItemSpec,
  type ItemView,
  type MappingPreview,
  type MappingRules,
  type NewLocalUserRequest,
  type NewRepositoryRequest,
  type NewSessionRequest,
  type NewSpaceRequest,
  type PreviewRequest,
  type Readiness,
  type RepositoryView,
  type SessionCreated,
  type SessionView,
  type SetupRequest,
  type SpaceObject,
  type SpaceUpdate,
  type SpaceView,
  type SsoMethod,
  type Token,
  type TokenCreated,
  type TokenRequest,
  type UpgradeRequest,
  type User,
  type UserUpdate,
  type VersionInfo,
  type Whoami,
  type WorkloadView,
  type EndpointView,
} from './types';

export interface RequestOptions {
  /** Cancels the request (e.g. when the page unmounts). */
  signal?: AbortSignal;
  /** Gives up after this long; defaults to DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 8_000;

/**
 * How long adding or refreshing a repository, and saving an item or
 * installing and upgrading an application, may take: the daemon fetches the
 * index or the chart before it answers (for up to its `[catalog]
 * fetch_timeout`, 30 s by default).
 */
export const CATALOG_FETCH_TIMEOUT_MS = 120_000;

export const CSRF_HEADER = 'x-csrf-token';

// ---------------------------------------------------------------------------
// Session state: the CSRF token (memory only) and the "signed out" signal

let csrfToken: string | null = null;
const unauthenticatedListeners = new Set<(err: ApiError) => void>();

/** The CSRF token sent on changes; `null` when signed out. */
export function getCsrfToken(): string | null {
  return csrfToken;
}

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/**
 * Calls `listener` whenever a request made with the session answers 401 (the
 * session ended or was revoked). Sign-in calls and the whoami probe do not
 * count: their 401 is an ordinary answer. Returns the unsubscribe function.
 */
export function onUnauthenticated(listener: (err: ApiError) => void): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

// ---------------------------------------------------------------------------
// Status

/** `GET /api/v1/version`. */
export function fetchVersion(options: RequestOptions = {}): Promise<VersionInfo> {
  return call([200], options, (init) => api.GET('/api/v1/version', init));
}

/**
 * `GET /readyz`. Both 200 (ready) and 503 (not ready) carry a readiness report;
 * a 503 is a normal answer here, not an error.
 */
export function fetchReadiness(options: RequestOptions = {}): Promise<Readiness> {
  return call([200, 503], options, (init) => api.GET('/readyz', init));
}

// ---------------------------------------------------------------------------
// Signing in and out

/** `GET /api/v1/auth/methods` (public): how one may sign in here. */
export function fetchAuthMethods(options: RequestOptions = {}): Promise<AuthMethods> {
  return call([200], options, (init) => api.GET('/api/v1/auth/methods', init), { sessionProbe: true });
}

/**
 * `GET /api/v1/whoami`. Remembers the CSRF token it carries. A 401 (not
 * signed in) rejects with an ApiError; test it with `isUnauthenticated`.
 */
export async function fetchWhoami(options: RequestOptions = {}): Promise<Whoami> {
  try {
    const me = await call([200], options, (init) => api.GET('/api/v1/whoami', init), { sessionProbe: true });
    setCsrfToken(me.csrf_token);
    return me;
  } catch (err) {
    if (isUnauthenticated(err)) setCsrfToken(null);
    throw err;
  }
}

/** `POST /api/v1/setup`: creates the first admin with the setup link's token and signs them in. */
export async function setupFirstAdmin(req: SetupRequest, options: RequestOptions = {}): Promise<Whoami> {
  const body: SetupRequest = { setup_token: req.setup_token, username: req.username, password: req.password };
  if (req.email) body.email = req.email;
  const me = await call([200, 201], options, (init) => api.POST('/api/v1/setup', { ...init, body }), { sessionProbe: true });
  setCsrfToken(me.csrf_token);
  return me;
}

/** `POST /api/v1/auth/login` with a local account; the daemon sets the session cookie. */
export async function login(username: string, password: string, options: RequestOptions = {}): Promise<Whoami> {
  const me = await call(
    [200, 201],
    options,
    (init) => api.POST('/api/v1/auth/login', { ...init, body: { username, password } }),
    { sessionProbe: true },
  );
  setCsrfToken(me.csrf_token);
  return me;
}

/** `POST /api/v1/auth/logout`: ends the session. The CSRF token is forgotten either way. */
export async function logout(options: RequestOptions = {}): Promise<void> {
  try {
    await call([200, 204], options, (init) => api.POST('/api/v1/auth/logout', init), { sessionProbe: true });
  } finally {
    setCsrfToken(null);
  }
}

/** The SSO sign-in address: a plain browser navigation, coming back to `returnTo`. */
export function ssoLoginHref(sso: SsoMethod, returnTo: string): string {
  const sep = sso.login_url.includes('?') ? '&' : '?';
  return `${sso.login_url}${sep}return_to=${encodeURIComponent(returnTo)}`;
}

// ---------------------------------------------------------------------------
// Users (admins)

/** `GET /api/v1/users`. */
export function listUsers(options: RequestOptions = {}): Promise<User[]> {
  return call([200], options, (init) => api.GET('/api/v1/users', init));
}

/** `PATCH /api/v1/users/{id}`: a new role, or disable (which revokes their sessions and tokens) / enable. */
export function updateUser(id: string, patch: UserUpdate, options: RequestOptions = {}): Promise<User> {
  return call([200], options, (init) => api.PATCH('/api/v1/users/{id}', { ...init, params: { path: { id } }, body: patch }));
}

/**
 * `POST /api/v1/users`: makes a local account (admins). The daemon refuses a
 * bad user name or a short password (422 `invalid`), a taken name (409
 * `conflict`), and everything when local accounts are turned off (403).
 * An empty email and an unset role are left out.
 */
export function createLocalUser(req: NewLocalUserRequest, options: RequestOptions = {}): Promise<User> {
  const body: NewLocalUserRequest = { username: req.username, password: req.password };
  if (req.email) body.email = req.email;
  if (req.role) body.role = req.role;
  return call([200, 201], options, (init) => api.POST('/api/v1/users', { ...init, body }));
}

// ---------------------------------------------------------------------------
// Tokens

/** `GET /api/v1/tokens`: your own, or with `all` (admins) everyone's. */
export function listTokens(query: { all?: boolean } = {}, options: RequestOptions = {}): Promise<Token[]> {
  return call([200], options, (init) =>
    api.GET('/api/v1/tokens', { ...init, params: { query: query.all ? { all: true } : {} } }),
  );
}

/** `POST /api/v1/tokens`: the secret in the answer is shown this once. */
export function createToken(req: TokenRequest, options: RequestOptions = {}): Promise<TokenCreated> {
  return call([200, 201], options, (init) => api.POST('/api/v1/tokens', { ...init, body: req }));
}

/** `DELETE /api/v1/tokens/{id}`. */
export async function revokeToken(id: string, options: RequestOptions = {}): Promise<void> {
  await call([200, 204], options, (init) => api.DELETE('/api/v1/tokens/{id}', { ...init, params: { path: { id } } }));
}

// ---------------------------------------------------------------------------
// SSO group mapping (admins)

/** `GET /api/v1/auth/mapping`; `null` when single sign-on is not configured (the daemon answers 404). */
export async function fetchMapping(options: RequestOptions = {}): Promise<MappingRules | null> {
  try {
    return await call([200], options, (init) => api.GET('/api/v1/auth/mapping', init));
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** `PUT /api/v1/auth/mapping`: applies at each user's next sign-in. */
export function saveMapping(rules: MappingRules, options: RequestOptions = {}): Promise<MappingRules> {
  return call([200], options, (init) => api.PUT('/api/v1/auth/mapping', { ...init, body: rules }));
}

/**
 * `POST /api/v1/auth/mapping/preview`: the dry-run. Its 401 means "the ID
 * token was refused", not "signed out", so it does not end the session.
 */
export function previewMapping(req: PreviewRequest, options: RequestOptions = {}): Promise<MappingPreview> {
  return call([200], options, (init) => api.POST('/api/v1/auth/mapping/preview', { ...init, body: req }), {
    sessionProbe: true,
  });
}

// ---------------------------------------------------------------------------
// Audit log (admins and auditors)

/** `?since=…&action=…` for the filters that are set (empty strings left out), or `''`. */
export function auditQueryString(filters: AuditFilters, page: AuditPageQuery = {}): string {
  const params = new URLSearchParams();
  for (const key of AUDIT_FILTER_KEYS) {
    const value = filters[key];
    if (value !== undefined && value !== '') params.set(key, value);
  }
  if (page.limit !== undefined) params.set('limit', String(page.limit));
  if (page.before !== undefined) params.set('before', String(page.before));
  const query = params.toString();
  return query === '' ? '' : `?${query}`;
}

/** `GET /api/v1/audit/events`: one page, newest first. */
export function listAuditEvents(
  filters: AuditFilters = {},
  page: AuditPageQuery = {},
  options: RequestOptions = {},
): Promise<AuditPage> {
  // `since` and `until` are Unix nanoseconds, past 2^53: the console keeps
  // them as the decimal strings they are in a query string (the document
  // says integer), and the query string is written as the address's is.
  const query = { ...filters, ...page } as unknown as NonNullable<paths['/api/v1/audit/events']['get']['parameters']['query']>;
  return call([200], options, (init) =>
    api.GET('/api/v1/audit/events', {
      ...init,
      params: { query },
      querySerializer: () => auditQueryString(filters, page).slice(1),
    }),
  );
}

/** `GET /api/v1/audit/verify`: checks the whole hash chain and the signed checkpoints. */
export function verifyAuditLog(options: RequestOptions = {}): Promise<AuditVerification> {
  // Checking a long log takes a while: allow more than the usual timeout.
  return call([200], { timeoutMs: 60_000, ...options }, (init) => api.GET('/api/v1/audit/verify', init));
}

/** `GET /api/v1/audit/public-key`: the hex Ed25519 key that signs the checkpoints. */
export async function fetchAuditPublicKey(options: RequestOptions = {}): Promise<string> {
  const { public_key } = await call([200], options, (init) => api.GET('/api/v1/audit/public-key', init));
  return public_key;
}

/**
 * The address of `GET /api/v1/audit/export` (NDJSON, newest first) with these
 * filters: a plain link the browser downloads, signed in by the session cookie.
 */
export function auditExportHref(filters: AuditFilters): string {
  const path: keyof paths = '/api/v1/audit/export';
  return `${path}${auditQueryString(filters)}`;
}

// ---------------------------------------------------------------------------
// Spaces (every signed-in user; members see their spaces, admins all)

/** `GET /api/v1/spaces`. */
export function listSpaces(options: RequestOptions = {}): Promise<SpaceView[]> {
  return call([200], options, (init) => api.GET('/api/v1/spaces', init));
}

/**
 * `POST /api/v1/spaces`. The daemon refuses a bad name, label or quota
 * profile (422), a taken name (409), and a user over the per-user limit or
 * a member using an admins-only field (403).
 */
export function createSpace(req: NewSpaceRequest, options: RequestOptions = {}): Promise<SpaceView> {
  return call([200, 201], options, (init) => api.POST('/api/v1/spaces', { ...init, body: req }));
}

/** `GET /api/v1/spaces/{name}`: 404 when there is no such space you may see. */
export function fetchSpace(name: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call([200], options, (init) => api.GET('/api/v1/spaces/{name}', { ...init, params: { path: { name } } }));
}

/** `PATCH /api/v1/spaces/{name}`: fields left out stay as they are. */
export function updateSpace(name: string, patch: SpaceUpdate, options: RequestOptions = {}): Promise<SpaceView> {
  return call([200], options, (init) =>
    api.PATCH('/api/v1/spaces/{name}', { ...init, params: { path: { name } }, body: patch }),
  );
}

/** `DELETE /api/v1/spaces/{name}`: 202, the space `Terminating`; the record goes once the namespace is gone. */
export function deleteSpace(name: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call([200, 202], options, (init) => api.DELETE('/api/v1/spaces/{name}', { ...init, params: { path: { name } } }));
}

/** `GET /api/v1/spaces/{name}/objects`: what Berth keeps in the space, as the cluster holds it. */
export function listSpaceObjects(name: string, options: RequestOptions = {}): Promise<SpaceObject[]> {
  return call([200], options, (init) =>
    api.GET('/api/v1/spaces/{name}/objects', { ...init, params: { path: { name } } }),
  );
}

/** `POST /api/v1/spaces/{name}/members`: shares the space with a user (name, email or id), as a member. */
export function shareSpace(name: string, user: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call([200, 201], options, (init) =>
    api.POST('/api/v1/spaces/{name}/members', { ...init, params: { path: { name } }, body: { user } }),
  );
}

/** `DELETE /api/v1/spaces/{name}/members/{user}`: `user` is a name, email or id. */
export function unshareSpace(name: string, user: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call([200], options, (init) =>
    api.DELETE('/api/v1/spaces/{name}/members/{user}', { ...init, params: { path: { name, user } } }),
  );
}

/** `POST /api/v1/spaces/{name}/sleep`: its workloads scale to zero. */
export function sleepSpace(name: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call([200], options, (init) => api.POST('/api/v1/spaces/{name}/sleep', { ...init, params: { path: { name } } }));
}

/** `POST /api/v1/spaces/{name}/wake`: its workloads come back as they were. */
export function wakeSpace(name: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call([200], options, (init) => api.POST('/api/v1/spaces/{name}/wake', { ...init, params: { path: { name } } }));
}

// ---------------------------------------------------------------------------
// Dev sessions (every signed-in user; members see theirs, admins all)

/** `GET /api/v1/sessions`: your live dev sessions; every live one for admins. */
export function listSessions(options: RequestOptions = {}): Promise<SessionView[]> {
  return call([200], options, (init) => api.GET('/api/v1/sessions', init));
}

/** `GET /api/v1/sessions/{id}`: 404 when there is no such session you may see. */
export function fetchSession(id: string, options: RequestOptions = {}): Promise<SessionView> {
  return call([200], options, (init) => api.GET('/api/v1/sessions/{id}', { ...init, params: { path: { id } } }));
}

/**
 * `POST /api/v1/sessions`: a dev session in a space you may use; the agent
 * token in the answer is shown this once. The daemon refuses a user over the
 * limit of live sessions (403) and a space one may not see (404).
 */
export function createSession(req: NewSessionRequest, options: RequestOptions = {}): Promise<SessionCreated> {
  return call([200, 201], options, (init) => api.POST('/api/v1/sessions', { ...init, body: { space: req.space } }));
}

/** `DELETE /api/v1/sessions/{id}` (its owner or an admin): both sides are disconnected; the answer is `ended`. */
export function endSession(id: string, options: RequestOptions = {}): Promise<SessionView> {
  return call([200], options, (init) => api.DELETE('/api/v1/sessions/{id}', { ...init, params: { path: { id } } }));
}

// ---------------------------------------------------------------------------
// Dev mode (those who may use the space)

/** `GET /api/v1/spaces/{name}/dev`: the space's targets in dev mode, with their sessions. */
export function listDev(name: string, options: RequestOptions = {}): Promise<DevView[]> {
  return call([200], options, (init) => api.GET('/api/v1/spaces/{name}/dev', { ...init, params: { path: { name } } }));
}

/**
 * `DELETE /api/v1/spaces/{name}/dev/{target}`: takes the target out of dev
 * mode (the workload's original spec back, the session ended) and answers
 * with it as it was. 404 when the target is not in dev mode.
 */
export function stopDev(name: string, target: string, options: RequestOptions = {}): Promise<DevView> {
  return call([200], options, (init) =>
    api.DELETE('/api/v1/spaces/{name}/dev/{target}', { ...init, params: { path: { name, target } } }),
  );
}

/** `GET /api/v1/spaces/{name}/workloads`: the space's Deployments and StatefulSets. */
export function listWorkloads(name: string, options: RequestOptions = {}): Promise<WorkloadView[]> {
  return call([200], options, (init) =>
    api.GET('/api/v1/spaces/{name}/workloads', { ...init, params: { path: { name } } }),
  );
}

/** `GET /api/v1/spaces/{name}/endpoints`: the space's Services served at their own address. */
export function listEndpoints(name: string, options: RequestOptions = {}): Promise<EndpointView[]> {
  return call([200], options, (init) =>
    api.GET('/api/v1/spaces/{name}/endpoints', { ...init, params: { path: { name } } }),
  );
}

// ---------------------------------------------------------------------------
// The catalog's chart repositories (admins)

/** `GET /api/v1/catalog/repositories`. */
export function listRepositories(options: RequestOptions = {}): Promise<RepositoryView[]> {
  return call([200], options, (init) => api.GET('/api/v1/catalog/repositories', init));
}

/**
 * `POST /api/v1/catalog/repositories`: the daemon fetches and reads
 * `<url>/index.yaml` first. It refuses a bad name or URL, half the
 * credentials, and an index it cannot fetch or read (422, saying why), and a
 * taken name (409). Empty optional fields are left out.
 */
export function addRepository(req: NewRepositoryRequest, options: RequestOptions = {}): Promise<RepositoryView> {
  const body: NewRepositoryRequest = { name: req.name, url: req.url };
  if (req.username_file) body.username_file = req.username_file;
  if (req.password_file) body.password_file = req.password_file;
  if (req.ca_file) body.ca_file = req.ca_file;
  return call([200, 201], { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options }, (init) =>
    api.POST('/api/v1/catalog/repositories', { ...init, body }),
  );
}

/** `GET /api/v1/catalog/repositories/{name}`: 404 when there is no such repository. */
export function fetchRepository(name: string, options: RequestOptions = {}): Promise<RepositoryView> {
  return call([200], options, (init) =>
    api.GET('/api/v1/catalog/repositories/{name}', { ...init, params: { path: { name } } }),
  );
}

/** `DELETE /api/v1/catalog/repositories/{name}`: answers the repository as it was. */
export function removeRepository(name: string, options: RequestOptions = {}): Promise<RepositoryView> {
  return call([200], options, (init) =>
    api.DELETE('/api/v1/catalog/repositories/{name}', { ...init, params: { path: { name } } }),
  );
}

/**
 * `POST /api/v1/catalog/repositories/{name}/refresh` (no body): fetches the
 * index now. A failed fetch is an ordinary answer: `last_error` says why, and
 * the charts of the last good fetch are kept.
 */
export function refreshRepository(name: string, options: RequestOptions = {}): Promise<RepositoryView> {
  return call([200], { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options }, (init) =>
    api.POST('/api/v1/catalog/repositories/{name}/refresh', { ...init, params: { path: { name } } }),
  );
}

/** `GET /api/v1/catalog/repositories/{name}/charts`: the last good index, versions newest first. */
export function listCharts(name: string, options: RequestOptions = {}): Promise<ChartView[]> {
  return call([200], options, (init) =>
    api.GET('/api/v1/catalog/repositories/{name}/charts', { ...init, params: { path: { name } } }),
  );
}

// ---------------------------------------------------------------------------
// The catalog's items (everyone reads; admins manage)

/** `GET /api/v1/catalog/items`: those not hidden; every one for admins. */
export function listItems(options: RequestOptions = {}): Promise<ItemView[]> {
  return call([200], options, (init) => api.GET('/api/v1/catalog/items', init));
}

/** `GET /api/v1/catalog/items/{name}`: 404 when there is no such item you may see. */
export function fetchItem(name: string, options: RequestOptions = {}): Promise<ItemView> {
  return call([200], options, (init) => api.GET('/api/v1/catalog/items/{name}', { ...init, params: { path: { name } } }));
}

/**
 * `POST /api/v1/catalog/items` (admins): the daemon fetches the chart first,
 * to know its fields and check the values. It refuses a bad spec, a chart or
 * version it cannot find, and values the chart refuses (422, naming the
 * field), and a taken name (409).
 */
export function createItem(spec: ItemSpec, options: RequestOptions = {}): Promise<ItemView> {
  return call([200, 201], { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options }, (init) =>
    api.POST('/api/v1/catalog/items', { ...init, body: spec }),
  );
}

/** `PUT /api/v1/catalog/items/{name}` (admins): the whole spec, its name the same. Hiding is an edit too. */
export function updateItem(name: string, spec: ItemSpec, options: RequestOptions = {}): Promise<ItemView> {
  return call([200], { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options }, (init) =>
    api.PUT('/api/v1/catalog/items/{name}', { ...init, params: { path: { name } }, body: spec }),
  );
}

/** `DELETE /api/v1/catalog/items/{name}` (admins): answers the item as it was. */
export function deleteItem(name: string, options: RequestOptions = {}): Promise<ItemView> {
  return call([200], options, (init) => api.DELETE('/api/v1/catalog/items/{name}', { ...init, params: { path: { name } } }));
}

// ---------------------------------------------------------------------------
// Applications in a space (members of the space; admins any)

/** `GET /api/v1/spaces/{name}/apps`. */
export function listApps(space: string, options: RequestOptions = {}): Promise<AppView[]> {
  return call([200], options, (init) => api.GET('/api/v1/spaces/{name}/apps', { ...init, params: { path: { name: space } } }));
}

/** `GET /api/v1/spaces/{name}/apps/{app}`: 404 once it is uninstalled. */
export function fetchApp(space: string, name: string, options: RequestOptions = {}): Promise<AppView> {
  return call([200], options, (init) =>
    api.GET('/api/v1/spaces/{name}/apps/{app}', { ...init, params: { path: { name: space, app: name } } }),
  );
}

/**
 * `POST /api/v1/spaces/{name}/apps`: 202, the install runs in the
 * background (`installing`). The daemon refuses values the chart or the
 * item's parameters do not allow (422, naming the field) and a taken name
 * (409). An empty name and empty values are left out.
 */
export function installApp(space: string, req: InstallRequest, options: RequestOptions = {}): Promise<AppView> {
  const body: InstallRequest = { item: req.item };
  if (req.name) body.name = req.name;
  if (req.values && Object.keys(req.values).length > 0) body.values = req.values;
  return call([200, 201, 202], { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options }, (init) =>
    api.POST('/api/v1/spaces/{name}/apps', { ...init, params: { path: { name: space } }, body }),
  );
}

/**
 * `POST /api/v1/spaces/{name}/apps/{app}/upgrade`: 202, to the newest
 * chart version the item's range takes, `values` over the earlier ones (or
 * over the item's alone with `reset_values`). Empty values and a false
 * `reset_values` are left out.
 */
export function upgradeApp(space: string, name: string, req: UpgradeRequest, options: RequestOptions = {}): Promise<AppView> {
  const body: UpgradeRequest = {};
  if (req.values && Object.keys(req.values).length > 0) body.values = req.values;
  if (req.reset_values) body.reset_values = true;
  return call([200, 202], { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options }, (init) =>
    api.POST('/api/v1/spaces/{name}/apps/{app}/upgrade', { ...init, params: { path: { name: space, app: name } }, body }),
  );
}

/** `DELETE /api/v1/spaces/{name}/apps/{app}`: 202, `uninstalling`; once done, the app is gone. */
export function uninstallApp(space: string, name: string, options: RequestOptions = {}): Promise<AppView> {
  return call([200, 202], options, (init) =>
    api.DELETE('/api/v1/spaces/{name}/apps/{app}', { ...init, params: { path: { name: space, app: name } } }),
  );
}

/** `GET /api/v1/spaces/{name}/apps/{app}/logs`: Helm's output of the latest operation so far, as text. */
export function fetchAppLogs(space: string, name: string, options: RequestOptions = {}): Promise<string> {
  return call(
    [200],
    options,
    (init) =>
      api.GET('/api/v1/spaces/{name}/apps/{app}/logs', {
        ...init,
        params: { path: { name: space, app: name } },
        parseAs: 'text',
      }),
    { text: true },
  );
}

// ---------------------------------------------------------------------------
// Internals: one request through openapi-fetch

/**
 * The request openapi-fetch builds, as it goes out: its URL as given
 * (relative to the console's origin, which `Request` would not take outside
 * a page), its method, headers, JSON body and signal. Given to openapi-fetch
 * as its `Request`; `send` hands it to the global fetch, looked up at call
 * time so that tests can replace it.
 */
class OutgoingRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly body: BodyInit | null;
  readonly signal: AbortSignal | null;

  constructor(url: string, init: RequestInit = {}) {
    this.url = url;
    this.method = init.method ?? 'GET';
    this.headers = new Headers(init.headers);
    this.body = init.body ?? null;
    this.signal = init.signal ?? null;
  }
}

const api = createClient<paths>({ Request: OutgoingRequest as unknown as typeof Request });

/** What the call's `fetch` saw of the exchange, for its errors. */
interface Exchange {
  method: HttpMethod;
  url: string;
  timedOut: boolean;
  /** The answer's body: parsed JSON, or the text that is not JSON; none for an empty 204. */
  body?: { json: unknown } | { text: string };
}

interface How {
  /**
   * The 401 of this call is an ordinary answer (wrong password, not signed in
   * yet, ID token refused), not "the session ended": listeners are not told.
   */
  sessionProbe?: boolean;
  /** The answer is text (`Accept: text/plain`), given as it came. */
  text?: boolean;
}

/** What a call hands openapi-fetch besides its path, parameters and body. */
interface CallInit {
  [key: string]: unknown;
  signal: AbortSignal;
  fetch: (request: Request) => Promise<Response>;
}

type Answer = { data?: unknown; error?: unknown; response: Response };

/**
 * One request: `run` makes it with openapi-fetch. The answer must have one of
 * the `ok` statuses and a body the document's schema for it takes.
 */
async function call<R extends Answer>(
  ok: number[],
  options: RequestOptions,
  run: (init: CallInit) => Promise<R>,
  how: How = {},
): Promise<Wire<Exclude<R['data'], undefined>>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const exchange: Exchange = { method: 'GET', url: '', timedOut: false };
  const controller = new AbortController();
  const timer = setTimeout(() => {
    exchange.timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  if (options.signal?.aborted) controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const answer = await run({
      signal: controller.signal,
      fetch: (request) => send(request as unknown as OutgoingRequest, exchange, timeoutMs, how),
    });
    const { method, url, body } = exchange;
    const status = answer.response.status;
    if (ok.includes(status)) {
      // Helm's output, as it came; or no body at all (204).
      if (how.text || body === undefined) return answer.data as Wire<Exclude<R['data'], undefined>>;
      if ('json' in body && !(status >= 400 && isErrorEnvelope(body.json))) {
        const schema = answerSchema(method, url, status);
        if (schema === undefined) return body.json as Wire<Exclude<R['data'], undefined>>;
        try {
          return conform(body.json, schema) as Wire<Exclude<R['data'], undefined>>;
        } catch (err) {
          if (err instanceof Refusal) throw new MalformedResponseError(url, status, err.message, method);
          throw err;
        }
      }
    }
    throw failure(exchange, status, how);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** openapi-fetch's `fetch`: the global fetch, with the console's headers; the answer read whole. */
async function send(request: OutgoingRequest, exchange: Exchange, timeoutMs: number, how: How): Promise<Response> {
  const method = request.method as HttpMethod;
  const url = request.url;
  exchange.method = method;
  exchange.url = url;

  const headers: Record<string, string> = { Accept: how.text ? 'text/plain' : 'application/json' };
  const contentType = request.headers.get('content-type');
  if (request.body !== null && contentType !== null) headers['Content-Type'] = contentType;
  if (method !== 'GET' && csrfToken !== null) headers[CSRF_HEADER] = csrfToken;

  let response: Response;
  try {
    response = await globalThis.fetch(url, {
      method,
      headers,
      body: request.body ?? undefined,
      cache: 'no-store',
      credentials: 'same-origin',
      signal: request.signal,
    });
  } catch (cause) {
    const why = exchange.timedOut ? `no answer within ${formatSeconds(timeoutMs)}` : errorText(cause);
    throw new UnreachableError(url, why, { cause, method });
  }

  let text: string;
  try {
    text = await response.text();
  } catch (cause) {
    const why = exchange.timedOut ? `response not complete within ${formatSeconds(timeoutMs)}` : errorText(cause);
    throw new UnreachableError(url, `reading the response failed: ${why}`, { cause, method });
  }

  const { status } = response;
  try {
    exchange.body = { json: JSON.parse(text) };
  } catch {
    exchange.body = text === '' && status === 204 ? undefined : { text };
    // A success that should be JSON and is not: openapi-fetch would not read it.
    if (!how.text && exchange.body !== undefined && status >= 200 && status <= 299) {
      throw errorFromAnswer(exchange, status);
    }
  }
  const nullBody = status === 204 || status === 205 || status === 304 || text === '';
  return new Response(nullBody ? null : text, {
    status,
    headers: { 'content-type': response.headers.get('content-type') ?? 'application/octet-stream' },
  });
}

/** The error for an answer that is not a success; a 401 of the session tells the listeners. */
function failure(exchange: Exchange, status: number, how: How): Error {
  const err = errorFromAnswer(exchange, status);
  if (err instanceof ApiError && err.status === 401 && !how.sessionProbe) {
    setCsrfToken(null);
    for (const listener of [...unauthenticatedListeners]) listener(err);
  }
  return err;
}

function isErrorEnvelope(body: unknown): body is { error: { code: string; message: string; request_id?: unknown } } {
  return (
    isObject(body) &&
    isObject(body.error) &&
    typeof body.error.code === 'string' &&
    typeof body.error.message === 'string'
  );
}

/** The error for any answer that is not the success shape: an ApiError when the daemon sent its error envelope. */
function errorFromAnswer({ url, method, body }: Exchange, status: number): Error {
  if (body === undefined || 'text' in body) {
    const text = snippet(body === undefined ? '' : body.text);
    return new MalformedResponseError(
      url,
      status,
      text === '' ? `HTTP ${status} with an empty body` : `HTTP ${status} with a body that is not JSON: ${text}`,
      method,
    );
  }
  if (isErrorEnvelope(body.json)) {
    const { code, message, request_id } = body.json.error;
    const requestId = typeof request_id === 'string' ? request_id : undefined;
    return new ApiError({ code, message, requestId, status, endpoint: url, method });
  }
  return new MalformedResponseError(url, status, `unexpected HTTP ${status} without an error body`, method);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
