import { describe, expect, it } from 'vitest';
import type { SessionView, SpaceView, Whoami } from '../api';
import {
  agentCommand,
  canEndSession,
  defaultSessionSpace,
  execCommand,
  isEnded,
  isOwnSession,
  newSessionProblem,
  portForwardCommand,
  sshCommand,
  sessionSpaces,
  sessionStateBadge,
  shellWord,
  sidesLabel,
  streamsLabel,
  withSession,
} from './model';

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

function session(overrides: Partial<SessionView> = {}): SessionView {
  return {
    id: 's-1',
    space: 'alpha',
    owner: 'alice',
    owner_id: 'u-1',
    created_at: '2026-11-27T09:00:00Z',
    state: 'connected',
    client_connected: true,
    agent_connected: true,
    streams: 0,
    bytes_to_agent: 0,
    bytes_to_client: 0,
    ended_reason: null,
    ended_at: null,
    ...overrides,
  };
}

function space(name: string, overrides: Partial<SpaceView> = {}): SpaceView {
  return {
    name,
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
    wakefulness: { asleep: false, reason: '', by: 'alice', since: '2026-11-27T09:50:00Z' },
    sleeps_at: null,
    deleted_at: null,
    status: { phase: 'Active', observed_generation: 1, conditions: [], quota: { profile: 'default', hard: {}, used: {} } },
    your_role: 'owner',
    ...overrides,
  };
}

describe('sessionStateBadge', () => {
  it.each([
    ['connected', 'Connected', 'ok'],
    ['waiting', 'Waiting', 'warn'],
    ['resuming', 'Resuming', 'warn'],
    ['ended', 'Ended', 'neutral'],
    ['paused', 'Paused', 'neutral'],
    ['', 'Unknown', 'neutral'],
  ])('%j is %s (%s)', (state, label, tone) => {
    expect(sessionStateBadge(state)).toEqual({ label, tone });
  });

  it('isEnded only for ended', () => {
    expect(isEnded(session({ state: 'ended' }))).toBe(true);
    expect(isEnded(session({ state: 'resuming' }))).toBe(false);
  });
});

describe('sidesLabel', () => {
  it.each([
    [true, true, 'CLI and agent', 'ok'],
    [true, false, 'CLI only', 'neutral'],
    [false, true, 'Agent only', 'neutral'],
    [false, false, 'Neither', 'neutral'],
  ])('CLI %s, agent %s: %s', (cli, agent, label, tone) => {
    expect(sidesLabel({ client_connected: cli, agent_connected: agent })).toEqual({ label, tone });
  });

  it('counts streams', () => {
    expect(streamsLabel(0)).toBe('0 streams');
    expect(streamsLabel(1)).toBe('1 stream');
    expect(streamsLabel(3)).toBe('3 streams');
  });
});

describe('who may end a session', () => {
  it('the owner and admins, nobody else', () => {
    expect(canEndSession(session(), me('u-1'))).toBe(true);
    expect(canEndSession(session(), me('u-2'))).toBe(false);
    expect(canEndSession(session(), me('u-2', 'auditor'))).toBe(false);
    expect(canEndSession(session(), me('u-9', 'admin'))).toBe(true);
  });

  it('an empty owner id is nobody’s', () => {
    expect(isOwnSession(session({ owner_id: '' }), me(''))).toBe(false);
    expect(canEndSession(session({ owner_id: '' }), me(''))).toBe(false);
    expect(isOwnSession(session(), me('u-1'))).toBe(true);
  });
});

describe('the new-session form', () => {
  it('offers every space listed but those being deleted', () => {
    const gone = space('gone', { status: { ...space('x').status, phase: 'Terminating' } });
    expect(sessionSpaces([space('alpha'), gone, space('beta')])).toEqual(['alpha', 'beta']);
  });

  it('starts with your personal space, else the first usable one', () => {
    const theirs = space('bob', { personal: true, owner: { user_id: 'u-2', username: 'bob', role: 'owner' } });
    const mine = space('alice', { personal: true });
    const gone = space('gone', { status: { ...space('x').status, phase: 'Terminating' } });
    expect(defaultSessionSpace([space('alpha'), theirs, mine], me('u-1'))).toBe('alice');
    expect(defaultSessionSpace([theirs, space('alpha')], me('u-1'))).toBe('bob');
    expect(defaultSessionSpace([gone, space('beta')], me('u-1'))).toBe('beta');
    expect(defaultSessionSpace([gone], me('u-1'))).toBe('');
    expect(defaultSessionSpace([], me('u-1'))).toBe('');
  });

  it('asks for a space', () => {
    expect(newSessionProblem('  ')).toBe('Choose a space for the session.');
    expect(newSessionProblem('alpha')).toBeNull();
  });
});

describe('commands', () => {
  it('the agent command carries the console’s origin and the token', () => {
    expect(agentCommand('https://berth.example.com', 'berth_agt_abc123')).toBe(
      'BERTH_AGENT_URL=https://berth.example.com BERTH_AGENT_TOKEN=berth_agt_abc123 berth agent --root .',
    );
    expect(agentCommand('http://127.0.0.1:8080', 'berth_agt_x')).toBe(
      'BERTH_AGENT_URL=http://127.0.0.1:8080 BERTH_AGENT_TOKEN=berth_agt_x berth agent --root .',
    );
  });

  it('exec and port-forward name the session', () => {
    expect(execCommand('s-abc')).toBe('berth exec s-abc -- <command>');
    expect(portForwardCommand('s-abc')).toBe('berth port-forward s-abc 8080:8080');
    expect(sshCommand('s-abc')).toBe('berth ssh s-abc');
  });

  it('quotes what the shell would otherwise split or expand', () => {
    expect(shellWord('berth_agt_AZaz09-._')).toBe('berth_agt_AZaz09-._');
    expect(shellWord('a b')).toBe("'a b'");
    expect(shellWord('$HOME')).toBe("'$HOME'");
    expect(shellWord("it's")).toBe("'it'\\''s'");
    expect(shellWord('')).toBe("''");
  });
});

describe('withSession', () => {
  it('replaces by id, or adds at the end', () => {
    const a = session({ id: 's-a' });
    const b = session({ id: 's-b' });
    const ended = session({ id: 's-a', state: 'ended' });
    expect(withSession(null, a)).toEqual([a]);
    expect(withSession([a, b], ended)).toEqual([ended, b]);
    expect(withSession([a], b)).toEqual([a, b]);
  });
});
