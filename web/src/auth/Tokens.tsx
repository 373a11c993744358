import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { SCOPES, createToken, listTokens, revokeToken, type Scope, type Token, type TokenCreated, type Whoami } from '../api';
import { describeError, formErrorMessage, formatDateTime, formatRelative, isPast, kindLabel } from '../ui/format';
import { Banner } from '../ui/Banner';
import { ListStateRows } from '../ui/TableParts';

const DEFAULT_EXPIRY_DAYS = 90;

export function Tokens({ me }: { me: Whoami }) {
  const isAdmin = me.user.role === 'admin';
  const [all, setAll] = useState(false);
  const [tokens, setTokens] = useState<Token[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [created, setCreated] = useState<TokenCreated | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busyId, setBusyId] = useState<string | null>(null);
  const now = new Date();

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const list = await listTokens({ all }, { signal });
        setTokens(list);
        setLoadError(null);
      } catch (err) {
        if (!signal?.aborted) setLoadError(describeError(err));
      }
    },
    [all],
  );

  useEffect(() => {
    const controller = new AbortController();
    setTokens(null);
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  async function revoke(token: Token) {
    setBusyId(token.id);
    setActionError(null);
    try {
      await revokeToken(token.id);
      setTokens((list) => list?.filter((t) => t.id !== token.id) ?? null);
      if (created?.token.id === token.id) setCreated(null);
    } catch (err) {
      setActionError(`Revoking “${token.name}” failed: ${formErrorMessage(err)}`);
    } finally {
      setBusyId(null);
      setConfirming(null);
    }
  }

  const columns = all ? 9 : 8;

  return (
    <>
      <div className="page-header">
        <h1>Tokens</h1>
        <p className="muted">Personal access tokens for the API and the berth CLI</p>
      </div>

      <CreateToken
        onCreated={(c) => {
          setCreated(c);
          setActionError(null);
          // Your new token belongs in both lists (yours and everyone's).
          setTokens((list) => (list ? [c.token, ...list] : list));
        }}
      />

      {created && <NewSecret created={created} onDone={() => setCreated(null)} />}

      {loadError && (
        <Banner tone="error" testId="error">{loadError}</Banner>
      )}
      {actionError && (
        <Banner tone="error" testId="tokens-error">{actionError}</Banner>
      )}

      <section className="card card-flush" aria-labelledby="tokens-title">
        <div className="card-head">
          <h2 className="card-title" id="tokens-title">
            {all ? 'All users’ tokens' : 'Your tokens'}
          </h2>
          {isAdmin && (
            <label className="toggle">
              <input type="checkbox" data-testid="tokens-all" checked={all} onChange={(e) => setAll(e.target.checked)} />
              All users’ tokens
            </label>
          )}
        </div>
        <div className="table-scroll">
          <table className="table table-data">
            <thead>
              <tr>
                <th scope="col">Name</th>
                {all && <th scope="col">Owner</th>}
                <th scope="col">Prefix</th>
                <th scope="col">Scopes</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">Kind</th>
                <th scope="col" className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens?.map((token) => {
                const expired = isPast(token.expires_at, now);
                const busy = busyId === token.id;
                return (
                  <tr key={token.id} data-testid={`token-row-${token.name}`} className={expired ? 'row-muted' : undefined}>
                    <td className="cell-main">{token.name}</td>
                    {all && <td className="mono">{token.username}</td>}
                    <td className="mono">{token.prefix}…</td>
                    <td>
                      <div className="chips">
                        {token.scopes.map((s) => (
                          <span key={s} className="chip">
                            {s}
                          </span>
                        ))}
                      </div>
                    </td>
                    <td title={formatDateTime(token.created_at, '')}>{formatDateTime(token.created_at)}</td>
                    <td title={formatDateTime(token.expires_at, '')}>
                      {expired ? (
                        <span className="status status-bad">Expired</span>
                      ) : (
                        formatRelative(token.expires_at, now, 'Never')
                      )}
                    </td>
                    <td title={formatDateTime(token.last_used_at, '')}>{formatRelative(token.last_used_at, now, 'Never')}</td>
                    <td className="muted">{kindLabel(token.kind)}</td>
                    <td className="col-actions">
                      {confirming === token.id ? (
                        <div className="confirm">
                          <span>Revoke?</span>
                          <button
                            type="button"
                            className="btn btn-small btn-danger"
                            data-testid={`token-revoke-confirm-${token.name}`}
                            disabled={busy}
                            onClick={() => void revoke(token)}
                          >
                            Revoke
                          </button>
                          <button type="button" className="btn btn-small" onClick={() => setConfirming(null)}>
                            Cancel
                          </button>
                        </div>
                      ) : (
                        <button
                          type="button"
                          className="btn btn-small btn-danger-outline"
                          data-testid={`token-revoke-${token.name}`}
                          onClick={() => setConfirming(token.id)}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
              <ListStateRows
                items={tokens}
                failed={loadError !== null}
                columns={columns}
                empty={all ? 'Nobody has a token.' : 'You have no tokens yet.'}
                unknown="Tokens unknown."
              />
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

function CreateToken({ onCreated }: { onCreated: (created: TokenCreated) => void }) {
  const [name, setName] = useState('');
  const [days, setDays] = useState(String(DEFAULT_EXPIRY_DAYS));
  const [scopes, setScopes] = useState<Set<Scope>>(() => new Set(SCOPES));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const trimmed = name.trim();
    if (trimmed === '') {
      setError('Give the token a name, e.g. the machine or script that will use it.');
      return;
    }
    const expires = Number(days);
    if (!Number.isInteger(expires) || expires < 1) {
      setError('The lifetime must be a whole number of days, at least 1.');
      return;
    }
    if (scopes.size === 0) {
      setError('Pick at least one scope.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const created = await createToken({
        name: trimmed,
        expires_in_days: expires,
        scopes: SCOPES.filter((s) => scopes.has(s)),
      });
      onCreated(created);
      setName('');
    } catch (err) {
      setError(formErrorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  function toggle(scope: Scope, on: boolean) {
    setScopes((prev) => {
      const next = new Set(prev);
      if (on) next.add(scope);
      else next.delete(scope);
      return next;
    });
  }

  return (
    <section className="card" aria-labelledby="create-token-title">
      <h2 className="card-title" id="create-token-title">
        New token
      </h2>
      <form className="form-row" onSubmit={(e) => void submit(e)} noValidate>
        <label className="field field-grow">
          <span className="field-label">Name</span>
          <input
            className="input"
            data-testid="token-name"
            placeholder="e.g. laptop, ci-deploy"
            maxLength={100}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </label>
        <label className="field field-days">
          <span className="field-label">Expires in (days)</span>
          <input
            className="input"
            data-testid="token-days"
            type="number"
            min={1}
            step={1}
            value={days}
            onChange={(e) => setDays(e.target.value)}
          />
        </label>
        <div className="field field-scopes" role="group" aria-labelledby="token-scopes-label">
          <span className="field-label" id="token-scopes-label">
            Scopes
          </span>
          <div className="checks">
            {SCOPES.map((scope) => (
              <label key={scope} className="check">
                <input
                  type="checkbox"
                  data-testid={`token-scope-${scope}`}
                  checked={scopes.has(scope)}
                  onChange={(e) => toggle(scope, e.target.checked)}
                />
                {scope}
              </label>
            ))}
          </div>
        </div>
        <button type="submit" className="btn btn-primary" data-testid="token-create" disabled={busy}>
          {busy ? 'Creating…' : 'Create token'}
        </button>
      </form>
      {error && (
        <p className="form-error" role="alert" data-testid="token-error">
          {error}
        </p>
      )}
    </section>
  );
}

function NewSecret({ created, onDone }: { created: TokenCreated; onDone: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const secretRef = useRef<HTMLElement>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopied('yes');
    } catch {
      // No clipboard access (plain http on another host, or denied): select it for a manual copy.
      const el = secretRef.current;
      if (el) window.getSelection()?.selectAllChildren(el);
      setCopied('no');
    }
  }

  return (
    <section className="card card-secret" role="status" aria-labelledby="new-secret-title" data-testid="new-token">
      <h2 className="secret-title" id="new-secret-title">
        Token <span className="mono">{created.token.name}</span> created
      </h2>
      <p className="secret-warning">
        <strong>Copy it now: it will not be shown again.</strong> Berth keeps only a hash of it.
      </p>
      <div className="secret-row">
        <code className="secret" data-testid="new-token-secret" ref={secretRef}>
          {created.secret}
        </code>
        <button type="button" className="btn btn-primary" data-testid="copy-token-secret" onClick={() => void copy()}>
          {copied === 'yes' ? 'Copied' : 'Copy'}
        </button>
      </div>
      {copied === 'no' && <p className="muted">The clipboard is not available here: the secret is selected, press Ctrl+C.</p>}
      <div>
        <button type="button" className="btn" data-testid="new-token-done" onClick={onDone}>
          I have copied it
        </button>
      </div>
    </section>
  );
}
