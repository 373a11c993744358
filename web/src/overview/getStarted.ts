// What the Overview says to a signed-in user whose spaces have no workloads
// yet: the README's "Try it" from the sign-in on, as commands to copy.

import type { SpaceView, Whoami } from '../api';

/** The sample web app `berth quickstart` installs (berth_samples::WEB). */
export const SAMPLE_ITEM = 'hello-web';
/** Where `berth up` serves the sample: the port quickstart forwards by default. */
export const SAMPLE_URL = 'http://127.0.0.1:3000';
/** The most spaces whose workloads are looked at. */
export const MAX_SPACES = 10;

/** A command to run, and what it does. */
export interface Step {
  command: string;
  why: string;
}

/** The spaces the user works in (an admin sees every space, but is not in each). */
export function ownSpaces(spaces: SpaceView[]): SpaceView[] {
  return spaces.filter((space) => space.your_role !== null && space.your_role !== undefined);
}

/**
 * The commands from a terminal: sign in (your personal space becomes the
 * current one), a space when you have none, then the sample (when the
 * catalog offers it) or your own workload, and `berth up`.
 */
export function nextSteps(origin: string, me: Whoami, sample: boolean, haveSpace: boolean): Step[] {
  const steps: Step[] = [
    {
      command:
        me.user.kind === 'local' ? `berth login ${origin} --username ${me.user.username}` : `berth login ${origin}`,
      why: 'Sign in from a terminal; your personal space becomes the current one.',
    },
  ];
  if (!haveSpace) {
    steps.push({ command: 'berth space create dev --use', why: 'Make a space to work in, and use it.' });
  }
  if (sample) {
    steps.push({
      command: 'berth quickstart',
      why: 'In an empty folder: installs the sample web app into your space and writes its source and berth.yaml.',
    });
  } else {
    steps.push({
      command: 'berth init',
      why: 'In your project, once an application from the Catalog is in your space: writes a berth.yaml for it.',
    });
  }
  steps.push({ command: 'berth up', why: 'Syncs the folder into the app and starts its dev server, with its port forwarded.' });
  return steps;
}
