import { describe, expect, it } from 'vitest';
import type { DevView, WorkloadView, Whoami } from '../api';
import { commandLine, devModeLabel, isOwnDev, portsLabel, withoutDevMark, withoutDevTarget } from './dev';

function me(username: string): Whoami {
  return {
    user: {
      id: `u-${username}`,
      username,
      email: null,
      display_name: null,
      role: 'member',
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

const dev = (target: string) => ({ target }) as DevView;
const workload = (name: string, dev_target: string | null): WorkloadView => ({ workload: name, containers: [], dev_target });

describe('dev mode helpers', () => {
  it('says where the agent runs; an unknown mode as the daemon says it', () => {
    expect(devModeLabel('cluster')).toBe('agent in the dev container');
    expect(devModeLabel('local')).toBe('agent in berthd');
    expect(devModeLabel('remote')).toBe('remote');
  });

  it('shows the command as one would type it in a shell', () => {
    expect(commandLine(['npm', 'run', 'dev'])).toBe('npm run dev');
    expect(commandLine(['sh', '-c', 'npm run dev && echo ok'])).toBe("sh -c 'npm run dev && echo ok'");
    expect(commandLine(['echo', "it's"])).toBe(`echo 'it'\\''s'`);
    expect(commandLine([])).toBe('');
  });

  it('lists ports', () => {
    expect(portsLabel([8080, 9229])).toBe('8080, 9229');
    expect(portsLabel([])).toBe('');
  });

  it('knows the user’s own targets by user name', () => {
    expect(isOwnDev({ started_by: 'alice' }, me('alice'))).toBe(true);
    expect(isOwnDev({ started_by: 'bob' }, me('alice'))).toBe(false);
    expect(isOwnDev({ started_by: '' }, me(''))).toBe(false);
  });

  it('drops a target taken out of dev mode, and its workload’s mark', () => {
    expect(withoutDevTarget([dev('api'), dev('worker')], 'api')).toEqual([dev('worker')]);
    expect(withoutDevTarget(null, 'api')).toBeNull();
    expect(withoutDevMark([workload('deployment/api', 'api'), workload('deployment/worker', 'worker')], 'api')).toEqual([
      workload('deployment/api', null),
      workload('deployment/worker', 'worker'),
    ]);
    expect(withoutDevMark(null, 'api')).toBeNull();
  });
});
