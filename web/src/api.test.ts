import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ApiError,
  MalformedResponseError,
  UnreachableError,
  fetchReadiness,
  fetchVersion,
  parseReadiness,
} from './api';

type Handler = (url: string, init: RequestInit | undefined) => Response | Promise<Response>;

/** Replaces the global fetch; records the calls. */
function stubFetch(handler: Handler) {
  const calls: { url: string; init: RequestInit | undefined }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      calls.push({ url, init });
      return handler(url, init);
    }),
  );
  return calls;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

const READY = {
  ready: true,
  components: { store: { status: 'ready' }, server: { status: 'ready' } },
};

const NOT_READY = {
  ready: false,
  components: { store: { status: 'ready' }, server: { status: 'not_ready', reason: 'draining' } },
};

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('fetchVersion', () => {
  it('parses the version body', async () => {
    const calls = stubFetch(() => json(200, { version: '0.1.0', api: 'v1' }));
    await expect(fetchVersion()).resolves.toEqual({ version: '0.1.0', api: 'v1' });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe('/api/v1/version');
    expect(calls[0]?.init?.method).toBe('GET');
  });

  it('ignores unknown extra fields', async () => {
    stubFetch(() => json(200, { version: '1.2.3', api: 'v1', commit: 'abc' }));
    await expect(fetchVersion()).resolves.toEqual({ version: '1.2.3', api: 'v1' });
  });

  it('turns an error body into an ApiError with its fields', async () => {
    stubFetch(() =>
      json(404, { error: { code: 'not_found', message: 'no such route', request_id: 'req-42' } }),
    );
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({
      code: 'not_found',
      message: 'no such route',
      requestId: 'req-42',
      status: 404,
      endpoint: '/api/v1/version',
    });
  });

  it('accepts an error body without a request id', async () => {
    stubFetch(() => json(500, { error: { code: 'internal', message: 'boom' } }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).requestId).toBeUndefined();
  });

  it('rejects a body with the wrong shape, naming the field', async () => {
    stubFetch(() => json(200, { version: 1, api: 'v1' }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('field "version" must be a non-empty string, got number 1');
  });

  it('rejects a body that is not JSON', async () => {
    stubFetch(() => new Response('<html>Bad gateway</html>', { status: 502 }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect(err).toMatchObject({ status: 502, endpoint: '/api/v1/version' });
    expect((err as Error).message).toBe('HTTP 502 with a body that is not JSON: <html>Bad gateway</html>');
  });

  it('rejects a 200 whose body is not JSON', async () => {
    stubFetch(() => new Response('<!doctype html><title>Berth</title>', { status: 200 }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toMatch(/^HTTP 200 with a body that is not JSON/);
  });

  it('reports an empty error response', async () => {
    stubFetch(() => new Response('', { status: 500 }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('HTTP 500 with an empty body');
  });

  it('reports a JSON error response without the error envelope', async () => {
    stubFetch(() => json(500, { oops: true }));
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('unexpected HTTP 500 without an error body');
  });

  it('wraps a network failure in UnreachableError', async () => {
    stubFetch(() => {
      throw new TypeError('Failed to fetch');
    });
    const err = await fetchVersion().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err).toMatchObject({ message: 'Failed to fetch', endpoint: '/api/v1/version' });
  });

  it('gives up after the timeout', async () => {
    vi.useFakeTimers();
    stubFetch(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const pending = fetchVersion({ timeoutMs: 1_000 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_000);
    const err = await pending;
    expect(err).toBeInstanceOf(UnreachableError);
    expect((err as Error).message).toBe('no answer within 1 s');
  });

  it('passes the caller abort on to fetch', async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    stubFetch(
      (_url, init) =>
        new Promise<Response>((_resolve, reject) => {
          seen = init?.signal ?? undefined;
          init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const pending = fetchVersion({ signal: controller.signal }).catch((e: unknown) => e);
    controller.abort();
    await pending;
    expect(seen?.aborted).toBe(true);
  });
});

describe('fetchReadiness', () => {
  it('parses a 200 ready report', async () => {
    const calls = stubFetch(() => json(200, READY));
    await expect(fetchReadiness()).resolves.toEqual(READY);
    expect(calls[0]?.url).toBe('/readyz');
  });

  it('parses a 503 not-ready report instead of throwing', async () => {
    stubFetch(() => json(503, NOT_READY));
    await expect(fetchReadiness()).resolves.toEqual({
      ready: false,
      components: {
        store: { status: 'ready' },
        server: { status: 'not_ready', reason: 'draining' },
      },
    });
  });

  it('treats a 503 with an error body as an ApiError', async () => {
    stubFetch(() =>
      json(503, { error: { code: 'unavailable', message: 'shutting down', request_id: 'r-1' } }),
    );
    const err = await fetchReadiness().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'unavailable', status: 503, requestId: 'r-1', endpoint: '/readyz' });
  });

  it('turns other statuses with an error body into ApiError', async () => {
    stubFetch(() => json(401, { error: { code: 'unauthorized', message: 'login required', request_id: 'x' } }));
    const err = await fetchReadiness().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'unauthorized', message: 'login required', status: 401 });
  });

  it('rejects a readiness body missing "ready"', async () => {
    stubFetch(() => json(200, { components: {} }));
    const err = await fetchReadiness().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('field "ready" must be a boolean, got nothing');
  });

  it('rejects a 503 whose body is not JSON', async () => {
    stubFetch(() => new Response('Service Unavailable', { status: 503 }));
    const err = await fetchReadiness().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MalformedResponseError);
    expect((err as Error).message).toBe('HTTP 503 with a body that is not JSON: Service Unavailable');
  });
});

describe('parseReadiness', () => {
  it('accepts an empty component map', () => {
    expect(parseReadiness({ ready: true, components: {} })).toEqual({ ready: true, components: {} });
  });

  it('keeps unknown statuses and drops a null reason', () => {
    expect(
      parseReadiness({ ready: false, components: { store: { status: 'warming_up', reason: null } } }),
    ).toEqual({ ready: false, components: { store: { status: 'warming_up' } } });
  });

  it.each([
    [null, 'expected a JSON object, got null'],
    [[], 'expected a JSON object, got an array'],
    ['ready', 'expected a JSON object, got the string "ready"'],
    [{ ready: 'yes', components: {} }, 'field "ready" must be a boolean, got the string "yes"'],
    [{ ready: true, components: [] }, 'field "components" must be an object, got an array'],
    [{ ready: true, components: { store: 'ready' } }, 'component "store" must be an object, got the string "ready"'],
    [{ ready: true, components: { store: {} } }, 'component "store": field "status" must be a non-empty string, got nothing'],
    [
      { ready: true, components: { store: { status: 'ready', reason: 3 } } },
      'component "store": field "reason" must be a string, got number 3',
    ],
  ])('rejects %j', (body, message) => {
    expect(() => parseReadiness(body)).toThrow(MalformedResponseError);
    expect(() => parseReadiness(body)).toThrow(message);
  });
});
