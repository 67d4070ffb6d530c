// The npm package's Recommender in Node (CPU path) on the shipped MovieLens bundle, with
// in-memory stores: state round-trips through any KeyValueStore, a full or unavailable store
// degrades as documented (typed outcome, nothing lost), forget() erases the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { loadBundle, Recommender, MemoryStore, isEdgerecError } from '../../pkg/dist/index.js';

const manifest = new URL('../../models/movielens-small/manifest.json', import.meta.url);
// Node's fetch cannot read file: URLs; loadBundle takes a fetch.
const fileFetch = async (url) => new Response(await readFile(new URL(url)));
const bundle = await loadBundle(manifest, { fetch: fileFetch });

test('state survives a new Recommender over the same store, and forget() erases it', async () => {
  const store = new MemoryStore();
  const rec = await Recommender.create(bundle, { store, backend: 'cpu' });
  assert.equal(rec.backend, 'cpu');
  const cold = await rec.recommend({ k: 20 });
  assert.equal(cold.trace.cold, true);
  assert.equal(cold.items.length, 20);
  for (const id of ['1', '2355', '3114']) assert.deepEqual(await rec.record(id), { persisted: true });
  const warm = await rec.recommend({ k: 20 });
  assert.equal(warm.trace.cold, false);
  assert.ok(warm.items.every((i) => !['1', '2355', '3114'].includes(i.id)), 'consumed items are filtered');

  const again = await Recommender.create(bundle, { store, backend: 'cpu' });
  assert.equal(again.restoreReport.userRestored, true);
  assert.deepEqual((await again.history()).map((h) => h.item), ['1', '2355', '3114']);
  assert.deepEqual((await again.recommend({ k: 20 })).items.map((i) => i.id), warm.items.map((i) => i.id));

  await again.forget();
  assert.equal((await again.history()).length, 0);
  const fresh = await Recommender.create(bundle, { store, backend: 'cpu' });
  assert.equal(fresh.restoreReport.userRestored, false);
  assert.equal((await fresh.history()).length, 0);
});

test('a full store reports the failed save and keeps the click in memory', async () => {
  const store = new MemoryStore(64); // far too small for the state
  const rec = await Recommender.create(bundle, { store, backend: 'cpu' });
  const outcome = await rec.record('1');
  assert.equal(outcome.persisted, false);
  assert.equal(outcome.code, 'STORAGE_QUOTA_EXCEEDED');
  assert.deepEqual((await rec.history()).map((h) => h.item), ['1']);
  assert.equal((await rec.recommend({ k: 10 })).trace.cold, false);
});

test('an unavailable store (private mode) falls back to memory and says so', async () => {
  const broken = {
    get: async () => { throw Object.assign(new Error('IndexedDB blocked'), { name: 'InvalidStateError' }); },
    put: async () => { throw Object.assign(new Error('IndexedDB blocked'), { name: 'InvalidStateError' }); },
    delete: async () => { throw Object.assign(new Error('IndexedDB blocked'), { name: 'InvalidStateError' }); },
  };
  const rec = await Recommender.create(bundle, { store: broken, backend: 'cpu' });
  assert.equal(rec.restoreReport.storage, 'memory');
  assert.equal(rec.restoreReport.userRestored, false);
  assert.equal(rec.restoreReport.code, 'STORAGE_UNAVAILABLE');
  assert.deepEqual(await rec.record('1'), { persisted: true }, 'saved to the in-memory fallback');
  assert.equal((await rec.history()).length, 1);
});

test('bad interactions are typed errors and change nothing', async () => {
  const rec = await Recommender.create(bundle, { store: 'memory', backend: 'cpu' });
  await rec.record('1');
  for (const [id, options, code] of [
    ['no-such-movie', {}, 'UNKNOWN_ITEM'],
    ['2', { timestampMs: Date.now() + 7 * 86_400_000 }, 'INVALID_INTERACTION'],
    ['2', { kind: 'stare' }, 'INVALID_ARGUMENT'],
  ]) {
    await assert.rejects(rec.record(id, options), (e) => isEdgerecError(e) && e.code === code);
  }
  await assert.rejects(rec.record('2', { timestampMs: NaN }), (e) => isEdgerecError(e));
  assert.deepEqual((await rec.history()).map((h) => h.item), ['1']);
  await assert.rejects(Recommender.create(bundle, { config: { like_weight: -1 } }), (e) => isEdgerecError(e) && e.code === 'INVALID_WEIGHT');
});

test('config overrides are partial, checked, and change the behaviour', async () => {
  const plain = await Recommender.create(bundle, { store: 'memory', backend: 'cpu', config: { rankerWeight: 0, user: { fineTune: { enabled: false } } } });
  await plain.record('1258');
  const result = await plain.recommend({ k: 10 });
  assert.equal(result.trace.orderedBy, 'recall');
  await assert.rejects(Recommender.create(bundle, { config: { rankerWieght: 1 } }), (e) => isEdgerecError(e) && e.code === 'INVALID_ARGUMENT' && /rankerWieght/.test(e.message));
  await assert.rejects(Recommender.create(bundle, { config: { user: { fineTune: { learningRate: 'fast' } } } }), (e) => isEdgerecError(e) && e.code === 'INVALID_ARGUMENT');
});
