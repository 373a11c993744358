import { describe, expect, it } from 'vitest';
import { answerSchema, conform, Refusal, type Schema } from './contract';
import { operations, schemas } from './contract.gen';

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

describe('answerSchema', () => {
  it('finds every operation of the document from a URL as sent', () => {
    for (const [key, responses] of Object.entries(operations)) {
      const [method = '', route = ''] = key.split(' ');
      const url = `${route.replace(/\{[^}]+\}/g, 'a%20b')}?x=1`;
      for (const [status, schema] of Object.entries(responses)) {
        expect(answerSchema(method.toUpperCase(), url, Number(status)), `${key} ${status}`).toEqual(schema);
      }
    }
  });

  it('takes the documented success for another success status, and nothing for no JSON answer', () => {
    expect(answerSchema('POST', '/api/v1/setup', 200)).toEqual(ref('Whoami'));
    expect(answerSchema('POST', '/api/v1/auth/logout', 204)).toBeUndefined();
    expect(answerSchema('GET', '/api/v1/no-such-path', 200)).toBeUndefined();
  });
});

describe('conform', () => {
  it('drops fields the schema does not name and fills absent nullable fields with null', () => {
    expect(conform({ version: '1', api: 'v1', commit: 'abc' }, ref('BuildInfo'))).toEqual({ version: '1', api: 'v1' });
    const event = {
      seq: 1,
      time_unix_nano: 2,
      actor: { kind: 'system', name: 'berthd' },
      action: 'auth.setup_link',
      resource: { kind: 'setup' },
      outcome: 'success',
      prev_hash: '00',
      hash: '01',
    };
    expect(conform(event, ref('AuditEvent'))).toEqual({
      ...event,
      actor: { kind: 'system', id: null, name: 'berthd' },
      resource: { kind: 'setup', id: null, name: null, space: null },
      origin: { source: null, user_agent: null, request_id: null, trace_id: null },
      changes: {},
      reason: null,
      status: null,
    });
  });

  it('keeps an enum value it does not know', () => {
    expect(conform('paused', ref('SessionState'))).toBe('paused');
  });

  it('picks the oneOf variant by its enum fields, and names the field of the one picked', () => {
    const status = ref('ComponentStatus');
    expect(conform({ status: 'not_ready', reason: 'draining', extra: 1 }, status)).toEqual({ status: 'not_ready', reason: 'draining' });
    expect(conform({ status: 'ready', reason: 'x' }, status)).toEqual({ status: 'ready' });
    expect(() => conform({ status: 'not_ready' }, status)).toThrow(new Refusal('reason', 'a string', undefined));
  });

  it('names a wrong field before a missing one, with its path', () => {
    expect(() => conform([{ type: 'Ready', status: 'True' }], { type: 'array', items: ref('Condition') })).toThrow(
      'field "[0].status" must be a boolean, got the string "True"',
    );
  });

  it('says what a nullable or bounded field wants', () => {
    expect(() => conform({ ...VERIFY, first_seq: -1 }, ref('Verification'))).toThrow(
      'field "first_seq" must be a whole number, at least 0, or null, got number -1',
    );
    expect(() => conform({ ...VERIFY, problem: 3 }, ref('Verification'))).toThrow(
      'field "problem" must be a string or null, got number 3',
    );
  });

  it('knows every schema the document names', () => {
    for (const name of Object.keys(schemas)) expect(() => conform(null, ref(name))).not.toThrow(/no schema/);
  });
});

const VERIFY = {
  ok: true,
  events: 1,
  first_seq: 1,
  last_seq: 1,
  checkpoints: 0,
  first_broken_seq: null,
  problem: null,
  detail: null,
  public_key: 'ab',
};
