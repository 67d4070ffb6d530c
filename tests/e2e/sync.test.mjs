// End-to-end sync with the real server (`edgerec serve`) and the demo page www/sync.html in
// Chromium: events produced offline survive two reloads (IndexedDB queue, service-worker
// cache) and reach the server exactly once when the network is back; a published model is
// picked up within one poll while calls keep succeeding; a wrongly signed or corrupted version
// is refused and the page keeps the model it has.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from '../../scripts/demo-server.mjs';
import { keyPair, publish, writeVariant } from './support/bundle-variants.mjs';
import { EDGEREC, ROOT, serverEventCount, startServe } from './support/edgerec-serve.mjs';

const SEED = '5e'.repeat(32);
const WRONG_SEED = '17'.repeat(32);
const { publicHex } = keyPair(SEED);

let dir;
let models;
let server;
let serveArgs;
let browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgerec-sync-e2e-'));
  models = join(dir, 'models');
  writeVariant(models, 'A', { seedHex: SEED });
  writeVariant(models, 'B', { seedHex: SEED, reverse: true });
  writeVariant(models, 'C-wrong-key', { seedHex: WRONG_SEED, reverse: true });
  writeVariant(models, 'D-corrupt', { seedHex: SEED, corrupt: true });
  publish(models, 'A');
  writeFileSync(join(dir, 'experiments.json'), JSON.stringify({
    layers: [{
      name: 'rerank',
      salt: 'rerank-e2e',
      experiments: [{
        name: 'diversity',
        from: 0,
        to: 100,
        variants: [
          { name: 'mmr', from: 0, to: 50, options: { diversity: { method: 'mmr', lambda: 0.8 } } },
          { name: 'dpp', from: 50, to: 100, options: { diversity: { method: 'dpp', theta: 0.7 } } },
        ],
      }],
    }],
  }));
  serveArgs = [
    '--db', `sqlite:${join(dir, 'events.db')}`,
    '--models', models,
    '--static', ROOT,
    '--experiments', join(dir, 'experiments.json'),
  ];
  server = await startServe([...serveArgs, '--addr', '127.0.0.1:0']);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function ready(page) {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 120_000 });
  const status = await page.evaluate(() => document.body.dataset.status);
  assert.equal(status, 'done', JSON.stringify(await page.evaluate(() => window.edgerecSync?.error)));
}

const pending = (page) => page.evaluate(() => window.edgerecSync.rec.syncStatus.pending);

function exportedEvents() {
  const out = join(dir, `export-${Date.now()}.jsonl`);
  execFileSync(EDGEREC, ['events', 'export', '--db', `sqlite:${join(dir, 'events.db')}`, '--out', out], { stdio: 'pipe' });
  return readFileSync(out, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

test('offline events survive two reloads and reach the server exactly once; models update live', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const url = `${server.url}/www/sync.html?key=${publicHex}&poll=400&flush=250&backoff=200`;
  await page.goto(url);
  await ready(page);
  assert.equal(await page.evaluate(() => window.edgerecSync.rec.modelVersion), 'A');
  // The experiment variant picks the re-ranking method of every recommend() call.
  const variant = await page.evaluate(async () => ({
    assigned: window.edgerecSync.rec.syncStatus.assignments.rerank,
    used: (await window.edgerecSync.rec.recommend({ k: 10, diversity: { method: 'none' } })).trace.diversity,
  }));
  assert.ok(['diversity/mmr', 'diversity/dpp'].includes(variant.assigned), JSON.stringify(variant));
  assert.equal(variant.used, variant.assigned.split('/')[1], 'the variant overrides the call');
  // Online: the first impressions go up on their own (flush timer).
  await page.waitForFunction(() => window.edgerecSync.rec.syncStatus.pending === 0, null, { timeout: 30_000 });
  const before = await serverEventCount(server.url);
  assert.ok(before >= 10, `the first list's impressions reached the server (${before})`);

  // Offline: the browser's network is off and the server is down (Chromium's offline emulation
  // does not cover a service worker's network fallback, so the origin really goes away).
  // Clicks and impressions queue up on the device, across two reloads served by the worker.
  await context.setOffline(true);
  await server.kill();
  let produced = 0;
  for (let round = 0; round < 3; round++) {
    if (round > 0) {
      // Every load shows a list (10 impressions) — counted from the queue's growth below.
      await page.reload();
      await ready(page);
    }
    const start = await pending(page);
    const last = await page.evaluate(() => window.edgerecSync.last());
    // Two clicks, each followed by a new list shown (1 click + 10 impressions each).
    await page.evaluate(async (id) => window.edgerecSync.click(id, 0), last.items[0].id);
    const again = await page.evaluate(() => window.edgerecSync.last());
    await page.evaluate(async (id) => window.edgerecSync.click(id, 1), again.items[1].id);
    assert.equal(await pending(page), start + 22, 'each click and impression is queued');
  }
  produced = await pending(page);
  assert.ok(produced >= 66, `queued offline: ${produced}`);

  // Back online: one flush delivers everything; the server counts each event once.
  server = await startServe([...serveArgs, '--addr', server.url.replace('http://', '')]);
  assert.equal(await serverEventCount(server.url), before, 'nothing reached the server while offline');
  await context.setOffline(false);
  const report = await page.evaluate(() => window.edgerecSync.rec.flush());
  assert.equal(await pending(page), 0);
  const after = await serverEventCount(server.url);
  assert.equal(after - before, produced, `server gained ${after - before}, device produced ${produced} (${JSON.stringify(report)})`);
  const events = exportedEvents();
  assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'no event stored twice');
  const clicks = events.filter((e) => e.kind === 'click');
  assert.equal(clicks.length, 6);
  assert.ok(clicks.every((e) => e.requestId && e.modelVersion === 'A' && e.experiments.rerank?.startsWith('diversity/')), JSON.stringify(clicks[0]));
  const impressions = events.filter((e) => e.kind === 'impression');
  assert.ok(impressions.every((e) => Number.isInteger(e.position) && e.requestId), 'impressions carry position and request id');
  const users = new Set(events.map((e) => e.user));
  assert.equal(users.size, 1, 'one anonymous device id across reloads');

  // A new version is published: the page switches within one poll; no call fails meanwhile.
  const listA = (await page.evaluate(() => window.edgerecSync.rec.recommend({ k: 20 }))).items.map((i) => i.id);
  await page.evaluate(() => {
    window.calls = { ok: 0, failed: [] };
    window.hammer = setInterval(() => {
      window.edgerecSync.rec.recommend({ k: 20 }).then(() => window.calls.ok++, (e) => window.calls.failed.push(`${e.code}: ${e.message}`));
    }, 15);
    window.updates = [];
    window.errors = [];
    window.progress = [];
    window.edgerecSync.rec.on('updateprogress', (p) => window.progress.push(p));
    window.edgerecSync.rec.on('modelupdate', (u) => window.updates.push(u));
    window.edgerecSync.rec.on('error', (e) => window.errors.push({ code: e.code, message: e.message }));
  });
  const publishedAt = Date.now();
  publish(models, 'B');
  await page.waitForFunction(() => window.updates.length > 0, null, { timeout: 20_000 });
  const switchMs = Date.now() - publishedAt;
  assert.deepEqual(await page.evaluate(() => window.updates[0]), { from: 'A', to: 'B' });
  const progress = await page.evaluate(() => window.progress.filter((p) => p.version === 'B'));
  assert.ok(progress.length > 1 && progress.at(-1).loaded === progress.at(-1).total, 'download progress reported');
  const listB = (await page.evaluate(() => window.edgerecSync.rec.recommend({ k: 20 }))).items.map((i) => i.id);
  assert.notDeepEqual(listB, listA, 'the new model recommends differently');
  const history = await page.evaluate(() => window.edgerecSync.rec.history());
  assert.equal(history.length, 6, 'the clicks carried over to the new model');

  // A wrongly signed version, then a corrupted one: refused, reported, the page keeps B.
  for (const [version, code] of [['C-wrong-key', 'BAD_SIGNATURE'], ['D-corrupt', 'HASH_MISMATCH']]) {
    publish(models, version);
    await page.waitForFunction((c) => window.errors.some((e) => e.code === c), code, { timeout: 20_000 });
    assert.equal(await page.evaluate(() => window.edgerecSync.rec.modelVersion), 'B', `${version} was refused`);
  }
  const calls = await page.evaluate(() => {
    clearInterval(window.hammer);
    return window.calls;
  });
  console.log(`offline: ${produced} events queued over 3 page loads, delivered once (server +${after - before}); model A → B switched ${switchMs} ms after publishing (poll 400 ms); ${calls.ok} recommend calls during the updates, ${calls.failed.length} failed`);
  assert.deepEqual(calls.failed, [], 'no call failed during the updates');
  assert.ok(calls.ok > 20, `calls served during the updates: ${calls.ok}`);
  // Events after the switch carry the new version.
  await page.evaluate(async () => {
    const { items, trace } = await window.edgerecSync.rec.recommend(5);
    await window.edgerecSync.rec.record(items[0].id, { requestId: trace.requestId });
    await window.edgerecSync.rec.flush();
  });
  const lastClick = exportedEvents().filter((e) => e.kind === 'click').sort((a, b) => a.ts - b.ts).at(-1);
  assert.equal(lastClick.modelVersion, 'B');
  await context.close();
});
