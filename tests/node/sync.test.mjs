// The package's sync API against the real server in Node: a refused token keeps the events
// queued (typed UNAUTHORIZED), the right token delivers them; custom events and clicks carry
// what the server needs to join them; without `sync` the sync calls are typed errors or no-ops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadBundle, Recommender, MemoryStore, isEdgerecError } from '../../pkg/dist/index.js';
import { EDGEREC, serverEventCount, startServe } from '../e2e/support/edgerec-serve.mjs';

const manifest = new URL('../../models/movielens-small/manifest.json', import.meta.url);
const fileFetch = async (url) => new Response(await readFile(new URL(url)));

test('tokens, custom events and joins through the JS sync API', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgerec-sync-node-'));
  writeFileSync(join(dir, 'tokens.txt'), 'right-token\n');
  const db = `sqlite:${join(dir, 'events.db')}`;
  const server = await startServe(['--db', db, '--addr', '127.0.0.1:0', '--token-file', join(dir, 'tokens.txt')]);
  const bundle = await loadBundle(manifest, { fetch: fileFetch });
  const store = new MemoryStore();
  const sync = { endpoint: server.url, flushIntervalMs: 0, pollIntervalMs: 0, user: 'u-42' };
  try {
    const wrong = await Recommender.create(bundle, { store, backend: 'cpu', sync: { ...sync, token: 'wrong-token' } });
    const { items, trace } = await wrong.recommend(5);
    await wrong.impression(items.map((i) => i.id), trace.requestId);
    await wrong.record(items[2].id, { requestId: trace.requestId, position: 2 });
    await wrong.trackCustom('add_to_cart', { item: items[2].id, requestId: trace.requestId });
    await assert.rejects(wrong.flush(), (e) => isEdgerecError(e) && e.code === 'UNAUTHORIZED');
    assert.equal(wrong.syncStatus.pending, 7, 'refused events stay queued');
    assert.ok(wrong.syncStatus.nextAttemptAt > Date.now() - 1000, 'a retry is scheduled');
    assert.equal(await serverEventCount(server.url), 0);
    wrong.free();

    // Same store, the right token: the queue persisted and goes up.
    const right = await Recommender.create(bundle, { store, backend: 'cpu', sync: { ...sync, token: 'right-token' } });
    assert.equal(right.syncStatus.pending, 7);
    assert.equal(right.syncStatus.user, 'u-42');
    const report = await right.flush();
    assert.deepEqual(report, { sent: 7, accepted: 7, duplicates: 0, pending: 0 });
    right.free();

    const out = join(dir, 'events.jsonl');
    execFileSync(EDGEREC, ['events', 'export', '--db', db, '--out', out], { stdio: 'pipe' });
    const events = readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const byKind = (k) => events.filter((e) => e.kind === k);
    assert.equal(byKind('impression').length, 5);
    assert.deepEqual(byKind('impression').map((e) => e.position).sort(), [0, 1, 2, 3, 4]);
    const [click] = byKind('click');
    assert.equal(click.item, items[2].id);
    assert.equal(click.position, 2);
    assert.equal(click.requestId, trace.requestId, 'clicks join their impressions by request id');
    const [custom] = byKind('custom');
    assert.equal(custom.name, 'add_to_cart');
    assert.ok(events.every((e) => e.user === 'u-42' && e.modelVersion === bundle.modelVersion));
  } finally {
    server.stop();
    bundle.free();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without sync, nothing leaves the device and the sync calls say so', async () => {
  const bundle = await loadBundle(manifest, { fetch: fileFetch });
  const rec = await Recommender.create(bundle, { store: new MemoryStore(), backend: 'cpu' });
  assert.equal(rec.syncStatus, undefined);
  assert.deepEqual(await rec.flush(), { sent: 0, accepted: 0, duplicates: 0, pending: 0 });
  await assert.rejects(rec.trackCustom('x'), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(rec.checkForUpdate(), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(
    Recommender.create(bundle, { store: new MemoryStore(), sync: { endpoint: '' } }),
    (e) => e.code === 'INVALID_ARGUMENT',
  );
  rec.free();
  bundle.free();
});
