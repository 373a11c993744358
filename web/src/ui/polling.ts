// Shared by the pages that refresh by themselves (Spaces, a space, Sessions),
// and by the forms that read their choices once.

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { describeError } from './format';

/**
 * Runs `load` now, then again `everyMs` after each answer, skipping turns
 * while the tab is hidden. Stops when `load` answers `false` (nothing more
 * to ask) or when the page goes away. `load` should be stable (useCallback).
 */
export function usePolling(load: (signal: AbortSignal) => Promise<boolean | void>, everyMs: number): void {
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    async function tick() {
      const again = document.hidden ? true : await load(controller.signal);
      if (controller.signal.aborted || again === false) return;
      timer = setTimeout(() => void tick(), everyMs);
    }
    void tick();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [load, everyMs]);
}

/**
 * Whether the component is still there (`current`): what an action answers
 * after it went is dropped.
 */
export function useMounted(): { readonly current: boolean } {
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  return mounted;
}

/**
 * Something read once, when the component shows (a form's choices, a key):
 * `value` is `null` until it answers, `error` says why it could not be read.
 * `onRead` (as first given) also gets the answer, to pick a default from it.
 * `fetch` should be stable (a module function).
 */
export function useReadOnce<T>(
  fetch: (options: { signal?: AbortSignal }) => Promise<T>,
  onRead?: (value: T) => void,
): { value: T | null; error: string | null } {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const first = useRef(onRead);
  useEffect(() => {
    const controller = new AbortController();
    fetch({ signal: controller.signal }).then(
      (answer) => {
        if (controller.signal.aborted) return;
        setValue(answer);
        first.current?.(answer);
      },
      (err: unknown) => {
        if (!controller.signal.aborted) setError(describeError(err));
      },
    );
    return () => controller.abort();
  }, [fetch]);
  return { value, error };
}

/**
 * Only the answer to the latest request counts: an older one that arrives
 * late (a refresh that crossed an action) must not bring back a stale
 * state. `begin` numbers a request; `current(n, signal)` says whether its
 * answer may still be shown (not superseded, not aborted, page still
 * there); `supersede` makes every request in flight stale.
 */
export function useLatest() {
  const latest = useRef(0);
  const mounted = useMounted();
  const begin = useCallback(() => ++latest.current, []);
  const current = useCallback(
    (n: number, signal?: AbortSignal) => !signal?.aborted && mounted.current && n === latest.current,
    [],
  );
  const supersede = useCallback(() => {
    latest.current += 1;
  }, []);
  return useMemo(() => ({ begin, current, supersede, mounted }), [begin, current, supersede]);
}

/**
 * A list the page reads now and again every `everyMs` (see usePolling), of
 * which only the latest answer counts (see useLatest). `fetch` should be
 * stable (a module function). Gives the list (`null` until the first
 * answer) and its setter, why the last read failed (`null` once one
 * succeeds), when the list was last read, `load` to read it again at once,
 * and `latest` (to `supersede` reads in flight when the page shows an
 * answer of its own).
 */
export function usePolledList<T>(
  fetch: (options: { signal?: AbortSignal }) => Promise<T[]>,
  everyMs: number,
) {
  const [items, setItems] = useState<T[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [checkedAt, setCheckedAt] = useState<Date | null>(null);
  const latest = useLatest();

  const load = useCallback(
    async (signal?: AbortSignal) => {
      const mine = latest.begin();
      try {
        const list = await fetch({ signal });
        if (!latest.current(mine, signal)) return;
        setItems(list);
        setLoadError(null);
        setCheckedAt(new Date());
      } catch (err) {
        if (!latest.current(mine, signal)) return;
        setLoadError(describeError(err));
      }
    },
    [latest, fetch],
  );

  usePolling(load, everyMs);

  return { items, setItems, loadError, checkedAt, load, latest };
}
