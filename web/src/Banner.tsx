import type { ReactNode } from 'react';

/**
 * A message above a page's content. Errors and warnings are announced at once
 * (`role="alert"`); information and confirmations politely (`role="status"`).
 */
export function Banner({
  tone,
  testId,
  hint,
  children,
}: {
  tone: 'error' | 'warn' | 'info' | 'ok';
  testId?: string;
  /** A second, quieter line: what happens next or what to do. */
  hint?: ReactNode;
  children: ReactNode;
}) {
  const urgent = tone === 'error' || tone === 'warn';
  return (
    <div className={`banner banner-${tone}`} role={urgent ? 'alert' : 'status'} data-testid={testId}>
      <p>{children}</p>
      {hint && <p className="banner-hint">{hint}</p>}
    </div>
  );
}
