// Pure presentation helpers: no React, no fetch, so they are unit-tested directly.

import { ApiError, MalformedResponseError, UnreachableError, type Readiness } from './api';

export type Tone = 'ok' | 'bad' | 'neutral';

export interface ComponentRow {
  name: string;
  status: string;
  statusLabel: string;
  tone: Tone;
  reason: string;
}

export interface ReadinessSummary {
  /** Exactly `Ready` or `Not ready` (the badge text). */
  label: 'Ready' | 'Not ready';
  tone: Tone;
  /** One sentence for humans, e.g. "1 of 2 components not ready: store (draining)". */
  detail: string;
}

/** "ready" -> "Ready", "not_ready" -> "Not ready", "warming_up" -> "Warming up". */
export function statusLabel(status: string): string {
  const words = status.replace(/[_-]+/g, ' ').trim();
  if (words === '') return 'Unknown';
  return words.charAt(0).toUpperCase() + words.slice(1).toLowerCase();
}

export function statusTone(status: string): Tone {
  if (status === 'ready') return 'ok';
  if (status === 'not_ready') return 'bad';
  return 'neutral';
}

/** Components sorted by name, ready for a table. */
export function componentRows(readiness: Readiness): ComponentRow[] {
  return Object.entries(readiness.components)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, c]) => ({
      name,
      status: c.status,
      statusLabel: statusLabel(c.status),
      tone: statusTone(c.status),
      reason: c.reason ?? '',
    }));
}

export function summarizeReadiness(readiness: Readiness): ReadinessSummary {
  const rows = componentRows(readiness);
  const notReady = rows.filter((r) => r.status !== 'ready');
  const total = rows.length;
  const noun = total === 1 ? 'component' : 'components';

  let detail: string;
  if (total === 0) {
    detail = 'No components reported.';
  } else if (notReady.length === 0) {
    detail = total === 1 ? 'The only component is ready.' : `All ${total} ${noun} ready.`;
  } else {
    const list = notReady.map((r) => (r.reason ? `${r.name} (${r.reason})` : r.name)).join(', ');
    detail = `${notReady.length} of ${total} ${noun} not ready: ${list}.`;
  }

  return readiness.ready
    ? { label: 'Ready', tone: 'ok', detail }
    : { label: 'Not ready', tone: 'bad', detail };
}

/** One line that says what failed, for the error banner. */
export function describeError(err: unknown): string {
  if (err instanceof UnreachableError) {
    return `Could not reach the Berth API: ${err.message} (GET ${err.endpoint})`;
  }
  if (err instanceof ApiError) {
    const id = err.requestId ? `, request id ${err.requestId}` : '';
    return `The Berth API returned an error for GET ${err.endpoint}: ${err.message} (${err.code}, HTTP ${err.status}${id})`;
  }
  if (err instanceof MalformedResponseError) {
    return `Unexpected response from the Berth API for GET ${err.endpoint}: ${err.message}`;
  }
  if (err instanceof Error) {
    return `Unexpected error: ${err.message}`;
  }
  return `Unexpected error: ${String(err)}`;
}

/** "14:03:07" in local time. */
export function formatClock(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
