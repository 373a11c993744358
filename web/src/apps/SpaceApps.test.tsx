// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createElement } from 'react';
import type { AppView, SpaceView } from '../api';
import { Space } from '../spaces/Space';
import { SPACES_POLL_MS } from '../spaces/model';
import { APPS_POLL_MS } from './model';
import {
  ALICE,
  advance,
  apiError,
  appView,
  byTestId,
  click,
  closePage,
  flush,
  fromNow,
  json,
  noRoute,
  openPage,
  pressEnter,
  queryTestId,
  signIn,
  spaceView,
  text,
  typeInto,
  waitFor,
  type FetchCall,
  type Handler,
} from '../testing';

const CACHE = appView();
/** Its upgrade failed: Helm's error kept, the release left failed at revision 2. */
const QUEUE = appView({
  name: 'queue',
  item: 'rabbitmq',
  chart: 'rabbitmq',
  chart_version: '12.0.1',
  values: {},
  status: 'failed',
  operation: {
    number: 2,
    kind: 'upgrade',
    state: 'failed',
    chart_version: '12.0.1',
    started_by: 'bob',
    started_at: fromNow(-10 * 60_000),
    finished_at: fromNow(-9 * 60_000),
    error: 'UPGRADE FAILED: timed out waiting for the condition',
    runner: 'berth-helm-queue-2',
  },
  release: { revision: 2, status: 'failed', description: 'Upgrade failed', notes: null, updated: null },
});
/** Being installed: Helm has not written a release yet. */
const WEB = appView({
  name: 'web',
  item: 'nginx',
  chart: 'nginx',
  chart_version: '15.1.0',
  status: 'installing',
  operation: { ...CACHE.operation, state: 'running', chart_version: '15.1.0', finished_at: null, started_at: fromNow(-5_000) },
  release: null,
});

const APPS = '/api/v1/spaces/alpha/apps';

/** Helm's output: text/plain. */
function plain(body: string): Response {
  return new Response(body, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/**
 * Answers the space's reads (alpha; no objects, dev targets or workloads), its
 * applications with `apps()`, their logs with `logs(name)` (all read at call
 * time), everything else with `other`.
 */
function api(
  apps: () => AppView[],
  logs: (name: string) => string = () => '',
  other: Handler = noRoute,
  space: () => SpaceView = () => spaceView(),
): Handler {
  return (call) => {
    if (call.method === 'GET') {
      if (call.url === '/api/v1/spaces/alpha') return json(200, space());
      if (['/objects', '/dev', '/workloads'].some((s) => call.url === `/api/v1/spaces/alpha${s}`)) return json(200, []);
      if (call.url === APPS) return json(200, apps());
      const log = /^\/api\/v1\/spaces\/alpha\/apps\/([^/]+)\/logs$/.exec(call.url);
      if (log?.[1]) return plain(logs(decodeURIComponent(log[1])));
    }
    return other(call);
  };
}

const open = (handler: Handler) => openPage(createElement(Space, { me: ALICE, name: 'alpha' }), handler);

const count = (calls: FetchCall[], url: string) => calls.filter((c) => c.method === 'GET' && c.url === url).length;
const changes = (calls: FetchCall[]) => calls.filter((c) => c.method !== 'GET');

beforeEach(() => {
  window.history.replaceState(null, '', '/spaces/alpha');
});

afterEach(closePage);

describe('Applications section', () => {
  it('lists the space’s applications: status, chart, release and last operation', async () => {
    const { root } = await open(api(() => [CACHE, QUEUE, WEB]));
    await waitFor(() => byTestId(root, 'app-web'));

    expect(text(root, 'space-apps-summary')).toBe(`3 · 1 in progress, read every ${APPS_POLL_MS / 1000} s`);

    expect(text(root, 'app-item-cache')).toBe('redis');
    expect(byTestId(root, 'app-item-cache').querySelector('a')?.getAttribute('href')).toBe('/catalog/items/redis');
    expect(text(root, 'app-chart-cache')).toBe('redis 1.10.0');
    expect(text(root, 'app-status-cache')).toBe('Deployed');
    expect(byTestId(root, 'app-status-cache').querySelector('.badge-ok')).not.toBeNull();
    expect(text(root, 'app-release-cache')).toBe('Revision 1 · deployed');
    expect(text(root, 'app-operation-cache')).toBe('Install #1 succeeded by alice 30 min ago');

    expect(text(root, 'app-status-queue')).toBe('Failed');
    expect(byTestId(root, 'app-status-queue').querySelector('.badge-bad')).not.toBeNull();
    expect(text(root, 'app-release-queue')).toBe('Revision 2 · failed');
    expect(text(root, 'app-operation-queue')).toBe('Upgrade #2 failed by bob 10 min ago');

    expect(text(root, 'app-status-web')).toBe('Installing');
    expect(byTestId(root, 'app-status-web').querySelector('.badge-warn')).not.toBeNull();
    expect(text(root, 'app-release-web')).toBe('none yet');
    expect(text(root, 'app-operation-web')).toContain('Install #1 running');
    // Helm is at work: no upgrade meanwhile.
    expect((byTestId(root, 'app-upgrade-web') as HTMLButtonElement).disabled).toBe(true);
    expect((byTestId(root, 'app-upgrade-cache') as HTMLButtonElement).disabled).toBe(false);
  });

  it('links to the catalog to install more, with the space', async () => {
    const { root } = await open(api(() => []));
    await waitFor(() => expect(text(root, 'space-apps-empty')).toBe('Nothing installed from the catalog yet.'));
    expect(byTestId(root, 'space-apps-install').getAttribute('href')).toBe('/catalog?space=alpha');
    expect(text(root, 'space-apps-install')).toBe('Install from the catalog');
  });

  it('shows why the applications could not be read, and the rest of the page all the same', async () => {
    const { root } = await open((call) =>
      call.url === APPS ? apiError(503, 'unavailable', 'helm is not installed') : api(() => [])(call),
    );
    await waitFor(() => expect(text(root, 'space-apps-error')).toContain('helm is not installed'));
    expect(root.textContent).toContain('Applications unknown.');
    expect(text(root, 'space-owner')).toBe('alice you');
  });

  it('a row unfolds Helm’s output (as text), the release notes and the values given', async () => {
    const output = 'Release "cache" does not exist. Installing it now.\nNAME: cache\nSTATUS: deployed\n';
    const { calls, root } = await open(api(() => [CACHE, QUEUE], (name) => (name === 'cache' ? output : '')));
    await click(await waitFor(() => byTestId(root, 'app-expand-cache')));
    expect(byTestId(root, 'app-expand-cache').getAttribute('aria-expanded')).toBe('true');

    await waitFor(() => expect(byTestId(root, 'app-logs-cache').textContent).toBe(output));
    expect(byTestId(root, 'app-logs-cache').tagName).toBe('PRE');
    const logs = calls.find((c) => c.url.endsWith('/logs'));
    expect(logs?.url).toBe('/api/v1/spaces/alpha/apps/cache/logs');
    expect(logs?.headers.Accept).toBe('text/plain');
    expect(text(root, 'app-notes-cache')).toBe('Redis can be reached at cache-redis.alpha.svc:6379');
    expect(byTestId(root, 'app-values-cache').textContent).toBe('{\n  "replicas": 2\n}');
    expect(queryTestId(root, 'app-error-cache')).toBeNull();
    expect(queryTestId(root, 'app-details-queue')).toBeNull();

    await click(byTestId(root, 'app-expand-cache'));
    expect(queryTestId(root, 'app-details-cache')).toBeNull();
  });

  it('a failed operation shows Helm’s error when unfolded', async () => {
    const { root } = await open(api(() => [QUEUE], () => 'Error: UPGRADE FAILED: timed out waiting for the condition\n'));
    await click(await waitFor(() => byTestId(root, 'app-expand-queue')));
    expect(text(root, 'app-error-queue')).toBe('Upgrade #2 failed: UPGRADE FAILED: timed out waiting for the condition');
    expect(byTestId(root, 'app-error-queue').className).toContain('cell-error');
    await waitFor(() => expect(text(root, 'app-logs-queue')).toContain('UPGRADE FAILED'));
    expect(byTestId(root, 'app-details-queue').textContent).toContain('berth-helm-queue-2');
    expect(queryTestId(root, 'app-notes-queue')).toBeNull();
    expect(text(root, 'app-values-queue')).toBe('None: the item’s defaults.');
  });

  it('while Helm is at work, reads the list and the output every 2 s, once more when done, then stops', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let app = WEB;
    let output = 'installing…\n';
    const { calls, root } = await open(api(() => [app], () => output));
    await click(await waitFor(() => byTestId(root, 'app-expand-web')));
    await waitFor(() => expect(text(root, 'app-logs-web')).toBe('installing…'));
    const lists = count(calls, APPS);

    output = 'installing…\npod web-0 ready\n';
    await advance(APPS_POLL_MS);
    await waitFor(() => expect(text(root, 'app-logs-web')).toBe('installing… pod web-0 ready'));
    // The list too, well before the space's usual 5 s.
    await waitFor(() => expect(count(calls, APPS)).toBeGreaterThan(lists));

    app = { ...WEB, status: 'deployed', operation: { ...WEB.operation, state: 'succeeded', finished_at: fromNow(0) } };
    output = 'installing…\npod web-0 ready\nSTATUS: deployed\n';
    await advance(APPS_POLL_MS);
    await waitFor(() => expect(text(root, 'app-status-web')).toBe('Deployed'));
    await waitFor(() => expect(text(root, 'app-logs-web')).toContain('STATUS: deployed'));

    // Done: the output is read no more, and the list goes back to the space's pace.
    const logsDone = count(calls, '/api/v1/spaces/alpha/apps/web/logs');
    const listsDone = count(calls, APPS);
    await advance(SPACES_POLL_MS - 100);
    expect(count(calls, '/api/v1/spaces/alpha/apps/web/logs')).toBe(logsDone);
    expect(count(calls, APPS)).toBe(listsDone);
    await advance(3 * SPACES_POLL_MS);
    expect(count(calls, '/api/v1/spaces/alpha/apps/web/logs')).toBe(logsDone);
  });
});

describe('Uninstall', () => {
  it('needs the application’s name typed, then shows it uninstalling until it is gone', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    await signIn(ALICE);
    let apps = [CACHE, QUEUE];
    const { calls, root } = await open(
      api(
        () => apps,
        () => '',
        (call) => {
          if (call.method === 'DELETE' && call.url === '/api/v1/spaces/alpha/apps/cache') {
            const uninstalling = { ...CACHE, status: 'uninstalling', operation: { ...CACHE.operation, number: 2, kind: 'uninstall', state: 'running', finished_at: null } };
            apps = [uninstalling, QUEUE];
            return json(202, uninstalling);
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'app-uninstall-cache')));

    expect(text(root, 'app-uninstall-form-cache')).toContain('Type cache to confirm.');
    const confirm = byTestId(root, 'app-uninstall-confirm-cache') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    await typeInto(byTestId(root, 'app-uninstall-name-cache'), 'queue');
    expect(confirm.disabled).toBe(true);
    await pressEnter(byTestId(root, 'app-uninstall-form-cache'));
    await flush();
    expect(changes(calls)).toEqual([]);

    await typeInto(byTestId(root, 'app-uninstall-name-cache'), 'cache');
    await click(confirm);
    await waitFor(() => expect(text(root, 'app-status-cache')).toBe('Uninstalling'));
    expect(changes(calls).map((c) => `${c.method} ${c.url}`)).toEqual(['DELETE /api/v1/spaces/alpha/apps/cache']);
    expect(changes(calls)[0]?.headers['x-csrf-token']).toBe('csrf-123');
    expect(text(root, 'space-notice')).toBe('“cache” is being uninstalled; it leaves the list once Helm is done.');
    expect(queryTestId(root, 'app-uninstall-form-cache')).toBeNull();
    expect((byTestId(root, 'app-uninstall-cache') as HTMLButtonElement).disabled).toBe(true);
    expect(text(root, 'app-operation-cache')).toContain('Uninstall #2 running');

    // Once Helm is done the daemon lists it no more.
    apps = [QUEUE];
    await advance(APPS_POLL_MS);
    await waitFor(() => expect(queryTestId(root, 'app-cache')).toBeNull());
  });

  it('Cancel closes the step without sending anything', async () => {
    const { calls, root } = await open(api(() => [CACHE]));
    await click(await waitFor(() => byTestId(root, 'app-uninstall-cache')));
    await click(byTestId(root, 'app-uninstall-cancel-cache'));
    expect(queryTestId(root, 'app-uninstall-form-cache')).toBeNull();
    expect(changes(calls)).toEqual([]);
  });

  it('offers no action in a space being deleted', async () => {
    const { root } = await open(
      api(
        () => [CACHE],
        () => '',
        undefined,
        () => spaceView({ status: { ...spaceView().status, phase: 'Terminating' } }),
      ),
    );
    await waitFor(() => byTestId(root, 'app-cache'));
    expect((byTestId(root, 'app-uninstall-cache') as HTMLButtonElement).disabled).toBe(true);
    expect((byTestId(root, 'app-upgrade-cache') as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('Upgrade', () => {
  it('posts the values over the earlier ones, or from the item’s with the box ticked; a refusal stays in its form', async () => {
    let answer: Response | null = null;
    let apps = [CACHE];
    const { calls, root } = await open(
      api(
        () => apps,
        () => '',
        (call) => {
          if (call.method === 'POST' && call.url === '/api/v1/spaces/alpha/apps/cache/upgrade') {
            if (answer) return answer;
            const upgrading = { ...CACHE, status: 'upgrading', operation: { ...CACHE.operation, number: 2, kind: 'upgrade', state: 'running' } };
            apps = [upgrading];
            return json(202, upgrading);
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'app-upgrade-cache')));

    // Not JSON: nothing is sent.
    await typeInto(byTestId(root, 'app-upgrade-values-cache'), '{"replicas": ');
    await click(byTestId(root, 'app-upgrade-submit-cache'));
    expect(text(root, 'app-upgrade-error-cache')).toContain('The values are not valid JSON');
    await flush();
    expect(changes(calls)).toEqual([]);

    // Refused: said under the form, which stays open.
    answer = apiError(422, 'invalid', 'values.replicas: 0 is less than the minimum of 1');
    await typeInto(byTestId(root, 'app-upgrade-values-cache'), '{"replicas": 0}');
    await click(byTestId(root, 'app-upgrade-submit-cache'));
    await waitFor(() => expect(text(root, 'app-upgrade-error-cache')).toBe('Values.replicas: 0 is less than the minimum of 1'));
    expect(queryTestId(root, 'space-error')).toBeNull();
    expect(changes(calls)[0]?.body).toEqual({ values: { replicas: 0 } });

    // Accepted: the form closes and the row says so.
    answer = null;
    await typeInto(byTestId(root, 'app-upgrade-values-cache'), '{"replicas": 3}');
    await click(byTestId(root, 'app-upgrade-reset-cache'));
    await click(byTestId(root, 'app-upgrade-submit-cache'));
    await waitFor(() => expect(text(root, 'app-status-cache')).toBe('Upgrading'));
    expect(changes(calls)[1]?.body).toEqual({ values: { replicas: 3 }, reset_values: true });
    expect(queryTestId(root, 'app-upgrade-form-cache')).toBeNull();
    expect(text(root, 'space-notice')).toBe('“cache” is being upgraded; its status and Helm’s output follow below.');
  });

  it('with no values, upgrades the chart alone (an empty body)', async () => {
    const { calls, root } = await open(
      api(() => [CACHE], () => '', () => json(202, { ...CACHE, status: 'upgrading' })),
    );
    await click(await waitFor(() => byTestId(root, 'app-upgrade-cache')));
    await pressEnter(byTestId(root, 'app-upgrade-form-cache'));
    await waitFor(() => expect(changes(calls)).toHaveLength(1));
    expect(changes(calls)[0]?.url).toBe('/api/v1/spaces/alpha/apps/cache/upgrade');
    expect(changes(calls)[0]?.body).toEqual({});
  });
});
