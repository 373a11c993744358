import { describe, expect, it } from 'vitest';
import {
  ROUTE_PATHS,
  canOpen,
  catalogPath,
  itemNameOf,
  itemPath,
  loginPath,
  navRouteOf,
  isServerPath,
  nextFromSearch,
  repositoryNameOf,
  repositoryPath,
  routeOf,
  routeRoles,
  safeReturnPath,
  spaceFromSearch,
  spaceNameOf,
  spacePath,
} from './routes';

describe('routeOf', () => {
  it.each([
    ['/', 'overview'],
    ['/login', 'login'],
    ['/setup', 'setup'],
    ['/users', 'users'],
    ['/users/', 'users'],
    ['/tokens', 'tokens'],
    ['/settings/sso', 'sso'],
    ['/audit', 'audit'],
    ['/audit/', 'audit'],
    ['/spaces', 'spaces'],
    ['/spaces/', 'spaces'],
    ['/spaces/alpha', 'space'],
    ['/spaces/alpha/', 'space'],
    ['/spaces/team-1', 'space'],
    ['/spaces/alpha/objects', 'overview'],
    ['/spaces/%E0%A4%A', 'overview'],
    ['/sessions', 'sessions'],
    ['/sessions/', 'sessions'],
    ['/sessions/s-1', 'overview'],
    ['/catalog', 'catalog'],
    ['/catalog/', 'catalog'],
    ['/catalog/repositories/stable', 'repository'],
    ['/catalog/repositories/stable/', 'repository'],
    ['/catalog/repositories', 'overview'],
    ['/catalog/stable', 'overview'],
    ['/catalog/repositories/stable/charts', 'overview'],
    ['/catalog/items/redis', 'item'],
    ['/catalog/items/redis/', 'item'],
    ['/catalog/items', 'overview'],
    ['/catalog/items/redis/install', 'overview'],
    ['/settings', 'overview'],
    ['/nope', 'overview'],
    ['/USERS', 'overview'],
  ])('%j -> %j', (path, route) => {
    expect(routeOf(path)).toBe(route);
  });
});

describe('safeReturnPath', () => {
  it.each([
    ['/users', '/users'],
    ['/tokens?all=1', '/tokens?all=1'],
    ['/spaces/alpha', '/spaces/alpha'],
    ['/sessions', '/sessions'],
    ['/catalog/repositories/stable', '/catalog/repositories/stable'],
    ['/audit?action=token.&outcome=denied', '/audit?action=token.&outcome=denied'],
    ['/', '/'],
    ['//evil.example.com/x', null],
    ['/\\evil.example.com', null],
    ['https://evil.example.com/', null],
    ['users', null],
    ['/login', null],
    ['/login?next=/users', null],
    ['/setup', null],
    ['', null],
    [null, null],
    [undefined, null],
  ])('%j -> %j', (path, safe) => {
    expect(safeReturnPath(path)).toBe(safe);
  });
});

describe('loginPath and nextFromSearch', () => {
  it('carries where to come back to', () => {
    expect(loginPath('/settings/sso')).toBe('/login?next=%2Fsettings%2Fsso');
    expect(nextFromSearch('?next=%2Fsettings%2Fsso')).toBe('/settings/sso');
  });

  it('keeps the endpoint sign-in hand-over, which berthd serves', () => {
    const next = '/auth/endpoint?host=web-dev.localhost&path=%2F';
    expect(nextFromSearch(`?next=${encodeURIComponent(next)}`)).toBe(next);
    expect(isServerPath(next)).toBe(true);
    expect(isServerPath('/spaces/dev')).toBe(false);
  });

  it('leaves out the overview and unsafe paths', () => {
    expect(loginPath('/')).toBe('/login');
    expect(loginPath('//evil.example.com')).toBe('/login');
    expect(loginPath('/login')).toBe('/login');
    expect(nextFromSearch('')).toBe('/');
    expect(nextFromSearch('?next=https%3A%2F%2Fevil.example.com')).toBe('/');
  });
});

describe('canOpen', () => {
  it.each([
    ['overview', 'member', true],
    ['tokens', 'member', true],
    ['users', 'member', false],
    ['users', 'auditor', false],
    ['users', 'admin', true],
    ['sso', 'auditor', false],
    ['sso', 'admin', true],
    ['audit', 'member', false],
    ['audit', 'auditor', true],
    ['audit', 'admin', true],
    ['audit', 'owner', false],
    ['spaces', 'member', true],
    ['spaces', 'auditor', true],
    ['space', 'member', true],
    ['sessions', 'member', true],
    ['sessions', 'auditor', true],
    ['sessions', 'admin', true],
    ['catalog', 'admin', true],
    ['catalog', 'member', true],
    ['catalog', 'auditor', true],
    ['item', 'member', true],
    ['item', 'admin', true],
    ['repository', 'admin', true],
    ['repository', 'member', false],
    ['repository', 'auditor', false],
  ] as const)('%s for %s: %s', (route, role, allowed) => {
    expect(canOpen(route, role)).toBe(allowed);
  });

  it('names the roles a page is for', () => {
    expect(routeRoles('audit')).toEqual(['admin', 'auditor']);
    expect(routeRoles('users')).toEqual(['admin']);
    expect(routeRoles('tokens')).toBeNull();
    expect(routeRoles('sessions')).toBeNull();
    expect(routeRoles('catalog')).toBeNull();
    expect(routeRoles('item')).toBeNull();
    expect(routeRoles('repository')).toEqual(['admin']);
  });
});

describe('ROUTE_PATHS', () => {
  it('puts the dev sessions at /sessions', () => {
    expect(ROUTE_PATHS.sessions).toBe('/sessions');
    expect(routeOf(ROUTE_PATHS.sessions)).toBe('sessions');
  });
});

describe('space paths', () => {
  it('spacePath and spaceNameOf go both ways, escaping the name', () => {
    expect(spacePath('alpha')).toBe('/spaces/alpha');
    expect(spaceNameOf('/spaces/alpha')).toBe('alpha');
    expect(spacePath('a b/c')).toBe('/spaces/a%20b%2Fc');
    expect(spaceNameOf(spacePath('a b/c'))).toBe('a b/c');
  });

  it.each([['/spaces'], ['/spaces/'], ['/spaces/a/b'], ['/users/alpha'], ['/spaces/%E0%A4%A']])('%j is no space page', (path) => {
    expect(spaceNameOf(path)).toBeNull();
  });

  it('puts a space page under Spaces in the navigation', () => {
    expect(navRouteOf('space')).toBe('spaces');
    expect(navRouteOf('spaces')).toBe('spaces');
    expect(navRouteOf('users')).toBe('users');
    expect(navRouteOf('sessions')).toBe('sessions');
  });
});

describe('repository paths', () => {
  it('repositoryPath and repositoryNameOf go both ways, escaping the name', () => {
    expect(ROUTE_PATHS.catalog).toBe('/catalog');
    expect(repositoryPath('stable')).toBe('/catalog/repositories/stable');
    expect(repositoryNameOf('/catalog/repositories/stable')).toBe('stable');
    expect(repositoryPath('a b/c')).toBe('/catalog/repositories/a%20b%2Fc');
    expect(repositoryNameOf(repositoryPath('a b/c'))).toBe('a b/c');
  });

  it.each([['/catalog'], ['/catalog/repositories'], ['/catalog/repositories/a/b'], ['/spaces/stable'], ['/catalog/repositories/%E0%A4%A']])(
    '%j is no repository page',
    (path) => {
      expect(repositoryNameOf(path)).toBeNull();
    },
  );

  it('puts a repository page under Catalog in the navigation', () => {
    expect(navRouteOf('repository')).toBe('catalog');
    expect(navRouteOf('catalog')).toBe('catalog');
  });
});

describe('item paths', () => {
  it('itemPath and itemNameOf go both ways, escaping the name; the space to install into rides along', () => {
    expect(itemPath('redis')).toBe('/catalog/items/redis');
    expect(itemNameOf('/catalog/items/redis')).toBe('redis');
    expect(itemPath('a b/c')).toBe('/catalog/items/a%20b%2Fc');
    expect(itemNameOf(itemPath('a b/c'))).toBe('a b/c');
    expect(itemPath('redis', 'team a')).toBe('/catalog/items/redis?space=team%20a');
    expect(itemPath('redis', null)).toBe('/catalog/items/redis');
  });

  it.each([['/catalog'], ['/catalog/items'], ['/catalog/items/a/b'], ['/catalog/repositories/redis'], ['/catalog/items/%E0%A4%A']])(
    '%j is no item page',
    (path) => {
      expect(itemNameOf(path)).toBeNull();
    },
  );

  it('puts an item page under Catalog in the navigation', () => {
    expect(navRouteOf('item')).toBe('catalog');
  });

  it('catalogPath and spaceFromSearch carry the space to install into', () => {
    expect(catalogPath('alpha')).toBe('/catalog?space=alpha');
    expect(catalogPath(null)).toBe('/catalog');
    expect(spaceFromSearch('?space=team%20a')).toBe('team a');
    expect(spaceFromSearch('?space=')).toBeNull();
    expect(spaceFromSearch('')).toBeNull();
  });
});
