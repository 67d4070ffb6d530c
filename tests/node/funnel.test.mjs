// The funnel through the npm package in Node (CPU path): per-call diversity and rules, hybrid
// mode, typed errors, and the same list as the native `edgerec recommend` for the same clicks
// and options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadBundle, Recommender, isEdgerecError } from '../../pkg/dist/index.js';

const manifest = new URL('../../models/movielens-small/manifest.json', import.meta.url);
const fileFetch = async (url) => new Response(await readFile(new URL(url)));
const bundle = await loadBundle(manifest, { fetch: fileFetch });
const CLICKS = ['1258', '1982', '3917', '1', '2571'];

async function warmRecommender() {
  const rec = await Recommender.create(bundle, { store: 'memory', backend: 'cpu' });
  const now = Date.now();
  for (const [i, id] of CLICKS.entries()) await rec.record(id, { timestampMs: now - 1000 * (CLICKS.length - i) });
  return rec;
}

const firstCategory = (item) => item.categories[0];

test('rules hold in the returned list, and the trace says why each item is where it is', async () => {
  const rec = await warmRecommender();
  const { items, trace } = await rec.recommend({
    k: 20,
    diversity: { method: 'mmr', lambda: 0.7 },
    rules: [
      { kind: 'max_consecutive', attribute: 'category', max: 1, hard: true },
      { kind: 'pin', item: '318', position: 2, hard: true },
    ],
  });
  assert.equal(items.length, 20);
  for (let i = 1; i < items.length; i++) {
    assert.notEqual(firstCategory(items[i]), firstCategory(items[i - 1]), `positions ${i - 1}, ${i}`);
  }
  assert.equal(items[2].id, '318');
  assert.equal(items[2].placedBy, 'pin');
  assert.ok(items.every((i) => ['relevance', 'diversity', 'rule', 'pin', 'explore', 'boost', 'fill'].includes(i.placedBy)));
  assert.ok(trace.pool.length >= 20 && typeof trace.timings.rerankMs === 'number');
  assert.equal(trace.diversity, 'mmr');
  rec.free();
});

test('λ = 1 keeps the ranked order; hybrid mode returns only the server candidates', async () => {
  const rec = await warmRecommender();
  const plain = await rec.recommend({ k: 15, diversity: { method: 'mmr', lambda: 1 } });
  assert.deepEqual(plain.items.map((i) => i.id), plain.trace.pool.slice(0, 15).map((p) => p.id));
  const candidates = ['296', '318', '356', '593', '2571', '260', '480', '110', 'not-in-bundle'].map((id, i) => ({ id, score: 1 - i / 10 }));
  const hybrid = await rec.recommend({ k: 6, candidates });
  assert.equal(hybrid.items.length, 6);
  assert.ok(hybrid.items.every((i) => candidates.some((c) => c.id === i.id)));
  assert.deepEqual(hybrid.trace.unknownCandidates, ['not-in-bundle']);
  rec.free();
});

test('bad options and infeasible hard rules are typed errors', async () => {
  const rec = await warmRecommender();
  const fails = async (options, code) => {
    await assert.rejects(rec.recommend(options), (e) => isEdgerecError(e) && e.code === code);
  };
  await fails({ k: 0 }, 'INVALID_K');
  await fails({ diversity: { method: 'mmr', lambda: 2 } }, 'INVALID_ARGUMENT');
  await fails({ diversity: { method: 'fancy' } }, 'INVALID_ARGUMENT');
  await fails({ rules: [{ kind: 'max_consecutive', attribute: 'category', max: 0 }] }, 'INVALID_RULE');
  await fails({
    k: 5,
    rules: [{ kind: 'pin', item: '1', position: 0, hard: true }, { kind: 'pin', item: '318', position: 0, hard: true }],
  }, 'RULES_INFEASIBLE');
  rec.free();
});

test('the JS funnel and the native CLI return the same list for the same clicks and options', async (t) => {
  const cli = new URL('../../target/debug/edgerec', import.meta.url);
  if (!existsSync(cli)) {
    // `make test` builds the workspace before the Node tests; a missing CLI there is a failure.
    assert.fail(`${cli.pathname} is missing: run cargo build -p edgerec-server first`);
  }
  const rec = await warmRecommender();
  const rule = { kind: 'max_per_window', attribute: 'category', window: 4, max: 1 };
  for (const diversity of [{ method: 'none' }, { method: 'dpp', theta: 0.6, window: 8 }, { method: 'mmr', lambda: 0.6, similarity: 'category' }]) {
    const js = await rec.recommend({ k: 20, diversity, rules: [rule] });
    const args = ['recommend', '--bundle', new URL('../../models/movielens-small', import.meta.url).pathname,
      '--clicks', CLICKS.join(','), '--k', '20', '--backend', 'cpu', '--diversity', diversity.method, '--rule', JSON.stringify(rule)];
    if (diversity.theta !== undefined) args.push('--theta', String(diversity.theta));
    if (diversity.lambda !== undefined) args.push('--lambda', String(diversity.lambda));
    if (diversity.window !== undefined) args.push('--window', String(diversity.window));
    if (diversity.similarity !== undefined) args.push('--similarity', diversity.similarity);
    const native = JSON.parse(execFileSync(cli.pathname, args, { encoding: 'utf8' }));
    t.diagnostic(`${diversity.method}: ${js.items.slice(0, 5).map((i) => i.id).join(',')}`);
    assert.deepEqual(js.items.map((i) => i.id), native.items.map((i) => i.id), JSON.stringify(diversity));
  }
  rec.free();
});

test('errors are EdgerecError instances, and free() is idempotent everywhere', async () => {
  const { EdgerecError, DppKernel, MmrIndex } = await import('../../pkg/dist/index.js');
  const rec = await warmRecommender();
  await assert.rejects(rec.recommend({ k: 0 }), (e) => e instanceof EdgerecError && e instanceof Error && e.code === 'INVALID_K');
  assert.ok(!(new Error('other') instanceof EdgerecError));
  rec.free();
  rec.free();
  await assert.rejects(rec.recommend({ k: 5 }), (e) => e instanceof EdgerecError && e.code === 'INVALID_ARGUMENT');
  const kernel = await DppKernel.create([1, 0, 0, 1], 2);
  kernel.free();
  kernel.free();
  const index = await MmrIndex.create([1, 0, 0, 1], 2);
  index.free();
  index.free();
  const own = await loadBundle(manifest, { fetch: fileFetch });
  own.free();
  own.free();
});

test('blocklist changes persist when the promise resolves; importHistory and clearBlocklist', async () => {
  const { MemoryStore } = await import('../../pkg/dist/index.js');
  const store = new MemoryStore();
  const rec = await Recommender.create(bundle, { store, backend: 'cpu' });
  const now = Date.now();
  assert.deepEqual(await rec.importHistory([{ id: '1', timestampMs: now - 2000 }, { id: '2571', kind: 'like', timestampMs: now - 1000 }]), { persisted: true });
  assert.deepEqual((await rec.history()).map((h) => h.item), ['1', '2571']);
  assert.deepEqual(
    (await rec.history()).map(({ item, kind, timestampMs }) => ({ item, kind, timestampMs })),
    [{ item: '1', kind: 'click', timestampMs: now - 2000 }, { item: '2571', kind: 'like', timestampMs: now - 1000 }],
    'history entries are typed camelCase',
  );
  const top = (await rec.recommend({ k: 5, diversity: { method: 'none' } })).items[0].id;
  assert.deepEqual(await rec.blockItem(top), { persisted: true });
  // A second recommender over the same store sees the block without any further save.
  const again = await Recommender.create(bundle, { store, backend: 'cpu' });
  assert.ok((await again.recommend({ k: 20 })).items.every((i) => i.id !== top));
  await again.clearBlocklist();
  const third = await Recommender.create(bundle, { store, backend: 'cpu' });
  assert.equal(third.restoreReport.blocked, 0);
  await assert.rejects(rec.importHistory([{ id: 'no-such-item', timestampMs: now }]), (e) => isEdgerecError(e) && e.code === 'UNKNOWN_ITEM');
  for (const r of [rec, again, third]) r.free();
});

test('Recommender.load: one line from a manifest URL to recommendations', async () => {
  const rec = await Recommender.load(manifest, { fetch: fileFetch, backend: 'cpu', store: 'memory' });
  assert.equal(rec.bundle?.itemCount, bundle.itemCount);
  assert.equal((await rec.recommend({ k: 7 })).items.length, 7);
  rec.free();
  rec.free();
  await assert.rejects(Recommender.load(new URL('./missing/manifest.json', manifest), { fetch: async () => new Response('no', { status: 404 }) }), (e) => isEdgerecError(e) && e.code === 'IO_ERROR');
});
