import { describe, expect, it } from 'vitest';
import {
  anyInProgress,
  appStatusBadge,
  isInProgress,
  operationLabel,
  releaseLabel,
  upgradeRequestOf,
  withApp,
} from './model';
import { appView } from '../testing';

describe('applications', () => {
  it('are in progress while Helm installs, upgrades or uninstalls them', () => {
    expect(isInProgress(appView())).toBe(false);
    expect(isInProgress(appView({ status: 'installing' }))).toBe(true);
    expect(isInProgress(appView({ status: 'uninstalling' }))).toBe(true);
    expect(isInProgress(appView({ status: 'failed' }))).toBe(false);
    // A running operation counts too, whatever the status says.
    expect(isInProgress(appView({ operation: { ...appView().operation, state: 'running' } }))).toBe(true);
    expect(anyInProgress(null)).toBe(false);
    expect(anyInProgress([appView(), appView({ name: 'b', status: 'upgrading' })])).toBe(true);
  });

  it.each([
    ['deployed', 'Deployed', 'ok'],
    ['failed', 'Failed', 'bad'],
    ['upgrading', 'Upgrading', 'warn'],
    ['pending_rollback', 'Pending rollback', 'neutral'],
  ])('badge of %s', (status, label, tone) => {
    expect(appStatusBadge(status)).toEqual({ label, tone });
  });

  it('says the operation and the release in a few words', () => {
    expect(operationLabel({ kind: 'upgrade', number: 3, state: 'failed' })).toBe('Upgrade #3 failed');
    expect(releaseLabel(appView().release)).toBe('Revision 1 · deployed');
    expect(releaseLabel(null)).toBe('none');
  });

  it('puts the daemon’s answer in the list', () => {
    const a = appView({ name: 'a' });
    const b = appView({ name: 'b' });
    expect(withApp([b], 'a', a)?.map((x) => x.name)).toEqual(['a', 'b']);
    expect(withApp([a, b], 'a', null)?.map((x) => x.name)).toEqual(['b']);
    expect(withApp(null, 'a', a)).toEqual([a]);
  });

  it('makes the upgrade request: values only when given, reset only when ticked', () => {
    expect(upgradeRequestOf({ values: '', reset: false })).toEqual({ ok: true, value: {} });
    expect(upgradeRequestOf({ values: '{"a": {"b": 1}}', reset: true })).toEqual({
      ok: true,
      value: { values: { a: { b: 1 } }, reset_values: true },
    });
    expect(upgradeRequestOf({ values: '[]', reset: false })).toEqual({
      ok: false,
      error: 'The values are not a JSON object ({ … }).',
    });
  });
});
