// End-to-end, the `threads` module (issue 15, "multi-threaded wasm"): on a cross-origin isolated
// page www/threads.html loads it with three threads and compares its lists with the
// single-threaded core's for every dtype and similarity, with exclude, candidates and a batch
// of queries, over an odd row count with exact ties planted across shard boundaries. On a page
// that is not isolated, asking for it loads the single-threaded core instead, which answers.
// The page also times both (reported, not asserted: the machine is shared).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS as ARGS } from '../../scripts/demo-server.mjs';

let server;
let browser;
before(async () => {
  server = await startDemoServer();
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
});
after(async () => {
  await browser?.close();
  server?.stop();
});

test('the threads module returns the single-threaded lists, bit for bit', { timeout: 300_000 }, async () => {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(`${server.url}threads.html?rows=20011&dim=24&k=50&iters=3&threads=3`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 240_000 });
  const result = await page.evaluate(() => window.edgerecThreads);
  assert.equal(result.status, 'done', result.message);
  assert.equal(result.crossOriginIsolated, true, 'the demo server isolates its pages');
  assert.equal(result.module, 'threads');
  assert.equal(result.threads, 3, 'the page and two workers');
  assert.equal(result.checks.length, 3 * 2 * 4, 'int8/f32/f16 × dot/cosine × plain/exclude/candidates/both');
  for (const c of result.checks) assert.ok(c.same, `lists differ: ${JSON.stringify(c)}`);
  for (const t of result.timings) console.log(`${t.dtype}: single ${t.singleMs.toFixed(3)} ms, ${t.threads} threads ${t.threadedMs.toFixed(3)} ms`);
  assert.deepEqual(pageErrors, []);
  await page.close();
});

test('without cross-origin isolation the single-threaded core loads and answers', { timeout: 120_000 }, async () => {
  const page = await browser.newPage();
  // Same origin, but this page comes without COOP/COEP: no shared memory.
  await page.route('**/plain.html', (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>plain</title>' }));
  await page.goto(`${server.url}plain.html`);
  const r = await page.evaluate(async () => {
    const m = await import('/pkg/dist/index.js');
    await m.initEdgerec(undefined, { module: 'threads', threads: 4 });
    const items = new Float32Array(10_000 * 8).map((_, i) => Math.sin(i));
    const engine = await m.ScoringEngine.create(items, 8, { backend: 'cpu', dtype: 'int8', similarity: 'cosine' });
    const top = await engine.topK(items.subarray(0, 8), 3);
    engine.free();
    return { isolated: globalThis.crossOriginIsolated, module: m.loadedModule(), threads: m.cpuThreads(), first: top.ids[0] };
  });
  assert.equal(r.isolated, false);
  assert.equal(r.module, 'core');
  assert.equal(r.threads, 1);
  assert.equal(r.first, 0, 'row 0 is its own best match');
  await page.close();
});

test('initEdgerec refuses a thread count below 1', { timeout: 60_000 }, async () => {
  const page = await browser.newPage();
  await page.route('**/blank.html', (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>blank</title>' }));
  await page.goto(`${server.url}blank.html`);
  const code = await page.evaluate(async () => {
    const m = await import('/pkg/dist/index.js');
    try {
      await m.initEdgerec(undefined, { module: 'threads', threads: 0 });
      return 'resolved';
    } catch (e) {
      return e.code;
    }
  });
  assert.equal(code, 'INVALID_ARGUMENT');
  await page.close();
});
