// Pure helpers of the audit log page: filters <-> query string, the time-range
// inputs <-> nanoseconds, labels, merging pages. No React, no fetch: unit-tested directly.

import {
  AUDIT_FILTER_KEYS,
  AUDIT_OUTCOMES,
  auditQueryString,
  type AuditEvent,
  type AuditFilters,
  type AuditOutcome,
  type AuditResource,
  type AuditVerification,
} from '../api';
import { statusLabel } from '../ui/format';

const NANOS_PER_MS = 1_000_000n;
/** The largest value the daemon takes for `since` / `until` (u64). */
const MAX_NANOS = 18_446_744_073_709_551_615n;

// ---------------------------------------------------------------------------
// Suggestions for the action filter

/** What kubectl and helm do through Berth's Kubernetes API proxy, as audit actions (reads are counted, not logged). */
export const KUBE_ACTIONS = [
  'kube.',
  'kube.create',
  'kube.update',
  'kube.patch',
  'kube.delete',
  'kube.deletecollection',
  'kube.exec',
  'kube.attach',
  'kube.portforward',
  'kube.proxy',
];

/** The actions on screen and their prefixes (`token.`), with the Kubernetes API's verbs always offered. */
export function actionSuggestions(actions: string[]): string[] {
  const set = new Set<string>(KUBE_ACTIONS);
  for (const action of actions) {
    set.add(action);
    const dot = action.indexOf('.');
    if (dot > 0) set.add(action.slice(0, dot + 1));
  }
  return [...set].sort();
}

// ---------------------------------------------------------------------------
// Filters in the address bar

/** The filters as they travel in the address bar: the same parameters as the API (`?action=token.&outcome=denied`). */
export function auditSearch(filters: AuditFilters): string {
  return auditQueryString(filters);
}

export interface ParsedAuditSearch {
  filters: AuditFilters;
  /** `name=value` pairs of the query string that were not usable (shown, then dropped). */
  ignored: string[];
}

/**
 * The filters of a `/audit?…` query string. Unknown parameters are ignored
 * silently; known ones with an unusable value are listed in `ignored`.
 */
export function parseAuditSearch(search: string): ParsedAuditSearch {
  const params = new URLSearchParams(search);
  const filters: AuditFilters = {};
  const ignored: string[] = [];
  for (const key of AUDIT_FILTER_KEYS) {
    const raw = params.get(key);
    if (raw === null) continue;
    const value = raw.trim();
    if (value === '') continue;
    if (key === 'since' || key === 'until') {
      const nanos = normalizeNanos(value);
      if (nanos === null) ignored.push(`${key}=${raw}`);
      else filters[key] = nanos;
    } else if (key === 'outcome') {
      if (isOutcome(value)) filters.outcome = value;
      else ignored.push(`${key}=${raw}`);
    } else {
      filters[key] = value;
    }
  }
  if (filters.resource !== undefined && filters.resource_kind === undefined) {
    ignored.push(`resource=${filters.resource} (it needs resource_kind)`);
    delete filters.resource;
  }
  return { filters, ignored };
}

export function hasFilters(filters: AuditFilters): boolean {
  return AUDIT_FILTER_KEYS.some((key) => filters[key] !== undefined && filters[key] !== '');
}

export function sameFilters(a: AuditFilters, b: AuditFilters): boolean {
  return auditQueryString(a) === auditQueryString(b);
}

function isOutcome(value: string): value is AuditOutcome {
  return (AUDIT_OUTCOMES as readonly string[]).includes(value);
}

/** A decimal nanosecond count the daemon accepts (0..2^64-1), without leading zeros; `null` otherwise. */
function normalizeNanos(value: string): string | null {
  if (!/^\d+$/.test(value)) return null;
  const n = BigInt(value.replace(/^0+(?=\d)/, ''));
  return n <= MAX_NANOS ? n.toString() : null;
}

// ---------------------------------------------------------------------------
// Time range: <input type="datetime-local"> <-> Unix nanoseconds

const DATETIME_LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/**
 * The value of a datetime-local input (`2026-11-27T15:30` or `…T15:30:05`,
 * local time) as Unix nanoseconds, a decimal string; `null` when empty or not
 * a real date. With `endOfSecond` the whole second counts (…999999999 ns):
 * that is how the "To" field is inclusive of the second it shows.
 */
export function datetimeLocalToNanos(value: string, endOfSecond = false): string | null {
  const m = DATETIME_LOCAL.exec(value.trim());
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((part) => Number(part ?? '0')) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Number((m[7] ?? '').padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const date = new Date(year, month - 1, day, hour, minute, second, ms);
  // new Date() rolls over (Feb 30 -> Mar 2): refuse instead.
  if (Number.isNaN(date.getTime()) || date.getFullYear() !== year || date.getMonth() !== month - 1 || date.getDate() !== day) {
    return null;
  }
  if (date.getTime() < 0) return null;
  const nanos = BigInt(date.getTime()) * NANOS_PER_MS + (endOfSecond ? 999_999_999n - BigInt(ms) * NANOS_PER_MS : 0n);
  return nanos.toString();
}

/** Unix nanoseconds (decimal string) as a datetime-local value in local time, to the second: `2026-11-27T15:30:05`. */
export function nanosToDatetimeLocal(nanos: string): string {
  const ms = Number(BigInt(nanos) / NANOS_PER_MS);
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(
    d.getSeconds(),
  )}`;
}

// ---------------------------------------------------------------------------
// The filter form

/** What the filter bar's inputs hold (all strings, as typed). */
export interface AuditForm {
  since: string;
  until: string;
  actor: string;
  action: string;
  resource_kind: string;
  resource: string;
  space: string;
  outcome: string;
}

export const EMPTY_AUDIT_FORM: AuditForm = {
  since: '',
  until: '',
  actor: '',
  action: '',
  resource_kind: '',
  resource: '',
  space: '',
  outcome: '',
};

/** The inputs for applied filters. */
export function formFromFilters(filters: AuditFilters): AuditForm {
  return {
    since: filters.since ? nanosToDatetimeLocal(filters.since) : '',
    until: filters.until ? nanosToDatetimeLocal(filters.until) : '',
    actor: filters.actor ?? '',
    action: filters.action ?? '',
    resource_kind: filters.resource_kind ?? '',
    resource: filters.resource ?? '',
    space: filters.space ?? '',
    outcome: filters.outcome ?? '',
  };
}

export type FormResult = { ok: true; filters: AuditFilters } | { ok: false; error: string };

/**
 * The filters for what the inputs hold, or why they cannot be applied.
 * `current` (the applied filters) keeps a time exact to the nanosecond when
 * its input was not touched (the input shows whole seconds only).
 */
export function filtersFromForm(form: AuditForm, current: AuditFilters = {}): FormResult {
  const filters: AuditFilters = {};
  for (const key of ['since', 'until'] as const) {
    const text = form[key].trim();
    if (text === '') continue;
    const kept = current[key];
    if (kept !== undefined && nanosToDatetimeLocal(kept) === text) {
      filters[key] = kept;
      continue;
    }
    const nanos = datetimeLocalToNanos(text, key === 'until');
    if (nanos === null) return { ok: false, error: `“${key === 'since' ? 'From' : 'To'}” is not a date and time.` };
    filters[key] = nanos;
  }
  if (filters.since !== undefined && filters.until !== undefined && BigInt(filters.since) > BigInt(filters.until)) {
    return { ok: false, error: '“From” is after “To”.' };
  }
  for (const key of ['actor', 'action', 'resource_kind', 'resource', 'space'] as const) {
    const value = form[key].trim();
    if (value !== '') filters[key] = value;
  }
  if (filters.resource !== undefined && filters.resource_kind === undefined) {
    return { ok: false, error: 'Pick a resource kind for the resource (e.g. token, user).' };
  }
  const outcome = form.outcome.trim();
  if (outcome !== '') {
    if (!isOutcome(outcome)) return { ok: false, error: `Unknown outcome “${outcome}”.` };
    filters.outcome = outcome;
  }
  return { ok: true, filters };
}

// ---------------------------------------------------------------------------
// Labels

export type AuditTone = 'ok' | 'bad' | 'warn' | 'neutral';

const OUTCOME_LABELS: Record<string, { label: string; tone: AuditTone }> = {
  success: { label: 'Success', tone: 'ok' },
  failure: { label: 'Failure', tone: 'bad' },
  denied: { label: 'Denied', tone: 'warn' },
};

/** success -> Success (green), failure -> Failure (red), denied -> Denied (amber); others neutral. */
export function outcomeBadge(outcome: string): { label: string; tone: AuditTone } {
  return OUTCOME_LABELS[outcome] ?? { label: statusLabel(outcome), tone: 'neutral' };
}

export function outcomeLabel(outcome: string): string {
  return outcomeBadge(outcome).label;
}

const ACTOR_KIND_LABELS: Record<string, string> = {
  user: 'User',
  token: 'Token',
  system: 'System',
  anonymous: 'Anonymous',
};

export function actorKindLabel(kind: string): string {
  return ACTOR_KIND_LABELS[kind] ?? statusLabel(kind);
}

/** The actor's name, else its id, else a dash. */
export function actorName(actor: { name: string | null; id: string | null }): string {
  return actor.name ?? actor.id ?? '—';
}

/** `token/laptop`; the id when there is no name; the kind alone when neither. */
export function resourceLabel(resource: Pick<AuditResource, 'kind' | 'id' | 'name'>): string {
  const name = resource.name ?? resource.id;
  return name === null ? resource.kind : `${resource.kind}/${name}`;
}

const PROBLEM_LABELS: Record<string, string> = {
  altered: 'An event was altered',
  broken_link: 'The hash chain is broken',
  missing: 'Events are missing',
  unreadable: 'Events cannot be read',
  bad_signature: 'A checkpoint signature is not valid',
  checkpoint_mismatch: 'A checkpoint does not match the log',
};

export function verifyProblemLabel(problem: string | null): string {
  if (problem === null) return 'The log did not verify';
  return PROBLEM_LABELS[problem] ?? statusLabel(problem);
}

/** One line for a verification answer: "15 events (seq 1–15), 1 signed checkpoint". */
export function verifyCounts(v: Pick<AuditVerification, 'events' | 'first_seq' | 'last_seq' | 'checkpoints'>): string {
  const events = `${v.events} ${v.events === 1 ? 'event' : 'events'}`;
  const range = v.first_seq !== null && v.last_seq !== null ? ` (seq ${v.first_seq}–${v.last_seq})` : '';
  const checkpoints = `${v.checkpoints} signed ${v.checkpoints === 1 ? 'checkpoint' : 'checkpoints'}`;
  return `${events}${range}, ${checkpoints}`;
}

// ---------------------------------------------------------------------------
// Times, hashes, changes

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** An event's time in local time, to the second: `2026-11-27 15:30:05`. */
export function formatEventTime(timeUnixNano: number): string {
  const d = new Date(Math.floor(timeUnixNano / 1e6));
  if (Number.isNaN(d.getTime())) return '—';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(
    d.getSeconds(),
  )}`;
}

/** For the hover text: local time with milliseconds, and UTC. */
export function formatEventTimeFull(timeUnixNano: number): string {
  const d = new Date(Math.floor(timeUnixNano / 1e6));
  if (Number.isNaN(d.getTime())) return '';
  return `${formatEventTime(timeUnixNano)}.${pad(d.getMilliseconds(), 3)} local · ${d.toISOString()}`;
}

/** The first characters of a hash, for a table: `7d8e855c6cb8…`. */
export function shortHash(hash: string, length = 12): string {
  return hash.length > length ? `${hash.slice(0, length)}…` : hash;
}

/** A changed value for display: strings as they are, `null` as a dash, anything else as JSON. */
export function formatChangeValue(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------
// Pages

/**
 * Adds `incoming` events (a fresh first page, or older pages) to those shown,
 * once each by seq, newest first. `added` lists the seqs that are new and
 * newer than everything shown before (what the live tail highlights).
 */
export function mergeEvents(current: readonly AuditEvent[], incoming: readonly AuditEvent[]): {
  events: AuditEvent[];
  added: number[];
} {
  const bySeq = new Map<number, AuditEvent>();
  for (const e of current) bySeq.set(e.seq, e);
  const newest = current.reduce((max, e) => Math.max(max, e.seq), -1);
  const added: number[] = [];
  for (const e of incoming) {
    if (!bySeq.has(e.seq) && e.seq > newest) added.push(e.seq);
    bySeq.set(e.seq, e);
  }
  const events = [...bySeq.values()].sort((a, b) => b.seq - a.seq);
  return { events, added: added.sort((a, b) => b - a) };
}

/** The largest seq shown, or `null` when nothing is. */
export function newestSeq(events: readonly AuditEvent[]): number | null {
  return events.length === 0 ? null : events.reduce((max, e) => Math.max(max, e.seq), 0);
}
