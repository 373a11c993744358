import { useCallback, useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { ROLES, createLocalUser, listUsers, updateUser, type KnownRole, type User, type Whoami } from '../api';
import {
  GROUPS_CLAIM_MISSING,
  MIN_PASSWORD_LENGTH,
  describeError,
  formErrorMessage,
  formatDateTime,
  formatRelative,
  hasFormErrors,
  kindLabel,
  roleLabel,
  roleSourceLabel,
  userStatus,
  validateNewUserForm,
  type NewUserForm,
} from '../ui/format';
import { Banner } from '../ui/Banner';
import { ListStateRows } from '../ui/TableParts';

export function Users({ me }: { me: Whoami }) {
  const [users, setUsers] = useState<User[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busyId, setBusyId] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const now = new Date();

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const list = await listUsers({ signal });
      setUsers(list);
      setLoadError(null);
    } catch (err) {
      if (!signal?.aborted) setLoadError(describeError(err));
    }
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  async function change(user: User, patch: { role?: KnownRole; disabled?: boolean }, done: string) {
    setBusyId(user.id);
    setActionError(null);
    setNotice(null);
    try {
      const updated = await updateUser(user.id, patch);
      setUsers((list) => list?.map((u) => (u.id === updated.id ? updated : u)) ?? null);
      setNotice(done);
    } catch (err) {
      setActionError(`${user.username}: ${formErrorMessage(err)}`);
    } finally {
      setBusyId(null);
      setConfirming(null);
    }
  }

  return (
    <>
      <div className="page-header">
        <h1>Users</h1>
        <p className="muted">
          {users ? `${users.length} ${users.length === 1 ? 'account' : 'accounts'}` : 'Loading…'} · SSO users appear
          after their first sign-in
        </p>
      </div>

      <NewLocalUser
        onSubmit={() => {
          setActionError(null);
          setNotice(null);
        }}
        onCreated={() => void load()}
      />

      {loadError && (
        <Banner tone="error" testId="error">{loadError}</Banner>
      )}
      {actionError && (
        <Banner tone="error" testId="users-error">{actionError}</Banner>
      )}
      {notice && (
        <Banner tone="ok" testId="users-notice">{notice}</Banner>
      )}

      <section className="card card-flush" aria-label="Users">
        <div className="table-scroll">
          <table className="table table-data">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Kind</th>
                <th scope="col">Role</th>
                <th scope="col">Role source</th>
                <th scope="col">Status</th>
                <th scope="col">Last sign-in</th>
                <th scope="col" className="col-groups">
                  Groups
                </th>
                <th scope="col" className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users?.map((user) => {
                const self = user.id === me.user.id;
                const status = userStatus(user);
                const busy = busyId === user.id;
                const lockedWhy = self ? 'You cannot change your own account; ask another admin.' : undefined;
                return (
                  <tr key={user.id} data-testid={`user-row-${user.username}`} className={user.disabled ? 'row-muted' : undefined}>
                    <td>
                      <div className="cell-main">
                        <span className="mono">{user.username}</span>
                        {self && <span className="tag">you</span>}
                      </div>
                      {user.display_name && (
                        <div className="cell-sub muted" title={user.display_name}>
                          {user.display_name}
                        </div>
                      )}
                      {user.email && (
                        <div className="cell-sub muted" title={user.email}>
                          {user.email}
                        </div>
                      )}
                    </td>
                    <td>{kindLabel(user.kind)}</td>
                    <td>
                      <select
                        className="select select-small"
                        aria-label={`Role of ${user.username}`}
                        data-testid={`user-role-${user.username}`}
                        value={user.role}
                        disabled={self || busy}
                        title={lockedWhy}
                        onChange={(e) => {
                          const role = e.target.value as KnownRole;
                          void change(user, { role }, `${user.username} is now ${roleLabel(role).toLowerCase()}.`);
                        }}
                      >
                        {!(ROLES as readonly string[]).includes(user.role) && (
                          <option value={user.role}>{roleLabel(user.role)}</option>
                        )}
                        {ROLES.map((role) => (
                          <option key={role} value={role}>
                            {roleLabel(role)}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td className="muted">{roleSourceLabel(user.role_source)}</td>
                    <td>
                      <span className={`status status-${status.tone}`} data-testid={`user-status-${user.username}`}>
                        {status.label}
                      </span>
                    </td>
                    <td title={formatDateTime(user.last_login_at, '')}>
                      {formatRelative(user.last_login_at, now, 'Never')}
                    </td>
                    <td className="col-groups">
                      {user.groups.length > 0 ? (
                        <div className="chips">
                          {user.groups.map((g) => (
                            <span key={g} className="chip">
                              {g}
                            </span>
                          ))}
                        </div>
                      ) : (
                        !user.groups_claim_missing && <span className="muted">—</span>
                      )}
                      {user.groups_claim_missing && (
                        <div className="warn-marker" data-testid={`groups-claim-missing-${user.username}`} title={GROUPS_CLAIM_MISSING}>
                          <span aria-hidden="true">⚠</span> {GROUPS_CLAIM_MISSING}
                        </div>
                      )}
                    </td>
                    <td className="col-actions">
                      {confirming === user.id ? (
                        <div className="confirm-stacked" data-testid={`user-confirm-${user.username}`}>
                          <span>{user.disabled ? `Enable ${user.username}?` : `Disable ${user.username}?`}</span>
                          <div className="confirm">
                            <button
                              type="button"
                              className={`btn btn-small ${user.disabled ? 'btn-primary' : 'btn-danger'}`}
                              data-testid={`user-confirm-yes-${user.username}`}
                              disabled={busy}
                              onClick={() =>
                                void change(
                                  user,
                                  { disabled: !user.disabled },
                                  user.disabled
                                    ? `${user.username} is enabled again.`
                                    : `${user.username} is disabled; their sessions and tokens are revoked.`,
                                )
                              }
                            >
                              {user.disabled ? 'Enable' : 'Disable'}
                            </button>
                            <button type="button" className="btn btn-small" onClick={() => setConfirming(null)}>
                              Cancel
                            </button>
                          </div>
                        </div>
                      ) : (
                        <button
                          type="button"
                          className={`btn btn-small ${user.disabled ? '' : 'btn-danger-outline'}`}
                          data-testid={`user-toggle-${user.username}`}
                          disabled={self || busy}
                          title={lockedWhy ?? (user.disabled ? undefined : 'Also ends their sessions and revokes their tokens')}
                          onClick={() => setConfirming(user.id)}
                        >
                          {user.disabled ? 'Enable' : 'Disable'}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
              <ListStateRows
                items={users}
                failed={loadError !== null}
                columns={8}
                empty="No users."
                unknown="Users unknown."
              />
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

const EMPTY_FORM: NewUserForm = { username: '', password: '', email: '' };

/** "New local account": a collapsible form; the daemon checks everything again. */
function NewLocalUser({ onSubmit, onCreated }: { onSubmit: () => void; onCreated: (user: User) => void }) {
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState<NewUserForm>(EMPTY_FORM);
  const [role, setRole] = useState<KnownRole>('member');
  // Field messages appear after the first submit, then follow the typing.
  const [checked, setChecked] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<User | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const usernameRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);
  const emailRef = useRef<HTMLInputElement>(null);

  const cleaned: NewUserForm = { username: form.username.trim(), password: form.password, email: form.email.trim() };
  const fieldErrors = checked ? validateNewUserForm(cleaned) : {};

  function reset() {
    setForm(EMPTY_FORM);
    setRole('member');
    setChecked(false);
    setError(null);
  }

  function edit(field: keyof NewUserForm, value: string) {
    setForm((f) => ({ ...f, [field]: value }));
    setError(null);
    setCreated(null);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setChecked(true);
    setCreated(null);
    const invalid = validateNewUserForm(cleaned);
    if (hasFormErrors(invalid)) {
      const first = invalid.username ? usernameRef : invalid.password ? passwordRef : emailRef;
      first.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    onSubmit();
    try {
      const user = await createLocalUser({ ...cleaned, role });
      reset();
      setCreated(user);
      onCreated(user);
      usernameRef.current?.focus();
    } catch (err) {
      setError(formErrorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  const describedBy = (field: keyof NewUserForm, hint: boolean) =>
    fieldErrors[field] ? `${id}-${field}-error` : hint ? `${id}-${field}-hint` : undefined;

  return (
    <section className="card" aria-labelledby={`${id}-title`}>
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id={`${id}-title`}>
            Local accounts
          </h2>
          <span className="muted card-head-note">Sign in with a user name and password instead of single sign-on</span>
        </div>
        <button
          type="button"
          className={`btn btn-small ${open ? '' : 'btn-primary'}`}
          data-testid="new-user-toggle"
          aria-expanded={open}
          aria-controls={`${id}-form`}
          onClick={() => {
            if (open) reset();
            setCreated(null);
            setOpen(!open);
          }}
        >
          {open ? 'Close' : 'New local account'}
        </button>
      </div>
      {open && (
        <form
          id={`${id}-form`}
          className="form new-user-form"
          data-testid="new-user-form"
          onSubmit={(e) => void submit(e)}
          noValidate
        >
          <div className="new-user-fields">
            <label className="field">
              <span className="field-label">User name</span>
              <input
                ref={usernameRef}
                className="input"
                data-testid="new-user-username"
                name="username"
                autoComplete="off"
                autoCapitalize="none"
                spellCheck={false}
                placeholder="e.g. dana"
                maxLength={200}
                autoFocus
                aria-invalid={fieldErrors.username ? true : undefined}
                aria-describedby={describedBy('username', true)}
                value={form.username}
                onChange={(e) => edit('username', e.target.value)}
              />
              <FieldNote id={id} field="username" error={fieldErrors.username}>
                a–z, 0–9, “.”, “_” and “-”.
              </FieldNote>
            </label>
            <label className="field">
              <span className="field-label">Password</span>
              <input
                ref={passwordRef}
                className="input"
                data-testid="new-user-password"
                name="new-password"
                type="password"
                autoComplete="new-password"
                aria-invalid={fieldErrors.password ? true : undefined}
                aria-describedby={describedBy('password', true)}
                value={form.password}
                onChange={(e) => edit('password', e.target.value)}
              />
              <FieldNote id={id} field="password" error={fieldErrors.password}>
                At least {MIN_PASSWORD_LENGTH} characters.
              </FieldNote>
            </label>
            <label className="field">
              <span className="field-label">
                Email <span className="muted">(optional)</span>
              </span>
              <input
                ref={emailRef}
                className="input"
                data-testid="new-user-email"
                name="email"
                type="email"
                autoComplete="off"
                aria-invalid={fieldErrors.email ? true : undefined}
                aria-describedby={describedBy('email', false)}
                value={form.email}
                onChange={(e) => edit('email', e.target.value)}
              />
              <FieldNote id={id} field="email" error={fieldErrors.email} />
            </label>
            <label className="field">
              <span className="field-label">Role</span>
              <select
                className="select select-block"
                data-testid="new-user-role"
                name="role"
                value={role}
                onChange={(e) => {
                  setRole(e.target.value as KnownRole);
                  setError(null);
                }}
              >
                {ROLES.map((r) => (
                  <option key={r} value={r}>
                    {roleLabel(r)}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <div className="form-actions form-actions-split">
            <button type="submit" className="btn btn-primary" data-testid="new-user-submit" disabled={busy}>
              {busy ? 'Creating…' : 'Create account'}
            </button>
            {error && (
              <p className="form-error" role="alert" data-testid="new-user-error">
                {error}
              </p>
            )}
            {created && (
              <p className="form-ok" role="status" data-testid="new-user-created">
                <span className="mono">{created.username}</span> was created and can sign in as{' '}
                {roleLabel(created.role).toLowerCase()}.
              </p>
            )}
          </div>
        </form>
      )}
    </section>
  );
}

/** The message under a field: its problem when there is one, else the hint (if any). */
function FieldNote({
  id,
  field,
  error,
  children,
}: {
  id: string;
  field: keyof NewUserForm;
  error: string | undefined;
  children?: ReactNode;
}) {
  if (error) {
    return (
      <span className="field-error" id={`${id}-${field}-error`} data-testid={`new-user-${field}-error`}>
        {error}
      </span>
    );
  }
  if (!children) return null;
  return (
    <span className="field-hint" id={`${id}-${field}-hint`}>
      {children}
    </span>
  );
}
