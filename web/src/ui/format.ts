// Pure presentation helpers: no React, no fetch, so they are unit-tested directly.

import {
  ApiError,
  MalformedResponseError,
  UnreachableError,
  type PreviewRequest,
  type Readiness,
  type User,
} from '../api';

export type Tone = 'ok' | 'bad' | 'neutral';

export interface ComponentRow {
  name: string;
  status: string;
  statusLabel: string;
  tone: Tone;
  reason: string;
}

export interface ReadinessSummary {
  /** Exactly `Ready` or `Not ready` (the badge text). */
  label: 'Ready' | 'Not ready';
  tone: Tone;
  /** One sentence for humans, e.g. "1 of 2 components not ready: store (draining)". */
  detail: string;
}

/** "ready" -> "Ready", "not_ready" -> "Not ready", "warming_up" -> "Warming up". */
export function statusLabel(status: string): string {
  const words = status.replace(/[_-]+/g, ' ').trim();
  if (words === '') return 'Unknown';
  return words.charAt(0).toUpperCase() + words.slice(1).toLowerCase();
}

export function statusTone(status: string): Tone {
  if (status === 'ready') return 'ok';
  if (status === 'not_ready') return 'bad';
  return 'neutral';
}

/** Components sorted by name, ready for a table. */
export function componentRows(readiness: Readiness): ComponentRow[] {
  return Object.entries(readiness.components)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, c]) => ({
      name,
      status: c.status,
      statusLabel: statusLabel(c.status),
      tone: statusTone(c.status),
      reason: 'reason' in c ? c.reason : '',
    }));
}

export function summarizeReadiness(readiness: Readiness): ReadinessSummary {
  const rows = componentRows(readiness);
  const notReady = rows.filter((r) => r.status !== 'ready');
  const total = rows.length;
  const noun = total === 1 ? 'component' : 'components';

  let detail: string;
  if (total === 0) {
    detail = 'No components reported.';
  } else if (notReady.length === 0) {
    detail = total === 1 ? 'The only component is ready.' : `All ${total} ${noun} ready.`;
  } else {
    const list = notReady.map((r) => (r.reason ? `${r.name} (${r.reason})` : r.name)).join(', ');
    detail = `${notReady.length} of ${total} ${noun} not ready: ${list}.`;
  }

  return readiness.ready
    ? { label: 'Ready', tone: 'ok', detail }
    : { label: 'Not ready', tone: 'bad', detail };
}

/** One line that says what failed, for the error banner. */
export function describeError(err: unknown): string {
  if (err instanceof UnreachableError) {
    return `Could not reach the Berth API: ${err.message} (${err.method} ${err.endpoint})`;
  }
  if (err instanceof ApiError) {
    const id = err.requestId ? `, request id ${err.requestId}` : '';
    return `The Berth API returned an error for ${err.method} ${err.endpoint}: ${err.message} (${err.code}, HTTP ${err.status}${id})`;
  }
  if (err instanceof MalformedResponseError) {
    return `Unexpected response from the Berth API for ${err.method} ${err.endpoint}: ${err.message}`;
  }
  if (err instanceof Error) {
    return `Unexpected error: ${err.message}`;
  }
  return `Unexpected error: ${String(err)}`;
}

/** "14:03:07" in local time. */
export function formatClock(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/**
 * The message for a form: the daemon's own words when it refused the request
 * ("Wrong user name or password"), the full diagnosis otherwise.
 */
export function formErrorMessage(err: unknown): string {
  if (err instanceof ApiError && err.status < 500) {
    const text = err.message.trim();
    return text === '' ? describeError(err) : sentence(text);
  }
  return describeError(err);
}

/** Upper-cases the first letter: "wrong password" -> "Wrong password". */
export function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------
// Sign-in

/** The setup token from the setup link's fragment (`#token=<hex>`); `null` when there is none. */
export function parseSetupToken(hash: string): string | null {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash;
  const token = new URLSearchParams(fragment).get('token')?.trim();
  return token ? token : null;
}

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const MIN_PASSWORD_LENGTH = 12;

/** Checks the setup form before it is sent; the daemon checks again. `null` when fine. */
export function validateSetupForm(form: { username: string; password: string; email: string }): string | null {
  if (!USERNAME_PATTERN.test(form.username)) {
    return 'The user name must be 1 to 63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit.';
  }
  if (form.password.length < MIN_PASSWORD_LENGTH) {
    return `The password must be at least ${MIN_PASSWORD_LENGTH} characters long.`;
  }
  if (form.email !== '' && !/^[^\s@]+@[^\s@]+$/.test(form.email)) {
    return 'The email address does not look right.';
  }
  return null;
}

// ---------------------------------------------------------------------------
// New local account (Users page)

export interface NewUserForm {
  username: string;
  password: string;
  email: string;
}

/** One message per field that the daemon would refuse; empty when the form may be sent. */
export type NewUserFormErrors = Partial<Record<keyof NewUserForm, string>>;

/** Mirrors berthd: user names are ASCII only. */
const USERNAME_CHAR = /^[a-z0-9._-]$/;
const USERNAME_FIRST_CHAR = /^[a-z0-9]$/;
const MAX_USERNAME_LENGTH = 63;

/**
 * Checks the "New local account" form before it is sent, field by field, with
 * the daemon's own rules (it checks again): a user name of 1 to 63 of
 * `a-z 0-9 . _ -` starting with a letter or digit, a password of at least 12
 * characters (counted as berthd does: code points, not UTF-16 units). The
 * email is optional and only needs to look like one.
 */
export function validateNewUserForm(form: NewUserForm): NewUserFormErrors {
  const errors: NewUserFormErrors = {};
  const username = usernameProblem(form.username);
  if (username) errors.username = username;
  const length = [...form.password].length;
  if (length === 0) errors.password = `Enter a password of at least ${MIN_PASSWORD_LENGTH} characters.`;
  else if (length < MIN_PASSWORD_LENGTH) {
    errors.password = `At least ${MIN_PASSWORD_LENGTH} characters (${length} so far).`;
  }
  if (form.email !== '' && !/^[^\s@]+@[^\s@]+$/.test(form.email)) {
    errors.email = 'That does not look like an email address.';
  }
  return errors;
}

export function hasFormErrors(errors: object): boolean {
  return Object.keys(errors).length > 0;
}

function usernameProblem(name: string): string | null {
  if (name === '') return 'Enter a user name.';
  const chars = [...name];
  const bad = [...new Set(chars.filter((c) => !USERNAME_CHAR.test(c)))];
  if (bad.length > 0) {
    const shown = bad.slice(0, 3).map((c) => (c === ' ' ? 'spaces' : `“${c}”`));
    const more = bad.length > 3 ? ', …' : '.';
    return `Only lowercase letters, digits, “.”, “_” and “-”: not ${shown.join(', ')}${more}`;
  }
  if (!USERNAME_FIRST_CHAR.test(chars[0] ?? '')) return 'Start with a lowercase letter or digit.';
  if (chars.length > MAX_USERNAME_LENGTH) return `At most ${MAX_USERNAME_LENGTH} characters (this one has ${chars.length}).`;
  return null;
}

// ---------------------------------------------------------------------------
// Users and roles

const ROLE_LABELS: Record<string, string> = { admin: 'Admin', auditor: 'Auditor', member: 'Member' };

/** "admin" -> "Admin"; unknown roles get the generic label. */
export function roleLabel(role: string): string {
  return ROLE_LABELS[role] ?? statusLabel(role);
}

const ROLE_SOURCE_LABELS: Record<string, string> = {
  setup: 'Setup link',
  manual: 'Set by an admin',
  mapping: 'Group mapping',
};

export function roleSourceLabel(source: string): string {
  return ROLE_SOURCE_LABELS[source] ?? statusLabel(source);
}

const KIND_LABELS: Record<string, string> = { local: 'Local', sso: 'SSO', personal: 'Personal', cli: 'CLI' };

/** Account kinds (local, sso) and token kinds (personal, cli). */
export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? statusLabel(kind);
}

export const GROUPS_CLAIM_MISSING = 'no groups claim at last sign-in: role kept';

export function userStatus(user: Pick<User, 'disabled'>): { label: 'Active' | 'Disabled'; tone: Tone } {
  return user.disabled ? { label: 'Disabled', tone: 'bad' } : { label: 'Active', tone: 'ok' };
}

// ---------------------------------------------------------------------------
// Group lists (one per line)

/**
 * Group names typed one per line: trimmed, blank lines dropped, duplicates
 * removed, order kept. Only newlines separate: group names may contain commas
 * (LDAP DNs such as `cn=admins,ou=groups,dc=example,dc=com`).
 */
export function parseGroupList(text: string): string[] {
  const seen = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const name = line.trim();
    if (name !== '') seen.add(name);
  }
  return [...seen];
}

export function formatGroupList(groups: readonly string[]): string {
  return groups.join('\n');
}

export function sameGroupLists(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((g, i) => g === b[i]);
}

// ---------------------------------------------------------------------------
// Mapping dry-run input

export type PreviewInput = { ok: true; request: Pick<PreviewRequest, 'id_token' | 'claims'> } | { ok: false; error: string };

const JWT_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * The dry-run textarea holds either an ID token (a compact JWT) or a JSON
 * claim set in Berth's shape (`issuer`, `subject`, `username`, `email`,
 * `email_verified`, `name`, `groups`).
 */
export function parsePreviewInput(text: string): PreviewInput {
  const input = text.trim();
  if (input === '') return { ok: false, error: 'Paste an ID token or a JSON claim set first.' };
  if (input.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(input);
    } catch (err) {
      return { ok: false, error: `The claim set is not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
    }
    const claims = claimsFromJson(value);
    return typeof claims === 'string' ? { ok: false, error: claims } : { ok: true, request: { claims } };
  }
  if (JWT_PATTERN.test(input)) return { ok: true, request: { id_token: input } };
  return {
    ok: false,
    error: 'That is neither an ID token (three base64url parts separated by dots) nor a JSON claim set ({ … }).',
  };
}

/** A claim set the dry-run takes as given. */
type ClaimSet = NonNullable<PreviewRequest['claims']>;

/** The claim set, or why it is not one. */
function claimsFromJson(value: unknown): ClaimSet | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'The claim set must be a JSON object.';
  const o = value as Record<string, unknown>;
  for (const key of ['issuer', 'subject'] as const) {
    if (typeof o[key] !== 'string' || o[key] === '') return `The claim set needs "${key}" (a non-empty string).`;
  }
  const claims: ClaimSet = { issuer: o.issuer as string, subject: o.subject as string };
  for (const key of ['username', 'email', 'name'] as const) {
    const v = o[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') return `"${key}" must be a string or null.`;
    claims[key] = v;
  }
  if (o.email_verified !== undefined && o.email_verified !== null) {
    if (typeof o.email_verified !== 'boolean') return '"email_verified" must be true, false or null.';
    claims.email_verified = o.email_verified;
  }
  if (o.groups !== undefined && o.groups !== null) {
    if (!Array.isArray(o.groups) || !o.groups.every((g) => typeof g === 'string')) {
      return '"groups" must be an array of strings, or null for "no groups claim".';
    }
    claims.groups = o.groups as string[];
  }
  const known = new Set(['issuer', 'subject', 'username', 'email', 'email_verified', 'name', 'groups']);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    return `Unknown claim ${unknown.map((k) => JSON.stringify(k)).join(', ')}: use issuer, subject, username, email, email_verified, name, groups.`;
  }
  return claims;
}

// ---------------------------------------------------------------------------
// Dates

/** "2026-11-27 15:02" in local time; `fallback` for null or unparsable values. */
export function formatDateTime(iso: string | null, fallback = '—'): string {
  if (iso === null) return fallback;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return fallback;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", "in 90 days"; `fallback` for null. */
export function formatRelative(iso: string | null, now: Date, fallback = '—'): string {
  if (iso === null) return fallback;
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return fallback;
  const seconds = Math.round((t - now.getTime()) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return 'just now';
  let amount: string;
  if (abs < 3600) amount = `${Math.floor(abs / 60)} min`;
  else if (abs < 86_400) amount = `${Math.floor(abs / 3600)} h`;
  else {
    // Rounded: a token made a moment ago for 90 days says "in 90 days", not 89.
    const days = Math.max(1, Math.round(abs / 86_400));
    amount = `${days} ${days === 1 ? 'day' : 'days'}`;
  }
  return seconds < 0 ? `${amount} ago` : `in ${amount}`;
}

export function isPast(iso: string | null, now: Date): boolean {
  if (iso === null) return false;
  const t = new Date(iso).getTime();
  return !Number.isNaN(t) && t <= now.getTime();
}

// ---------------------------------------------------------------------------
// Sizes

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * "512 B", "1.5 KiB", "12 KiB", "3.2 MiB": powers of 1024, one decimal below
 * 10 of a unit (none when it is whole), whole numbers above.
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  for (;;) {
    value /= 1024;
    const shown = value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
    // 1023.9 KiB would show as "1024 KiB": say "1 MiB" instead.
    if (shown >= 1024 && unit < BYTE_UNITS.length - 1) {
      unit += 1;
      continue;
    }
    return `${shown} ${BYTE_UNITS[unit]}`;
  }
}
