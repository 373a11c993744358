// Pure helpers of the Applications section of a space's page: no React, no fetch,
// so they are unit-tested directly.

import type { AppView, HelmReleaseView, OperationView, UpgradeRequest } from '../api';
import { withNamed } from '../catalog/model';
import { statusLabel } from '../ui/format';
import { parseJsonObject, type Parsed } from '../catalog/items';
import type { PhaseTone } from '../spaces/model';

/**
 * How often the space's page asks again while an application is being
 * installed, upgraded or uninstalled, and how often it reads Helm's output
 * meanwhile.
 */
export const APPS_POLL_MS = 2_000;

const IN_PROGRESS = new Set(['installing', 'upgrading', 'uninstalling']);

/** Helm is at work on it: its status and its logs move on by themselves. */
export function isInProgress(app: Pick<AppView, 'status' | 'operation'>): boolean {
  return IN_PROGRESS.has(app.status) || app.operation.state === 'running';
}

export function anyInProgress(apps: readonly AppView[] | null): boolean {
  return apps?.some(isInProgress) ?? false;
}

const STATUS_TONES: Record<string, PhaseTone> = {
  deployed: 'ok',
  failed: 'bad',
  installing: 'warn',
  upgrading: 'warn',
  uninstalling: 'warn',
};

/** The status badge: "Deployed" in green, "Failed" in red, the ones in progress in amber. */
export function appStatusBadge(status: string): { label: string; tone: PhaseTone } {
  return { label: statusLabel(status), tone: STATUS_TONES[status] ?? 'neutral' };
}

/** "Install #1 running", "Upgrade #3 failed". */
export function operationLabel(op: Pick<OperationView, 'kind' | 'number' | 'state'>): string {
  return `${statusLabel(op.kind)} #${op.number} ${op.state}`;
}

/** "Revision 2 · deployed", or "none" before Helm wrote one. */
export function releaseLabel(release: HelmReleaseView | null): string {
  return release === null ? 'none' : `Revision ${release.revision} · ${release.status}`;
}

/** The busy key of an application being upgraded or uninstalled. */
export function appBusyKey(name: string): string {
  return `app:${name}`;
}

/** The list with this application put in (the daemon's answer) or, for `null`, taken out. */
export function withApp(list: AppView[] | null, name: string, app: AppView | null): AppView[] | null {
  return withNamed(list, name, app, (a) => a.name);
}

/** The upgrade form as typed. */
export interface UpgradeForm {
  /** A JSON object laid over the values given before; empty for none. */
  values: string;
  /** Start from the item's values: forget the ones given before. */
  reset: boolean;
}

export const EMPTY_UPGRADE_FORM: UpgradeForm = { values: '', reset: false };

/** The request for the upgrade form, or why its values are not a JSON object. */
export function upgradeRequestOf(form: UpgradeForm): Parsed<UpgradeRequest> {
  const values = parseJsonObject(form.values);
  if (!values.ok) return { ok: false, error: `The values are ${values.error}.` };
  const req: UpgradeRequest = {};
  if (Object.keys(values.value).length > 0) req.values = values.value;
  if (form.reset) req.reset_values = true;
  return { ok: true, value: req };
}
