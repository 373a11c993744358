// The catalog's items: the cards of the Catalog page (everyone), the "New item"
// form and the item form it shares with an item's Edit (admins).

import { useId, useRef, useState, type FormEvent } from 'react';
import { createItem, listItems, listRepositories, type ItemSpec, type ItemView, type Whoami } from '../api';
import { PageBanners } from '../ui/Banner';
import { CountedCardHead } from '../ui/CardHead';
import { CATALOG_POLL_MS, withNamed } from './model';
import { formErrorMessage } from '../ui/format';
import { EMPTY_ITEM_FORM, chartRef, itemSpecOf, type ItemForm as ItemFormState } from './items';
import { useMounted, usePolledList, useReadOnce } from '../ui/polling';
import { Link } from '../router';
import { itemPath } from '../routes';
import { isAdmin } from '../spaces/model';

/**
 * The items section of the Catalog page: a card per item (hidden ones, which
 * only admins get, marked so) and, for admins, "New item". `space` is the
 * space to install into, when the page was opened from one.
 */
export function CatalogItems({ me, space }: { me: Whoami; space: string | null }) {
  const admin = isAdmin(me);
  const [notice, setNotice] = useState<string | null>(null);
  const { items, setItems, loadError, load, latest } = usePolledList(listItems, CATALOG_POLL_MS);

  return (
    <>
      {admin && (
        <NewItem
          onSubmit={() => setNotice(null)}
          onAdded={(item) => {
            latest.supersede();
            setItems((list) => withNamed(list, item.spec.name, item, (i) => i.spec.name));
            setNotice(
              item.spec.hidden
                ? `“${item.spec.name}” is in the catalog, hidden from developers.`
                : `“${item.spec.name}” is in the catalog.`,
            );
            void load();
          }}
        />
      )}

      <PageBanners
        loadError={loadError}
        actionError={null}
        notice={notice}
        pollMs={CATALOG_POLL_MS}
        testIdPrefix="items"
        loadErrorTestId="items-load-error"
      />

      <section className="card card-flush" aria-labelledby="items-title">
        <CountedCardHead
          titleId="items-title"
          title="Items"
          items={items}
          one="item"
          many="items"
          countTestId="items-count"
        />
        {items && items.length > 0 && (
          <div className="item-cards" data-testid="items">
            {items.map((item) => (
              <ItemCard key={item.spec.name} item={item} admin={admin} space={space} />
            ))}
          </div>
        )}
        {items?.length === 0 && (
          <p className="muted empty card-inset" data-testid="items-empty">
            {admin ? 'No item yet: add one above, from a chart of a repository below.' : 'Nothing to install yet: ask an admin to add items.'}
          </p>
        )}
        {items === null && <p className="muted empty card-inset">{loadError ? 'Items unknown.' : 'Loading…'}</p>}
      </section>
    </>
  );
}

function ItemCard({ item, admin, space }: { item: ItemView; admin: boolean; space: string | null }) {
  const { name } = item.spec;
  const description = item.spec.description || item.chart_description;
  return (
    <article className="item-card" data-testid={`item-${name}`} data-hidden={String(item.spec.hidden)}>
      <div className="item-card-head">
        <ItemIcon item={item} />
        <div className="item-card-title">
          <Link to={itemPath(name, space)} className="mono" data-testid={`item-link-${name}`}>
            {name}
          </Link>
          {admin && item.spec.hidden && (
            <span
              className="badge badge-small badge-neutral"
              data-testid={`item-hidden-${name}`}
              title="Not offered to developers"
            >
              Hidden
            </span>
          )}
        </div>
      </div>
      <p className="item-card-description" data-testid={`item-description-${name}`}>
        {description || <span className="muted">No description.</span>}
      </p>
      <div className="item-card-meta" data-testid={`item-chart-${name}`}>
        <span className="mono">{chartRef(item)}</span> <span className="mono">{item.chart_version}</span>
        {item.app_version && <span className="muted"> · app {item.app_version}</span>}
      </div>
    </article>
  );
}

/** The item's icon, or its initial when it has none (or it does not load). */
export function ItemIcon({ item, large = false }: { item: ItemView; large?: boolean }) {
  const [broken, setBroken] = useState(false);
  const icon = item.icon;
  const className = `item-icon${large ? ' item-icon-large' : ''}`;
  if (icon && !broken) {
    return (
      <img
        className={className}
        src={icon}
        alt=""
        loading="lazy"
        referrerPolicy="no-referrer"
        onError={() => setBroken(true)}
      />
    );
  }
  return (
    <span className={`${className} item-icon-blank`} aria-hidden="true">
      {item.spec.name.charAt(0).toUpperCase()}
    </span>
  );
}

/** "New item" (admins): a collapsible item form. */
function NewItem({ onSubmit, onAdded }: { onSubmit: () => void; onAdded: (item: ItemView) => void }) {
  const id = useId();
  const [open, setOpen] = useState(false);
  const [added, setAdded] = useState<ItemView | null>(null);
  return (
    <section className="card" aria-labelledby={`${id}-title`}>
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id={`${id}-title`}>
            New item
          </h2>
          <span className="muted card-head-note">Offer a chart of a repository to developers</span>
        </div>
        <button
          type="button"
          className={`btn btn-small ${open ? '' : 'btn-primary'}`}
          data-testid="item-new-toggle"
          aria-expanded={open}
          onClick={() => {
            setAdded(null);
            setOpen(!open);
          }}
        >
          {open ? 'Close' : 'New item'}
        </button>
      </div>
      {open && (
        <ItemForm
          initial={EMPTY_ITEM_FORM}
          testId="item-new"
          action="Add item"
          busyAction="Fetching the chart…"
          save={(spec) => {
            setAdded(null);
            onSubmit();
            return createItem(spec);
          }}
          onSaved={(item) => {
            setAdded(item);
            onAdded(item);
          }}
          resetOnSave
        />
      )}
      {added && (
        <p className="form-ok" role="status" data-testid="item-new-added">
          Added <Link to={itemPath(added.spec.name)} className="mono">{added.spec.name}</Link>: chart{' '}
          <span className="mono">{chartRef(added)}</span> {added.chart_version}, {added.fields.length}{' '}
          {added.fields.length === 1 ? 'field' : 'fields'} to set.
        </p>
      )}
    </section>
  );
}

/**
 * The item form of "New item" and of an item's Edit (`fixedName`: the name
 * cannot change). The repository is picked from the catalog's; the default
 * values are a JSON object; the parameters a comma-separated list. Test ids
 * are `<testId>-form|name|description|icon|repository|chart|version|values|parameters|hidden|submit|error`.
 */
export function ItemForm({
  initial,
  testId,
  action,
  busyAction,
  fixedName = false,
  resetOnSave = false,
  save,
  onSaved,
  onCancel,
}: {
  initial: ItemFormState;
  testId: string;
  action: string;
  busyAction: string;
  fixedName?: boolean;
  resetOnSave?: boolean;
  save: (spec: ItemSpec) => Promise<ItemView>;
  onSaved: (item: ItemView) => void;
  onCancel?: () => void;
}) {
  const id = useId();
  const [form, setForm] = useState<ItemFormState>(initial);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { value: repos, error: reposError } = useReadOnce(listRepositories);
  const mounted = useMounted();
  const firstRef = useRef<HTMLInputElement>(null);

  function edit<K extends keyof ItemFormState>(key: K, value: ItemFormState[K]) {
    setForm((f) => ({ ...f, [key]: value }));
    setError(null);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (busy) return;
    const spec = itemSpecOf(form);
    if (!spec.ok) {
      setError(spec.error);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const item = await save(spec.value);
      if (!mounted.current) return;
      if (resetOnSave) setForm(initial);
      onSaved(item);
    } catch (err) {
      if (!mounted.current) return;
      setError(formErrorMessage(err));
      firstRef.current?.focus();
    } finally {
      if (mounted.current) setBusy(false);
    }
  }

  const text = (key: 'name' | 'description' | 'icon' | 'chart' | 'version', label: string, placeholder: string, hint?: string) => (
    <label className="field">
      <span className="field-label">{label}</span>
      <input
        ref={key === 'name' ? firstRef : undefined}
        className={`input${key === 'description' ? '' : ' mono'}`}
        data-testid={`${testId}-${key}`}
        name={key}
        autoComplete="off"
        autoCapitalize="none"
        spellCheck={key === 'description'}
        placeholder={placeholder}
        readOnly={key === 'name' && fixedName}
        aria-describedby={hint ? `${id}-${key}-hint` : undefined}
        value={form[key]}
        onChange={(e) => edit(key, e.target.value)}
      />
      {hint && (
        <span className="field-hint" id={`${id}-${key}-hint`}>
          {hint}
        </span>
      )}
    </label>
  );

  // The repository the item names stays a choice even when the list does not hold it (any more).
  const repoNames = repos?.map((r) => r.name) ?? [];
  if (form.repository && !repoNames.includes(form.repository)) repoNames.unshift(form.repository);

  return (
    <form className="form item-form" onSubmit={(e) => void submit(e)} noValidate data-testid={`${testId}-form`}>
      <div className="form-columns">
        {text('name', 'Name', 'e.g. redis', fixedName ? 'An item keeps its name.' : 'A DNS label; also the default release name.')}
        <label className="field">
          <span className="field-label">Chart repository</span>
          {reposError ? (
            <input
              className="input mono"
              data-testid={`${testId}-repository`}
              name="repository"
              autoComplete="off"
              spellCheck={false}
              placeholder="e.g. stable"
              value={form.repository}
              onChange={(e) => edit('repository', e.target.value)}
            />
          ) : (
            <select
              className="select select-block"
              data-testid={`${testId}-repository`}
              name="repository"
              value={form.repository}
              onChange={(e) => edit('repository', e.target.value)}
            >
              <option value="">{repos === null ? 'Loading…' : 'Pick a repository'}</option>
              {repoNames.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          )}
          {reposError && (
            <span className="field-error" data-testid={`${testId}-repositories-error`}>
              The repositories could not be read ({reposError}): type the name.
            </span>
          )}
        </label>
        {text('chart', 'Chart', 'e.g. redis')}
        {text('version', 'Version', '*', 'An exact version or a semver range (^1.4); * for the newest.')}
        {text('description', 'Description', 'What developers get')}
        {text('icon', 'Icon URL', 'https://…', 'Optional: the chart’s own icon otherwise.')}
      </div>
      <label className="field">
        <span className="field-label">Default values</span>
        <textarea
          className="input textarea mono"
          data-testid={`${testId}-values`}
          name="values"
          rows={6}
          spellCheck={false}
          aria-describedby={`${id}-values-hint`}
          value={form.values}
          onChange={(e) => edit('values', e.target.value)}
        />
        <span className="field-hint" id={`${id}-values-hint`}>
          A JSON object laid over the chart’s own values for every install.
        </span>
      </label>
      <label className="field">
        <span className="field-label">Parameters</span>
        <input
          className="input mono"
          data-testid={`${testId}-parameters`}
          name="parameters"
          autoComplete="off"
          spellCheck={false}
          placeholder="e.g. auth.password, replicas"
          aria-describedby={`${id}-parameters-hint`}
          value={form.parameters}
          onChange={(e) => edit('parameters', e.target.value)}
        />
        <span className="field-hint" id={`${id}-parameters-hint`}>
          The values developers may set, as dotted paths separated by commas (a path allows what is under it). Empty:
          every value the chart describes.
        </span>
      </label>
      <label className="check">
        <input
          type="checkbox"
          data-testid={`${testId}-hidden`}
          checked={form.hidden}
          onChange={(e) => edit('hidden', e.target.checked)}
        />
        Hidden from developers
      </label>
      <div className="form-actions form-actions-split">
        <button type="submit" className="btn btn-primary" data-testid={`${testId}-submit`} disabled={busy}>
          {busy ? busyAction : action}
        </button>
        {onCancel && (
          <button type="button" className="btn" data-testid={`${testId}-cancel`} onClick={onCancel}>
            Cancel
          </button>
        )}
        <span className="field-hint">Berth fetches the chart first, to know its fields and check the values.</span>
      </div>
      {error && (
        <p className="form-error" role="alert" data-testid={`${testId}-error`}>
          {error}
        </p>
      )}
    </form>
  );
}
