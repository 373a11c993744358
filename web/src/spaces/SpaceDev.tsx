// The dev mode sections of a space's page: the targets in dev mode (`berth up`)
// with their sessions, and the space's workloads. The page reads them (with the
// space, on the same clock) and takes a target out of dev mode; these only show.

import { Fragment, useState } from 'react';
import type { DevView, WorkloadView, Whoami } from '../api';
import { CardError } from '../ui/Banner';
import { formatDateTime, formatRelative } from '../ui/format';
import { SessionStateBadge } from '../sessions/Sessions';
import { TypeNameConfirm } from './SpaceParts';
import { isEnded, sidesLabel } from '../sessions/model';
import { commandLine, devModeLabel, isOwnDev, portsLabel } from './dev';
import { ListStateRows } from '../ui/TableParts';

const DEV_COLUMNS = 10;

/** The busy key of a target being taken out of dev mode. */
export function devBusyKey(target: string): string {
  return `dev:${target}`;
}

/** "Dev mode": the space's targets in dev mode, each with a "Take out of dev mode" step. */
export function DevTargets({
  devs,
  error,
  me,
  now,
  busy,
  locked,
  onStop,
}: {
  devs: DevView[] | null;
  error: string | null;
  me: Whoami;
  now: Date;
  /** The page's action in flight, if any: no other starts meanwhile. */
  busy: string | null;
  /** No more actions (the space is being deleted). */
  locked: boolean;
  /** Answers whether the target is out of dev mode. */
  onStop: (dev: DevView) => Promise<boolean>;
}) {
  const [confirming, setConfirming] = useState<string | null>(null);

  return (
    <section className="card card-flush" aria-labelledby="space-dev-title">
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id="space-dev-title">
            Dev mode
          </h2>
          {devs && devs.length > 0 && (
            <span className="muted card-head-note" data-testid="space-dev-count">
              {devs.length} {devs.length === 1 ? 'target' : 'targets'}
            </span>
          )}
        </div>
      </div>
      <CardError error={error} testId="space-dev-error" />
      <div className="table-scroll">
        <table className="table table-data table-spaces" data-testid="space-dev">
          <thead>
            <tr>
              <th scope="col">Target</th>
              <th scope="col">Workload</th>
              <th scope="col">Mode</th>
              <th scope="col">Session</th>
              <th scope="col">Connected</th>
              <th scope="col">Started by</th>
              <th scope="col">Since</th>
              <th scope="col">Image</th>
              <th scope="col">Command</th>
              <th scope="col" className="col-actions">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {devs?.map((dev) => {
              const t = dev.target;
              const { session } = dev;
              const sides = sidesLabel(session);
              const command = commandLine(dev.command);
              const rowBusy = busy === devBusyKey(t);
              return (
                <Fragment key={t}>
                  <tr data-testid={`dev-${t}`} data-mode={dev.mode} data-state={session.state}>
                    <td className="mono">{t}</td>
                    <td className="mono" data-testid={`dev-workload-${t}`}>
                      {dev.workload}
                    </td>
                    <td className="col-reason" data-testid={`dev-mode-${t}`}>
                      {devModeLabel(dev.mode)}
                      {dev.local_root && (
                        <div className="cell-sub muted mono" title={dev.local_root}>
                          {dev.local_root}
                        </div>
                      )}
                      {dev.volumes.length > 0 && (
                        <div
                          className="cell-sub muted mono"
                          data-testid={`dev-volumes-${t}`}
                          title="Kept on the target's volume: they outlive the pod and berth down"
                        >
                          volume: {dev.volumes.join(', ')}
                        </div>
                      )}
                    </td>
                    <td className="col-reason" data-testid={`dev-session-${t}`}>
                      <SessionStateBadge state={session.state} testId={`dev-state-${t}`} />
                      <div className="cell-sub muted mono">{session.id}</div>
                      {isEnded(session) && session.ended_reason && (
                        <div className="cell-sub muted">{session.ended_reason}</div>
                      )}
                    </td>
                    <td
                      data-testid={`dev-sides-${t}`}
                      data-client={String(session.client_connected)}
                      data-agent={String(session.agent_connected)}
                      title={`CLI ${session.client_connected ? 'connected' : 'not connected'}, agent ${
                        session.agent_connected ? 'connected' : 'not connected'
                      }`}
                    >
                      <span className={`status status-${sides.tone}`}>{sides.label}</span>
                    </td>
                    <td data-testid={`dev-started-by-${t}`}>
                      <div className="cell-main">
                        <span className="mono">{dev.started_by || 'a removed user'}</span>
                        {isOwnDev(dev, me) && <span className="tag">you</span>}
                      </div>
                    </td>
                    <td data-testid={`dev-since-${t}`} title={formatDateTime(dev.started_at)}>
                      {formatRelative(dev.started_at, now)}
                    </td>
                    <td data-testid={`dev-image-${t}`}>
                      {dev.image ? (
                        <span className="mono">{dev.image}</span>
                      ) : (
                        <span className="muted">the container’s own</span>
                      )}
                    </td>
                    <td className="col-wrap" data-testid={`dev-command-${t}`}>
                      {command ? <code className="mono">{command}</code> : <span className="muted">none</span>}
                    </td>
                    <td className="col-actions">
                      <button
                        type="button"
                        className="btn btn-small btn-danger-outline"
                        data-testid={`dev-stop-${t}`}
                        disabled={busy !== null || locked || confirming === t}
                        title={locked ? 'The space is being deleted' : `Restore ${dev.workload} and end its session`}
                        onClick={() => setConfirming(t)}
                      >
                        Take out of dev mode
                      </button>
                    </td>
                  </tr>
                  {confirming === t && !locked && (
                    <tr className="confirm-row">
                      <td colSpan={DEV_COLUMNS}>
                        <TypeNameConfirm
                          name={t}
                          busy={rowBusy}
                          testId="dev-stop"
                          testIdSuffix={`-${t}`}
                          what={
                            <>
                              Taking <span className="mono">{t}</span> out of dev mode restores{' '}
                              <span className="mono">{dev.workload}</span> to its own spec and ends its session: the
                              CLI and the agent are disconnected.
                            </>
                          }
                          action="Take out of dev mode"
                          busyAction="Taking out…"
                          onCancel={() => setConfirming(null)}
                          onConfirm={() =>
                            void onStop(dev).then((ok) => {
                              if (ok) setConfirming(null);
                            })
                          }
                        />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
            <ListStateRows
              items={devs}
              failed={error !== null}
              columns={DEV_COLUMNS}
              empty={
                <>
                  No workload is in dev mode. Run <code className="mono">berth up</code> in a project with a{' '}
                  <code className="mono">berth.yaml</code>.
                </>
              }
              emptyTestId="space-dev-empty"
              unknown="Dev mode unknown."
            />
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** "Workloads": the space's Deployments and StatefulSets, those in dev mode marked with their target. */
export function Workloads({ workloads, error }: { workloads: WorkloadView[] | null; error: string | null }) {
  const inDev = workloads?.filter((w) => w.dev_target !== null).length ?? 0;
  return (
    <section className="card card-flush" aria-labelledby="space-workloads-title">
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id="space-workloads-title">
            Workloads
          </h2>
          {workloads && workloads.length > 0 && (
            <span className="muted card-head-note" data-testid="space-workloads-summary">
              {workloads.length} · {inDev === 0 ? 'none in dev mode' : `${inDev} in dev mode`}
            </span>
          )}
        </div>
      </div>
      <CardError error={error} testId="space-workloads-error" />
      <div className="table-scroll">
        <table className="table table-data table-spaces" data-testid="space-workloads">
          <thead>
            <tr>
              <th scope="col">Workload</th>
              <th scope="col">Containers</th>
              <th scope="col">Dev mode</th>
            </tr>
          </thead>
          <tbody>
            {workloads?.map((w) => (
              <tr key={w.workload} data-testid={`workload-${w.workload}`} data-dev-target={w.dev_target ?? ''}>
                <td className="mono">{w.workload}</td>
                <td className="col-wrap">
                  {w.containers.map((c, i) => (
                    <div key={`${i}-${c.name}`} data-testid={`workload-${w.workload}-container-${c.name}`}>
                      <span className="mono">{c.name || <span className="muted">unnamed</span>}</span>{' '}
                      <span className="mono muted">{c.image || 'no image'}</span>
                      {c.ports.length > 0 && <span className="muted"> · ports {portsLabel(c.ports)}</span>}
                    </div>
                  ))}
                  {w.containers.length === 0 && <span className="muted">No containers</span>}
                </td>
                <td data-testid={`workload-${w.workload}-dev`}>
                  {w.dev_target !== null ? (
                    <span
                      className="badge badge-small badge-warn"
                      title="The containers shown are the workload’s own, as they come back after dev mode"
                    >
                      For <span className="mono">{w.dev_target}</span>
                    </span>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
              </tr>
            ))}
            <ListStateRows
              items={workloads}
              failed={error !== null}
              columns={3}
              empty="No Deployment or StatefulSet in this space yet."
              emptyTestId="space-workloads-empty"
              unknown="Workloads unknown."
            />
          </tbody>
        </table>
      </div>
    </section>
  );
}
