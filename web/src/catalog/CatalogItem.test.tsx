// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { createElement } from 'react';
import type { ItemView, Whoami } from '../api';
import { CatalogItem } from './CatalogItem';
import {
  ALICE,
  ROOT,
  answer,
  apiError,
  appView,
  byTestId,
  choose,
  click,
  closePage,
  flush,
  itemView,
  json,
  noRoute,
  openPage,
  pressEnter,
  queryTestId,
  repositoryView,
  requests,
  signIn,
  spaceView,
  text,
  typeInto,
  waitFor,
  type FetchCall,
  type Handler,
} from '../testing';

const REDIS = itemView();
const ITEM = '/api/v1/catalog/items/redis';

const open = (me: Whoami, handler: Handler, path = '/catalog/items/redis') =>
  openPage(createElement(CatalogItem, { me, name: 'redis' }), handler, path);

/** Answers the item with `item()`, the caller's spaces with alpha and beta, the repositories with [stable], the rest with `other`. */
function api(item: () => ItemView | Response = () => REDIS, other: Handler = noRoute): Handler {
  return (call) => {
    if (call.method === 'GET' && call.url === ITEM) return answer(item());
    if (call.method === 'GET' && call.url === '/api/v1/spaces') return json(200, [spaceView(), spaceView({ name: 'beta' })]);
    if (call.method === 'GET' && call.url === '/api/v1/catalog/repositories') return json(200, [repositoryView()]);
    return other(call);
  };
}

const field = (root: HTMLElement, path: string) => byTestId(root, `field-${path}`);
const changes = (calls: FetchCall[]) => calls.filter((c) => c.method !== 'GET');

afterEach(closePage);

describe('Catalog item page', () => {
  it('shows what the item installs', async () => {
    const { root } = await open(ALICE, api());
    await waitFor(() => byTestId(root, 'item-chart'));
    expect(text(root, 'item-title')).toBe('redis');
    expect(text(root, 'item-description')).toBe('An in-memory store for caches and queues');
    expect(text(root, 'item-chart')).toBe('stable /redis');
    expect(text(root, 'item-version')).toBe('1.10.0 (^1.4) · app 7.4');
    expect(text(root, 'item-parameters')).toBe('Every value the chart describes');
    expect(text(root, 'item-schema')).toContain('values.schema.json');
    // Developers do not get the item's default values, nor a link to the (admins') repository page.
    expect(queryTestId(root, 'item-values')).toBeNull();
    expect(byTestId(root, 'item-chart').querySelector('a')).toBeNull();
  });

  it('says so when the item is not there (deleted, or hidden from you)', async () => {
    const { root } = await open(ALICE, api(() => apiError(404, 'not_found', 'catalog item redis not found')));
    await waitFor(() => expect(text(root, 'item-gone')).toContain('Catalog item redis not found'));
    expect(queryTestId(root, 'install-form')).toBeNull();
  });
});

describe('Install form', () => {
  it('is generated from the fields: an input by kind, prefilled with the default, required marked', async () => {
    const { root } = await open(ALICE, api());
    await waitFor(() => byTestId(root, 'install-form'));
    expect(text(root, 'install-fields-count')).toBe('6 values to set');

    // integer: a number with its bounds.
    const replicas = field(root, 'replicas') as HTMLInputElement;
    expect(replicas.tagName).toBe('INPUT');
    expect(replicas.type).toBe('number');
    expect(replicas.min).toBe('1');
    expect(replicas.max).toBe('10');
    expect(replicas.step).toBe('1');
    expect(replicas.value).toBe('1');

    // A secret: a password input, empty (no default), required.
    const password = field(root, 'auth.password') as HTMLInputElement;
    expect(password.type).toBe('password');
    expect(password.value).toBe('');
    expect(password.required).toBe(true);
    expect(queryTestId(root, 'field-required-auth.password')).not.toBeNull();
    expect(queryTestId(root, 'field-required-replicas')).toBeNull();

    // boolean: a checkbox, ticked by its default.
    const enabled = field(root, 'auth.enabled') as HTMLInputElement;
    expect(enabled.type).toBe('checkbox');
    expect(enabled.checked).toBe(true);

    // choices: a select of them, on the default.
    const architecture = field(root, 'architecture');
    expect(architecture).toBeInstanceOf(HTMLSelectElement);
    const select = architecture as HTMLSelectElement;
    expect([...select.options].map((o) => o.textContent)).toEqual(['(not set)', 'standalone', 'replication']);
    expect(select.selectedOptions[0]?.textContent).toBe('standalone');

    // string: text.
    const tag = field(root, 'image.tag') as HTMLInputElement;
    expect(tag.type).toBe('text');
    expect(tag.value).toBe('7.4');

    // array: a JSON box.
    expect(field(root, 'tolerations')).toBeInstanceOf(HTMLTextAreaElement);
    expect((field(root, 'tolerations') as HTMLTextAreaElement).value).toBe('[]');

    // Titles and descriptions; the path when there is no title.
    const labels = [...byTestId(root, 'install-fields').querySelectorAll('.field-label')].map((l) => l.textContent);
    expect(labels).toEqual(['Replicas', 'Password * (required)', 'Use a password', 'architecture', 'Image tag', 'tolerations']);
    expect(byTestId(root, 'install-fields').textContent).toContain('One server, or a primary and replicas');

    // The release is named after the item; the space is the first of yours.
    expect((byTestId(root, 'install-name') as HTMLInputElement).value).toBe('redis');
    await waitFor(() => expect((byTestId(root, 'install-space') as HTMLSelectElement).value).toBe('alpha'));
  });

  it('sends only the values changed from their default, nested by path, then goes to the space', async () => {
    await signIn(ALICE);
    const { calls, root } = await open(
      ALICE,
      api(undefined, (call) =>
        call.method === 'POST' && call.url === '/api/v1/spaces/beta/apps'
          ? json(202, appView({ space: 'beta', status: 'installing' }))
          : apiError(404, 'not_found', 'unexpected'),
      ),
      '/catalog/items/redis?space=beta',
    );
    await waitFor(() => expect((byTestId(root, 'install-space') as HTMLSelectElement).value).toBe('beta'));

    await typeInto(field(root, 'replicas'), '3');
    await typeInto(field(root, 'auth.password'), 's3cret');
    await choose(field(root, 'architecture'), '1');
    // Changed, then back to the default: not sent.
    await typeInto(field(root, 'image.tag'), '7.2');
    await typeInto(field(root, 'image.tag'), '7.4');
    await typeInto(byTestId(root, 'install-name'), 'cache');
    await click(byTestId(root, 'install-submit'));

    await waitFor(() => expect(window.location.pathname).toBe('/spaces/beta'));
    const posts = changes(calls);
    expect(posts.map((c) => `${c.method} ${c.url}`)).toEqual(['POST /api/v1/spaces/beta/apps']);
    expect(posts[0]?.headers['x-csrf-token']).toBe('csrf-123');
    expect(posts[0]?.body).toEqual({
      item: 'redis',
      name: 'cache',
      values: { replicas: 3, auth: { password: 's3cret' }, architecture: 'replication' },
    });
  });

  it('nests a boolean turned off and a JSON value under their paths', async () => {
    const { calls, root } = await open(ALICE, api(undefined, () => json(202, appView({ status: 'installing' }))));
    await waitFor(() => expect((byTestId(root, 'install-space') as HTMLSelectElement).value).toBe('alpha'));
    await typeInto(field(root, 'auth.password'), 'pw');
    await click(field(root, 'auth.enabled'));
    await typeInto(field(root, 'tolerations'), '[{"key": "gpu", "operator": "Exists"}]');
    await pressEnter(byTestId(root, 'install-form'));
    await waitFor(() => expect(changes(calls)).toHaveLength(1));
    expect(changes(calls)[0]?.body).toEqual({
      item: 'redis',
      name: 'redis',
      values: { auth: { password: 'pw', enabled: false }, tolerations: [{ key: 'gpu', operator: 'Exists' }] },
    });
  });

  it('checks required fields, numbers and JSON before sending anything', async () => {
    const { calls, root } = await open(ALICE, api());
    await waitFor(() => expect((byTestId(root, 'install-space') as HTMLSelectElement).value).toBe('alpha'));
    await typeInto(field(root, 'replicas'), '12');
    await typeInto(field(root, 'tolerations'), '{"not": "an array"}');
    await click(byTestId(root, 'install-submit'));

    expect(text(root, 'install-error')).toBe('Some values are not right: see the marked fields.');
    expect(text(root, 'field-error-auth.password')).toBe('Required.');
    expect(text(root, 'field-error-replicas')).toBe('At most 10.');
    expect(text(root, 'field-error-tolerations')).toBe('A JSON array ([ … ]) is needed.');
    expect(field(root, 'replicas').getAttribute('aria-invalid')).toBe('true');
    await flush();
    expect(changes(calls)).toEqual([]);

    // Fixing a field clears its mark.
    await typeInto(field(root, 'replicas'), '2');
    expect(queryTestId(root, 'field-error-replicas')).toBeNull();
  });

  it('shows the daemon’s 422 next to the form and marks the field it names', async () => {
    const message = 'values.replicas: 0 is less than the minimum of 1';
    const { calls, root } = await open(ALICE, api(undefined, () => apiError(422, 'invalid', message)));
    await waitFor(() => expect((byTestId(root, 'install-space') as HTMLSelectElement).value).toBe('alpha'));
    await typeInto(field(root, 'auth.password'), 'pw');
    await typeInto(field(root, 'replicas'), '4');
    await click(byTestId(root, 'install-submit'));

    await waitFor(() => expect(text(root, 'install-error')).toBe('Values.replicas: 0 is less than the minimum of 1'));
    expect(byTestId(root, 'install-error').getAttribute('role')).toBe('alert');
    expect(field(root, 'replicas').getAttribute('aria-invalid')).toBe('true');
    expect(field(root, 'auth.password').getAttribute('aria-invalid')).toBeNull();
    expect(changes(calls)).toHaveLength(1);
    // Nothing moved: what was typed stays.
    expect(window.location.pathname).toBe('/catalog/items/redis');
    expect((field(root, 'replicas') as HTMLInputElement).value).toBe('4');
  });
});

describe('Item administration', () => {
  it('is not offered to developers', async () => {
    const { root } = await open(ALICE, api(() => itemView({}, { hidden: true })));
    await waitFor(() => byTestId(root, 'install-form'));
    expect(queryTestId(root, 'item-admin')).toBeNull();
    expect(queryTestId(root, 'item-edit')).toBeNull();
    expect(queryTestId(root, 'item-hide')).toBeNull();
    expect(queryTestId(root, 'item-delete')).toBeNull();
    expect(queryTestId(root, 'item-hidden')).toBeNull();
  });

  it('Hide puts the whole spec back with hidden flipped; Show the other way', async () => {
    await signIn(ROOT);
    let current = REDIS;
    const { calls, root } = await open(
      ROOT,
      api(
        () => current,
        (call) => {
          if (call.method === 'PUT' && call.url === ITEM) {
            current = { ...current, spec: call.body as ItemView['spec'] };
            return json(200, current);
          }
          return apiError(404, 'not_found', 'unexpected');
        },
      ),
    );
    await waitFor(() => expect(text(root, 'item-hide')).toBe('Hide'));
    await click(byTestId(root, 'item-hide'));

    await waitFor(() => expect(text(root, 'item-notice')).toBe('“redis” is hidden: developers no longer see it.'));
    expect(changes(calls)[0]?.headers['x-csrf-token']).toBe('csrf-123');
    expect(changes(calls)[0]?.body).toEqual({ ...REDIS.spec, hidden: true });
    expect(text(root, 'item-hidden')).toBe('Hidden');
    expect(text(root, 'item-hide')).toBe('Show');

    await click(byTestId(root, 'item-hide'));
    await waitFor(() => expect(text(root, 'item-notice')).toBe('“redis” is shown to developers again.'));
    expect(changes(calls)[1]?.body).toEqual({ ...REDIS.spec, hidden: false });
    expect(queryTestId(root, 'item-hidden')).toBeNull();
  });

  it('Edit puts the form’s spec, its name fixed', async () => {
    const { calls, root } = await open(
      ROOT,
      api(undefined, (call) =>
        call.method === 'PUT' ? json(200, itemView({}, call.body as ItemView['spec'])) : apiError(404, 'not_found', 'x'),
      ),
    );
    await click(await waitFor(() => byTestId(root, 'item-edit')));
    const name = byTestId(root, 'item-edit-name') as HTMLInputElement;
    expect(name.value).toBe('redis');
    expect(name.readOnly).toBe(true);
    expect((byTestId(root, 'item-edit-values') as HTMLTextAreaElement).value).toBe('{\n  "architecture": "standalone"\n}');
    await waitFor(() => expect((byTestId(root, 'item-edit-repository') as HTMLSelectElement).value).toBe('stable'));

    await typeInto(byTestId(root, 'item-edit-description'), 'A cache');
    await typeInto(byTestId(root, 'item-edit-parameters'), 'auth.password replicas');
    await click(byTestId(root, 'item-edit-submit'));

    await waitFor(() => expect(text(root, 'item-notice')).toBe('“redis” is saved.'));
    expect(requests(changes(calls))).toEqual(['PUT /api/v1/catalog/items/redis']);
    expect(changes(calls)[0]?.body).toEqual({
      ...REDIS.spec,
      description: 'A cache',
      parameters: ['auth.password', 'replicas'],
    });
    expect(queryTestId(root, 'item-edit-form')).toBeNull();
    expect(text(root, 'item-description')).toBe('A cache');
    expect(text(root, 'item-parameters')).toBe('auth.password replicas');
  });

  it('Delete needs the name typed, then says the item is gone', async () => {
    const { calls, root } = await open(
      ROOT,
      api(undefined, (call) => (call.method === 'DELETE' ? json(200, REDIS) : apiError(404, 'not_found', 'x'))),
    );
    await click(await waitFor(() => byTestId(root, 'item-delete')));
    const confirm = byTestId(root, 'item-delete-confirm') as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    await typeInto(byTestId(root, 'item-delete-name'), 'redi');
    await pressEnter(byTestId(root, 'item-delete-form'));
    await flush();
    expect(changes(calls)).toEqual([]);

    await typeInto(byTestId(root, 'item-delete-name'), 'redis');
    await click(confirm);
    await waitFor(() => expect(text(root, 'item-gone')).toContain('“redis” is deleted from the catalog.'));
    expect(requests(changes(calls))).toEqual(['DELETE /api/v1/catalog/items/redis']);
    expect(queryTestId(root, 'install-form')).toBeNull();
  });
});
