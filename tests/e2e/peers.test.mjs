// Smokes of `make bench` (issue 15), at a tiny size. The peer page: every library on it —
// edgerec's three storage formats, the plain-JavaScript scan, TF.js (wasm), hnswlib-wasm and
// voy — loads from devDependencies, answers the same query, and the exact ones agree with the
// exact top-k. The scoring page (www/bench.html): its re-rank selections match the fixtures and
// the plain-JS baselines. Timings are printed, never asserted (shared machines are noisy).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPeers, markdown } from '../../scripts/bench-peers.mjs';

test('the peer benchmark page runs every library on the same data', async () => {
  const run = await runPeers('rows=3000&dim=32&k=50&iters=3&ef=16,200', { timeoutMs: 300_000 });
  assert.deepEqual(run.pageErrors, []);
  const libraries = run.results.map((r) => r.library);
  const workers = libraries.find((name) => /^edgerec int8, \d+ workers$/.test(name));
  assert.ok(workers, `the worker-split int8 scan runs: ${libraries}`);
  const threads = libraries.find((name) => /^edgerec int8, \d+ threads$/.test(name));
  assert.ok(threads, `the threads module's int8 scan runs: ${libraries}`);
  assert.deepEqual(libraries, ['edgerec int8', 'edgerec f32', 'edgerec f16', threads, workers, 'plain JavaScript', 'TF.js', 'hnswlib-wasm ef=16', 'hnswlib-wasm ef=200', 'voy']);
  for (const r of run.results) {
    assert.equal(r.error, undefined, `${r.library}: ${r.error}`);
    assert.ok(Number.isFinite(r.medianMs) && r.medianMs > 0, `${r.library}: ${r.medianMs} ms`);
    assert.equal(r.returned, 50, `${r.library} returned ${r.returned} ids`);
  }
  const byName = Object.fromEntries(run.results.map((r) => [r.library, r]));
  // Exact in f32: the same top-50 up to a near-tie at the boundary (summation order differs).
  for (const name of ['edgerec f32', 'plain JavaScript', 'TF.js']) assert.ok(byName[name].recall >= 0.98, `${name} recall ${byName[name].recall}`);
  // Quantized storage ranks by slightly perturbed scores: most of the list, not all of it.
  for (const name of ['edgerec int8', 'edgerec f16']) assert.ok(byName[name].recall >= 0.9, `${name} recall ${byName[name].recall}`);
  // The worker-split scan is the same int8 scan: the same list (www/parallel.html checks it id by id).
  assert.equal(byName[workers].recall, byName['edgerec int8'].recall);
  assert.equal(byName[threads].recall, byName['edgerec int8'].recall);
  assert.match(byName[threads].note, /the threads module/, 'the isolated page loads the threads module');
  for (const name of ['hnswlib-wasm ef=16', 'hnswlib-wasm ef=200', 'voy']) assert.ok(byName[name].recall > 0.3, `${name} recall ${byName[name].recall}`);
  // A wider search finds more of the exact list.
  assert.ok(byName['hnswlib-wasm ef=200'].recall >= byName['hnswlib-wasm ef=16'].recall);
  const table = markdown(run);
  for (const name of libraries) assert.match(table, new RegExp(`\\| ${name} \\| exact|\\| ${name} \\| approximate`));
  console.log(table);
});

test('the scoring and re-rank benchmark page runs and its re-rank selections match', async () => {
  const { chromium } = await import('playwright-core');
  const { startDemoServer, CHROMIUM_ARGS } = await import('../../scripts/demo-server.mjs');
  const server = await startDemoServer();
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}bench.html?rows=3000&dim=32&k=50&iters=2&dtypes=int8,f32,f16&backends=cpu`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 300_000 });
    const bench = await page.evaluate(() => window.edgerecBench);
    assert.equal(bench.status, 'done', bench.message);
    assert.deepEqual(bench.results.map((r) => r.dtype), ['int8', 'f32', 'f16']);
    for (const r of bench.results) assert.ok(Number.isFinite(r.medianMs) && r.medianMs >= 0, JSON.stringify(r));
    // Fixture conformance, held and one-shot calls alike, and the plain-JS baselines' picks.
    for (const [name, ok] of Object.entries(bench.rerank.checks)) assert.ok(ok, `re-rank check ${name}`);
    assert.ok(bench.rerank.results.length >= 8);
  } finally {
    await browser.close();
    server.stop();
  }
});
