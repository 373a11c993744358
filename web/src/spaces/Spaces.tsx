import { Fragment, useRef, useState, type FormEvent } from 'react';
import {
  createSpace,
  deleteSpace,
  listSpaces,
  sleepSpace,
  wakeSpace,
  type SpaceView,
  type Whoami,
} from '../api';
import { PageBanners } from '../ui/Banner';
import { CountedCardHead } from '../ui/CardHead';
import { usePolledList } from '../ui/polling';
import { formErrorMessage, formatClock, formatDateTime } from '../ui/format';
import { Link } from '../router';
import { spacePath } from '../routes';
import { DeleteSpaceConfirm, PhaseBadge } from './SpaceParts';
import { ListStateRows } from '../ui/TableParts';
import {
  SPACES_POLL_MS,
  canManageSpace,
  isAdmin,
  isSelf,
  isTerminating,
  memberName,
  newSpaceProblem,
  quotaItems,
  sleepsLabel,
  withSpace,
  workloadsOnTheWay,
} from './model';

const COLUMNS = 8;

type Action = 'sleep' | 'wake' | 'delete';

const ACTIONS: Record<Action, { call: (name: string) => Promise<SpaceView>; verb: string; done: (name: string) => string }> = {
  sleep: { call: (n) => sleepSpace(n), verb: 'Putting to sleep', done: (n) => `“${n}” is going to sleep.` },
  wake: { call: (n) => wakeSpace(n), verb: 'Waking', done: (n) => `“${n}” is waking up.` },
  delete: {
    call: (n) => deleteSpace(n),
    verb: 'Deleting',
    done: (n) => `“${n}” is being deleted; it leaves the list once its namespace is gone.`,
  },
};

export function Spaces({ me }: { me: Whoami }) {
  const admin = isAdmin(me);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const now = new Date();

  // The list, then again every SPACES_POLL_MS after the previous answer (not while the tab is hidden).
  // Only the answer to the latest request counts (see ui/polling.ts).
  const {
    items: spaces,
    setItems: setSpaces,
    loadError,
    checkedAt,
    load,
    latest,
  } = usePolledList(listSpaces, SPACES_POLL_MS);
  const mounted = latest.mounted;

  /** Puts the daemon's answer in the list at once; any request still in flight is now stale. */
  function show(space: SpaceView) {
    latest.supersede();
    setSpaces((list) => withSpace(list, space.name, space));
  }

  async function run(space: SpaceView, action: Action) {
    const { call, verb, done } = ACTIONS[action];
    setBusy(space.name);
    setActionError(null);
    setNotice(null);
    try {
      const updated = await call(space.name);
      if (!mounted.current) return;
      show(updated);
      setNotice(done(space.name));
      if (action === 'delete') setConfirming(null);
    } catch (err) {
      if (!mounted.current) return;
      setActionError(`${verb} “${space.name}” failed: ${formErrorMessage(err)}`);
    } finally {
      if (mounted.current) setBusy(null);
    }
    void load();
  }

  return (
    <>
      <div className="page-header">
        <h1>Spaces</h1>
        <p className="muted">
          {admin ? 'Every space' : 'The spaces you are a member of'}
          {checkedAt ? ` · checked ${formatClock(checkedAt)}, refreshes every ${SPACES_POLL_MS / 1000} s` : ''}
        </p>
      </div>

      <NewSpace
        onSubmit={() => {
          setActionError(null);
          setNotice(null);
        }}
        onCreated={(space) => {
          show(space);
          void load();
        }}
      />

      <PageBanners
        loadError={loadError}
        actionError={actionError}
        notice={notice}
        pollMs={SPACES_POLL_MS}
        testIdPrefix="spaces"
      />

      <section className="card card-flush" aria-labelledby="spaces-title">
        <CountedCardHead
          titleId="spaces-title"
          title={admin ? 'All spaces' : 'Your spaces'}
          items={spaces}
          one="space"
          many="spaces"
          countTestId="spaces-count"
        />
        <div className="table-scroll">
          <table className="table table-data table-spaces">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Phase</th>
                <th scope="col">Owner</th>
                <th scope="col">Members</th>
                <th scope="col">Quota used</th>
                <th scope="col">Awake or asleep</th>
                <th scope="col">Sleeps</th>
                <th scope="col" className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {spaces?.map((space) => {
                const terminating = isTerminating(space);
                const rowBusy = busy === space.name;
                const quota = quotaItems(space.status.quota);
                const asleep = space.wakefulness.asleep;
                const onTheWay = workloadsOnTheWay(space);
                return (
                  <Fragment key={space.name}>
                    <tr
                      data-testid={`space-row-${space.name}`}
                      data-phase={space.status.phase}
                      className={terminating ? 'row-muted' : undefined}
                    >
                      <td>
                        <div className="cell-main">
                          <Link to={spacePath(space.name)} className="mono" data-testid={`space-link-${space.name}`}>
                            {space.name}
                          </Link>
                        </div>
                        {(space.personal || space.persistent) && (
                          <div className="cell-tags">
                            {space.personal && <span className="tag">personal</span>}
                            {space.persistent && <span className="tag">persistent</span>}
                          </div>
                        )}
                      </td>
                      <td>
                        <PhaseBadge phase={space.status.phase} testId={`space-phase-${space.name}`} />
                      </td>
                      <td data-testid={`space-owner-${space.name}`}>
                        <div className="cell-main">
                          <span className="mono">{memberName(space.owner)}</span>
                          {isSelf(space.owner, me) && <span className="tag">you</span>}
                        </div>
                      </td>
                      <td data-testid={`space-members-${space.name}`}>{space.members.length}</td>
                      <td
                        className="col-quota mono"
                        data-testid={`space-quota-${space.name}`}
                        title={space.status.quota.profile ? `Quota profile ${space.status.quota.profile}` : undefined}
                      >
                        {quota.length > 0 ? (
                          // One resource a line at most: "pods 3/50," never breaks inside.
                          quota.map((item, i) => (
                            <span key={item} className="quota-item">
                              {i < quota.length - 1 ? `${item},` : item}
                            </span>
                          ))
                        ) : (
                          <span className="muted">—</span>
                        )}
                      </td>
                      <td className="col-reason" data-testid={`space-wakefulness-${space.name}`}>
                        {onTheWay ? (
                          <span className="status status-warn">{onTheWay.label}</span>
                        ) : (
                          <span className={`status ${asleep ? 'status-neutral' : 'status-ok'}`}>
                            {asleep ? 'Asleep' : 'Awake'}
                          </span>
                        )}
                        {space.wakefulness.reason && <div className="cell-sub muted">{space.wakefulness.reason}</div>}
                        {onTheWay && (
                          <div className="cell-sub" title={onTheWay.detail} data-testid={`space-wakefulness-progress-${space.name}`}>
                            {onTheWay.progress}
                          </div>
                        )}
                      </td>
                      <td
                        data-testid={`space-sleeps-at-${space.name}`}
                        title={space.sleeps_at ? formatDateTime(space.sleeps_at) : undefined}
                      >
                        {sleepsLabel(space, now)}
                      </td>
                      <td className="col-actions">
                        <div className="row-actions">
                          {asleep ? (
                            <button
                              type="button"
                              className="btn btn-small"
                              data-testid={`space-wake-${space.name}`}
                              disabled={rowBusy || terminating}
                              onClick={() => void run(space, 'wake')}
                            >
                              Wake
                            </button>
                          ) : (
                            <button
                              type="button"
                              className="btn btn-small"
                              data-testid={`space-sleep-${space.name}`}
                              disabled={rowBusy || terminating}
                              title="Scale its workloads to zero now"
                              onClick={() => void run(space, 'sleep')}
                            >
                              Sleep
                            </button>
                          )}
                          {canManageSpace(space, me) && (
                            <button
                              type="button"
                              className="btn btn-small btn-danger-outline"
                              data-testid={`space-delete-${space.name}`}
                              disabled={rowBusy || terminating || confirming === space.name}
                              title={terminating ? 'Already being deleted' : undefined}
                              onClick={() => setConfirming(space.name)}
                            >
                              Delete
                            </button>
                          )}
                        </div>
                      </td>
                    </tr>
                    {confirming === space.name && (
                      <tr className="confirm-row">
                        <td colSpan={COLUMNS}>
                          <DeleteSpaceConfirm
                            name={space.name}
                            busy={rowBusy}
                            testIdSuffix={`-${space.name}`}
                            onConfirm={() => void run(space, 'delete')}
                            onCancel={() => setConfirming(null)}
                          />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
              <ListStateRows
                items={spaces}
                failed={loadError !== null}
                columns={COLUMNS}
                empty={admin ? 'There are no spaces yet.' : 'You are not in any space yet: create one above.'}
                emptyTestId="spaces-empty"
                unknown="Spaces unknown."
              />
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

/** "New space": a name and whether it is persistent. The daemon checks the name and the per-user limit. */
function NewSpace({ onSubmit, onCreated }: { onSubmit: () => void; onCreated: (space: SpaceView) => void }) {
  const [name, setName] = useState('');
  const [persistent, setPersistent] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setCreated(null);
    const trimmed = name.trim();
    const problem = newSpaceProblem(trimmed);
    if (problem) {
      setError(problem);
      nameRef.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    onSubmit();
    try {
      const space = await createSpace({ name: trimmed, persistent });
      setName('');
      setPersistent(false);
      setCreated(space.name);
      onCreated(space);
    } catch (err) {
      setError(formErrorMessage(err));
      nameRef.current?.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="new-space-title">
      <h2 className="card-title" id="new-space-title">
        New space
      </h2>
      <form className="form-row" onSubmit={(e) => void submit(e)} noValidate data-testid="space-new-form">
        <label className="field field-grow">
          <span className="field-label">Name</span>
          <input
            ref={nameRef}
            className="input mono"
            data-testid="space-new-name"
            name="name"
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            placeholder="e.g. alice-dev"
            maxLength={63}
            aria-invalid={error ? true : undefined}
            aria-describedby="new-space-hint"
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              setError(null);
              setCreated(null);
            }}
          />
        </label>
        <label className="check check-field" title="Persistent spaces never sleep and are never deleted for idleness">
          <input
            type="checkbox"
            data-testid="space-new-persistent"
            checked={persistent}
            onChange={(e) => setPersistent(e.target.checked)}
          />
          Persistent
        </label>
        <button type="submit" className="btn btn-primary" data-testid="space-new-submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create space'}
        </button>
      </form>
      <p className="field-hint" id="new-space-hint">
        Lowercase letters, digits and “-”, up to 63: it becomes the namespace’s name. A persistent space never
        sleeps and is never deleted for idleness.
      </p>
      {error && (
        <p className="form-error" role="alert" data-testid="space-new-error">
          {error}
        </p>
      )}
      {created && (
        <p className="form-ok" role="status" data-testid="space-new-created">
          Space <Link to={spacePath(created)} className="mono">{created}</Link> created.
        </p>
      )}
    </section>
  );
}
