import { useEffect, useState } from 'react';
import { fetchReadiness, fetchVersion, type Readiness, type VersionInfo, type Whoami } from '../api';
import { componentRows, describeError, formatClock, summarizeReadiness } from '../ui/format';
import { GetStarted } from './GetStarted';

/** How often readiness is polled. */
const POLL_INTERVAL_MS = 5_000;

/** The daemon's version and readiness; for a user with no workloads yet, the next steps too. */
export function Overview({ me }: { me: Whoami }) {
  const [version, setVersion] = useState<VersionInfo | null>(null);
  const [versionError, setVersionError] = useState<string | null>(null);
  const [readiness, setReadiness] = useState<Readiness | null>(null);
  const [readinessError, setReadinessError] = useState<string | null>(null);
  const [checkedAt, setCheckedAt] = useState<Date | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let haveVersion = false;

    // The version is fetched until it succeeds once; readiness on every tick.
    // The next tick is scheduled after the previous one settles, so requests never pile up.
    async function tick() {
      const versionDone = haveVersion
        ? Promise.resolve()
        : fetchVersion({ signal }).then(
            (v) => {
              if (signal.aborted) return;
              haveVersion = true;
              setVersion(v);
              setVersionError(null);
            },
            (err: unknown) => {
              if (!signal.aborted) setVersionError(describeError(err));
            },
          );
      const readinessDone = fetchReadiness({ signal }).then(
        (r) => {
          if (signal.aborted) return;
          setReadiness(r);
          setReadinessError(null);
        },
        (err: unknown) => {
          if (signal.aborted) return;
          // Do not keep showing a stale "Ready" while the daemon cannot be asked.
          setReadiness(null);
          setReadinessError(describeError(err));
        },
      );
      await Promise.all([versionDone, readinessDone]);
      if (signal.aborted) return;
      setCheckedAt(new Date());
      timer = setTimeout(() => void tick(), POLL_INTERVAL_MS);
    }

    void tick();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, []);

  const errors = [versionError, readinessError].filter((e): e is string => e !== null);
  const loading = checkedAt === null;
  const summary = readiness ? summarizeReadiness(readiness) : null;
  const rows = readiness ? componentRows(readiness) : [];

  return (
    <>
      <div className="page-header">
        <h1>Overview</h1>
        <p className="muted">
          {checkedAt
            ? `Last checked ${formatClock(checkedAt)} · refreshes every ${POLL_INTERVAL_MS / 1000} s`
            : 'Contacting the Berth API…'}
        </p>
      </div>

      {errors.length > 0 && (
        <div className="banner banner-error" role="alert" data-testid="error">
          {errors.map((e) => (
            <p key={e}>{e}</p>
          ))}
          <p className="banner-hint">Retrying every {POLL_INTERVAL_MS / 1000} s.</p>
        </div>
      )}

      <GetStarted me={me} />

      <div className="cards">
        <section className="card" aria-labelledby="server-title">
          <h2 className="card-title" id="server-title">
            Server
          </h2>
          {version ? (
            <>
              <p className="card-value">
                Berth <span data-testid="server-version">{version.version}</span>
              </p>
              <p className="muted">API {version.api}</p>
            </>
          ) : (
            <p className="card-value muted">{loading ? 'Loading…' : 'Unknown'}</p>
          )}
        </section>

        <section className="card" aria-labelledby="readiness-title">
          <h2 className="card-title" id="readiness-title">
            Readiness
          </h2>
          {summary ? (
            <>
              <p className="card-value">
                <span className={`badge badge-${summary.tone}`} data-testid="readiness">
                  {summary.label}
                </span>
              </p>
              <p className="muted">{summary.detail}</p>
            </>
          ) : (
            <p className="card-value muted">{loading ? 'Loading…' : 'Unknown'}</p>
          )}
        </section>
      </div>

      <section className="card" aria-labelledby="components-title">
        <h2 className="card-title" id="components-title">
          Components
        </h2>
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Component</th>
              <th scope="col">Status</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.name} data-testid={`component-${row.name}`}>
                <td className="mono">{row.name}</td>
                <td>
                  <span className={`status status-${row.tone}`}>{row.statusLabel}</span>
                </td>
                <td>{row.reason || <span className="muted">—</span>}</td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={3} className="muted empty">
                  {loading ? 'Loading…' : readiness ? 'No components reported.' : 'Readiness unknown.'}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </section>
    </>
  );
}
