// Pieces both Spaces pages use: the phase badge and the "type the name to confirm" step
// (deleting a space, taking a target out of dev mode; the Catalog page uses it too, to
// remove a chart repository).

import { useId, useState, type FormEvent, type ReactNode } from 'react';
import { deleteConfirmed, phaseBadge } from './model';

export function PhaseBadge({ phase, testId }: { phase: string; testId?: string }) {
  const { label, tone } = phaseBadge(phase);
  return (
    <span className={`badge badge-small badge-${tone}`} data-testid={testId} data-phase={phase}>
      {label}
    </span>
  );
}

/**
 * Deleting a space takes its namespace and everything in it: the Delete
 * button only works once the space's name is typed.
 */
export function DeleteSpaceConfirm({
  name,
  busy,
  testIdSuffix = '',
  onConfirm,
  onCancel,
}: {
  name: string;
  busy: boolean;
  /** Appended to the test ids: `-<name>` in the list, nothing on the space's page. */
  testIdSuffix?: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <TypeNameConfirm
      name={name}
      busy={busy}
      testId="space-delete"
      testIdSuffix={testIdSuffix}
      what="Deleting removes the space and everything in it."
      action="Delete"
      busyAction="Deleting…"
      onConfirm={onConfirm}
      onCancel={onCancel}
    />
  );
}

/**
 * A step that cannot be undone, taken once a name is typed: `what` says what
 * it does, then "Type <name> to confirm". The test ids are
 * `<testId>-form|name|confirm|cancel<testIdSuffix>`.
 */
export function TypeNameConfirm({
  name,
  busy,
  testId,
  testIdSuffix = '',
  what,
  action,
  busyAction,
  onConfirm,
  onCancel,
}: {
  name: string;
  busy: boolean;
  testId: string;
  testIdSuffix?: string;
  what: ReactNode;
  /** The button's label ("Delete"), and while the request runs ("Deleting…"). */
  action: string;
  busyAction: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const [typed, setTyped] = useState('');
  const id = useId();
  const ok = deleteConfirmed(typed, name);

  function submit(event: FormEvent) {
    event.preventDefault();
    if (ok && !busy) onConfirm();
  }

  return (
    <form className="delete-confirm" onSubmit={submit} noValidate data-testid={`${testId}-form${testIdSuffix}`}>
      <label className="delete-confirm-label" htmlFor={`${id}-name`}>
        {what} Type <strong className="mono">{name}</strong> to confirm.
      </label>
      <div className="confirm">
        <input
          id={`${id}-name`}
          className="input input-small mono"
          data-testid={`${testId}-name${testIdSuffix}`}
          autoComplete="off"
          autoCapitalize="none"
          spellCheck={false}
          autoFocus
          placeholder={name}
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
        />
        <button
          type="submit"
          className="btn btn-small btn-danger"
          data-testid={`${testId}-confirm${testIdSuffix}`}
          disabled={!ok || busy}
        >
          {busy ? busyAction : action}
        </button>
        <button type="button" className="btn btn-small" data-testid={`${testId}-cancel${testIdSuffix}`} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
