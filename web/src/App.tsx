import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { fetchWhoami, isUnauthenticated, logout, onUnauthenticated, type Whoami } from './api';
import { AuditLog } from './audit/AuditLog';
import { Catalog } from './catalog/Catalog';
import { CatalogItem } from './catalog/CatalogItem';
import { describeError, roleLabel } from './ui/format';
import { Login } from './auth/Login';
import { Overview } from './overview/Overview';
import { Repository } from './catalog/Repository';
import { Link, navigate, useLocation } from './router';
import {
  ROUTE_PATHS,
  canOpen,
  isServerPath,
  itemNameOf,
  loginPath,
  navRouteOf,
  nextFromSearch,
  repositoryNameOf,
  routeOf,
  routeRoles,
  spaceNameOf,
  type FixedRoute,
  type Route,
} from './routes';
import { Sessions } from './sessions/Sessions';
import { Setup } from './auth/Setup';
import { Space } from './spaces/Space';
import { Spaces } from './spaces/Spaces';
import { SsoSettings } from './auth/SsoSettings';
import { Tokens } from './auth/Tokens';
import { Users } from './auth/Users';
import { Banner } from './ui/Banner';

type Session =
  | { status: 'loading' }
  | { status: 'signed-out' }
  | { status: 'signed-in'; me: Whoami }
  | { status: 'error'; message: string };

const NAV: { route: FixedRoute; label: string }[] = [
  { route: 'overview', label: 'Overview' },
  { route: 'spaces', label: 'Spaces' },
  { route: 'sessions', label: 'Sessions' },
  { route: 'catalog', label: 'Catalog' },
  { route: 'tokens', label: 'Tokens' },
  { route: 'users', label: 'Users' },
  { route: 'audit', label: 'Audit log' },
  { route: 'sso', label: 'SSO settings' },
];

export function App() {
  const { pathname, search } = useLocation();
  const route = routeOf(pathname);
  const [session, setSession] = useState<Session>({ status: 'loading' });

  /** Asks the daemon who we are (and so gets the CSRF token). */
  const loadSession = useCallback(async () => {
    try {
      const me = await fetchWhoami();
      setSession({ status: 'signed-in', me });
    } catch (err) {
      setSession(isUnauthenticated(err) ? { status: 'signed-out' } : { status: 'error', message: describeError(err) });
    }
  }, []);

  useEffect(() => {
    void loadSession();
  }, [loadSession]);

  // Any request that finds the session gone (expired, revoked, account disabled) signs the console out.
  useEffect(() => onUnauthenticated(() => setSession({ status: 'signed-out' })), []);

  useEffect(() => {
    if (route === 'setup') return;
    if (session.status === 'signed-out' && route !== 'login') {
      navigate(loginPath(`${pathname}${search}`), { replace: true });
    } else if (session.status === 'signed-in' && route === 'login') {
      const next = nextFromSearch(search);
      if (isServerPath(next)) window.location.replace(next);
      else navigate(next, { replace: true });
    }
  }, [session.status, route, pathname, search]);

  const signedIn = useCallback(async () => {
    await loadSession();
  }, [loadSession]);

  if (route === 'setup') {
    return (
      <AuthLayout>
        <Setup
          onSignedIn={async () => {
            await loadSession();
            navigate(ROUTE_PATHS.overview, { replace: true });
          }}
        />
      </AuthLayout>
    );
  }

  switch (session.status) {
    case 'loading':
      return (
        <AuthLayout>
          <p className="muted auth-loading">Loading…</p>
        </AuthLayout>
      );
    case 'error':
      return (
        <AuthLayout>
          <section className="card auth-card">
            <h1 className="auth-title">Berth is not answering</h1>
            <Banner tone="error" testId="error">{session.message}</Banner>
            <button
              type="button"
              className="btn btn-primary"
              onClick={() => {
                setSession({ status: 'loading' });
                void loadSession();
              }}
            >
              Try again
            </button>
          </section>
        </AuthLayout>
      );
    case 'signed-out':
      return (
        <AuthLayout>
          <Login next={route === 'login' ? nextFromSearch(search) : `${pathname}${search}`} onSignedIn={signedIn} />
        </AuthLayout>
      );
    case 'signed-in':
      return (
        <Shell
          me={session.me}
          route={route}
          pathname={pathname}
          onSignedOut={() => {
            setSession({ status: 'signed-out' });
            navigate(ROUTE_PATHS.login);
          }}
        />
      );
  }
}

function AuthLayout({ children }: { children: ReactNode }) {
  return (
    <div className="auth-page">
      <div className="auth-brand">
        <span className="brand-mark" aria-hidden="true">
          B
        </span>
        Berth
      </div>
      {children}
    </div>
  );
}

function Shell({
  me,
  route,
  pathname,
  onSignedOut,
}: {
  me: Whoami;
  route: Route;
  pathname: string;
  onSignedOut: () => void;
}) {
  const role = me.user.role;
  const [signOutError, setSignOutError] = useState<string | null>(null);
  const [signingOut, setSigningOut] = useState(false);

  async function signOut() {
    setSigningOut(true);
    setSignOutError(null);
    try {
      await logout();
      onSignedOut();
    } catch (err) {
      if (isUnauthenticated(err)) onSignedOut();
      else setSignOutError(describeError(err));
    } finally {
      setSigningOut(false);
    }
  }

  const allowed = canOpen(route, role);
  const current = navRouteOf(route);

  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">
          <span className="brand-mark" aria-hidden="true">
            B
          </span>
          Berth
        </span>
        <span className="topbar-sub">Admin console</span>
        <span className="topbar-spacer" />
        <span
          className="topbar-user"
          data-testid="current-user"
          title={[me.user.display_name, me.user.email].filter(Boolean).join(' · ') || undefined}
        >
          <span className="topbar-username">{me.user.username}</span>
          <span className="role-pill" data-role={me.user.role}>
            {roleLabel(me.user.role)}
          </span>
        </span>
        <button
          type="button"
          className="btn btn-topbar"
          data-testid="logout"
          onClick={() => void signOut()}
          disabled={signingOut}
        >
          Sign out
        </button>
      </header>
      <div className="layout">
        <nav className="sidenav" aria-label="Main">
          {NAV.filter((item) => canOpen(item.route, role)).map((item) => (
            <Link
              key={item.route}
              to={ROUTE_PATHS[item.route]}
              className={`sidenav-link${item.route === current ? ' active' : ''}`}
              aria-current={item.route === route ? 'page' : item.route === current ? 'true' : undefined}
              data-testid={`nav-${item.route}`}
            >
              {item.label}
            </Link>
          ))}
        </nav>
        <main className="content">
          {signOutError && (
            <Banner tone="error">Signing out failed: {signOutError}</Banner>
          )}
          {!allowed ? <NotAllowed route={route} /> : <Page route={route} pathname={pathname} me={me} />}
        </main>
      </div>
    </div>
  );
}

function Page({ route, pathname, me }: { route: Route; pathname: string; me: Whoami }) {
  switch (route) {
    case 'spaces':
      return <Spaces me={me} />;
    case 'space': {
      const name = spaceNameOf(pathname) ?? '';
      // A new page per space: nothing of one space's state carries over to the next.
      return <Space key={name} me={me} name={name} />;
    }
    case 'sessions':
      return <Sessions me={me} />;
    case 'catalog':
      return <Catalog me={me} />;
    case 'item': {
      const name = itemNameOf(pathname) ?? '';
      // A new page per item, as for spaces.
      return <CatalogItem key={name} me={me} name={name} />;
    }
    case 'repository': {
      const name = repositoryNameOf(pathname) ?? '';
      // A new page per repository, as for spaces.
      return <Repository key={name} name={name} />;
    }
    case 'users':
      return <Users me={me} />;
    case 'tokens':
      return <Tokens me={me} />;
    case 'audit':
      return <AuditLog />;
    case 'sso':
      return <SsoSettings />;
    default:
      return <Overview me={me} />;
  }
}

/** The page for a signed-in user whose role may not open it ("Admins only", "Admins and auditors only"). */
function NotAllowed({ route }: { route: Route }) {
  const roles = routeRoles(route) ?? [];
  const auditors = roles.includes('auditor');
  return (
    <>
      <div className="page-header">
        <h1>{auditors ? 'Admins and auditors only' : 'Admins only'}</h1>
      </div>
      <section className="card" data-testid="not-allowed">
        <p>
          {auditors
            ? 'This page is for admins and auditors. Ask an admin if you need access.'
            : 'This page is for admins. Ask an admin if you need access.'}
        </p>
        <p>
          <Link to={ROUTE_PATHS.overview}>Back to the overview</Link>
        </p>
      </section>
    </>
  );
}
