// The Applications section of a space's page: what was installed into the space
// from the catalog, with Helm's output, the release's notes, Upgrade and
// Uninstall. The page reads the applications (with the space, on the same
// clock, faster while Helm is at work) and runs the actions; this shows them.

import { Fragment, useCallback, useId, useState, type FormEvent } from 'react';
import { fetchAppLogs, type AppView, type UpgradeRequest } from '../api';
import { CardError } from '../ui/Banner';
import {
  APPS_POLL_MS,
  EMPTY_UPGRADE_FORM,
  appBusyKey,
  appStatusBadge,
  isInProgress,
  operationLabel,
  releaseLabel,
  upgradeRequestOf,
  type UpgradeForm,
} from './model';
import { describeError, formatDateTime, formatRelative, statusLabel } from '../ui/format';
import { usePolling } from '../ui/polling';
import { Link } from '../router';
import { catalogPath, itemPath } from '../routes';
import { TypeNameConfirm } from '../spaces/SpaceParts';
import { formatObjectJson } from '../spaces/model';
import { ExpanderCell, ListStateRows, useExpanded } from '../ui/TableParts';

const APP_COLUMNS = 8;

export function AppStatusBadge({ status, testId }: { status: string; testId?: string }) {
  const { label, tone } = appStatusBadge(status);
  return (
    <span className={`badge badge-small badge-${tone}`} data-testid={testId} data-status={status}>
      {label}
    </span>
  );
}

type Step = { name: string; step: 'upgrade' | 'uninstall' } | null;

/** "Applications": the space's releases from the catalog, a row each, its details unfolding below it. */
export function Applications({
  space,
  apps,
  error,
  now,
  busy,
  locked,
  onUpgrade,
  onUninstall,
}: {
  space: string;
  apps: AppView[] | null;
  error: string | null;
  now: Date;
  /** The page's action in flight, if any: no other starts meanwhile. */
  busy: string | null;
  /** No more actions (the space is being deleted). */
  locked: boolean;
  /** Answers why the upgrade was refused, or `null` once it is accepted. */
  onUpgrade: (app: AppView, req: UpgradeRequest) => Promise<string | null>;
  /** Answers whether the uninstall was accepted. */
  onUninstall: (app: AppView) => Promise<boolean>;
}) {
  const { expanded, toggle } = useExpanded<string>();
  const [step, setStep] = useState<Step>(null);

  const working = apps?.filter(isInProgress).length ?? 0;

  return (
    <section className="card card-flush" aria-labelledby="space-apps-title">
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id="space-apps-title">
            Applications
          </h2>
          {apps && apps.length > 0 && (
            <span className="muted card-head-note" data-testid="space-apps-summary">
              {apps.length} · {working === 0 ? 'none in progress' : `${working} in progress, read every ${APPS_POLL_MS / 1000} s`}
            </span>
          )}
        </div>
        <div className="card-head-actions">
          <Link to={catalogPath(space)} className="btn btn-small" data-testid="space-apps-install">
            Install from the catalog
          </Link>
        </div>
      </div>
      <CardError error={error} testId="space-apps-error" />
      <div className="table-scroll">
        <table className="table table-data table-spaces table-objects table-apps" data-testid="space-apps">
          <thead>
            <tr>
              <th scope="col" className="col-expand">
                <span className="visually-hidden">Details</span>
              </th>
              <th scope="col">Name</th>
              <th scope="col">Item</th>
              <th scope="col">Chart</th>
              <th scope="col">Status</th>
              <th scope="col">Release</th>
              <th scope="col">Last operation</th>
              <th scope="col" className="col-actions">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {apps?.map((app) => {
              const n = app.name;
              const open = expanded.has(n);
              const op = app.operation;
              const rowBusy = busy === appBusyKey(n);
              const working = isInProgress(app);
              const stepHere = step?.name === n ? step.step : null;
              return (
                <Fragment key={n}>
                  <tr
                    data-testid={`app-${n}`}
                    data-status={app.status}
                    className={open ? 'row-open' : undefined}
                  >
                    <ExpanderCell
                      open={open}
                      controls={`app-${n}-details`}
                      what={`the details of ${n}`}
                      testId={`app-expand-${n}`}
                      onToggle={() => toggle(n)}
                    />
                    <td className="mono">{n}</td>
                    <td data-testid={`app-item-${n}`}>
                      <Link to={itemPath(app.item)} className="mono">
                        {app.item}
                      </Link>
                    </td>
                    <td className="mono" data-testid={`app-chart-${n}`}>
                      {app.chart} {app.chart_version}
                    </td>
                    <td data-testid={`app-status-${n}`}>
                      <AppStatusBadge status={app.status} />
                    </td>
                    <td data-testid={`app-release-${n}`}>
                      {app.release ? releaseLabel(app.release) : <span className="muted">none yet</span>}
                    </td>
                    <td data-testid={`app-operation-${n}`}>
                      <span className={`status status-${op.state === 'failed' ? 'bad' : op.state === 'succeeded' ? 'ok' : 'neutral'}`}>
                        {operationLabel(op)}
                      </span>
                      <div className="cell-sub muted" title={formatDateTime(op.started_at, '') || undefined}>
                        by <span className="mono">{op.started_by || 'a removed user'}</span>{' '}
                        {formatRelative(op.started_at, now)}
                      </div>
                    </td>
                    <td className="col-actions">
                      <div className="row-actions">
                        <button
                          type="button"
                          className="btn btn-small"
                          data-testid={`app-upgrade-${n}`}
                          disabled={busy !== null || locked || working || stepHere === 'upgrade'}
                          title={working ? 'Helm is at work on it' : 'To the newest chart version the item allows, with changed values'}
                          onClick={() => setStep({ name: n, step: 'upgrade' })}
                        >
                          Upgrade
                        </button>
                        <button
                          type="button"
                          className="btn btn-small btn-danger-outline"
                          data-testid={`app-uninstall-${n}`}
                          disabled={busy !== null || locked || app.status === 'uninstalling' || stepHere === 'uninstall'}
                          onClick={() => setStep({ name: n, step: 'uninstall' })}
                        >
                          Uninstall
                        </button>
                      </div>
                    </td>
                  </tr>
                  {stepHere === 'uninstall' && !locked && (
                    <tr className="confirm-row">
                      <td colSpan={APP_COLUMNS}>
                        <TypeNameConfirm
                          name={n}
                          busy={rowBusy}
                          testId="app-uninstall"
                          testIdSuffix={`-${n}`}
                          what={
                            <>
                              Uninstalling removes the release <span className="mono">{n}</span> and what Helm made for
                              it from the space.
                            </>
                          }
                          action="Uninstall"
                          busyAction="Uninstalling…"
                          onCancel={() => setStep(null)}
                          onConfirm={() =>
                            void onUninstall(app).then((ok) => {
                              if (ok) setStep(null);
                            })
                          }
                        />
                      </td>
                    </tr>
                  )}
                  {stepHere === 'upgrade' && !locked && (
                    <tr className="detail-row">
                      <td colSpan={APP_COLUMNS}>
                        <Upgrade
                          app={app}
                          busy={rowBusy}
                          onCancel={() => setStep(null)}
                          onUpgrade={async (req) => {
                            const refused = await onUpgrade(app, req);
                            if (refused === null) setStep(null);
                            return refused;
                          }}
                        />
                      </td>
                    </tr>
                  )}
                  {open && (
                    <tr className="detail-row" id={`app-${n}-details`}>
                      <td colSpan={APP_COLUMNS}>
                        <AppDetails space={space} app={app} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
            <ListStateRows
              items={apps}
              failed={error !== null}
              columns={APP_COLUMNS}
              empty="Nothing installed from the catalog yet."
              emptyTestId="space-apps-empty"
              unknown="Applications unknown."
            />
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** Under a row: why the last operation failed, Helm's output of it, the release's notes and the values given. */
function AppDetails({ space, app }: { space: string; app: AppView }) {
  const n = app.name;
  const op = app.operation;
  return (
    <div className="app-details" data-testid={`app-details-${n}`}>
      {op.state === 'failed' && (
        <div className="cell-error" data-testid={`app-error-${n}`}>
          {operationLabel(op)}: {op.error ?? 'Helm gave no reason.'}
        </div>
      )}
      <p className="muted" data-testid={`app-operation-detail-${n}`}>
        {statusLabel(op.kind)} #{op.number} of chart version <span className="mono">{op.chart_version}</span>: started
        by <span className="mono">{op.started_by || 'a removed user'}</span> {formatDateTime(op.started_at)}
        {op.finished_at ? `, finished ${formatDateTime(op.finished_at)}` : ', still running'}, ran in{' '}
        <span className="mono">{op.runner}</span>. Installed by{' '}
        <span className="mono">{app.installed_by || 'a removed user'}</span> {formatDateTime(app.installed_at)}.
      </p>
      <h3 className="detail-title">Helm’s output</h3>
      <AppLogs space={space} app={app} />
      {app.release?.notes && (
        <>
          <h3 className="detail-title">Release notes</h3>
          <pre className="json" data-testid={`app-notes-${n}`}>
            {app.release.notes}
          </pre>
        </>
      )}
      <h3 className="detail-title">Values given</h3>
      {Object.keys(app.values).length > 0 ? (
        <pre className="json" data-testid={`app-values-${n}`}>
          {formatObjectJson(app.values)}
        </pre>
      ) : (
        <p className="muted" data-testid={`app-values-${n}`}>
          None: the item’s defaults.
        </p>
      )}
    </div>
  );
}

/**
 * Helm's output of the latest operation: read when shown, again every
 * APPS_POLL_MS while Helm is at work, and once more when it is done.
 */
function AppLogs({ space, app }: { space: string; app: AppView }) {
  const [logs, setLogs] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const working = isInProgress(app);
  const operation = app.operation.number;

  const load = useCallback(
    async (signal: AbortSignal): Promise<boolean> => {
      try {
        const text = await fetchAppLogs(space, app.name, { signal });
        if (signal.aborted) return false;
        setLogs(text);
        setError(null);
      } catch (err) {
        if (signal.aborted) return false;
        setError(describeError(err));
      }
      return working;
    },
    // A new operation, or one that ends, is read again at once.
    [space, app.name, working, operation],
  );

  usePolling(load, APPS_POLL_MS);

  const n = app.name;
  return (
    <>
      {error && (
        <p className="form-error" data-testid={`app-logs-error-${n}`}>
          {error}
        </p>
      )}
      {logs === null ? (
        !error && <p className="muted">Loading…</p>
      ) : logs === '' ? (
        <p className="muted" data-testid={`app-logs-${n}`}>
          {working ? 'Nothing yet.' : 'Helm printed nothing.'}
        </p>
      ) : (
        <pre className="json app-logs" data-testid={`app-logs-${n}`}>
          {logs}
        </pre>
      )}
    </>
  );
}

/** "Upgrade": values (JSON) over the earlier ones, or over the item's alone. */
function Upgrade({
  app,
  busy,
  onUpgrade,
  onCancel,
}: {
  app: AppView;
  busy: boolean;
  onUpgrade: (req: UpgradeRequest) => Promise<string | null>;
  onCancel: () => void;
}) {
  const id = useId();
  const n = app.name;
  const [form, setForm] = useState<UpgradeForm>(EMPTY_UPGRADE_FORM);
  const [error, setError] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    const req = upgradeRequestOf(form);
    if (!req.ok) {
      setError(req.error);
      return;
    }
    setError(null);
    setError(await onUpgrade(req.value));
  }

  return (
    <form className="form app-upgrade" onSubmit={(e) => void submit(e)} noValidate data-testid={`app-upgrade-form-${n}`}>
      <label className="field">
        <span className="field-label">
          Values for <span className="mono">{n}</span>
        </span>
        <textarea
          className="input textarea mono"
          data-testid={`app-upgrade-values-${n}`}
          rows={4}
          spellCheck={false}
          placeholder='{ "replicas": 2 }'
          aria-describedby={`${id}-hint`}
          aria-invalid={error ? true : undefined}
          value={form.values}
          onChange={(e) => {
            setForm((f) => ({ ...f, values: e.target.value }));
            setError(null);
          }}
        />
        <span className="field-hint" id={`${id}-hint`}>
          A JSON object laid over {form.reset ? 'the item’s values' : 'the values given before'}; empty to change none.
          The chart goes to the newest version the item allows.
        </span>
      </label>
      <label className="check">
        <input
          type="checkbox"
          data-testid={`app-upgrade-reset-${n}`}
          checked={form.reset}
          onChange={(e) => setForm((f) => ({ ...f, reset: e.target.checked }))}
        />
        Start from the item’s values (forget the ones given before)
      </label>
      <div className="form-actions">
        <button type="submit" className="btn btn-small btn-primary" data-testid={`app-upgrade-submit-${n}`} disabled={busy}>
          {busy ? 'Upgrading…' : 'Upgrade'}
        </button>
        <button type="button" className="btn btn-small" data-testid={`app-upgrade-cancel-${n}`} onClick={onCancel}>
          Cancel
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert" data-testid={`app-upgrade-error-${n}`}>
          {error}
        </p>
      )}
    </form>
  );
}
