import { useEffect, useState, type FormEvent } from 'react';
import { fetchAuthMethods, login, ssoLoginHref, type AuthMethods } from '../api';
import { describeError, formErrorMessage } from '../ui/format';
import { Banner } from '../ui/Banner';

export function Login({ next, onSignedIn }: { next: string; onSignedIn: () => Promise<void> }) {
  const [methods, setMethods] = useState<AuthMethods | null>(null);
  const [methodsError, setMethodsError] = useState<string | null>(null);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const controller = new AbortController();
    fetchAuthMethods({ signal: controller.signal }).then(
      (m) => setMethods(m),
      (err: unknown) => {
        if (!controller.signal.aborted) setMethodsError(describeError(err));
      },
    );
    return () => controller.abort();
  }, []);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (username.trim() === '' || password === '') {
      setError('Enter your user name and password.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await login(username.trim(), password);
      await onSignedIn();
    } catch (err) {
      setError(formErrorMessage(err));
      setBusy(false);
    }
  }

  return (
    <section className="card auth-card" aria-labelledby="login-title">
      <h1 className="auth-title" id="login-title">
        Sign in
      </h1>
      <p className="muted">to the Berth admin console</p>

      {methodsError && (
        <Banner tone="error" testId="error">{methodsError}</Banner>
      )}
      {methods === null && methodsError === null && <p className="muted">Loading…</p>}

      {methods?.setup_required && (
        <Banner
          tone="info"
          testId="setup-required"
          hint={
            <>
              It looks like <span className="mono">http://…/setup#token=…</span> and is valid for an hour; restart
              berthd for a new one.
            </>
          }
        >
          <strong>No admin yet:</strong> open the setup link berthd printed at start.
        </Banner>
      )}

      {methods?.sso && (
        <a className="btn btn-primary btn-block" data-testid="sso-login" href={ssoLoginHref(methods.sso, next)}>
          Sign in with {methods.sso.display_name}
        </a>
      )}

      {methods?.sso && methods.local && (
        <div className="divider" role="separator">
          <span>or with a local account</span>
        </div>
      )}

      {methods?.local && (
        <form className="form" onSubmit={(e) => void submit(e)} noValidate>
          <label className="field">
            <span className="field-label">User name</span>
            <input
              className="input"
              data-testid="login-username"
              name="username"
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              autoFocus
              value={username}
              onChange={(e) => setUsername(e.target.value)}
            />
          </label>
          <label className="field">
            <span className="field-label">Password</span>
            <input
              className="input"
              data-testid="login-password"
              name="password"
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          {error && (
            <p className="form-error" role="alert" data-testid="login-error">
              {error}
            </p>
          )}
          <button
            type="submit"
            className={`btn btn-block ${methods.sso ? 'btn-secondary' : 'btn-primary'}`}
            data-testid="login-submit"
            disabled={busy}
          >
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      )}

      {methods && !methods.local && error && (
        <p className="form-error" role="alert" data-testid="login-error">
          {error}
        </p>
      )}

      {methods && !methods.local && !methods.sso && (
        <Banner tone="error">No way to sign in is enabled: turn on local accounts or [auth.oidc] in berthd.toml.</Banner>
      )}
    </section>
  );
}
