import { Fragment, useCallback, useRef, useState, type FormEvent } from 'react';
import {
  deleteSpace,
  fetchSpace,
  isNotFound,
  listApps,
  listDev,
  listEndpoints,
  listSpaceObjects,
  listWorkloads,
  shareSpace,
  sleepSpace,
  stopDev,
  uninstallApp,
  unshareSpace,
  upgradeApp,
  wakeSpace,
  type AppView,
  type DevView,
  type EndpointView,
  type SpaceMember,
  type SpaceObject,
  type SpaceView,
  type UpgradeRequest,
  type Whoami,
  type WorkloadView,
} from '../api';
import { APPS_POLL_MS, anyInProgress, appBusyKey, withApp } from '../apps/model';
import { CardError, PageBanners } from '../ui/Banner';
import { useLatest, usePolling } from '../ui/polling';
import { describeError, formErrorMessage, formatDateTime, formatRelative } from '../ui/format';
import { navigate } from '../router';
import { ROUTE_PATHS } from '../routes';
import { withoutDevMark, withoutDevTarget } from './dev';
import { DevTargets, Workloads, devBusyKey } from './SpaceDev';
import { Endpoints } from './SpaceEndpoints';
import { Applications } from '../apps/SpaceApps';
import { GoneBanner, PARENTS, RecordHeader, RecordPending } from '../ui/RecordPage';
import { DeleteSpaceConfirm, PhaseBadge } from './SpaceParts';
import { ExpanderCell, ListStateRows, useExpanded } from '../ui/TableParts';
import {
  SPACES_POLL_MS,
  canManageSpace,
  canRemoveMember,
  deletedAtLabel,
  formatObjectJson,
  isAdmin,
  isSelf,
  isTerminating,
  labelPairs,
  memberName,
  objectKey,
  quotaRows,
  sleepsLabel,
  onTheWaySentence,
  spaceRoleLabel,
  wakefulnessSentence,
  workloadsOnTheWay,
} from './model';

/** The page of one space: `/spaces/<name>`. */
export function Space({ me, name }: { me: Whoami; name: string }) {
  const [space, setSpace] = useState<SpaceView | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  /** The daemon no longer knows the space (404): deleted, or never yours to see. */
  const [gone, setGone] = useState<{ deleted: boolean; message: string } | null>(null);
  const [objects, setObjects] = useState<SpaceObject[] | null>(null);
  const [objectsError, setObjectsError] = useState<string | null>(null);
  const [devs, setDevs] = useState<DevView[] | null>(null);
  const [devsError, setDevsError] = useState<string | null>(null);
  const [workloads, setWorkloads] = useState<WorkloadView[] | null>(null);
  const [workloadsError, setWorkloadsError] = useState<string | null>(null);
  const [endpoints, setEndpoints] = useState<EndpointView[] | null>(null);
  const [endpointsError, setEndpointsError] = useState<string | null>(null);
  const [apps, setApps] = useState<AppView[] | null>(null);
  const [appsError, setAppsError] = useState<string | null>(null);
  const [checkedAt, setCheckedAt] = useState<Date | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  const now = new Date();

  // Only the latest answer counts (see Spaces.tsx); `wasTerminating` tells "deleted" from "not found".
  const latest = useLatest();
  const mounted = latest.mounted;
  const wasTerminating = useRef(false);

  /**
   * Reads the space, its objects, its targets in dev mode, its workloads and
   * its applications; `false` once the space is gone (no point asking again).
   */
  const load = useCallback(
    async (signal?: AbortSignal): Promise<boolean> => {
      const mine = latest.begin();
      const stale = () => !latest.current(mine, signal);
      const [spaceResult, objectsResult, devsResult, workloadsResult, appsResult, endpointsResult] =
        await Promise.allSettled([
          fetchSpace(name, { signal }),
          listSpaceObjects(name, { signal }),
          listDev(name, { signal }),
          listWorkloads(name, { signal }),
          listApps(name, { signal }),
          listEndpoints(name, { signal }),
        ]);
      if (stale()) return true;
      if (spaceResult.status === 'fulfilled') {
        setSpace(spaceResult.value);
        wasTerminating.current = isTerminating(spaceResult.value);
        setLoadError(null);
        setCheckedAt(new Date());
      } else if (isNotFound(spaceResult.reason)) {
        setGone({ deleted: wasTerminating.current, message: formErrorMessage(spaceResult.reason) });
        setLoadError(null);
        return false;
      } else {
        setLoadError(describeError(spaceResult.reason));
      }
      if (objectsResult.status === 'fulfilled') {
        setObjects(objectsResult.value);
        setObjectsError(null);
      } else {
        setObjectsError(describeError(objectsResult.reason));
      }
      if (devsResult.status === 'fulfilled') {
        setDevs(devsResult.value);
        setDevsError(null);
      } else {
        setDevsError(describeError(devsResult.reason));
      }
      if (workloadsResult.status === 'fulfilled') {
        setWorkloads(workloadsResult.value);
        setWorkloadsError(null);
      } else {
        setWorkloadsError(describeError(workloadsResult.reason));
      }
      if (endpointsResult.status === 'fulfilled') {
        setEndpoints(endpointsResult.value);
        setEndpointsError(null);
      } else {
        setEndpointsError(describeError(endpointsResult.reason));
      }
      if (appsResult.status === 'fulfilled') {
        setApps(appsResult.value);
        setAppsError(null);
      } else {
        setAppsError(describeError(appsResult.reason));
      }
      return true;
    },
    [name, latest],
  );

  // Faster while Helm installs, upgrades or uninstalls an application, so its status moves on.
  usePolling(load, anyInProgress(apps) ? APPS_POLL_MS : SPACES_POLL_MS);

  /**
   * Runs an action; shows the daemon's answer at once (`show`), then reads
   * everything again. Why it failed goes to `onError` when given (a form
   * says it), else to the page's banner.
   */
  async function act<T>(
    key: string,
    call: () => Promise<T>,
    show: (answer: T) => void,
    done: string | ((answer: T) => string),
    failed: string,
    onError?: (message: string) => void,
  ): Promise<boolean> {
    setBusy(key);
    setActionError(null);
    setNotice(null);
    let ok = false;
    try {
      const answer = await call();
      if (!mounted.current) return true;
      latest.supersede();
      show(answer);
      setNotice(typeof done === 'string' ? done : done(answer));
      ok = true;
    } catch (err) {
      if (!mounted.current) return false;
      if (onError) onError(formErrorMessage(err));
      else setActionError(`${failed}: ${formErrorMessage(err)}`);
    } finally {
      if (mounted.current) setBusy(null);
    }
    void load();
    return ok;
  }

  /** A change to the space itself: the answer is the space. */
  function change(key: string, call: () => Promise<SpaceView>, done: string, failed: string): Promise<boolean> {
    return act(
      key,
      call,
      (updated) => {
        setSpace(updated);
        wasTerminating.current = isTerminating(updated);
      },
      done,
      failed,
    );
  }

  /** `berth down` from the console: the workload's own spec back, the session ended. */
  function stop(dev: DevView): Promise<boolean> {
    return act(
      devBusyKey(dev.target),
      () => stopDev(name, dev.target),
      () => {
        setDevs((list) => withoutDevTarget(list, dev.target));
        setWorkloads((list) => withoutDevMark(list, dev.target));
      },
      (ended) =>
        `“${dev.target}” is out of dev mode: ${ended.workload} is back to its own spec, and session ${ended.session.id} ended.`,
      `Taking “${dev.target}” out of dev mode failed`,
    );
  }

  /** Upgrades an application in the background; answers why the daemon refused, or `null`. */
  async function upgrade(app: AppView, req: UpgradeRequest): Promise<string | null> {
    let refused: string | null = null;
    await act(
      appBusyKey(app.name),
      () => upgradeApp(name, app.name, req),
      (updated) => setApps((list) => withApp(list, app.name, updated)),
      `“${app.name}” is being upgraded; its status and Helm’s output follow below.`,
      `Upgrading “${app.name}” failed`,
      (message) => {
        refused = message;
      },
    );
    return refused;
  }

  /** Uninstalls an application in the background: it leaves the list once Helm is done. */
  function uninstall(app: AppView): Promise<boolean> {
    return act(
      appBusyKey(app.name),
      () => uninstallApp(name, app.name),
      (updated) => setApps((list) => withApp(list, app.name, updated)),
      `“${app.name}” is being uninstalled; it leaves the list once Helm is done.`,
      `Uninstalling “${app.name}” failed`,
    );
  }

  async function removeMember(member: SpaceMember) {
    const self = isSelf(member, me);
    const who = memberName(member);
    const ok = await change(
      `member:${member.user_id}`,
      () => unshareSpace(name, member.user_id),
      self ? `You left “${name}”.` : `${who} is no longer a member.`,
      self ? `Leaving “${name}” failed` : `Removing ${who} failed`,
    );
    // A member who left can no longer see the space.
    if (ok && self && !isAdmin(me)) navigate(ROUTE_PATHS.spaces);
  }

  const header = (
    <RecordHeader
      parent={PARENTS.spaces}
      name={name}
      titleTestId="space-title"
      badges={space && !gone && <PhaseBadge phase={space.status.phase} testId="space-phase" />}
      checkedAt={gone ? null : checkedAt}
      every={`refreshes every ${SPACES_POLL_MS / 1000} s`}
    />
  );

  if (gone) {
    return (
      <>
        {header}
        <GoneBanner parent={PARENTS.spaces} testId="space-gone" deleted={gone.deleted}>
          {gone.deleted ? <>“{name}” is deleted: its namespace and everything in it are gone.</> : gone.message}
        </GoneBanner>
      </>
    );
  }

  const terminating = space !== null && isTerminating(space);
  const onTheWay = space !== null ? workloadsOnTheWay(space) : null;
  const manage = space !== null && canManageSpace(space, me);

  return (
    <>
      {header}

      <PageBanners
        loadError={loadError}
        actionError={actionError}
        notice={notice}
        pollMs={SPACES_POLL_MS}
        testIdPrefix="space"
      />

      {space === null ? (
        <RecordPending failed={loadError !== null} unknown="Space unknown." />
      ) : (
        <>
          <section className="card" aria-labelledby="space-summary-title">
            <div className="card-head">
              <h2 className="card-title" id="space-summary-title">
                Space
              </h2>
              <div className="card-head-actions">
                {/* A sleep or a wake not complete may be asked for again: it goes over every workload once more. */}
                {(space.wakefulness.asleep || onTheWay !== null) && (
                  <button
                    type="button"
                    className="btn btn-small"
                    data-testid="space-wake"
                    disabled={busy !== null || terminating}
                    title={space.wakefulness.asleep ? undefined : 'Go over every workload again and bring it back'}
                    onClick={() =>
                      void change('wake', () => wakeSpace(name), `“${name}” is waking up.`, `Waking “${name}” failed`)
                    }
                  >
                    {space.wakefulness.asleep ? 'Wake' : 'Wake again'}
                  </button>
                )}
                {(!space.wakefulness.asleep || onTheWay !== null) && (
                  <button
                    type="button"
                    className="btn btn-small"
                    data-testid="space-sleep"
                    disabled={busy !== null || terminating}
                    title="Scale its workloads to zero now"
                    onClick={() =>
                      void change(
                        'sleep',
                        () => sleepSpace(name),
                        `“${name}” is going to sleep.`,
                        `Putting “${name}” to sleep failed`,
                      )
                    }
                  >
                    {space.wakefulness.asleep ? 'Sleep again' : 'Sleep'}
                  </button>
                )}
                {manage && (
                  <button
                    type="button"
                    className="btn btn-small btn-danger-outline"
                    data-testid="space-delete"
                    disabled={busy !== null || terminating || confirmingDelete}
                    title={terminating ? 'Already being deleted' : undefined}
                    onClick={() => setConfirmingDelete(true)}
                  >
                    Delete
                  </button>
                )}
              </div>
            </div>

            {confirmingDelete && !terminating && (
              <DeleteSpaceConfirm
                name={name}
                busy={busy === 'delete'}
                onCancel={() => setConfirmingDelete(false)}
                onConfirm={() =>
                  void change(
                    'delete',
                    () => deleteSpace(name),
                    `“${name}” is being deleted; this page says so once its namespace is gone.`,
                    `Deleting “${name}” failed`,
                  ).then((ok) => {
                    if (ok && mounted.current) setConfirmingDelete(false);
                  })
                }
              />
            )}

            <dl className="facts">
              <dt>Phase</dt>
              <dd>
                <PhaseBadge phase={space.status.phase} />
                {space.status.observed_generation < space.generation && !terminating && (
                  <span className="muted"> · catching up with the latest change</span>
                )}
              </dd>
              <dt>Owner</dt>
              <dd data-testid="space-owner">
                <span className="mono">{memberName(space.owner)}</span>
                {isSelf(space.owner, me) && (
                  <>
                    {' '}
                    <span className="tag">you</span>
                  </>
                )}
              </dd>
              <dt>Your role</dt>
              <dd data-testid="space-your-role">
                {space.your_role ? spaceRoleLabel(space.your_role) : 'Not a member (you see it as an admin)'}
              </dd>
              <dt>Persistent</dt>
              <dd data-testid="space-persistent">
                {space.persistent ? 'Yes: never sleeps or is deleted for idleness' : 'No'}
              </dd>
              <dt>Personal</dt>
              <dd data-testid="space-personal">
                {space.personal ? 'Yes: made at the owner’s first sign-in' : 'No'}
              </dd>
              <dt>Labels</dt>
              <dd data-testid="space-labels">
                {labelPairs(space.labels).length > 0 ? (
                  <div className="chips">
                    {labelPairs(space.labels).map((pair) => (
                      <span key={pair} className="chip">
                        {pair}
                      </span>
                    ))}
                  </div>
                ) : (
                  <span className="muted">None</span>
                )}
              </dd>
              <dt>Created</dt>
              <dd>{formatDateTime(space.created_at)}</dd>
              <dt>Awake or asleep</dt>
              <dd data-testid="space-wakefulness">
                {wakefulnessSentence(space.wakefulness)}{' '}
                <span className="muted" title={formatDateTime(space.wakefulness.since, '')}>
                  (since {formatRelative(space.wakefulness.since, now)})
                </span>
                {onTheWay && (
                  <div className="status-note" data-testid="space-wakefulness-progress" title={onTheWay.detail}>
                    <span className="status status-warn">{onTheWaySentence(onTheWay)}</span>{' '}
                    <span className="muted">The Asleep condition below says why.</span>
                  </div>
                )}
              </dd>
              <dt>Last activity</dt>
              <dd data-testid="space-last-activity">
                {space.last_activity_reason || <span className="muted">Unknown</span>}{' '}
                <span className="muted" title={formatDateTime(space.last_activity, '')}>
                  · {formatRelative(space.last_activity, now)}
                </span>
              </dd>
              <dt>Sleeps</dt>
              <dd data-testid="space-sleeps-at" title={formatDateTime(space.sleeps_at, '') || undefined}>
                {sleepsLabel(space, now)}
                {space.sleeps_at && <span className="muted"> · {formatDateTime(space.sleeps_at)}</span>}
              </dd>
              <dt>kubectl and helm</dt>
              <dd data-testid="space-kube">
                {space.your_role ? (
                  <>
                    <code className="mono">berth kubeconfig</code>, then{' '}
                    <code className="mono">berth space use {name} --kube</code>: kubectl and helm act here as you,
                    through Berth.
                  </>
                ) : (
                  <span className="muted">Its owner and members reach it with kubectl; admins do not.</span>
                )}
              </dd>
              <dt>Deleted when idle</dt>
              <dd data-testid="space-deleted-at" title={formatDateTime(space.deleted_at, '') || undefined}>
                {deletedAtLabel(space, now)}
                {space.deleted_at && !terminating && <span className="muted"> · {formatDateTime(space.deleted_at)}</span>}
              </dd>
            </dl>
          </section>

          <DevTargets
            devs={devs}
            error={devsError}
            me={me}
            now={now}
            busy={busy}
            locked={terminating}
            onStop={stop}
          />
          <Applications
            space={name}
            apps={apps}
            error={appsError}
            now={now}
            busy={busy}
            locked={terminating}
            onUpgrade={upgrade}
            onUninstall={uninstall}
          />
          <Workloads workloads={workloads} error={workloadsError} />
          <Endpoints endpoints={endpoints} error={endpointsError} />
          <Conditions space={space} now={now} />
          <Quota space={space} />
          <Members
            space={space}
            me={me}
            busy={busy}
            onShare={(user) =>
              change('share', () => shareSpace(name, user), `Shared “${name}” with ${user}.`, `Sharing with ${user} failed`)
            }
            onRemove={(member) => void removeMember(member)}
            canShare={manage && !terminating}
          />
        </>
      )}

      {space !== null && <Objects objects={objects} error={objectsError} />}
    </>
  );
}

function Conditions({ space, now }: { space: SpaceView; now: Date }) {
  const conditions = space.status.conditions;
  return (
    <section className="card card-flush" aria-labelledby="space-conditions-title">
      <div className="card-head">
        <h2 className="card-title" id="space-conditions-title">
          Conditions
        </h2>
      </div>
      <div className="table-scroll">
        <table className="table table-data" data-testid="space-conditions">
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col">Reason</th>
              <th scope="col">Message</th>
              <th scope="col">Last transition</th>
            </tr>
          </thead>
          <tbody>
            {conditions.map((c) => (
              <tr key={c.type} data-testid={`condition-${c.type}`} data-status={String(c.status)}>
                <td className="mono">{c.type}</td>
                <td>{c.status ? 'True' : 'False'}</td>
                <td className="mono">{c.reason || <span className="muted">—</span>}</td>
                <td className="col-wrap">{c.message || <span className="muted">—</span>}</td>
                <td title={formatDateTime(c.last_transition, '')}>{formatRelative(c.last_transition, now)}</td>
              </tr>
            ))}
            {conditions.length === 0 && (
              <tr>
                <td colSpan={5} className="muted empty">
                  No conditions reported yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Quota({ space }: { space: SpaceView }) {
  const rows = quotaRows(space.status.quota);
  const profile = space.status.quota.profile || space.quota_profile;
  return (
    <section className="card card-flush" aria-labelledby="space-quota-title">
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id="space-quota-title">
            Quota
          </h2>
          {profile && <span className="muted card-head-note">profile {profile}</span>}
        </div>
      </div>
      <div className="table-scroll">
        <table className="table table-data" data-testid="space-quota">
          <thead>
            <tr>
              <th scope="col">Resource</th>
              <th scope="col">Used</th>
              <th scope="col">Hard limit</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.resource} data-testid={`quota-${row.resource}`}>
                <td className="mono">{row.resource}</td>
                <td className="mono">{row.used}</td>
                <td className="mono">{row.hard}</td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={3} className="muted empty">
                  No quota reported yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Members({
  space,
  me,
  busy,
  canShare,
  onShare,
  onRemove,
}: {
  space: SpaceView;
  me: Whoami;
  busy: string | null;
  canShare: boolean;
  onShare: (user: string) => Promise<boolean>;
  onRemove: (member: SpaceMember) => void;
}) {
  const [user, setUser] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const terminating = isTerminating(space);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const who = user.trim();
    if (who === '') {
      setError('Enter a user name or an email address.');
      return;
    }
    setError(null);
    if (await onShare(who)) setUser('');
  }

  return (
    <section className="card card-flush" aria-labelledby="space-members-title">
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id="space-members-title">
            Members
          </h2>
          <span className="muted card-head-note">{space.members.length}</span>
        </div>
      </div>
      <div className="table-scroll">
        <table className="table table-data" data-testid="space-members">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col" className="col-actions">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {space.members.map((member) => {
              const key = member.username || member.user_id;
              const self = isSelf(member, me);
              const label = self ? 'Leave' : 'Remove';
              return (
                <tr key={member.user_id} data-testid={`member-${key}`}>
                  <td>
                    <div className="cell-main">
                      <span className="mono">{memberName(member)}</span>
                      {self && <span className="tag">you</span>}
                    </div>
                  </td>
                  <td>{spaceRoleLabel(member.role)}</td>
                  <td className="col-actions">
                    {canRemoveMember(space, member, me) &&
                      (confirming === member.user_id ? (
                        <div className="confirm">
                          <span>{self ? `Leave “${space.name}”?` : `Remove ${memberName(member)}?`}</span>
                          <button
                            type="button"
                            className="btn btn-small btn-danger"
                            data-testid={`member-remove-confirm-${key}`}
                            disabled={busy !== null}
                            onClick={() => {
                              setConfirming(null);
                              onRemove(member);
                            }}
                          >
                            {label}
                          </button>
                          <button type="button" className="btn btn-small" onClick={() => setConfirming(null)}>
                            Cancel
                          </button>
                        </div>
                      ) : (
                        <button
                          type="button"
                          className="btn btn-small btn-danger-outline"
                          data-testid={`member-remove-${key}`}
                          disabled={busy !== null || terminating}
                          onClick={() => setConfirming(member.user_id)}
                        >
                          {label}
                        </button>
                      ))}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {canShare && (
        <form className="form-row card-foot-form" onSubmit={(e) => void submit(e)} noValidate data-testid="space-share-form">
          <label className="field field-grow">
            <span className="field-label">Share with</span>
            <input
              className="input"
              data-testid="space-share-user"
              name="user"
              autoComplete="off"
              autoCapitalize="none"
              spellCheck={false}
              placeholder="user name or email"
              value={user}
              onChange={(e) => {
                setUser(e.target.value);
                setError(null);
              }}
            />
          </label>
          <button type="submit" className="btn btn-primary" data-testid="space-share-submit" disabled={busy !== null}>
            {busy === 'share' ? 'Sharing…' : 'Share'}
          </button>
          {error && (
            <p className="form-error" role="alert" data-testid="space-share-error">
              {error}
            </p>
          )}
        </form>
      )}
    </section>
  );
}

function Objects({ objects, error }: { objects: SpaceObject[] | null; error: string | null }) {
  const { expanded, toggle } = useExpanded<string>();

  const outOfSync = objects?.filter((o) => !o.in_sync).length ?? 0;

  return (
    <section className="card card-flush" aria-labelledby="space-objects-title">
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id="space-objects-title">
            Objects Berth keeps here
          </h2>
          {objects && (
            <span className="muted card-head-note" data-testid="space-objects-summary">
              {objects.length === 0
                ? ''
                : outOfSync === 0
                  ? 'all in sync'
                  : `${outOfSync} of ${objects.length} not in sync`}
            </span>
          )}
        </div>
      </div>
      <CardError error={error} testId="space-objects-error" />
      <div className="table-scroll">
        <table className="table table-data table-objects" data-testid="space-objects">
          <thead>
            <tr>
              <th scope="col" className="col-expand">
                <span className="visually-hidden">Details</span>
              </th>
              <th scope="col">Kind</th>
              <th scope="col">Name</th>
              <th scope="col">API version</th>
              <th scope="col">In sync</th>
            </tr>
          </thead>
          <tbody>
            {objects?.map((o) => {
              const key = objectKey(o);
              const open = expanded.has(key);
              const id = `object-${o.kind}-${o.name}`;
              return (
                <Fragment key={key}>
                  <tr data-testid={id} data-in-sync={String(o.in_sync)} className={open ? 'row-open' : undefined}>
                    <ExpanderCell
                      open={open}
                      controls={`${id}-json`}
                      what={`${o.kind} ${o.name} as JSON`}
                      testId={`${id}-expand`}
                      onToggle={() => toggle(key)}
                    />
                    <td>{o.kind}</td>
                    <td className="mono">{o.name}</td>
                    <td className="mono muted">{o.api_version}</td>
                    <td>
                      <span
                        className={`badge badge-small badge-${o.in_sync ? 'ok' : 'warn'}`}
                        data-testid={`${id}-in-sync`}
                        title={o.in_sync ? 'The cluster holds what Berth wants' : 'The cluster differs from what Berth wants'}
                      >
                        {o.in_sync ? 'Yes' : 'No'}
                      </span>
                      {o.object === null && <span className="muted"> · missing</span>}
                    </td>
                  </tr>
                  {open && (
                    <tr className="detail-row" id={`${id}-json`}>
                      <td colSpan={5}>
                        {o.object === null ? (
                          <p className="muted" data-testid={`${id}-json`}>
                            The cluster does not hold this object (yet).
                          </p>
                        ) : (
                          <pre className="json" data-testid={`${id}-json`}>
                            {formatObjectJson(o.object)}
                          </pre>
                        )}
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
            <ListStateRows
              items={objects}
              failed={error !== null}
              columns={5}
              empty="No objects yet."
              emptyTestId="space-objects-empty"
              unknown="Objects unknown."
            />
          </tbody>
        </table>
      </div>
    </section>
  );
}
