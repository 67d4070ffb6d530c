// End-to-end: www/bundle.html streams the fixture bundle with progress, validates it, and scores
// with an engine built from it; a corrupted file in transit is rejected with its own error code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS as ARGS } from '../../scripts/demo-server.mjs';

let server;
let baseUrl;

before(async () => {
  server = await startDemoServer();
  baseUrl = server.url;
});
after(() => server?.stop());

async function open(query, route) {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
  try {
    const page = await browser.newPage();
    if (route) await page.route(route.pattern, route.handler);
    await page.goto(`${baseUrl}bundle.html?${query}`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 60_000 });
    return await page.evaluate(() => window.edgerecBundle);
  } finally {
    await browser.close();
  }
}

test('the fixture bundle streams with progress, validates and scores', async () => {
  const r = await open('manifest=../models/fixture/manifest.json&backend=cpu');
  assert.equal(r.status, 'done', r.message);
  assert.equal(r.itemCount, 48);
  assert.ok(r.progress.length >= 2, 'progress reported per chunk');
  const last = r.progress[r.progress.length - 1];
  assert.equal(last.loaded, last.total);
  for (let i = 1; i < r.progress.length; i++) assert.ok(r.progress[i].loaded >= r.progress[i - 1].loaded);
  // Item 0's own (quantized) vector is its nearest neighbour under the bundle's similarity.
  assert.equal(r.top[0].id, r.firstItem);
  for (let i = 1; i < r.top.length; i++) assert.ok(r.top[i].score <= r.top[i - 1].score);
});

test('a file corrupted in transit is rejected with HASH_MISMATCH', async () => {
  const r = await open('manifest=../models/fixture/manifest.json&backend=cpu', {
    pattern: '**/tensors.bin',
    handler: async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      body[body.length >> 1] ^= 0x40;
      await route.fulfill({ response, body });
    },
  });
  assert.equal(r.status, 'error');
  assert.equal(r.code, 'HASH_MISMATCH', r.message);
  assert.match(r.message, /tensors\.bin/);
});

test('a missing file is an IO_ERROR naming the URL', async () => {
  const r = await open('manifest=../models/fixture/manifest.json&backend=cpu', { pattern: '**/items.bin', handler: (route) => route.fulfill({ status: 404, body: 'gone' }) });
  assert.equal(r.status, 'error');
  assert.equal(r.code, 'IO_ERROR');
  assert.match(r.message, /items\.bin/);
});

test('the shipped MovieLens model loads in the browser and finds similar movies', async () => {
  const r = await open('backend=cpu');
  assert.equal(r.status, 'done', r.message);
  assert.ok(r.itemCount > 9000, `${r.itemCount} items`);
  assert.equal(r.top[0].id, r.firstItem, 'an item is most similar to itself');
  assert.ok(r.top.every((t) => typeof t.title === 'string' && t.title.length > 0));
  // Toy Story's neighbours share a category with it (the model learned something).
  const shared = r.top.slice(1).filter((t) => t.tags.some((tag) => r.top[0].tags.includes(tag)));
  assert.ok(shared.length >= 5, JSON.stringify(r.top));
});
