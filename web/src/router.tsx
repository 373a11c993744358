// A tiny History API router: the daemon answers every console path with
// index.html, so real paths (/users, /tokens...) work on reload and as links.

import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

const NAVIGATE_EVENT = 'berth:navigate';

export interface Location {
  pathname: string;
  search: string;
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('popstate', onChange);
  window.addEventListener(NAVIGATE_EVENT, onChange);
  return () => {
    window.removeEventListener('popstate', onChange);
    window.removeEventListener(NAVIGATE_EVENT, onChange);
  };
}

// useSyncExternalStore compares snapshots with Object.is, so a string is used.
const snapshot = () => `${window.location.pathname}${window.location.search}`;

export function useLocation(): Location {
  const current = useSyncExternalStore(subscribe, snapshot);
  const q = current.indexOf('?');
  return q === -1 ? { pathname: current, search: '' } : { pathname: current.slice(0, q), search: current.slice(q) };
}

/** Goes to a console path without reloading the page. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === snapshot() && !window.location.hash) return;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(NAVIGATE_EVENT));
}

/** An <a> that navigates in-app on a plain left click, and stays a real link otherwise (new tab, copy link). */
export function Link({ to, onClick, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  function handle(event: MouseEvent<HTMLAnchorElement>) {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(to);
  }
  return <a href={to} onClick={handle} {...rest} />;
}
