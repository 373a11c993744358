// Pure helpers of the dev mode sections of a space's page: no React, no fetch, so they are unit-tested directly.

import type { DevView, WorkloadView, Whoami } from '../api';
import { shellWord } from '../sessions/model';

const MODE_LABELS: Record<string, string> = {
  cluster: 'agent in the dev container',
  local: 'agent in berthd',
};

/** Where the target's agent runs, in words; an unknown mode as the daemon says it. */
export function devModeLabel(mode: string): string {
  return MODE_LABELS[mode] ?? mode;
}

/** The command the agent starts, as one would type it in a shell; `''` for none. */
export function commandLine(command: readonly string[]): string {
  return command.map(shellWord).join(' ');
}

/** "8080, 9090"; `''` for none. */
export function portsLabel(ports: readonly number[]): string {
  return ports.join(', ');
}

/** Whether the signed-in user ran `berth up` for it. */
export function isOwnDev(dev: Pick<DevView, 'started_by'>, me: Whoami): boolean {
  return dev.started_by !== '' && dev.started_by === me.user.username;
}

/** The list without this target (just taken out of dev mode). */
export function withoutDevTarget(list: DevView[] | null, target: string): DevView[] | null {
  return list === null ? null : list.filter((d) => d.target !== target);
}

/** The workloads with this target's mark taken off (its workload is back to its own spec). */
export function withoutDevMark(list: WorkloadView[] | null, target: string): WorkloadView[] | null {
  return list === null ? null : list.map((w) => (w.dev_target === target ? { ...w, dev_target: null } : w));
}
