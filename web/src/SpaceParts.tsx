// Pieces both Spaces pages use: the phase badge and the "type the name to delete" step.

import { useId, useState, type FormEvent } from 'react';
import { deleteConfirmed, phaseBadge } from './spaces';

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
  const [typed, setTyped] = useState('');
  const id = useId();
  const ok = deleteConfirmed(typed, name);

  function submit(event: FormEvent) {
    event.preventDefault();
    if (ok && !busy) onConfirm();
  }

  return (
    <form className="delete-confirm" onSubmit={submit} noValidate data-testid={`space-delete-form${testIdSuffix}`}>
      <label className="delete-confirm-label" htmlFor={`${id}-name`}>
        Deleting removes the space and everything in it. Type <strong className="mono">{name}</strong> to confirm.
      </label>
      <div className="confirm">
        <input
          id={`${id}-name`}
          className="input input-small mono"
          data-testid={`space-delete-name${testIdSuffix}`}
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
          data-testid={`space-delete-confirm${testIdSuffix}`}
          disabled={!ok || busy}
        >
          {busy ? 'Deleting…' : 'Delete'}
        </button>
        <button type="button" className="btn btn-small" data-testid={`space-delete-cancel${testIdSuffix}`} onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
