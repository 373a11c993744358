// Typed client for the berthd HTTP API (same origin as the console).
//
// Every function validates the JSON shape it receives and fails with one of
// three error classes, so the UI can say precisely what went wrong:
//   - UnreachableError:      the request never got an HTTP answer (network, timeout).
//   - ApiError:              the daemon answered with its JSON error envelope.
//   - MalformedResponseError: an answer that is not what the contract promises.
//
// Console sign-in is a session cookie the daemon sets (HttpOnly, so this code
// never sees it). Every change made with it (POST/PUT/PATCH/DELETE) must carry
// the session's CSRF token in `x-csrf-token`: the client remembers the token
// from the last whoami/login/setup answer and adds the header by itself.

export interface VersionInfo {
  version: string;
  api: string;
}

/** `ready` and `not_ready` today; kept open so a newer daemon does not break the console. */
export type ComponentStatus = 'ready' | 'not_ready' | (string & {});

export interface ComponentReadiness {
  status: ComponentStatus;
  reason?: string;
}

export interface Readiness {
  ready: boolean;
  components: Record<string, ComponentReadiness>;
}

/** The global roles, lowest first. */
export const ROLES = ['member', 'auditor', 'admin'] as const;
export type KnownRole = (typeof ROLES)[number];
/** Kept open (like ComponentStatus) so a newer daemon does not break the console. */
export type Role = KnownRole | (string & {});

export const SCOPES = ['read', 'write'] as const;
export type Scope = (typeof SCOPES)[number];

export interface User {
  id: string;
  username: string;
  email: string | null;
  display_name: string | null;
  role: Role;
  /** `setup`, `manual` or `mapping`. */
  role_source: string;
  /** `local` or `sso`. */
  kind: string;
  disabled: boolean;
  created_at: string;
  last_login_at: string | null;
  /** Groups from the identity provider at the last sign-in. */
  groups: string[];
  /** The last SSO sign-in carried no groups claim: the role was kept, not recomputed. */
  groups_claim_missing: boolean;
}

export interface Whoami {
  user: User;
  /** `session` (the console) or `token`. */
  via: string;
  scopes: string[];
  /** For console sessions: sent as `x-csrf-token` on every change. */
  csrf_token: string | null;
}

export interface SsoMethod {
  display_name: string;
  login_url: string;
}

export interface AuthMethods {
  local: boolean;
  sso: SsoMethod | null;
  /** No user exists yet: the setup link printed by berthd is the way in. */
  setup_required: boolean;
}

export interface SetupRequest {
  setup_token: string;
  username: string;
  password: string;
  email?: string;
}

/** `POST /api/v1/users`: a local account (admins). */
export interface NewLocalUserRequest {
  username: string;
  /** At least 12 characters. */
  password: string;
  /** Left out when empty. */
  email?: string;
  /** The daemon's default is member. */
  role?: KnownRole;
}

export interface Token {
  id: string;
  name: string;
  /** `personal` or `cli`. */
  kind: string;
  /** The first characters of the secret, to recognise it. */
  prefix: string;
  scopes: string[];
  user_id: string;
  username: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

export interface TokenRequest {
  name: string;
  expires_in_days?: number;
  scopes?: Scope[];
}

export interface TokenCreated {
  token: Token;
  /** Shown this once and never again. */
  secret: string;
}

export interface MappingRules {
  admin_groups: string[];
  auditor_groups: string[];
}

/** What Berth takes from a verified ID token. */
export interface Claims {
  issuer: string;
  subject: string;
  username?: string | null;
  email?: string | null;
  email_verified?: boolean | null;
  name?: string | null;
  /** `null` (or absent) when the token carried no groups claim at all. */
  groups?: string[] | null;
}

export interface PreviewRequest {
  /** A live ID token from the provider: verified, then mapped. */
  id_token?: string;
  /** Or a claim set, taken as given. */
  claims?: Claims;
  /** A mapping to try instead of the saved one. */
  rules?: MappingRules;
}

export interface MappingPreview {
  claims: Claims;
  username: string | null;
  allowed: boolean;
  /** Why sign-in would be refused, when it would. */
  refusal: string | null;
  /** The role the user would have after signing in. */
  role: Role | null;
  existing_user: User | null;
  warnings: string[];
}

/** Who did it. */
export interface AuditActor {
  /** `user`, `token`, `system` or `anonymous`; kept open. */
  kind: string;
  id: string | null;
  name: string | null;
}

/** Where the request came from. */
export interface AuditOrigin {
  source: string | null;
  user_agent: string | null;
  request_id: string | null;
  trace_id: string | null;
}

/** What it was done to. */
export interface AuditResource {
  kind: string;
  id: string | null;
  name: string | null;
  space: string | null;
}

/** One changed field; either side is any JSON value (`null` when absent). */
export interface AuditChange {
  before: unknown;
  after: unknown;
}

export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export interface AuditEvent {
  seq: number;
  /**
   * Nanoseconds since the Unix epoch. A JSON number this large is only exact
   * to about 256 ns once parsed: good for display, not for filtering.
   */
  time_unix_nano: number;
  actor: AuditActor;
  origin: AuditOrigin;
  /** Dotted, e.g. `token.create`. */
  action: string;
  resource: AuditResource;
  /** `success`, `failure` or `denied`; kept open. */
  outcome: string;
  /** The HTTP status of a refused request, when there was one. */
  status: number | null;
  reason: string | null;
  changes: Record<string, AuditChange>;
  prev_hash: string;
  hash: string;
}

export interface AuditPage {
  /** Newest first. */
  events: AuditEvent[];
  /** Pass as `before` for the next (older) page; `null` at the end. */
  next: number | null;
}

/**
 * The filters of the audit list and export. Every field is optional; empty
 * strings are never sent (the daemon would match them literally).
 */
export interface AuditFilters {
  /** Unix nanoseconds, inclusive, as a decimal string (too large for a JS number). */
  since?: string;
  /** Unix nanoseconds, inclusive, as a decimal string. */
  until?: string;
  /** The actor's name. */
  actor?: string;
  /** A prefix: `token.` matches `token.create`. */
  action?: string;
  resource_kind?: string;
  /** Needs `resource_kind`; the resource's name or id. */
  resource?: string;
  space?: string;
  outcome?: AuditOutcome;
}

export interface AuditPageQuery {
  /** 1..1000; the daemon's default is 100. */
  limit?: number;
  /** Only events with a smaller seq: the previous page's `next`. */
  before?: number;
}

/** `altered`, `broken_link`, `missing`, `unreadable`, `bad_signature`, `checkpoint_mismatch`; kept open. */
export type AuditProblem = string;

export interface AuditVerification {
  ok: boolean;
  /** How many events were checked. */
  events: number;
  first_seq: number | null;
  last_seq: number | null;
  checkpoints: number;
  first_broken_seq: number | null;
  problem: AuditProblem | null;
  detail: string | null;
  /** Hex Ed25519 key the checkpoints are signed with. */
  public_key: string | null;
}

// ---------------------------------------------------------------------------
// Spaces

/** Where a space is in its life. Kept open so a newer daemon does not break the console. */
export const SPACE_PHASES = ['Pending', 'Active', 'Sleeping', 'Waking', 'Terminating', 'Failed'] as const;
export type SpacePhase = (typeof SPACE_PHASES)[number] | (string & {});

/** `owner` (may also share, transfer and delete) or `member`; kept open. */
export type SpaceRole = 'owner' | 'member' | (string & {});

export interface SpaceMember {
  user_id: string;
  /** Empty when the user is gone. */
  username: string;
  role: SpaceRole;
}

/** Why a space is awake or asleep, and who or what made it so. */
export interface Wakefulness {
  asleep: boolean;
  /** "dev session of alice since 10:02", "idle since 07:02", "put to sleep by bob at 10:02". */
  reason: string;
  /** A user name, or `berth` for the idle clock. */
  by: string;
  since: string;
}

/** One observation, in the Kubernetes style: `type` holds when `status` is true. */
export interface SpaceCondition {
  type: string;
  status: boolean;
  /** A CamelCase word. */
  reason: string;
  /** A sentence. */
  message: string;
  last_transition: string;
}

/** What the quota allows (`hard`) and what is in use (`used`), by resource. */
export interface QuotaUsage {
  profile: string;
  hard: Record<string, string>;
  used: Record<string, string>;
}

export interface SpaceStatus {
  phase: SpacePhase;
  /** The generation the reconciler last converged. */
  observed_generation: number;
  conditions: SpaceCondition[];
  quota: QuotaUsage;
}

export interface SpaceView {
  name: string;
  owner: SpaceMember;
  /** Everyone in the space, the owner included. */
  members: SpaceMember[];
  /** Persistent spaces never sleep and are never deleted for idleness. */
  persistent: boolean;
  /** The user's own space, made at their first sign-in. */
  personal: boolean;
  labels: Record<string, string>;
  quota_profile: string;
  generation: number;
  created_at: string;
  last_activity: string;
  /** What last counted as activity ("api call by alice"). */
  last_activity_reason: string;
  wakefulness: Wakefulness;
  /** When the idle clock will put it to sleep, if it will. */
  sleeps_at: string | null;
  /** When the idle clock will delete it, if it will. */
  deleted_at: string | null;
  status: SpaceStatus;
  /** The caller's own role here; `null` for an admin who is not a member. */
  your_role: SpaceRole | null;
}

/** One object Berth keeps in a space, as the cluster holds it. */
export interface SpaceObject {
  api_version: string;
  kind: string;
  name: string;
  /** Whether the cluster holds what Berth wants of it. */
  in_sync: boolean;
  /** The object as the cluster holds it; `null` when it is missing. */
  object: unknown;
}

/** `POST /api/v1/spaces`. */
export interface NewSpaceRequest {
  /** A DNS label: it becomes the namespace's name. */
  name: string;
  persistent?: boolean;
  labels?: Record<string, string>;
  /** Admins only. */
  quota_profile?: string;
  /** Admins only: make it for this user. */
  owner?: string;
  /** Admins only: take over an existing namespace Berth did not make. */
  adopt?: boolean;
}

/** `PATCH /api/v1/spaces/{name}`: fields left out stay as they are. */
export interface SpaceUpdate {
  persistent?: boolean;
  labels?: Record<string, string>;
  /** Admins only. */
  quota_profile?: string;
  /** Transfer ownership (the owner and admins). */
  owner?: string;
}

// ---------------------------------------------------------------------------
// Dev sessions

/** Where a dev session is. Kept open so a newer daemon does not break the console. */
export const SESSION_STATES = ['waiting', 'connected', 'resuming', 'ended'] as const;
export type SessionState = (typeof SESSION_STATES)[number] | (string & {});

/** A dev session: the berth CLI and an agent, paired by Berth's relay. */
export interface SessionView {
  /** `s-…`. */
  id: string;
  /** The space it runs in. */
  space: string;
  /** The owner's user name. */
  owner: string;
  owner_id: string;
  created_at: string;
  /** `waiting` (for a side), `connected` (both), `resuming` (a side dropped, within the grace period), `ended`. */
  state: SessionState;
  /** The CLI's side is connected. */
  client_connected: boolean;
  agent_connected: boolean;
  /** Streams open now (commands, forwarded connections). */
  streams: number;
  /** Bytes relayed from the CLI to the agent. */
  bytes_to_agent: number;
  /** Bytes relayed from the agent to the CLI. */
  bytes_to_client: number;
  /** Why it ended, once it has. */
  ended_reason: string | null;
  ended_at: string | null;
}

/** `POST /api/v1/sessions`. */
export interface NewSessionRequest {
  space: string;
}

/** A new dev session, with the agent's token. */
export interface SessionCreated {
  session: SessionView;
  /** `berth_agt_…`, for this session only: shown this once and never again. */
  agent_token: string;
}

// ---------------------------------------------------------------------------
// Dev mode (`berth up`, `berth down`)

/** Where a dev target's agent runs. Kept open so a newer daemon does not break the console. */
export const DEV_MODES = ['cluster', 'local'] as const;
export type DevMode = (typeof DEV_MODES)[number] | (string & {});

/** A workload of a space in dev mode for a manifest's target, with its dev session. */
export interface DevView {
  space: string;
  /** The `berth.yaml` target (a DNS label). */
  target: string;
  /** `deployment/NAME` or `statefulset/NAME`. */
  workload: string;
  /** `cluster`: the agent runs in the dev container; `local`: in berthd (the embedded cluster runs no pods). */
  mode: DevMode;
  session: SessionView;
  /** The user name of who ran `berth up`. */
  started_by: string;
  started_at: string;
  /** The dev image; `null` when the container keeps its own. */
  image: string | null;
  /** Started by the agent once the first sync is done; empty for none. */
  command: string[];
  /** The agent's root on the daemon's machine, in the local mode. */
  local_root: string | null;
}

/** A container of a workload (as it was before dev mode, for one in dev mode). */
export interface ContainerView {
  name: string;
  image: string;
  ports: number[];
  workdir: string | null;
}

/** A Deployment or StatefulSet of a space. */
export interface WorkloadView {
  /** `deployment/NAME` or `statefulset/NAME`. */
  workload: string;
  containers: ContainerView[];
  /** The dev target it is in dev mode for, if it is. */
  dev_target: string | null;
}

// ---------------------------------------------------------------------------
// Catalog: chart repositories (admins)

/** A chart repository of the catalog, with its last fetch. */
export interface RepositoryView {
  /** A DNS label. */
  name: string;
  /** Where its `index.yaml` is (`<url>/index.yaml`). */
  url: string;
  /** Files on the daemon's machine (a mounted Secret), never their content. */
  username_file: string | null;
  password_file: string | null;
  /** A PEM file of certificate authorities on the daemon's machine. */
  ca_file: string | null;
  /** The user name of the admin who added it. */
  added_by: string;
  added_at: string;
  /** The last time the index was fetched and read. */
  fetched_at: string | null;
  /** Why the last fetch failed, if it did (the charts are from the last good one). */
  last_error: string | null;
  failed_at: string | null;
  /** Charts and chart versions in the kept index. */
  charts: number;
  versions: number;
}

/** `POST /api/v1/catalog/repositories`: the daemon fetches the index before it adds anything. */
export interface NewRepositoryRequest {
  name: string;
  /** `http://` or `https://`. */
  url: string;
  /** Both or neither: files on the daemon's machine, not the secrets. */
  username_file?: string;
  password_file?: string;
  ca_file?: string;
}

/** One version of a chart, as the repository's index lists it. */
export interface ChartVersionView {
  version: string;
  app_version: string | null;
  description: string | null;
  icon: string | null;
  created: string | null;
  digest: string | null;
  /** Where the chart's archive is, absolute. */
  urls: string[];
  deprecated: boolean;
}

/** A chart of a repository, with its versions newest first. */
export interface ChartView {
  name: string;
  versions: ChartVersionView[];
}

// ---------------------------------------------------------------------------
// Catalog: items (everyone reads those not hidden; admins see all and manage)

/** The kinds of value a field holds; kept open so a newer daemon does not break the console. */
export const FIELD_KINDS = ['string', 'integer', 'number', 'boolean', 'array', 'object'] as const;
export type FieldKind = (typeof FIELD_KINDS)[number] | (string & {});

/** A catalog item as an admin gives it: the body of a create, and the whole of an edit. */
export interface ItemSpec {
  /** A DNS label naming the item (and, by default, what it installs). */
  name: string;
  description: string;
  /** The URL of an icon; the chart's when left out. */
  icon?: string | null;
  /** A chart repository of the catalog, by its name. */
  repository: string;
  chart: string;
  /** An exact chart version or a semver range (`^1.4`); `*` by default. */
  version: string;
  /** Laid over the chart's own defaults for every install. */
  values: Record<string, unknown>;
  /** The dotted paths developers may set (a path allows what is under it); `null`: all. */
  parameters?: string[] | null;
  /** Not offered to developers (admins still see it). */
  hidden: boolean;
}

/** One value a developer may set, as the install form shows it. */
export interface FieldView {
  /** Dotted: `auth.password`. */
  path: string;
  kind: FieldKind;
  title: string | null;
  description: string | null;
  /** The item's value, else the chart's; `null` for none. */
  default: unknown;
  /** The only values allowed; empty when any is. */
  choices: unknown[];
  required: boolean;
  minimum: number | null;
  maximum: number | null;
  /** A password or other secret: the form hides what is typed. */
  secret: boolean;
}

export interface ItemView {
  /** What the admin gave (the body of an edit). */
  spec: ItemSpec;
  /** The icon to show: the item's own, else the chart's. */
  icon: string | null;
  /** The chart version the item's range picked when last saved or installed. */
  chart_version: string;
  app_version: string | null;
  chart_description: string | null;
  fields: FieldView[];
  /** Whether values are checked against the chart's `values.schema.json`. */
  has_schema: boolean;
  created_by: string;
  created_at: string;
  updated_by: string;
  updated_at: string;
}

// ---------------------------------------------------------------------------
// Applications installed into spaces (members of the space; admins any)

/** Kept open so a newer daemon does not break the console. */
export const APP_STATUSES = ['installing', 'upgrading', 'uninstalling', 'deployed', 'failed'] as const;
export type AppStatus = (typeof APP_STATUSES)[number] | (string & {});
export type OperationKind = 'install' | 'upgrade' | 'uninstall' | (string & {});
export type OperationState = 'running' | 'succeeded' | 'failed' | (string & {});

/** One Helm run on a release. */
export interface OperationView {
  /** Counts up per release from 1. */
  number: number;
  kind: OperationKind;
  state: OperationState;
  chart_version: string;
  started_by: string;
  started_at: string;
  finished_at: string | null;
  /** Why it failed: Helm's own message, when it gave one. */
  error: string | null;
  /** Where it ran: `helm` (a local process) or the Job's name. */
  runner: string;
}

/** What Helm's own record of the release (in the space) says. */
export interface HelmReleaseView {
  revision: number;
  /** `deployed`, `failed`, `pending-install`, `superseded`… */
  status: string;
  description: string | null;
  notes: string | null;
  updated: string | null;
}

export interface AppView {
  space: string;
  name: string;
  /** The catalog item it was installed from. */
  item: string;
  chart: string;
  chart_version: string;
  /** The values given at install and upgrades (the item's and the chart's are under them). */
  values: Record<string, unknown>;
  status: AppStatus;
  /** The latest operation. */
  operation: OperationView;
  /** `null` before the first install wrote one (or after an uninstall). */
  release: HelmReleaseView | null;
  installed_by: string;
  installed_at: string;
}

/** `POST /api/v1/spaces/{space}/apps`. */
export interface InstallRequest {
  item: string;
  /** The release's name in the space; the item's name when left out. */
  name?: string;
  /** Over the item's values. */
  values?: Record<string, unknown>;
}

/** `POST /api/v1/spaces/{space}/apps/{name}/upgrade`. */
export interface UpgradeRequest {
  /** Laid over the values given before. */
  values?: Record<string, unknown>;
  /** Start from the item's values: forget what was given before. */
  reset_values?: boolean;
}

export interface RequestOptions {
  /** Cancels the request (e.g. when the page unmounts). */
  signal?: AbortSignal;
  /** Gives up after this long; defaults to DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export const DEFAULT_TIMEOUT_MS = 8_000;

export const VERSION_PATH = '/api/v1/version';
export const READINESS_PATH = '/readyz';
export const WHOAMI_PATH = '/api/v1/whoami';
export const AUTH_METHODS_PATH = '/api/v1/auth/methods';
export const SETUP_PATH = '/api/v1/setup';
export const LOGIN_PATH = '/api/v1/auth/login';
export const LOGOUT_PATH = '/api/v1/auth/logout';
export const USERS_PATH = '/api/v1/users';
export const TOKENS_PATH = '/api/v1/tokens';
export const MAPPING_PATH = '/api/v1/auth/mapping';
export const MAPPING_PREVIEW_PATH = '/api/v1/auth/mapping/preview';
export const AUDIT_EVENTS_PATH = '/api/v1/audit/events';
export const AUDIT_VERIFY_PATH = '/api/v1/audit/verify';
export const AUDIT_EXPORT_PATH = '/api/v1/audit/export';
export const AUDIT_PUBLIC_KEY_PATH = '/api/v1/audit/public-key';
export const SPACES_PATH = '/api/v1/spaces';
export const SESSIONS_PATH = '/api/v1/sessions';
export const REPOSITORIES_PATH = '/api/v1/catalog/repositories';
export const ITEMS_PATH = '/api/v1/catalog/items';
export const CSRF_HEADER = 'x-csrf-token';

/** The daemon answered with its error envelope `{"error":{code,message,request_id}}`. */
export class ApiError extends Error {
  readonly code: string;
  readonly requestId: string | undefined;
  readonly status: number;
  readonly endpoint: string;
  readonly method: HttpMethod;

  constructor(init: {
    code: string;
    message: string;
    requestId?: string;
    status: number;
    endpoint: string;
    method?: HttpMethod;
  }) {
    super(init.message);
    this.name = 'ApiError';
    this.code = init.code;
    this.requestId = init.requestId;
    this.status = init.status;
    this.endpoint = init.endpoint;
    this.method = init.method ?? 'GET';
  }
}

/** The request got no HTTP answer at all (connection refused, DNS, timeout...). */
export class UnreachableError extends Error {
  readonly endpoint: string;
  readonly method: HttpMethod;

  constructor(endpoint: string, message: string, options?: { cause?: unknown; method?: HttpMethod }) {
    super(message, options);
    this.name = 'UnreachableError';
    this.endpoint = endpoint;
    this.method = options?.method ?? 'GET';
  }
}

/** An HTTP answer that does not follow the API contract (not JSON, wrong shape, unexpected status). */
export class MalformedResponseError extends Error {
  readonly status: number;
  readonly endpoint: string;
  readonly method: HttpMethod;

  constructor(endpoint: string, status: number, message: string, method: HttpMethod = 'GET') {
    super(message);
    this.name = 'MalformedResponseError';
    this.status = status;
    this.endpoint = endpoint;
    this.method = method;
  }
}

export type ClientError = ApiError | UnreachableError | MalformedResponseError;

export function isClientError(err: unknown): err is ClientError {
  return err instanceof ApiError || err instanceof UnreachableError || err instanceof MalformedResponseError;
}

/** The daemon said "sign in first" (HTTP 401). */
export function isUnauthenticated(err: unknown): err is ApiError {
  return err instanceof ApiError && err.status === 401;
}

/** The daemon does not know what was asked for (HTTP 404): removed, never there, or not yours to see. */
export function isNotFound(err: unknown): err is ApiError {
  return err instanceof ApiError && err.status === 404;
}

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
// Public API: status

/** `GET /api/v1/version`. */
export async function fetchVersion(options: RequestOptions = {}): Promise<VersionInfo> {
  const response = await request(VERSION_PATH, options);
  if (response.status === 200 && response.body.kind === 'json') {
    return parseVersion(response.body.value, response.status);
  }
  throw errorFromResponse(VERSION_PATH, response);
}

/**
 * `GET /readyz`. Both 200 (ready) and 503 (not ready) carry a readiness report;
 * a 503 is a normal answer here, not an error.
 */
export async function fetchReadiness(options: RequestOptions = {}): Promise<Readiness> {
  const response = await request(READINESS_PATH, options);
  const { status, body } = response;
  if ((status === 200 || status === 503) && body.kind === 'json' && !isErrorEnvelope(body.value)) {
    return parseReadiness(body.value, status);
  }
  throw errorFromResponse(READINESS_PATH, response);
}

// ---------------------------------------------------------------------------
// Public API: signing in and out

/** `GET /api/v1/auth/methods` (public): how one may sign in here. */
export function fetchAuthMethods(options: RequestOptions = {}): Promise<AuthMethods> {
  return call(AUTH_METHODS_PATH, options, { sessionProbe: true }, [200], parseAuthMethods);
}

/**
 * `GET /api/v1/whoami`. Remembers the CSRF token it carries. A 401 (not
 * signed in) rejects with an ApiError; test it with `isUnauthenticated`.
 */
export async function fetchWhoami(options: RequestOptions = {}): Promise<Whoami> {
  try {
    const me = await call(WHOAMI_PATH, options, { sessionProbe: true }, [200], parseWhoami);
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
  const me = await call(SETUP_PATH, options, { method: 'POST', body, sessionProbe: true }, [200, 201], parseWhoami);
  setCsrfToken(me.csrf_token);
  return me;
}

/** `POST /api/v1/auth/login` with a local account; the daemon sets the session cookie. */
export async function login(username: string, password: string, options: RequestOptions = {}): Promise<Whoami> {
  const me = await call(
    LOGIN_PATH,
    options,
    { method: 'POST', body: { username, password }, sessionProbe: true },
    [200, 201],
    parseWhoami,
  );
  setCsrfToken(me.csrf_token);
  return me;
}

/** `POST /api/v1/auth/logout`: ends the session. The CSRF token is forgotten either way. */
export async function logout(options: RequestOptions = {}): Promise<void> {
  try {
    await call(LOGOUT_PATH, options, { method: 'POST', sessionProbe: true }, [200, 204], () => undefined);
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
// Public API: users (admins)

/** `GET /api/v1/users`. */
export function listUsers(options: RequestOptions = {}): Promise<User[]> {
  return call(USERS_PATH, options, {}, [200], (body, fail) => parseArray(body, fail, parseUser));
}

/** `PATCH /api/v1/users/{id}`: a new role, or disable (which revokes their sessions and tokens) / enable. */
export function updateUser(
  id: string,
  patch: { role?: KnownRole; disabled?: boolean },
  options: RequestOptions = {},
): Promise<User> {
  return call(`${USERS_PATH}/${encodeURIComponent(id)}`, options, { method: 'PATCH', body: patch }, [200], (body, fail) =>
    parseUser(body, fail),
  );
}

/**
 * `POST /api/v1/users`: makes a local account (admins). The daemon refuses a
 * bad user name or a short password (422 `invalid`), a taken name (409
 * `conflict`), and everything when local accounts are turned off (403).
 */
export function createLocalUser(req: NewLocalUserRequest, options: RequestOptions = {}): Promise<User> {
  const body: NewLocalUserRequest = { username: req.username, password: req.password };
  if (req.email) body.email = req.email;
  if (req.role) body.role = req.role;
  return call(USERS_PATH, options, { method: 'POST', body }, [200, 201], (value, fail) => parseUser(value, fail));
}

// ---------------------------------------------------------------------------
// Public API: tokens

/** `GET /api/v1/tokens`: your own, or with `all` (admins) everyone's. */
export function listTokens(query: { all?: boolean } = {}, options: RequestOptions = {}): Promise<Token[]> {
  const path = query.all ? `${TOKENS_PATH}?all=true` : TOKENS_PATH;
  return call(path, options, {}, [200], (body, fail) => parseArray(body, fail, parseToken));
}

/** `POST /api/v1/tokens`: the secret in the answer is shown this once. */
export function createToken(req: TokenRequest, options: RequestOptions = {}): Promise<TokenCreated> {
  return call(TOKENS_PATH, options, { method: 'POST', body: req }, [200, 201], parseTokenCreated);
}

/** `DELETE /api/v1/tokens/{id}`. */
export async function revokeToken(id: string, options: RequestOptions = {}): Promise<void> {
  await call(`${TOKENS_PATH}/${encodeURIComponent(id)}`, options, { method: 'DELETE' }, [200, 204], () => undefined);
}

// ---------------------------------------------------------------------------
// Public API: SSO group mapping (admins)

/** `GET /api/v1/auth/mapping`; `null` when single sign-on is not configured (the daemon answers 404). */
export async function fetchMapping(options: RequestOptions = {}): Promise<MappingRules | null> {
  try {
    return await call(MAPPING_PATH, options, {}, [200], parseMappingRules);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** `PUT /api/v1/auth/mapping`: applies at each user's next sign-in. */
export function saveMapping(rules: MappingRules, options: RequestOptions = {}): Promise<MappingRules> {
  return call(MAPPING_PATH, options, { method: 'PUT', body: rules }, [200], parseMappingRules);
}

/**
 * `POST /api/v1/auth/mapping/preview`: the dry-run. Its 401 means "the ID
 * token was refused", not "signed out", so it does not end the session.
 */
export function previewMapping(req: PreviewRequest, options: RequestOptions = {}): Promise<MappingPreview> {
  return call(MAPPING_PREVIEW_PATH, options, { method: 'POST', body: req, sessionProbe: true }, [200], parseMappingPreview);
}

// ---------------------------------------------------------------------------
// Public API: audit log (admins and auditors)

/** The order filters appear in a query string (the console's address, the API calls, the export link). */
export const AUDIT_FILTER_KEYS = ['since', 'until', 'actor', 'action', 'resource_kind', 'resource', 'space', 'outcome'] as const;
export type AuditFilterKey = (typeof AUDIT_FILTER_KEYS)[number];

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
  return call(`${AUDIT_EVENTS_PATH}${auditQueryString(filters, page)}`, options, {}, [200], parseAuditPage);
}

/** `GET /api/v1/audit/verify`: checks the whole hash chain and the signed checkpoints. */
export function verifyAuditLog(options: RequestOptions = {}): Promise<AuditVerification> {
  // Checking a long log takes a while: allow more than the usual timeout.
  return call(AUDIT_VERIFY_PATH, { timeoutMs: 60_000, ...options }, {}, [200], parseAuditVerification);
}

/** `GET /api/v1/audit/public-key`: the hex Ed25519 key that signs the checkpoints. */
export function fetchAuditPublicKey(options: RequestOptions = {}): Promise<string> {
  return call(AUDIT_PUBLIC_KEY_PATH, options, {}, [200], (body, fail) =>
    reqString(object(body, '', fail), 'public_key', fail),
  );
}

/**
 * The address of `GET /api/v1/audit/export` (NDJSON, newest first) with these
 * filters: a plain link the browser downloads, signed in by the session cookie.
 */
export function auditExportHref(filters: AuditFilters): string {
  return `${AUDIT_EXPORT_PATH}${auditQueryString(filters)}`;
}

// ---------------------------------------------------------------------------
// Public API: spaces (every signed-in user; members see their spaces, admins all)

/** `/api/v1/spaces/{name}`, the name escaped. */
export function spaceApiPath(name: string): string {
  return `${SPACES_PATH}/${encodeURIComponent(name)}`;
}

/** `GET /api/v1/spaces`. */
export function listSpaces(options: RequestOptions = {}): Promise<SpaceView[]> {
  return call(SPACES_PATH, options, {}, [200], (body, fail) => parseArray(body, fail, parseSpaceView));
}

/**
 * `POST /api/v1/spaces`. The daemon refuses a bad name, label or quota
 * profile (422), a taken name (409), and a user over the per-user limit or
 * a member using an admins-only field (403).
 */
export function createSpace(req: NewSpaceRequest, options: RequestOptions = {}): Promise<SpaceView> {
  return call(SPACES_PATH, options, { method: 'POST', body: req }, [200, 201], (body, fail) => parseSpaceView(body, fail));
}

/** `GET /api/v1/spaces/{name}`: 404 when there is no such space you may see. */
export function fetchSpace(name: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call(spaceApiPath(name), options, {}, [200], (body, fail) => parseSpaceView(body, fail));
}

/** `PATCH /api/v1/spaces/{name}`. */
export function updateSpace(name: string, patch: SpaceUpdate, options: RequestOptions = {}): Promise<SpaceView> {
  return call(spaceApiPath(name), options, { method: 'PATCH', body: patch }, [200], (body, fail) =>
    parseSpaceView(body, fail),
  );
}

/** `DELETE /api/v1/spaces/{name}`: 202, the space `Terminating`; the record goes once the namespace is gone. */
export function deleteSpace(name: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call(spaceApiPath(name), options, { method: 'DELETE' }, [200, 202], (body, fail) => parseSpaceView(body, fail));
}

/** `GET /api/v1/spaces/{name}/objects`: what Berth keeps in the space, as the cluster holds it. */
export function listSpaceObjects(name: string, options: RequestOptions = {}): Promise<SpaceObject[]> {
  return call(`${spaceApiPath(name)}/objects`, options, {}, [200], (body, fail) =>
    parseArray(body, fail, parseSpaceObject),
  );
}

/** `POST /api/v1/spaces/{name}/members`: shares the space with a user (name, email or id), as a member. */
export function shareSpace(name: string, user: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call(`${spaceApiPath(name)}/members`, options, { method: 'POST', body: { user } }, [200, 201], (body, fail) =>
    parseSpaceView(body, fail),
  );
}

/** `DELETE /api/v1/spaces/{name}/members/{user}`: `user` is a name, email or id. */
export function unshareSpace(name: string, user: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call(
    `${spaceApiPath(name)}/members/${encodeURIComponent(user)}`,
    options,
    { method: 'DELETE' },
    [200],
    (body, fail) => parseSpaceView(body, fail),
  );
}

/** `POST /api/v1/spaces/{name}/sleep`: its workloads scale to zero. */
export function sleepSpace(name: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call(`${spaceApiPath(name)}/sleep`, options, { method: 'POST' }, [200], (body, fail) => parseSpaceView(body, fail));
}

/** `POST /api/v1/spaces/{name}/wake`: its workloads come back as they were. */
export function wakeSpace(name: string, options: RequestOptions = {}): Promise<SpaceView> {
  return call(`${spaceApiPath(name)}/wake`, options, { method: 'POST' }, [200], (body, fail) => parseSpaceView(body, fail));
}

// ---------------------------------------------------------------------------
// Public API: dev sessions (every signed-in user; members see theirs, admins all)

/** `/api/v1/sessions/{id}`, the id escaped. */
export function sessionApiPath(id: string): string {
  return `${SESSIONS_PATH}/${encodeURIComponent(id)}`;
}

/** `GET /api/v1/sessions`: your live dev sessions; every live one for admins. */
export function listSessions(options: RequestOptions = {}): Promise<SessionView[]> {
  return call(SESSIONS_PATH, options, {}, [200], (body, fail) => parseArray(body, fail, parseSessionView));
}

/** `GET /api/v1/sessions/{id}`: 404 when there is no such session you may see. */
export function fetchSession(id: string, options: RequestOptions = {}): Promise<SessionView> {
  return call(sessionApiPath(id), options, {}, [200], (body, fail) => parseSessionView(body, fail));
}

/**
 * `POST /api/v1/sessions`: a dev session in a space you may use; the agent
 * token in the answer is shown this once. The daemon refuses a user over the
 * limit of live sessions (403) and a space one may not see (404).
 */
export function createSession(req: NewSessionRequest, options: RequestOptions = {}): Promise<SessionCreated> {
  return call(SESSIONS_PATH, options, { method: 'POST', body: { space: req.space } }, [200, 201], (body, fail) =>
    parseSessionCreated(body, fail),
  );
}

/** `DELETE /api/v1/sessions/{id}` (its owner or an admin): both sides are disconnected; the answer is `ended`. */
export function endSession(id: string, options: RequestOptions = {}): Promise<SessionView> {
  return call(sessionApiPath(id), options, { method: 'DELETE' }, [200], (body, fail) => parseSessionView(body, fail));
}

// ---------------------------------------------------------------------------
// Public API: dev mode (those who may use the space)

/** `/api/v1/spaces/{name}/dev/{target}`, both escaped. */
export function devTargetApiPath(name: string, target: string): string {
  return `${spaceApiPath(name)}/dev/${encodeURIComponent(target)}`;
}

/** `GET /api/v1/spaces/{name}/dev`: the space's targets in dev mode, with their sessions. */
export function listDev(name: string, options: RequestOptions = {}): Promise<DevView[]> {
  return call(`${spaceApiPath(name)}/dev`, options, {}, [200], (body, fail) => parseArray(body, fail, parseDevView));
}

/**
 * `DELETE /api/v1/spaces/{name}/dev/{target}`: takes the target out of dev
 * mode (the workload's original spec back, the session ended) and answers
 * with it as it was. 404 when the target is not in dev mode.
 */
export function stopDev(name: string, target: string, options: RequestOptions = {}): Promise<DevView> {
  return call(devTargetApiPath(name, target), options, { method: 'DELETE' }, [200], (body, fail) =>
    parseDevView(body, fail),
  );
}

/** `GET /api/v1/spaces/{name}/workloads`: the space's Deployments and StatefulSets. */
export function listWorkloads(name: string, options: RequestOptions = {}): Promise<WorkloadView[]> {
  return call(`${spaceApiPath(name)}/workloads`, options, {}, [200], (body, fail) =>
    parseArray(body, fail, parseWorkloadView),
  );
}

// ---------------------------------------------------------------------------
// Public API: the catalog's chart repositories (admins)

/**
 * How long adding or refreshing a repository may take: the daemon fetches
 * the index before it answers (for up to its `[catalog] fetch_timeout`, 30 s
 * by default).
 */
export const CATALOG_FETCH_TIMEOUT_MS = 120_000;

/** `/api/v1/catalog/repositories/{name}`, the name escaped. */
export function repositoryApiPath(name: string): string {
  return `${REPOSITORIES_PATH}/${encodeURIComponent(name)}`;
}

/** `GET /api/v1/catalog/repositories`. */
export function listRepositories(options: RequestOptions = {}): Promise<RepositoryView[]> {
  return call(REPOSITORIES_PATH, options, {}, [200], (body, fail) => parseArray(body, fail, parseRepositoryView));
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
  return call(
    REPOSITORIES_PATH,
    { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options },
    { method: 'POST', body },
    [200, 201],
    (value, fail) => parseRepositoryView(value, fail),
  );
}

/** `GET /api/v1/catalog/repositories/{name}`: 404 when there is no such repository. */
export function fetchRepository(name: string, options: RequestOptions = {}): Promise<RepositoryView> {
  return call(repositoryApiPath(name), options, {}, [200], (body, fail) => parseRepositoryView(body, fail));
}

/** `DELETE /api/v1/catalog/repositories/{name}`: answers the repository as it was. */
export function removeRepository(name: string, options: RequestOptions = {}): Promise<RepositoryView> {
  return call(repositoryApiPath(name), options, { method: 'DELETE' }, [200], (body, fail) =>
    parseRepositoryView(body, fail),
  );
}

/**
 * `POST /api/v1/catalog/repositories/{name}/refresh` (no body): fetches the
 * index now. A failed fetch is an ordinary answer: `last_error` says why, and
 * the charts of the last good fetch are kept.
 */
export function refreshRepository(name: string, options: RequestOptions = {}): Promise<RepositoryView> {
  return call(
    `${repositoryApiPath(name)}/refresh`,
    { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options },
    { method: 'POST' },
    [200],
    (body, fail) => parseRepositoryView(body, fail),
  );
}

/** `GET /api/v1/catalog/repositories/{name}/charts`: the last good index, versions newest first. */
export function listCharts(name: string, options: RequestOptions = {}): Promise<ChartView[]> {
  return call(`${repositoryApiPath(name)}/charts`, options, {}, [200], (body, fail) =>
    parseArray(body, fail, parseChartView),
  );
}

// ---------------------------------------------------------------------------
// Public API: the catalog's items (everyone reads; admins manage)

/** `/api/v1/catalog/items/{name}`, the name escaped. */
export function itemApiPath(name: string): string {
  return `${ITEMS_PATH}/${encodeURIComponent(name)}`;
}

/** `GET /api/v1/catalog/items`: those not hidden; every one for admins. */
export function listItems(options: RequestOptions = {}): Promise<ItemView[]> {
  return call(ITEMS_PATH, options, {}, [200], (body, fail) => parseArray(body, fail, parseItemView));
}

/** `GET /api/v1/catalog/items/{name}`: 404 when there is no such item you may see. */
export function fetchItem(name: string, options: RequestOptions = {}): Promise<ItemView> {
  return call(itemApiPath(name), options, {}, [200], (body, fail) => parseItemView(body, fail));
}

/**
 * `POST /api/v1/catalog/items` (admins): the daemon fetches the chart first,
 * to know its fields and check the values. It refuses a bad spec, a chart or
 * version it cannot find, and values the chart refuses (422, naming the
 * field), and a taken name (409).
 */
export function createItem(spec: ItemSpec, options: RequestOptions = {}): Promise<ItemView> {
  return call(
    ITEMS_PATH,
    { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options },
    { method: 'POST', body: spec },
    [200, 201],
    (body, fail) => parseItemView(body, fail),
  );
}

/** `PUT /api/v1/catalog/items/{name}` (admins): the whole spec, its name the same. Hiding is an edit too. */
export function updateItem(name: string, spec: ItemSpec, options: RequestOptions = {}): Promise<ItemView> {
  return call(
    itemApiPath(name),
    { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options },
    { method: 'PUT', body: spec },
    [200],
    (body, fail) => parseItemView(body, fail),
  );
}

/** `DELETE /api/v1/catalog/items/{name}` (admins): answers the item as it was. */
export function deleteItem(name: string, options: RequestOptions = {}): Promise<ItemView> {
  return call(itemApiPath(name), options, { method: 'DELETE' }, [200], (body, fail) => parseItemView(body, fail));
}

// ---------------------------------------------------------------------------
// Public API: applications in a space (members of the space; admins any)

/** `/api/v1/spaces/{space}/apps/{name}`, both escaped. */
export function appApiPath(space: string, name: string): string {
  return `${spaceApiPath(space)}/apps/${encodeURIComponent(name)}`;
}

/** `GET /api/v1/spaces/{space}/apps`. */
export function listApps(space: string, options: RequestOptions = {}): Promise<AppView[]> {
  return call(`${spaceApiPath(space)}/apps`, options, {}, [200], (body, fail) => parseArray(body, fail, parseAppView));
}

/** `GET /api/v1/spaces/{space}/apps/{name}`: 404 once it is uninstalled. */
export function fetchApp(space: string, name: string, options: RequestOptions = {}): Promise<AppView> {
  return call(appApiPath(space, name), options, {}, [200], (body, fail) => parseAppView(body, fail));
}

/**
 * `POST /api/v1/spaces/{space}/apps`: 202, the install runs in the
 * background (`installing`). The daemon refuses values the chart or the
 * item's parameters do not allow (422, naming the field) and a taken name
 * (409). An empty name and empty values are left out.
 */
export function installApp(space: string, req: InstallRequest, options: RequestOptions = {}): Promise<AppView> {
  const body: InstallRequest = { item: req.item };
  if (req.name) body.name = req.name;
  if (req.values && Object.keys(req.values).length > 0) body.values = req.values;
  return call(
    `${spaceApiPath(space)}/apps`,
    { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options },
    { method: 'POST', body },
    [200, 201, 202],
    (value, fail) => parseAppView(value, fail),
  );
}

/**
 * `POST /api/v1/spaces/{space}/apps/{name}/upgrade`: 202, to the newest
 * chart version the item's range takes, `values` over the earlier ones (or
 * over the item's alone with `reset_values`). Empty values and a false
 * `reset_values` are left out.
 */
export function upgradeApp(space: string, name: string, req: UpgradeRequest, options: RequestOptions = {}): Promise<AppView> {
  const body: UpgradeRequest = {};
  if (req.values && Object.keys(req.values).length > 0) body.values = req.values;
  if (req.reset_values) body.reset_values = true;
  return call(
    `${appApiPath(space, name)}/upgrade`,
    { timeoutMs: CATALOG_FETCH_TIMEOUT_MS, ...options },
    { method: 'POST', body },
    [200, 202],
    (value, fail) => parseAppView(value, fail),
  );
}

/** `DELETE /api/v1/spaces/{space}/apps/{name}`: 202, `uninstalling`; once done, the app is gone. */
export function uninstallApp(space: string, name: string, options: RequestOptions = {}): Promise<AppView> {
  return call(appApiPath(space, name), options, { method: 'DELETE' }, [200, 202], (body, fail) => parseAppView(body, fail));
}

/** `GET /api/v1/spaces/{space}/apps/{name}/logs`: Helm's output of the latest operation so far, as text. */
export async function fetchAppLogs(space: string, name: string, options: RequestOptions = {}): Promise<string> {
  const path = `${appApiPath(space, name)}/logs`;
  const init: CallInit = { accept: 'text/plain' };
  const response = await request(path, options, init);
  if (response.status === 200) return response.raw;
  throw failure(path, response, init);
}

// ---------------------------------------------------------------------------
// Shape validation (exported for tests)

type Fail = (why: string) => MalformedResponseError;

export function parseVersion(body: unknown, status = 200): VersionInfo {
  const fail = (why: string) => new MalformedResponseError(VERSION_PATH, status, why);
  if (!isObject(body)) throw fail(`expected a JSON object, got ${describeValue(body)}`);
  if (typeof body.version !== 'string' || body.version === '') {
    throw fail(`field "version" must be a non-empty string, got ${describeValue(body.version)}`);
  }
  if (typeof body.api !== 'string' || body.api === '') {
    throw fail(`field "api" must be a non-empty string, got ${describeValue(body.api)}`);
  }
  return { version: body.version, api: body.api };
}

export function parseReadiness(body: unknown, status = 200): Readiness {
  const fail = (why: string) => new MalformedResponseError(READINESS_PATH, status, why);
  if (!isObject(body)) throw fail(`expected a JSON object, got ${describeValue(body)}`);
  if (typeof body.ready !== 'boolean') {
    throw fail(`field "ready" must be a boolean, got ${describeValue(body.ready)}`);
  }
  if (!isObject(body.components)) {
    throw fail(`field "components" must be an object, got ${describeValue(body.components)}`);
  }
  const components: Record<string, ComponentReadiness> = {};
  for (const [name, value] of Object.entries(body.components)) {
    if (!isObject(value)) {
      throw fail(`component "${name}" must be an object, got ${describeValue(value)}`);
    }
    if (typeof value.status !== 'string' || value.status === '') {
      throw fail(`component "${name}": field "status" must be a non-empty string, got ${describeValue(value.status)}`);
    }
    if (value.reason !== undefined && value.reason !== null && typeof value.reason !== 'string') {
      throw fail(`component "${name}": field "reason" must be a string, got ${describeValue(value.reason)}`);
    }
    components[name] =
      typeof value.reason === 'string' ? { status: value.status, reason: value.reason } : { status: value.status };
  }
  return { ready: body.ready, components };
}

const failFor = (endpoint: string, status = 200, method: HttpMethod = 'GET'): Fail => (why) =>
  new MalformedResponseError(endpoint, status, why, method);

export function parseAuthMethods(body: unknown, fail: Fail = failFor(AUTH_METHODS_PATH)): AuthMethods {
  const o = object(body, '', fail);
  let sso: SsoMethod | null = null;
  if (o.sso !== undefined && o.sso !== null) {
    const s = object(o.sso, 'sso', fail);
    sso = { display_name: reqString(s, 'display_name', fail, 'sso.'), login_url: reqString(s, 'login_url', fail, 'sso.') };
  }
  return { local: reqBool(o, 'local', fail), sso, setup_required: reqBool(o, 'setup_required', fail) };
}

export function parseUser(body: unknown, fail: Fail = failFor(USERS_PATH), where = ''): User {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    id: reqString(o, 'id', fail, where),
    username: reqString(o, 'username', fail, where),
    email: optString(o, 'email', fail, where),
    display_name: optString(o, 'display_name', fail, where),
    role: reqString(o, 'role', fail, where),
    role_source: reqString(o, 'role_source', fail, where),
    kind: reqString(o, 'kind', fail, where),
    disabled: reqBool(o, 'disabled', fail, where),
    created_at: reqString(o, 'created_at', fail, where),
    last_login_at: optString(o, 'last_login_at', fail, where),
    groups: stringArray(o, 'groups', fail, where),
    groups_claim_missing: reqBool(o, 'groups_claim_missing', fail, where),
  };
}

export function parseWhoami(body: unknown, fail: Fail = failFor(WHOAMI_PATH)): Whoami {
  const o = object(body, '', fail);
  return {
    user: parseUser(o.user, fail, 'user.'),
    via: reqString(o, 'via', fail),
    scopes: stringArray(o, 'scopes', fail),
    csrf_token: optString(o, 'csrf_token', fail),
  };
}

export function parseToken(body: unknown, fail: Fail = failFor(TOKENS_PATH), where = ''): Token {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    id: reqString(o, 'id', fail, where),
    name: reqString(o, 'name', fail, where),
    kind: reqString(o, 'kind', fail, where),
    prefix: reqString(o, 'prefix', fail, where, true),
    scopes: stringArray(o, 'scopes', fail, where),
    user_id: reqString(o, 'user_id', fail, where),
    username: reqString(o, 'username', fail, where),
    created_at: reqString(o, 'created_at', fail, where),
    expires_at: optString(o, 'expires_at', fail, where),
    last_used_at: optString(o, 'last_used_at', fail, where),
  };
}

export function parseTokenCreated(body: unknown, fail: Fail = failFor(TOKENS_PATH, 201, 'POST')): TokenCreated {
  const o = object(body, '', fail);
  return { token: parseToken(o.token, fail, 'token.'), secret: reqString(o, 'secret', fail) };
}

export function parseMappingRules(body: unknown, fail: Fail = failFor(MAPPING_PATH)): MappingRules {
  const o = object(body, '', fail);
  return { admin_groups: stringArray(o, 'admin_groups', fail), auditor_groups: stringArray(o, 'auditor_groups', fail) };
}

export function parseClaims(body: unknown, fail: Fail, where = 'claims.'): Claims {
  const o = object(body, where.replace(/\.$/, ''), fail);
  const claims: Claims = { issuer: reqString(o, 'issuer', fail, where), subject: reqString(o, 'subject', fail, where) };
  const username = optString(o, 'username', fail, where);
  if (username !== null) claims.username = username;
  const email = optString(o, 'email', fail, where);
  if (email !== null) claims.email = email;
  if (o.email_verified !== undefined && o.email_verified !== null) claims.email_verified = reqBool(o, 'email_verified', fail, where);
  const name = optString(o, 'name', fail, where);
  if (name !== null) claims.name = name;
  claims.groups = o.groups === undefined || o.groups === null ? null : stringArray(o, 'groups', fail, where);
  return claims;
}

export function parseMappingPreview(
  body: unknown,
  fail: Fail = failFor(MAPPING_PREVIEW_PATH, 200, 'POST'),
): MappingPreview {
  const o = object(body, '', fail);
  const role = optString(o, 'role', fail);
  return {
    claims: parseClaims(o.claims, fail),
    username: optString(o, 'username', fail),
    allowed: reqBool(o, 'allowed', fail),
    refusal: optString(o, 'refusal', fail),
    role,
    existing_user:
      o.existing_user === undefined || o.existing_user === null ? null : parseUser(o.existing_user, fail, 'existing_user.'),
    warnings: stringArray(o, 'warnings', fail),
  };
}

export function parseAuditEvent(body: unknown, fail: Fail = failFor(AUDIT_EVENTS_PATH), where = ''): AuditEvent {
  const o = object(body, where.replace(/\.$/, ''), fail);
  const actor = object(o.actor, `${where}actor`, fail);
  const origin = object(o.origin, `${where}origin`, fail);
  const resource = object(o.resource, `${where}resource`, fail);
  const changes = object(o.changes ?? {}, `${where}changes`, fail);
  const parsedChanges: Record<string, AuditChange> = {};
  for (const [field, change] of Object.entries(changes)) {
    const c = object(change, `${where}changes.${field}`, fail);
    parsedChanges[field] = { before: c.before ?? null, after: c.after ?? null };
  }
  return {
    seq: reqCount(o, 'seq', fail, where),
    time_unix_nano: reqNanos(o, 'time_unix_nano', fail, where),
    actor: {
      kind: reqString(actor, 'kind', fail, `${where}actor.`),
      id: optString(actor, 'id', fail, `${where}actor.`),
      name: optString(actor, 'name', fail, `${where}actor.`),
    },
    origin: {
      source: optString(origin, 'source', fail, `${where}origin.`),
      user_agent: optString(origin, 'user_agent', fail, `${where}origin.`),
      request_id: optString(origin, 'request_id', fail, `${where}origin.`),
      trace_id: optString(origin, 'trace_id', fail, `${where}origin.`),
    },
    action: reqString(o, 'action', fail, where),
    resource: {
      kind: reqString(resource, 'kind', fail, `${where}resource.`),
      id: optString(resource, 'id', fail, `${where}resource.`),
      name: optString(resource, 'name', fail, `${where}resource.`),
      space: optString(resource, 'space', fail, `${where}resource.`),
    },
    outcome: reqString(o, 'outcome', fail, where),
    status: optCount(o, 'status', fail, where),
    reason: optString(o, 'reason', fail, where),
    changes: parsedChanges,
    prev_hash: reqString(o, 'prev_hash', fail, where),
    hash: reqString(o, 'hash', fail, where),
  };
}

export function parseAuditPage(body: unknown, fail: Fail = failFor(AUDIT_EVENTS_PATH)): AuditPage {
  const o = object(body, '', fail);
  if (!Array.isArray(o.events)) throw fail(`field "events" must be an array, got ${describeValue(o.events)}`);
  return {
    events: o.events.map((e, i) => parseAuditEvent(e, fail, `events[${i}].`)),
    next: optCount(o, 'next', fail),
  };
}

export function parseAuditVerification(body: unknown, fail: Fail = failFor(AUDIT_VERIFY_PATH)): AuditVerification {
  const o = object(body, '', fail);
  return {
    ok: reqBool(o, 'ok', fail),
    events: reqCount(o, 'events', fail),
    first_seq: optCount(o, 'first_seq', fail),
    last_seq: optCount(o, 'last_seq', fail),
    checkpoints: reqCount(o, 'checkpoints', fail),
    first_broken_seq: optCount(o, 'first_broken_seq', fail),
    problem: optString(o, 'problem', fail),
    detail: optString(o, 'detail', fail),
    public_key: optString(o, 'public_key', fail),
  };
}

export function parseSpaceMember(body: unknown, fail: Fail, where: string): SpaceMember {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    user_id: reqString(o, 'user_id', fail, where, true),
    username: reqString(o, 'username', fail, where, true),
    role: reqString(o, 'role', fail, where),
  };
}

export function parseSpaceView(body: unknown, fail: Fail = failFor(SPACES_PATH), where = ''): SpaceView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  if (!Array.isArray(o.members)) throw fail(`field "${where}members" must be an array, got ${describeValue(o.members)}`);
  const wake = object(o.wakefulness, `${where}wakefulness`, fail);
  const status = object(o.status, `${where}status`, fail);
  const quota = object(status.quota, `${where}status.quota`, fail);
  if (!Array.isArray(status.conditions)) {
    throw fail(`field "${where}status.conditions" must be an array, got ${describeValue(status.conditions)}`);
  }
  const conditions = status.conditions.map((c, i): SpaceCondition => {
    const at = `${where}status.conditions[${i}].`;
    const co = object(c, at.replace(/\.$/, ''), fail);
    return {
      type: reqString(co, 'type', fail, at),
      status: reqBool(co, 'status', fail, at),
      reason: reqString(co, 'reason', fail, at, true),
      message: reqString(co, 'message', fail, at, true),
      last_transition: reqString(co, 'last_transition', fail, at),
    };
  });
  return {
    name: reqString(o, 'name', fail, where),
    owner: parseSpaceMember(o.owner, fail, `${where}owner.`),
    members: o.members.map((m, i) => parseSpaceMember(m, fail, `${where}members[${i}].`)),
    persistent: reqBool(o, 'persistent', fail, where),
    personal: reqBool(o, 'personal', fail, where),
    labels: stringMap(o, 'labels', fail, where),
    quota_profile: reqString(o, 'quota_profile', fail, where, true),
    generation: reqCount(o, 'generation', fail, where),
    created_at: reqString(o, 'created_at', fail, where),
    last_activity: reqString(o, 'last_activity', fail, where),
    last_activity_reason: reqString(o, 'last_activity_reason', fail, where, true),
    wakefulness: {
      asleep: reqBool(wake, 'asleep', fail, `${where}wakefulness.`),
      reason: reqString(wake, 'reason', fail, `${where}wakefulness.`, true),
      by: reqString(wake, 'by', fail, `${where}wakefulness.`, true),
      since: reqString(wake, 'since', fail, `${where}wakefulness.`),
    },
    sleeps_at: optString(o, 'sleeps_at', fail, where),
    deleted_at: optString(o, 'deleted_at', fail, where),
    status: {
      phase: reqString(status, 'phase', fail, `${where}status.`),
      observed_generation: reqCount(status, 'observed_generation', fail, `${where}status.`),
      conditions,
      quota: {
        profile: reqString(quota, 'profile', fail, `${where}status.quota.`, true),
        hard: stringMap(quota, 'hard', fail, `${where}status.quota.`),
        used: stringMap(quota, 'used', fail, `${where}status.quota.`),
      },
    },
    your_role: optString(o, 'your_role', fail, where),
  };
}

export function parseSpaceObject(body: unknown, fail: Fail, where = ''): SpaceObject {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    api_version: reqString(o, 'api_version', fail, where),
    kind: reqString(o, 'kind', fail, where),
    name: reqString(o, 'name', fail, where),
    in_sync: reqBool(o, 'in_sync', fail, where),
    object: o.object ?? null,
  };
}

export function parseSessionView(body: unknown, fail: Fail = failFor(SESSIONS_PATH), where = ''): SessionView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    id: reqString(o, 'id', fail, where),
    space: reqString(o, 'space', fail, where),
    owner: reqString(o, 'owner', fail, where, true),
    owner_id: reqString(o, 'owner_id', fail, where),
    created_at: reqString(o, 'created_at', fail, where),
    state: reqString(o, 'state', fail, where),
    client_connected: reqBool(o, 'client_connected', fail, where),
    agent_connected: reqBool(o, 'agent_connected', fail, where),
    streams: reqCount(o, 'streams', fail, where),
    bytes_to_agent: reqCount(o, 'bytes_to_agent', fail, where),
    bytes_to_client: reqCount(o, 'bytes_to_client', fail, where),
    ended_reason: optString(o, 'ended_reason', fail, where),
    ended_at: optString(o, 'ended_at', fail, where),
  };
}

export function parseSessionCreated(body: unknown, fail: Fail = failFor(SESSIONS_PATH, 201, 'POST')): SessionCreated {
  const o = object(body, '', fail);
  return { session: parseSessionView(o.session, fail, 'session.'), agent_token: reqString(o, 'agent_token', fail) };
}

export function parseDevView(body: unknown, fail: Fail = failFor(SPACES_PATH), where = ''): DevView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    space: reqString(o, 'space', fail, where),
    target: reqString(o, 'target', fail, where),
    workload: reqString(o, 'workload', fail, where),
    mode: reqString(o, 'mode', fail, where),
    session: parseSessionView(o.session, fail, `${where}session.`),
    started_by: reqString(o, 'started_by', fail, where, true),
    started_at: reqString(o, 'started_at', fail, where),
    image: optString(o, 'image', fail, where),
    command: stringArray(o, 'command', fail, where),
    local_root: optString(o, 'local_root', fail, where),
  };
}

export function parseWorkloadView(body: unknown, fail: Fail = failFor(SPACES_PATH), where = ''): WorkloadView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  if (!Array.isArray(o.containers)) {
    throw fail(`field "${where}containers" must be an array, got ${describeValue(o.containers)}`);
  }
  return {
    workload: reqString(o, 'workload', fail, where),
    containers: o.containers.map((c, i) => parseContainerView(c, fail, `${where}containers[${i}].`)),
    dev_target: optString(o, 'dev_target', fail, where),
  };
}

export function parseContainerView(body: unknown, fail: Fail, where = ''): ContainerView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  const ports = o.ports;
  if (!Array.isArray(ports) || !ports.every((p) => typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 65_535)) {
    throw fail(`field "${where}ports" must be an array of port numbers, got ${describeValue(ports)}`);
  }
  return {
    // The daemon reports what the cluster holds: either may be empty.
    name: reqString(o, 'name', fail, where, true),
    image: reqString(o, 'image', fail, where, true),
    ports: [...(ports as number[])],
    workdir: optString(o, 'workdir', fail, where),
  };
}

export function parseRepositoryView(
  body: unknown,
  fail: Fail = failFor(REPOSITORIES_PATH),
  where = '',
): RepositoryView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    name: reqString(o, 'name', fail, where),
    url: reqString(o, 'url', fail, where),
    username_file: optString(o, 'username_file', fail, where),
    password_file: optString(o, 'password_file', fail, where),
    ca_file: optString(o, 'ca_file', fail, where),
    added_by: reqString(o, 'added_by', fail, where, true),
    added_at: reqString(o, 'added_at', fail, where),
    fetched_at: optString(o, 'fetched_at', fail, where),
    last_error: optString(o, 'last_error', fail, where),
    failed_at: optString(o, 'failed_at', fail, where),
    charts: reqCount(o, 'charts', fail, where),
    versions: reqCount(o, 'versions', fail, where),
  };
}

export function parseChartView(body: unknown, fail: Fail = failFor(REPOSITORIES_PATH), where = ''): ChartView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  if (!Array.isArray(o.versions)) throw fail(`field "${where}versions" must be an array, got ${describeValue(o.versions)}`);
  return {
    name: reqString(o, 'name', fail, where),
    versions: o.versions.map((v, i) => parseChartVersionView(v, fail, `${where}versions[${i}].`)),
  };
}

export function parseChartVersionView(body: unknown, fail: Fail, where = ''): ChartVersionView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    version: reqString(o, 'version', fail, where),
    app_version: optString(o, 'app_version', fail, where),
    description: optString(o, 'description', fail, where),
    icon: optString(o, 'icon', fail, where),
    created: optString(o, 'created', fail, where),
    digest: optString(o, 'digest', fail, where),
    urls: stringArray(o, 'urls', fail, where),
    deprecated: reqBool(o, 'deprecated', fail, where),
  };
}

export function parseItemSpec(body: unknown, fail: Fail, where = ''): ItemSpec {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    name: reqString(o, 'name', fail, where),
    description: reqString(o, 'description', fail, where, true),
    icon: optString(o, 'icon', fail, where),
    repository: reqString(o, 'repository', fail, where),
    chart: reqString(o, 'chart', fail, where),
    version: reqString(o, 'version', fail, where),
    values: { ...object(o.values ?? {}, `${where}values`, fail) },
    parameters: o.parameters === undefined || o.parameters === null ? null : stringArray(o, 'parameters', fail, where),
    hidden: reqBool(o, 'hidden', fail, where),
  };
}

export function parseFieldView(body: unknown, fail: Fail, where = ''): FieldView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  const choices = o.choices ?? [];
  if (!Array.isArray(choices)) throw fail(`field "${where}choices" must be an array, got ${describeValue(choices)}`);
  return {
    path: reqString(o, 'path', fail, where),
    kind: reqString(o, 'kind', fail, where),
    title: optString(o, 'title', fail, where),
    description: optString(o, 'description', fail, where),
    default: o.default ?? null,
    choices: [...choices],
    required: reqBool(o, 'required', fail, where),
    minimum: optNumber(o, 'minimum', fail, where),
    maximum: optNumber(o, 'maximum', fail, where),
    secret: reqBool(o, 'secret', fail, where),
  };
}

export function parseItemView(body: unknown, fail: Fail = failFor(ITEMS_PATH), where = ''): ItemView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  if (!Array.isArray(o.fields)) throw fail(`field "${where}fields" must be an array, got ${describeValue(o.fields)}`);
  return {
    spec: parseItemSpec(o.spec, fail, `${where}spec.`),
    icon: optString(o, 'icon', fail, where),
    chart_version: reqString(o, 'chart_version', fail, where),
    app_version: optString(o, 'app_version', fail, where),
    chart_description: optString(o, 'chart_description', fail, where),
    fields: o.fields.map((f, i) => parseFieldView(f, fail, `${where}fields[${i}].`)),
    has_schema: reqBool(o, 'has_schema', fail, where),
    created_by: reqString(o, 'created_by', fail, where, true),
    created_at: reqString(o, 'created_at', fail, where),
    updated_by: reqString(o, 'updated_by', fail, where, true),
    updated_at: reqString(o, 'updated_at', fail, where),
  };
}

export function parseOperationView(body: unknown, fail: Fail, where = ''): OperationView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    number: reqCount(o, 'number', fail, where),
    kind: reqString(o, 'kind', fail, where),
    state: reqString(o, 'state', fail, where),
    chart_version: reqString(o, 'chart_version', fail, where, true),
    started_by: reqString(o, 'started_by', fail, where, true),
    started_at: reqString(o, 'started_at', fail, where),
    finished_at: optString(o, 'finished_at', fail, where),
    error: optString(o, 'error', fail, where),
    runner: reqString(o, 'runner', fail, where, true),
  };
}

export function parseHelmReleaseView(body: unknown, fail: Fail, where = ''): HelmReleaseView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    revision: reqCount(o, 'revision', fail, where),
    status: reqString(o, 'status', fail, where, true),
    description: optString(o, 'description', fail, where),
    notes: optString(o, 'notes', fail, where),
    updated: optString(o, 'updated', fail, where),
  };
}

export function parseAppView(body: unknown, fail: Fail = failFor(SPACES_PATH), where = ''): AppView {
  const o = object(body, where.replace(/\.$/, ''), fail);
  return {
    space: reqString(o, 'space', fail, where),
    name: reqString(o, 'name', fail, where),
    item: reqString(o, 'item', fail, where),
    chart: reqString(o, 'chart', fail, where),
    chart_version: reqString(o, 'chart_version', fail, where, true),
    values: { ...object(o.values ?? {}, `${where}values`, fail) },
    status: reqString(o, 'status', fail, where),
    operation: parseOperationView(o.operation, fail, `${where}operation.`),
    release:
      o.release === undefined || o.release === null ? null : parseHelmReleaseView(o.release, fail, `${where}release.`),
    installed_by: reqString(o, 'installed_by', fail, where, true),
    installed_at: reqString(o, 'installed_at', fail, where),
  };
}

function parseArray<T>(body: unknown, fail: Fail, item: (value: unknown, fail: Fail, where: string) => T): T[] {
  if (!Array.isArray(body)) throw fail(`expected a JSON array, got ${describeValue(body)}`);
  return body.map((value, i) => item(value, fail, `[${i}].`));
}

function object(value: unknown, where: string, fail: Fail): Record<string, unknown> {
  if (isObject(value)) return value;
  throw fail(where === '' ? `expected a JSON object, got ${describeValue(value)}` : `field "${where}" must be an object, got ${describeValue(value)}`);
}

function reqString(o: Record<string, unknown>, key: string, fail: Fail, where = '', allowEmpty = false): string {
  const v = o[key];
  if (typeof v !== 'string' || (!allowEmpty && v === '')) {
    throw fail(`field "${where}${key}" must be a non-empty string, got ${describeValue(v)}`);
  }
  return v;
}

function optString(o: Record<string, unknown>, key: string, fail: Fail, where = ''): string | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw fail(`field "${where}${key}" must be a string or null, got ${describeValue(v)}`);
  return v;
}

function reqBool(o: Record<string, unknown>, key: string, fail: Fail, where = ''): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw fail(`field "${where}${key}" must be a boolean, got ${describeValue(v)}`);
  return v;
}

function stringArray(o: Record<string, unknown>, key: string, fail: Fail, where = ''): string[] {
  const v = o[key];
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
    throw fail(`field "${where}${key}" must be an array of strings, got ${describeValue(v)}`);
  }
  return [...v];
}

/** A JSON object of strings (`{}` when absent). */
function stringMap(o: Record<string, unknown>, key: string, fail: Fail, where = ''): Record<string, string> {
  const v = o[key] ?? {};
  if (!isObject(v) || !Object.values(v).every((s) => typeof s === 'string')) {
    throw fail(`field "${where}${key}" must be an object of strings, got ${describeValue(o[key])}`);
  }
  return { ...(v as Record<string, string>) };
}

function reqCount(o: Record<string, unknown>, key: string, fail: Fail, where = ''): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw fail(`field "${where}${key}" must be a whole number, at least 0, got ${describeValue(v)}`);
  }
  return v;
}

function optCount(o: Record<string, unknown>, key: string, fail: Fail, where = ''): number | null {
  if (o[key] === undefined || o[key] === null) return null;
  return reqCount(o, key, fail, where);
}

function optNumber(o: Record<string, unknown>, key: string, fail: Fail, where = ''): number | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(`field "${where}${key}" must be a number or null, got ${describeValue(v)}`);
  return v;
}

/** A nanosecond timestamp: a JSON number (beyond 2^53, so not exact) or a decimal string. */
function reqNanos(o: Record<string, unknown>, key: string, fail: Fail, where = ''): number {
  const v = o[key];
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,20}$/.test(v)) return Number(v);
  throw fail(`field "${where}${key}" must be nanoseconds since 1970 (a number), got ${describeValue(v)}`);
}

// ---------------------------------------------------------------------------
// Internals

type Body = { kind: 'json'; value: unknown } | { kind: 'text'; text: string };

interface RawResponse {
  status: number;
  body: Body;
  /** The body as it came, for the answers that are text (Helm's output). */
  raw: string;
}

interface CallInit {
  method?: HttpMethod;
  /** Sent as JSON. */
  body?: unknown;
  /**
   * The 401 of this call is an ordinary answer (wrong password, not signed in
   * yet, ID token refused), not "the session ended": listeners are not told.
   */
  sessionProbe?: boolean;
  /** The `Accept` header; `application/json` unless said. */
  accept?: string;
}

/** One request: the answer must have one of `ok` statuses and a body `parse` accepts. */
async function call<T>(
  path: string,
  options: RequestOptions,
  init: CallInit,
  ok: number[],
  parse: (body: unknown, fail: Fail) => T,
): Promise<T> {
  const method = init.method ?? 'GET';
  const response = await request(path, options, init);
  if (ok.includes(response.status)) {
    if (response.body.kind === 'json') {
      return parse(response.body.value, failFor(path, response.status, method));
    }
    if (response.body.text === '' && response.status === 204) {
      return parse(undefined, failFor(path, response.status, method));
    }
  }
  throw failure(path, response, init);
}

/** The error for an answer that is not a success; a 401 of the session tells the listeners. */
function failure(path: string, response: RawResponse, init: CallInit): Error {
  const err = errorFromResponse(path, response, init.method ?? 'GET');
  if (err instanceof ApiError && err.status === 401 && !init.sessionProbe) {
    setCsrfToken(null);
    for (const listener of [...unauthenticatedListeners]) listener(err);
  }
  return err;
}

async function request(path: string, options: RequestOptions, init: CallInit = {}): Promise<RawResponse> {
  const method = init.method ?? 'GET';
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  if (options.signal?.aborted) controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const headers: Record<string, string> = { Accept: init.accept ?? 'application/json' };
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers[CSRF_HEADER] = csrfToken;

  try {
    let response: Response;
    try {
      // Looked up at call time so tests can replace the global fetch.
      response = await globalThis.fetch(path, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        cache: 'no-store',
        credentials: 'same-origin',
        signal: controller.signal,
      });
    } catch (cause) {
      const why = timedOut ? `no answer within ${formatSeconds(timeoutMs)}` : errorText(cause);
      throw new UnreachableError(path, why, { cause, method });
    }

    let text: string;
    try {
      text = await response.text();
    } catch (cause) {
      const why = timedOut ? `response not complete within ${formatSeconds(timeoutMs)}` : errorText(cause);
      throw new UnreachableError(path, `reading the response failed: ${why}`, { cause, method });
    }

    try {
      return { status: response.status, body: { kind: 'json', value: JSON.parse(text) }, raw: text };
    } catch {
      return { status: response.status, body: { kind: 'text', text }, raw: text };
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
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
function errorFromResponse(endpoint: string, { status, body }: RawResponse, method: HttpMethod = 'GET'): Error {
  if (body.kind === 'text') {
    const text = snippet(body.text);
    return new MalformedResponseError(
      endpoint,
      status,
      text === '' ? `HTTP ${status} with an empty body` : `HTTP ${status} with a body that is not JSON: ${text}`,
      method,
    );
  }
  if (isErrorEnvelope(body.value)) {
    const { code, message, request_id } = body.value.error;
    const requestId = typeof request_id === 'string' ? request_id : undefined;
    return new ApiError({ code, message, requestId, status, endpoint, method });
  }
  return new MalformedResponseError(endpoint, status, `unexpected HTTP ${status} without an error body`, method);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(snippet(value, 40))}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function snippet(text: string, max = 80): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
