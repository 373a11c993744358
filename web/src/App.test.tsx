// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { createElement } from 'react';
import type { Whoami } from './api';
import { App } from './App';
import {
  ALICE,
  DANA,
  ROOT,
  byTestId,
  charts,
  click,
  closePage,
  flush,
  itemView,
  json,
  openPage,
  queryTestId,
  repositoryView,
  sessionView,
  spaceView,
  text,
  waitFor,
} from './testing';

/** Opens the console at `path`, signed in as `me`. */
function open(me: Whoami, path: string) {
  return openPage(
    createElement(App),
    (call) => {
      if (call.url === '/api/v1/whoami') return json(200, me);
      if (call.url === '/api/v1/spaces') return json(200, [spaceView()]);
      if (call.url === '/api/v1/spaces/alpha') return json(200, spaceView());
      if (call.url === '/api/v1/spaces/alpha/objects') return json(200, []);
      if (call.url === '/api/v1/spaces/alpha/apps') return json(200, []);
      if (call.url === '/api/v1/sessions') return json(200, [sessionView()]);
      if (call.url === '/api/v1/catalog/repositories') return json(200, [repositoryView()]);
      if (call.url === '/api/v1/catalog/repositories/stable') return json(200, repositoryView());
      if (call.url === '/api/v1/catalog/repositories/stable/charts') return json(200, charts());
      if (call.url === '/api/v1/catalog/items') return json(200, [itemView()]);
      if (call.url === '/api/v1/catalog/items/redis') return json(200, itemView());
      if (call.url === '/api/v1/version') return json(200, { version: '0.1.0', api: 'v1' });
      if (call.url === '/readyz') return json(200, { ready: true, components: {} });
      return json(404, { error: { code: 'not_found', message: 'no such route' } });
    },
    path,
  );
}

afterEach(closePage);

describe('Spaces in the console', () => {
  it('every signed-in user has Spaces in the navigation', async () => {
    const { root } = await open(ALICE, '/');
    const link = await waitFor(() => byTestId(root, 'nav-spaces'));
    expect(link.getAttribute('href')).toBe('/spaces');
    expect(text(root, 'nav-spaces')).toBe('Spaces');
    // ...while the admins' pages stay hidden from members.
    expect(queryTestId(root, 'nav-users')).toBeNull();
  });

  it('/spaces shows the list, marked in the navigation', async () => {
    const { root } = await open(ROOT, '/spaces');
    await waitFor(() => byTestId(root, 'space-row-alpha'));
    expect(byTestId(root, 'nav-spaces').getAttribute('aria-current')).toBe('page');
  });

  it('/spaces/<name> shows that space, under Spaces in the navigation', async () => {
    const { calls, root } = await open(ALICE, '/spaces/alpha');
    await waitFor(() => expect(text(root, 'space-title')).toBe('alpha'));
    await waitFor(() => byTestId(root, 'space-owner'));
    expect(calls.map((c) => c.url)).toContain('/api/v1/spaces/alpha');
    expect(byTestId(root, 'nav-spaces').className).toContain('active');
  });
});

describe('Dev sessions in the console', () => {
  it('every signed-in user has Sessions in the navigation, after Spaces', async () => {
    const { root } = await open(ALICE, '/');
    const link = await waitFor(() => byTestId(root, 'nav-sessions'));
    expect(link.getAttribute('href')).toBe('/sessions');
    expect(text(root, 'nav-sessions')).toBe('Sessions');
    const nav = [...root.querySelectorAll('nav a')].map((a) => a.getAttribute('data-testid'));
    expect(nav.indexOf('nav-sessions')).toBe(nav.indexOf('nav-spaces') + 1);
  });

  it('/sessions shows the list, marked in the navigation', async () => {
    const { calls, root } = await open(ALICE, '/sessions');
    await waitFor(() => byTestId(root, 'session-row-s-a1'));
    expect(calls.map((c) => c.url)).toContain('/api/v1/sessions');
    expect(byTestId(root, 'nav-sessions').getAttribute('aria-current')).toBe('page');
    expect(byTestId(root, 'nav-spaces').className).not.toContain('active');
  });

  it('a session’s space links to the space’s page', async () => {
    const { root } = await open(ROOT, '/sessions');
    const link = await waitFor(() => byTestId(root, 'session-space-s-a1'));
    await click(link);
    await waitFor(() => expect(text(root, 'space-title')).toBe('alpha'));
    expect(window.location.pathname).toBe('/spaces/alpha');
  });
});

describe('Catalog in the console', () => {
  it('admins have Catalog in the navigation, after Sessions', async () => {
    const { root } = await open(ROOT, '/');
    const link = await waitFor(() => byTestId(root, 'nav-catalog'));
    expect(link.getAttribute('href')).toBe('/catalog');
    expect(text(root, 'nav-catalog')).toBe('Catalog');
    const nav = [...root.querySelectorAll('nav a')].map((a) => a.getAttribute('data-testid'));
    expect(nav.indexOf('nav-catalog')).toBe(nav.indexOf('nav-sessions') + 1);
  });

  it.each([
    ['members', ALICE],
    ['auditors', DANA],
  ])('%s have it too: /catalog lists the items, and never asks for the repositories', async (_who, me) => {
    const { calls, root } = await open(me, '/catalog');
    await waitFor(() => byTestId(root, 'item-redis'));
    expect(byTestId(root, 'nav-catalog').getAttribute('aria-current')).toBe('page');
    expect(queryTestId(root, 'not-allowed')).toBeNull();
    expect(queryTestId(root, 'repo-new-form')).toBeNull();
    await flush();
    expect(calls.map((c) => c.url).filter((u) => u.startsWith('/api/v1/catalog'))).toEqual(['/api/v1/catalog/items']);
  });

  it('an item links to its page, under Catalog in the navigation', async () => {
    const { calls, root } = await open(ALICE, '/catalog');
    await click(await waitFor(() => byTestId(root, 'item-link-redis')));
    await waitFor(() => byTestId(root, 'install-form'));
    expect(window.location.pathname).toBe('/catalog/items/redis');
    expect(text(root, 'item-title')).toBe('redis');
    expect(calls.map((c) => c.url)).toContain('/api/v1/catalog/items/redis');
    expect(byTestId(root, 'nav-catalog').getAttribute('aria-current')).toBe('true');
  });

  it('members opening a repository’s page see “Admins only” too', async () => {
    const { calls, root } = await open(ALICE, '/catalog/repositories/stable');
    await waitFor(() => byTestId(root, 'not-allowed'));
    await flush();
    expect(calls.map((c) => c.url).filter((u) => u.startsWith('/api/v1/catalog'))).toEqual([]);
  });

  it('/catalog lists the repositories, marked in the navigation, and a repository links to its charts', async () => {
    const { calls, root } = await open(ROOT, '/catalog');
    await waitFor(() => byTestId(root, 'repo-row-stable'));
    expect(calls.map((c) => c.url)).toContain('/api/v1/catalog/repositories');
    expect(byTestId(root, 'nav-catalog').getAttribute('aria-current')).toBe('page');

    await click(byTestId(root, 'repo-link-stable'));
    await waitFor(() => byTestId(root, 'chart-row-redis'));
    expect(window.location.pathname).toBe('/catalog/repositories/stable');
    expect(text(root, 'repo-title')).toBe('stable');
    // Under Catalog in the navigation.
    expect(byTestId(root, 'nav-catalog').className).toContain('active');
    expect(byTestId(root, 'nav-catalog').getAttribute('aria-current')).toBe('true');
  });
});
