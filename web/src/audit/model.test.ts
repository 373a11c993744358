import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../api';
import {
  EMPTY_AUDIT_FORM,
  KUBE_ACTIONS,
  actionSuggestions,
  actorKindLabel,
  actorName,
  auditSearch,
  datetimeLocalToNanos,
  filtersFromForm,
  formFromFilters,
  formatChangeValue,
  formatEventTime,
  formatEventTimeFull,
  hasFilters,
  mergeEvents,
  nanosToDatetimeLocal,
  newestSeq,
  outcomeBadge,
  outcomeLabel,
  parseAuditSearch,
  resourceLabel,
  sameFilters,
  shortHash,
  verifyCounts,
  verifyProblemLabel,
} from './model';

// Local-time expectations are computed with the Date constructor, so these tests pass in any time zone.
const localMs = (y: number, mo: number, d: number, h: number, mi: number, s = 0, ms = 0) =>
  new Date(y, mo - 1, d, h, mi, s, ms).getTime();
const nanos = (ms: number, extra = 0n) => (BigInt(ms) * 1_000_000n + extra).toString();

function event(seq: number, action = 'token.create'): AuditEvent {
  return {
    seq,
    time_unix_nano: 1_795_792_704_950_203_299,
    actor: { kind: 'user', id: 'u-1', name: 'admin' },
    origin: { source: null, user_agent: null, request_id: null, trace_id: null },
    action,
    resource: { kind: 'token', id: 't-1', name: 'laptop', space: null },
    outcome: 'success',
    status: null,
    reason: null,
    changes: {},
    prev_hash: 'p',
    hash: `h${seq}`,
  };
}

describe('datetime-local <-> nanoseconds', () => {
  it('reads minutes and seconds as local time', () => {
    expect(datetimeLocalToNanos('2026-11-27T15:30')).toBe(nanos(localMs(2026, 11, 27, 15, 30)));
    expect(datetimeLocalToNanos('2026-11-27T15:30:05')).toBe(nanos(localMs(2026, 11, 27, 15, 30, 5)));
    expect(datetimeLocalToNanos('2026-11-27T15:30:05.25')).toBe(nanos(localMs(2026, 11, 27, 15, 30, 5, 250)));
    expect(datetimeLocalToNanos(' 2026-01-02T03:04:05 ')).toBe(nanos(localMs(2026, 1, 2, 3, 4, 5)));
  });

  it('gives the last nanosecond of the second for an inclusive end', () => {
    expect(datetimeLocalToNanos('2026-11-27T15:30:05', true)).toBe(nanos(localMs(2026, 11, 27, 15, 30, 5), 999_999_999n));
    expect(datetimeLocalToNanos('2026-11-27T15:30', true)).toBe(nanos(localMs(2026, 11, 27, 15, 30), 999_999_999n));
  });

  it.each([
    '',
    'yesterday',
    '2026-11-27',
    '2026-11-27 15:30',
    '2026-02-30T10:00',
    '2026-13-01T10:00',
    '2026-11-27T24:00',
    '2026-11-27T10:60',
    '1969-12-31T00:00',
  ])('refuses %j', (value) => {
    expect(datetimeLocalToNanos(value)).toBeNull();
  });

  it('writes nanoseconds back as a local datetime-local value, to the second', () => {
    const ms = localMs(2026, 11, 27, 15, 30, 5, 950);
    expect(nanosToDatetimeLocal(nanos(ms, 203_299n))).toBe('2026-11-27T15:30:05');
    expect(nanosToDatetimeLocal(nanos(localMs(2026, 1, 2, 3, 4)))).toBe('2026-01-02T03:04:00');
  });

  it('round-trips', () => {
    for (const value of ['2026-11-27T15:30:05', '2027-02-28T23:59:59', '2026-01-01T00:00:00']) {
      expect(nanosToDatetimeLocal(datetimeLocalToNanos(value)!)).toBe(value);
      expect(nanosToDatetimeLocal(datetimeLocalToNanos(value, true)!)).toBe(value);
    }
  });
});

describe('filters <-> query string', () => {
  it('writes the set filters in a fixed order, leaving out empty ones', () => {
    expect(auditSearch({})).toBe('');
    expect(auditSearch({ outcome: 'failure', actor: 'alice', space: '' })).toBe('?actor=alice&outcome=failure');
    expect(auditSearch({ action: 'token.', since: '1', until: '2' })).toBe('?since=1&until=2&action=token.');
  });

  it('reads back what it wrote', () => {
    const filters = {
      since: '1795792704950203299',
      until: '1795792804950203299',
      actor: 'a b&c',
      action: 'token.',
      resource_kind: 'token',
      resource: 'laptop',
      space: 'team/x',
      outcome: 'denied' as const,
    };
    expect(parseAuditSearch(auditSearch(filters))).toEqual({ filters, ignored: [] });
  });

  it('ignores unknown parameters and empty values, trims the rest', () => {
    expect(parseAuditSearch('?foo=1&actor=&action=%20auth.%20&limit=5')).toEqual({
      filters: { action: 'auth.' },
      ignored: [],
    });
  });

  it('lists unusable values and drops them', () => {
    expect(parseAuditSearch('?since=abc&until=99999999999999999999&outcome=ok&action=x')).toEqual({
      filters: { action: 'x' },
      ignored: ['since=abc', 'until=99999999999999999999', 'outcome=ok'],
    });
    expect(parseAuditSearch('?resource=laptop')).toEqual({
      filters: {},
      ignored: ['resource=laptop (it needs resource_kind)'],
    });
  });

  it('keeps nanoseconds exact (beyond 2^53) and drops leading zeros', () => {
    expect(parseAuditSearch('?since=18446744073709551615&until=0001795792704950203299').filters).toEqual({
      since: '18446744073709551615',
      until: '1795792704950203299',
    });
  });

  it('hasFilters and sameFilters', () => {
    expect(hasFilters({})).toBe(false);
    expect(hasFilters({ actor: '' })).toBe(false);
    expect(hasFilters({ outcome: 'success' })).toBe(true);
    expect(sameFilters({ actor: 'a', action: '' }, { actor: 'a' })).toBe(true);
    expect(sameFilters({ actor: 'a' }, { actor: 'b' })).toBe(false);
  });
});

describe('the filter form', () => {
  it('empty inputs are no filters', () => {
    expect(filtersFromForm(EMPTY_AUDIT_FORM)).toEqual({ ok: true, filters: {} });
  });

  it('converts the time range and trims the text inputs', () => {
    const result = filtersFromForm({
      ...EMPTY_AUDIT_FORM,
      since: '2026-11-27T15:00',
      until: '2026-11-27T16:00:30',
      actor: ' admin ',
      action: 'token.',
      resource_kind: 'token',
      resource: 'laptop',
      outcome: 'denied',
    });
    expect(result).toEqual({
      ok: true,
      filters: {
        since: nanos(localMs(2026, 11, 27, 15, 0)),
        until: nanos(localMs(2026, 11, 27, 16, 0, 30), 999_999_999n),
        actor: 'admin',
        action: 'token.',
        resource_kind: 'token',
        resource: 'laptop',
        outcome: 'denied',
      },
    });
  });

  it('keeps an untouched time exact to the nanosecond', () => {
    const current = { since: nanos(localMs(2026, 11, 27, 15, 0, 1), 123_456_789n) };
    const form = formFromFilters(current);
    expect(form.since).toBe('2026-11-27T15:00:01');
    expect(filtersFromForm(form, current)).toEqual({ ok: true, filters: current });
    // Edited: the new value counts.
    expect(filtersFromForm({ ...form, since: '2026-11-27T15:00:02' }, current)).toEqual({
      ok: true,
      filters: { since: nanos(localMs(2026, 11, 27, 15, 0, 2)) },
    });
  });

  it.each([
    [{ since: 'nope' }, '“From” is not a date and time.'],
    [{ until: '2026-02-30T00:00' }, '“To” is not a date and time.'],
    [{ since: '2026-11-27T16:00', until: '2026-11-27T15:00' }, '“From” is after “To”.'],
    [{ resource: 'laptop' }, 'Pick a resource kind for the resource (e.g. token, user).'],
    [{ outcome: 'ok' }, 'Unknown outcome “ok”.'],
  ])('refuses %j', (patch, error) => {
    expect(filtersFromForm({ ...EMPTY_AUDIT_FORM, ...patch })).toEqual({ ok: false, error });
  });

  it('allows the same second as both ends', () => {
    expect(filtersFromForm({ ...EMPTY_AUDIT_FORM, since: '2026-11-27T15:00:00', until: '2026-11-27T15:00:00' }).ok).toBe(true);
  });

  it('formFromFilters fills every input', () => {
    expect(formFromFilters({})).toEqual(EMPTY_AUDIT_FORM);
    expect(formFromFilters({ actor: 'a', outcome: 'failure', until: nanos(localMs(2026, 1, 2, 3, 4, 5)) })).toEqual({
      ...EMPTY_AUDIT_FORM,
      actor: 'a',
      outcome: 'failure',
      until: '2026-01-02T03:04:05',
    });
  });
});

describe('labels', () => {
  it.each([
    ['success', 'Success', 'ok'],
    ['failure', 'Failure', 'bad'],
    ['denied', 'Denied', 'warn'],
    ['rate_limited', 'Rate limited', 'neutral'],
  ])('outcome %j -> %j (%s)', (outcome, label, tone) => {
    expect(outcomeBadge(outcome)).toEqual({ label, tone });
    expect(outcomeLabel(outcome)).toBe(label);
  });

  it('actor kinds and names', () => {
    expect(actorKindLabel('user')).toBe('User');
    expect(actorKindLabel('token')).toBe('Token');
    expect(actorKindLabel('system')).toBe('System');
    expect(actorKindLabel('anonymous')).toBe('Anonymous');
    expect(actorKindLabel('service_account')).toBe('Service account');
    expect(actorName({ name: 'admin', id: 'u-1' })).toBe('admin');
    expect(actorName({ name: null, id: 'u-1' })).toBe('u-1');
    expect(actorName({ name: null, id: null })).toBe('—');
  });

  it('resources', () => {
    expect(resourceLabel({ kind: 'token', id: 't-1', name: 'laptop' })).toBe('token/laptop');
    expect(resourceLabel({ kind: 'token', id: 't-1', name: null })).toBe('token/t-1');
    expect(resourceLabel({ kind: 'setup', id: null, name: null })).toBe('setup');
  });

  it('verification problems and counts', () => {
    expect(verifyProblemLabel('altered')).toBe('An event was altered');
    expect(verifyProblemLabel('broken_link')).toBe('The hash chain is broken');
    expect(verifyProblemLabel('missing')).toBe('Events are missing');
    expect(verifyProblemLabel('unreadable')).toBe('Events cannot be read');
    expect(verifyProblemLabel('bad_signature')).toBe('A checkpoint signature is not valid');
    expect(verifyProblemLabel('checkpoint_mismatch')).toBe('A checkpoint does not match the log');
    expect(verifyProblemLabel('clock_skew')).toBe('Clock skew');
    expect(verifyProblemLabel(null)).toBe('The log did not verify');
    expect(verifyCounts({ events: 15, first_seq: 1, last_seq: 15, checkpoints: 2 })).toBe(
      '15 events (seq 1–15), 2 signed checkpoints',
    );
    expect(verifyCounts({ events: 1, first_seq: 1, last_seq: 1, checkpoints: 1 })).toBe(
      '1 event (seq 1–1), 1 signed checkpoint',
    );
    expect(verifyCounts({ events: 0, first_seq: null, last_seq: null, checkpoints: 0 })).toBe('0 events, 0 signed checkpoints');
  });
});

describe('times, hashes, changes', () => {
  it('formats an event time locally, to the second', () => {
    const ms = localMs(2026, 11, 27, 15, 30, 5, 950);
    expect(formatEventTime(ms * 1e6 + 203_299)).toBe('2026-11-27 15:30:05');
    expect(formatEventTimeFull(ms * 1e6)).toBe(`2026-11-27 15:30:05.950 local · ${new Date(ms).toISOString()}`);
  });

  it('shortens hashes', () => {
    expect(shortHash('7d8e855c6cb883c10bb91c9683faafecf3b24a2c')).toBe('7d8e855c6cb8…');
    expect(shortHash('abc')).toBe('abc');
    expect(shortHash('abcdef', 4)).toBe('abcd…');
  });

  it('shows changed values', () => {
    expect(formatChangeValue(null)).toBe('—');
    expect(formatChangeValue(undefined)).toBe('—');
    expect(formatChangeValue('admin')).toBe('admin');
    expect(formatChangeValue(['read', 'write'])).toBe('["read","write"]');
    expect(formatChangeValue(false)).toBe('false');
    expect(formatChangeValue({ a: 1 })).toBe('{"a":1}');
  });
});

describe('mergeEvents', () => {
  it('prepends newer events once each, newest first, and says which are new', () => {
    const shown = [event(5), event(4), event(3)];
    const { events, added } = mergeEvents(shown, [event(7), event(6), event(5), event(4)]);
    expect(events.map((e) => e.seq)).toEqual([7, 6, 5, 4, 3]);
    expect(added).toEqual([7, 6]);
  });

  it('appends an older page without calling it new', () => {
    const { events, added } = mergeEvents([event(5), event(4)], [event(3), event(2)]);
    expect(events.map((e) => e.seq)).toEqual([5, 4, 3, 2]);
    expect(added).toEqual([]);
  });

  it('takes everything as new on an empty list', () => {
    expect(mergeEvents([], [event(2), event(1)]).added).toEqual([2, 1]);
  });

  it('keeps the newer copy of an event seen twice', () => {
    const updated = { ...event(4), reason: 'again' };
    expect(mergeEvents([event(4)], [updated]).events).toEqual([updated]);
  });

  it('newestSeq', () => {
    expect(newestSeq([])).toBeNull();
    expect(newestSeq([event(3), event(9), event(1)])).toBe(9);
  });
});

describe('actionSuggestions', () => {
  it('offers the actions on screen, their prefixes, and the Kubernetes API verbs', () => {
    const got = actionSuggestions(['token.create', 'space.sleep', 'token.create']);
    expect(got).toContain('token.');
    expect(got).toContain('token.create');
    expect(got).toContain('space.');
    expect(got).toContain('kube.exec');
    expect(got).toContain('kube.');
    expect(got.length).toBe(KUBE_ACTIONS.length + 4);
    expect([...got].sort()).toEqual(got);
  });
});
