// The run-time check of the daemon's answers against its OpenAPI document.
//
// src/api/contract.gen.ts holds, generated from web/openapi.json, the JSON
// schema of each answer by operation and status. `conform` walks an answer
// along its schema and gives back what the console works with:
//   - only the properties the schema names (unknown extra fields are dropped);
//   - a property that is absent but may be null (or may be any JSON value) as
//     `null`, an absent object as `{}` filled in the same way, an absent
//     array as `[]`: the console never meets `undefined` where the type says
//     `null`, `{}` or `[]` (`Wire<T>` below is that type);
//   - string enums kept open: an unknown value passes (a newer daemon may add
//     one), and only serves to pick between `oneOf` variants;
//   - a `Refusal` naming the first field outside the contract (its dotted
//     path, what the schema wants, what came).

import { operations, schemas } from './contract.gen';

/** The subset of JSON Schema the generator keeps (see web/tools/openapi/gen.mjs). */
export interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  minimum?: number;
  maximum?: number;
}

/**
 * A generated schema type as `conform` gives it: optional properties that may
 * be null, objects and arrays made present; string enums kept open.
 */
export type Wire<T> = T extends string
  ? OpenString<T>
  : T extends number | boolean | null | undefined
    ? T
    : T extends readonly (infer U)[]
      ? Wire<U>[]
      : T extends object
        ? WireObject<T>
        : T;

type OpenString<T extends string> = string extends T ? string : T | (string & {});

/** Whether `conform` fills in an absent property of this type. */
type Filled<V> = null extends V ? true : [NonNullable<V>] extends [object] ? true : false;

type WireObject<T> = Flat<
  {
    -readonly [K in keyof T as undefined extends T[K] ? (Filled<Exclude<T[K], undefined>> extends true ? K : never) : K]-?: Wire<
      Exclude<T[K], undefined>
    >;
  } & {
    -readonly [K in keyof T as undefined extends T[K] ? (Filled<Exclude<T[K], undefined>> extends true ? never : K) : never]?: Wire<
      Exclude<T[K], undefined>
    >;
  }
>;

type Flat<T> = { [K in keyof T]: T[K] };

/** An answer outside the contract: `where` is the field's path (`''` for the whole answer). */
export class Refusal extends Error {
  readonly where: string;

  constructor(where: string, expected: string, got: unknown) {
    super(
      where === ''
        ? `expected ${expected.replace(/^an? (object|array)\b/, (_m, what: string) => `a JSON ${what}`)}, got ${describeValue(got)}`
        : `field "${where}" must be ${expected}, got ${describeValue(got)}`,
    );
    this.name = 'Refusal';
    this.where = where;
  }
}

/**
 * The schema of the answer with `status` to `method url` (the url as sent,
 * query included), or, for a success status the document does not list,
 * the schema of the success it does list. `undefined` when the operation has
 * no JSON answer.
 */
export function answerSchema(method: string, url: string, status: number): Schema | undefined {
  const responses = operationOf(method, url);
  if (responses === undefined) return undefined;
  const exact = responses[String(status)];
  if (exact !== undefined || status < 200 || status > 299) return exact;
  const success = Object.keys(responses).find((s) => s.startsWith('2'));
  return success === undefined ? undefined : responses[success];
}

/** `value` as the console works with it, or a Refusal naming the first field outside `schema`. */
export function conform(value: unknown, schema: Schema, where = ''): unknown {
  return walk(value, schema, where, false);
}

// ---------------------------------------------------------------------------
// Internals

/** Paths with their `{param}`s as patterns, literal paths first (`/auth/mapping/preview` before `/auth/mapping/{x}`). */
const ROUTES: { method: string; pattern: RegExp; key: string }[] = Object.keys(operations)
  .map((key) => {
    const [method = '', route = ''] = key.split(' ');
    const source = route
      .split(/(\{[^}]+\})/)
      .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('');
    return { method, pattern: new RegExp(`^${source}$`), key, params: (route.match(/\{/g) ?? []).length };
  })
  .sort((a, b) => a.params - b.params)
  .map(({ method, pattern, key }) => ({ method, pattern, key }));

function operationOf(method: string, url: string): Record<string, Schema> | undefined {
  const pathname = url.split('?')[0] ?? url;
  const route = ROUTES.find((r) => r.method === method.toLowerCase() && r.pattern.test(pathname));
  return route === undefined ? undefined : operations[route.key];
}

function resolve(schema: Schema): Schema {
  let s = schema;
  for (let depth = 0; s.$ref !== undefined && depth < 32; depth += 1) {
    const name = s.$ref.replace('#/components/schemas/', '');
    const target = schemas[name];
    if (target === undefined) throw new Error(`the contract has no schema ${name}`);
    s = target;
  }
  return s;
}

function types(schema: Schema): string[] {
  if (schema.type === undefined) return [];
  return Array.isArray(schema.type) ? schema.type : [schema.type];
}

/** Any JSON value: no type, no shape. */
function isAny(s: Schema): boolean {
  return s.type === undefined && s.properties === undefined && s.oneOf === undefined && s.anyOf === undefined && s.allOf === undefined && s.items === undefined;
}

function acceptsNull(schema: Schema): boolean {
  const s = resolve(schema);
  if (isAny(s) || types(s).includes('null')) return true;
  return [...(s.oneOf ?? []), ...(s.anyOf ?? [])].some(acceptsNull);
}

/** The single non-null type of a schema (through `$ref` and a nullable `oneOf`), if it has one. */
function mainType(schema: Schema): string | undefined {
  const s = resolve(schema);
  const variants = [...(s.oneOf ?? []), ...(s.anyOf ?? [])].filter((v) => !isNull(v));
  if (variants.length === 1 && variants[0] !== undefined) return mainType(variants[0]);
  if (s.properties !== undefined || s.additionalProperties !== undefined) return 'object';
  const t = types(s).filter((x) => x !== 'null');
  return t.length === 1 ? t[0] : undefined;
}

function isNull(schema: Schema): boolean {
  const t = types(resolve(schema));
  return t.length === 1 && t[0] === 'null';
}

function walk(value: unknown, schema: Schema, where: string, strictEnums: boolean): unknown {
  const s = resolve(schema);
  if (isAny(s)) return value === undefined ? null : value;

  const variants = s.oneOf ?? s.anyOf;
  if (variants !== undefined) return walkVariants(value, s, variants, where, strictEnums);

  if (s.allOf !== undefined) {
    let merged: Record<string, unknown> = {};
    for (const part of s.allOf) {
      const out = walk(value, part, where, strictEnums);
      if (!isObject(out)) return out;
      merged = { ...merged, ...out };
    }
    return merged;
  }

  const allowed = types(s);
  if (value === null && allowed.includes('null')) return null;
  const nonNull = allowed.filter((t) => t !== 'null');
  const type = nonNull.length === 1 ? nonNull[0] : s.properties !== undefined ? 'object' : undefined;
  if (type === undefined) {
    // Several types: the first one the value has.
    for (const t of nonNull) {
      try {
        return walk(value, { ...s, type: t }, where, strictEnums);
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
      }
    }
    throw new Refusal(where, describe(s), value);
  }

  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw new Refusal(where, describe(s), value);
      if (strictEnums && s.enum !== undefined && !s.enum.includes(value)) {
        throw new Refusal(where, `one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`, value);
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw new Refusal(where, describe(s), value);
      return value;
    case 'integer':
    case 'number':
      if (
        typeof value !== 'number' ||
        !Number.isFinite(value) ||
        (type === 'integer' && !Number.isInteger(value)) ||
        (s.minimum !== undefined && value < s.minimum) ||
        (s.maximum !== undefined && value > s.maximum)
      ) {
        throw new Refusal(where, describe(s), value);
      }
      return value;
    case 'array':
      return walkArray(value, s, where, strictEnums);
    case 'object':
      return walkObject(value, s, where, strictEnums);
    default:
      throw new Error(`the contract has a schema of unknown type ${type}`);
  }
}

function walkVariants(value: unknown, s: Schema, variants: Schema[], where: string, strictEnums: boolean): unknown {
  if (value === null && acceptsNull(s)) return null;
  const candidates = variants.filter((v) => !isNull(v));
  const nullable = candidates.length < variants.length;
  if (candidates.length === 1 && candidates[0] !== undefined) {
    try {
      return walk(value, candidates[0], where, strictEnums);
    } catch (err) {
      if (err instanceof Refusal && err.where === where && nullable) throw new Refusal(where, describe(s), value);
      throw err;
    }
  }
  // Several shapes: the one whose enum fields (`"status": "not_ready"`) the
  // value has; else, for an enum value this console does not know, the first
  // that takes the value with any string there.
  const chosen = candidates.find((v) => discriminates(value, v));
  if (chosen !== undefined) return walk(value, chosen, where, true);
  let first: Refusal | undefined;
  for (const variant of candidates) {
    try {
      return walk(value, variant, where, false);
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      first ??= err;
    }
  }
  throw first ?? new Refusal(where, describe(s), value);
}

/** Whether `value` has every enum field of the object schema `variant`, with one of its values. */
function discriminates(value: unknown, variant: Schema): boolean {
  const v = resolve(variant);
  if (!isObject(value) || v.properties === undefined) return false;
  const required = new Set(v.required ?? []);
  let any = false;
  for (const [key, prop] of Object.entries(v.properties)) {
    const values = resolve(prop).enum;
    if (values === undefined) continue;
    any = true;
    if (value[key] === undefined ? required.has(key) : !values.includes(value[key])) return false;
  }
  return any;
}

function walkArray(value: unknown, s: Schema, where: string, strictEnums: boolean): unknown[] {
  if (!Array.isArray(value)) throw new Refusal(where, describe(s), value);
  const items = s.items;
  if (items === undefined) return [...value];
  const scalarItems = isScalar(items);
  return value.map((item, i) => {
    try {
      return walk(item, items, `${where}[${i}]`, strictEnums);
    } catch (err) {
      // "an array of strings, got an array": said of the array, which reads better.
      if (err instanceof Refusal && scalarItems) throw new Refusal(where, describe(s), value);
      throw err;
    }
  });
}

function walkObject(value: unknown, s: Schema, where: string, strictEnums: boolean): Record<string, unknown> {
  if (!isObject(value)) throw new Refusal(where, describe(s), value);
  const at = (key: string) => (where === '' ? key : `${where}.${key}`);
  const required = new Set(s.required ?? []);
  const out: Record<string, unknown> = {};
  const properties = Object.entries(s.properties ?? {});
  // The fields that came first, then those that did not: a wrong field is
  // named before a missing one.
  for (const [key, propSchema] of properties) {
    const field = value[key];
    if (field !== undefined) out[key] = walk(field, propSchema, at(key), strictEnums);
  }
  for (const [key, propSchema] of properties) {
    if (value[key] !== undefined) continue;
    if (acceptsNull(propSchema)) {
      out[key] = null;
    } else if (required.has(key)) {
      throw new Refusal(at(key), describe(propSchema), undefined);
    } else if (mainType(propSchema) === 'object') {
      out[key] = walk({}, propSchema, at(key), strictEnums);
    } else if (mainType(propSchema) === 'array') {
      out[key] = [];
    }
  }
  const extra = s.additionalProperties;
  if (typeof extra === 'object') {
    const scalar = isScalar(extra);
    for (const [key, field] of Object.entries(value)) {
      if (s.properties !== undefined && key in s.properties) continue;
      try {
        out[key] = walk(field, extra, at(key), strictEnums);
      } catch (err) {
        // "an object of strings, got an object": said of the object.
        if (err instanceof Refusal && scalar) throw new Refusal(where, describe(s), value);
        throw err;
      }
    }
  } else if (s.properties === undefined) {
    // A free-form object: kept as it came.
    Object.assign(out, value);
  }
  return out;
}

function isScalar(schema: Schema): boolean {
  const t = mainType(schema);
  return t === 'string' || t === 'boolean' || t === 'integer' || t === 'number';
}

/** What a schema wants, as the end of "field "x" must be …". */
function describe(schema: Schema): string {
  const s = resolve(schema);
  if (isAny(s)) return 'any JSON value';
  const orNull = (base: string) => (acceptsNull(s) ? `${base}${base.includes(',') ? ',' : ''} or null` : base);
  const variants = (s.oneOf ?? s.anyOf ?? []).filter((v) => !isNull(v));
  if (variants.length === 1 && variants[0] !== undefined) return orNull(describe(variants[0]).replace(/,? or null$/, ''));
  if (variants.length > 1) return orNull('one of its documented shapes');
  switch (mainType(s)) {
    case 'string':
      return orNull('a string');
    case 'boolean':
      return orNull('a boolean');
    case 'integer':
      return orNull(`a whole number${bounds(s)}`);
    case 'number':
      return orNull(`a number${bounds(s)}`);
    case 'array':
      return orNull(s.items !== undefined && isScalar(s.items) ? `an array of ${plural(s.items)}` : 'an array');
    case 'object': {
      const extra = s.additionalProperties;
      return orNull(s.properties === undefined && typeof extra === 'object' && isScalar(extra) ? `an object of ${plural(extra)}` : 'an object');
    }
    default:
      return orNull('a JSON value');
  }
}

function bounds(s: Schema): string {
  if (s.minimum !== undefined && s.maximum !== undefined) return `, from ${s.minimum} to ${s.maximum}`;
  if (s.minimum !== undefined) return `, at least ${s.minimum}`;
  if (s.maximum !== undefined) return `, at most ${s.maximum}`;
  return '';
}

function plural(schema: Schema): string {
  const s = resolve(schema);
  switch (mainType(s)) {
    case 'string':
      return 'strings';
    case 'boolean':
      return 'booleans';
    case 'integer':
      return `whole numbers${bounds(s)}`;
    default:
      return 'numbers';
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How an unexpected value is named in a message: `number 5`, `the string "x"`, `an object`, `nothing`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(snippet(value, 40))}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** `text` on one line, cut at `max` characters. */
export function snippet(text: string, max = 80): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}
