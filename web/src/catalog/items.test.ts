import { describe, expect, it } from 'vitest';
import type { FieldView } from '../api';
import {
  EMPTY_ITEM_FORM,
  fieldOfMessage,
  fieldValue,
  initialInput,
  inputKind,
  installValues,
  itemFormOf,
  itemSpecOf,
  parseParameters,
  sameJson,
  setPath,
  versionLabel,
} from './items';
import { fieldView, itemView, redisFields } from '../testing';

const byPath = (path: string): FieldView => {
  const field = redisFields().find((f) => f.path === path);
  if (!field) throw new Error(path);
  return field;
};

describe('the item form', () => {
  it('makes the spec: trimmed, `*` for no version, null icon and parameters when empty', () => {
    expect(
      itemSpecOf({ ...EMPTY_ITEM_FORM, name: ' redis ', repository: 'stable', chart: ' redis ', version: ' ', values: '' }),
    ).toEqual({
      ok: true,
      value: {
        name: 'redis',
        description: '',
        icon: null,
        repository: 'stable',
        chart: 'redis',
        version: '*',
        values: {},
        parameters: null,
        hidden: false,
      },
    });
  });

  it.each([
    [{ name: '' }, 'Enter a name for the item.'],
    [{ name: 'Redis' }, 'The name must be up to 63 lowercase letters'],
    [{ name: 'redis-' }, 'The name must be up to 63 lowercase letters'],
    [{ repository: '' }, 'Pick the chart repository.'],
    [{ chart: ' ' }, 'Enter the chart’s name.'],
    [{ values: '[1]' }, 'The default values are not a JSON object ({ … }).'],
    [{ values: '{' }, 'The default values are not valid JSON'],
  ])('says what is wrong (%#)', (change, message) => {
    const spec = itemSpecOf({ ...EMPTY_ITEM_FORM, name: 'redis', repository: 'stable', chart: 'redis', ...change });
    expect(spec.ok).toBe(false);
    expect(spec.ok ? '' : spec.error).toContain(message);
  });

  it('an item’s spec makes the form back', () => {
    const { spec } = itemView({}, { parameters: ['auth.password', 'replicas'], icon: 'https://x/i.png' });
    const form = itemFormOf(spec);
    expect(form.parameters).toBe('auth.password, replicas');
    expect(form.values).toBe('{\n  "architecture": "standalone"\n}');
    expect(itemSpecOf(form)).toEqual({ ok: true, value: spec });
  });

  it('reads parameters separated by commas or spaces, without duplicates', () => {
    expect(parseParameters(' a.b, c ,,d\ne a.b ')).toEqual(['a.b', 'c', 'd', 'e']);
    expect(parseParameters(' , ')).toBeNull();
  });

  it('says which version a range picked', () => {
    expect(versionLabel(itemView())).toBe('1.10.0 (^1.4)');
    expect(versionLabel(itemView({}, { version: '1.10.0' }))).toBe('1.10.0');
  });
});

describe('the install form', () => {
  it('asks for each kind of field its own way', () => {
    expect(redisFields().map((f) => [f.path, inputKind(f)])).toEqual([
      ['replicas', 'number'],
      ['auth.password', 'password'],
      ['auth.enabled', 'checkbox'],
      ['architecture', 'select'],
      ['image.tag', 'text'],
      ['tolerations', 'json'],
    ]);
    expect(inputKind(fieldView({ kind: 'object', default: {} }))).toBe('json');
    expect(inputKind(fieldView({ kind: 'number' }))).toBe('number');
  });

  it('starts each input at the default', () => {
    expect(redisFields().map(initialInput)).toEqual(['1', '', true, '0', '7.4', '[]']);
    expect(initialInput(fieldView({ choices: [1, 2], default: 3 }))).toBe('');
  });

  it.each([
    ['12', 'At most 10.'],
    ['0', 'At least 1.'],
    ['1.5', 'Enter a whole number.'],
  ])('checks numbers against the field (%j)', (typed, error) => {
    expect(fieldValue(byPath('replicas'), typed)).toEqual({ ok: false, error });
  });

  it('sends only what changed, nested by path; required fields without a default must be filled', () => {
    const fields = redisFields();
    expect(installValues(fields, {}).errors).toEqual({ 'auth.password': 'Required.' });
    expect(
      installValues(fields, { 'auth.password': 'pw', replicas: '1', 'auth.enabled': false, architecture: '', tolerations: ' ' }),
    ).toEqual({ values: { auth: { password: 'pw', enabled: false } }, errors: {} });
  });

  it('leaves out an untouched field whatever its default’s type', () => {
    const odd = fieldView({ path: 'port', kind: 'string', default: 8080, minimum: null, maximum: null });
    expect(installValues([odd], {})).toEqual({ values: {}, errors: {} });
    expect(installValues([odd], { port: '9090' })).toEqual({ values: { port: '9090' }, errors: {} });
  });

  it('puts a path under an object set by a shorter one', () => {
    const fields = [
      fieldView({ path: 'auth.user', kind: 'string', default: null, minimum: null, maximum: null }),
      fieldView({ path: 'auth', kind: 'object', default: null, minimum: null, maximum: null }),
    ];
    expect(installValues(fields, { 'auth.user': 'bob', auth: '{"mode": "scram"}' }).values).toEqual({
      auth: { mode: 'scram', user: 'bob' },
    });
  });

  it('setPath makes the objects on the way', () => {
    const target: Record<string, unknown> = { a: 1 };
    setPath(target, 'a.b.c', true);
    setPath(target, 'd', null);
    expect(target).toEqual({ a: { b: { c: true } }, d: null });
  });

  it('compares JSON whatever the order of keys', () => {
    expect(sameJson({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1 })).toBe(true);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson(1, '1')).toBe(false);
  });
});

describe('fieldOfMessage', () => {
  const fields = [...redisFields(), fieldView({ path: 'auth', kind: 'object' })];
  it.each([
    ['values.replicas: 0 is less than the minimum of 1', 'replicas'],
    ['Values.replicas: 0 is less than the minimum of 1', 'replicas'],
    ['values.auth.password: required', 'auth.password'],
    ['values.auth.mode: not allowed', 'auth'],
    ['replicas: must be a whole number', 'replicas'],
    ['values.replicasx: unknown', null],
    ['values.image.tag.x: bad', 'image.tag'],
    ['name: taken', null],
  ])('%j names %j', (message, path) => {
    expect(fieldOfMessage(message, fields)).toBe(path);
  });
});
