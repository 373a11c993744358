import { useCallback, useState } from 'react';
import { fetchRepository, isNotFound, listCharts, refreshRepository, type ChartView, type RepositoryView } from '../api';
import { CardError, PageBanners } from '../ui/Banner';
import {
  CATALOG_POLL_MS,
  countsLabel,
  credentialsLabel,
  fetchedLabel,
  filterCharts,
  hasFailed,
  isDeprecated,
  latestVersion,
  refreshOutcome,
  versionList,
} from './model';
import { describeError, formErrorMessage, formatDateTime, formatRelative } from '../ui/format';
import { useLatest, usePolling } from '../ui/polling';
import { GoneBanner, PARENTS, RecordHeader, RecordPending } from '../ui/RecordPage';
import { ListStateRows } from '../ui/TableParts';

/** One chart repository of the catalog and the charts of its last good index: `/catalog/repositories/<name>`. */
export function Repository({ name }: { name: string }) {
  const [repo, setRepo] = useState<RepositoryView | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  /** The daemon does not know the repository (404): removed, or never added. */
  const [gone, setGone] = useState<string | null>(null);
  const [charts, setCharts] = useState<ChartView[] | null>(null);
  const [chartsError, setChartsError] = useState<string | null>(null);
  const [checkedAt, setCheckedAt] = useState<Date | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [refreshing, setRefreshing] = useState(false);
  const [query, setQuery] = useState('');
  const now = new Date();

  // Only the latest answer counts (see ui/polling.ts).
  const latest = useLatest();
  const mounted = latest.mounted;

  /** Reads the repository and its charts; `false` once it is gone (no point asking again). */
  const load = useCallback(
    async (signal?: AbortSignal): Promise<boolean> => {
      const mine = latest.begin();
      const [repoResult, chartsResult] = await Promise.allSettled([
        fetchRepository(name, { signal }),
        listCharts(name, { signal }),
      ]);
      if (!latest.current(mine, signal)) return true;
      if (repoResult.status === 'fulfilled') {
        setRepo(repoResult.value);
        setLoadError(null);
        setCheckedAt(new Date());
      } else if (isNotFound(repoResult.reason)) {
        setGone(formErrorMessage(repoResult.reason));
        setLoadError(null);
        return false;
      } else {
        setLoadError(describeError(repoResult.reason));
      }
      if (chartsResult.status === 'fulfilled') {
        setCharts(chartsResult.value);
        setChartsError(null);
      } else {
        setChartsError(describeError(chartsResult.reason));
      }
      return true;
    },
    [name, latest],
  );

  usePolling(load, CATALOG_POLL_MS);

  async function refresh() {
    setRefreshing(true);
    setActionError(null);
    setNotice(null);
    try {
      const updated = await refreshRepository(name);
      if (!mounted.current) return;
      latest.supersede();
      setRepo(updated);
      // A failed fetch is an ordinary answer: last_error says why, the charts stay.
      const outcome = refreshOutcome(updated);
      if (outcome.ok) setNotice(outcome.message);
      else setActionError(outcome.message);
    } catch (err) {
      if (!mounted.current) return;
      setActionError(`Refreshing “${name}” failed: ${formErrorMessage(err)}`);
    } finally {
      if (mounted.current) setRefreshing(false);
    }
    void load();
  }

  const header = (
    <RecordHeader
      parent={PARENTS.catalog}
      name={name}
      titleTestId="repo-title"
      checkedAt={gone ? null : checkedAt}
      every={`read again every ${CATALOG_POLL_MS / 1000} s`}
    />
  );

  if (gone !== null) {
    return (
      <>
        {header}
        <GoneBanner parent={PARENTS.catalog} testId="repo-gone">
          {gone}
        </GoneBanner>
      </>
    );
  }

  const failed = repo !== null && hasFailed(repo);
  const shown = charts === null ? null : filterCharts(charts, query);

  return (
    <>
      {header}

      <PageBanners
        loadError={loadError}
        actionError={actionError}
        notice={notice}
        pollMs={CATALOG_POLL_MS}
        testIdPrefix="repo"
      />

      {repo === null ? (
        <RecordPending failed={loadError !== null} unknown="Repository unknown." />
      ) : (
        <section className="card" aria-labelledby="repo-summary-title">
          <div className="card-head">
            <h2 className="card-title" id="repo-summary-title">
              Chart repository
            </h2>
            <div className="card-head-actions">
              <button
                type="button"
                className="btn btn-small"
                data-testid="repo-refresh"
                disabled={refreshing}
                title="Fetch its index.yaml now"
                onClick={() => void refresh()}
              >
                {refreshing ? 'Refreshing…' : 'Refresh'}
              </button>
            </div>
          </div>
          <dl className="facts">
            <dt>URL</dt>
            <dd className="mono" data-testid="repo-url">
              {repo.url}
            </dd>
            <dt>Sign-in</dt>
            <dd data-testid="repo-credentials">{credentialsLabel(repo)}</dd>
            <dt>CA file</dt>
            <dd data-testid="repo-ca-file">
              {repo.ca_file ? <span className="mono">{repo.ca_file}</span> : 'None: the system’s certificate authorities'}
            </dd>
            <dt>Added</dt>
            <dd data-testid="repo-added">
              by <span className="mono">{repo.added_by || 'a removed user'}</span>{' '}
              <span className="muted" title={formatDateTime(repo.added_at, '')}>
                · {formatRelative(repo.added_at, now)}
              </span>
            </dd>
            <dt>Last fetched</dt>
            <dd data-testid="repo-fetched" title={formatDateTime(repo.fetched_at, '') || undefined}>
              {fetchedLabel(repo, now)}
              {repo.fetched_at && <span className="muted"> · {formatDateTime(repo.fetched_at)}</span>}
            </dd>
            <dt>Last error</dt>
            <dd data-testid="repo-last-error">
              {failed ? (
                <>
                  <span className="status status-bad" title={formatDateTime(repo.failed_at, '') || undefined}>
                    Failed{repo.failed_at ? ` ${formatRelative(repo.failed_at, now)}` : ''}
                  </span>
                  <div className="cell-error">{repo.last_error}</div>
                </>
              ) : (
                <span className="muted">None</span>
              )}
            </dd>
          </dl>
        </section>
      )}

      <section className="card card-flush" aria-labelledby="repo-charts-title">
        <div className="card-head">
          <div className="card-head-text">
            <h2 className="card-title" id="repo-charts-title">
              Charts
            </h2>
            {charts && (
              <span className="muted card-head-note" data-testid="repo-charts-count">
                {countsLabel({ charts: charts.length, versions: charts.reduce((n, c) => n + c.versions.length, 0) })}
                {failed ? ' · from the last good fetch' : ''}
              </span>
            )}
          </div>
          {charts && charts.length > 0 && (
            <div className="card-head-actions">
              <input
                className="input input-small"
                type="search"
                data-testid="repo-charts-filter"
                aria-label="Filter the charts by name or description"
                placeholder="Filter by name or description"
                value={query}
                onChange={(e) => setQuery(e.target.value)}
              />
            </div>
          )}
        </div>
        <CardError error={chartsError} testId="repo-charts-error" />
        <div className="table-scroll">
          <table className="table table-data table-charts">
            <thead>
              <tr>
                <th scope="col">Chart</th>
                <th scope="col">Latest version</th>
                <th scope="col">App version</th>
                <th scope="col">Description</th>
                <th scope="col">Versions</th>
              </tr>
            </thead>
            <tbody>
              {shown?.map((chart) => {
                const newest = latestVersion(chart);
                const deprecated = isDeprecated(chart);
                return (
                  <tr
                    key={chart.name}
                    data-testid={`chart-row-${chart.name}`}
                    data-deprecated={deprecated ? 'true' : 'false'}
                    className={deprecated ? 'row-muted' : undefined}
                  >
                    <td>
                      <div className="cell-main">
                        <span className="mono">{chart.name}</span>
                        {deprecated && (
                          <span
                            className="tag tag-bad"
                            data-testid={`chart-deprecated-${chart.name}`}
                            title="Its newest version is marked deprecated"
                          >
                            deprecated
                          </span>
                        )}
                      </div>
                    </td>
                    <td className="mono" data-testid={`chart-latest-${chart.name}`}>
                      {newest?.version ?? <span className="muted">—</span>}
                    </td>
                    <td className="mono" data-testid={`chart-app-version-${chart.name}`}>
                      {newest?.app_version ?? <span className="muted">—</span>}
                    </td>
                    <td className="col-description" data-testid={`chart-description-${chart.name}`}>
                      {newest?.description ?? <span className="muted">—</span>}
                    </td>
                    <td data-testid={`chart-versions-${chart.name}`} title={versionList(chart) || undefined}>
                      {chart.versions.length}
                    </td>
                  </tr>
                );
              })}
              <ListStateRows
                items={charts}
                failed={chartsError !== null}
                columns={5}
                empty="Its index lists no charts."
                emptyTestId="repo-charts-empty"
                unknown="Charts unknown."
              />
              {charts !== null && charts.length > 0 && shown?.length === 0 && (
                <tr>
                  <td colSpan={5} className="muted empty" data-testid="repo-charts-none-match">
                    No chart matches “{query.trim()}”.
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
