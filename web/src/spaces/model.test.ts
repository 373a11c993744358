import { describe, expect, it } from 'vitest';
import type { SpaceView, Whoami } from '../api';
import {
  canManageSpace,
  canRemoveMember,
  deleteConfirmed,
  deletedAtLabel,
  formatObjectJson,
  labelPairs,
  memberName,
  newSpaceProblem,
  objectKey,
  onTheWaySentence,
  phaseBadge,
  quotaItems,
  quotaRows,
  sleepsLabel,
  wakefulnessSentence,
  withSpace,
  workloadsOnTheWay,
} from './model';

const NOW = new Date('2026-11-27T10:00:00Z');

function me(id: string, role = 'member'): Whoami {
  return {
    user: {
      id,
      username: id,
      email: null,
      display_name: null,
      role,
      role_source: 'manual',
      kind: 'local',
      disabled: false,
      created_at: '2026-11-01T00:00:00Z',
      last_login_at: null,
      groups: [],
      groups_claim_missing: false,
    },
    via: 'session',
    scopes: ['read', 'write'],
    csrf_token: null,
  };
}

function space(overrides: Partial<SpaceView> = {}): SpaceView {
  return {
    name: 'alpha',
    owner: { user_id: 'u-1', username: 'alice', role: 'owner' },
    members: [{ user_id: 'u-1', username: 'alice', role: 'owner' }],
    persistent: false,
    personal: false,
    labels: {},
    quota_profile: 'default',
    generation: 1,
    created_at: '2026-11-27T09:00:00Z',
    last_activity: '2026-11-27T09:50:00Z',
    last_activity_reason: 'api call by alice',
    wakefulness: { asleep: false, reason: 'dev session of alice since 09:50', by: 'alice', since: '2026-11-27T09:50:00Z' },
    sleeps_at: '2026-11-27T12:30:00Z',
    deleted_at: '2026-12-27T09:50:00Z',
    status: { phase: 'Active', observed_generation: 1, conditions: [], quota: { profile: 'default', hard: {}, used: {} } },
    your_role: 'owner',
    ...overrides,
  };
}

describe('phaseBadge', () => {
  it.each([
    ['Active', 'ok'],
    ['Sleeping', 'neutral'],
    ['Pending', 'warn'],
    ['Waking', 'warn'],
    ['Terminating', 'warn'],
    ['Failed', 'bad'],
    ['Hibernating', 'neutral'],
  ])('%s is %s', (phase, tone) => {
    expect(phaseBadge(phase)).toEqual({ label: phase, tone });
  });

  it('labels an empty phase', () => {
    expect(phaseBadge('').label).toBe('Unknown');
  });
});

describe('quota', () => {
  const quota = {
    profile: 'default',
    hard: { pods: '50', 'requests.cpu': '4', 'requests.memory': '8Gi' },
    used: { pods: '3', 'requests.cpu': '1', 'limits.cpu': '2' },
  };

  it('sums up every limited resource, used/hard', () => {
    expect(quotaItems(quota)).toEqual(['pods 3/50', 'requests.cpu 1/4', 'requests.memory —/8Gi']);
    expect(quotaItems({ profile: '', hard: {}, used: { pods: '1' } })).toEqual([]);
  });

  it('has a row per resource, the limited ones first', () => {
    expect(quotaRows(quota)).toEqual([
      { resource: 'pods', used: '3', hard: '50' },
      { resource: 'requests.cpu', used: '1', hard: '4' },
      { resource: 'requests.memory', used: '—', hard: '8Gi' },
      { resource: 'limits.cpu', used: '2', hard: '—' },
    ]);
  });
});

describe('who may do what', () => {
  const bob = { user_id: 'u-2', username: 'bob', role: 'member' };
  const alice = { user_id: 'u-1', username: 'alice', role: 'owner' };

  it('the owner and admins manage a space; members do not', () => {
    expect(canManageSpace({ your_role: 'owner' }, me('u-1'))).toBe(true);
    expect(canManageSpace({ your_role: 'member' }, me('u-2'))).toBe(false);
    expect(canManageSpace({ your_role: null }, me('u-9', 'admin'))).toBe(true);
    expect(canManageSpace({ your_role: null }, me('u-8', 'auditor'))).toBe(false);
  });

  it('nobody removes the owner; a member removes only themselves', () => {
    expect(canRemoveMember({ your_role: 'owner' }, alice, me('u-1'))).toBe(false);
    expect(canRemoveMember({ your_role: null }, alice, me('u-9', 'admin'))).toBe(false);
    expect(canRemoveMember({ your_role: 'owner' }, bob, me('u-1'))).toBe(true);
    expect(canRemoveMember({ your_role: 'member' }, bob, me('u-2'))).toBe(true);
    expect(canRemoveMember({ your_role: 'member' }, bob, me('u-3'))).toBe(false);
    expect(canRemoveMember({ your_role: null }, bob, me('u-9', 'admin'))).toBe(true);
  });

  it('names a member whose account is gone', () => {
    expect(memberName(bob)).toBe('bob');
    expect(memberName({ ...bob, username: '' })).toBe('removed user u-2');
    expect(memberName({ user_id: '', username: '', role: 'owner' })).toBe('a removed user');
  });
});

describe('wakefulness and the idle clock', () => {
  it('says why the space is awake or asleep', () => {
    expect(wakefulnessSentence({ asleep: false, reason: 'dev session of alice since 10:02', by: 'alice', since: '' })).toBe(
      'Awake: dev session of alice since 10:02.',
    );
    expect(wakefulnessSentence({ asleep: true, reason: 'idle since 07:02.', by: 'berth', since: '' })).toBe(
      'Asleep: idle since 07:02.',
    );
    expect(wakefulnessSentence({ asleep: true, reason: ' ', by: 'berth', since: '' })).toBe('Asleep.');
  });

  it('says when the space sleeps', () => {
    expect(sleepsLabel(space(), NOW)).toBe('in 2 h');
    expect(sleepsLabel(space({ sleeps_at: '2026-11-27T09:59:00Z' }), NOW)).toBe('Any moment now');
    expect(sleepsLabel(space({ sleeps_at: null, persistent: true }), NOW)).toBe('Never (persistent)');
    expect(sleepsLabel(space({ sleeps_at: null }), NOW)).toBe('Not scheduled');
    const sleeping = space({ sleeps_at: null, wakefulness: { ...space().wakefulness, asleep: true } });
    expect(sleepsLabel(sleeping, NOW)).toBe('Asleep now');
    const terminating = space({ status: { ...space().status, phase: 'Terminating' } });
    expect(sleepsLabel(terminating, NOW)).toBe('—');
  });

  it('says when the space is deleted for idleness', () => {
    expect(deletedAtLabel(space(), NOW)).toBe('in 30 days');
    expect(deletedAtLabel(space({ deleted_at: null }), NOW)).toBe('Never');
    expect(deletedAtLabel(space({ deleted_at: null, persistent: true }), NOW)).toBe('Never (persistent)');
    expect(deletedAtLabel(space({ status: { ...space().status, phase: 'Terminating' } }), NOW)).toBe('Being deleted now');
  });
});

describe('forms and lists', () => {
  it('asks for a name; the daemon checks its rules', () => {
    expect(newSpaceProblem('  ')).toBe('Enter a name for the space.');
    expect(newSpaceProblem('Not A DNS label')).toBeNull();
  });

  it('confirms deletion only with the exact name', () => {
    expect(deleteConfirmed('alpha', 'alpha')).toBe(true);
    expect(deleteConfirmed(' alpha ', 'alpha')).toBe(true);
    expect(deleteConfirmed('Alpha', 'alpha')).toBe(false);
    expect(deleteConfirmed('alph', 'alpha')).toBe(false);
    expect(deleteConfirmed('', 'alpha')).toBe(false);
  });

  it('shows labels as sorted key=value pairs', () => {
    expect(labelPairs({ team: 'web', env: 'dev' })).toEqual(['env=dev', 'team=web']);
    expect(labelPairs({})).toEqual([]);
  });

  it('keys objects by version, kind and name, and shows them as indented JSON', () => {
    expect(objectKey({ api_version: 'v1', kind: 'ConfigMap', name: 'x' })).toBe('v1/ConfigMap/x');
    expect(formatObjectJson({ a: { b: 1 } })).toBe('{\n  "a": {\n    "b": 1\n  }\n}');
    expect(formatObjectJson(undefined)).toBe('null');
  });

  it('withSpace replaces, adds in name order, and removes', () => {
    const a = space({ name: 'a' });
    const c = space({ name: 'c' });
    const b = space({ name: 'b' });
    expect(withSpace([a, c], 'b', b)?.map((s) => s.name)).toEqual(['a', 'b', 'c']);
    const sleeping = space({ name: 'a', status: { ...a.status, phase: 'Sleeping' } });
    expect(withSpace([a, c], 'a', sleeping)).toEqual([sleeping, c]);
    expect(withSpace([a, c], 'a', null)).toEqual([c]);
    expect(withSpace(null, 'a', a)).toEqual([a]);
    expect(withSpace(null, 'a', null)).toBeNull();
  });

  it('tells a sleep or a wake that is not complete from the Asleep condition', () => {
    const asleepCondition = (reason: string, message: string) =>
      space({
        status: {
          ...space().status,
          conditions: [{ type: 'Asleep', status: false, reason, message, last_transition: '2026-11-27T09:59:00Z' }],
        },
      });
    expect(workloadsOnTheWay(space())).toBeNull();
    expect(workloadsOnTheWay(asleepCondition('Running', 'woken by admin at 10:05'))).toBeNull();
    const waking = workloadsOnTheWay(
      asleepCondition(
        'Waking',
        'waking: 1 of 2 workloads restored, CronJobs pending; attempt 3 failed, retrying with backoff: listing CronJobs failed',
      ),
    );
    expect(waking).toEqual({
      label: 'Waking',
      progress: 'waking: 1 of 2 workloads restored, CronJobs pending',
      detail: 'waking: 1 of 2 workloads restored, CronJobs pending; attempt 3 failed, retrying with backoff: listing CronJobs failed',
    });
    expect(waking && onTheWaySentence(waking)).toBe('Waking: 1 of 2 workloads restored, CronJobs pending.');
    const going = workloadsOnTheWay(asleepCondition('GoingToSleep', 'going to sleep: 2 of 3 workloads scaled to zero'));
    expect(going?.label).toBe('Going to sleep');
    expect(going && onTheWaySentence(going)).toBe('Going to sleep: 2 of 3 workloads scaled to zero.');
  });
});
