// Helpers of the page tests (`*.test.tsx`, run in jsdom): open a page and
// close it after each test, stub fetch (as src/api/client.test.ts does: the global is
// replaced, the calls recorded), sign in, click and type; and fixtures of the
// API's answers, which the unit tests (`*.test.ts`) use too. Not part of the build.

import { act, type ReactElement } from 'react';
import { createRoot } from 'react-dom/client';
import { vi } from 'vitest';
import { fetchWhoami, setCsrfToken } from './api';
import type {
  AppView,
  ChartVersionView,
  ChartView,
  ContainerView,
  DevView,
  FieldView,
  ItemView,
  RepositoryView,
  SessionView,
  SpaceView,
  User,
  Whoami,
  WorkloadView,
} from './api';

// Tells React that the tests wrap their updates in act().
(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

/** Taken before any test fakes the timers: waiting for the page needs real time. */
const realSetTimeout = globalThis.setTimeout;

export interface FetchCall {
  method: string;
  url: string;
  /** The parsed JSON body, if any. */
  body: unknown;
  headers: Record<string, string>;
}

export type Handler = (call: FetchCall) => Response | Promise<Response>;

/** Replaces the global fetch; records the calls. */
export function stubFetch(handler: Handler): FetchCall[] {
  const calls: FetchCall[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const call: FetchCall = {
        method: init?.method ?? 'GET',
        url,
        body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
        headers: (init?.headers ?? {}) as Record<string, string>,
      };
      calls.push(call);
      return handler(call);
    }),
  );
  return calls;
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** A fixture as the daemon answers it (200, JSON), or the Response given (an error) as it is. */
export function answer(value: unknown): Response {
  return value instanceof Response ? value : json(200, value);
}

/** The daemon's error envelope. */
export function apiError(status: number, code: string, message: string): Response {
  return json(status, { error: { code, message, request_id: 'req-7' } });
}

/** What a test's handler answers for the routes it does not know: the daemon's 404. */
export const noRoute: Handler = () => apiError(404, 'not_found', 'no such route');

/** Signed in as the console is: whoami's answer (`me`) gives the CSRF token (csrf-123). */
export async function signIn(me: Whoami): Promise<void> {
  stubFetch(() => json(200, me));
  await fetchWhoami();
}

/** `METHOD url` of each call, for compact assertions. */
export function requests(calls: FetchCall[]): string[] {
  return calls.map((c) => `${c.method} ${c.url}`);
}

export interface Mounted {
  container: HTMLElement;
  unmount: () => Promise<void>;
}

export async function mount(element: ReactElement): Promise<Mounted> {
  const container = document.createElement('div');
  document.body.appendChild(container);
  const root = createRoot(container);
  await act(async () => {
    root.render(element);
  });
  return {
    container,
    unmount: async () => {
      await act(async () => root.unmount());
      container.remove();
    },
  };
}

/** The page a test opened (one at a time), which closePage takes down. */
let opened: Mounted | null = null;

/**
 * Opens a page for a test: the address set to `path` when given (the page
 * may read it), fetch stubbed with `handler` (the calls recorded), `page`
 * mounted in place of the one opened before, if any.
 */
export async function openPage(
  page: ReactElement,
  handler: Handler,
  path?: string,
): Promise<{ calls: FetchCall[]; root: HTMLElement }> {
  await opened?.unmount();
  opened = null;
  if (path !== undefined) window.history.replaceState(null, '', path);
  const calls = stubFetch(handler);
  opened = await mount(page);
  return { calls, root: opened.container };
}

/**
 * After each page test (`afterEach(closePage)`): unmounts the page and puts
 * back what the test changed: fetch, the timers, the CSRF token, the address.
 */
export async function closePage(): Promise<void> {
  await opened?.unmount();
  opened = null;
  vi.unstubAllGlobals();
  vi.useRealTimers();
  setCsrfToken(null);
  window.history.replaceState(null, '', '/');
}

/** Lets pending requests answer and React render. */
export async function flush(): Promise<void> {
  await act(async () => {
    await new Promise((resolve) => realSetTimeout(resolve, 0));
  });
}

/** Moves faked timers on (see vi.useFakeTimers), letting React render what they caused. */
export async function advance(ms: number): Promise<void> {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

/** Retries `check` until it stops throwing, letting the page work in between. */
export async function waitFor<T>(check: () => T, rounds = 200): Promise<T> {
  for (let i = 0; ; i += 1) {
    try {
      return check();
    } catch (err) {
      if (i >= rounds) throw err;
    }
    await flush();
  }
}

export function queryTestId(root: ParentNode, id: string): HTMLElement | null {
  return root.querySelector<HTMLElement>(`[data-testid="${id}"]`);
}

export function byTestId(root: ParentNode, id: string): HTMLElement {
  const el = queryTestId(root, id);
  if (!el) throw new Error(`no element with data-testid="${id}"`);
  return el;
}

/**
 * The text of an element as a reader gets it: each element's text set apart
 * by a space (table cells, tags, badges), whitespace collapsed, and what is
 * hidden from readers (`aria-hidden`) left out.
 */
export function text(root: ParentNode, id: string): string {
  return readable(byTestId(root, id)).replace(/\s+/g, ' ').trim();
}

function readable(node: Node): string {
  if (node.nodeType === Node.TEXT_NODE) return node.textContent ?? '';
  if (node instanceof Element && node.getAttribute('aria-hidden') === 'true') return '';
  const inner = [...node.childNodes].map(readable).join('');
  return node instanceof Element ? ` ${inner} ` : inner;
}

export async function click(el: HTMLElement): Promise<void> {
  await act(async () => {
    el.click();
  });
}

/** Sets an input's (or a textarea's) value the way typing does, so React's onChange sees it. */
export async function typeInto(el: HTMLElement, value: string): Promise<void> {
  if (!(el instanceof HTMLInputElement) && !(el instanceof HTMLTextAreaElement)) throw new Error('not an <input> or <textarea>');
  const proto = el instanceof HTMLInputElement ? HTMLInputElement.prototype : HTMLTextAreaElement.prototype;
  const setter = Object.getOwnPropertyDescriptor(proto, 'value')?.set;
  await act(async () => {
    setter?.call(el, value);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

/** Picks an option of a <select> the way a user does, so React's onChange sees it. */
export async function choose(el: HTMLElement, value: string): Promise<void> {
  if (!(el instanceof HTMLSelectElement)) throw new Error('not a <select>');
  if (![...el.options].some((o) => o.value === value)) throw new Error(`no option ${JSON.stringify(value)}`);
  const setter = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, 'value')?.set;
  await act(async () => {
    setter?.call(el, value);
    el.dispatchEvent(new Event('change', { bubbles: true }));
  });
}

/** Submits a form as pressing Enter in it does (its submit button is not clicked). */
export async function pressEnter(form: HTMLElement): Promise<void> {
  if (!(form instanceof HTMLFormElement)) throw new Error('not a <form>');
  await act(async () => {
    form.dispatchEvent(new Event('submit', { bubbles: true, cancelable: true }));
  });
}

// ---------------------------------------------------------------------------
// Fixtures

export function user(overrides: Partial<User> = {}): User {
  return {
    id: 'u-1',
    username: 'alice',
    email: 'alice@example.com',
    display_name: null,
    role: 'member',
    role_source: 'manual',
    kind: 'local',
    disabled: false,
    created_at: '2026-11-01T09:00:00Z',
    last_login_at: null,
    groups: [],
    groups_claim_missing: false,
    ...overrides,
  };
}

export function whoami(overrides: Partial<User> = {}): Whoami {
  return { user: user(overrides), via: 'session', scopes: ['read', 'write'], csrf_token: 'csrf-123' };
}

/** alice (u-1), a member. */
export const ALICE = whoami();
/** bob (u-2), a member. */
export const BOB = whoami({ id: 'u-2', username: 'bob', email: 'bob@example.com' });
/** root (u-9), an admin who is in no space. */
export const ROOT = whoami({ id: 'u-9', username: 'root', email: null, role: 'admin' });
/** dana (u-4), an auditor. */
export const DANA = whoami({ id: 'u-4', username: 'dana', email: 'dana@example.com', role: 'auditor' });

/** An ISO time `ms` from now. */
export function fromNow(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}

const HOUR = 3_600_000;

/** The space `alpha`: owned by alice, shared with bob, awake, sleeping in about 2 h; seen by alice. */
export function spaceView(overrides: Partial<SpaceView> = {}): SpaceView {
  return {
    name: 'alpha',
    owner: { user_id: 'u-1', username: 'alice', role: 'owner' },
    members: [
      { user_id: 'u-1', username: 'alice', role: 'owner' },
      { user_id: 'u-2', username: 'bob', role: 'member' },
    ],
    persistent: false,
    personal: false,
    labels: { team: 'web', env: 'dev' },
    quota_profile: 'default',
    generation: 3,
    created_at: '2026-11-20T10:00:00Z',
    last_activity: fromNow(-10 * 60_000),
    last_activity_reason: 'api call by alice',
    wakefulness: { asleep: false, reason: 'dev session of alice since 10:02', by: 'alice', since: fromNow(-HOUR) },
    sleeps_at: fromNow(2.5 * HOUR),
    deleted_at: fromNow(30.2 * 24 * HOUR),
    status: {
      phase: 'Active',
      observed_generation: 3,
      conditions: [
        {
          type: 'Ready',
          status: true,
          reason: 'Converged',
          message: 'Everything Berth keeps in the space is in place.',
          last_transition: fromNow(-2 * HOUR),
        },
        {
          type: 'QuotaExceeded',
          status: false,
          reason: 'WithinQuota',
          message: 'Usage is within the quota.',
          last_transition: fromNow(-2 * HOUR),
        },
      ],
      quota: {
        profile: 'default',
        hard: { pods: '50', 'requests.cpu': '4' },
        used: { pods: '3', 'requests.cpu': '1' },
      },
    },
    your_role: 'owner',
    ...overrides,
  };
}

/** The same space asleep (put to sleep by bob). */
export function asleep(space: SpaceView): SpaceView {
  return {
    ...space,
    wakefulness: { asleep: true, reason: 'put to sleep by bob at 10:40', by: 'bob', since: fromNow(-5 * 60_000) },
    sleeps_at: null,
    status: { ...space.status, phase: 'Sleeping' },
  };
}

/** The wake of issue 25: woken by admin, one Deployment back, CronJobs pending (the Asleep condition says so). */
export const HALF_AWAKE_MESSAGE =
  'waking: 1 of 2 workloads restored, CronJobs pending; attempt 3 failed, retrying with backoff: listing CronJobs failed: the Kubernetes API answered 500 InternalError';

/** The same space woken by admin while not every workload is back yet. */
export function halfAwake(space: SpaceView): SpaceView {
  return {
    ...space,
    wakefulness: { asleep: false, reason: 'woken by admin at 10:05', by: 'admin', since: fromNow(-60_000) },
    status: {
      ...space.status,
      phase: 'Waking',
      conditions: [
        ...space.status.conditions,
        { type: 'Asleep', status: false, reason: 'Waking', message: HALF_AWAKE_MESSAGE, last_transition: fromNow(-60_000) },
      ],
    },
  };
}

/** The dev session `s-a1` in `alpha`: alice's, both sides connected, 2 streams open, 1.5 KiB to the agent and 3.5 MiB back, started 5 min ago. */
export function sessionView(overrides: Partial<SessionView> = {}): SessionView {
  return {
    id: 's-a1',
    space: 'alpha',
    owner: 'alice',
    owner_id: 'u-1',
    created_at: fromNow(-5 * 60_000),
    state: 'connected',
    client_connected: true,
    agent_connected: true,
    streams: 2,
    bytes_to_agent: 1536,
    bytes_to_client: 3 * 1024 * 1024 + 512 * 1024,
    ended_reason: null,
    ended_at: null,
    ...overrides,
  };
}

/** The target `api` of `alpha` in dev mode: deployment/api, agent in the dev container, started by alice 20 min ago, its session `s-a1` (see sessionView). */
export function devView(overrides: Partial<DevView> = {}): DevView {
  return {
    space: 'alpha',
    target: 'api',
    workload: 'deployment/api',
    mode: 'cluster',
    session: sessionView(),
    started_by: 'alice',
    started_at: fromNow(-20 * 60_000),
    image: 'node:22',
    command: ['npm', 'run', 'dev'],
    local_root: null,
    volumes: [],
    wake: null,
    ...overrides,
  };
}

export function containerView(overrides: Partial<ContainerView> = {}): ContainerView {
  return { name: 'api', image: 'registry.example.com/api:1.4', ports: [8080], workdir: null, ...overrides };
}

/** deployment/api of `alpha`, one container, not in dev mode. */
export function workloadView(overrides: Partial<WorkloadView> = {}): WorkloadView {
  return { workload: 'deployment/api', containers: [containerView()], dev_target: null, ...overrides };
}

/** The chart repository `stable`: added by root a day ago, fetched 10 min ago, 2 charts and 3 versions, no credentials. */
export function repositoryView(overrides: Partial<RepositoryView> = {}): RepositoryView {
  return {
    name: 'stable',
    url: 'https://charts.example.com/stable',
    username_file: null,
    password_file: null,
    ca_file: null,
    added_by: 'root',
    added_at: fromNow(-24 * HOUR),
    fetched_at: fromNow(-10 * 60_000),
    last_error: null,
    failed_at: null,
    charts: 2,
    versions: 3,
    ...overrides,
  };
}

export function chartVersion(overrides: Partial<ChartVersionView> = {}): ChartVersionView {
  return {
    version: '1.10.0',
    app_version: '7.4',
    description: 'An in-memory store',
    icon: null,
    created: '2026-11-20T10:00:00Z',
    digest: 'abc123',
    urls: ['https://charts.example.com/stable/redis-1.10.0.tgz'],
    deprecated: false,
    ...overrides,
  };
}

/** `redis` with 1.10.0 (app 7.4) and 1.2.0; `legacy-ui` 0.3.0, deprecated: the charts of `stable`. */
export function charts(): ChartView[] {
  return [
    {
      name: 'legacy-ui',
      versions: [chartVersion({ version: '0.3.0', app_version: null, description: 'The old console', deprecated: true })],
    },
    {
      name: 'redis',
      versions: [chartVersion(), chartVersion({ version: '1.2.0', app_version: '7.2' })],
    },
  ];
}

export function fieldView(overrides: Partial<FieldView> = {}): FieldView {
  return {
    path: 'replicas',
    kind: 'integer',
    title: 'Replicas',
    description: 'How many pods',
    default: 1,
    choices: [],
    required: false,
    minimum: 1,
    maximum: 10,
    secret: false,
    ...overrides,
  };
}

/**
 * The fields of `redis`: replicas (integer 1..10, default 1), auth.password
 * (a secret, required, no default), auth.enabled (boolean, default true),
 * architecture (a choice of standalone / replication, default standalone),
 * image.tag (text, default "7.4"), tolerations (an array, default []).
 */
export function redisFields(): FieldView[] {
  return [
    fieldView(),
    fieldView({
      path: 'auth.password',
      kind: 'string',
      title: 'Password',
      description: null,
      default: null,
      required: true,
      minimum: null,
      maximum: null,
      secret: true,
    }),
    fieldView({ path: 'auth.enabled', kind: 'boolean', title: 'Use a password', description: null, default: true, minimum: null, maximum: null }),
    fieldView({
      path: 'architecture',
      kind: 'string',
      title: null,
      description: 'One server, or a primary and replicas',
      default: 'standalone',
      choices: ['standalone', 'replication'],
      minimum: null,
      maximum: null,
    }),
    fieldView({ path: 'image.tag', kind: 'string', title: 'Image tag', description: null, default: '7.4', minimum: null, maximum: null }),
    fieldView({ path: 'tolerations', kind: 'array', title: null, description: null, default: [], minimum: null, maximum: null }),
  ];
}

/** The item `redis`: chart stable/redis ^1.4 picking 1.10.0 (app 7.4), with redisFields(), offered to developers; added by root. */
export function itemView(overrides: Partial<ItemView> = {}, spec: Partial<ItemView['spec']> = {}): ItemView {
  return {
    spec: {
      name: 'redis',
      description: 'An in-memory store for caches and queues',
      icon: null,
      repository: 'stable',
      chart: 'redis',
      version: '^1.4',
      values: { architecture: 'standalone' },
      parameters: null,
      hidden: false,
      ...spec,
    },
    icon: spec.icon ?? null,
    chart_version: '1.10.0',
    app_version: '7.4',
    chart_description: 'An in-memory store',
    fields: redisFields(),
    has_schema: true,
    created_by: 'root',
    created_at: '2026-11-20T10:00:00Z',
    updated_by: 'root',
    updated_at: '2026-11-21T10:00:00Z',
    ...overrides,
  };
}

/** `cache` in `alpha`, from the item redis (chart 1.10.0): deployed by alice 30 min ago, release revision 1 with notes. */
export function appView(overrides: Partial<AppView> = {}): AppView {
  return {
    space: 'alpha',
    name: 'cache',
    item: 'redis',
    chart: 'redis',
    chart_version: '1.10.0',
    values: { replicas: 2 },
    status: 'deployed',
    operation: {
      number: 1,
      kind: 'install',
      state: 'succeeded',
      chart_version: '1.10.0',
      started_by: 'alice',
      started_at: fromNow(-30 * 60_000),
      finished_at: fromNow(-29 * 60_000),
      error: null,
      runner: 'helm',
    },
    release: {
      revision: 1,
      status: 'deployed',
      description: 'Install complete',
      notes: 'Redis can be reached at cache-redis.alpha.svc:6379',
      updated: fromNow(-29 * 60_000),
    },
    installed_by: 'alice',
    installed_at: fromNow(-30 * 60_000),
    ...overrides,
  };
}
