// The frame of the page of one record the daemon may stop knowing (a space,
// a chart repository, a catalog item): "<list> / <name>" with when it was last
// read, the banner once it is gone, and the card that stands in for it until
// it is read.

import type { ReactNode } from 'react';
import { Banner } from './Banner';
import { formatClock } from './format';
import { Link } from '../router';
import { ROUTE_PATHS } from '../routes';

/** Where the page's crumbs lead back to: the list the record is in. */
export interface RecordParent {
  to: string;
  /** "Spaces", "Catalog". */
  label: string;
  /** The gone banner's way back: "Back to the spaces". */
  back: string;
}

/** The lists of the record pages: a space's, and a chart repository's or a catalog item's. */
export const PARENTS = {
  spaces: { to: ROUTE_PATHS.spaces, label: 'Spaces', back: 'Back to the spaces' },
  catalog: { to: ROUTE_PATHS.catalog, label: 'Catalog', back: 'Back to the catalog' },
} as const satisfies Record<string, RecordParent>;

/**
 * The page's head: the parent list, then the record's name (test id
 * `titleTestId`) and its `badges`; below, when it was last read (`checkedAt`,
 * `null` to say nothing) and how often (`every`: "refreshes every 5 s").
 */
export function RecordHeader({
  parent,
  name,
  titleTestId,
  badges,
  checkedAt,
  every,
}: {
  parent: RecordParent;
  name: string;
  titleTestId: string;
  badges?: ReactNode;
  checkedAt: Date | null;
  every: string;
}) {
  return (
    <div className="page-header">
      <h1 className="crumbs">
        <Link to={parent.to}>{parent.label}</Link>
        <span aria-hidden="true" className="muted">
          /
        </span>
        <span className="mono" data-testid={titleTestId}>
          {name}
        </span>
        {badges}
      </h1>
      <p className="muted">{checkedAt ? `Checked ${formatClock(checkedAt)} · ${every}` : ''}</p>
    </div>
  );
}

/**
 * The record is gone: deleted from this page (`deleted`, a confirmation) or
 * no longer known to the daemon (an error, in its words), with the way back.
 */
export function GoneBanner({
  parent,
  testId,
  deleted = false,
  children,
}: {
  parent: RecordParent;
  testId: string;
  deleted?: boolean;
  children: ReactNode;
}) {
  return (
    <Banner tone={deleted ? 'ok' : 'error'} testId={testId} hint={<Link to={parent.to}>{parent.back}</Link>}>
      {children}
    </Banner>
  );
}

/** In place of the record until it is read: "Loading…", or `unknown` ("Space unknown.") when the read failed. */
export function RecordPending({ failed, unknown }: { failed: boolean; unknown: string }) {
  return (
    <section className="card">
      <p className="muted">{failed ? unknown : 'Loading…'}</p>
    </section>
  );
}
