// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createElement } from 'react';
import type { RepositoryView } from '../api';
import { Repositories } from './Catalog';
import { CATALOG_POLL_MS } from './model';
import {
  ROOT,
  advance,
  apiError,
  byTestId,
  click,
  closePage,
  flush,
  json,
  noRoute,
  openPage,
  pressEnter,
  queryTestId,
  repositoryView,
  requests,
  signIn,
  text,
  typeInto,
  waitFor,
  type Handler,
} from '../testing';

const STABLE = repositoryView();
/** A private repository whose last scheduled fetch failed: its 5 charts are from the fetch before. */
const INTERNAL = repositoryView({
  name: 'internal',
  url: 'https://charts.internal.example.com',
  username_file: '/etc/berth/secrets/charts/username',
  password_file: '/etc/berth/secrets/charts/password',
  ca_file: '/etc/berth/secrets/charts/ca.pem',
  fetched_at: new Date(Date.now() - 3 * 3_600_000).toISOString(),
  last_error: 'https://charts.internal.example.com/index.yaml answered 503 Service Unavailable',
  failed_at: new Date(Date.now() - 20 * 60_000).toISOString(),
  charts: 5,
  versions: 12,
});

const LIST = '/api/v1/catalog/repositories';

const open = (handler: Handler) => openPage(createElement(Repositories), handler);

/** Answers the list with `list()` (read at call time) and everything else with `other`. */
function api(list: () => RepositoryView[], other: Handler = noRoute): Handler {
  return (call) => (call.method === 'GET' && call.url === LIST ? json(200, list()) : other(call));
}

function input(root: HTMLElement, id: string): HTMLInputElement {
  return byTestId(root, id) as HTMLInputElement;
}

afterEach(closePage);

describe('Chart repositories list', () => {
  it('shows a row per repository from GET /api/v1/catalog/repositories, the last error highlighted', async () => {
    const { calls, root } = await open(api(() => [INTERNAL, STABLE]));
    await waitFor(() => byTestId(root, 'repo-row-stable'));

    expect(requests(calls)).toEqual(['GET /api/v1/catalog/repositories']);
    expect(calls[0]?.headers['x-csrf-token']).toBeUndefined();
    expect(text(root, 'catalog-count')).toBe('2 repositories');

    expect(byTestId(root, 'repo-link-stable').getAttribute('href')).toBe('/catalog/repositories/stable');
    expect(text(root, 'repo-url-stable')).toBe('https://charts.example.com/stable');
    expect(text(root, 'repo-charts-stable')).toBe('2 charts · 3 versions');
    expect(text(root, 'repo-fetched-stable')).toBe('10 min ago');
    expect(text(root, 'repo-error-stable')).toBe('—');
    expect(byTestId(root, 'repo-row-stable').dataset.failed).toBe('false');
    expect(byTestId(root, 'repo-row-stable').querySelector('.tag')).toBeNull();

    const failed = byTestId(root, 'repo-row-internal');
    expect(failed.dataset.failed).toBe('true');
    expect(text(root, 'repo-charts-internal')).toBe('5 charts · 12 versions');
    expect(text(root, 'repo-fetched-internal')).toBe('3 h ago');
    expect(text(root, 'repo-error-internal')).toBe(
      'Failed 20 min ago https://charts.internal.example.com/index.yaml answered 503 Service Unavailable',
    );
    // Highlighted: the status in red and the message in its own red box.
    const error = byTestId(root, 'repo-error-internal');
    expect(error.querySelector('.status-bad')).not.toBeNull();
    expect(error.querySelector('.cell-error')?.textContent).toBe(INTERNAL.last_error);
    // The credentials and the CA are flagged; the files are named on hover, never any secret.
    const tags = [...failed.querySelectorAll('.tag')];
    expect(tags.map((t) => t.textContent)).toEqual(['sign-in', 'own CA']);
    expect(tags[0]?.getAttribute('title')).toBe(
      'User name from /etc/berth/secrets/charts/username, password from /etc/berth/secrets/charts/password',
    );
  });

  it('says so when there is no repository', async () => {
    const { root } = await open(api(() => []));
    await waitFor(() => expect(text(root, 'catalog-empty')).toBe('No chart repository yet: add one above.'));
    expect(text(root, 'catalog-count')).toBe('0 repositories');
  });

  it('shows why the list could not be read', async () => {
    const { root } = await open(() => apiError(403, 'forbidden', 'only admins may do this'));
    await waitFor(() =>
      expect(text(root, 'error')).toContain(
        'The Berth API returned an error for GET /api/v1/catalog/repositories: only admins may do this (forbidden, HTTP 403, request id req-7)',
      ),
    );
    expect(root.textContent).toContain('Repositories unknown.');
  });

  it('reads the list again every 30 s, so scheduled fetches show up', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let repo = STABLE;
    const { calls, root } = await open(api(() => [repo]));
    await waitFor(() => expect(text(root, 'repo-error-stable')).toBe('—'));
    expect(calls).toHaveLength(1);

    repo = { ...STABLE, last_error: 'cannot fetch https://charts.example.com/stable/index.yaml: timed out', failed_at: new Date().toISOString() };
    await advance(CATALOG_POLL_MS - 100);
    expect(calls).toHaveLength(1);
    await advance(100);
    await waitFor(() => expect(byTestId(root, 'repo-row-stable').dataset.failed).toBe('true'));
    expect(requests(calls)).toEqual([`GET ${LIST}`, `GET ${LIST}`]);
  });
});

describe('Add repository form', () => {
  it('posts the name, URL and the three file paths (trimmed) with the CSRF token, then lists the repository', async () => {
    await signIn(ROOT);
    let list: RepositoryView[] = [STABLE];
    const { calls, root } = await open(
      api(
        () => list,
        (call) => {
          if (call.method === 'POST' && call.url === LIST) {
            list = [INTERNAL, STABLE];
            return json(201, { ...INTERNAL, last_error: null, failed_at: null });
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await waitFor(() => byTestId(root, 'repo-row-stable'));
    // The form says the credentials are file paths on the server.
    expect(text(root, 'repo-new-files-hint')).toContain('paths on the server berthd runs on');
    expect(text(root, 'repo-new-files-hint')).toContain('not the secrets themselves');

    await typeInto(byTestId(root, 'repo-new-name'), ' internal ');
    await typeInto(byTestId(root, 'repo-new-url'), ' https://charts.internal.example.com ');
    await typeInto(byTestId(root, 'repo-new-username-file'), '/etc/berth/secrets/charts/username ');
    await typeInto(byTestId(root, 'repo-new-password-file'), '/etc/berth/secrets/charts/password');
    await typeInto(byTestId(root, 'repo-new-ca-file'), '/etc/berth/secrets/charts/ca.pem');
    await click(byTestId(root, 'repo-new-submit'));

    await waitFor(() => expect(text(root, 'repo-new-added')).toBe('Added internal with 5 charts · 12 versions.'));
    const posts = calls.filter((c) => c.method === 'POST');
    expect(posts).toHaveLength(1);
    expect(posts[0]?.url).toBe('/api/v1/catalog/repositories');
    expect(posts[0]?.headers['x-csrf-token']).toBe('csrf-123');
    expect(posts[0]?.headers['Content-Type']).toBe('application/json');
    expect(posts[0]?.body).toEqual({
      name: 'internal',
      url: 'https://charts.internal.example.com',
      username_file: '/etc/berth/secrets/charts/username',
      password_file: '/etc/berth/secrets/charts/password',
      ca_file: '/etc/berth/secrets/charts/ca.pem',
    });
    await waitFor(() => byTestId(root, 'repo-row-internal'));
    for (const id of ['repo-new-name', 'repo-new-url', 'repo-new-username-file', 'repo-new-password-file', 'repo-new-ca-file']) {
      expect(input(root, id).value).toBe('');
    }
  });

  it('leaves the empty optional files out of the request', async () => {
    const { calls, root } = await open(
      api(
        () => [],
        (call) => (call.method === 'POST' ? json(201, STABLE) : apiError(404, 'not_found', 'x')),
      ),
    );
    await waitFor(() => byTestId(root, 'catalog-empty'));
    await typeInto(byTestId(root, 'repo-new-name'), 'stable');
    await typeInto(byTestId(root, 'repo-new-url'), 'https://charts.example.com/stable');
    await typeInto(byTestId(root, 'repo-new-ca-file'), '   ');
    await pressEnter(byTestId(root, 'repo-new-form'));

    await waitFor(() => byTestId(root, 'repo-new-added'));
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ name: 'stable', url: 'https://charts.example.com/stable' });
  });

  it('shows the daemon’s 422 (an index it cannot fetch) under the form, and adds nothing', async () => {
    const message = 'url: cannot fetch https://charts.example.com/nope/index.yaml: error sending request: connection refused';
    const { calls, root } = await open(api(() => [STABLE], () => apiError(422, 'invalid', message)));
    await waitFor(() => byTestId(root, 'repo-row-stable'));
    await typeInto(byTestId(root, 'repo-new-name'), 'nope');
    await typeInto(byTestId(root, 'repo-new-url'), 'https://charts.example.com/nope');
    await click(byTestId(root, 'repo-new-submit'));

    await waitFor(() =>
      expect(text(root, 'repo-new-error')).toBe(
        'Url: cannot fetch https://charts.example.com/nope/index.yaml: error sending request: connection refused',
      ),
    );
    expect(requests(calls).filter((r) => r.startsWith('POST'))).toEqual(['POST /api/v1/catalog/repositories']);
    expect(queryTestId(root, 'repo-row-nope')).toBeNull();
    expect(queryTestId(root, 'repo-new-added')).toBeNull();
    // What was typed stays, to be fixed.
    expect(input(root, 'repo-new-name').value).toBe('nope');
    expect(input(root, 'repo-new-url').value).toBe('https://charts.example.com/nope');
  });

  it('shows the daemon’s 409 for a taken name', async () => {
    const { root } = await open(
      api(() => [STABLE], () => apiError(409, 'conflict', 'a chart repository is named stable already')),
    );
    await waitFor(() => byTestId(root, 'repo-row-stable'));
    await typeInto(byTestId(root, 'repo-new-name'), 'stable');
    await typeInto(byTestId(root, 'repo-new-url'), 'https://charts.example.com/other');
    await click(byTestId(root, 'repo-new-submit'));
    await waitFor(() => expect(text(root, 'repo-new-error')).toBe('A chart repository is named stable already'));
  });

  it.each([
    [{ name: '  ', url: 'https://x.example.com' }, 'Enter a name for the repository.'],
    [{ name: 'x', url: '' }, 'Enter the repository’s URL.'],
    [{ name: 'x', url: 'charts.example.com' }, 'The URL must start with http:// or https://.'],
    [
      { name: 'x', url: 'https://x.example.com', username: '/etc/berth/secrets/u' },
      'Give both the user name file and the password file, or neither.',
    ],
    [
      { name: 'x', url: 'https://x.example.com', password: '/etc/berth/secrets/p' },
      'Give both the user name file and the password file, or neither.',
    ],
  ])('checks the form before sending anything (%#)', async (form, message) => {
    const { calls, root } = await open(api(() => [STABLE]));
    await waitFor(() => byTestId(root, 'repo-row-stable'));
    await typeInto(byTestId(root, 'repo-new-name'), form.name);
    await typeInto(byTestId(root, 'repo-new-url'), form.url);
    if ('username' in form) await typeInto(byTestId(root, 'repo-new-username-file'), form.username);
    if ('password' in form) await typeInto(byTestId(root, 'repo-new-password-file'), form.password);
    await click(byTestId(root, 'repo-new-submit'));
    expect(text(root, 'repo-new-error')).toBe(message);
    await flush();
    expect(calls.every((c) => c.method === 'GET')).toBe(true);
  });
});

describe('Refresh', () => {
  it('posts to /refresh with the CSRF token and no body, shows the new counts and reads the list again', async () => {
    await signIn(ROOT);
    const refreshed = { ...STABLE, charts: 3, versions: 5, fetched_at: new Date().toISOString() };
    let list = [STABLE];
    const { calls, root } = await open(
      api(
        () => list,
        (call) => {
          if (call.method === 'POST' && call.url === '/api/v1/catalog/repositories/stable/refresh') {
            list = [refreshed];
            return json(200, refreshed);
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await waitFor(() => byTestId(root, 'repo-refresh-stable'));
    const before = calls.length;

    await click(byTestId(root, 'repo-refresh-stable'));
    await waitFor(() => expect(text(root, 'catalog-notice')).toBe('“stable” is refreshed: 3 charts · 5 versions.'));

    const post = calls.find((c) => c.method === 'POST');
    expect(post?.url).toBe('/api/v1/catalog/repositories/stable/refresh');
    expect(post?.headers['x-csrf-token']).toBe('csrf-123');
    expect(post?.body).toBeUndefined();
    expect(text(root, 'repo-charts-stable')).toBe('3 charts · 5 versions');
    expect(text(root, 'repo-fetched-stable')).toBe('just now');
    expect(queryTestId(root, 'catalog-error')).toBeNull();
    await waitFor(() =>
      expect(requests(calls.slice(before))).toEqual([
        'POST /api/v1/catalog/repositories/stable/refresh',
        'GET /api/v1/catalog/repositories',
      ]),
    );
  });

  it('shows the last error when the fetch failed (a 200 with last_error), the kept charts with it', async () => {
    const failed = {
      ...STABLE,
      last_error: 'https://charts.example.com/stable/index.yaml is not a chart repository index: it has no apiVersion (a chart repository index says v1)',
      failed_at: new Date().toISOString(),
    };
    let list = [STABLE];
    const { root } = await open(
      api(
        () => list,
        (call) => {
          if (call.method === 'POST' && call.url.endsWith('/refresh')) {
            list = [failed];
            return json(200, failed);
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'repo-refresh-stable')));

    await waitFor(() =>
      expect(text(root, 'catalog-error')).toBe(
        'Refreshing “stable” failed: https://charts.example.com/stable/index.yaml is not a chart repository index: it has no apiVersion (a chart repository index says v1). The charts of the last good fetch are kept (2 charts · 3 versions).',
      ),
    );
    expect(byTestId(root, 'catalog-error').getAttribute('role')).toBe('alert');
    expect(queryTestId(root, 'catalog-notice')).toBeNull();
    expect(byTestId(root, 'repo-row-stable').dataset.failed).toBe('true');
    expect(text(root, 'repo-error-stable')).toBe(`Failed just now ${failed.last_error}`);
    expect(text(root, 'repo-charts-stable')).toBe('2 charts · 3 versions');
  });

  it('shows a refused refresh', async () => {
    const { root } = await open(
      api(
        () => [STABLE],
        () => apiError(404, 'not_found', 'chart repository stable not found'),
      ),
    );
    await click(await waitFor(() => byTestId(root, 'repo-refresh-stable')));
    await waitFor(() =>
      expect(text(root, 'catalog-error')).toBe('Refreshing “stable” failed: Chart repository stable not found'),
    );
  });
});

describe('Remove', () => {
  it('removes only once the repository’s name is typed', async () => {
    await signIn(ROOT);
    let list = [INTERNAL, STABLE];
    const { calls, root } = await open(
      api(
        () => list,
        (call) => {
          if (call.method === 'DELETE' && call.url === '/api/v1/catalog/repositories/stable') {
            list = [INTERNAL];
            return json(200, STABLE);
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'repo-remove-stable')));

    const confirm = byTestId(root, 'repo-remove-confirm-stable') as HTMLButtonElement;
    expect(text(root, 'repo-remove-form-stable')).toContain('Type stable to confirm.');
    expect(confirm.disabled).toBe(true);
    await typeInto(byTestId(root, 'repo-remove-name-stable'), 'stabl');
    expect(confirm.disabled).toBe(true);
    // Enter with the wrong name sends nothing either.
    await pressEnter(byTestId(root, 'repo-remove-form-stable'));
    await flush();
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    // Another repository's name does not do either.
    await typeInto(byTestId(root, 'repo-remove-name-stable'), 'internal');
    expect(confirm.disabled).toBe(true);

    await typeInto(byTestId(root, 'repo-remove-name-stable'), 'stable');
    expect(confirm.disabled).toBe(false);
    await click(confirm);

    await waitFor(() => expect(queryTestId(root, 'repo-row-stable')).toBeNull());
    const deletes = calls.filter((c) => c.method === 'DELETE');
    expect(deletes.map((c) => c.url)).toEqual(['/api/v1/catalog/repositories/stable']);
    expect(deletes[0]?.headers['x-csrf-token']).toBe('csrf-123');
    expect(deletes[0]?.body).toBeUndefined();
    expect(text(root, 'catalog-notice')).toBe('“stable” is removed from the catalog, with its charts.');
    expect(queryTestId(root, 'repo-remove-form-stable')).toBeNull();
    expect(queryTestId(root, 'repo-row-internal')).not.toBeNull();
  });

  it('Cancel closes the step without sending anything', async () => {
    const { calls, root } = await open(api(() => [STABLE]));
    await click(await waitFor(() => byTestId(root, 'repo-remove-stable')));
    await click(byTestId(root, 'repo-remove-cancel-stable'));
    expect(queryTestId(root, 'repo-remove-form-stable')).toBeNull();
    expect(calls.every((c) => c.method === 'GET')).toBe(true);
  });

  it('shows a refused removal and keeps the row', async () => {
    const { root } = await open(api(() => [STABLE], () => apiError(403, 'forbidden', 'only admins may do this')));
    await click(await waitFor(() => byTestId(root, 'repo-remove-stable')));
    await typeInto(byTestId(root, 'repo-remove-name-stable'), 'stable');
    await click(byTestId(root, 'repo-remove-confirm-stable'));
    await waitFor(() => expect(text(root, 'catalog-error')).toBe('Removing “stable” failed: Only admins may do this'));
    expect(queryTestId(root, 'repo-row-stable')).not.toBeNull();
    // The step stays open, to try again or cancel.
    expect(queryTestId(root, 'repo-remove-form-stable')).not.toBeNull();
  });
});
