// The console's pages and their paths. Pure: no React, no window, so it is unit-tested directly.

export type Route =
  | 'overview'
  | 'login'
  | 'setup'
  | 'spaces'
  | 'space'
  | 'sessions'
  | 'catalog'
  | 'repository'
  | 'item'
  | 'users'
  | 'tokens'
  | 'audit'
  | 'sso';

/**
 * The pages with one fixed path. `space` is `/spaces/<name>` (see `spacePath`),
 * `repository` is `/catalog/repositories/<name>` (see `repositoryPath`), `item`
 * is `/catalog/items/<name>` (see `itemPath`).
 */
export type FixedRoute = Exclude<Route, 'space' | 'repository' | 'item'>;

export const ROUTE_PATHS: Record<FixedRoute, string> = {
  overview: '/',
  login: '/login',
  setup: '/setup',
  spaces: '/spaces',
  sessions: '/sessions',
  catalog: '/catalog',
  users: '/users',
  tokens: '/tokens',
  audit: '/audit',
  sso: '/settings/sso',
};

/** The page for a path; unknown paths show the Overview. A trailing slash is ignored. */
export function routeOf(pathname: string): Route {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  for (const [route, routePath] of Object.entries(ROUTE_PATHS) as [FixedRoute, string][]) {
    if (routePath === path) return route;
  }
  if (spaceNameOf(path) !== null) return 'space';
  if (repositoryNameOf(path) !== null) return 'repository';
  if (itemNameOf(path) !== null) return 'item';
  return 'overview';
}

/** The console path of one space: `/spaces/<name>`, the name escaped. */
export function spacePath(name: string): string {
  return `${ROUTE_PATHS.spaces}/${encodeURIComponent(name)}`;
}

/** The space name in `/spaces/<name>` (a trailing slash ignored), or `null` for any other path. */
export function spaceNameOf(pathname: string): string | null {
  const match = /^\/spaces\/([^/]+)\/*$/.exec(pathname);
  if (!match?.[1]) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

/** The console path of one chart repository of the catalog: `/catalog/repositories/<name>`, the name escaped. */
export function repositoryPath(name: string): string {
  return `${ROUTE_PATHS.catalog}/repositories/${encodeURIComponent(name)}`;
}

/** The repository name in `/catalog/repositories/<name>` (a trailing slash ignored), or `null` for any other path. */
export function repositoryNameOf(pathname: string): string | null {
  const match = /^\/catalog\/repositories\/([^/]+)\/*$/.exec(pathname);
  if (!match?.[1]) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

/**
 * The console path of one catalog item: `/catalog/items/<name>`, the name
 * escaped; with `?space=` when it is to be installed into that space.
 */
export function itemPath(name: string, space?: string | null): string {
  const path = `${ROUTE_PATHS.catalog}/items/${encodeURIComponent(name)}`;
  return space ? `${path}?space=${encodeURIComponent(space)}` : path;
}

/** The item name in `/catalog/items/<name>` (a trailing slash ignored), or `null` for any other path. */
export function itemNameOf(pathname: string): string | null {
  const match = /^\/catalog\/items\/([^/]+)\/*$/.exec(pathname);
  if (!match?.[1]) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

/** The Catalog page; with `?space=` when its items are to be installed into that space. */
export function catalogPath(space?: string | null): string {
  return space ? `${ROUTE_PATHS.catalog}?space=${encodeURIComponent(space)}` : ROUTE_PATHS.catalog;
}

/** The space a Catalog page's query string names to install into (`?space=`), or `null`. */
export function spaceFromSearch(search: string): string | null {
  const space = new URLSearchParams(search).get('space')?.trim();
  return space ? space : null;
}

/** The navigation entry a page belongs to: a space's page is under Spaces, a repository's and an item's under Catalog. */
export function navRouteOf(route: Route): FixedRoute {
  if (route === 'space') return 'spaces';
  if (route === 'repository' || route === 'item') return 'catalog';
  return route;
}

/**
 * Pages only admins see in the navigation (the daemon enforces it too). The
 * Catalog and its items are for everyone; its chart repositories are not.
 */
export const ADMIN_ROUTES: ReadonlySet<Route> = new Set<Route>(['users', 'sso', 'repository']);

/** Pages for admins and auditors (the daemon enforces it too). */
export const AUDITOR_ROUTES: ReadonlySet<Route> = new Set<Route>(['audit']);

/** The roles that may open a page; `null` for every signed-in user. */
export function routeRoles(route: Route): readonly string[] | null {
  if (ADMIN_ROUTES.has(route)) return ['admin'];
  if (AUDITOR_ROUTES.has(route)) return ['admin', 'auditor'];
  return null;
}

/** Whether a user with this role may open (and sees in the navigation) a page. */
export function canOpen(route: Route, role: string): boolean {
  const roles = routeRoles(route);
  return roles === null || roles.includes(role);
}

/**
 * A path to come back to after signing in, or `null`: only paths on this site
 * (never `//host` or `\`), and never the sign-in pages themselves.
 */
export function safeReturnPath(path: string | null | undefined): string | null {
  if (!path || !path.startsWith('/') || path.startsWith('//') || path.includes('\\')) return null;
  const route = routeOf(path.split(/[?#]/)[0] ?? '/');
  if (route === 'login' || route === 'setup') return null;
  return path;
}

/** `/login`, with `?next=` when there is somewhere worth coming back to. */
export function loginPath(next: string | null | undefined): string {
  const safe = safeReturnPath(next);
  return safe && safe !== '/' ? `/login?next=${encodeURIComponent(safe)}` : '/login';
}

/**
 * Whether `path` is served by berthd rather than the console (the hand-over
 * that signs a browser in to an endpoint's host): it needs a full page load.
 */
export function isServerPath(path: string): boolean {
  return path.startsWith('/auth/');
}

/** The `next` of a login page's query string, checked; `/` when absent or unsafe. */
export function nextFromSearch(search: string): string {
  return safeReturnPath(new URLSearchParams(search).get('next')) ?? '/';
}
