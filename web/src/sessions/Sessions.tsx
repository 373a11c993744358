import { Fragment, useEffect, useState, type FormEvent } from 'react';
import {
  createSession,
  endSession,
  listSessions,
  listSpaces,
  type SessionCreated,
  type SessionView,
  type SpaceView,
  type Whoami,
} from '../api';
import { PageBanners } from '../ui/Banner';
import { CountedCardHead } from '../ui/CardHead';
import { Copyable } from '../ui/Copyable';
import { usePolledList } from '../ui/polling';
import { describeError, formErrorMessage, formatBytes, formatClock, formatDateTime, formatRelative } from '../ui/format';
import { Link } from '../router';
import { ROUTE_PATHS, spacePath } from '../routes';
import {
  SESSIONS_POLL_MS,
  agentCommand,
  canEndSession,
  defaultSessionSpace,
  execCommand,
  isEnded,
  isOwnSession,
  newSessionProblem,
  portForwardCommand,
  sshCommand,
  sessionSpaces,
  sessionStateBadge,
  sidesLabel,
  streamsLabel,
  withSession,
} from './model';
import { isAdmin } from '../spaces/model';
import { ListStateRows } from '../ui/TableParts';

const COLUMNS = 10;

/** `/sessions`: the live dev sessions, and a form to start one. */
export function Sessions({ me }: { me: Whoami }) {
  const admin = isAdmin(me);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [created, setCreated] = useState<SessionCreated | null>(null);
  const now = new Date();

  // The list, then again every SESSIONS_POLL_MS after the previous answer (not while the tab is hidden).
  // Only the answer to the latest request counts (see ui/polling.ts).
  const {
    items: sessions,
    setItems: setSessions,
    loadError,
    checkedAt,
    load,
    latest,
  } = usePolledList(listSessions, SESSIONS_POLL_MS);
  const mounted = latest.mounted;

  /** Puts the daemon's answer in the list at once; any request still in flight is now stale. */
  function show(session: SessionView) {
    latest.supersede();
    setSessions((list) => withSession(list, session));
  }

  async function end(session: SessionView) {
    setBusy(session.id);
    setActionError(null);
    setNotice(null);
    try {
      const ended = await endSession(session.id);
      if (!mounted.current) return;
      show(ended);
      setConfirming(null);
      setNotice(`Session ${session.id} ended: the CLI and the agent are disconnected.`);
    } catch (err) {
      if (!mounted.current) return;
      setActionError(`Ending session ${session.id} failed: ${formErrorMessage(err)}`);
    } finally {
      if (mounted.current) setBusy(null);
    }
    void load();
  }

  return (
    <>
      <div className="page-header">
        <h1>Dev sessions</h1>
        <p className="muted">
          {admin ? 'Every live dev session' : 'Your live dev sessions'}
          {checkedAt ? ` · checked ${formatClock(checkedAt)}, refreshes every ${SESSIONS_POLL_MS / 1000} s` : ''}
        </p>
      </div>

      <NewSession
        me={me}
        onSubmit={() => {
          setActionError(null);
          setNotice(null);
          setCreated(null);
        }}
        onCreated={(c) => {
          setCreated(c);
          show(c.session);
          void load();
        }}
      />

      {created && <NewSessionToken created={created} onDone={() => setCreated(null)} />}

      <PageBanners
        loadError={loadError}
        actionError={actionError}
        notice={notice}
        pollMs={SESSIONS_POLL_MS}
        testIdPrefix="sessions"
      />

      <section className="card card-flush" aria-labelledby="sessions-title">
        <CountedCardHead
          titleId="sessions-title"
          title={admin ? 'All live sessions' : 'Your live sessions'}
          items={sessions}
          one="session"
          many="sessions"
          countTestId="sessions-count"
        />
        <div className="table-scroll">
          <table className="table table-data table-spaces">
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">Space</th>
                <th scope="col">Owner</th>
                <th scope="col">State</th>
                <th scope="col">Connected</th>
                <th scope="col">Open streams</th>
                <th scope="col">To the agent</th>
                <th scope="col">To the CLI</th>
                <th scope="col">Started</th>
                <th scope="col" className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sessions?.map((session) => {
                const ended = isEnded(session);
                const rowBusy = busy === session.id;
                const sides = sidesLabel(session);
                return (
                  <Fragment key={session.id}>
                    <tr
                      data-testid={`session-row-${session.id}`}
                      data-state={session.state}
                      className={ended ? 'row-muted' : undefined}
                    >
                      <td className="mono" data-testid={`session-id-${session.id}`}>
                        {session.id}
                      </td>
                      <td>
                        <Link
                          to={spacePath(session.space)}
                          className="mono"
                          data-testid={`session-space-${session.id}`}
                        >
                          {session.space}
                        </Link>
                      </td>
                      <td data-testid={`session-owner-${session.id}`}>
                        <div className="cell-main">
                          <span className="mono">{session.owner || 'a removed user'}</span>
                          {isOwnSession(session, me) && <span className="tag">you</span>}
                        </div>
                      </td>
                      <td className="col-reason">
                        <SessionStateBadge state={session.state} testId={`session-state-${session.id}`} />
                        {session.ended_reason && (
                          <div className="cell-sub muted" data-testid={`session-ended-reason-${session.id}`}>
                            {session.ended_reason}
                          </div>
                        )}
                      </td>
                      <td
                        data-testid={`session-sides-${session.id}`}
                        data-client={String(session.client_connected)}
                        data-agent={String(session.agent_connected)}
                        title={`CLI ${session.client_connected ? 'connected' : 'not connected'}, agent ${
                          session.agent_connected ? 'connected' : 'not connected'
                        }`}
                      >
                        <span className={`status status-${sides.tone}`}>{sides.label}</span>
                      </td>
                      <td data-testid={`session-streams-${session.id}`}>{session.streams}</td>
                      <td
                        className="mono"
                        data-testid={`session-bytes-to-agent-${session.id}`}
                        title={`${session.bytes_to_agent.toLocaleString('en-US')} bytes from the CLI to the agent`}
                      >
                        {formatBytes(session.bytes_to_agent)}
                      </td>
                      <td
                        className="mono"
                        data-testid={`session-bytes-to-client-${session.id}`}
                        title={`${session.bytes_to_client.toLocaleString('en-US')} bytes from the agent to the CLI`}
                      >
                        {formatBytes(session.bytes_to_client)}
                      </td>
                      <td data-testid={`session-since-${session.id}`} title={formatDateTime(session.created_at)}>
                        {formatRelative(session.created_at, now)}
                      </td>
                      <td className="col-actions">
                        {canEndSession(session, me) && (
                          <button
                            type="button"
                            className="btn btn-small btn-danger-outline"
                            data-testid={`session-end-${session.id}`}
                            disabled={rowBusy || ended || confirming === session.id}
                            title={ended ? 'Already ended' : 'Disconnect the CLI and the agent'}
                            onClick={() => setConfirming(session.id)}
                          >
                            End
                          </button>
                        )}
                      </td>
                    </tr>
                    {confirming === session.id && !ended && (
                      <tr className="confirm-row">
                        <td colSpan={COLUMNS}>
                          <div className="delete-confirm" data-testid={`session-end-step-${session.id}`}>
                            <p className="delete-confirm-label">
                              Ending disconnects the CLI and the agent of <strong className="mono">{session.id}</strong>
                              {session.streams > 0 ? `, and closes its ${streamsLabel(session.streams)}` : ''}. It
                              cannot be resumed: start a new session to carry on.
                            </p>
                            <div className="confirm">
                              <button
                                type="button"
                                className="btn btn-small btn-danger"
                                data-testid={`session-end-confirm-${session.id}`}
                                disabled={rowBusy}
                                onClick={() => void end(session)}
                              >
                                {rowBusy ? 'Ending…' : 'End session'}
                              </button>
                              <button
                                type="button"
                                className="btn btn-small"
                                data-testid={`session-end-cancel-${session.id}`}
                                onClick={() => setConfirming(null)}
                              >
                                Cancel
                              </button>
                            </div>
                          </div>
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
              <ListStateRows
                items={sessions}
                failed={loadError !== null}
                columns={COLUMNS}
                empty={admin ? 'No dev session is live.' : 'You have no live dev session: start one above.'}
                emptyTestId="sessions-empty"
                unknown="Sessions unknown."
              />
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

/** A session's state as a badge (also on a space's page, for its targets in dev mode). */
export function SessionStateBadge({ state, testId }: { state: string; testId?: string }) {
  const { label, tone } = sessionStateBadge(state);
  return (
    <span className={`badge badge-small badge-${tone}`} data-testid={testId} data-state={state}>
      {label}
    </span>
  );
}

/**
 * "Start a session": one of your spaces (from `GET /api/v1/spaces`). When the
 * spaces cannot be read, the space's name is typed instead.
 */
function NewSession({
  me,
  onSubmit,
  onCreated,
}: {
  me: Whoami;
  onSubmit: () => void;
  onCreated: (created: SessionCreated) => void;
}) {
  const [spaces, setSpaces] = useState<SpaceView[] | null>(null);
  const [spacesError, setSpacesError] = useState<string | null>(null);
  const [space, setSpace] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const controller = new AbortController();
    listSpaces({ signal: controller.signal }).then(
      (list) => {
        if (controller.signal.aborted) return;
        setSpaces(list);
        setSpacesError(null);
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        setSpacesError(describeError(err));
      },
    );
    return () => controller.abort();
  }, []);

  const names = spaces ? sessionSpaces(spaces) : [];
  /** The spaces could not be read: the name is typed. */
  const typed = spacesError !== null && spaces === null;
  const noSpace = spaces !== null && names.length === 0;
  // Until the user picks one: your personal space, else the first.
  let chosen: string;
  if (typed || names.includes(space)) chosen = space;
  else chosen = spaces ? defaultSessionSpace(spaces, me) : '';

  async function submit(event: FormEvent) {
    event.preventDefault();
    const name = chosen.trim();
    const problem = newSessionProblem(name);
    if (problem) {
      setError(problem);
      return;
    }
    setBusy(true);
    setError(null);
    onSubmit();
    try {
      onCreated(await createSession({ space: name }));
    } catch (err) {
      setError(formErrorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="new-session-title">
      <h2 className="card-title" id="new-session-title">
        Start a session
      </h2>
      <p className="field-hint">
        A dev session connects the berth CLI on your machine to an agent in a space, through Berth: run commands
        there with <code className="mono">berth exec</code> and reach its ports with{' '}
        <code className="mono">berth port-forward</code>.
      </p>
      <form className="form-row" onSubmit={(e) => void submit(e)} noValidate data-testid="session-new-form">
        <label className="field field-grow">
          <span className="field-label">Space</span>
          {typed ? (
            <input
              className="input mono"
              data-testid="session-new-space"
              name="space"
              autoComplete="off"
              autoCapitalize="none"
              spellCheck={false}
              placeholder="e.g. alice-dev"
              maxLength={63}
              aria-invalid={error ? true : undefined}
              value={space}
              onChange={(e) => {
                setSpace(e.target.value);
                setError(null);
              }}
            />
          ) : (
            <select
              className="select select-block mono"
              data-testid="session-new-space"
              name="space"
              disabled={spaces === null || noSpace}
              value={chosen}
              onChange={(e) => {
                setSpace(e.target.value);
                setError(null);
              }}
            >
              {spaces === null && <option value="">Loading your spaces…</option>}
              {noSpace && <option value="">No space yet</option>}
              {names.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          )}
        </label>
        <button
          type="submit"
          className="btn btn-primary"
          data-testid="session-new-submit"
          disabled={busy || noSpace || (spaces === null && !typed)}
        >
          {busy ? 'Starting…' : 'Start session'}
        </button>
      </form>
      {typed && (
        <p className="field-hint" data-testid="session-new-spaces-error">
          Your spaces could not be read ({spacesError}): type the space’s name.
        </p>
      )}
      {noSpace && (
        <p className="field-hint" data-testid="session-new-no-space">
          You are not in any space yet: create one on the <Link to={ROUTE_PATHS.spaces}>Spaces</Link> page first.
        </p>
      )}
      {error && (
        <p className="form-error" role="alert" data-testid="session-new-error">
          {error}
        </p>
      )}
    </section>
  );
}

/** The new session's agent token, shown this once, with the commands that use it. */
function NewSessionToken({ created, onDone }: { created: SessionCreated; onDone: () => void }) {
  const { session, agent_token: token } = created;
  const command = agentCommand(window.location.origin, token);
  return (
    <section className="card card-secret" role="status" aria-labelledby="new-session-token-title" data-testid="session-new-created">
      <h2 className="secret-title" id="new-session-token-title">
        Session <span className="mono">{session.id}</span> started in{' '}
        <Link to={spacePath(session.space)} className="mono">
          {session.space}
        </Link>
      </h2>
      <p className="secret-warning">
        <strong>Copy the agent’s token now: it is shown this once.</strong> It works for this session only.
      </p>
      <Copyable text={token} testId="session-new-token" label="the token" />
      <p>1. Start the agent in the dev container, in the folder to work in:</p>
      <Copyable text={command} testId="session-new-agent-command" label="the command" />
      <p>2. Then, from your machine, run a command there or reach one of its ports:</p>
      <Copyable text={execCommand(session.id)} testId="session-new-exec" label="the command" />
      <Copyable text={portForwardCommand(session.id)} testId="session-new-port-forward" label="the command" />
      <Copyable text={sshCommand(session.id)} testId="session-new-ssh" label="the command" />
      <p className="muted">
        Replace <code className="mono">&lt;command&gt;</code> with what to run, and 8080:8080 with the local and remote
        ports you need. After <code className="mono">berth ssh-config</code>, ssh, scp and editors reach the container as{' '}
        <code className="mono">{session.id}.berth</code>.
      </p>
      <div>
        <button type="button" className="btn" data-testid="session-new-done" onClick={onDone}>
          I have copied it
        </button>
      </div>
    </section>
  );
}
