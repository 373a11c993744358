// Typed client for the berthd HTTP API (same origin as the console).
//
// Every function validates the JSON shape it receives and fails with one of
// three error classes, so the UI can say precisely what went wrong:
//   - UnreachableError:      the request never got an HTTP answer (network, timeout).
//   - ApiError:              the daemon answered with its JSON error envelope.
//   - MalformedResponseError: an answer that is not what the contract promises.

export interface VersionInfo {
  version: string;
  api: string;
}

/** `ready` and `not_ready` today; kept open so a newer daemon does not break the console. */
export type ComponentStatus = 'ready' | 'not_ready' | (string & {});

export interface ComponentReadiness {
  status: ComponentStatus;
  reason?: string;
}

export interface Readiness {
  ready: boolean;
  components: Record<string, ComponentReadiness>;
}

export interface RequestOptions {
  /** Cancels the request (e.g. when the page unmounts). */
  signal?: AbortSignal;
  /** Gives up after this long; defaults to DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 8_000;

export const VERSION_PATH = '/api/v1/version';
export const READINESS_PATH = '/readyz';

/** The daemon answered with its error envelope `{"error":{code,message,request_id}}`. */
export class ApiError extends Error {
  readonly code: string;
  readonly requestId: string | undefined;
  readonly status: number;
  readonly endpoint: string;

  constructor(init: { code: string; message: string; requestId?: string; status: number; endpoint: string }) {
    super(init.message);
    this.name = 'ApiError';
    this.code = init.code;
    this.requestId = init.requestId;
    this.status = init.status;
    this.endpoint = init.endpoint;
  }
}

/** The request got no HTTP answer at all (connection refused, DNS, timeout...). */
export class UnreachableError extends Error {
  readonly endpoint: string;

  constructor(endpoint: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnreachableError';
    this.endpoint = endpoint;
  }
}

/** An HTTP answer that does not follow the API contract (not JSON, wrong shape, unexpected status). */
export class MalformedResponseError extends Error {
  readonly status: number;
  readonly endpoint: string;

  constructor(endpoint: string, status: number, message: string) {
    super(message);
    this.name = 'MalformedResponseError';
    this.status = status;
    this.endpoint = endpoint;
  }
}

export type ClientError = ApiError | UnreachableError | MalformedResponseError;

export function isClientError(err: unknown): err is ClientError {
  return err instanceof ApiError || err instanceof UnreachableError || err instanceof MalformedResponseError;
}

// ---------------------------------------------------------------------------
// Public API

/** `GET /api/v1/version`. */
export async function fetchVersion(options: RequestOptions = {}): Promise<VersionInfo> {
  const response = await request(VERSION_PATH, options);
  if (response.status === 200 && response.body.kind === 'json') {
    return parseVersion(response.body.value, response.status);
  }
  throw errorFromResponse(VERSION_PATH, response);
}

/**
 * `GET /readyz`. Both 200 (ready) and 503 (not ready) carry a readiness report;
 * a 503 is a normal answer here, not an error.
 */
export async function fetchReadiness(options: RequestOptions = {}): Promise<Readiness> {
  const response = await request(READINESS_PATH, options);
  const { status, body } = response;
  if ((status === 200 || status === 503) && body.kind === 'json' && !isErrorEnvelope(body.value)) {
    return parseReadiness(body.value, status);
  }
  throw errorFromResponse(READINESS_PATH, response);
}

// ---------------------------------------------------------------------------
// Shape validation (exported for tests)

export function parseVersion(body: unknown, status = 200): VersionInfo {
  const fail = (why: string) => new MalformedResponseError(VERSION_PATH, status, why);
  if (!isObject(body)) throw fail(`expected a JSON object, got ${describeValue(body)}`);
  if (typeof body.version !== 'string' || body.version === '') {
    throw fail(`field "version" must be a non-empty string, got ${describeValue(body.version)}`);
  }
  if (typeof body.api !== 'string' || body.api === '') {
    throw fail(`field "api" must be a non-empty string, got ${describeValue(body.api)}`);
  }
  return { version: body.version, api: body.api };
}

export function parseReadiness(body: unknown, status = 200): Readiness {
  const fail = (why: string) => new MalformedResponseError(READINESS_PATH, status, why);
  if (!isObject(body)) throw fail(`expected a JSON object, got ${describeValue(body)}`);
  if (typeof body.ready !== 'boolean') {
    throw fail(`field "ready" must be a boolean, got ${describeValue(body.ready)}`);
  }
  if (!isObject(body.components)) {
    throw fail(`field "components" must be an object, got ${describeValue(body.components)}`);
  }
  const components: Record<string, ComponentReadiness> = {};
  for (const [name, value] of Object.entries(body.components)) {
    if (!isObject(value)) {
      throw fail(`component "${name}" must be an object, got ${describeValue(value)}`);
    }
    if (typeof value.status !== 'string' || value.status === '') {
      throw fail(`component "${name}": field "status" must be a non-empty string, got ${describeValue(value.status)}`);
    }
    if (value.reason !== undefined && value.reason !== null && typeof value.reason !== 'string') {
      throw fail(`component "${name}": field "reason" must be a string, got ${describeValue(value.reason)}`);
    }
    components[name] =
      typeof value.reason === 'string' ? { status: value.status, reason: value.reason } : { status: value.status };
  }
  return { ready: body.ready, components };
}

// ---------------------------------------------------------------------------
// Internals

type Body = { kind: 'json'; value: unknown } | { kind: 'text'; text: string };

interface RawResponse {
  status: number;
  body: Body;
}

async function request(path: string, options: RequestOptions): Promise<RawResponse> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = () => controller.abort();
  if (options.signal?.aborted) controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    let response: Response;
    try {
      // Looked up at call time so tests can replace the global fetch.
      response = await globalThis.fetch(path, {
        method: 'GET',
        headers: { Accept: 'application/json' },
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch (cause) {
      const why = timedOut ? `no answer within ${formatSeconds(timeoutMs)}` : errorText(cause);
      throw new UnreachableError(path, why, { cause });
    }

    let text: string;
    try {
      text = await response.text();
    } catch (cause) {
      const why = timedOut ? `response not complete within ${formatSeconds(timeoutMs)}` : errorText(cause);
      throw new UnreachableError(path, `reading the response failed: ${why}`, { cause });
    }

    try {
      return { status: response.status, body: { kind: 'json', value: JSON.parse(text) } };
    } catch {
      return { status: response.status, body: { kind: 'text', text } };
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

function isErrorEnvelope(body: unknown): body is { error: { code: string; message: string; request_id?: unknown } } {
  return (
    isObject(body) &&
    isObject(body.error) &&
    typeof body.error.code === 'string' &&
    typeof body.error.message === 'string'
  );
}

/** The error for any answer that is not the success shape: an ApiError when the daemon sent its error envelope. */
function errorFromResponse(endpoint: string, { status, body }: RawResponse): Error {
  if (body.kind === 'text') {
    const text = snippet(body.text);
    return new MalformedResponseError(
      endpoint,
      status,
      text === '' ? `HTTP ${status} with an empty body` : `HTTP ${status} with a body that is not JSON: ${text}`,
    );
  }
  if (isErrorEnvelope(body.value)) {
    const { code, message, request_id } = body.value.error;
    const requestId = typeof request_id === 'string' ? request_id : undefined;
    return new ApiError({ code, message, requestId, status, endpoint });
  }
  return new MalformedResponseError(endpoint, status, `unexpected HTTP ${status} without an error body`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(snippet(value, 40))}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function snippet(text: string, max = 80): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function formatSeconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
