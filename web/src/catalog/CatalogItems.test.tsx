// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { createElement } from 'react';
import type { ItemView, Whoami } from '../api';
import { Catalog } from './Catalog';
import {
  ALICE,
  ROOT,
  apiError,
  byTestId,
  choose,
  click,
  closePage,
  flush,
  itemView,
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

const REDIS = itemView({}, { icon: 'https://charts.example.com/icons/redis.png' });
/** Hidden from developers: only admins get it. */
const LEGACY = itemView(
  { chart_version: '0.3.0', app_version: null, chart_description: null, fields: [] },
  { name: 'legacy-ui', description: '', repository: 'stable', chart: 'legacy-ui', version: '0.3.0', values: {}, hidden: true },
);

const ITEMS = '/api/v1/catalog/items';
const REPOSITORIES = '/api/v1/catalog/repositories';

const open = (me: Whoami, handler: Handler, path = '/catalog') => openPage(createElement(Catalog, { me }), handler, path);

/** Answers the items with `items()`, the repositories with [stable], everything else with `other`. */
function api(items: () => ItemView[], other: Handler = noRoute): Handler {
  return (call) => {
    if (call.method === 'GET' && call.url === ITEMS) return json(200, items());
    if (call.method === 'GET' && call.url === REPOSITORIES) return json(200, [repositoryView(), repositoryView({ name: 'internal' })]);
    return other(call);
  };
}

afterEach(closePage);

describe('Catalog items for developers', () => {
  it('shows a card per item, each linking to its page, and none of the admins’ controls', async () => {
    const { calls, root } = await open(ALICE, api(() => [REDIS]));
    await waitFor(() => byTestId(root, 'item-redis'));

    expect(text(root, 'items-count')).toBe('1 item');
    expect(byTestId(root, 'item-link-redis').getAttribute('href')).toBe('/catalog/items/redis');
    expect(text(root, 'item-description-redis')).toBe('An in-memory store for caches and queues');
    expect(text(root, 'item-chart-redis')).toBe('stable/redis 1.10.0 · app 7.4');
    const icon = byTestId(root, 'item-redis').querySelector('img');
    expect(icon?.getAttribute('src')).toBe('https://charts.example.com/icons/redis.png');
    expect(text(root, 'catalog-subtitle')).toBe('What you may install into your spaces');

    // No "New item", no repositories: the admins' part of the page is not there, nor asked for.
    expect(queryTestId(root, 'item-new-toggle')).toBeNull();
    expect(queryTestId(root, 'repo-new-form')).toBeNull();
    expect(root.textContent).not.toContain('Chart repositories');
    await flush();
    expect(requests(calls)).toEqual([`GET ${ITEMS}`]);
  });

  it('never marks an item hidden for them (the daemon leaves hidden ones out anyway)', async () => {
    const { root } = await open(ALICE, api(() => [REDIS, LEGACY]));
    await waitFor(() => byTestId(root, 'item-legacy-ui'));
    expect(queryTestId(root, 'item-hidden-legacy-ui')).toBeNull();
    // The chart's own description stands in for an empty one; the initial for a missing icon.
    expect(text(root, 'item-description-legacy-ui')).toBe('No description.');
    expect(byTestId(root, 'item-legacy-ui').querySelector('img')).toBeNull();
  });

  it('opened from a space (?space=), says so and carries the space to the item pages', async () => {
    const { root } = await open(ALICE, api(() => [REDIS]), '/catalog?space=alpha');
    await waitFor(() => byTestId(root, 'item-redis'));
    expect(text(root, 'catalog-subtitle')).toBe('Pick what to install into alpha');
    expect(byTestId(root, 'item-link-redis').getAttribute('href')).toBe('/catalog/items/redis?space=alpha');
  });

  it('says when there is nothing to install, and why the list could not be read', async () => {
    const { root } = await open(ALICE, api(() => []));
    await waitFor(() => expect(text(root, 'items-empty')).toBe('Nothing to install yet: ask an admin to add items.'));

    const failed = await open(ALICE, () => apiError(500, 'internal', 'the store is down'));
    await waitFor(() => expect(text(failed.root, 'items-load-error')).toContain('the store is down'));
    expect(failed.root.textContent).toContain('Items unknown.');
  });
});

describe('Catalog items for admins', () => {
  it('marks hidden items, offers “New item” and keeps the repositories below', async () => {
    const { calls, root } = await open(ROOT, api(() => [LEGACY, REDIS]));
    await waitFor(() => byTestId(root, 'item-legacy-ui'));
    await waitFor(() => byTestId(root, 'repo-row-stable'));

    expect(text(root, 'item-hidden-legacy-ui')).toBe('Hidden');
    expect(byTestId(root, 'item-legacy-ui').dataset.hidden).toBe('true');
    expect(queryTestId(root, 'item-hidden-redis')).toBeNull();
    expect(queryTestId(root, 'item-new-toggle')).not.toBeNull();
    expect(queryTestId(root, 'repo-new-form')).not.toBeNull();
    expect(requests(calls)).toEqual(expect.arrayContaining([`GET ${ITEMS}`, `GET ${REPOSITORIES}`]));
  });

  it('“New item” posts the spec: repository picked from the catalog’s, values as JSON, parameters as a list', async () => {
    await signIn(ROOT);
    let items = [REDIS];
    const created = itemView(
      { chart_version: '15.2.0', app_version: '16.4', fields: [] },
      { name: 'postgres', description: 'A database', repository: 'internal', chart: 'postgresql', version: '^15', values: { primary: { persistence: { size: '1Gi' } } }, parameters: ['auth.password', 'primary.resources'], hidden: true },
    );
    const { calls, root } = await open(
      ROOT,
      api(
        () => items,
        (call) => {
          if (call.method === 'POST' && call.url === ITEMS) {
            items = [created, REDIS];
            return json(201, created);
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await click(await waitFor(() => byTestId(root, 'item-new-toggle')));
    // The repositories come from GET /api/v1/catalog/repositories.
    await waitFor(() => expect([...(byTestId(root, 'item-new-repository') as HTMLSelectElement).options].map((o) => o.value)).toEqual(['', 'stable', 'internal']));

    await typeInto(byTestId(root, 'item-new-name'), ' postgres ');
    await typeInto(byTestId(root, 'item-new-description'), 'A database');
    await choose(byTestId(root, 'item-new-repository'), 'internal');
    await typeInto(byTestId(root, 'item-new-chart'), 'postgresql');
    await typeInto(byTestId(root, 'item-new-version'), '^15');
    await typeInto(byTestId(root, 'item-new-values'), '{"primary": {"persistence": {"size": "1Gi"}}}');
    await typeInto(byTestId(root, 'item-new-parameters'), 'auth.password, primary.resources,');
    await click(byTestId(root, 'item-new-hidden'));
    await click(byTestId(root, 'item-new-submit'));

    await waitFor(() => byTestId(root, 'item-new-added'));
    const post = calls.find((c) => c.method === 'POST');
    expect(post?.url).toBe(ITEMS);
    expect(post?.headers['x-csrf-token']).toBe('csrf-123');
    expect(post?.body).toEqual({
      name: 'postgres',
      description: 'A database',
      icon: null,
      repository: 'internal',
      chart: 'postgresql',
      version: '^15',
      values: { primary: { persistence: { size: '1Gi' } } },
      parameters: ['auth.password', 'primary.resources'],
      hidden: true,
    });
    expect(text(root, 'items-notice')).toBe('“postgres” is in the catalog, hidden from developers.');
    await waitFor(() => expect(text(root, 'item-hidden-postgres')).toBe('Hidden'));
    // The form is empty again for the next one.
    expect((byTestId(root, 'item-new-name') as HTMLInputElement).value).toBe('');
  });

  it('“New item” shows the daemon’s 422 under the form and checks the values before sending', async () => {
    const message = 'values.replicas: 0 is less than the minimum of 1';
    const { calls, root } = await open(ROOT, api(() => [REDIS], () => apiError(422, 'invalid', message)));
    await click(await waitFor(() => byTestId(root, 'item-new-toggle')));
    await waitFor(() => expect((byTestId(root, 'item-new-repository') as HTMLSelectElement).options.length).toBe(3));
    await typeInto(byTestId(root, 'item-new-name'), 'redis2');
    await choose(byTestId(root, 'item-new-repository'), 'stable');
    await typeInto(byTestId(root, 'item-new-chart'), 'redis');

    await typeInto(byTestId(root, 'item-new-values'), '{"replicas": 0');
    await click(byTestId(root, 'item-new-submit'));
    expect(text(root, 'item-new-error')).toContain('The default values are not valid JSON');
    await flush();
    expect(calls.some((c) => c.method === 'POST')).toBe(false);

    await typeInto(byTestId(root, 'item-new-values'), '{"replicas": 0}');
    await click(byTestId(root, 'item-new-submit'));
    await waitFor(() => expect(text(root, 'item-new-error')).toBe('Values.replicas: 0 is less than the minimum of 1'));
    expect((byTestId(root, 'item-new-name') as HTMLInputElement).value).toBe('redis2');
    expect(queryTestId(root, 'item-new-added')).toBeNull();
  });
});
