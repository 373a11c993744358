// Pure helpers of the Catalog pages: no React, no fetch, so they are unit-tested directly.

import type { ChartVersionView, ChartView, NewRepositoryRequest, RepositoryView } from '../api';
import { formatRelative } from '../ui/format';

/**
 * How often the Catalog pages ask again. The daemon fetches every index on
 * its own schedule (hourly by default): this only brings its results in.
 */
export const CATALOG_POLL_MS = 30_000;

/** The "Add repository" form as typed. */
export interface NewRepositoryForm {
  name: string;
  url: string;
  usernameFile: string;
  passwordFile: string;
  caFile: string;
}

export const EMPTY_REPOSITORY_FORM: NewRepositoryForm = { name: '', url: '', usernameFile: '', passwordFile: '', caFile: '' };

/**
 * Checks the form before it is sent, with the daemon's own rules (it checks
 * again, and fetches the index): a name, an http:// or https:// URL, and the
 * user name and password files both or neither. `null` when fine.
 */
export function newRepositoryProblem(form: NewRepositoryForm): string | null {
  if (form.name.trim() === '') return 'Enter a name for the repository.';
  const url = form.url.trim();
  if (url === '') return 'Enter the repository’s URL.';
  if (!/^https?:\/\/\S+$/.test(url)) return 'The URL must start with http:// or https://.';
  if ((form.usernameFile.trim() === '') !== (form.passwordFile.trim() === '')) {
    return 'Give both the user name file and the password file, or neither.';
  }
  return null;
}

/** The request for the form: every field trimmed, the empty optional ones left out. */
export function newRepositoryRequest(form: NewRepositoryForm): NewRepositoryRequest {
  const req: NewRepositoryRequest = { name: form.name.trim(), url: form.url.trim() };
  const usernameFile = form.usernameFile.trim();
  const passwordFile = form.passwordFile.trim();
  const caFile = form.caFile.trim();
  if (usernameFile) req.username_file = usernameFile;
  if (passwordFile) req.password_file = passwordFile;
  if (caFile) req.ca_file = caFile;
  return req;
}

/** "1 chart · 3 versions". */
export function countsLabel(counts: { charts: number; versions: number }): string {
  const charts = `${counts.charts} ${counts.charts === 1 ? 'chart' : 'charts'}`;
  const versions = `${counts.versions} ${counts.versions === 1 ? 'version' : 'versions'}`;
  return `${charts} · ${versions}`;
}

/** When the index was last fetched and read: "5 min ago", or "Never". */
export function fetchedLabel(repo: Pick<RepositoryView, 'fetched_at'>, now: Date): string {
  return formatRelative(repo.fetched_at, now, 'Never');
}

/** Whether the last fetch failed (its charts are then those of the last good one). */
export function hasFailed(repo: Pick<RepositoryView, 'last_error'>): boolean {
  return repo.last_error !== null && repo.last_error !== '';
}

/** How the daemon signs in to the repository: "User name from /a, password from /b", or "None". */
export function credentialsLabel(repo: Pick<RepositoryView, 'username_file' | 'password_file'>): string {
  if (repo.username_file && repo.password_file) {
    return `User name from ${repo.username_file}, password from ${repo.password_file}`;
  }
  if (repo.username_file) return `User name from ${repo.username_file}`;
  if (repo.password_file) return `Password from ${repo.password_file}`;
  return 'None';
}

/**
 * What a refresh's answer says, for the page: the error when the fetch
 * failed (the charts of the last good fetch are kept), the counts otherwise.
 */
export function refreshOutcome(repo: RepositoryView): { ok: boolean; message: string } {
  if (hasFailed(repo)) {
    const kept =
      repo.fetched_at === null
        ? 'No fetch has succeeded yet.'
        : `The charts of the last good fetch are kept (${countsLabel(repo)}).`;
    const why = (repo.last_error ?? '').trim().replace(/\.$/, '');
    return { ok: false, message: `Refreshing “${repo.name}” failed: ${why}. ${kept}` };
  }
  return { ok: true, message: `“${repo.name}” is refreshed: ${countsLabel(repo)}.` };
}

/** The newest version of a chart (the daemon lists them newest first), or `null` for none. */
export function latestVersion(chart: ChartView): ChartVersionView | null {
  return chart.versions[0] ?? null;
}

/** A chart is deprecated when its newest version says so (as Helm has it). */
export function isDeprecated(chart: ChartView): boolean {
  return latestVersion(chart)?.deprecated ?? false;
}

/** The charts whose name or newest description holds `query` (any case); all of them for an empty query. */
export function filterCharts(charts: ChartView[], query: string): ChartView[] {
  const q = query.trim().toLowerCase();
  if (q === '') return charts;
  return charts.filter(
    (c) => c.name.toLowerCase().includes(q) || (latestVersion(c)?.description ?? '').toLowerCase().includes(q),
  );
}

/** "2.1.0, 2.0.3, 1.9.0 and 12 more": the versions, newest first, for a tooltip. */
export function versionList(chart: ChartView, max = 10): string {
  const shown = chart.versions.slice(0, max).map((v) => v.version);
  const more = chart.versions.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

/**
 * The list with this entry put in (replacing the one of the same name, the
 * others sorted by name) or, for `null`, taken out: a daemon's answer shown
 * at once, before the list is read again.
 */
export function withNamed<T>(list: T[] | null, name: string, entry: T | null, nameOf: (entry: T) => string): T[] | null {
  if (list === null) return entry ? [entry] : null;
  if (entry === null) return list.filter((e) => nameOf(e) !== name);
  const found = list.some((e) => nameOf(e) === name);
  if (found) return list.map((e) => (nameOf(e) === name ? entry : e));
  return [...list, entry].sort((x, y) => (nameOf(x) < nameOf(y) ? -1 : nameOf(x) > nameOf(y) ? 1 : 0));
}

/** The list with this repository put in (replacing the one of the same name, sorted by name) or, for `null`, taken out. */
export function withRepository(
  list: RepositoryView[] | null,
  name: string,
  repo: RepositoryView | null,
): RepositoryView[] | null {
  return withNamed(list, name, repo, (r) => r.name);
}
