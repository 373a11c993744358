import { describe, expect, it } from 'vitest';
import { ApiError, MalformedResponseError, UnreachableError, type Readiness } from '../api';
import {
  GROUPS_CLAIM_MISSING,
  componentRows,
  describeError,
  formatBytes,
  formErrorMessage,
  formatClock,
  formatDateTime,
  formatGroupList,
  formatRelative,
  hasFormErrors,
  isPast,
  kindLabel,
  parseGroupList,
  parsePreviewInput,
  parseSetupToken,
  roleLabel,
  roleSourceLabel,
  sameGroupLists,
  statusLabel,
  summarizeReadiness,
  userStatus,
  USERNAME_PATTERN,
  validateNewUserForm,
  validateSetupForm,
} from './format';

const ready: Readiness = {
  ready: true,
  components: { store: { status: 'ready' }, server: { status: 'ready' } },
};

const draining: Readiness = {
  ready: false,
  components: { store: { status: 'ready' }, server: { status: 'not_ready', reason: 'draining' } },
};

describe('statusLabel', () => {
  it.each([
    ['ready', 'Ready'],
    ['not_ready', 'Not ready'],
    ['warming_up', 'Warming up'],
    ['DEGRADED', 'Degraded'],
    ['', 'Unknown'],
  ])('%j -> %j', (status, label) => {
    expect(statusLabel(status)).toBe(label);
  });
});

describe('componentRows', () => {
  it('sorts by name and fills in labels, tones and reasons', () => {
    expect(componentRows(draining)).toEqual([
      { name: 'server', status: 'not_ready', statusLabel: 'Not ready', tone: 'bad', reason: 'draining' },
      { name: 'store', status: 'ready', statusLabel: 'Ready', tone: 'ok', reason: '' },
    ]);
  });

  it('gives unknown statuses a neutral tone', () => {
    expect(componentRows({ ready: false, components: { gc: { status: 'warming_up' } } })[0]?.tone).toBe('neutral');
  });
});

describe('summarizeReadiness', () => {
  it('reports all ready', () => {
    expect(summarizeReadiness(ready)).toEqual({ label: 'Ready', tone: 'ok', detail: 'All 2 components ready.' });
  });

  it('names the components that are not ready, with reasons', () => {
    expect(summarizeReadiness(draining)).toEqual({
      label: 'Not ready',
      tone: 'bad',
      detail: '1 of 2 components not ready: server (draining).',
    });
  });

  it('follows the overall flag even when every component looks ready', () => {
    expect(summarizeReadiness({ ...ready, ready: false }).label).toBe('Not ready');
  });

  it('handles one and zero components', () => {
    expect(summarizeReadiness({ ready: true, components: { store: { status: 'ready' } } }).detail).toBe(
      'The only component is ready.',
    );
    expect(summarizeReadiness({ ready: true, components: {} }).detail).toBe('No components reported.');
    expect(summarizeReadiness({ ready: false, components: { store: { status: 'not_ready' } } }).detail).toBe(
      '1 of 1 component not ready: store.',
    );
  });
});

describe('describeError', () => {
  it('says the API could not be reached', () => {
    expect(describeError(new UnreachableError('/readyz', 'Failed to fetch'))).toBe(
      'Could not reach the Berth API: Failed to fetch (GET /readyz)',
    );
  });

  it('shows the code, status and request id of an API error', () => {
    const err = new ApiError({
      code: 'not_found',
      message: 'no such route',
      requestId: 'req-1',
      status: 404,
      endpoint: '/api/v1/version',
    });
    expect(describeError(err)).toBe(
      'The Berth API returned an error for GET /api/v1/version: no such route (not_found, HTTP 404, request id req-1)',
    );
  });

  it('omits a missing request id', () => {
    const err = new ApiError({ code: 'internal', message: 'boom', status: 500, endpoint: '/readyz' });
    expect(describeError(err)).toBe('The Berth API returned an error for GET /readyz: boom (internal, HTTP 500)');
  });

  it('explains a malformed response', () => {
    expect(describeError(new MalformedResponseError('/readyz', 200, 'field "ready" must be a boolean'))).toBe(
      'Unexpected response from the Berth API for GET /readyz: field "ready" must be a boolean',
    );
  });

  it('falls back for anything else', () => {
    expect(describeError(new Error('x'))).toBe('Unexpected error: x');
    expect(describeError('y')).toBe('Unexpected error: y');
  });
});

describe('formatClock', () => {
  it('zero-pads local time', () => {
    expect(formatClock(new Date(2024, 0, 2, 3, 4, 5))).toBe('03:04:05');
  });
});

describe('describeError with a method', () => {
  it('names the method of a change', () => {
    const err = new ApiError({
      code: 'conflict',
      message: 'you cannot disable yourself',
      status: 409,
      endpoint: '/api/v1/users/u-1',
      method: 'PATCH',
    });
    expect(describeError(err)).toBe(
      'The Berth API returned an error for PATCH /api/v1/users/u-1: you cannot disable yourself (conflict, HTTP 409)',
    );
    expect(describeError(new UnreachableError('/api/v1/tokens', 'Failed to fetch', { method: 'POST' }))).toBe(
      'Could not reach the Berth API: Failed to fetch (POST /api/v1/tokens)',
    );
  });
});

describe('formErrorMessage', () => {
  it("uses the daemon's words for a refused request", () => {
    const err = new ApiError({ code: 'unauthenticated', message: 'wrong user name or password', status: 401, endpoint: '/x' });
    expect(formErrorMessage(err)).toBe('Wrong user name or password');
  });

  it('gives the full diagnosis for server errors and the rest', () => {
    const err = new ApiError({ code: 'internal', message: 'boom', status: 500, endpoint: '/x', method: 'POST' });
    expect(formErrorMessage(err)).toBe('The Berth API returned an error for POST /x: boom (internal, HTTP 500)');
    expect(formErrorMessage(new UnreachableError('/x', 'Failed to fetch'))).toMatch(/^Could not reach/);
  });
});

describe('parseSetupToken', () => {
  it.each([
    ['#token=abc123', 'abc123'],
    ['token=abc123', 'abc123'],
    ['#token=abc123&x=1', 'abc123'],
    ['#x=1&token=ff00', 'ff00'],
    ['#token=', null],
    ['#token=%20', null],
    ['', null],
    ['#other=1', null],
  ])('%j -> %j', (hash, token) => {
    expect(parseSetupToken(hash)).toBe(token);
  });
});

describe('validateSetupForm', () => {
  const ok = { username: 'admin', password: 'twelve chars', email: '' };

  it('accepts a good form', () => {
    expect(validateSetupForm(ok)).toBeNull();
    expect(validateSetupForm({ ...ok, username: 'a.b_c-1', email: 'a@b.c' })).toBeNull();
  });

  it.each([
    [{ username: '' }, /user name/],
    [{ username: 'Admin' }, /lowercase/],
    [{ username: '-admin' }, /starting with a letter or digit/],
    [{ username: 'a'.repeat(64) }, /1 to 63/],
    [{ password: 'eleven char' }, /at least 12 characters/],
    [{ email: 'not-an-email' }, /email/],
  ])('rejects %j', (change, message) => {
    expect(validateSetupForm({ ...ok, ...change })).toMatch(message);
  });
});

describe('validateNewUserForm', () => {
  const ok = { username: 'dana', password: 'twelve chars', email: '' };

  it('accepts a good form', () => {
    expect(validateNewUserForm(ok)).toEqual({});
    expect(hasFormErrors(validateNewUserForm(ok))).toBe(false);
    for (const username of ['a', '0', 'a.b_c-1', '9lives', 'x'.repeat(63), 'dana-', 'd..'] as const) {
      expect(validateNewUserForm({ ...ok, username })).toEqual({});
    }
    expect(validateNewUserForm({ ...ok, email: 'dana@example.com' })).toEqual({});
  });

  it.each([
    ['', 'Enter a user name.'],
    ['Dana', 'Only lowercase letters, digits, “.”, “_” and “-”: not “D”.'],
    ['dana smith', 'Only lowercase letters, digits, “.”, “_” and “-”: not spaces.'],
    ['dana@x', 'Only lowercase letters, digits, “.”, “_” and “-”: not “@”.'],
    ['dänä', 'Only lowercase letters, digits, “.”, “_” and “-”: not “ä”.'],
    ['A/B+C*D', 'Only lowercase letters, digits, “.”, “_” and “-”: not “A”, “/”, “B”, …'],
    ['-dana', 'Start with a lowercase letter or digit.'],
    ['.dana', 'Start with a lowercase letter or digit.'],
    ['_dana', 'Start with a lowercase letter or digit.'],
    ['x'.repeat(64), 'At most 63 characters (this one has 64).'],
  ])('user name %j: %s', (username, message) => {
    expect(validateNewUserForm({ ...ok, username })).toEqual({ username: message });
  });

  it('agrees with the user name pattern of the setup form', () => {
    for (const username of ['dana', 'Dana', '-x', 'x'.repeat(63), 'x'.repeat(64), 'a b', 'é', '', '1.2_3-4']) {
      expect(validateNewUserForm({ ...ok, username }).username === undefined).toBe(USERNAME_PATTERN.test(username));
    }
  });

  it.each([
    ['', 'Enter a password of at least 12 characters.'],
    ['eleven char', 'At least 12 characters (11 so far).'],
    // berthd counts characters (code points): 11 emoji are 22 UTF-16 units but still too short.
    ['😀'.repeat(11), 'At least 12 characters (11 so far).'],
  ])('password %j: %s', (password, message) => {
    expect(validateNewUserForm({ ...ok, password })).toEqual({ password: message });
  });

  it('accepts a password of exactly 12 characters, spaces and all', () => {
    expect(validateNewUserForm({ ...ok, password: '            ' })).toEqual({});
    expect(validateNewUserForm({ ...ok, password: '😀'.repeat(12) })).toEqual({});
  });

  it('checks an email only when there is one', () => {
    expect(validateNewUserForm({ ...ok, email: 'dana' })).toEqual({ email: 'That does not look like an email address.' });
    expect(validateNewUserForm({ ...ok, email: 'dana @example.com' })).toEqual({
      email: 'That does not look like an email address.',
    });
  });

  it('reports every bad field at once', () => {
    const errors = validateNewUserForm({ username: '', password: 'short', email: 'nope' });
    expect(Object.keys(errors).sort()).toEqual(['email', 'password', 'username']);
    expect(hasFormErrors(errors)).toBe(true);
  });
});

describe('labels', () => {
  it.each([
    ['admin', 'Admin'],
    ['auditor', 'Auditor'],
    ['member', 'Member'],
    ['super_user', 'Super user'],
  ])('roleLabel(%j) = %j', (role, label) => {
    expect(roleLabel(role)).toBe(label);
  });

  it('labels role sources and kinds', () => {
    expect(roleSourceLabel('setup')).toBe('Setup link');
    expect(roleSourceLabel('manual')).toBe('Set by an admin');
    expect(roleSourceLabel('mapping')).toBe('Group mapping');
    expect(roleSourceLabel('scim_sync')).toBe('Scim sync');
    expect(kindLabel('local')).toBe('Local');
    expect(kindLabel('sso')).toBe('SSO');
    expect(kindLabel('cli')).toBe('CLI');
  });

  it('labels the user status', () => {
    expect(userStatus({ disabled: false })).toEqual({ label: 'Active', tone: 'ok' });
    expect(userStatus({ disabled: true })).toEqual({ label: 'Disabled', tone: 'bad' });
    expect(GROUPS_CLAIM_MISSING).toBe('no groups claim at last sign-in: role kept');
  });
});

describe('group lists', () => {
  it('takes one group per line, trimmed, without blanks or duplicates', () => {
    expect(parseGroupList('  admins \n\nsecurity\r\nadmins\n  ')).toEqual(['admins', 'security']);
    expect(parseGroupList('')).toEqual([]);
  });

  it('keeps commas inside a group name', () => {
    expect(parseGroupList('cn=admins,ou=groups,dc=example,dc=com')).toEqual(['cn=admins,ou=groups,dc=example,dc=com']);
  });

  it('round-trips through formatGroupList', () => {
    expect(parseGroupList(formatGroupList(['a', 'b c']))).toEqual(['a', 'b c']);
    expect(formatGroupList([])).toBe('');
  });

  it('compares lists in order', () => {
    expect(sameGroupLists(['a', 'b'], ['a', 'b'])).toBe(true);
    expect(sameGroupLists(['a', 'b'], ['b', 'a'])).toBe(false);
    expect(sameGroupLists(['a'], ['a', 'b'])).toBe(false);
  });
});

describe('parsePreviewInput', () => {
  it('takes a compact JWT as an ID token', () => {
    expect(parsePreviewInput('  eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\n')).toEqual({
      ok: true,
      request: { id_token: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln' },
    });
  });

  it('takes a JSON claim set', () => {
    expect(
      parsePreviewInput('{"issuer":"https://idp","subject":"s","username":"alice","email_verified":true,"groups":["a"]}'),
    ).toEqual({
      ok: true,
      request: { claims: { issuer: 'https://idp', subject: 's', username: 'alice', email_verified: true, groups: ['a'] } },
    });
  });

  it('keeps a null groups claim out (no groups claim at all)', () => {
    const parsed = parsePreviewInput('{"issuer":"i","subject":"s","groups":null,"name":null}');
    expect(parsed).toEqual({ ok: true, request: { claims: { issuer: 'i', subject: 's' } } });
  });

  it.each([
    ['', /Paste an ID token/],
    ['{"issuer": "i",', /not valid JSON/],
    ['{"subject": "s"}', /needs "issuer"/],
    ['{"issuer": "i", "subject": ""}', /needs "subject"/],
    ['{"issuer": "i", "subject": "s", "groups": "admins"}', /"groups" must be an array of strings/],
    ['{"issuer": "i", "subject": "s", "email_verified": "yes"}', /"email_verified" must be true, false or null/],
    ['{"issuer": "i", "subject": "s", "username": 3}', /"username" must be a string/],
    ['{"iss": "i", "issuer": "i", "subject": "s"}', /Unknown claim "iss"/],
    ['hello world', /neither an ID token/],
    ['a.b', /neither an ID token/],
  ])('rejects %j', (text, message) => {
    const parsed = parsePreviewInput(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });
});

describe('dates', () => {
  const now = new Date('2026-03-10T12:00:00Z');

  it('formats a local date and time, with a fallback', () => {
    const d = new Date(2026, 0, 2, 3, 4, 5);
    expect(formatDateTime(d.toISOString())).toBe('2026-01-02 03:04');
    expect(formatDateTime(null)).toBe('—');
    expect(formatDateTime('garbage', 'n/a')).toBe('n/a');
  });

  it.each([
    ['2026-03-10T11:59:30Z', 'just now'],
    ['2026-03-10T11:55:00Z', '5 min ago'],
    ['2026-03-10T09:00:00Z', '3 h ago'],
    ['2026-03-09T12:00:00Z', '1 day ago'],
    ['2026-03-01T12:00:00Z', '9 days ago'],
    ['2026-06-08T11:59:00Z', 'in 90 days'],
    ['2026-03-10T12:30:00Z', 'in 30 min'],
  ])('formatRelative(%j) = %j', (iso, text) => {
    expect(formatRelative(iso, now)).toBe(text);
  });

  it('uses the fallback for null', () => {
    expect(formatRelative(null, now, 'Never')).toBe('Never');
  });

  it('tells past from future', () => {
    expect(isPast('2026-03-10T11:00:00Z', now)).toBe(true);
    expect(isPast('2026-03-10T13:00:00Z', now)).toBe(false);
    expect(isPast(null, now)).toBe(false);
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [1, '1 B'],
    [1023, '1023 B'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [10 * 1024, '10 KiB'],
    [10 * 1024 + 700, '11 KiB'],
    [1023 * 1024, '1023 KiB'],
    [1024 * 1024 - 1, '1 MiB'],
    [1024 * 1024, '1 MiB'],
    [3.5 * 1024 * 1024, '3.5 MiB'],
    [250 * 1024 * 1024, '250 MiB'],
    [2 * 1024 ** 3, '2 GiB'],
    [5 * 1024 ** 4, '5 TiB'],
    [2048 * 1024 ** 5, '2048 PiB'],
  ])('%d -> %s', (bytes, shown) => {
    expect(formatBytes(bytes)).toBe(shown);
  });

  it('has no answer for what is not a size', () => {
    expect(formatBytes(-1)).toBe('—');
    expect(formatBytes(Number.NaN)).toBe('—');
  });
});
