// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createElement } from 'react';
import { fetchWhoami, setCsrfToken, type SpaceObject, type SpaceView, type Whoami } from './api';
import { Space } from './Space';
import { SPACES_POLL_MS } from './spaces';
import {
  ALICE,
  BOB,
  ROOT,
  advance,
  apiError,
  asleep,
  byTestId,
  click,
  flush,
  json,
  mount,
  pressEnter,
  queryTestId,
  requests,
  spaceView,
  stubFetch,
  text,
  typeInto,
  waitFor,
  type FetchCall,
  type Handler,
  type Mounted,
} from './testing';

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

let page: Mounted | null = null;

async function open(me: Whoami, handler: Handler, name = 'alpha'): Promise<{ calls: FetchCall[]; root: HTMLElement }> {
  const calls = stubFetch(handler);
  page = await mount(createElement(Space, { me, name }));
  return { calls, root: page.container };
}

/**
 * Answers GET of the space with `space()` and of its objects with OBJECTS
 * (both read at call time), everything else with `other`.
 */
function api(space: () => SpaceView | Response, other: Handler = () => apiError(404, 'not_found', 'no such route')): Handler {
  return (call) => {
    if (call.method === 'GET' && call.url === '/api/v1/spaces/alpha') {
      const s = space();
      return s instanceof Response ? s : json(200, s);
    }
    if (call.method === 'GET' && call.url === '/api/v1/spaces/alpha/objects') return json(200, OBJECTS);
    return other(call);
  };
}

const changes = (calls: FetchCall[]) => requests(calls).filter((r) => !r.startsWith('GET '));

beforeEach(() => {
  setCsrfToken(null);
  window.history.replaceState(null, '', '/spaces/alpha');
});

afterEach(async () => {
  await page?.unmount();
  page = null;
  vi.unstubAllGlobals();
  vi.useRealTimers();
  setCsrfToken(null);
});

describe('Space page', () => {
  it('shows the space from GET /api/v1/spaces/{name}', async () => {
    const { calls, root } = await open(ALICE, api(() => ALPHA));
    await waitFor(() => byTestId(root, 'space-owner'));

    expect(requests(calls)).toEqual(['GET /api/v1/spaces/alpha', 'GET /api/v1/spaces/alpha/objects']);
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
    stubFetch(() => json(200, ALICE));
    await fetchWhoami();
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
    await waitFor(() => expect(requests(calls).slice(-2)).toEqual(['GET /api/v1/spaces/alpha', 'GET /api/v1/spaces/alpha/objects']));
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
    expect(calls).toHaveLength(2);
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
    expect(text(root, 'space-owner')).toBe('alice');
    expect(queryTestId(root, 'space-share-form')).not.toBeNull();
    expect(queryTestId(root, 'space-delete')).not.toBeNull();
    expect(text(root, 'member-remove-bob')).toBe('Remove');
    expect(queryTestId(root, 'member-remove-alice')).toBeNull();
  });
});
