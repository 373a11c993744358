import { useCallback, useId, useState, type FormEvent } from 'react';
import {
  ApiError,
  deleteItem,
  fetchItem,
  installApp,
  isNotFound,
  listSpaces,
  updateItem,
  type FieldView,
  type ItemView,
  type Whoami,
} from '../api';
import { PageBanners } from '../ui/Banner';
import { CATALOG_POLL_MS } from './model';
import { ItemForm, ItemIcon } from './CatalogItems';
import { describeError, formErrorMessage, formatDateTime } from '../ui/format';
import {
  choiceLabel,
  fieldLabel,
  fieldOfMessage,
  initialInput,
  initialInputs,
  inputKind,
  installValues,
  itemFormOf,
  versionLabel,
  withHidden,
  type FieldInput,
} from './items';
import { useLatest, useMounted, usePolling, useReadOnce } from '../ui/polling';
import { GoneBanner, PARENTS, RecordHeader, RecordPending } from '../ui/RecordPage';
import { Link, navigate, useLocation } from '../router';
import { ROUTE_PATHS, repositoryPath, spaceFromSearch, spacePath } from '../routes';
import { TypeNameConfirm } from '../spaces/SpaceParts';
import { formatObjectJson, isAdmin } from '../spaces/model';

type Busy = 'hide' | 'delete' | null;

/**
 * One catalog item: `/catalog/items/<name>`. What it installs, and the install
 * form generated from its fields; admins also edit, hide or show, and delete it.
 */
export function CatalogItem({ me, name }: { me: Whoami; name: string }) {
  const admin = isAdmin(me);
  const space = spaceFromSearch(useLocation().search);
  const [item, setItem] = useState<ItemView | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  /** The daemon does not know the item (404): deleted, hidden from you, or never added. */
  const [gone, setGone] = useState<string | null>(null);
  const [deleted, setDeleted] = useState(false);
  const [checkedAt, setCheckedAt] = useState<Date | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<Busy>(null);
  const [editing, setEditing] = useState(false);
  const [confirmingDelete, setConfirmingDelete] = useState(false);

  // Only the latest answer counts (see ui/polling.ts).
  const latest = useLatest();
  const mounted = latest.mounted;

  /** Reads the item; `false` once it is gone (no point asking again). */
  const load = useCallback(
    async (signal?: AbortSignal): Promise<boolean> => {
      const mine = latest.begin();
      try {
        const answer = await fetchItem(name, { signal });
        if (!latest.current(mine, signal)) return true;
        setItem(answer);
        setLoadError(null);
        setCheckedAt(new Date());
      } catch (err) {
        if (!latest.current(mine, signal)) return true;
        if (isNotFound(err)) {
          setGone(formErrorMessage(err));
          setLoadError(null);
          return false;
        }
        setLoadError(describeError(err));
      }
      return true;
    },
    [name, latest],
  );

  usePolling(load, CATALOG_POLL_MS);

  /** Shows the daemon's answer to an edit at once; reads in flight are stale. */
  function show(updated: ItemView) {
    latest.supersede();
    setItem(updated);
  }

  async function setHidden(current: ItemView, hidden: boolean) {
    setBusy('hide');
    setActionError(null);
    setNotice(null);
    try {
      const updated = await updateItem(name, withHidden(current.spec, hidden));
      if (!mounted.current) return;
      show(updated);
      setNotice(hidden ? `“${name}” is hidden: developers no longer see it.` : `“${name}” is shown to developers again.`);
    } catch (err) {
      if (!mounted.current) return;
      setActionError(`${hidden ? 'Hiding' : 'Showing'} “${name}” failed: ${formErrorMessage(err)}`);
    } finally {
      if (mounted.current) setBusy(null);
    }
  }

  async function remove() {
    setBusy('delete');
    setActionError(null);
    setNotice(null);
    try {
      await deleteItem(name);
      if (!mounted.current) return;
      latest.supersede();
      setDeleted(true);
    } catch (err) {
      if (!mounted.current) return;
      setActionError(`Deleting “${name}” failed: ${formErrorMessage(err)}`);
    } finally {
      if (mounted.current) setBusy(null);
    }
  }

  const header = (
    <RecordHeader
      parent={PARENTS.catalog}
      name={name}
      titleTestId="item-title"
      badges={
        admin &&
        item?.spec.hidden &&
        !deleted && (
          <span className="badge badge-small badge-neutral" data-testid="item-hidden">
            Hidden
          </span>
        )
      }
      checkedAt={gone || deleted ? null : checkedAt}
      every={`read again every ${CATALOG_POLL_MS / 1000} s`}
    />
  );

  if (deleted || gone !== null) {
    return (
      <>
        {header}
        <GoneBanner parent={PARENTS.catalog} testId="item-gone" deleted={deleted}>
          {deleted ? <>“{name}” is deleted from the catalog.</> : gone}
        </GoneBanner>
      </>
    );
  }

  return (
    <>
      {header}

      <PageBanners
        loadError={loadError}
        actionError={actionError}
        notice={notice}
        pollMs={CATALOG_POLL_MS}
        testIdPrefix="item"
      />

      {item === null ? (
        <RecordPending failed={loadError !== null} unknown="Item unknown." />
      ) : (
        <>
          <section className="card" aria-labelledby="item-summary-title">
            <div className="card-head">
              <div className="card-head-text item-summary-head">
                <ItemIcon item={item} large />
                <h2 className="card-title" id="item-summary-title">
                  Catalog item
                </h2>
              </div>
              {admin && (
                <div className="card-head-actions" data-testid="item-admin">
                  <button
                    type="button"
                    className="btn btn-small"
                    data-testid="item-edit"
                    disabled={busy !== null || editing}
                    onClick={() => {
                      setNotice(null);
                      setEditing(true);
                    }}
                  >
                    Edit
                  </button>
                  <button
                    type="button"
                    className="btn btn-small"
                    data-testid="item-hide"
                    disabled={busy !== null}
                    title={item.spec.hidden ? 'Offer it to developers again' : 'Stop offering it to developers'}
                    onClick={() => void setHidden(item, !item.spec.hidden)}
                  >
                    {busy === 'hide' ? 'Saving…' : item.spec.hidden ? 'Show' : 'Hide'}
                  </button>
                  <button
                    type="button"
                    className="btn btn-small btn-danger-outline"
                    data-testid="item-delete"
                    disabled={busy !== null || confirmingDelete}
                    onClick={() => setConfirmingDelete(true)}
                  >
                    Delete
                  </button>
                </div>
              )}
            </div>

            {admin && confirmingDelete && (
              <TypeNameConfirm
                name={name}
                busy={busy === 'delete'}
                testId="item-delete"
                what="Deleting takes the item out of the catalog: developers can no longer install it."
                action="Delete"
                busyAction="Deleting…"
                onConfirm={() => void remove()}
                onCancel={() => setConfirmingDelete(false)}
              />
            )}

            <ItemFacts item={item} admin={admin} />
          </section>

          {admin && editing && (
            <section className="card" aria-labelledby="item-edit-title">
              <h2 className="card-title" id="item-edit-title">
                Edit item
              </h2>
              <ItemForm
                initial={itemFormOf(item.spec)}
                testId="item-edit"
                action="Save"
                busyAction="Fetching the chart…"
                fixedName
                save={(spec) => {
                  setActionError(null);
                  setNotice(null);
                  return updateItem(name, spec);
                }}
                onSaved={(updated) => {
                  show(updated);
                  setEditing(false);
                  setNotice(`“${name}” is saved.`);
                }}
                onCancel={() => setEditing(false)}
              />
            </section>
          )}

          <InstallForm
            // A new form when the fields change (another chart version), not on every reading.
            key={JSON.stringify(item.fields)}
            item={item}
            initialSpace={space}
          />
        </>
      )}
    </>
  );
}

function ItemFacts({ item, admin }: { item: ItemView; admin: boolean }) {
  const { spec } = item;
  return (
    <dl className="facts">
      <dt>Description</dt>
      <dd data-testid="item-description">{spec.description || <span className="muted">None</span>}</dd>
      <dt>Chart</dt>
      <dd data-testid="item-chart">
        {admin ? (
          <Link to={repositoryPath(spec.repository)} className="mono">
            {spec.repository}
          </Link>
        ) : (
          <span className="mono">{spec.repository}</span>
        )}
        <span className="mono">/{spec.chart}</span>
      </dd>
      <dt>Version</dt>
      <dd data-testid="item-version">
        <span className="mono">{versionLabel(item)}</span>
        {item.app_version && <span className="muted"> · app {item.app_version}</span>}
      </dd>
      {item.chart_description && (
        <>
          <dt>The chart says</dt>
          <dd data-testid="item-chart-description">{item.chart_description}</dd>
        </>
      )}
      <dt>Values checked</dt>
      <dd data-testid="item-schema">
        {item.has_schema
          ? 'Yes: against the chart’s values.schema.json'
          : 'No: the chart has no values.schema.json (its fields come from values.yaml)'}
      </dd>
      <dt>Developers may set</dt>
      <dd data-testid="item-parameters">
        {spec.parameters ? (
          spec.parameters.length > 0 ? (
            <div className="chips">
              {spec.parameters.map((p) => (
                <span key={p} className="chip">
                  {p}
                </span>
              ))}
            </div>
          ) : (
            <span className="muted">Nothing</span>
          )
        ) : (
          'Every value the chart describes'
        )}
      </dd>
      {admin && (
        <>
          <dt>Default values</dt>
          <dd>
            {Object.keys(spec.values).length > 0 ? (
              <pre className="json" data-testid="item-values">
                {formatObjectJson(spec.values)}
              </pre>
            ) : (
              <span className="muted" data-testid="item-values">
                None: the chart’s own
              </span>
            )}
          </dd>
        </>
      )}
      <dt>Added</dt>
      <dd>
        {formatDateTime(item.created_at)} by <span className="mono">{item.created_by || 'a removed user'}</span>
      </dd>
      <dt>Changed</dt>
      <dd>
        {formatDateTime(item.updated_at)} by <span className="mono">{item.updated_by || 'a removed user'}</span>
      </dd>
    </dl>
  );
}

/**
 * "Install": the space, the release's name and one input per field of the
 * item, each starting at its default; only the values changed from their
 * default are sent. A refusal (422) is said under the form, on the field it
 * names when it names one. Once accepted, the space's page follows the install.
 */
function InstallForm({ item, initialSpace }: { item: ItemView; initialSpace: string | null }) {
  const id = useId();
  const { fields } = item;
  const [space, setSpace] = useState(initialSpace ?? '');
  const { value: spaces, error: spacesError } = useReadOnce(listSpaces, (list) =>
    // The space asked for when it is one of yours, else the first.
    setSpace((current) => (list.some((s) => s.name === current) ? current : (list[0]?.name ?? ''))),
  );
  const [release, setRelease] = useState(item.spec.name);
  const [inputs, setInputs] = useState<Record<string, FieldInput>>(() => initialInputs(fields));
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  /** The field (or `name`, the release's) the daemon's refusal names. */
  const [named, setNamed] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const mounted = useMounted();

  function change(path: string, value: FieldInput) {
    setInputs((current) => ({ ...current, [path]: value }));
    setFieldErrors(({ [path]: _, ...rest }) => rest);
    if (named === path) setNamed(null);
    setError(null);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    setNamed(null);
    if (space === '') {
      setError('Pick the space to install into.');
      return;
    }
    const { values, errors } = installValues(fields, inputs);
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) {
      setError('Some values are not right: see the marked fields.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await installApp(space, { item: item.spec.name, name: release.trim(), values });
      if (!mounted.current) return;
      navigate(spacePath(space));
    } catch (err) {
      if (!mounted.current) return;
      setError(formErrorMessage(err));
      if (err instanceof ApiError && err.status === 422) {
        setNamed(fieldOfMessage(err.message, fields) ?? (/^name\b/i.test(err.message) ? 'name' : null));
      }
    } finally {
      if (mounted.current) setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby={`${id}-title`}>
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id={`${id}-title`}>
            Install
          </h2>
          <span className="muted card-head-note" data-testid="install-fields-count">
            {fields.length === 0 ? 'nothing to set' : `${fields.length} ${fields.length === 1 ? 'value' : 'values'} to set`}
          </span>
        </div>
      </div>
      <form className="form" onSubmit={(e) => void submit(e)} noValidate data-testid="install-form">
        <div className="form-columns">
          <label className="field">
            <span className="field-label">Space</span>
            {spacesError ? (
              <input
                className="input mono"
                data-testid="install-space"
                autoComplete="off"
                spellCheck={false}
                value={space}
                onChange={(e) => setSpace(e.target.value)}
              />
            ) : (
              <select
                className="select select-block"
                data-testid="install-space"
                value={space}
                disabled={spaces === null}
                onChange={(e) => {
                  setSpace(e.target.value);
                  setError(null);
                }}
              >
                {spaces === null && <option value="">Loading…</option>}
                {spaces?.length === 0 && <option value="">No space</option>}
                {spaces?.map((s) => (
                  <option key={s.name} value={s.name}>
                    {s.name}
                  </option>
                ))}
              </select>
            )}
            {spacesError && (
              <span className="field-error">Your spaces could not be read ({spacesError}): type the space’s name.</span>
            )}
            {spaces?.length === 0 && (
              <span className="field-hint" data-testid="install-no-space">
                You have no space yet: make one on the <Link to={ROUTE_PATHS.spaces}>Spaces</Link> page.
              </span>
            )}
          </label>
          <label className="field">
            <span className="field-label">Release name</span>
            <input
              className="input mono"
              data-testid="install-name"
              autoComplete="off"
              autoCapitalize="none"
              spellCheck={false}
              placeholder={item.spec.name}
              aria-invalid={named === 'name' ? true : undefined}
              value={release}
              onChange={(e) => {
                setRelease(e.target.value);
                if (named === 'name') setNamed(null);
                setError(null);
              }}
            />
            <span className="field-hint">The application’s name in the space.</span>
          </label>
        </div>

        {fields.length > 0 && (
          <div className="form-columns install-fields" data-testid="install-fields">
            {fields.map((field) => (
              <FieldControl
                key={field.path}
                field={field}
                value={inputs[field.path] ?? initialInput(field)}
                error={fieldErrors[field.path] ?? null}
                named={named === field.path}
                onChange={(value) => change(field.path, value)}
              />
            ))}
          </div>
        )}

        <div className="form-actions form-actions-split">
          <button type="submit" className="btn btn-primary" data-testid="install-submit" disabled={busy}>
            {busy ? 'Installing…' : 'Install'}
          </button>
          <span className="field-hint">
            Only the values you change are sent; the others stay the item’s (or the chart’s) defaults.
          </span>
        </div>
        {error && (
          <p className="form-error" role="alert" data-testid="install-error">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}

/**
 * One input for one field, by its kind: a checkbox (boolean), a select (its
 * choices), a JSON box (array, object), a number (with its bounds), a
 * password (a secret) or text. Test ids: `field-<path>`, `field-error-<path>`.
 */
function FieldControl({
  field,
  value,
  error,
  named,
  onChange,
}: {
  field: FieldView;
  value: FieldInput;
  error: string | null;
  /** The daemon's refusal names this field. */
  named: boolean;
  onChange: (value: FieldInput) => void;
}) {
  const id = useId();
  const kind = inputKind(field);
  const invalid = error !== null || named;
  const text = typeof value === 'string' ? value : '';
  const common = {
    id: `${id}-input`,
    'data-testid': `field-${field.path}`,
    'data-kind': field.kind,
    name: field.path,
    required: field.required,
    'aria-invalid': invalid ? true : undefined,
    'aria-describedby': `${id}-hint`,
  } as const;

  const hint = (
    <span className="field-hint" id={`${id}-hint`}>
      <code className="mono">{field.path}</code>
      {field.description && <> · {field.description}</>}
      {kind === 'number' && (field.minimum !== null || field.maximum !== null) && (
        <> · {boundsLabel(field)}</>
      )}
    </span>
  );
  const problem = error !== null && (
    <span className="field-error" data-testid={`field-error-${field.path}`}>
      {error}
    </span>
  );

  if (kind === 'checkbox') {
    return (
      <div className="field" data-field={field.path} data-invalid={invalid ? 'true' : undefined}>
        <label className="check check-field">
          <input {...common} type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} />
          <span className="field-label">
            {fieldLabel(field)}
            <Required field={field} />
          </span>
        </label>
        {hint}
        {problem}
      </div>
    );
  }

  let control;
  if (kind === 'select') {
    const withEmpty = !field.required || initialInput(field) === '';
    control = (
      <select {...common} className="select select-block" value={text} onChange={(e) => onChange(e.target.value)}>
        {withEmpty && <option value="">(not set)</option>}
        {field.choices.map((choice, i) => (
          <option key={i} value={String(i)}>
            {choiceLabel(choice)}
          </option>
        ))}
      </select>
    );
  } else if (kind === 'json') {
    control = (
      <textarea
        {...common}
        className="input textarea mono"
        rows={4}
        spellCheck={false}
        placeholder={field.kind === 'array' ? '[ … ]' : '{ … }'}
        value={text}
        onChange={(e) => onChange(e.target.value)}
      />
    );
  } else {
    control = (
      <input
        {...common}
        className={`input${kind === 'text' ? '' : ' mono'}`}
        type={kind}
        min={kind === 'number' ? (field.minimum ?? undefined) : undefined}
        max={kind === 'number' ? (field.maximum ?? undefined) : undefined}
        step={kind === 'number' ? (field.kind === 'integer' ? 1 : 'any') : undefined}
        autoComplete={kind === 'password' ? 'new-password' : 'off'}
        spellCheck={false}
        value={text}
        onChange={(e) => onChange(e.target.value)}
      />
    );
  }

  return (
    <div className="field" data-field={field.path} data-invalid={invalid ? 'true' : undefined}>
      <label className="field-label" htmlFor={`${id}-input`}>
        {fieldLabel(field)}
        <Required field={field} />
      </label>
      {control}
      {hint}
      {problem}
    </div>
  );
}

function Required({ field }: { field: FieldView }) {
  if (!field.required) return null;
  return (
    <span className="field-required" title="Required" data-testid={`field-required-${field.path}`}>
      {' '}
      *<span className="visually-hidden"> (required)</span>
    </span>
  );
}

/** "1 to 10", "at least 1", "at most 10". */
function boundsLabel(field: FieldView): string {
  if (field.minimum !== null && field.maximum !== null) return `${field.minimum} to ${field.maximum}`;
  if (field.minimum !== null) return `at least ${field.minimum}`;
  return `at most ${field.maximum}`;
}

