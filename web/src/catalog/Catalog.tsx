import { Fragment, useId, useRef, useState, type FormEvent } from 'react';
import {
  addRepository,
  listRepositories,
  refreshRepository,
  removeRepository,
  type RepositoryView,
  type Whoami,
} from '../api';
import { PageBanners } from '../ui/Banner';
import { CountedCardHead } from '../ui/CardHead';
import { CatalogItems } from './CatalogItems';
import {
  CATALOG_POLL_MS,
  EMPTY_REPOSITORY_FORM,
  countsLabel,
  credentialsLabel,
  fetchedLabel,
  hasFailed,
  newRepositoryProblem,
  newRepositoryRequest,
  refreshOutcome,
  withRepository,
  type NewRepositoryForm,
} from './model';
import { formErrorMessage, formatDateTime, formatRelative } from '../ui/format';
import { usePolledList } from '../ui/polling';
import { Link, useLocation } from '../router';
import { repositoryPath, spaceFromSearch, spacePath } from '../routes';
import { TypeNameConfirm } from '../spaces/SpaceParts';
import { isAdmin } from '../spaces/model';
import { ListStateRows } from '../ui/TableParts';

const COLUMNS = 6;

type Busy = { name: string; action: 'refresh' | 'remove' } | null;

/**
 * The catalog: `/catalog`. Everyone gets its items, to install; admins also
 * add items and manage the chart repositories the items draw from. With
 * `?space=<name>` (the space page's "Install from the catalog") the items
 * install into that space.
 */
export function Catalog({ me }: { me: Whoami }) {
  const admin = isAdmin(me);
  const space = spaceFromSearch(useLocation().search);
  return (
    <>
      <div className="page-header">
        <h1>Catalog</h1>
        <p className="muted" data-testid="catalog-subtitle">
          {space ? (
            <>
              Pick what to install into <Link to={spacePath(space)} className="mono">{space}</Link>
            </>
          ) : admin ? (
            'What developers install into their spaces, and the chart repositories it comes from'
          ) : (
            'What you may install into your spaces'
          )}
        </p>
      </div>
      <CatalogItems me={me} space={space} />
      {admin && <Repositories />}
    </>
  );
}

/** The catalog's chart repositories (admins): the lower half of `/catalog`. */
export function Repositories() {
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<Busy>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const now = new Date();

  // The list, then again every CATALOG_POLL_MS (the daemon's scheduled fetches show up).
  // Only the answer to the latest request counts (see ui/polling.ts).
  const { items: repos, setItems: setRepos, loadError, load, latest } = usePolledList(listRepositories, CATALOG_POLL_MS);
  const mounted = latest.mounted;

  /** Puts the daemon's answer in the list at once (`null`: takes the name out); requests in flight are now stale. */
  function show(name: string, repo: RepositoryView | null) {
    latest.supersede();
    setRepos((list) => withRepository(list, name, repo));
  }

  function begin(name: string, action: 'refresh' | 'remove') {
    setBusy({ name, action });
    setActionError(null);
    setNotice(null);
  }

  async function refresh(repo: RepositoryView) {
    begin(repo.name, 'refresh');
    try {
      const updated = await refreshRepository(repo.name);
      if (!mounted.current) return;
      show(repo.name, updated);
      // A failed fetch is an ordinary answer: last_error says why.
      const outcome = refreshOutcome(updated);
      if (outcome.ok) setNotice(outcome.message);
      else setActionError(outcome.message);
    } catch (err) {
      if (!mounted.current) return;
      setActionError(`Refreshing “${repo.name}” failed: ${formErrorMessage(err)}`);
    } finally {
      if (mounted.current) setBusy(null);
    }
    void load();
  }

  async function remove(repo: RepositoryView) {
    begin(repo.name, 'remove');
    try {
      await removeRepository(repo.name);
      if (!mounted.current) return;
      show(repo.name, null);
      setConfirming(null);
      setNotice(`“${repo.name}” is removed from the catalog, with its charts.`);
    } catch (err) {
      if (!mounted.current) return;
      setActionError(`Removing “${repo.name}” failed: ${formErrorMessage(err)}`);
    } finally {
      if (mounted.current) setBusy(null);
    }
    void load();
  }

  return (
    <>
      <NewRepository
        onSubmit={() => {
          setActionError(null);
          setNotice(null);
        }}
        onAdded={(repo) => {
          show(repo.name, repo);
          void load();
        }}
      />

      <PageBanners
        loadError={loadError}
        actionError={actionError}
        notice={notice}
        pollMs={CATALOG_POLL_MS}
        testIdPrefix="catalog"
      />

      <section className="card card-flush" aria-labelledby="repositories-title">
        <CountedCardHead
          titleId="repositories-title"
          title="Chart repositories"
          items={repos}
          one="repository"
          many="repositories"
          countTestId="catalog-count"
        />
        <div className="table-scroll">
          <table className="table table-data table-catalog">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">URL</th>
                <th scope="col">Charts</th>
                <th scope="col">Last fetched</th>
                <th scope="col">Last error</th>
                <th scope="col" className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {repos?.map((repo) => {
                const failed = hasFailed(repo);
                const rowBusy = busy?.name === repo.name;
                return (
                  <Fragment key={repo.name}>
                    <tr data-testid={`repo-row-${repo.name}`} data-failed={failed ? 'true' : 'false'}>
                      <td>
                        <div className="cell-main">
                          <Link to={repositoryPath(repo.name)} className="mono" data-testid={`repo-link-${repo.name}`}>
                            {repo.name}
                          </Link>
                        </div>
                        {(repo.username_file || repo.password_file || repo.ca_file) && (
                          <div className="cell-tags">
                            {(repo.username_file || repo.password_file) && (
                              <span className="tag" title={credentialsLabel(repo)}>
                                sign-in
                              </span>
                            )}
                            {repo.ca_file && (
                              <span className="tag" title={`Certificate authorities from ${repo.ca_file}`}>
                                own CA
                              </span>
                            )}
                          </div>
                        )}
                      </td>
                      <td className="col-url mono" data-testid={`repo-url-${repo.name}`}>
                        {repo.url}
                      </td>
                      <td data-testid={`repo-charts-${repo.name}`}>{countsLabel(repo)}</td>
                      <td
                        data-testid={`repo-fetched-${repo.name}`}
                        title={formatDateTime(repo.fetched_at, '') || undefined}
                      >
                        {fetchedLabel(repo, now)}
                      </td>
                      <td className="col-error" data-testid={`repo-error-${repo.name}`}>
                        {failed ? (
                          <>
                            <span className="status status-bad" title={formatDateTime(repo.failed_at, '') || undefined}>
                              Failed{repo.failed_at ? ` ${formatRelative(repo.failed_at, now)}` : ''}
                            </span>
                            <div className="cell-error">{repo.last_error}</div>
                          </>
                        ) : (
                          <span className="muted">—</span>
                        )}
                      </td>
                      <td className="col-actions">
                        <div className="row-actions">
                          <button
                            type="button"
                            className="btn btn-small"
                            data-testid={`repo-refresh-${repo.name}`}
                            disabled={rowBusy}
                            title="Fetch its index.yaml now"
                            onClick={() => void refresh(repo)}
                          >
                            {rowBusy && busy?.action === 'refresh' ? 'Refreshing…' : 'Refresh'}
                          </button>
                          <button
                            type="button"
                            className="btn btn-small btn-danger-outline"
                            data-testid={`repo-remove-${repo.name}`}
                            disabled={rowBusy || confirming === repo.name}
                            onClick={() => setConfirming(repo.name)}
                          >
                            Remove
                          </button>
                        </div>
                      </td>
                    </tr>
                    {confirming === repo.name && (
                      <tr className="confirm-row">
                        <td colSpan={COLUMNS}>
                          <TypeNameConfirm
                            name={repo.name}
                            busy={rowBusy && busy?.action === 'remove'}
                            testId="repo-remove"
                            testIdSuffix={`-${repo.name}`}
                            what="Removing takes the repository and its charts out of the catalog (the repository itself is not touched)."
                            action="Remove"
                            busyAction="Removing…"
                            onConfirm={() => void remove(repo)}
                            onCancel={() => setConfirming(null)}
                          />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
              <ListStateRows
                items={repos}
                failed={loadError !== null}
                columns={COLUMNS}
                empty="No chart repository yet: add one above."
                emptyTestId="catalog-empty"
                unknown="Repositories unknown."
              />
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

/**
 * "Add repository": a name, the URL and, optionally, the files berthd reads
 * the credentials and CA from. The daemon fetches the index before it adds
 * anything, and says why when it cannot.
 */
function NewRepository({ onSubmit, onAdded }: { onSubmit: () => void; onAdded: (repo: RepositoryView) => void }) {
  const id = useId();
  const [form, setForm] = useState<NewRepositoryForm>(EMPTY_REPOSITORY_FORM);
  const [error, setError] = useState<string | null>(null);
  const [added, setAdded] = useState<RepositoryView | null>(null);
  const [busy, setBusy] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);

  function edit(field: keyof NewRepositoryForm, value: string) {
    setForm((f) => ({ ...f, [field]: value }));
    setError(null);
    setAdded(null);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setAdded(null);
    const problem = newRepositoryProblem(form);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    onSubmit();
    try {
      const repo = await addRepository(newRepositoryRequest(form));
      setForm(EMPTY_REPOSITORY_FORM);
      setAdded(repo);
      onAdded(repo);
    } catch (err) {
      setError(formErrorMessage(err));
      nameRef.current?.focus();
    } finally {
      setBusy(false);
    }
  }

  const field = (key: keyof NewRepositoryForm, label: string, testId: string, placeholder: string, optional = false) => (
    <label className="field">
      <span className="field-label">
        {label}
        {optional && <span className="muted"> (optional)</span>}
      </span>
      <input
        ref={key === 'name' ? nameRef : undefined}
        className="input mono"
        data-testid={testId}
        name={key}
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={false}
        placeholder={placeholder}
        aria-describedby={optional ? `${id}-files-hint` : undefined}
        value={form[key]}
        onChange={(e) => edit(key, e.target.value)}
      />
    </label>
  );

  return (
    <section className="card" aria-labelledby={`${id}-title`}>
      <h2 className="card-title" id={`${id}-title`}>
        Add repository
      </h2>
      <form className="form" onSubmit={(e) => void submit(e)} noValidate data-testid="repo-new-form">
        <div className="repo-new-fields">
          {field('name', 'Name', 'repo-new-name', 'e.g. stable')}
          {field('url', 'URL', 'repo-new-url', 'https://charts.example.com')}
        </div>
        <div className="repo-new-fields repo-new-files">
          {field('usernameFile', 'User name file', 'repo-new-username-file', '/etc/berth/secrets/charts/username', true)}
          {field('passwordFile', 'Password file', 'repo-new-password-file', '/etc/berth/secrets/charts/password', true)}
          {field('caFile', 'CA file', 'repo-new-ca-file', '/etc/berth/secrets/charts/ca.pem', true)}
        </div>
        <p className="field-hint" id={`${id}-files-hint`} data-testid="repo-new-files-hint">
          The three files are paths on the server berthd runs on (a mounted Secret, for example), not the secrets
          themselves: berthd reads them each time it fetches. The user name and password files go together; the CA
          file is a PEM bundle of the certificate authorities to trust for this repository.
        </p>
        <div className="form-actions form-actions-split">
          <button type="submit" className="btn btn-primary" data-testid="repo-new-submit" disabled={busy}>
            {busy ? 'Fetching the index…' : 'Add repository'}
          </button>
          <span className="field-hint">Berth fetches &lt;URL&gt;/index.yaml first and adds nothing it cannot read.</span>
        </div>
        {error && (
          <p className="form-error" role="alert" data-testid="repo-new-error">
            {error}
          </p>
        )}
        {added && (
          <p className="form-ok" role="status" data-testid="repo-new-added">
            Added <Link to={repositoryPath(added.name)} className="mono">{added.name}</Link> with{' '}
            {countsLabel(added)}.
          </p>
        )}
      </form>
    </section>
  );
}
