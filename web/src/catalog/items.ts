// Pure helpers of the catalog items: the item form (admins), the install form
// generated from an item's fields, and the field a refusal of the daemon names.
// No React, no fetch, so they are unit-tested directly.

import type { FieldView, ItemSpec, ItemView } from '../api';
import { formatObjectJson } from '../spaces/model';

/** Either what was asked for, or why it cannot be had. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

// ---------------------------------------------------------------------------
// The item form ("New item", "Edit item")

/** The item form as typed. */
export interface ItemForm {
  name: string;
  description: string;
  /** A URL; empty: the chart's icon. */
  icon: string;
  repository: string;
  chart: string;
  /** An exact version or a semver range; empty: `*`. */
  version: string;
  /** The default values, as a JSON object. */
  values: string;
  /** Dotted paths separated by commas; empty: every value. */
  parameters: string;
  hidden: boolean;
}

export const EMPTY_ITEM_FORM: ItemForm = {
  name: '',
  description: '',
  icon: '',
  repository: '',
  chart: '',
  version: '*',
  values: '{}',
  parameters: '',
  hidden: false,
};

/** The form for editing an item: its spec as it is. */
export function itemFormOf(spec: ItemSpec): ItemForm {
  return {
    name: spec.name,
    description: spec.description ?? '',
    icon: spec.icon ?? '',
    repository: spec.repository,
    chart: spec.chart,
    version: spec.version ?? '*',
    values: formatObjectJson(spec.values ?? {}),
    parameters: formatParameters(spec.parameters ?? null),
    hidden: spec.hidden ?? false,
  };
}

/** "auth.password, replicas" as a list, duplicates dropped; `null` (every value) when empty. */
export function parseParameters(text: string): string[] | null {
  const paths = [...new Set(text.split(/[\s,]+/).filter((p) => p !== ''))];
  return paths.length === 0 ? null : paths;
}

export function formatParameters(paths: readonly string[] | null): string {
  return paths === null ? '' : paths.join(', ');
}

/** A JSON object typed in a textarea (empty: `{}`), or why it is not one. */
export function parseJsonObject(text: string): Parsed<Record<string, unknown>> {
  if (text.trim() === '') return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: 'not a JSON object ({ … })' };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

/** What the daemon takes as an item's name (and a release's): a DNS label. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The spec for the form, every text trimmed, or the first thing the daemon
 * would refuse (it checks again, and fetches the chart).
 */
export function itemSpecOf(form: ItemForm): Parsed<ItemSpec> {
  const name = form.name.trim();
  if (name === '') return { ok: false, error: 'Enter a name for the item.' };
  if (!DNS_LABEL.test(name)) {
    return { ok: false, error: 'The name must be up to 63 lowercase letters, digits and “-”, starting and ending with a letter or digit.' };
  }
  const repository = form.repository.trim();
  if (repository === '') return { ok: false, error: 'Pick the chart repository.' };
  const chart = form.chart.trim();
  if (chart === '') return { ok: false, error: 'Enter the chart’s name.' };
  const values = parseJsonObject(form.values);
  if (!values.ok) return { ok: false, error: `The default values are ${values.error}.` };
  const icon = form.icon.trim();
  return {
    ok: true,
    value: {
      name,
      description: form.description.trim(),
      icon: icon === '' ? null : icon,
      repository,
      chart,
      version: form.version.trim() || '*',
      values: values.value,
      parameters: parseParameters(form.parameters),
      hidden: form.hidden,
    },
  };
}

/** The spec of an item with `hidden` set: the body of Hide and Show. */
export function withHidden(spec: ItemSpec, hidden: boolean): ItemSpec {
  return { ...spec, hidden };
}

/** "stable/redis". */
export function chartRef(item: Pick<ItemView, 'spec'>): string {
  return `${item.spec.repository}/${item.spec.chart}`;
}

/** "1.10.0", or "1.10.0 (^1.4)" when the item names a range that picked it. */
export function versionLabel(item: Pick<ItemView, 'spec' | 'chart_version'>): string {
  const range = item.spec.version;
  return range === item.chart_version ? item.chart_version : `${item.chart_version} (${range})`;
}

// ---------------------------------------------------------------------------
// The install form, generated from the item's fields

/** How a field is asked for. */
export type InputKind = 'checkbox' | 'select' | 'json' | 'number' | 'password' | 'text';

/** The text typed (a select's: the chosen option's index, `''` for none), or a checkbox's state. */
export type FieldInput = string | boolean;

export function inputKind(field: FieldView): InputKind {
  if (field.kind === 'boolean') return 'checkbox';
  if (field.choices.length > 0) return 'select';
  if (field.kind === 'array' || field.kind === 'object') return 'json';
  if (field.kind === 'integer' || field.kind === 'number') return 'number';
  return field.secret ? 'password' : 'text';
}

/** "Password", or the path when the schema gives no title. */
export function fieldLabel(field: FieldView): string {
  return field.title?.trim() || field.path;
}

/** A choice as an option shows it. */
export function choiceLabel(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** What the field's input starts with: its default. */
export function initialInput(field: FieldView): FieldInput {
  const value = field.default ?? null;
  switch (inputKind(field)) {
    case 'checkbox':
      return value === true;
    case 'select': {
      const i = field.choices.findIndex((c) => sameJson(c, value));
      return i === -1 ? '' : String(i);
    }
    case 'json':
      return value === null ? '' : formatObjectJson(value);
    default:
      return value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  }
}

export function initialInputs(fields: readonly FieldView[]): Record<string, FieldInput> {
  return Object.fromEntries(fields.map((f) => [f.path, initialInput(f)]));
}

/**
 * The value a field's input holds, `undefined` when it holds none (an empty
 * number, select or JSON box: the default applies), or why it is not one.
 */
export function fieldValue(field: FieldView, input: FieldInput): Parsed<unknown> {
  const kind = inputKind(field);
  if (kind === 'checkbox') return { ok: true, value: input === true };
  const text = typeof input === 'string' ? input : '';
  switch (kind) {
    case 'select':
      return { ok: true, value: text === '' ? undefined : field.choices[Number(text)] };
    case 'json': {
      if (text.trim() === '') return { ok: true, value: undefined };
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        return { ok: false, error: `Not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
      }
      if (field.kind === 'array' && !Array.isArray(value)) return { ok: false, error: 'A JSON array ([ … ]) is needed.' };
      if (field.kind === 'object' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
        return { ok: false, error: 'A JSON object ({ … }) is needed.' };
      }
      return { ok: true, value };
    }
    case 'number': {
      const typed = text.trim();
      if (typed === '') return { ok: true, value: undefined };
      const n = Number(typed);
      if (!Number.isFinite(n)) return { ok: false, error: 'Enter a number.' };
      if (field.kind === 'integer' && !Number.isInteger(n)) return { ok: false, error: 'Enter a whole number.' };
      if (field.minimum !== null && n < field.minimum) return { ok: false, error: `At least ${field.minimum}.` };
      if (field.maximum !== null && n > field.maximum) return { ok: false, error: `At most ${field.maximum}.` };
      return { ok: true, value: n };
    }
    default:
      // Text is itself; an empty box of a field without a default sets nothing.
      return { ok: true, value: text === '' && (field.default ?? null) === null ? undefined : text };
  }
}

/** Whether `value` (from fieldValue) differs from the field's default, so is to be sent. */
export function isChanged(field: FieldView, value: unknown): boolean {
  if (value === undefined) return false;
  // An unticked box of a field without a default is "not set", as it started.
  const base = field.kind === 'boolean' && (field.default ?? null) === null ? false : (field.default ?? null);
  return !sameJson(value, base);
}

/**
 * The values of an install: only the fields changed from their default,
 * nested by their dotted paths; or, field by field, why an input is not a
 * value (and which required fields are missing).
 */
export function installValues(
  fields: readonly FieldView[],
  inputs: Readonly<Record<string, FieldInput>>,
): { values: Record<string, unknown>; errors: Record<string, string> } {
  const values: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  // Shorter paths first: `auth.password` then lands in the `auth` object, not under it.
  const ordered = [...fields].sort((a, b) => a.path.split('.').length - b.path.split('.').length);
  for (const field of ordered) {
    const start = initialInput(field);
    const input = inputs[field.path] ?? start;
    const parsed = fieldValue(field, input);
    if (!parsed.ok) {
      errors[field.path] = parsed.error;
      continue;
    }
    if (field.required && parsed.value === undefined && (field.default ?? null) === null) {
      errors[field.path] = 'Required.';
      continue;
    }
    // Untouched is unchanged, whatever the default's type (a number in a text box).
    if (input !== start && isChanged(field, parsed.value)) setPath(values, field.path, parsed.value);
  }
  return { values, errors };
}

/** Sets `a.b.c` in `target`, making the objects on the way. */
export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let at = target;
  for (const key of keys.slice(0, -1)) {
    const next = at[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys[keys.length - 1] ?? path] = value;
}

/** Whether two JSON values are the same, whatever the order of their keys. */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The field a refusal names ("values.replicas: 0 is less than the minimum of
 * 1" names `replicas`): the longest path the message holds as
 * `values.<path>` (or the bare path at its start); `null` for none.
 */
export function fieldOfMessage(message: string, fields: readonly FieldView[]): string | null {
  let best: string | null = null;
  for (const field of fields) {
    const path = escapeRegExp(field.path);
    const named = new RegExp(`(^|[^\\w.-])values\\.${path}(?![\\w-])`, 'i').test(message) ||
      new RegExp(`^${path}(?![\\w.-])`).test(message);
    if (named && (best === null || field.path.length > best.length)) best = field.path;
  }
  return best;
}
