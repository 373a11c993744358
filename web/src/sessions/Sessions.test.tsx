// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createElement } from 'react';
import type { SessionView, SpaceView, Whoami } from '../api';
import { SESSIONS_POLL_MS } from './model';
import { Sessions } from './Sessions';
import {
  ALICE,
  BOB,
  ROOT,
  advance,
  apiError,
  asleep,
  byTestId,
  choose,
  click,
  closePage,
  flush,
  json,
  noRoute,
  openPage,
  queryTestId,
  requests,
  sessionView,
  signIn,
  spaceView,
  text,
  typeInto,
  waitFor,
  type FetchCall,
  type Handler,
} from '../testing';

const MINE = sessionView();
/** bob's session in beta: only his CLI is there yet, nothing relayed. */
const BOBS = sessionView({
  id: 's-b2',
  space: 'beta',
  owner: 'bob',
  owner_id: 'u-2',
  state: 'waiting',
  client_connected: true,
  agent_connected: false,
  streams: 0,
  bytes_to_agent: 0,
  bytes_to_client: 0,
});

const ALPHA = spaceView();
/** bob's space, shared with alice. */
const BETA = asleep(
  spaceView({
    name: 'beta',
    owner: { user_id: 'u-2', username: 'bob', role: 'owner' },
    your_role: 'member',
  }),
);

const SESSIONS = '/api/v1/sessions';
const SPACES = '/api/v1/spaces';

const open = (me: Whoami, handler: Handler) => openPage(createElement(Sessions, { me }), handler);

/**
 * Answers the session list with `list()` and the space list with `spaces()`
 * (both read at call time), and everything else with `other`.
 */
function api(
  list: () => SessionView[],
  other: Handler = noRoute,
  spaces: () => SpaceView[] = () => [ALPHA, BETA],
): Handler {
  return (call) => {
    if (call.method === 'GET' && call.url === SESSIONS) return json(200, list());
    if (call.method === 'GET' && call.url === SPACES) return json(200, spaces());
    return other(call);
  };
}


const sessionCalls = (calls: FetchCall[]) => requests(calls).filter((r) => r.includes(SESSIONS));

afterEach(async () => {
  await closePage();
  Reflect.deleteProperty(document, 'hidden');
});

describe('Sessions list', () => {
  it('shows a row per session from GET /api/v1/sessions', async () => {
    const { calls, root } = await open(ROOT, api(() => [MINE, BOBS]));
    await waitFor(() => byTestId(root, 'session-row-s-b2'));

    expect(requests(calls)).toContain('GET /api/v1/sessions');
    expect(text(root, 'session-id-s-a1')).toBe('s-a1');
    expect(byTestId(root, 'session-id-s-a1').className).toContain('mono');
    expect(byTestId(root, 'session-space-s-a1').getAttribute('href')).toBe('/spaces/alpha');
    expect(text(root, 'session-space-s-a1')).toBe('alpha');
    expect(text(root, 'session-owner-s-a1')).toBe('alice');
    expect(byTestId(root, 'session-row-s-a1').dataset.state).toBe('connected');
    expect(text(root, 'session-state-s-a1')).toBe('Connected');
    expect(byTestId(root, 'session-state-s-a1').className).toContain('badge-ok');
    expect(text(root, 'session-sides-s-a1')).toBe('CLI and agent');
    expect(text(root, 'session-streams-s-a1')).toBe('2');
    expect(text(root, 'session-bytes-to-agent-s-a1')).toBe('1.5 KiB');
    expect(byTestId(root, 'session-bytes-to-agent-s-a1').title).toBe('1,536 bytes from the CLI to the agent');
    expect(text(root, 'session-bytes-to-client-s-a1')).toBe('3.5 MiB');
    expect(text(root, 'session-since-s-a1')).toBe('5 min ago');

    expect(byTestId(root, 'session-space-s-b2').getAttribute('href')).toBe('/spaces/beta');
    expect(text(root, 'session-owner-s-b2')).toBe('bob');
    expect(text(root, 'session-state-s-b2')).toBe('Waiting');
    expect(byTestId(root, 'session-state-s-b2').className).toContain('badge-warn');
    expect(text(root, 'session-sides-s-b2')).toBe('CLI only');
    expect(byTestId(root, 'session-sides-s-b2').dataset.client).toBe('true');
    expect(byTestId(root, 'session-sides-s-b2').dataset.agent).toBe('false');
    expect(text(root, 'session-streams-s-b2')).toBe('0');
    expect(text(root, 'session-bytes-to-agent-s-b2')).toBe('0 B');
    expect(text(root, 'session-bytes-to-client-s-b2')).toBe('0 B');
    expect(text(root, 'sessions-count')).toBe('2 sessions');
  });

  it('marks your own sessions, says which side is missing and why a session ended', async () => {
    const resuming = sessionView({ id: 's-r3', state: 'resuming', client_connected: false, agent_connected: true });
    const ended = sessionView({
      id: 's-e4',
      state: 'ended',
      client_connected: false,
      agent_connected: false,
      streams: 0,
      ended_reason: 'ended by alice',
      ended_at: new Date().toISOString(),
    });
    const { root } = await open(ALICE, api(() => [MINE, resuming, ended]));
    await waitFor(() => byTestId(root, 'session-row-s-e4'));
    expect(text(root, 'session-owner-s-a1')).toBe('alice you');
    expect(text(root, 'session-state-s-r3')).toBe('Resuming');
    expect(text(root, 'session-sides-s-r3')).toBe('Agent only');
    expect(text(root, 'session-state-s-e4')).toBe('Ended');
    expect(text(root, 'session-sides-s-e4')).toBe('Neither');
    expect(text(root, 'session-ended-reason-s-e4')).toBe('ended by alice');
    expect(byTestId(root, 'session-row-s-e4').className).toContain('row-muted');
    // An ended session cannot be ended again.
    expect((byTestId(root, 'session-end-s-e4') as HTMLButtonElement).disabled).toBe(true);
    expect((byTestId(root, 'session-end-s-a1') as HTMLButtonElement).disabled).toBe(false);
  });

  it('offers End to the owner and to admins only', async () => {
    // Not what the daemon lists for a member, but the page must not offer it either way.
    const asMember = await open(ALICE, api(() => [MINE, BOBS]));
    await waitFor(() => byTestId(asMember.root, 'session-row-s-b2'));
    expect(queryTestId(asMember.root, 'session-end-s-a1')).not.toBeNull();
    expect(queryTestId(asMember.root, 'session-end-s-b2')).toBeNull();

    const asBob = await open(BOB, api(() => [MINE, BOBS]));
    await waitFor(() => byTestId(asBob.root, 'session-row-s-b2'));
    expect(queryTestId(asBob.root, 'session-end-s-a1')).toBeNull();
    expect(queryTestId(asBob.root, 'session-end-s-b2')).not.toBeNull();

    const asAdmin = await open(ROOT, api(() => [MINE, BOBS]));
    await waitFor(() => byTestId(asAdmin.root, 'session-row-s-b2'));
    expect(queryTestId(asAdmin.root, 'session-end-s-a1')).not.toBeNull();
    expect(queryTestId(asAdmin.root, 'session-end-s-b2')).not.toBeNull();
  });

  it('ends a session only once confirmed: DELETE with the CSRF token, then reads the list again', async () => {
    await signIn(ALICE);
    const endedView = { ...MINE, state: 'ended', client_connected: false, agent_connected: false, streams: 0, ended_reason: 'ended by alice' };
    let list: SessionView[] = [MINE, sessionView({ id: 's-k5' })];
    const { calls, root } = await open(
      ALICE,
      api(
        () => list,
        (call) => {
          if (call.method === 'DELETE' && call.url === '/api/v1/sessions/s-a1') {
            list = [endedView, sessionView({ id: 's-k5' })];
            return json(200, endedView);
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'session-end-s-a1')));

    // Asking first: nothing is sent yet.
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    expect(text(root, 'session-end-step-s-a1')).toContain('Ending disconnects the CLI and the agent of s-a1');
    expect(queryTestId(root, 'session-end-confirm-s-k5')).toBeNull();
    const before = calls.length;

    await click(byTestId(root, 'session-end-confirm-s-a1'));
    await waitFor(() => expect(text(root, 'session-state-s-a1')).toBe('Ended'));

    const deletes = calls.filter((c) => c.method === 'DELETE');
    expect(deletes.map((c) => c.url)).toEqual(['/api/v1/sessions/s-a1']);
    expect(deletes[0]?.headers['x-csrf-token']).toBe('csrf-123');
    expect(text(root, 'sessions-notice')).toBe('Session s-a1 ended: the CLI and the agent are disconnected.');
    expect(queryTestId(root, 'session-end-step-s-a1')).toBeNull();
    expect(text(root, 'session-state-s-k5')).toBe('Connected');
    await waitFor(() =>
      expect(requests(calls.slice(before))).toEqual(['DELETE /api/v1/sessions/s-a1', 'GET /api/v1/sessions']),
    );

  });

  it('drops an ended session once the daemon no longer lists it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let list: SessionView[] = [MINE];
    const { root } = await open(
      ALICE,
      api(
        () => list,
        (call) => {
          if (call.method === 'DELETE') {
            list = [{ ...MINE, state: 'ended' }];
            return json(200, { ...MINE, state: 'ended' });
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'session-end-s-a1')));
    await click(byTestId(root, 'session-end-confirm-s-a1'));
    await waitFor(() => expect(text(root, 'session-state-s-a1')).toBe('Ended'));

    list = [];
    await advance(SESSIONS_POLL_MS);
    await waitFor(() => expect(queryTestId(root, 'session-row-s-a1')).toBeNull());
    expect(text(root, 'sessions-empty')).toBe('You have no live dev session: start one above.');
  });

  it('Cancel closes the end step without sending anything', async () => {
    const { calls, root } = await open(ALICE, api(() => [MINE]));
    await click(await waitFor(() => byTestId(root, 'session-end-s-a1')));
    expect((byTestId(root, 'session-end-s-a1') as HTMLButtonElement).disabled).toBe(true);
    await click(byTestId(root, 'session-end-cancel-s-a1'));
    expect(queryTestId(root, 'session-end-step-s-a1')).toBeNull();
    await flush();
    expect(calls.every((c) => c.method === 'GET')).toBe(true);
  });

  it('shows the daemon’s message when ending is refused', async () => {
    const { root } = await open(
      ROOT,
      api(
        () => [BOBS],
        () => apiError(404, 'not_found', 'session s-b2 not found'),
      ),
    );
    await click(await waitFor(() => byTestId(root, 'session-end-s-b2')));
    await click(byTestId(root, 'session-end-confirm-s-b2'));
    await waitFor(() => expect(text(root, 'sessions-error')).toBe('Ending session s-b2 failed: Session s-b2 not found'));
    expect(queryTestId(root, 'sessions-notice')).toBeNull();
    expect(text(root, 'session-state-s-b2')).toBe('Waiting');
  });

  it('reads the list again every few seconds, so states and bytes move on', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let current = sessionView({ state: 'waiting', agent_connected: false, bytes_to_agent: 0 });
    const { calls, root } = await open(ALICE, api(() => [current]));
    await waitFor(() => expect(text(root, 'session-state-s-a1')).toBe('Waiting'));
    expect(sessionCalls(calls)).toHaveLength(1);

    current = sessionView({ bytes_to_agent: 2048 });
    await advance(SESSIONS_POLL_MS - 100);
    expect(sessionCalls(calls)).toHaveLength(1);
    await advance(100);
    await waitFor(() => expect(text(root, 'session-state-s-a1')).toBe('Connected'));
    expect(text(root, 'session-bytes-to-agent-s-a1')).toBe('2 KiB');
    expect(sessionCalls(calls)).toEqual(['GET /api/v1/sessions', 'GET /api/v1/sessions']);
  });

  it('does not ask while the tab is hidden', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { calls, root } = await open(ALICE, api(() => [MINE]));
    await waitFor(() => byTestId(root, 'session-row-s-a1'));
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    await advance(3 * SESSIONS_POLL_MS);
    expect(sessionCalls(calls)).toHaveLength(1);

    Reflect.deleteProperty(document, 'hidden');
    await advance(SESSIONS_POLL_MS);
    await waitFor(() => expect(sessionCalls(calls)).toHaveLength(2));
  });

  it('shows why the list could not be read', async () => {
    const { root } = await open(ALICE, (call) =>
      call.url === SPACES ? json(200, [ALPHA]) : apiError(500, 'internal', 'the relay is down'),
    );
    await waitFor(() =>
      expect(text(root, 'error')).toContain(
        'The Berth API returned an error for GET /api/v1/sessions: the relay is down (internal, HTTP 500, request id req-7)',
      ),
    );
    expect(root.textContent).toContain('Sessions unknown.');
  });

  it('says so when there is no live session', async () => {
    const asMember = await open(ALICE, api(() => []));
    await waitFor(() => expect(text(asMember.root, 'sessions-empty')).toBe('You have no live dev session: start one above.'));
    expect(text(asMember.root, 'sessions-count')).toBe('0 sessions');
    const asAdmin = await open(ROOT, api(() => []));
    await waitFor(() => expect(text(asAdmin.root, 'sessions-empty')).toBe('No dev session is live.'));
  });
});

describe('Start a session form', () => {
  it('lists your spaces, posts the chosen one and shows the agent token once with the commands', async () => {
    await signIn(ALICE);
    const started = sessionView({ id: 's-n9', space: 'beta', state: 'waiting', client_connected: false, agent_connected: false, streams: 0, bytes_to_agent: 0, bytes_to_client: 0 });
    let list: SessionView[] = [MINE];
    const { calls, root } = await open(
      ALICE,
      api(
        () => list,
        (call) => {
          if (call.method === 'POST' && call.url === SESSIONS) {
            list = [MINE, started];
            return json(201, { session: started, agent_token: 'berth_agt_s3cr3t' });
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    const select = (await waitFor(() => {
      const el = byTestId(root, 'session-new-space') as HTMLSelectElement;
      if (el.options.length < 2) throw new Error('spaces not listed yet');
      return el;
    })) as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual(['alpha', 'beta']);
    expect(select.value).toBe('alpha');
    expect(queryTestId(root, 'session-new-token')).toBeNull();

    await choose(select, 'beta');
    await click(byTestId(root, 'session-new-submit'));

    const token = await waitFor(() => byTestId(root, 'session-new-token'));
    const posts = calls.filter((c) => c.method === 'POST');
    expect(posts).toHaveLength(1);
    expect(posts[0]?.url).toBe('/api/v1/sessions');
    expect(posts[0]?.body).toEqual({ space: 'beta' });
    expect(posts[0]?.headers['x-csrf-token']).toBe('csrf-123');

    expect(token.textContent).toBe('berth_agt_s3cr3t');
    expect(text(root, 'session-new-agent-command')).toBe(
      `BERTH_AGENT_URL=${window.location.origin} BERTH_AGENT_TOKEN=berth_agt_s3cr3t berth agent --root .`,
    );
    expect(text(root, 'session-new-exec')).toBe('berth exec s-n9 -- <command>');
    expect(text(root, 'session-new-port-forward')).toBe('berth port-forward s-n9 8080:8080');
    expect(text(root, 'session-new-ssh')).toBe('berth ssh s-n9');
    expect(text(root, 'session-new-created')).toContain('Session s-n9 started in beta');
    expect(text(root, 'session-new-created')).toContain('it is shown this once');
    // The new session is in the list at once.
    expect(text(root, 'session-state-s-n9')).toBe('Waiting');

    // Once dismissed, the token is gone for good.
    await click(byTestId(root, 'session-new-done'));
    expect(queryTestId(root, 'session-new-token')).toBeNull();
    expect(root.textContent).not.toContain('berth_agt_s3cr3t');
  });

  it('starts in your personal space when you have one', async () => {
    const mine = spaceView({ name: 'alice', personal: true });
    const { root } = await open(ALICE, api(() => [], undefined, () => [ALPHA, BETA, mine]));
    await waitFor(() => expect((byTestId(root, 'session-new-space') as HTMLSelectElement).value).toBe('alice'));
  });

  it.each([
    [403, 'forbidden', 'you have 3 live dev sessions, the most allowed; end one first', 'You have 3 live dev sessions, the most allowed; end one first'],
    [404, 'not_found', 'space beta not found', 'Space beta not found'],
  ])('shows the daemon’s %i (%s) under the form', async (status, code, message, shown) => {
    const { calls, root } = await open(ALICE, api(() => [MINE], () => apiError(status, code, message)));
    await waitFor(() => expect((byTestId(root, 'session-new-space') as HTMLSelectElement).value).toBe('alpha'));
    await choose(byTestId(root, 'session-new-space'), 'beta');
    await click(byTestId(root, 'session-new-submit'));
    await waitFor(() => expect(text(root, 'session-new-error')).toBe(shown));
    expect(requests(calls)).toContain('POST /api/v1/sessions');
    expect(queryTestId(root, 'session-new-created')).toBeNull();
    expect(queryTestId(root, 'session-new-token')).toBeNull();
    // What was chosen stays.
    expect((byTestId(root, 'session-new-space') as HTMLSelectElement).value).toBe('beta');
  });

  it('takes a typed space name when the spaces cannot be read', async () => {
    const { calls, root } = await open(ALICE, (call) => {
      if (call.url === SPACES) return apiError(500, 'internal', 'the store is closed');
      if (call.method === 'GET') return json(200, []);
      return json(201, { session: sessionView({ id: 's-t1', space: 'gamma' }), agent_token: 'berth_agt_t' });
    });
    const input = await waitFor(() => {
      const el = byTestId(root, 'session-new-space');
      if (!(el instanceof HTMLInputElement)) throw new Error('still a select');
      return el;
    });
    expect(text(root, 'session-new-spaces-error')).toContain('the store is closed');

    await click(byTestId(root, 'session-new-submit'));
    expect(text(root, 'session-new-error')).toBe('Choose a space for the session.');
    expect(calls.some((c) => c.method === 'POST')).toBe(false);

    await typeInto(input, ' gamma ');
    await click(byTestId(root, 'session-new-submit'));
    await waitFor(() => byTestId(root, 'session-new-token'));
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ space: 'gamma' });
  });

  it('points to the Spaces page when you are in no space', async () => {
    const { root } = await open(ALICE, api(() => [], undefined, () => []));
    await waitFor(() => byTestId(root, 'session-new-no-space'));
    expect((byTestId(root, 'session-new-submit') as HTMLButtonElement).disabled).toBe(true);
    expect(byTestId(root, 'session-new-no-space').querySelector('a')?.getAttribute('href')).toBe('/spaces');
  });
});
