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

/**
 * The banners of a page that refreshes by itself: why the last read failed
 * (test id `error`, or `loadErrorTestId` when a page reads two lists, with
 * when it is tried again), why an action failed (`<testIdPrefix>-error`) and
 * what an action did (`<testIdPrefix>-notice`).
 */
export function PageBanners({
  loadError,
  actionError,
  notice,
  pollMs,
  testIdPrefix,
  loadErrorTestId = 'error',
}: {
  loadError: string | null;
  actionError: string | null;
  notice: string | null;
  pollMs: number;
  testIdPrefix: string;
  loadErrorTestId?: string;
}) {
  return (
    <>
      {loadError && (
        <Banner tone="error" testId={loadErrorTestId} hint={<>Retrying every {pollMs / 1000} s.</>}>
          {loadError}
        </Banner>
      )}
      {actionError && (
        <Banner tone="error" testId={`${testIdPrefix}-error`}>
          {actionError}
        </Banner>
      )}
      {notice && (
        <Banner tone="ok" testId={`${testIdPrefix}-notice`}>
          {notice}
        </Banner>
      )}
    </>
  );
}

/**
 * Why a card's own list could not be read, inside the card (the page's
 * banners speak of the page's record); nothing while it reads fine.
 */
export function CardError({ error, testId }: { error: string | null; testId: string }) {
  if (!error) return null;
  return (
    <div className="card-inset">
      <Banner tone="error" testId={testId}>
        {error}
      </Banner>
    </div>
  );
}
