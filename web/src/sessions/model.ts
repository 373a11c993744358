// Pure helpers of the Sessions page: no React, no fetch, so they are unit-tested directly.

import type { SessionView, SpaceView, Whoami } from '../api';
import { statusLabel } from '../ui/format';
import { isAdmin, isTerminating } from '../spaces/model';

/** How often the Sessions page asks again, so that states, streams and bytes move on by themselves. */
export const SESSIONS_POLL_MS = 5_000;

export type SessionTone = 'ok' | 'warn' | 'neutral';

const STATE_TONES: Record<string, SessionTone> = {
  connected: 'ok',
  waiting: 'warn',
  resuming: 'warn',
  ended: 'neutral',
};

/** The state badge: its text ("Connected") and colour. Unknown states are neutral. */
export function sessionStateBadge(state: string): { label: string; tone: SessionTone } {
  return { label: statusLabel(state), tone: STATE_TONES[state] ?? 'neutral' };
}

export function isEnded(session: Pick<SessionView, 'state'>): boolean {
  return session.state === 'ended';
}

/** Which sides are connected: "CLI and agent", "CLI only", "Agent only", "Neither". */
export function sidesLabel(session: Pick<SessionView, 'client_connected' | 'agent_connected'>): {
  label: string;
  tone: 'ok' | 'neutral';
} {
  const { client_connected: cli, agent_connected: agent } = session;
  if (cli && agent) return { label: 'CLI and agent', tone: 'ok' };
  if (cli) return { label: 'CLI only', tone: 'neutral' };
  if (agent) return { label: 'Agent only', tone: 'neutral' };
  return { label: 'Neither', tone: 'neutral' };
}

/** The owner and admins may end a session (the daemon decides in the end). */
export function canEndSession(session: Pick<SessionView, 'owner_id'>, me: Whoami): boolean {
  return isAdmin(me) || isOwnSession(session, me);
}

/** Whether the signed-in user started it. */
export function isOwnSession(session: Pick<SessionView, 'owner_id'>, me: Whoami): boolean {
  return session.owner_id !== '' && session.owner_id === me.user.id;
}

/** "1 stream", "3 streams". */
export function streamsLabel(streams: number): string {
  return `${streams} ${streams === 1 ? 'stream' : 'streams'}`;
}

/** The spaces a session may be started in, by name: every space listed except those being deleted. */
export function sessionSpaces(spaces: SpaceView[]): string[] {
  return spaces.filter((s) => !isTerminating(s)).map((s) => s.name);
}

/** The space the form starts with: your personal space if you have one, else the first. `''` when none. */
export function defaultSessionSpace(spaces: SpaceView[], me: Whoami): string {
  const usable = spaces.filter((s) => !isTerminating(s));
  const personal = usable.find((s) => s.personal && s.owner.user_id === me.user.id);
  return (personal ?? usable[0])?.name ?? '';
}

/** Checks the new-session form before it is sent; the daemon checks the space. `null` when fine. */
export function newSessionProblem(space: string): string | null {
  return space.trim() === '' ? 'Choose a space for the session.' : null;
}

/** A word for a POSIX shell: as is when it is safe, else in single quotes. */
export function shellWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** What to run in the dev container to start the session's agent. */
export function agentCommand(origin: string, token: string): string {
  return `BERTH_AGENT_URL=${shellWord(origin)} BERTH_AGENT_TOKEN=${shellWord(token)} berth agent --root .`;
}

/** Runs a command through the session (`<command>` is to be replaced). */
export function execCommand(id: string): string {
  return `berth exec ${shellWord(id)} -- <command>`;
}

/** Reaches port 8080 of the dev container on local port 8080. */
export function portForwardCommand(id: string): string {
  return `berth port-forward ${shellWord(id)} 8080:8080`;
}

/** An SSH login into the dev container (ssh, scp and IDEs reach `<id>.berth` after `berth ssh-config`). */
export function sshCommand(id: string): string {
  return `berth ssh ${shellWord(id)}`;
}

/** The list with this session put in (replacing the one of the same id, or added at the end). */
export function withSession(list: SessionView[] | null, session: SessionView): SessionView[] {
  if (list === null) return [session];
  return list.some((s) => s.id === session.id)
    ? list.map((s) => (s.id === session.id ? session : s))
    : [...list, session];
}
