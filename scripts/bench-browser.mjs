#!/usr/bin/env node
// Runs www/bench.html in headless Chromium (WebGPU enabled: SwiftShader here, a real GPU on a
// desktop) and prints the results as a table and JSON lines.
// Usage: node scripts/bench-browser.mjs [query string, e.g. "rows=100000&iters=5"]
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS } from './demo-server.mjs';

const query = process.argv[2] ?? 'rows=100000,1000000&dim=64&k=100&iters=10';
const server = await startDemoServer();
const base = server.url;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--enable-unsafe-webgpu', ...CHROMIUM_ARGS],
});
try {
  const page = await browser.newPage();
  await page.goto(`${base}bench.html?${query}`);
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 900_000 });
  const bench = await page.evaluate(() => window.edgerecBench);
  if (bench.status !== 'done') throw new Error(bench.message);
  console.log(`browser: ${bench.userAgent}`);
  console.log(`wasm single-core memory-sum bandwidth: ${bench.memorySumGbPerS.toFixed(2)} GB/s`);
  console.log('| rows | dtype | backend | median ms | GB/s | adapter |');
  console.log('|---:|---|---|---:|---:|---|');
  for (const r of bench.results) {
    if (r.error) console.log(`| ${r.rows} | ${r.dtype} | ${r.requested} | error: ${r.error} | | |`);
    else console.log(`| ${r.rows} | ${r.dtype} | ${r.backend} | ${r.medianMs.toFixed(3)} | ${r.gbPerS.toFixed(2)} | ${r.adapter} |`);
  }
  for (const r of bench.results) console.log(JSON.stringify({ bench: 'browser_score', ...r }));
  if (bench.rerank) {
    const { n, k, checks, results } = bench.rerank;
    console.log(`re-rank in wasm, N = ${n}, k = ${k} (selections identical to the fixtures: ${JSON.stringify(checks)})`);
    console.log('| algorithm | ms per call |');
    console.log('|---|---:|');
    for (const r of results) console.log(`| ${r.algorithm} | ${r.ms.toFixed(3)} |`);
    for (const r of results) console.log(JSON.stringify({ bench: 'browser_rerank', n, k, ...r }));
    if (!Object.values(checks).every(Boolean)) throw new Error('re-rank selections differ from the fixtures');
  }
} finally {
  await browser.close();
  server.stop();
}
