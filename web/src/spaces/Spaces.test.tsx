// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createElement } from 'react';
import type { SpaceView, Whoami } from '../api';
import { SPACES_POLL_MS } from './model';
import { Spaces } from './Spaces';
import {
  ALICE,
  BOB,
  ROOT,
  advance,
  apiError,
  asleep,
  byTestId,
  click,
  closePage,
  flush,
  halfAwake,
  json,
  noRoute,
  openPage,
  pressEnter,
  queryTestId,
  requests,
  signIn,
  spaceView,
  text,
  typeInto,
  waitFor,
  type Handler,
} from '../testing';

const ALPHA = spaceView();
/** bob's space, shared with alice: alice is a member there. */
const BETA = asleep(
  spaceView({
    name: 'beta',
    owner: { user_id: 'u-2', username: 'bob', role: 'owner' },
    members: [
      { user_id: 'u-2', username: 'bob', role: 'owner' },
      { user_id: 'u-1', username: 'alice', role: 'member' },
      { user_id: 'u-3', username: 'carol', role: 'member' },
    ],
    persistent: true,
    labels: {},
    status: {
      ...spaceView().status,
      quota: { profile: 'small', hard: { pods: '10' }, used: { pods: '0' } },
    },
    your_role: 'member',
  }),
);

const open = (me: Whoami, handler: Handler) => openPage(createElement(Spaces, { me }), handler);

/** Answers the list with `list()` (read at call time) and everything else with `other`. */
function api(list: () => SpaceView[], other: Handler = noRoute): Handler {
  return (call) => (call.method === 'GET' && call.url === '/api/v1/spaces' ? json(200, list()) : other(call));
}

afterEach(closePage);

describe('Spaces list', () => {
  it('shows a row per space from GET /api/v1/spaces', async () => {
    const { calls, root } = await open(ALICE, api(() => [ALPHA, BETA]));
    await waitFor(() => byTestId(root, 'space-row-alpha'));

    expect(requests(calls)[0]).toBe('GET /api/v1/spaces');
    expect(byTestId(root, 'space-link-alpha').getAttribute('href')).toBe('/spaces/alpha');
    expect(text(root, 'space-phase-alpha')).toBe('Active');
    expect(byTestId(root, 'space-phase-alpha').className).toContain('badge-ok');
    expect(text(root, 'space-owner-alpha')).toBe('alice you');
    expect(text(root, 'space-members-alpha')).toBe('2');
    expect(text(root, 'space-quota-alpha')).toBe('pods 3/50, requests.cpu 1/4');
    expect(text(root, 'space-wakefulness-alpha')).toBe('Awake dev session of alice since 10:02');
    expect(text(root, 'space-sleeps-at-alpha')).toBe('in 2 h');

    expect(byTestId(root, 'space-row-beta').dataset.phase).toBe('Sleeping');
    expect(text(root, 'space-phase-beta')).toBe('Sleeping');
    expect(text(root, 'space-owner-beta')).toBe('bob');
    expect(text(root, 'space-members-beta')).toBe('3');
    expect(text(root, 'space-quota-beta')).toBe('pods 0/10');
    expect(text(root, 'space-wakefulness-beta')).toBe('Asleep put to sleep by bob at 10:40');
    expect(text(root, 'space-sleeps-at-beta')).toBe('Asleep now');
    expect(text(root, 'spaces-count')).toBe('2 spaces');
  });

  it('shows a space woken but not wholly back as waking, with how far it got', async () => {
    const { root } = await open(ALICE, api(() => [halfAwake(ALPHA)]));
    await waitFor(() => byTestId(root, 'space-row-alpha'));
    expect(text(root, 'space-phase-alpha')).toBe('Waking');
    expect(text(root, 'space-wakefulness-alpha')).toBe(
      'Waking woken by admin at 10:05 waking: 1 of 2 workloads restored, CronJobs pending',
    );
    expect(byTestId(root, 'space-wakefulness-alpha').querySelector('.status')?.className).toContain('status-warn');
    expect(byTestId(root, 'space-wakefulness-progress-alpha').title).toContain('listing CronJobs failed');
  });

  it('offers Sleep on an awake space and Wake on a sleeping one', async () => {
    const { root } = await open(ALICE, api(() => [ALPHA, BETA]));
    await waitFor(() => byTestId(root, 'space-row-alpha'));
    expect(queryTestId(root, 'space-sleep-alpha')).not.toBeNull();
    expect(queryTestId(root, 'space-wake-alpha')).toBeNull();
    expect(queryTestId(root, 'space-wake-beta')).not.toBeNull();
    expect(queryTestId(root, 'space-sleep-beta')).toBeNull();
  });

  it('offers Delete to the owner and to admins only', async () => {
    const asMember = await open(ALICE, api(() => [ALPHA, BETA]));
    await waitFor(() => byTestId(asMember.root, 'space-row-beta'));
    expect(queryTestId(asMember.root, 'space-delete-alpha')).not.toBeNull();
    expect(queryTestId(asMember.root, 'space-delete-beta')).toBeNull();

    const admin = [ALPHA, BETA].map((s) => ({ ...s, your_role: null }));
    const asAdmin = await open(ROOT, api(() => admin));
    await waitFor(() => byTestId(asAdmin.root, 'space-row-beta'));
    expect(queryTestId(asAdmin.root, 'space-delete-alpha')).not.toBeNull();
    expect(queryTestId(asAdmin.root, 'space-delete-beta')).not.toBeNull();
    expect(text(asAdmin.root, 'space-owner-alpha')).toBe('alice');
  });

  it('Sleep posts to /sleep with the CSRF token, shows the answer and reads the list again', async () => {
    // Signed in as the console is: the CSRF token comes with whoami.
    await signIn(ALICE);
    let list = [ALPHA, BETA];
    const { calls, root } = await open(
      ALICE,
      api(
        () => list,
        (call) => {
          if (call.method === 'POST' && call.url === '/api/v1/spaces/alpha/sleep') {
            list = [asleep(ALPHA), BETA];
            return json(200, asleep(ALPHA));
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await waitFor(() => byTestId(root, 'space-sleep-alpha'));
    const before = calls.length;

    await click(byTestId(root, 'space-sleep-alpha'));
    await waitFor(() => expect(text(root, 'spaces-notice')).toBe('“alpha” is going to sleep.'));

    const sleep = calls.find((c) => c.url === '/api/v1/spaces/alpha/sleep');
    expect(sleep?.method).toBe('POST');
    expect(sleep?.headers['x-csrf-token']).toBe('csrf-123');
    expect(text(root, 'space-phase-alpha')).toBe('Sleeping');
    expect(queryTestId(root, 'space-wake-alpha')).not.toBeNull();
    await waitFor(() => expect(requests(calls.slice(before))).toEqual(['POST /api/v1/spaces/alpha/sleep', 'GET /api/v1/spaces']));
  });

  it('Wake posts to /wake', async () => {
    const { calls, root } = await open(
      ALICE,
      api(
        () => [ALPHA, BETA],
        (call) => (call.url === '/api/v1/spaces/beta/wake' ? json(200, { ...BETA, status: { ...BETA.status, phase: 'Waking' } }) : apiError(404, 'not_found', 'x')),
      ),
    );
    await click(await waitFor(() => byTestId(root, 'space-wake-beta')));
    await waitFor(() => expect(text(root, 'spaces-notice')).toBe('“beta” is waking up.'));
    expect(requests(calls)).toContain('POST /api/v1/spaces/beta/wake');
  });

  it('shows the daemon’s message when an action is refused', async () => {
    const { root } = await open(
      ALICE,
      api(
        () => [ALPHA],
        () => apiError(409, 'conflict', 'the space is being deleted'),
      ),
    );
    await click(await waitFor(() => byTestId(root, 'space-sleep-alpha')));
    await waitFor(() =>
      expect(text(root, 'spaces-error')).toBe('Putting to sleep “alpha” failed: The space is being deleted'),
    );
    expect(queryTestId(root, 'spaces-notice')).toBeNull();
  });

  it('deletes only once the space’s name is typed', async () => {
    let list = [ALPHA, BETA];
    const terminating = { ...ALPHA, status: { ...ALPHA.status, phase: 'Terminating' } };
    const { calls, root } = await open(
      ALICE,
      api(
        () => list,
        (call) => {
          if (call.method === 'DELETE' && call.url === '/api/v1/spaces/alpha') {
            list = [terminating, BETA];
            return json(202, terminating);
          }
          return apiError(404, 'not_found', 'x');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'space-delete-alpha')));

    const confirm = byTestId(root, 'space-delete-confirm-alpha') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    await typeInto(byTestId(root, 'space-delete-name-alpha'), 'alph');
    expect(confirm.disabled).toBe(true);
    // Enter with the wrong name sends nothing either.
    await pressEnter(byTestId(root, 'space-delete-form-alpha'));
    await flush();
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);

    await typeInto(byTestId(root, 'space-delete-name-alpha'), 'alpha');
    expect(confirm.disabled).toBe(false);
    await click(confirm);

    await waitFor(() => expect(text(root, 'space-phase-alpha')).toBe('Terminating'));
    expect(requests(calls).filter((r) => r.startsWith('DELETE'))).toEqual(['DELETE /api/v1/spaces/alpha']);
    expect(text(root, 'spaces-notice')).toContain('“alpha” is being deleted');
    expect(queryTestId(root, 'space-delete-form-alpha')).toBeNull();
    // A space being deleted takes no more actions.
    expect((byTestId(root, 'space-sleep-alpha') as HTMLButtonElement).disabled).toBe(true);
    expect((byTestId(root, 'space-delete-alpha') as HTMLButtonElement).disabled).toBe(true);
  });

  it('Cancel closes the delete step without sending anything', async () => {
    const { calls, root } = await open(ALICE, api(() => [ALPHA]));
    await click(await waitFor(() => byTestId(root, 'space-delete-alpha')));
    await click(byTestId(root, 'space-delete-cancel-alpha'));
    expect(queryTestId(root, 'space-delete-form-alpha')).toBeNull();
    expect(calls.every((c) => c.method === 'GET')).toBe(true);
  });

  it('reads the list again every few seconds, so phases move on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let phase = 'Pending';
    const { calls, root } = await open(BOB, api(() => [{ ...ALPHA, status: { ...ALPHA.status, phase } }]));
    await waitFor(() => expect(text(root, 'space-phase-alpha')).toBe('Pending'));
    expect(calls).toHaveLength(1);

    phase = 'Active';
    await advance(SPACES_POLL_MS - 100);
    expect(calls).toHaveLength(1);
    await advance(100);
    await waitFor(() => expect(text(root, 'space-phase-alpha')).toBe('Active'));
    expect(requests(calls)).toEqual(['GET /api/v1/spaces', 'GET /api/v1/spaces']);
  });

  it('shows why the list could not be read', async () => {
    const { root } = await open(ALICE, () => apiError(500, 'internal', 'the store is closed'));
    await waitFor(() =>
      expect(text(root, 'error')).toContain(
        'The Berth API returned an error for GET /api/v1/spaces: the store is closed (internal, HTTP 500, request id req-7)',
      ),
    );
    expect(root.textContent).toContain('Spaces unknown.');
  });

  it('says so when there is no space', async () => {
    const { root } = await open(ALICE, api(() => []));
    await waitFor(() => expect(text(root, 'spaces-empty')).toBe('You are not in any space yet: create one above.'));
  });
});

describe('New space form', () => {
  it('posts the name and persistence, then lists the new space', async () => {
    const gamma = spaceView({ name: 'gamma', persistent: true, members: [ALPHA.owner] });
    let list = [ALPHA];
    const { calls, root } = await open(
      ALICE,
      api(
        () => list,
        (call) => {
          if (call.method === 'POST' && call.url === '/api/v1/spaces') {
            list = [ALPHA, gamma];
            return json(201, gamma);
          }
          return apiError(404, 'not_found', 'x');
        },
      ),
    );
    await waitFor(() => byTestId(root, 'space-row-alpha'));
    await typeInto(byTestId(root, 'space-new-name'), '  gamma ');
    await click(byTestId(root, 'space-new-persistent'));
    await click(byTestId(root, 'space-new-submit'));

    await waitFor(() => byTestId(root, 'space-row-gamma'));
    const post = calls.find((c) => c.method === 'POST');
    expect(post?.url).toBe('/api/v1/spaces');
    expect(post?.body).toEqual({ name: 'gamma', persistent: true });
    expect(text(root, 'space-new-created')).toBe('Space gamma created.');
    expect((byTestId(root, 'space-new-name') as HTMLInputElement).value).toBe('');
    expect((byTestId(root, 'space-new-persistent') as HTMLInputElement).checked).toBe(false);
  });

  it.each([
    [
      422,
      'invalid',
      'name: "Gamma" must be 1 to 63 lowercase letters, digits or \'-\', starting and ending with a letter or digit (it becomes the namespace\'s name)',
      'Name: "Gamma" must be 1 to 63 lowercase letters',
    ],
    [403, 'forbidden', 'you own 3 spaces, the most allowed; delete one first', 'You own 3 spaces, the most allowed; delete one first'],
    [409, 'conflict', 'the space gamma exists', 'The space gamma exists'],
  ])('shows the daemon’s %i (%s) under the form', async (status, code, message, shown) => {
    const { root } = await open(ALICE, api(() => [ALPHA], () => apiError(status, code, message)));
    await waitFor(() => byTestId(root, 'space-row-alpha'));
    await typeInto(byTestId(root, 'space-new-name'), 'Gamma');
    await click(byTestId(root, 'space-new-submit'));
    await waitFor(() => expect(text(root, 'space-new-error')).toContain(shown));
    expect(queryTestId(root, 'space-row-gamma')).toBeNull();
    // What was typed stays, to be fixed.
    expect((byTestId(root, 'space-new-name') as HTMLInputElement).value).toBe('Gamma');
  });

  it('asks for a name before sending anything', async () => {
    const { calls, root } = await open(ALICE, api(() => [ALPHA]));
    await waitFor(() => byTestId(root, 'space-row-alpha'));
    await typeInto(byTestId(root, 'space-new-name'), '   ');
    await click(byTestId(root, 'space-new-submit'));
    expect(text(root, 'space-new-error')).toBe('Enter a name for the space.');
    expect(calls.every((c) => c.method === 'GET')).toBe(true);
  });
});
