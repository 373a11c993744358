import { describe, expect, it } from 'vitest';
import { ApiError, MalformedResponseError, UnreachableError, type Readiness } from './api';
import { componentRows, describeError, formatClock, statusLabel, summarizeReadiness } from './format';

const ready: Readiness = {
  ready: true,
  components: { store: { status: 'ready' }, server: { status: 'ready' } },
};

const draining: Readiness = {
  ready: false,
  components: { store: { status: 'ready' }, server: { status: 'not_ready', reason: 'draining' } },
};

describe('statusLabel', () => {
  it.each([
    ['ready', 'Ready'],
    ['not_ready', 'Not ready'],
    ['warming_up', 'Warming up'],
    ['DEGRADED', 'Degraded'],
    ['', 'Unknown'],
  ])('%j -> %j', (status, label) => {
    expect(statusLabel(status)).toBe(label);
  });
});

describe('componentRows', () => {
  it('sorts by name and fills in labels, tones and reasons', () => {
    expect(componentRows(draining)).toEqual([
      { name: 'server', status: 'not_ready', statusLabel: 'Not ready', tone: 'bad', reason: 'draining' },
      { name: 'store', status: 'ready', statusLabel: 'Ready', tone: 'ok', reason: '' },
    ]);
  });

  it('gives unknown statuses a neutral tone', () => {
    expect(componentRows({ ready: false, components: { gc: { status: 'warming_up' } } })[0]?.tone).toBe('neutral');
  });
});

describe('summarizeReadiness', () => {
  it('reports all ready', () => {
    expect(summarizeReadiness(ready)).toEqual({ label: 'Ready', tone: 'ok', detail: 'All 2 components ready.' });
  });

  it('names the components that are not ready, with reasons', () => {
    expect(summarizeReadiness(draining)).toEqual({
      label: 'Not ready',
      tone: 'bad',
      detail: '1 of 2 components not ready: server (draining).',
    });
  });

  it('follows the overall flag even when every component looks ready', () => {
    expect(summarizeReadiness({ ...ready, ready: false }).label).toBe('Not ready');
  });

  it('handles one and zero components', () => {
    expect(summarizeReadiness({ ready: true, components: { store: { status: 'ready' } } }).detail).toBe(
      'The only component is ready.',
    );
    expect(summarizeReadiness({ ready: true, components: {} }).detail).toBe('No components reported.');
    expect(summarizeReadiness({ ready: false, components: { store: { status: 'not_ready' } } }).detail).toBe(
      '1 of 1 component not ready: store.',
    );
  });
});

describe('describeError', () => {
  it('says the API could not be reached', () => {
    expect(describeError(new UnreachableError('/readyz', 'Failed to fetch'))).toBe(
      'Could not reach the Berth API: Failed to fetch (GET /readyz)',
    );
  });

  it('shows the code, status and request id of an API error', () => {
    const err = new ApiError({
      code: 'not_found',
      message: 'no such route',
      requestId: 'req-1',
      status: 404,
      endpoint: '/api/v1/version',
    });
    expect(describeError(err)).toBe(
      'The Berth API returned an error for GET /api/v1/version: no such route (not_found, HTTP 404, request id req-1)',
    );
  });

  it('omits a missing request id', () => {
    const err = new ApiError({ code: 'internal', message: 'boom', status: 500, endpoint: '/readyz' });
    expect(describeError(err)).toBe('The Berth API returned an error for GET /readyz: boom (internal, HTTP 500)');
  });

  it('explains a malformed response', () => {
    expect(describeError(new MalformedResponseError('/readyz', 200, 'field "ready" must be a boolean'))).toBe(
      'Unexpected response from the Berth API for GET /readyz: field "ready" must be a boolean',
    );
  });

  it('falls back for anything else', () => {
    expect(describeError(new Error('x'))).toBe('Unexpected error: x');
    expect(describeError('y')).toBe('Unexpected error: y');
  });
});

describe('formatClock', () => {
  it('zero-pads local time', () => {
    expect(formatClock(new Date(2024, 0, 2, 3, 4, 5))).toBe('03:04:05');
  });
});
