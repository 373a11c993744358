// Pure helpers of the Spaces pages: no React, no fetch, so they are unit-tested directly.

import type { QuotaUsage, SpaceMember, SpaceObject, SpaceView, Wakefulness, Whoami } from '../api';
import { formatRelative, isPast, statusLabel } from '../ui/format';

/** How often the Spaces pages ask again, so that phases move on by themselves. */
export const SPACES_POLL_MS = 5_000;

export type PhaseTone = 'ok' | 'bad' | 'neutral' | 'warn';

const PHASE_TONES: Record<string, PhaseTone> = {
  Active: 'ok',
  Sleeping: 'neutral',
  Pending: 'warn',
  Waking: 'warn',
  Terminating: 'warn',
  Failed: 'bad',
};

/** The phase badge: its text and colour. Unknown phases are neutral. */
export function phaseBadge(phase: string): { label: string; tone: PhaseTone } {
  return { label: phase === '' ? 'Unknown' : phase, tone: PHASE_TONES[phase] ?? 'neutral' };
}

/** "alice"; a member whose account is gone has an empty user name. */
export function memberName(member: SpaceMember): string {
  if (member.username !== '') return member.username;
  return member.user_id === '' ? 'a removed user' : `removed user ${member.user_id}`;
}

/** "Owner", "Member". */
export function spaceRoleLabel(role: string): string {
  return statusLabel(role);
}

export function isAdmin(me: Whoami): boolean {
  return me.user.role === 'admin';
}

export function isSelf(member: SpaceMember, me: Whoami): boolean {
  return member.user_id !== '' && member.user_id === me.user.id;
}

/** The owner and admins may share and delete a space (the daemon decides in the end). */
export function canManageSpace(space: Pick<SpaceView, 'your_role'>, me: Whoami): boolean {
  return space.your_role === 'owner' || isAdmin(me);
}

/** The owner cannot be removed; the owner and admins remove anyone else, a member only themselves. */
export function canRemoveMember(space: Pick<SpaceView, 'your_role'>, member: SpaceMember, me: Whoami): boolean {
  if (member.role === 'owner') return false;
  return canManageSpace(space, me) || isSelf(member, me);
}

/** A space being deleted takes no more actions. */
export function isTerminating(space: SpaceView): boolean {
  return space.status.phase === 'Terminating';
}

export interface QuotaRow {
  resource: string;
  used: string;
  hard: string;
}

/** One row per resource: those with a limit first (in the daemon's order), then any only in use. */
export function quotaRows(quota: QuotaUsage): QuotaRow[] {
  const resources = [...Object.keys(quota.hard), ...Object.keys(quota.used).filter((r) => !(r in quota.hard))];
  return resources.map((resource) => ({
    resource,
    used: quota.used[resource] ?? '—',
    hard: quota.hard[resource] ?? '—',
  }));
}

/** ["pods 3/50", "requests.cpu 1/4"]: every limited resource, used/hard. */
export function quotaItems(quota: QuotaUsage): string[] {
  return Object.entries(quota.hard).map(([resource, hard]) => `${resource} ${quota.used[resource] ?? '—'}/${hard}`);
}


/** "Asleep: put to sleep by bob at 10:02." / "Awake: dev session of alice since 10:02." */
export function wakefulnessSentence(w: Wakefulness): string {
  const state = w.asleep ? 'Asleep' : 'Awake';
  const reason = w.reason.trim().replace(/\.$/, '');
  return reason === '' ? `${state}.` : `${state}: ${reason}.`;
}

export interface OnTheWay {
  /** "Waking" or "Going to sleep". */
  label: string;
  /** How far it got: "waking: 1 of 2 workloads restored, CronJobs pending". */
  progress: string;
  /** The whole message: also why, and what to do about a kind skipped. */
  detail: string;
}

/**
 * While a sleep or a wake is not complete, how far it got, from the Asleep
 * condition (reason Waking or GoingToSleep); null once every workload is
 * where the space asks. The space's record may say awake while its
 * workloads are not all back: this is what says so.
 */
export function workloadsOnTheWay(space: SpaceView): OnTheWay | null {
  const c = space.status.conditions.find((condition) => condition.type === 'Asleep');
  if (c === undefined || (c.reason !== 'Waking' && c.reason !== 'GoingToSleep')) return null;
  const progress = c.message.split('; ')[0] ?? c.message;
  return { label: c.reason === 'Waking' ? 'Waking' : 'Going to sleep', progress, detail: c.message };
}

/** "Waking: 1 of 2 workloads restored, CronJobs pending." — a progress as a sentence. */
export function onTheWaySentence(onTheWay: OnTheWay): string {
  const text = onTheWay.progress.trim().replace(/\.$/, '');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/** When the idle clock puts the space to sleep, for the list ("in 2 h"). */
export function sleepsLabel(space: SpaceView, now: Date): string {
  if (isTerminating(space)) return '—';
  if (space.wakefulness.asleep) return 'Asleep now';
  if (space.sleeps_at !== null) {
    return isPast(space.sleeps_at, now) ? 'Any moment now' : formatRelative(space.sleeps_at, now);
  }
  return space.persistent ? 'Never (persistent)' : 'Not scheduled';
}

/** When the idle clock deletes the space: "in 30 days", or why it never will. */
export function deletedAtLabel(space: SpaceView, now: Date): string {
  if (isTerminating(space)) return 'Being deleted now';
  if (space.deleted_at !== null) {
    return isPast(space.deleted_at, now) ? 'Any moment now' : formatRelative(space.deleted_at, now);
  }
  return space.persistent ? 'Never (persistent)' : 'Never';
}

/** Labels as `key=value`, sorted by key. */
export function labelPairs(labels: Record<string, string>): string[] {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key] ?? ''}`);
}

/** Stable across refreshes: what to remember an expanded row by. */
export function objectKey(o: Pick<SpaceObject, 'api_version' | 'kind' | 'name'>): string {
  return `${o.api_version}/${o.kind}/${o.name}`;
}

/** The object as indented JSON, for reading. */
export function formatObjectJson(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null';
}

/** Checks the new-space form before it is sent; the daemon checks the name's rules. `null` when fine. */
export function newSpaceProblem(name: string): string | null {
  return name.trim() === '' ? 'Enter a name for the space.' : null;
}

/**
 * Whether the typed text confirms a step on something named (deleting a space,
 * taking a target out of dev mode): exactly its name (spaces around it ignored).
 */
export function deleteConfirmed(typed: string, name: string): boolean {
  return typed.trim() === name;
}

/** The list with this space put in (replacing the one of the same name) or, for `null`, the name taken out. */
export function withSpace(list: SpaceView[] | null, name: string, space: SpaceView | null): SpaceView[] | null {
  if (list === null) return space ? [space] : null;
  if (space === null) return list.filter((s) => s.name !== name);
  const found = list.some((s) => s.name === name);
  const next = found ? list.map((s) => (s.name === name ? space : s)) : [...list, space];
  return found ? next : next.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
