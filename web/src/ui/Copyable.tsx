import { useRef, useState } from 'react';

/** A line to copy, with its Copy button (or, without clipboard access, the text selected for Ctrl+C). */
export function Copyable({ text, testId, label }: { text: string; testId: string; label: string }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const ref = useRef<HTMLElement>(null);

  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('yes');
    } catch {
      const el = ref.current;
      if (el) window.getSelection()?.selectAllChildren(el);
      setCopied('no');
    }
  }

  return (
    <>
      <div className="secret-row">
        <code className="secret" data-testid={testId} ref={ref}>
          {text}
        </code>
        <button
          type="button"
          className="btn"
          data-testid={`${testId}-copy`}
          aria-label={`Copy ${label}`}
          onClick={() => void copy()}
        >
          {copied === 'yes' ? 'Copied' : 'Copy'}
        </button>
      </div>
      {copied === 'no' && <p className="muted">The clipboard is not available here: the text is selected, press Ctrl+C.</p>}
    </>
  );
}
