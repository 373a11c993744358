// The three ways a call fails, so the UI can say precisely what went wrong:
//   - UnreachableError:       the request never got an HTTP answer (network, timeout).
//   - ApiError:               the daemon answered with its JSON error envelope.
//   - MalformedResponseError: an answer that is not what the OpenAPI document promises.

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The daemon answered with its error envelope `{"error":{code,message,request_id}}`. */
export class ApiError extends Error {
  readonly code: string;
  readonly requestId: string | undefined;
  readonly status: number;
  readonly endpoint: string;
  readonly method: HttpMethod;

  constructor(init: {
    code: string;
    message: string;
    requestId?: string;
    status: number;
    endpoint: string;
    method?: HttpMethod;
  }) {
    super(init.message);
    this.name = 'ApiError';
    this.code = init.code;
    this.requestId = init.requestId;
    this.status = init.status;
    this.endpoint = init.endpoint;
    this.method = init.method ?? 'GET';
  }
}

/** The request got no HTTP answer at all (connection refused, DNS, timeout...). */
export class UnreachableError extends Error {
  readonly endpoint: string;
  readonly method: HttpMethod;

  constructor(endpoint: string, message: string, options?: { cause?: unknown; method?: HttpMethod }) {
    super(message, options);
    this.name = 'UnreachableError';
    this.endpoint = endpoint;
    this.method = options?.method ?? 'GET';
  }
}

/** An HTTP answer that does not follow the API contract (not JSON, wrong shape, unexpected status). */
export class MalformedResponseError extends Error {
  readonly status: number;
  readonly endpoint: string;
  readonly method: HttpMethod;

  constructor(endpoint: string, status: number, message: string, method: HttpMethod = 'GET') {
    super(message);
    this.name = 'MalformedResponseError';
    this.status = status;
    this.endpoint = endpoint;
    this.method = method;
  }
}

export type ClientError = ApiError | UnreachableError | MalformedResponseError;

export function isClientError(err: unknown): err is ClientError {
  return err instanceof ApiError || err instanceof UnreachableError || err instanceof MalformedResponseError;
}

/** The daemon said "sign in first" (HTTP 401). */
export function isUnauthenticated(err: unknown): err is ApiError {
  return err instanceof ApiError && err.status === 401;
}

/** The daemon does not know what was asked for (HTTP 404): removed, never there, or not yours to see. */
export function isNotFound(err: unknown): err is ApiError {
  return err instanceof ApiError && err.status === 404;
}
