import { useEffect, useState, type FormEvent } from 'react';
import { fetchAuthMethods, setupFirstAdmin, type AuthMethods } from '../api';
import { MIN_PASSWORD_LENGTH, describeError, formErrorMessage, parseSetupToken, validateSetupForm } from '../ui/format';
import { Link } from '../router';
import { ROUTE_PATHS } from '../routes';
import { Banner } from '../ui/Banner';

/**
 * The first-admin form, opened from the link berthd prints while no user
 * exists: `<public_url>/setup#token=<secret>`. The secret lives in the URL
 * fragment, which browsers never send to a server; it is read once, kept in
 * memory and wiped from the address bar.
 */
export function Setup({ onSignedIn }: { onSignedIn: () => Promise<void> }) {
  const [token] = useState(() => parseSetupToken(window.location.hash));
  const [methods, setMethods] = useState<AuthMethods | null>(null);
  const [methodsError, setMethodsError] = useState<string | null>(null);
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    // Keep the secret out of the address bar, the history and screenshots.
    if (window.location.hash) window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}`);
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    fetchAuthMethods({ signal: controller.signal }).then(setMethods, (err: unknown) => {
      if (!controller.signal.aborted) setMethodsError(describeError(err));
    });
    return () => controller.abort();
  }, []);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!token) return;
    const form = { username: username.trim(), password, email: email.trim() };
    const invalid = validateSetupForm(form);
    if (invalid) {
      setError(invalid);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await setupFirstAdmin({ setup_token: token, ...form });
      await onSignedIn();
    } catch (err) {
      setError(formErrorMessage(err));
      setBusy(false);
    }
  }

  const alreadySetUp = methods !== null && !methods.setup_required;

  if (alreadySetUp) {
    return (
      <section className="card auth-card" aria-labelledby="setup-title">
        <h1 className="auth-title" id="setup-title">
          Berth is already set up
        </h1>
        <p className="muted" data-testid="setup-done">
          An account exists, so the setup link is no longer needed.
        </p>
        <Link to={ROUTE_PATHS.login} className="btn btn-primary btn-block">
          Go to sign-in
        </Link>
      </section>
    );
  }

  return (
    <section className="card auth-card" aria-labelledby="setup-title">
      <h1 className="auth-title" id="setup-title">
        Create the first admin
      </h1>
      <p className="muted">This account manages users, tokens and single sign-on.</p>

      {methodsError && (
        <Banner tone="error" testId="error">{methodsError}</Banner>
      )}

      {!token ? (
        <Banner
          tone="error"
          testId="setup-error"
          hint={
            <>
              Open the whole link, including the part after <span className="mono">#token=</span>.
            </>
          }
        >
          This page needs the setup link berthd printed at start.
        </Banner>
      ) : (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate>
          <label className="field">
            <span className="field-label">User name</span>
            <input
              className="input"
              data-testid="setup-username"
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              placeholder="admin"
              autoFocus
              value={username}
              onChange={(e) => setUsername(e.target.value)}
            />
            <span className="field-hint">Lowercase letters, digits, “.”, “_” and “-”.</span>
          </label>
          <label className="field">
            <span className="field-label">
              Email <span className="muted">(optional)</span>
            </span>
            <input
              className="input"
              data-testid="setup-email"
              name="email"
              type="email"
              autoComplete="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </label>
          <label className="field">
            <span className="field-label">Password</span>
            <input
              className="input"
              data-testid="setup-password"
              name="password"
              type="password"
              autoComplete="new-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
            <span className="field-hint">At least {MIN_PASSWORD_LENGTH} characters.</span>
          </label>
          {error && (
            <p className="form-error" role="alert" data-testid="setup-error">
              {error}
            </p>
          )}
          <button type="submit" className="btn btn-primary btn-block" data-testid="setup-submit" disabled={busy}>
            {busy ? 'Creating…' : 'Create admin and sign in'}
          </button>
        </form>
      )}
    </section>
  );
}
