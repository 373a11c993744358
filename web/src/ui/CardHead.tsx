import type { ReactNode } from 'react';

/**
 * The head of a card listing things: its title and, once the list is known,
 * how many there are ("1 space", "3 spaces").
 */
export function CountedCardHead({
  titleId,
  title,
  items,
  one,
  many,
  countTestId,
}: {
  titleId: string;
  title: ReactNode;
  items: readonly unknown[] | null;
  one: string;
  many: string;
  countTestId: string;
}) {
  return (
    <div className="card-head">
      <div className="card-head-text">
        <h2 className="card-title" id={titleId}>
          {title}
        </h2>
        {items && (
          <span className="muted card-head-note" data-testid={countTestId}>
            {items.length} {items.length === 1 ? one : many}
          </span>
        )}
      </div>
    </div>
  );
}
