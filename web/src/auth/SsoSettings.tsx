import { useEffect, useState, type FormEvent } from 'react';
import {
  fetchAuthMethods,
  fetchMapping,
  previewMapping,
  saveMapping,
  type MappingPreview,
  type MappingRules,
} from '../api';
import {
  describeError,
  formErrorMessage,
  formatGroupList,
  parseGroupList,
  parsePreviewInput,
  roleLabel,
  sameGroupLists,
} from '../ui/format';
import { Banner } from '../ui/Banner';

const EXAMPLE_CLAIMS = `{
  "issuer": "https://idp.example.com",
  "subject": "alice",
  "username": "alice",
  "email": "alice@example.com",
  "email_verified": true,
  "name": "Alice",
  "groups": ["berth-admins", "dev"]
}`;

function sameRules(a: MappingRules, b: MappingRules): boolean {
  return sameGroupLists(a.admin_groups, b.admin_groups) && sameGroupLists(a.auditor_groups, b.auditor_groups);
}

type Loaded = { state: 'loading' } | { state: 'not-configured' } | { state: 'error'; message: string } | { state: 'ready'; saved: MappingRules };

export function SsoSettings() {
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const [adminText, setAdminText] = useState('');
  const [auditorText, setAuditorText] = useState('');
  const [saveError, setSaveError] = useState<string | null>(null);
  const [saved, setSavedNotice] = useState(false);
  const [saving, setSaving] = useState(false);

  useEffect(() => {
    const controller = new AbortController();
    // berthd keeps (and serves) a mapping even without [auth.oidc]; the sign-in
    // methods say whether single sign-on is actually configured.
    const { signal } = controller;
    Promise.all([fetchAuthMethods({ signal }), fetchMapping({ signal })]).then(
      ([methods, rules]) => {
        if (methods.sso === null || rules === null) {
          setLoaded({ state: 'not-configured' });
          return;
        }
        setLoaded({ state: 'ready', saved: rules });
        setAdminText(formatGroupList(rules.admin_groups));
        setAuditorText(formatGroupList(rules.auditor_groups));
      },
      (err: unknown) => {
        if (!controller.signal.aborted) setLoaded({ state: 'error', message: describeError(err) });
      },
    );
    return () => controller.abort();
  }, []);

  const edited: MappingRules = { admin_groups: parseGroupList(adminText), auditor_groups: parseGroupList(auditorText) };
  const dirty = loaded.state === 'ready' && !sameRules(edited, loaded.saved);

  async function save(event: FormEvent) {
    event.preventDefault();
    setSaving(true);
    setSaveError(null);
    setSavedNotice(false);
    try {
      const rules = await saveMapping(edited);
      setLoaded({ state: 'ready', saved: rules });
      setAdminText(formatGroupList(rules.admin_groups));
      setAuditorText(formatGroupList(rules.auditor_groups));
      setSavedNotice(true);
    } catch (err) {
      setSaveError(formErrorMessage(err));
    } finally {
      setSaving(false);
    }
  }

  function reset() {
    if (loaded.state !== 'ready') return;
    setAdminText(formatGroupList(loaded.saved.admin_groups));
    setAuditorText(formatGroupList(loaded.saved.auditor_groups));
    setSaveError(null);
  }

  return (
    <>
      <div className="page-header">
        <h1>SSO settings</h1>
        <p className="muted">Which identity-provider groups make an admin or an auditor</p>
      </div>

      {loaded.state === 'loading' && <p className="muted">Loading…</p>}

      {loaded.state === 'error' && (
        <Banner tone="error" testId="error">{loaded.message}</Banner>
      )}

      {loaded.state === 'not-configured' && (
        <section className="card" data-testid="sso-not-configured">
          <h2 className="card-title">Single sign-on is not configured</h2>
          <p>
            Add an <span className="mono">[auth.oidc]</span> section to <span className="mono">berthd.toml</span> (issuer
            URL, client id, client secret file) and restart berthd; the group mapping can then be edited here.
          </p>
          <p className="muted">
            Register <span className="mono">{window.location.origin}/auth/oidc/callback</span> as the redirect URI at the
            identity provider.
          </p>
        </section>
      )}

      {loaded.state === 'ready' && (
        <>
          <section className="card" aria-labelledby="mapping-title">
            <div className="card-head">
              <h2 className="card-title" id="mapping-title">
                Group mapping
              </h2>
              {dirty ? (
                <span className="badge badge-warn" data-testid="mapping-dirty">
                  Unsaved changes
                </span>
              ) : (
                saved && (
                  <span className="badge badge-ok" data-testid="mapping-saved">
                    Saved
                  </span>
                )
              )}
            </div>
            <p className="muted">
              One group per line. The highest role any of a user’s groups maps to wins; a user in none of them is a
              member. Changes apply at each user’s next sign-in, and never to roles an admin set by hand.
            </p>
            <form className="form" onSubmit={(e) => void save(e)}>
              <div className="form-columns">
                <label className="field">
                  <span className="field-label">Admin groups</span>
                  <textarea
                    className="input textarea mono"
                    data-testid="mapping-admin-groups"
                    rows={5}
                    spellCheck={false}
                    placeholder="platform-admins"
                    value={adminText}
                    onChange={(e) => {
                      setAdminText(e.target.value);
                      setSavedNotice(false);
                    }}
                  />
                </label>
                <label className="field">
                  <span className="field-label">Auditor groups</span>
                  <textarea
                    className="input textarea mono"
                    data-testid="mapping-auditor-groups"
                    rows={5}
                    spellCheck={false}
                    placeholder="security"
                    value={auditorText}
                    onChange={(e) => {
                      setAuditorText(e.target.value);
                      setSavedNotice(false);
                    }}
                  />
                </label>
              </div>
              {saveError && (
                <p className="form-error" role="alert" data-testid="mapping-error">
                  {saveError}
                </p>
              )}
              <div className="form-actions">
                <button type="submit" className="btn btn-primary" data-testid="mapping-save" disabled={!dirty || saving}>
                  {saving ? 'Saving…' : 'Save'}
                </button>
                <button type="button" className="btn" onClick={reset} disabled={!dirty || saving}>
                  Discard changes
                </button>
              </div>
            </form>
          </section>

          <DryRun rules={edited} dirty={dirty} />
        </>
      )}
    </>
  );
}

function DryRun({ rules, dirty }: { rules: MappingRules; dirty: boolean }) {
  const [input, setInput] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ preview: MappingPreview; rules: MappingRules; dirty: boolean } | null>(null);

  async function run(event: FormEvent) {
    event.preventDefault();
    const parsed = parsePreviewInput(input);
    if (!parsed.ok) {
      setError(parsed.error);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const preview = await previewMapping({ ...parsed.request, rules });
      setResult({ preview, rules, dirty });
    } catch (err) {
      setResult(null);
      setError(formErrorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  const stale = result !== null && !sameRules(result.rules, rules);

  return (
    <section className="card" aria-labelledby="dry-run-title">
      <h2 className="card-title" id="dry-run-title">
        Dry run
      </h2>
      <p className="muted">
        Paste an ID token from the provider (it is verified) or a claim set as JSON, and see what signing in would do
        under the rules above{dirty ? ', including your unsaved changes' : ''}. Nothing is changed.
      </p>
      <form className="form" onSubmit={(e) => void run(e)} noValidate>
        <textarea
          className="input textarea mono"
          data-testid="preview-input"
          aria-label="ID token or JSON claim set"
          rows={8}
          spellCheck={false}
          placeholder={'eyJhbGciOi…  or  { "issuer": "…", "subject": "…", "username": "…", "groups": ["…"] }'}
          value={input}
          onChange={(e) => setInput(e.target.value)}
        />
        {error && (
          <p className="form-error" role="alert" data-testid="preview-error">
            {error}
          </p>
        )}
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" data-testid="preview-run" disabled={busy}>
            {busy ? 'Checking…' : 'Preview'}
          </button>
          <button type="button" className="btn" data-testid="preview-example" onClick={() => setInput(EXAMPLE_CLAIMS)}>
            Example claim set
          </button>
        </div>
      </form>

      {result && <PreviewResult preview={result.preview} againstUnsaved={result.dirty} stale={stale} />}
    </section>
  );
}

function PreviewResult({ preview, againstUnsaved, stale }: { preview: MappingPreview; againstUnsaved: boolean; stale: boolean }) {
  const existing = preview.existing_user;
  const roleChanges = existing !== null && preview.role !== null && existing.role !== preview.role;
  const groups = preview.claims.groups;
  return (
    <div className="preview" data-testid="preview-result">
      <p className="muted preview-basis">
        Result against the {againstUnsaved ? 'edited (unsaved)' : 'saved'} rules
        {stale && <strong className="preview-stale"> · the rules changed since: run it again</strong>}
      </p>
      <dl className="facts">
        <dt>Sign-in</dt>
        <dd data-testid="preview-allowed">
          {preview.allowed ? (
            <span className="badge badge-ok">Allowed</span>
          ) : (
            <>
              <span className="badge badge-bad">Refused</span>{' '}
              <span data-testid="preview-refusal">{preview.refusal}</span>
            </>
          )}
        </dd>
        <dt>User name</dt>
        <dd className="mono" data-testid="preview-username">
          {preview.username ?? <span className="muted">none usable</span>}
        </dd>
        <dt>Role</dt>
        <dd data-testid="preview-role">
          {preview.role === null ? (
            <span className="muted">—</span>
          ) : roleChanges ? (
            <>
              {roleLabel(existing.role)} → <strong>{roleLabel(preview.role)}</strong>
            </>
          ) : (
            <strong>{roleLabel(preview.role)}</strong>
          )}
        </dd>
        <dt>Existing user</dt>
        <dd data-testid="preview-existing">
          {existing ? (
            <>
              <span className="mono">{existing.username}</span>{' '}
              <span className="muted">
                ({roleLabel(existing.role)}
                {existing.disabled ? ', disabled' : ''})
              </span>
            </>
          ) : (
            <span className="muted">No: the account would be created at first sign-in</span>
          )}
        </dd>
        <dt>Groups</dt>
        <dd>
          {groups == null ? (
            <span className="muted">no groups claim</span>
          ) : groups.length === 0 ? (
            <span className="muted">none</span>
          ) : (
            <div className="chips">
              {groups.map((g) => (
                <span key={g} className="chip">
                  {g}
                </span>
              ))}
            </div>
          )}
        </dd>
      </dl>
      {preview.warnings.length > 0 && (
        <div className="banner banner-warn" data-testid="preview-warnings">
          {preview.warnings.map((w) => (
            <p key={w}>⚠ {w}</p>
          ))}
        </div>
      )}
    </div>
  );
}
