import { useEffect, useState } from 'react';
import { listItems, listSpaces, listWorkloads, type Whoami } from '../api';
import { Copyable } from '../ui/Copyable';
import { MAX_SPACES, SAMPLE_ITEM, SAMPLE_URL, nextSteps, ownSpaces, type Step } from './getStarted';

type Shown = { steps: Step[]; sample: boolean } | null;

/**
 * The next steps for a user whose spaces have no workloads yet. Shows
 * nothing once one has a workload, or when the daemon cannot say.
 */
export function GetStarted({ me }: { me: Whoami }) {
  const [shown, setShown] = useState<Shown>(null);

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    async function look() {
      const spaces = ownSpaces(await listSpaces({ signal })).slice(0, MAX_SPACES);
      const workloads = await Promise.all(spaces.map((space) => listWorkloads(space.name, { signal })));
      if (workloads.some((list) => list.length > 0)) return null;
      // The catalog decides between the sample and the user's own workload.
      const items = await listItems({ signal }).catch(() => []);
      const sample = items.some((item) => item.spec.name === SAMPLE_ITEM);
      return { steps: nextSteps(window.location.origin, me, sample, spaces.length > 0), sample };
    }
    look().then(
      (next) => {
        if (!signal.aborted) setShown(next);
      },
      () => {
        if (!signal.aborted) setShown(null);
      },
    );
    return () => controller.abort();
  }, [me]);

  if (!shown) return null;
  return (
    <section className="card get-started" aria-labelledby="get-started-title" data-testid="get-started">
      <h2 className="card-title" id="get-started-title">
        Get started
      </h2>
      <p>
        Your spaces have no workloads yet. From a terminal with the <code className="mono">berth</code> CLI:
      </p>
      <ol className="get-started-steps">
        {shown.steps.map((step, i) => (
          <li key={step.command} data-testid={`get-started-step-${i + 1}`}>
            <p>{step.why}</p>
            <Copyable text={step.command} testId={`get-started-command-${i + 1}`} label={step.command} />
          </li>
        ))}
      </ol>
      {shown.sample && (
        <p data-testid="get-started-open">
          Then open <a href={SAMPLE_URL}>{SAMPLE_URL}</a>, edit <code className="mono">index.html</code>, save, and
          reload.
        </p>
      )}
    </section>
  );
}
