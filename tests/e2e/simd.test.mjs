// End-to-end: the core module's two SIMD builds return the same lists. www/simd.html is loaded
// twice in Chromium — once as a page gets it (Chromium validates Relaxed SIMD, so the relaxed
// build must be the one loaded and fetched) and once forced to plain simd128 — and their CPU
// top-k lists for every dtype and similarity, with exclude, candidates and a batch of queries
// (one query on a row planted three more times: exact ties), must be equal: the same ids and the
// same score bits. The relaxed int8 scan filters rows with a 6-bit dot product before the exact
// one, so this is its parity check in a real engine. Timings are printed, not asserted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS as ARGS } from '../../scripts/demo-server.mjs';

let server;
before(async () => {
  server = await startDemoServer();
});
after(() => server?.stop());

async function load(browser, query) {
  const page = await (await browser.newContext()).newPage();
  const pageErrors = [];
  const wasm = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('request', (r) => {
    if (r.url().endsWith('.wasm')) wasm.push(new URL(r.url()).pathname);
  });
  await page.goto(`${server.url}simd.html?${query}`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 240_000 });
  const result = await page.evaluate(() => window.edgerecSimd);
  await page.context().close();
  assert.equal(result.status, 'done', result.message);
  assert.deepEqual(pageErrors, []);
  return { ...result, wasm };
}

test('the Relaxed SIMD core returns the simd128 core lists, bit for bit, and is the one Chromium loads', { timeout: 300_000 }, async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
  try {
    // dim 40: two 16-value steps of the relaxed kernel and an 8-value tail; rows not a multiple
    // of the scan's 256-row blocks or 8-row groups.
    for (const dim of [40, 64]) {
      const shape = `rows=20011&dim=${dim}&k=50&iters=3&dtypes=int8,f32,f16`;
      const relaxed = await load(browser, shape);
      const plain = await load(browser, `${shape}&simd=simd128`);
      assert.equal(relaxed.build, 'relaxed', 'Chromium validates Relaxed SIMD: the relaxed core loads');
      assert.deepEqual(relaxed.wasm, ['/pkg/wasm/relaxed/edgerec_bg.wasm'], 'only the relaxed core is fetched');
      assert.equal(plain.build, 'simd128');
      assert.deepEqual(plain.wasm, ['/pkg/wasm/edgerec_bg.wasm']);
      assert.equal(relaxed.lists.length, 3 * 2 * 4, 'int8/f32/f16 × dot/cosine × plain/exclude/candidates/both');
      assert.equal(plain.lists.length, relaxed.lists.length);
      for (const [i, r] of relaxed.lists.entries()) {
        const p = plain.lists[i];
        const name = `dim ${dim} ${r.dtype} ${r.similarity} ${r.case}`;
        assert.deepEqual([p.dtype, p.similarity, p.case], [r.dtype, r.similarity, r.case]);
        assert.equal(r.results.length, 3, `${name}: a batch of three queries`);
        for (const [b, list] of r.results.entries()) {
          assert.equal(list.ids.length, 50, `${name}: query ${b}`);
          assert.deepEqual(list.ids, p.results[b].ids, `${name}: query ${b} ids`);
          // Score bit patterns: equal bits are Object.is-equal floats.
          assert.deepEqual(list.scores, p.results[b].scores, `${name}: query ${b} score bits`);
        }
      }
      for (const [i, t] of relaxed.timings.entries()) console.log(`dim ${dim} ${t.dtype}: relaxed ${t.ms.toFixed(3)} ms, simd128 ${plain.timings[i].ms.toFixed(3)} ms (20011 rows, top-50)`);
    }
  } finally {
    await browser.close();
  }
});
