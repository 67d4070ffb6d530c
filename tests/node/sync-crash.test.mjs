// The SDK's sync client against the real server killed with SIGKILL mid-upload, 10 rounds:
// every event the server acknowledged is still there after each restart, and once the server
// stays up the database holds every event the device produced exactly once (counted by id).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadBundle, Recommender, MemoryStore } from '../../pkg/dist/index.js';
import { EDGEREC, serverEventCount, startServe } from '../e2e/support/edgerec-serve.mjs';

const manifest = new URL('../../models/movielens-small/manifest.json', import.meta.url);
const fileFetch = async (url) => new Response(await readFile(new URL(url)));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('kill -9 during uploads, 10 rounds: no acknowledged event lost, none stored twice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgerec-sync-crash-'));
  const db = `sqlite:${join(dir, 'events.db')}`;
  let server = await startServe(['--db', db, '--addr', '127.0.0.1:0']);
  const addr = server.url.replace('http://', '');
  const bundle = await loadBundle(manifest, { fetch: fileFetch });
  const store = new MemoryStore();
  const rec = await Recommender.create(bundle, {
    store,
    backend: 'cpu',
    sync: { endpoint: server.url, batchSize: 25, flushIntervalMs: 0, pollIntervalMs: 0, backoffBaseMs: 1, backoffCapMs: 5 },
  });
  try {
    const { items, trace } = await rec.recommend({ k: 10 });
    const ids = items.map((i) => i.id);
    let produced = 0;
    let acknowledged = 0;
    let failedFlushes = 0;
    for (let round = 0; round < 10; round++) {
      if (round > 0) {
        server = await startServe(['--db', db, '--addr', addr]);
        const held = await serverEventCount(server.url);
        assert.ok(held >= acknowledged, `round ${round}: the server holds ${held} events, ${acknowledged} were acknowledged`);
      }
      const killAt = Date.now() + 40 + Math.random() * 160;
      const flushes = [];
      while (Date.now() < killAt) {
        await rec.impression(ids, trace.requestId); // 10 events
        produced += 10;
        flushes.push(rec.flush().then((r) => {
          acknowledged += r.accepted;
        }, () => {
          failedFlushes++;
        }));
        await sleep(5);
      }
      // A burst of 200 events (8 requests of 25) whose flush is surely in flight at the kill.
      for (let i = 0; i < 20; i++) await rec.impression(ids, trace.requestId);
      produced += 200;
      flushes.push(rec.flush().then((r) => {
        acknowledged += r.accepted;
      }, () => {
        failedFlushes++;
      }));
      await sleep(1);
      await server.kill();
      await Promise.all(flushes);
    }
    // Produced while the server is down (delivered by the final flush or a background one).
    await rec.impression(ids, trace.requestId);
    produced += 10;
    server = await startServe(['--db', db, '--addr', addr]);
    const held = await serverEventCount(server.url);
    assert.ok(held >= acknowledged, `after the last crash the server holds ${held}, ${acknowledged} acknowledged`);
    const report = await rec.flush();
    assert.equal(rec.syncStatus.pending, 0);
    const total = await serverEventCount(server.url);
    console.log(`produced ${produced}, acknowledged before the last flush ${acknowledged}, failed flushes ${failedFlushes}, final flush ${JSON.stringify(report)}, stored ${total}`);
    assert.equal(total, produced, 'every event produced is stored exactly once');
    assert.ok(failedFlushes > 0, 'the kills interrupted uploads');
    const out = join(dir, 'events.jsonl');
    execFileSync(EDGEREC, ['events', 'export', '--db', db, '--out', out], { stdio: 'pipe' });
    const events = readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.equal(events.length, produced);
    assert.equal(new Set(events.map((e) => e.id)).size, produced);
  } finally {
    await server.kill();
    rec.free();
    bundle.free();
    rmSync(dir, { recursive: true, force: true });
  }
});
