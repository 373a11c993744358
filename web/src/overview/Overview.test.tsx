// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { createElement } from 'react';
import type { Whoami } from '../api';
import { Overview } from './Overview';
import { SAMPLE_ITEM, SAMPLE_URL, nextSteps } from './getStarted';
import {
  ALICE,
  ROOT,
  apiError,
  byTestId,
  closePage,
  flush,
  itemView,
  json,
  openPage,
  queryTestId,
  requests,
  spaceView,
  text,
  waitFor,
  whoami,
  workloadView,
  type Handler,
} from '../testing';

const VERSION = { version: '0.1.0', api: 'v1' };
const READY = { ready: true, components: { store: { status: 'ready' } } };
const SAMPLE = itemView({}, { name: SAMPLE_ITEM, repository: 'berth-samples', chart: SAMPLE_ITEM, version: '*' });

interface World {
  spaces?: ReturnType<typeof spaceView>[];
  workloads?: Record<string, ReturnType<typeof workloadView>[]>;
  items?: ReturnType<typeof itemView>[];
  failSpaces?: boolean;
}

/** The daemon as the Overview asks it: version, readiness, spaces, their workloads, the catalog. */
function daemon(world: World): Handler {
  return (call) => {
    if (call.url === '/api/v1/version') return json(200, VERSION);
    if (call.url === '/readyz') return json(200, READY);
    if (call.url === '/api/v1/spaces') {
      return world.failSpaces ? apiError(503, 'unavailable', 'the store is busy') : json(200, world.spaces ?? []);
    }
    const workloads = /^\/api\/v1\/spaces\/([^/]+)\/workloads$/.exec(call.url);
    if (workloads) return json(200, world.workloads?.[decodeURIComponent(workloads[1] ?? '')] ?? []);
    if (call.url === '/api/v1/catalog/items') return json(200, world.items ?? []);
    return apiError(404, 'not_found', 'no such route');
  };
}

const open = (me: Whoami, world: World) => openPage(createElement(Overview, { me }), daemon(world));

/** The commands the card shows, in order. */
function commands(root: HTMLElement): string[] {
  const out: string[] = [];
  for (let i = 1; queryTestId(root, `get-started-command-${i}`); i += 1) out.push(text(root, `get-started-command-${i}`));
  return out;
}

afterEach(closePage);

describe('Overview: next steps for a user with no workloads yet', () => {
  const personal = spaceView({
    name: 'alice',
    personal: true,
    owner: { user_id: 'u-1', username: 'alice', role: 'owner' },
    members: [{ user_id: 'u-1', username: 'alice', role: 'owner' }],
  });

  it('says the README steps, with the sample, to copy', async () => {
    const { calls, root } = await open(ALICE, { spaces: [personal], items: [SAMPLE] });
    await waitFor(() => byTestId(root, 'get-started'));

    expect(requests(calls)).toEqual(
      expect.arrayContaining([
        'GET /api/v1/spaces',
        'GET /api/v1/spaces/alice/workloads',
        'GET /api/v1/catalog/items',
      ]),
    );
    expect(commands(root)).toEqual([
      `berth login ${window.location.origin} --username alice`,
      'berth quickstart',
      'berth up',
    ]);
    expect(byTestId(root, 'get-started-command-2-copy').textContent).toBe('Copy');
    expect(text(root, 'get-started-step-2')).toContain('installs the sample web app');
    expect(text(root, 'get-started-open')).toContain(SAMPLE_URL);
    expect(byTestId(root, 'get-started-open').querySelector('a')?.getAttribute('href')).toBe(SAMPLE_URL);
    // The rest of the Overview is still there.
    await waitFor(() => expect(text(root, 'server-version')).toBe('0.1.0'));
  });

  it('shows nothing once a space has a workload', async () => {
    const { calls, root } = await open(ALICE, {
      spaces: [personal],
      workloads: { alice: [workloadView({ workload: 'deployment/hello-web' })] },
      items: [SAMPLE],
    });
    await waitFor(() => expect(requests(calls)).toContain('GET /api/v1/spaces/alice/workloads'));
    await waitFor(() => expect(text(root, 'server-version')).toBe('0.1.0'));
    await flush();
    expect(queryTestId(root, 'get-started')).toBeNull();
    // The catalog is not asked: there is nothing to suggest.
    expect(requests(calls)).not.toContain('GET /api/v1/catalog/items');
  });

  it('without the sample in the catalog, says berth init; with no space, how to make one', async () => {
    const sso = whoami({ id: 'u-9', username: 'root', email: null, role: 'admin', kind: 'sso' });
    // root sees alice's space (an admin) but is not in it.
    const seen = spaceView({ name: 'alice', your_role: null });
    const { calls, root } = await open(sso, { spaces: [seen], items: [] });
    await waitFor(() => byTestId(root, 'get-started'));

    expect(requests(calls)).not.toContain('GET /api/v1/spaces/alice/workloads');
    expect(commands(root)).toEqual([
      `berth login ${window.location.origin}`,
      'berth space create dev --use',
      'berth init',
      'berth up',
    ]);
    expect(queryTestId(root, 'get-started-open')).toBeNull();
  });

  it('shows nothing when the daemon cannot say', async () => {
    const { calls, root } = await open(ROOT, { failSpaces: true });
    await waitFor(() => expect(requests(calls)).toContain('GET /api/v1/spaces'));
    await waitFor(() => expect(text(root, 'server-version')).toBe('0.1.0'));
    await flush();
    expect(queryTestId(root, 'get-started')).toBeNull();
  });
});

describe('nextSteps', () => {
  it('signs a local account in by name and anyone else by single sign-on', () => {
    expect(nextSteps('https://berth.example.com', ALICE, true, true)[0]?.command).toBe(
      'berth login https://berth.example.com --username alice',
    );
    const sso = whoami({ kind: 'sso' });
    expect(nextSteps('https://berth.example.com', sso, true, true)[0]?.command).toBe(
      'berth login https://berth.example.com',
    );
  });
});
