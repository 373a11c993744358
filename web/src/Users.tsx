import { useCallback, useEffect, useState } from 'react';
import { ROLES, listUsers, updateUser, type KnownRole, type User, type Whoami } from './api';
import {
  GROUPS_CLAIM_MISSING,
  describeError,
  formErrorMessage,
  formatDateTime,
  formatRelative,
  kindLabel,
  roleLabel,
  roleSourceLabel,
  userStatus,
} from './format';

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

      {loadError && (
        <div className="banner banner-error" role="alert" data-testid="error">
          <p>{loadError}</p>
        </div>
      )}
      {actionError && (
        <div className="banner banner-error" role="alert" data-testid="users-error">
          <p>{actionError}</p>
        </div>
      )}
      {notice && (
        <div className="banner banner-ok" role="status" data-testid="users-notice">
          <p>{notice}</p>
        </div>
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
              {users?.length === 0 && (
                <tr>
                  <td colSpan={8} className="muted empty">
                    No users.
                  </td>
                </tr>
              )}
              {users === null && (
                <tr>
                  <td colSpan={8} className="muted empty">
                    {loadError ? 'Users unknown.' : 'Loading…'}
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
