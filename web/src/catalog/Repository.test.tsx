// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { createElement } from 'react';
import type { ChartView, RepositoryView } from '../api';
import { Repository } from './Repository';
import {
  ROOT,
  apiError,
  byTestId,
  charts,
  click,
  closePage,
  json,
  noRoute,
  openPage,
  queryTestId,
  repositoryView,
  requests,
  signIn,
  text,
  typeInto,
  waitFor,
  type Handler,
} from '../testing';

const STABLE = repositoryView({
  username_file: '/etc/berth/secrets/charts/username',
  password_file: '/etc/berth/secrets/charts/password',
});
const REPO = '/api/v1/catalog/repositories/stable';

const open = (handler: Handler, name = 'stable') => openPage(createElement(Repository, { name }), handler);

/** Answers the repository with `repo()` and its charts with `list()`, read at call time; everything else with `other`. */
function api(
  repo: () => RepositoryView,
  list: () => ChartView[],
  other: Handler = noRoute,
): Handler {
  return (call) => {
    if (call.method === 'GET' && call.url === REPO) return json(200, repo());
    if (call.method === 'GET' && call.url === `${REPO}/charts`) return json(200, list());
    return other(call);
  };
}

afterEach(closePage);

describe('A chart repository’s page', () => {
  it('shows the repository and its charts: latest version, app version, description, versions, deprecated marked', async () => {
    const { calls, root } = await open(api(() => STABLE, charts));
    await waitFor(() => byTestId(root, 'chart-row-redis'));

    expect(requests(calls).sort()).toEqual([`GET ${REPO}`, `GET ${REPO}/charts`]);
    expect(text(root, 'repo-title')).toBe('stable');
    expect(text(root, 'repo-url')).toBe('https://charts.example.com/stable');
    expect(text(root, 'repo-credentials')).toBe(
      'User name from /etc/berth/secrets/charts/username, password from /etc/berth/secrets/charts/password',
    );
    expect(text(root, 'repo-ca-file')).toBe('None: the system’s certificate authorities');
    expect(text(root, 'repo-added')).toBe('by root · 1 day ago');
    expect(text(root, 'repo-last-error')).toBe('None');

    expect(text(root, 'repo-charts-count')).toBe('2 charts · 3 versions');
    expect(text(root, 'chart-latest-redis')).toBe('1.10.0');
    expect(text(root, 'chart-app-version-redis')).toBe('7.4');
    expect(text(root, 'chart-description-redis')).toBe('An in-memory store');
    expect(text(root, 'chart-versions-redis')).toBe('2');
    expect(byTestId(root, 'chart-versions-redis').getAttribute('title')).toBe('1.10.0, 1.2.0');
    expect(byTestId(root, 'chart-row-redis').dataset.deprecated).toBe('false');
    expect(queryTestId(root, 'chart-deprecated-redis')).toBeNull();

    expect(byTestId(root, 'chart-row-legacy-ui').dataset.deprecated).toBe('true');
    expect(text(root, 'chart-deprecated-legacy-ui')).toBe('deprecated');
    expect(text(root, 'chart-latest-legacy-ui')).toBe('0.3.0');
    expect(text(root, 'chart-app-version-legacy-ui')).toBe('—');
    expect(text(root, 'chart-versions-legacy-ui')).toBe('1');
  });

  it('filters the charts by name or description', async () => {
    const { root } = await open(api(() => STABLE, charts));
    await waitFor(() => byTestId(root, 'chart-row-redis'));
    await typeInto(byTestId(root, 'repo-charts-filter'), 'MEMORY');
    expect(queryTestId(root, 'chart-row-redis')).not.toBeNull();
    expect(queryTestId(root, 'chart-row-legacy-ui')).toBeNull();
    await typeInto(byTestId(root, 'repo-charts-filter'), 'postgres');
    expect(text(root, 'repo-charts-none-match')).toBe('No chart matches “postgres”.');
  });

  it('Refresh posts with the CSRF token; a failed fetch shows its error and keeps the charts', async () => {
    await signIn(ROOT);
    const failed = {
      ...STABLE,
      last_error: 'cannot fetch https://charts.example.com/stable/index.yaml: operation timed out',
      failed_at: new Date().toISOString(),
    };
    let repo = STABLE;
    const { calls, root } = await open(
      api(
        () => repo,
        charts,
        (call) => {
          if (call.method === 'POST' && call.url === `${REPO}/refresh`) {
            repo = failed;
            return json(200, failed);
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'repo-refresh')));

    await waitFor(() =>
      expect(text(root, 'repo-error')).toBe(
        'Refreshing “stable” failed: cannot fetch https://charts.example.com/stable/index.yaml: operation timed out. The charts of the last good fetch are kept (2 charts · 3 versions).',
      ),
    );
    const post = calls.find((c) => c.method === 'POST');
    expect(post?.url).toBe(`${REPO}/refresh`);
    expect(post?.headers['x-csrf-token']).toBe('csrf-123');
    expect(post?.body).toBeUndefined();
    expect(text(root, 'repo-last-error')).toBe(`Failed just now ${failed.last_error}`);
    expect(byTestId(root, 'repo-last-error').querySelector('.status-bad')).not.toBeNull();
    // The charts of the last good fetch are still listed, and said to be.
    await waitFor(() => expect(text(root, 'repo-charts-count')).toBe('2 charts · 3 versions · from the last good fetch'));
    expect(queryTestId(root, 'chart-row-redis')).not.toBeNull();
    expect(queryTestId(root, 'repo-notice')).toBeNull();
  });

  it('Refresh that succeeds says so', async () => {
    const { root } = await open(
      api(
        () => STABLE,
        charts,
        (call) => (call.url === `${REPO}/refresh` ? json(200, { ...STABLE, charts: 2, versions: 4 }) : apiError(404, 'not_found', 'x')),
      ),
    );
    await click(await waitFor(() => byTestId(root, 'repo-refresh')));
    await waitFor(() => expect(text(root, 'repo-notice')).toBe('“stable” is refreshed: 2 charts · 4 versions.'));
  });

  it('says so when the repository is not there (404), and stops asking', async () => {
    const { calls, root } = await open(() => apiError(404, 'not_found', 'chart repository gone not found'), 'gone');
    await waitFor(() => expect(text(root, 'repo-gone')).toBe('Chart repository gone not found Back to the catalog'));
    expect(byTestId(root, 'repo-gone').querySelector('a')?.getAttribute('href')).toBe('/catalog');
    expect(requests(calls).sort()).toEqual([
      'GET /api/v1/catalog/repositories/gone',
      'GET /api/v1/catalog/repositories/gone/charts',
    ]);
    expect(queryTestId(root, 'repo-refresh')).toBeNull();
  });

  it('says so when the index lists no charts', async () => {
    const { root } = await open(api(() => ({ ...STABLE, charts: 0, versions: 0 }), () => []));
    await waitFor(() => expect(text(root, 'repo-charts-empty')).toBe('Its index lists no charts.'));
    expect(queryTestId(root, 'repo-charts-filter')).toBeNull();
  });
});
