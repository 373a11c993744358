// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createElement } from 'react';
import type { AppView, DevView, EndpointView, SpaceObject, SpaceView, Whoami, WorkloadView } from '../api';
import { Space } from './Space';
import { SPACES_POLL_MS } from './model';
import {
  ALICE,
  BOB,
  ROOT,
  advance,
  answer,
  apiError,
  asleep,
  byTestId,
  click,
  closePage,
  containerView,
  devView,
  flush,
  fromNow,
  halfAwake,
  json,
  noRoute,
  openPage,
  pressEnter,
  queryTestId,
  requests,
  sessionView,
  signIn,
  spaceView,
  text,
  typeInto,
  waitFor,
  workloadView,
  type FetchCall,
  type Handler,
} from '../testing';

const ALPHA = spaceView();

const OBJECTS: SpaceObject[] = [
  {
    api_version: 'v1',
    kind: 'ResourceQuota',
    name: 'berth-quota',
    in_sync: true,
    object: {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'berth-quota', namespace: 'alpha' },
      spec: { hard: { pods: '50' } },
    },
  },
  {
    api_version: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    name: 'berth-members',
    in_sync: false,
    object: { kind: 'RoleBinding', subjects: [{ kind: 'User', name: 'alice' }] },
  },
  { api_version: 'networking.k8s.io/v1', kind: 'NetworkPolicy', name: 'berth-isolate', in_sync: false, object: null },
];

const open = (me: Whoami, handler: Handler, name = 'alpha') => openPage(createElement(Space, { me, name }), handler);

/**
 * What the space's dev mode and applications routes answer (read at call
 * time); none in dev mode, no workloads and no applications when left out.
 */
interface DevApi {
  devs?: () => DevView[] | Response;
  workloads?: () => WorkloadView[] | Response;
  apps?: () => AppView[] | Response;
  endpoints?: () => EndpointView[] | Response;
}

/**
 * Answers GET of the space with `space()`, of its objects with OBJECTS, of its
 * targets in dev mode, its workloads and its applications with `dev` (all read
 * at call time), everything else with `other`.
 */
function api(
  space: () => SpaceView | Response,
  other: Handler = noRoute,
  dev: DevApi = {},
): Handler {
  return (call) => {
    if (call.method === 'GET' && call.url === '/api/v1/spaces/alpha') return answer(space());
    if (call.method === 'GET' && call.url === '/api/v1/spaces/alpha/objects') return json(200, OBJECTS);
    if (call.method === 'GET' && call.url === '/api/v1/spaces/alpha/dev') return answer(dev.devs?.() ?? []);
    if (call.method === 'GET' && call.url === '/api/v1/spaces/alpha/workloads') return answer(dev.workloads?.() ?? []);
    if (call.method === 'GET' && call.url === '/api/v1/spaces/alpha/apps') return answer(dev.apps?.() ?? []);
    if (call.method === 'GET' && call.url === '/api/v1/spaces/alpha/endpoints') return answer(dev.endpoints?.() ?? []);
    return other(call);
  };
}

/** The GETs of one reading of the page. */
const READS = [
  'GET /api/v1/spaces/alpha',
  'GET /api/v1/spaces/alpha/objects',
  'GET /api/v1/spaces/alpha/dev',
  'GET /api/v1/spaces/alpha/workloads',
  'GET /api/v1/spaces/alpha/apps',
  'GET /api/v1/spaces/alpha/endpoints',
];

const changes = (calls: FetchCall[]) => requests(calls).filter((r) => !r.startsWith('GET '));

beforeEach(() => {
  window.history.replaceState(null, '', '/spaces/alpha');
});

afterEach(closePage);

describe('Space page', () => {
  it('shows the space from GET /api/v1/spaces/{name}', async () => {
    const { calls, root } = await open(ALICE, api(() => ALPHA));
    await waitFor(() => byTestId(root, 'space-owner'));

    expect(requests(calls)).toEqual(READS);
    expect(text(root, 'space-title')).toBe('alpha');
    expect(text(root, 'space-phase')).toBe('Active');
    expect(text(root, 'space-owner')).toBe('alice you');
    expect(text(root, 'space-your-role')).toBe('Owner');
    expect(text(root, 'space-persistent')).toBe('No');
    expect(text(root, 'space-personal')).toBe('No');
    expect(text(root, 'space-labels')).toBe('env=dev team=web');
    expect(text(root, 'space-wakefulness')).toBe('Awake: dev session of alice since 10:02. (since 1 h ago)');
    expect(text(root, 'space-last-activity')).toBe('api call by alice · 10 min ago');
    expect(text(root, 'space-sleeps-at')).toMatch(/^in 2 h · \d{4}-\d\d-\d\d \d\d:\d\d$/);
    expect(text(root, 'space-deleted-at')).toMatch(/^in 30 days · \d{4}-\d\d-\d\d \d\d:\d\d$/);
    expect(text(root, 'space-kube')).toBe(
      'berth kubeconfig , then berth space use alpha --kube : kubectl and helm act here as you, through Berth.',
    );
  });

  it('shows a persistent, personal, sleeping space so', async () => {
    const space = asleep({ ...ALPHA, persistent: true, personal: true, labels: {}, sleeps_at: null, deleted_at: null });
    const { root } = await open(ALICE, api(() => space));
    await waitFor(() => byTestId(root, 'space-owner'));
    expect(text(root, 'space-phase')).toBe('Sleeping');
    expect(text(root, 'space-persistent')).toBe('Yes: never sleeps or is deleted for idleness');
    expect(text(root, 'space-personal')).toBe('Yes: made at the owner’s first sign-in');
    expect(text(root, 'space-labels')).toBe('None');
    expect(text(root, 'space-wakefulness')).toMatch(/^Asleep: put to sleep by bob at 10:40\. \(since 5 min ago\)$/);
    expect(text(root, 'space-sleeps-at')).toBe('Asleep now');
    expect(text(root, 'space-deleted-at')).toBe('Never (persistent)');
  });

  it('says a space woken but not wholly back is still waking, and what is pending', async () => {
    const { root } = await open(ALICE, api(() => halfAwake(ALPHA)));
    await waitFor(() => byTestId(root, 'space-owner'));
    expect(text(root, 'space-phase')).toBe('Waking');
    expect(text(root, 'space-wakefulness')).toBe(
      'Awake: woken by admin at 10:05. (since 1 min ago) Waking: 1 of 2 workloads restored, CronJobs pending. The Asleep condition below says why.',
    );
    expect(text(root, 'condition-Asleep')).toContain('listing CronJobs failed: the Kubernetes API answered 500 InternalError');
    expect(queryTestId(root, 'space-wakefulness-progress')).not.toBeNull();
    // Woken but not wholly: it may be woken again, or put to sleep.
    expect(text(root, 'space-wake')).toBe('Wake again');
    expect(text(root, 'space-sleep')).toBe('Sleep');
  });

  it('lists the conditions, the quota and the members', async () => {
    const { root } = await open(ALICE, api(() => ALPHA));
    await waitFor(() => byTestId(root, 'space-owner'));

    expect(text(root, 'condition-Ready')).toBe('Ready True Converged Everything Berth keeps in the space is in place. 2 h ago');
    expect(text(root, 'condition-QuotaExceeded')).toBe('QuotaExceeded False WithinQuota Usage is within the quota. 2 h ago');
    expect(text(root, 'quota-pods')).toBe('pods 3 50');
    expect(text(root, 'quota-requests.cpu')).toBe('requests.cpu 1 4');
    expect(text(root, 'member-alice')).toBe('alice you Owner');
    expect(text(root, 'member-bob')).toBe('bob Member Remove');
  });

  it('lists the objects Berth keeps, in sync or not, each with its JSON', async () => {
    const { root } = await open(ALICE, api(() => ALPHA));
    await waitFor(() => byTestId(root, 'object-ResourceQuota-berth-quota'));

    expect(text(root, 'object-ResourceQuota-berth-quota')).toBe('ResourceQuota berth-quota v1 Yes');
    expect(byTestId(root, 'object-ResourceQuota-berth-quota').dataset.inSync).toBe('true');
    expect(byTestId(root, 'object-ResourceQuota-berth-quota-in-sync').className).toContain('badge-ok');
    expect(text(root, 'object-RoleBinding-berth-members-in-sync')).toBe('No');
    expect(byTestId(root, 'object-RoleBinding-berth-members').dataset.inSync).toBe('false');
    expect(text(root, 'object-NetworkPolicy-berth-isolate')).toBe(
      'NetworkPolicy berth-isolate networking.k8s.io/v1 No · missing',
    );
    expect(text(root, 'space-objects-summary')).toBe('2 of 3 not in sync');

    // The JSON is shown on demand, and hidden again.
    expect(queryTestId(root, 'object-ResourceQuota-berth-quota-json')).toBeNull();
    await click(byTestId(root, 'object-ResourceQuota-berth-quota-expand'));
    const shown = byTestId(root, 'object-ResourceQuota-berth-quota-json');
    expect(JSON.parse(shown.textContent ?? '')).toEqual(OBJECTS[0]?.object);
    expect(shown.textContent).toContain('\n  "metadata": {');
    await click(byTestId(root, 'object-ResourceQuota-berth-quota-expand'));
    expect(queryTestId(root, 'object-ResourceQuota-berth-quota-json')).toBeNull();

    await click(byTestId(root, 'object-NetworkPolicy-berth-isolate-expand'));
    expect(text(root, 'object-NetworkPolicy-berth-isolate-json')).toBe('The cluster does not hold this object (yet).');
  });

  it('Sleep posts to /sleep with the CSRF token and shows the answer', async () => {
    await signIn(ALICE);
    let current = ALPHA;
    const { calls, root } = await open(
      ALICE,
      api(
        () => current,
        (call) => {
          if (call.method === 'POST' && call.url === '/api/v1/spaces/alpha/sleep') {
            current = asleep(ALPHA);
            return json(200, current);
          }
          return apiError(404, 'not_found', 'x');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'space-sleep')));
    await waitFor(() => expect(text(root, 'space-notice')).toBe('“alpha” is going to sleep.'));
    expect(changes(calls)).toEqual(['POST /api/v1/spaces/alpha/sleep']);
    expect(calls.find((c) => c.method === 'POST')?.headers['x-csrf-token']).toBe('csrf-123');
    expect(text(root, 'space-phase')).toBe('Sleeping');
    expect(queryTestId(root, 'space-wake')).not.toBeNull();
    // ...and reads the space again.
    await waitFor(() => expect(requests(calls).slice(-READS.length)).toEqual(READS));
  });

  it('Wake posts to /wake; a refusal shows the daemon’s message', async () => {
    let wakeAnswer = apiError(403, 'forbidden', 'you are not a member of alpha');
    const { calls, root } = await open(
      ALICE,
      api(
        () => asleep(ALPHA),
        (call) => (call.url === '/api/v1/spaces/alpha/wake' ? wakeAnswer : apiError(404, 'not_found', 'x')),
      ),
    );
    await click(await waitFor(() => byTestId(root, 'space-wake')));
    await waitFor(() => expect(text(root, 'space-error')).toBe('Waking “alpha” failed: You are not a member of alpha'));

    wakeAnswer = json(200, { ...ALPHA, status: { ...ALPHA.status, phase: 'Waking' } });
    await click(byTestId(root, 'space-wake'));
    await waitFor(() => expect(text(root, 'space-notice')).toBe('“alpha” is waking up.'));
    expect(queryTestId(root, 'space-error')).toBeNull();
    expect(changes(calls)).toEqual(['POST /api/v1/spaces/alpha/wake', 'POST /api/v1/spaces/alpha/wake']);
  });

  it('deletes only once the name is typed, then says when the space is gone', async () => {
    let deleted = false;
    const { calls, root } = await open(
      ALICE,
      api(
        () => (deleted ? apiError(404, 'not_found', 'space alpha not found') : ALPHA),
        (call) => {
          if (call.method === 'DELETE' && call.url === '/api/v1/spaces/alpha') {
            deleted = true;
            return json(202, { ...ALPHA, status: { ...ALPHA.status, phase: 'Terminating' } });
          }
          return apiError(404, 'not_found', 'x');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'space-delete')));
    const confirm = byTestId(root, 'space-delete-confirm') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    await typeInto(byTestId(root, 'space-delete-name'), 'ALPHA');
    expect(confirm.disabled).toBe(true);
    await pressEnter(byTestId(root, 'space-delete-form'));
    await flush();
    expect(changes(calls)).toEqual([]);

    await typeInto(byTestId(root, 'space-delete-name'), 'alpha');
    await click(confirm);
    await waitFor(() =>
      expect(text(root, 'space-gone')).toBe('“alpha” is deleted: its namespace and everything in it are gone. Back to the spaces'),
    );
    expect(changes(calls)).toEqual(['DELETE /api/v1/spaces/alpha']);
    expect(byTestId(root, 'space-gone').querySelector('a')?.getAttribute('href')).toBe('/spaces');
  });

  it('shows a space being deleted as Terminating, with no more actions', async () => {
    const { root } = await open(ALICE, api(() => ({ ...ALPHA, status: { ...ALPHA.status, phase: 'Terminating' } })));
    await waitFor(() => expect(text(root, 'space-phase')).toBe('Terminating'));
    expect(byTestId(root, 'space-phase').className).toContain('badge-warn');
    expect((byTestId(root, 'space-sleep') as HTMLButtonElement).disabled).toBe(true);
    expect((byTestId(root, 'space-delete') as HTMLButtonElement).disabled).toBe(true);
    expect(text(root, 'space-deleted-at')).toBe('Being deleted now');
    expect(queryTestId(root, 'space-share-form')).toBeNull();
  });

  it('says so when there is no such space', async () => {
    const { calls, root } = await open(ALICE, api(() => apiError(404, 'not_found', 'space alpha not found')));
    await waitFor(() => expect(text(root, 'space-gone')).toBe('Space alpha not found Back to the spaces'));
    expect(byTestId(root, 'space-gone').className).toContain('banner-error');
    expect(queryTestId(root, 'space-owner')).toBeNull();
    // Asked once: a space that is gone is not asked about again.
    expect(requests(calls)).toEqual(READS);
  });

  it('shows why the objects could not be read, and the space all the same', async () => {
    const { root } = await open(ALICE, (call) =>
      call.url === '/api/v1/spaces/alpha'
        ? json(200, ALPHA)
        : apiError(503, 'unavailable', 'the cluster is not answering'),
    );
    await waitFor(() => byTestId(root, 'space-objects-error'));
    expect(text(root, 'space-objects-error')).toContain(
      'GET /api/v1/spaces/alpha/objects: the cluster is not answering (unavailable, HTTP 503',
    );
    expect(text(root, 'space-owner')).toBe('alice you');
  });

  it('reads the space again every few seconds, so the phase moves on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let phase = 'Waking';
    const { calls, root } = await open(ALICE, api(() => ({ ...ALPHA, status: { ...ALPHA.status, phase } })));
    await waitFor(() => expect(text(root, 'space-phase')).toBe('Waking'));
    phase = 'Active';
    await advance(SPACES_POLL_MS);
    await waitFor(() => expect(text(root, 'space-phase')).toBe('Active'));
    expect(calls.filter((c) => c.url === '/api/v1/spaces/alpha')).toHaveLength(2);
  });
});

describe('Space members', () => {
  it('the owner shares the space by user name or email', async () => {
    const dana = { user_id: 'u-4', username: 'dana', role: 'member' };
    let current = ALPHA;
    const { calls, root } = await open(
      ALICE,
      api(
        () => current,
        (call) => {
          if (call.method === 'POST' && call.url === '/api/v1/spaces/alpha/members') {
            current = { ...ALPHA, members: [...ALPHA.members, dana] };
            return json(200, current);
          }
          return apiError(404, 'not_found', 'x');
        },
      ),
    );
    await typeInto(await waitFor(() => byTestId(root, 'space-share-user')), ' dana@example.com ');
    await click(byTestId(root, 'space-share-submit'));

    await waitFor(() => byTestId(root, 'member-dana'));
    const post = calls.find((c) => c.method === 'POST');
    expect(post?.url).toBe('/api/v1/spaces/alpha/members');
    expect(post?.body).toEqual({ user: 'dana@example.com' });
    expect(text(root, 'space-notice')).toBe('Shared “alpha” with dana@example.com.');
    expect((byTestId(root, 'space-share-user') as HTMLInputElement).value).toBe('');
  });

  it('shows why sharing was refused, and keeps what was typed', async () => {
    const { root } = await open(
      ALICE,
      api(
        () => ALPHA,
        () => apiError(422, 'invalid', 'user: there is no user "zed"'),
      ),
    );
    await typeInto(await waitFor(() => byTestId(root, 'space-share-user')), 'zed');
    await click(byTestId(root, 'space-share-submit'));
    await waitFor(() => expect(text(root, 'space-error')).toBe('Sharing with zed failed: User: there is no user "zed"'));
    expect((byTestId(root, 'space-share-user') as HTMLInputElement).value).toBe('zed');
  });

  it('asks for a user before sharing', async () => {
    const { calls, root } = await open(ALICE, api(() => ALPHA));
    await click(await waitFor(() => byTestId(root, 'space-share-submit')));
    expect(text(root, 'space-share-error')).toBe('Enter a user name or an email address.');
    expect(changes(calls)).toEqual([]);
  });

  it('the owner removes a member after confirming, by user id', async () => {
    let current = ALPHA;
    const { calls, root } = await open(
      ALICE,
      api(
        () => current,
        (call) => {
          if (call.method === 'DELETE' && call.url === '/api/v1/spaces/alpha/members/u-2') {
            current = { ...ALPHA, members: [ALPHA.owner] };
            return json(200, current);
          }
          return apiError(404, 'not_found', 'x');
        },
      ),
    );
    await waitFor(() => byTestId(root, 'member-bob'));
    // Nobody removes the owner.
    expect(queryTestId(root, 'member-remove-alice')).toBeNull();
    expect(text(root, 'member-remove-bob')).toBe('Remove');

    await click(byTestId(root, 'member-remove-bob'));
    expect(changes(calls)).toEqual([]);
    await click(byTestId(root, 'member-remove-confirm-bob'));
    await waitFor(() => expect(queryTestId(root, 'member-bob')).toBeNull());
    expect(changes(calls)).toEqual(['DELETE /api/v1/spaces/alpha/members/u-2']);
    expect(text(root, 'space-notice')).toBe('bob is no longer a member.');
  });

  it('a member may only leave: no sharing, no removing others, no deleting', async () => {
    const asBob = { ...ALPHA, your_role: 'member' };
    const { calls, root } = await open(
      BOB,
      api(
        () => asBob,
        (call) =>
          call.method === 'DELETE' && call.url === '/api/v1/spaces/alpha/members/u-2'
            ? json(200, { ...asBob, members: [ALPHA.owner], your_role: null })
            : apiError(404, 'not_found', 'x'),
      ),
    );
    await waitFor(() => byTestId(root, 'member-bob'));
    expect(queryTestId(root, 'member-remove-alice')).toBeNull();
    expect(queryTestId(root, 'space-share-form')).toBeNull();
    expect(queryTestId(root, 'space-delete')).toBeNull();
    expect(queryTestId(root, 'space-sleep')).not.toBeNull();
    expect(text(root, 'member-remove-bob')).toBe('Leave');

    await click(byTestId(root, 'member-remove-bob'));
    await click(byTestId(root, 'member-remove-confirm-bob'));
    // Once out, the space is no longer bob's to see: back to the list.
    await waitFor(() => expect(window.location.pathname).toBe('/spaces'));
    expect(changes(calls)).toEqual(['DELETE /api/v1/spaces/alpha/members/u-2']);
  });

  it('an admin who is not a member may share, remove and delete', async () => {
    const seenByAdmin = { ...ALPHA, your_role: null };
    const { root } = await open(ROOT, api(() => seenByAdmin));
    await waitFor(() => byTestId(root, 'member-bob'));
    expect(text(root, 'space-your-role')).toBe('Not a member (you see it as an admin)');
    expect(text(root, 'space-kube')).toBe('Its owner and members reach it with kubectl; admins do not.');
    expect(text(root, 'space-owner')).toBe('alice');
    expect(queryTestId(root, 'space-share-form')).not.toBeNull();
    expect(queryTestId(root, 'space-delete')).not.toBeNull();
    expect(text(root, 'member-remove-bob')).toBe('Remove');
    expect(queryTestId(root, 'member-remove-alice')).toBeNull();
  });
});

// ---------------------------------------------------------------------------
// Dev mode

/** alice's target `api`: deployment/api, the agent in the dev container, both sides connected, two folders on its volume. */
const API_DEV = devView({ volumes: ['/root/.cache', '/app/node_modules'] });
/** bob's target `worker`: the agent in berthd, only his CLI there yet, the container's own image, no command. */
const WORKER_DEV = devView({
  target: 'worker',
  workload: 'deployment/worker',
  mode: 'local',
  session: sessionView({
    id: 's-b2',
    owner: 'bob',
    owner_id: 'u-2',
    state: 'waiting',
    client_connected: true,
    agent_connected: false,
    streams: 0,
  }),
  started_by: 'bob',
  started_at: fromNow(-3 * 3_600_000),
  image: null,
  command: [],
  local_root: '/var/lib/berth/dev/alpha/worker',
});

const WORKLOADS: WorkloadView[] = [
  workloadView({
    dev_target: 'api',
    containers: [
      containerView({ ports: [8080, 9229], workdir: '/app' }),
      containerView({ name: 'envoy', image: 'envoyproxy/envoy:v1.31', ports: [] }),
    ],
  }),
  workloadView({
    workload: 'deployment/worker',
    containers: [containerView({ name: 'worker', image: 'registry.example.com/worker:2.0', ports: [] })],
    dev_target: 'worker',
  }),
  workloadView({
    workload: 'statefulset/db',
    containers: [containerView({ name: 'postgres', image: 'postgres:16', ports: [5432] })],
  }),
];

const DEV_API: DevApi = { devs: () => [API_DEV, WORKER_DEV], workloads: () => WORKLOADS };

/** Opens the step for `target` and types `typed` in it. */
async function startStop(root: HTMLElement, target: string, typed: string): Promise<HTMLButtonElement> {
  await click(await waitFor(() => byTestId(root, `dev-stop-${target}`)));
  await typeInto(byTestId(root, `dev-stop-name-${target}`), typed);
  return byTestId(root, `dev-stop-confirm-${target}`) as HTMLButtonElement;
}

describe('Space dev mode', () => {
  it('lists the targets in dev mode from GET /dev: mode, session, who, since, image and command', async () => {
    const { calls, root } = await open(ALICE, api(() => ALPHA, undefined, DEV_API));
    await waitFor(() => byTestId(root, 'dev-api'));

    expect(requests(calls)).toEqual(READS);
    expect(text(root, 'space-dev-count')).toBe('2 targets');
    expect(text(root, 'dev-api')).toBe(
      'api deployment/api agent in the dev container volume: /root/.cache, /app/node_modules Connected s-a1 CLI and agent alice you 20 min ago node:22 npm run dev Take out of dev mode',
    );
    expect(byTestId(root, 'dev-volumes-api').title).toBe("Kept on the target's volume: they outlive the pod and berth down");
    expect(queryTestId(root, 'dev-volumes-worker')).toBeNull();
    expect(byTestId(root, 'dev-api').dataset.mode).toBe('cluster');
    expect(byTestId(root, 'dev-state-api').className).toContain('badge-ok');
    expect(byTestId(root, 'dev-sides-api').dataset).toMatchObject({ client: 'true', agent: 'true' });
    expect(byTestId(root, 'dev-since-api').title).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);

    expect(text(root, 'dev-worker')).toBe(
      'worker deployment/worker agent in berthd /var/lib/berth/dev/alpha/worker Waiting s-b2 CLI only bob 3 h ago the container’s own none Take out of dev mode',
    );
    expect(byTestId(root, 'dev-worker').dataset.mode).toBe('local');
    expect(byTestId(root, 'dev-state-worker').className).toContain('badge-warn');
    expect(byTestId(root, 'dev-sides-worker').dataset).toMatchObject({ client: 'true', agent: 'false' });
    expect(byTestId(root, 'dev-sides-worker').title).toBe('CLI connected, agent not connected');
    expect(queryTestId(root, 'space-dev-empty')).toBeNull();
    expect(queryTestId(root, 'space-dev-error')).toBeNull();
  });

  it('lists the workloads with their containers, those in dev mode marked with their target', async () => {
    const { root } = await open(ALICE, api(() => ALPHA, undefined, DEV_API));
    await waitFor(() => byTestId(root, 'workload-deployment/api'));

    expect(text(root, 'space-workloads-summary')).toBe('3 · 2 in dev mode');
    expect(text(root, 'workload-deployment/api')).toBe(
      'deployment/api api registry.example.com/api:1.4 · ports 8080, 9229 envoy envoyproxy/envoy:v1.31 For api',
    );
    expect(text(root, 'workload-deployment/api-container-envoy')).toBe('envoy envoyproxy/envoy:v1.31');
    expect(byTestId(root, 'workload-deployment/api').dataset.devTarget).toBe('api');
    expect(text(root, 'workload-deployment/worker-dev')).toBe('For worker');
    expect(text(root, 'workload-statefulset/db')).toBe('statefulset/db postgres postgres:16 · ports 5432 —');
    expect(byTestId(root, 'workload-statefulset/db').dataset.devTarget).toBe('');
  });

  it('lists the endpoints with their access level and address', async () => {
    const endpoints: EndpointView[] = [
      {
        space: 'alpha',
        service: 'web',
        port: 8080,
        access: 'private',
        url: 'https://web-alpha.apps.example.com',
        set_by: 'alice',
        updated_at: '2026-12-08T10:00:00Z',
      },
      {
        space: 'alpha',
        service: 'docs',
        port: null,
        access: 'public',
        url: 'https://docs-alpha.apps.example.com',
        set_by: 'alice',
        updated_at: '2026-12-08T10:00:00Z',
      },
    ];
    const { root } = await open(ALICE, api(() => ALPHA, undefined, { endpoints: () => endpoints }));
    await waitFor(() => byTestId(root, 'endpoint-web'));

    expect(text(root, 'space-endpoints-count')).toBe('2 endpoints');
    expect(text(root, 'endpoint-web')).toBe('web 8080 private https://web-alpha.apps.example.com · set by alice');
    expect(byTestId(root, 'endpoint-web-access').title).toBe("The space's members");
    expect(byTestId(root, 'endpoint-docs-url').getAttribute('href')).toBe('https://docs-alpha.apps.example.com');
    expect(text(root, 'endpoint-docs')).toContain('first public');
  });

  it('says how to start when nothing is in dev mode and there are no workloads', async () => {
    const { root } = await open(ALICE, api(() => ALPHA));
    await waitFor(() => byTestId(root, 'space-dev-empty'));
    expect(byTestId(root, 'space-dev-empty').textContent).toBe(
      'No workload is in dev mode. Run berth up in a project with a berth.yaml.',
    );
    expect([...byTestId(root, 'space-dev-empty').querySelectorAll('code')].map((c) => c.textContent)).toEqual([
      'berth up',
      'berth.yaml',
    ]);
    expect(queryTestId(root, 'space-dev-count')).toBeNull();
    expect(text(root, 'space-workloads-empty')).toBe('No Deployment or StatefulSet in this space yet.');
  });

  it('takes a target out of dev mode only once its name is typed: DELETE /dev/{target}, then reads again', async () => {
    await signIn(ALICE);
    let devs = [API_DEV, WORKER_DEV];
    let workloads = WORKLOADS;
    const ended: DevView = {
      ...API_DEV,
      session: { ...API_DEV.session, state: 'ended', client_connected: false, agent_connected: false, ended_reason: 'dev mode ended' },
    };
    const { calls, root } = await open(
      ALICE,
      api(
        () => ALPHA,
        (call) => {
          if (call.method === 'DELETE' && call.url === '/api/v1/spaces/alpha/dev/api') {
            devs = [WORKER_DEV];
            workloads = WORKLOADS.map((w) => (w.dev_target === 'api' ? { ...w, dev_target: null } : w));
            return json(200, ended);
          }
          return apiError(404, 'not_found', 'x');
        },
        { devs: () => devs, workloads: () => workloads },
      ),
    );

    // Another target's name does not do, nor pressing Enter.
    const confirm = await startStop(root, 'api', 'worker');
    expect((byTestId(root, 'dev-stop-api') as HTMLButtonElement).disabled).toBe(true);
    expect(text(root, 'dev-stop-form-api')).toContain(
      'Taking api out of dev mode restores deployment/api to its own spec and ends its session',
    );
    expect(text(root, 'dev-stop-form-api')).toContain('Type api to confirm.');
    expect(confirm.disabled).toBe(true);
    await pressEnter(byTestId(root, 'dev-stop-form-api'));
    await flush();
    expect(changes(calls)).toEqual([]);
    // Only api's step is open.
    expect(queryTestId(root, 'dev-stop-form-worker')).toBeNull();

    await typeInto(byTestId(root, 'dev-stop-name-api'), ' api ');
    expect(confirm.disabled).toBe(false);
    const before = calls.length;
    await click(confirm);

    await waitFor(() =>
      expect(text(root, 'space-notice')).toBe(
        '“api” is out of dev mode: deployment/api is back to its own spec, and session s-a1 ended.',
      ),
    );
    const del = calls.find((c) => c.method === 'DELETE');
    expect(changes(calls)).toEqual(['DELETE /api/v1/spaces/alpha/dev/api']);
    expect(del?.headers['x-csrf-token']).toBe('csrf-123');
    expect(del?.body).toBeUndefined();
    expect(queryTestId(root, 'dev-api')).toBeNull();
    expect(queryTestId(root, 'dev-stop-form-api')).toBeNull();
    expect(queryTestId(root, 'dev-worker')).not.toBeNull();
    expect(text(root, 'space-dev-count')).toBe('1 target');
    expect(byTestId(root, 'workload-deployment/api').dataset.devTarget).toBe('');
    expect(text(root, 'workload-deployment/api-dev')).toBe('—');
    expect(queryTestId(root, 'space-error')).toBeNull();
    // ...and reads the page again.
    await waitFor(() => expect(requests(calls.slice(before))).toEqual(['DELETE /api/v1/spaces/alpha/dev/api', ...READS]));
    expect(queryTestId(root, 'dev-api')).toBeNull();
  });

  it('Cancel closes the step without asking the daemon', async () => {
    const { calls, root } = await open(ALICE, api(() => ALPHA, undefined, DEV_API));
    await startStop(root, 'worker', 'worker');
    await click(byTestId(root, 'dev-stop-cancel-worker'));
    expect(queryTestId(root, 'dev-stop-form-worker')).toBeNull();
    expect((byTestId(root, 'dev-stop-worker') as HTMLButtonElement).disabled).toBe(false);
    await flush();
    expect(changes(calls)).toEqual([]);
  });

  it('shows a refusal as the page shows other errors, keeps the target and lets one try again', async () => {
    let answer = apiError(403, 'forbidden', 'you may not use the space alpha');
    const { calls, root } = await open(
      BOB,
      api(
        () => ({ ...ALPHA, your_role: 'member' }),
        (call) =>
          call.method === 'DELETE' && call.url === '/api/v1/spaces/alpha/dev/api' ? answer : apiError(404, 'not_found', 'x'),
        DEV_API,
      ),
    );
    const confirm = await startStop(root, 'api', 'api');
    await click(confirm);

    await waitFor(() =>
      expect(text(root, 'space-error')).toBe('Taking “api” out of dev mode failed: You may not use the space alpha'),
    );
    expect(byTestId(root, 'space-error').className).toContain('banner-error');
    expect(queryTestId(root, 'space-notice')).toBeNull();
    expect(queryTestId(root, 'dev-api')).not.toBeNull();
    // The step stays open, ready for another go.
    expect(confirm.disabled).toBe(false);
    expect(text(root, 'dev-stop-confirm-api')).toBe('Take out of dev mode');

    // A failure of the daemon itself says what failed in full.
    answer = apiError(500, 'internal', 'cannot restore the workload: the cluster is not answering');
    await click(confirm);
    await waitFor(() =>
      expect(text(root, 'space-error')).toContain(
        'Taking “api” out of dev mode failed: The Berth API returned an error for DELETE /api/v1/spaces/alpha/dev/api: cannot restore the workload: the cluster is not answering (internal, HTTP 500',
      ),
    );
    expect(changes(calls)).toEqual(['DELETE /api/v1/spaces/alpha/dev/api', 'DELETE /api/v1/spaces/alpha/dev/api']);
    expect(queryTestId(root, 'dev-api')).not.toBeNull();
  });

  it('shows the button to every reader (the daemon decides), and “you” on their own target', async () => {
    const { root } = await open(BOB, api(() => ({ ...ALPHA, your_role: 'member' }), undefined, DEV_API));
    await waitFor(() => byTestId(root, 'dev-api'));
    expect(text(root, 'dev-started-by-api')).toBe('alice');
    expect(text(root, 'dev-started-by-worker')).toBe('bob you');
    expect((byTestId(root, 'dev-stop-api') as HTMLButtonElement).disabled).toBe(false);
    expect((byTestId(root, 'dev-stop-worker') as HTMLButtonElement).disabled).toBe(false);
  });

  it('takes no target out of dev mode in a space being deleted', async () => {
    const { root } = await open(
      ALICE,
      api(() => ({ ...ALPHA, status: { ...ALPHA.status, phase: 'Terminating' } }), undefined, DEV_API),
    );
    await waitFor(() => byTestId(root, 'dev-api'));
    expect((byTestId(root, 'dev-stop-api') as HTMLButtonElement).disabled).toBe(true);
    expect(byTestId(root, 'dev-stop-api').title).toBe('The space is being deleted');
  });

  it('shows why dev mode or the workloads could not be read, and the rest of the page all the same', async () => {
    const { root } = await open(
      ALICE,
      api(() => ALPHA, undefined, {
        devs: () => apiError(503, 'unavailable', 'the relay is not answering'),
        workloads: () => apiError(502, 'bad_gateway', 'cannot list workloads: connection refused'),
      }),
    );
    await waitFor(() => byTestId(root, 'space-dev-error'));
    expect(text(root, 'space-dev-error')).toContain(
      'GET /api/v1/spaces/alpha/dev: the relay is not answering (unavailable, HTTP 503',
    );
    await waitFor(() => byTestId(root, 'space-workloads-error'));
    expect(text(root, 'space-workloads-error')).toContain(
      'GET /api/v1/spaces/alpha/workloads: cannot list workloads: connection refused (bad_gateway, HTTP 502',
    );
    expect(text(root, 'space-dev')).toContain('Dev mode unknown.');
    expect(text(root, 'space-workloads')).toContain('Workloads unknown.');
    expect(queryTestId(root, 'space-dev-empty')).toBeNull();
    // Not the page's own error: the space is there.
    expect(queryTestId(root, 'error')).toBeNull();
    expect(text(root, 'space-owner')).toBe('alice you');
    expect(text(root, 'object-ResourceQuota-berth-quota')).toBe('ResourceQuota berth-quota v1 Yes');
  });

  it('reads dev mode and the workloads again every few seconds, so targets and sessions move on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let devs: DevView[] | Response = apiError(503, 'unavailable', 'the relay is not answering');
    let workloads: WorkloadView[] = [workloadView()];
    const { calls, root } = await open(
      ALICE,
      api(() => ALPHA, undefined, { devs: () => devs, workloads: () => workloads }),
    );
    await waitFor(() => byTestId(root, 'space-dev-error'));
    expect(text(root, 'workload-deployment/api-dev')).toBe('—');

    // berth up: the target appears, its agent not there yet.
    const waiting = { ...API_DEV.session, state: 'waiting', agent_connected: false };
    devs = [{ ...API_DEV, session: waiting }];
    workloads = [workloadView({ dev_target: 'api' })];
    await advance(SPACES_POLL_MS);
    await waitFor(() => expect(text(root, 'dev-state-api')).toBe('Waiting'));
    expect(queryTestId(root, 'space-dev-error')).toBeNull();
    expect(text(root, 'dev-sides-api')).toBe('CLI only');
    expect(text(root, 'workload-deployment/api-dev')).toBe('For api');

    // The agent connects.
    devs = [API_DEV];
    await advance(SPACES_POLL_MS);
    await waitFor(() => expect(text(root, 'dev-state-api')).toBe('Connected'));
    expect(text(root, 'dev-sides-api')).toBe('CLI and agent');
    expect(calls.filter((c) => c.url === '/api/v1/spaces/alpha/dev')).toHaveLength(3);
    expect(calls.filter((c) => c.url === '/api/v1/spaces/alpha/workloads')).toHaveLength(3);
  });
});
