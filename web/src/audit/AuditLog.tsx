import { Fragment, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import {
  AUDIT_OUTCOMES,
  auditExportHref,
  fetchAuditPublicKey,
  listAuditEvents,
  verifyAuditLog,
  type AuditEvent,
  type AuditFilters,
  type AuditVerification,
} from '../api';
import {
  actionSuggestions,
  EMPTY_AUDIT_FORM,
  actorKindLabel,
  actorName,
  auditSearch,
  filtersFromForm,
  formFromFilters,
  formatChangeValue,
  formatEventTime,
  formatEventTimeFull,
  hasFilters,
  mergeEvents,
  newestSeq,
  outcomeBadge,
  outcomeLabel,
  parseAuditSearch,
  resourceLabel,
  shortHash,
  verifyCounts,
  verifyProblemLabel,
  type AuditForm,
} from './model';
import { describeError, formErrorMessage, formatClock } from '../ui/format';
import { navigate, useLocation } from '../router';
import { ROUTE_PATHS } from '../routes';
import { Banner } from '../ui/Banner';
import { ExpanderCell, ListStateRows, useExpanded } from '../ui/TableParts';
import { useMounted } from '../ui/polling';

/** Events per page (the daemon takes 1..1000). */
const PAGE_SIZE = 100;
/** How often the live tail asks for newer events. */
const LIVE_INTERVAL_MS = 2_000;
/** How long new rows stay highlighted. */
const FRESH_MS = 3_000;
/** The live tail follows at most this many pages back to join up with what is shown. */
const LIVE_MAX_PAGES = 10;
const COLUMNS = 8;
const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function AuditLog() {
  const { search } = useLocation();
  const parsed = useMemo(() => parseAuditSearch(search), [search]);
  const filtersKey = auditSearch(parsed.filters);
  // One object per distinct query string, so that effects re-run only when the filters really change.
  const filters = useMemo(() => parsed.filters, [filtersKey]);

  const [events, setEvents] = useState<AuditEvent[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [reloadKey, setReloadKey] = useState(0);
  const { expanded, toggle: toggleRow, collapse } = useExpanded<number>();
  const [live, setLive] = useState(false);
  const [liveCheckedAt, setLiveCheckedAt] = useState<Date | null>(null);
  const [liveError, setLiveError] = useState<string | null>(null);
  const [fresh, setFresh] = useState<ReadonlySet<number>>(new Set());

  // What the async callbacks need without re-subscribing on every change.
  const eventsRef = useRef<AuditEvent[] | null>(null);
  eventsRef.current = events;
  const moreController = useRef<AbortController | null>(null);

  // The first page, whenever the filters change (or Apply is pressed again).
  useEffect(() => {
    const controller = new AbortController();
    moreController.current?.abort();
    setEvents(null);
    setNext(null);
    setLoadError(null);
    setMoreError(null);
    collapse();
    setFresh(new Set());
    listAuditEvents(filters, { limit: PAGE_SIZE }, { signal: controller.signal }).then(
      (page) => {
        if (controller.signal.aborted) return;
        setEvents(page.events);
        setNext(page.next);
      },
      (err: unknown) => {
        if (!controller.signal.aborted) setLoadError(formErrorMessage(err));
      },
    );
    return () => controller.abort();
  }, [filters, reloadKey]);

  async function loadMore() {
    if (next === null) return;
    const controller = new AbortController();
    moreController.current = controller;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const page = await listAuditEvents(filters, { limit: PAGE_SIZE, before: next }, { signal: controller.signal });
      if (controller.signal.aborted) return;
      setEvents((current) => mergeEvents(current ?? [], page.events).events);
      setNext(page.events.length === 0 ? null : page.next);
    } catch (err) {
      if (!controller.signal.aborted) setMoreError(describeError(err));
    } finally {
      if (moreController.current === controller) {
        moreController.current = null;
        setLoadingMore(false);
      }
    }
  }

  // Live tail: every 2 s, the newest page with the same filters, merged by seq.
  const loaded = events !== null;
  useEffect(() => {
    if (!live || !loaded) return;
    const controller = new AbortController();
    const { signal } = controller;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const freshTimers = new Set<ReturnType<typeof setTimeout>>();

    async function tick() {
      if (document.hidden) {
        timer = setTimeout(() => void tick(), LIVE_INTERVAL_MS);
        return;
      }
      try {
        const shown = eventsRef.current ?? [];
        const newest = newestSeq(shown);
        // Newer events, following pages back until they join up with those shown.
        let page = await listAuditEvents(filters, { limit: PAGE_SIZE }, { signal });
        const incoming = [...page.events];
        let pages = 1;
        const joined = () => newest === null || incoming.some((e) => e.seq <= newest);
        while (!joined() && page.next !== null && pages < LIVE_MAX_PAGES) {
          page = await listAuditEvents(filters, { limit: PAGE_SIZE, before: page.next }, { signal });
          incoming.push(...page.events);
          pages += 1;
        }
        if (signal.aborted) return;
        if (!joined()) {
          // Too far behind to join up: start over from what was just read.
          moreController.current?.abort();
          setEvents(incoming);
          setNext(page.next);
          collapse();
        } else if (incoming.some((e) => newest === null || e.seq > newest)) {
          const { added } = mergeEvents(shown, incoming);
          setEvents((current) => mergeEvents(current ?? [], incoming).events);
          if (newest === null) setNext(page.next);
          if (added.length > 0) {
            setFresh((prev) => new Set([...prev, ...added]));
            const t = setTimeout(() => {
              freshTimers.delete(t);
              setFresh((prev) => new Set([...prev].filter((seq) => !added.includes(seq))));
            }, FRESH_MS);
            freshTimers.add(t);
          }
        }
        setLiveCheckedAt(new Date());
        setLiveError(null);
      } catch (err) {
        if (signal.aborted) return;
        setLiveError(describeError(err));
      }
      timer = setTimeout(() => void tick(), LIVE_INTERVAL_MS);
    }

    // The first look right away, then every LIVE_INTERVAL_MS after the previous one settled.
    timer = setTimeout(() => void tick(), 0);
    return () => {
      controller.abort();
      clearTimeout(timer);
      for (const t of freshTimers) clearTimeout(t);
      setFresh(new Set());
      setLiveError(null);
    };
  }, [live, loaded, filters]);

  function apply(wanted: AuditFilters) {
    const query = auditSearch(wanted);
    // The same filters again: reload them (the address does not change).
    if (query === filtersKey && parsed.ignored.length === 0) setReloadKey((k) => k + 1);
    else navigate(`${ROUTE_PATHS.audit}${query}`);
  }

  const filtered = hasFilters(filters);

  return (
    <>
      <div className="page-header">
        <h1>Audit log</h1>
        <p className="muted">Sign-ins, changes and refusals, newest first · hash-chained and signed</p>
      </div>

      <VerifyPanel />

      <FilterBar filters={filters} filtersKey={filtersKey} ignored={parsed.ignored} events={events} onApply={apply} />

      {loadError && (
        <Banner tone="error" testId="error">{loadError}</Banner>
      )}
      {liveError && (
        <Banner tone="warn" testId="audit-live-error" hint={<>Retrying every {LIVE_INTERVAL_MS / 1000} s.</>}>
          Live tail: {liveError}
        </Banner>
      )}

      <section className="card card-flush" aria-labelledby="audit-events-title">
        <div className="card-head">
          <div className="card-head-text">
            <h2 className="card-title" id="audit-events-title">
              {filtered ? 'Matching events' : 'Events'}
            </h2>
            <span className="muted card-head-note" data-testid="audit-count">
              {events === null
                ? ''
                : `${events.length} shown${next !== null ? ', more below' : ''}${
                    live && liveCheckedAt ? ` · live, checked ${formatClock(liveCheckedAt)}` : ''
                  }`}
            </span>
          </div>
          <div className="card-head-actions">
            <label className="toggle" title={`Adds new events every ${LIVE_INTERVAL_MS / 1000} s`}>
              <input
                type="checkbox"
                data-testid="audit-live"
                checked={live}
                onChange={(e) => {
                  setLive(e.target.checked);
                  setLiveCheckedAt(null);
                }}
              />
              Live
              {live && <span className="live-dot" aria-hidden="true" />}
            </label>
            <a
              className="btn btn-small"
              href={auditExportHref(filters)}
              download="berth-audit.ndjson"
              data-testid="audit-export"
              title="Every event matching the filters, as NDJSON (one JSON object per line), newest first"
            >
              Export NDJSON
            </a>
          </div>
        </div>
        <div className="table-scroll">
          <table className="table table-data table-audit">
            <thead>
              <tr>
                <th scope="col" className="col-expand">
                  <span className="visually-hidden">Details</span>
                </th>
                <th scope="col" title={`Local time (${LOCAL_ZONE})`}>
                  Time
                </th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Resource</th>
                <th scope="col">Outcome</th>
                <th scope="col">Status</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {events?.map((event) => (
                <EventRows
                  key={event.seq}
                  event={event}
                  open={expanded.has(event.seq)}
                  fresh={fresh.has(event.seq)}
                  onToggle={toggleRow}
                />
              ))}
              <ListStateRows
                items={events}
                failed={loadError !== null}
                columns={COLUMNS}
                empty={filtered ? 'No events match these filters.' : 'No events yet.'}
                emptyTestId="audit-empty"
                unknown="Events unknown."
              />
            </tbody>
          </table>
        </div>
        {(next !== null || moreError) && (
          <div className="card-foot">
            {moreError && (
              <p className="form-error" role="alert" data-testid="audit-more-error">
                {moreError}
              </p>
            )}
            {next !== null && (
              <button
                type="button"
                className="btn"
                data-testid="audit-load-more"
                disabled={loadingMore}
                onClick={() => void loadMore()}
              >
                {loadingMore ? 'Loading…' : 'Load more'}
              </button>
            )}
          </div>
        )}
      </section>
    </>
  );
}

// ---------------------------------------------------------------------------
// Filter bar

function FilterBar({
  filters,
  filtersKey,
  ignored,
  events,
  onApply,
}: {
  filters: AuditFilters;
  filtersKey: string;
  ignored: string[];
  events: AuditEvent[] | null;
  onApply: (filters: AuditFilters) => void;
}) {
  const [form, setForm] = useState<AuditForm>(() => formFromFilters(filters));
  const [error, setError] = useState<string | null>(null);

  // The address changed (Apply, Clear, back / forward): show what is applied.
  useEffect(() => {
    setForm(formFromFilters(filters));
    setError(null);
  }, [filters, filtersKey]);

  // Suggestions from what is on screen: actions and their prefixes, resource kinds.
  const actions = useMemo(() => actionSuggestions((events ?? []).map((e) => e.action)), [events]);
  const kinds = useMemo(() => [...new Set((events ?? []).map((e) => e.resource.kind))].sort(), [events]);

  function set<K extends keyof AuditForm>(key: K, value: AuditForm[K]) {
    setForm((f) => ({ ...f, [key]: value }));
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    const result = filtersFromForm(form, filters);
    if (!result.ok) {
      setError(result.error);
      return;
    }
    setError(null);
    onApply(result.filters);
  }

  function clear() {
    setForm(EMPTY_AUDIT_FORM);
    setError(null);
    onApply({});
  }

  return (
    <section className="card" aria-labelledby="audit-filters-title">
      <h2 className="card-title" id="audit-filters-title">
        Filters
      </h2>
      {ignored.length > 0 && (
        <p className="form-warning" role="status" data-testid="audit-filter-ignored">
          Ignored from the address: {ignored.join(', ')}
        </p>
      )}
      <form className="filter-grid" onSubmit={submit} noValidate>
        <label className="field">
          <span className="field-label">From</span>
          <input
            className="input"
            type="datetime-local"
            step={1}
            data-testid="audit-filter-since"
            value={form.since}
            onChange={(e) => set('since', e.target.value)}
          />
        </label>
        <label className="field">
          <span className="field-label">To</span>
          <input
            className="input"
            type="datetime-local"
            step={1}
            data-testid="audit-filter-until"
            title="Inclusive: events during this second count"
            value={form.until}
            onChange={(e) => set('until', e.target.value)}
          />
        </label>
        <TextFilter
          label="Actor"
          field="actor"
          placeholder="user or token name"
          value={form.actor}
          onChange={(v) => set('actor', v)}
        />
        <TextFilter
          label="Action"
          field="action"
          mono
          placeholder="prefix, e.g. token. or kube."
          suggestions={actions}
          value={form.action}
          onChange={(v) => set('action', v)}
        />
        <TextFilter
          label="Resource kind"
          field="resource_kind"
          mono
          placeholder="e.g. user, token"
          suggestions={kinds}
          value={form.resource_kind}
          onChange={(v) => set('resource_kind', v)}
        />
        <TextFilter
          label="Resource"
          field="resource"
          placeholder="name or id"
          value={form.resource}
          onChange={(v) => set('resource', v)}
        />
        <TextFilter
          label="Space"
          field="space"
          value={form.space}
          onChange={(v) => set('space', v)}
        />
        <label className="field">
          <span className="field-label">Outcome</span>
          <select
            className="select select-block"
            data-testid="audit-filter-outcome"
            value={form.outcome}
            onChange={(e) => set('outcome', e.target.value)}
          >
            <option value="">Any</option>
            {AUDIT_OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {outcomeLabel(o)}
              </option>
            ))}
          </select>
        </label>
        <div className="filter-actions">
          {error && (
            <p className="form-error" role="alert" data-testid="audit-filter-error">
              {error}
            </p>
          )}
          <button type="button" className="btn" data-testid="audit-clear" onClick={clear}>
            Clear
          </button>
          <button type="submit" className="btn btn-primary" data-testid="audit-apply">
            Apply
          </button>
        </div>
      </form>
    </section>
  );
}

// ---------------------------------------------------------------------------
// Rows

/** A free-text filter field, with suggestions from the events on screen. */
function TextFilter({
  label,
  field,
  value,
  onChange,
  placeholder,
  mono = false,
  suggestions,
}: {
  label: string;
  field: 'actor' | 'action' | 'resource_kind' | 'resource' | 'space';
  value: string;
  onChange: (value: string) => void;
  placeholder?: string;
  mono?: boolean;
  suggestions?: string[];
}) {
  const id = field.replace('_', '-');
  const listId = suggestions ? `audit-${id}-suggestions` : undefined;
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      <input
        className={mono ? 'input mono' : 'input'}
        data-testid={`audit-filter-${id}`}
        placeholder={placeholder}
        list={listId}
        value={value}
        onChange={(e) => onChange(e.target.value)}
      />
      {suggestions && (
        <datalist id={listId}>
          {suggestions.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
      )}
    </label>
  );
}

function EventRows({
  event,
  open,
  fresh,
  onToggle,
}: {
  event: AuditEvent;
  open: boolean;
  fresh: boolean;
  onToggle: (seq: number) => void;
}) {
  const outcome = outcomeBadge(event.outcome);
  const detailId = `audit-detail-${event.seq}`;
  const classes = [open ? 'row-open' : '', fresh ? 'row-fresh' : ''].filter(Boolean).join(' ') || undefined;
  return (
    <Fragment>
      <tr
        data-testid={`audit-row-${event.seq}`}
        data-action={event.action}
        data-outcome={event.outcome}
        className={classes}
      >
        <ExpanderCell
          open={open}
          controls={detailId}
          what={`details of event ${event.seq}`}
          testId={`audit-expand-${event.seq}`}
          onToggle={() => onToggle(event.seq)}
        />
        <td className="mono" title={formatEventTimeFull(event.time_unix_nano)}>
          {formatEventTime(event.time_unix_nano)}
        </td>
        <td>
          <div className="cell-main">
            <span className="actor-name" title={event.actor.id ?? undefined}>
              {actorName(event.actor)}
            </span>
            <span className={`kind-badge kind-${event.actor.kind}`}>{actorKindLabel(event.actor.kind)}</span>
          </div>
        </td>
        <td className="mono">{event.action}</td>
        <td>
          <span className="mono" title={event.resource.id ?? undefined}>
            {resourceLabel(event.resource)}
          </span>
          {event.resource.space && (
            <div className="cell-sub muted" title={`space ${event.resource.space}`}>
              space {event.resource.space}
            </div>
          )}
        </td>
        <td>
          <span className={`badge badge-small badge-${outcome.tone}`}>{outcome.label}</span>
        </td>
        <td className="mono">{event.status ?? <span className="muted">—</span>}</td>
        <td className="col-reason" title={event.reason ?? undefined}>
          {event.reason ?? <span className="muted">—</span>}
        </td>
      </tr>
      {open && (
        <tr className="detail-row" id={detailId} data-testid={detailId}>
          <td colSpan={COLUMNS}>
            <EventDetail event={event} />
          </td>
        </tr>
      )}
    </Fragment>
  );
}

function EventDetail({ event }: { event: AuditEvent }) {
  const changes = Object.entries(event.changes);
  const dash = <span className="muted">—</span>;
  return (
    <div className="event-detail">
      <div className="detail-column">
        <div className="detail-block">
          <h3 className="detail-title">Origin</h3>
          <dl className="facts facts-compact">
            <dt>Source</dt>
            <dd className="mono">{event.origin.source ?? dash}</dd>
            <dt>User agent</dt>
            <dd>{event.origin.user_agent ?? dash}</dd>
            <dt>Request id</dt>
            <dd className="mono">{event.origin.request_id ?? dash}</dd>
            <dt>Trace id</dt>
            <dd className="mono">{event.origin.trace_id ?? dash}</dd>
            <dt>Actor id</dt>
            <dd className="mono">{event.actor.id ?? dash}</dd>
            <dt>Resource id</dt>
            <dd className="mono">{event.resource.id ?? dash}</dd>
          </dl>
        </div>
        <div className="detail-block">
          <h3 className="detail-title">Chain</h3>
          <dl className="facts facts-compact">
            <dt>Seq</dt>
            <dd className="mono">{event.seq}</dd>
            <dt>Hash</dt>
            <dd className="mono" title={event.hash} data-testid={`audit-hash-${event.seq}`}>
              {shortHash(event.hash)}
            </dd>
            <dt>Previous hash</dt>
            <dd className="mono" title={event.prev_hash}>
              {shortHash(event.prev_hash)}
            </dd>
          </dl>
        </div>
      </div>
      <div className="detail-block">
        <h3 className="detail-title">Changes</h3>
        {changes.length === 0 ? (
          <p className="muted">No field changes recorded.</p>
        ) : (
          <table className="changes" data-testid={`audit-changes-${event.seq}`}>
            <thead>
              <tr>
                <th scope="col">Field</th>
                <th scope="col">Before</th>
                <th scope="col">After</th>
              </tr>
            </thead>
            <tbody>
              {changes.map(([field, change]) => (
                <tr key={field}>
                  <td className="mono change-field">{field}</td>
                  <td className="mono change-before">{change.before === null ? dash : formatChangeValue(change.before)}</td>
                  <td className="mono change-after">{change.after === null ? dash : formatChangeValue(change.after)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}

// ---------------------------------------------------------------------------
// Verification

type VerifyState =
  | { state: 'idle' }
  | { state: 'running' }
  | { state: 'done'; result: AuditVerification; at: Date }
  | { state: 'error'; message: string };

function VerifyPanel() {
  const [verify, setVerify] = useState<VerifyState>({ state: 'idle' });
  const [publicKey, setPublicKey] = useState<string | null>(null);
  const [keyError, setKeyError] = useState<string | null>(null);
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const keyRef = useRef<HTMLElement>(null);
  const mounted = useMounted();

  useEffect(() => {
    const controller = new AbortController();
    fetchAuditPublicKey({ signal: controller.signal }).then(
      (key) => {
        if (!controller.signal.aborted) setPublicKey(key);
      },
      (err: unknown) => {
        if (!controller.signal.aborted) setKeyError(describeError(err));
      },
    );
    return () => controller.abort();
  }, []);

  async function run() {
    setVerify({ state: 'running' });
    try {
      const result = await verifyAuditLog();
      if (!mounted.current) return;
      setVerify({ state: 'done', result, at: new Date() });
      if (result.public_key) {
        setPublicKey(result.public_key);
        setKeyError(null);
      }
    } catch (err) {
      if (mounted.current) setVerify({ state: 'error', message: describeError(err) });
    }
  }

  async function copy() {
    if (!publicKey) return;
    try {
      await navigator.clipboard.writeText(publicKey);
      setCopied('yes');
    } catch {
      const el = keyRef.current;
      if (el) window.getSelection()?.selectAllChildren(el);
      setCopied('no');
    }
  }

  return (
    <section className="card" aria-labelledby="audit-verify-title" data-testid="audit-verify">
      <div className="card-head">
        <h2 className="card-title" id="audit-verify-title">
          Integrity
        </h2>
        <button
          type="button"
          className="btn btn-small btn-secondary"
          data-testid="audit-verify-run"
          disabled={verify.state === 'running'}
          onClick={() => void run()}
        >
          {verify.state === 'running' ? 'Verifying…' : 'Verify now'}
        </button>
      </div>

      {verify.state === 'idle' && (
        <p className="muted">
          Checks every event’s hash, the links between them and the signed checkpoints. Nothing checked yet.
        </p>
      )}
      {verify.state === 'running' && <p className="muted">Checking the whole log…</p>}
      {verify.state === 'error' && (
        <Banner tone="error" testId="audit-verify-error">Could not verify: {verify.message}</Banner>
      )}
      {verify.state === 'done' && <VerifyResult result={verify.result} at={verify.at} />}

      <div className="key-row">
        <span className="key-label">Public key</span>
        {publicKey ? (
          <>
            <code className="key" data-testid="audit-public-key" ref={keyRef} title="Ed25519, hex">
              {publicKey}
            </code>
            <button type="button" className="btn btn-small" data-testid="audit-copy-key" onClick={() => void copy()}>
              {copied === 'yes' ? 'Copied' : 'Copy'}
            </button>
          </>
        ) : (
          <span className="muted">{keyError ?? 'Loading…'}</span>
        )}
      </div>
      {copied === 'no' && <p className="muted">The clipboard is not available here: the key is selected, press Ctrl+C.</p>}
    </section>
  );
}

function VerifyResult({ result, at }: { result: AuditVerification; at: Date }) {
  if (result.ok) {
    return (
      <div className="verify verify-ok" role="status" data-testid="audit-verify-result" data-ok="true">
        <span className="verify-mark" aria-hidden="true">
          ✓
        </span>
        <div>
          <p className="verify-title">Verified: the log is intact</p>
          <p>
            {verifyCounts(result)} · checked at {formatClock(at)}
          </p>
        </div>
      </div>
    );
  }
  return (
    <div className="verify verify-bad" role="alert" data-testid="audit-verify-result" data-ok="false">
      <span className="verify-mark" aria-hidden="true">
        ✗
      </span>
      <div>
        <p className="verify-title">
          Verification failed: {verifyProblemLabel(result.problem)}
          {result.first_broken_seq !== null && (
            <>
              {' '}
              at seq <span data-testid="audit-verify-broken-seq">{result.first_broken_seq}</span>
            </>
          )}
        </p>
        {result.problem && (
          <p>
            Problem: <span className="mono">{result.problem}</span>
          </p>
        )}
        {result.detail && <p className="verify-detail">{result.detail}</p>}
        <p className="verify-counts">
          {verifyCounts(result)} · checked at {formatClock(at)}
        </p>
      </div>
    </div>
  );
}
