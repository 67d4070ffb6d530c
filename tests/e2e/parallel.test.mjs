// End-to-end: www/parallel.html builds a ParallelScoringEngine (`edgerec/worker`: the rows split
// over Web Workers) next to the single-threaded CPU ScoringEngine on the same matrix, with exact
// ties planted across shard boundaries, and compares their lists for every dtype and similarity,
// with exclude, candidates and a batch of queries. Three workers over an odd row count, so the
// shards are uneven. The page also times both (reported, not asserted: the machine is shared).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS as ARGS } from '../../scripts/demo-server.mjs';

let server;
before(async () => {
  server = await startDemoServer();
});
after(() => server?.stop());

test('the parallel engine returns the single-threaded lists, bit for bit, and frees its workers', { timeout: 300_000 }, async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
  try {
    const page = await (await browser.newContext()).newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${server.url}parallel.html?rows=20011&dim=24&k=50&iters=3&threads=3`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 240_000 });
    const result = await page.evaluate(() => window.edgerecParallel);
    assert.equal(result.status, 'done', result.message);
    assert.equal(result.checks.length, 3 * 2 * 4, 'int8/f32/f16 × dot/cosine × plain/exclude/candidates/both');
    for (const c of result.checks) {
      assert.equal(c.threads, 3, 'three shards');
      assert.ok(c.same, `lists differ: ${JSON.stringify(c)}`);
    }
    for (const t of result.timings) console.log(`${t.dtype}: single ${t.singleMs.toFixed(3)} ms, ${t.threads} workers ${t.parallelMs.toFixed(3)} ms`);
    // Every engine was freed by the page: no worker is left running (Playwright hears of a
    // terminated worker asynchronously, so wait up to 10 s for it).
    for (let waited = 0; page.workers().length > 0 && waited < 10_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    assert.equal(page.workers().length, 0, 'free() terminates the workers');

    // Typed errors for bad input, before any worker starts.
    const errors = await page.evaluate(async () => {
      const { ParallelScoringEngine } = await import('../pkg/dist/worker.js');
      const codes = [];
      for (const make of [
        () => ParallelScoringEngine.create(new Float32Array(10), 3),
        () => ParallelScoringEngine.create(new Float32Array(12), 3, { threads: 0 }),
      ]) {
        try {
          await make();
          codes.push('resolved');
        } catch (e) {
          codes.push(e.code);
        }
      }
      const engine = await ParallelScoringEngine.create(new Float32Array(12).fill(1), 3, { threads: 2 });
      try {
        await engine.topK(new Float32Array(2), 1);
        codes.push('resolved');
      } catch (e) {
        codes.push(e.code);
      }
      engine.free();
      engine.free(); // idempotent
      try {
        await engine.topK(new Float32Array(3), 1);
        codes.push('resolved');
      } catch (e) {
        codes.push(e.code);
      }
      return codes;
    });
    assert.deepEqual(errors, ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT']);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
  }
});
