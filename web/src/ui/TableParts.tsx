// Pieces of the tables that list what the daemon answered: the rows that stand
// in for a list not read yet or empty, and rows that unfold their details.

import { useCallback, useState, type ReactNode } from 'react';

/**
 * The rows a table shows instead of its list's: once the list is read and
 * holds nothing, `empty` (test id `emptyTestId`); until it is read,
 * "Loading…", or `unknown` ("Spaces unknown.") when the read failed.
 */
export function ListStateRows({
  items,
  failed,
  columns,
  empty,
  emptyTestId,
  unknown,
}: {
  items: readonly unknown[] | null;
  failed: boolean;
  columns: number;
  empty: ReactNode;
  emptyTestId?: string;
  unknown: string;
}) {
  if (items === null) {
    return (
      <tr>
        <td colSpan={columns} className="muted empty">
          {failed ? unknown : 'Loading…'}
        </td>
      </tr>
    );
  }
  if (items.length > 0) return null;
  return (
    <tr>
      <td colSpan={columns} className="muted empty" data-testid={emptyTestId}>
        {empty}
      </td>
    </tr>
  );
}

/**
 * Which rows of a table are unfolded: `toggle(key)` folds or unfolds one,
 * `collapse()` folds them all. Both are stable.
 */
export function useExpanded<K>() {
  const [expanded, setExpanded] = useState<ReadonlySet<K>>(() => new Set());
  const toggle = useCallback((key: K) => {
    setExpanded((prev) => {
      const next = new Set(prev);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });
  }, []);
  const collapse = useCallback(() => setExpanded(new Set()), []);
  return { expanded, toggle, collapse };
}

/**
 * The first cell of a row that unfolds: a ▸/▾ button for the row below it
 * (`controls`, its id), read out as "Show <what>" or "Hide <what>".
 */
export function ExpanderCell({
  open,
  controls,
  what,
  testId,
  onToggle,
}: {
  open: boolean;
  controls: string;
  what: string;
  testId: string;
  onToggle: () => void;
}) {
  return (
    <td className="col-expand">
      <button
        type="button"
        className="expander"
        aria-expanded={open}
        aria-controls={open ? controls : undefined}
        aria-label={`${open ? 'Hide' : 'Show'} ${what}`}
        data-testid={testId}
        onClick={onToggle}
      >
        <span aria-hidden="true">{open ? '▾' : '▸'}</span>
      </button>
    </td>
  );
}
