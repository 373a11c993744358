import { describe, expect, it } from 'vitest';
import type { ChartView, RepositoryView } from '../api';
import {
  EMPTY_REPOSITORY_FORM,
  countsLabel,
  credentialsLabel,
  fetchedLabel,
  filterCharts,
  hasFailed,
  isDeprecated,
  latestVersion,
  newRepositoryProblem,
  newRepositoryRequest,
  refreshOutcome,
  versionList,
  withRepository,
} from './model';

const NOW = new Date('2026-11-27T12:00:00Z');

function repo(overrides: Partial<RepositoryView> = {}): RepositoryView {
  return {
    name: 'stable',
    url: 'https://charts.example.com',
    username_file: null,
    password_file: null,
    ca_file: null,
    added_by: 'root',
    added_at: '2026-11-26T12:00:00Z',
    fetched_at: '2026-11-27T11:50:00Z',
    last_error: null,
    failed_at: null,
    charts: 2,
    versions: 3,
    ...overrides,
  };
}

function chart(name: string, versions: [string, boolean?, string?][]): ChartView {
  return {
    name,
    versions: versions.map(([version, deprecated = false, description]) => ({
      version,
      app_version: null,
      description: description ?? null,
      icon: null,
      created: null,
      digest: null,
      urls: [],
      deprecated,
    })),
  };
}

describe('the Add repository form', () => {
  const form = { ...EMPTY_REPOSITORY_FORM, name: 'stable', url: 'https://charts.example.com' };

  it.each([
    [{ name: ' ' }, 'Enter a name for the repository.'],
    [{ url: '' }, 'Enter the repository’s URL.'],
    [{ url: 'ftp://charts.example.com' }, 'The URL must start with http:// or https://.'],
    [{ url: 'https://' }, 'The URL must start with http:// or https://.'],
    [{ usernameFile: '/u' }, 'Give both the user name file and the password file, or neither.'],
    [{ passwordFile: '/p', usernameFile: '  ' }, 'Give both the user name file and the password file, or neither.'],
  ])('refuses %j', (change, problem) => {
    expect(newRepositoryProblem({ ...form, ...change })).toBe(problem);
  });

  it.each([[{}], [{ url: 'http://10.0.0.4:8080/charts' }], [{ usernameFile: '/u', passwordFile: '/p', caFile: '/ca.pem' }]])(
    'accepts %j',
    (change) => {
      expect(newRepositoryProblem({ ...form, ...change })).toBeNull();
    },
  );

  it('builds the request trimmed, leaving the empty files out', () => {
    expect(newRepositoryRequest({ ...form, name: ' stable ', url: ' https://charts.example.com ', caFile: ' ' })).toEqual({
      name: 'stable',
      url: 'https://charts.example.com',
    });
    expect(newRepositoryRequest({ ...form, usernameFile: '/u ', passwordFile: ' /p', caFile: '/ca.pem' })).toEqual({
      name: 'stable',
      url: 'https://charts.example.com',
      username_file: '/u',
      password_file: '/p',
      ca_file: '/ca.pem',
    });
  });
});

describe('labels', () => {
  it('counts charts and versions', () => {
    expect(countsLabel({ charts: 1, versions: 1 })).toBe('1 chart · 1 version');
    expect(countsLabel({ charts: 0, versions: 0 })).toBe('0 charts · 0 versions');
    expect(countsLabel({ charts: 12, versions: 40 })).toBe('12 charts · 40 versions');
  });

  it('says when the index was fetched', () => {
    expect(fetchedLabel(repo(), NOW)).toBe('10 min ago');
    expect(fetchedLabel(repo({ fetched_at: null }), NOW)).toBe('Never');
  });

  it('names the credential files, never more', () => {
    expect(credentialsLabel(repo())).toBe('None');
    expect(credentialsLabel(repo({ username_file: '/u', password_file: '/p' }))).toBe('User name from /u, password from /p');
  });
});

describe('refreshOutcome', () => {
  it('reports the counts of a good fetch', () => {
    expect(refreshOutcome(repo())).toEqual({ ok: true, message: '“stable” is refreshed: 2 charts · 3 versions.' });
    expect(hasFailed(repo())).toBe(false);
  });

  it('reports a failed fetch with its error and the charts kept', () => {
    const failed = repo({ last_error: 'https://charts.example.com/index.yaml answered 404 Not Found.', failed_at: '2026-11-27T12:00:00Z' });
    expect(hasFailed(failed)).toBe(true);
    expect(refreshOutcome(failed)).toEqual({
      ok: false,
      message:
        'Refreshing “stable” failed: https://charts.example.com/index.yaml answered 404 Not Found. The charts of the last good fetch are kept (2 charts · 3 versions).',
    });
    expect(refreshOutcome({ ...failed, fetched_at: null }).message).toContain('No fetch has succeeded yet.');
  });
});

describe('charts', () => {
  const redis = chart('redis', [['1.10.0', false, 'An in-memory store'], ['1.2.0']]);
  const old = chart('legacy', [['0.3.0', true, 'Old'], ['0.2.0']]);
  const empty = chart('empty', []);

  it('takes the first version as the latest, and a deprecated latest as a deprecated chart', () => {
    expect(latestVersion(redis)?.version).toBe('1.10.0');
    expect(latestVersion(empty)).toBeNull();
    expect(isDeprecated(old)).toBe(true);
    expect(isDeprecated(redis)).toBe(false);
    expect(isDeprecated(empty)).toBe(false);
    // Only the latest counts: an old deprecated version does not deprecate the chart.
    expect(isDeprecated(chart('x', [['2.0.0'], ['1.0.0', true]]))).toBe(false);
  });

  it('filters by name or latest description, any case', () => {
    expect(filterCharts([redis, old, empty], '').map((c) => c.name)).toEqual(['redis', 'legacy', 'empty']);
    expect(filterCharts([redis, old, empty], ' REDIS ').map((c) => c.name)).toEqual(['redis']);
    expect(filterCharts([redis, old, empty], 'memory').map((c) => c.name)).toEqual(['redis']);
    expect(filterCharts([redis, old, empty], 'nothing')).toEqual([]);
  });

  it('lists the versions for a tooltip, up to a limit', () => {
    expect(versionList(redis)).toBe('1.10.0, 1.2.0');
    expect(versionList(chart('many', [['5'], ['4'], ['3'], ['2'], ['1']]), 3)).toBe('5, 4, 3 and 2 more');
    expect(versionList(empty)).toBe('');
  });
});

describe('withRepository', () => {
  const a = repo({ name: 'a' });
  const c = repo({ name: 'c' });

  it('replaces in place, inserts by name, and takes out', () => {
    expect(withRepository([a, c], 'c', { ...c, charts: 9 })?.map((r) => r.charts)).toEqual([2, 9]);
    expect(withRepository([c, a], 'b', repo({ name: 'b' }))?.map((r) => r.name)).toEqual(['a', 'b', 'c']);
    expect(withRepository([a, c], 'a', null)?.map((r) => r.name)).toEqual(['c']);
    expect(withRepository(null, 'a', a)).toEqual([a]);
    expect(withRepository(null, 'a', null)).toBeNull();
  });
});
