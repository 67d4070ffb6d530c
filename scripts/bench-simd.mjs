#!/usr/bin/env node
// Times the core module's two SIMD builds (www/simd.html: plain simd128 and Relaxed SIMD) in
// headless Chromium, alternating page loads so that both see the same machine load, and prints
// each build's median and minimum ms per query over the rounds, per dtype. The page also
// returns the lists; tests/e2e/simd.test.mjs compares them.
//
// Usage: node scripts/bench-simd.mjs [rounds] [query string]
//        e.g. node scripts/bench-simd.mjs 5 "rows=100000&dim=64&k=100&iters=50&dtypes=int8"
import { runPage } from './bench-page.mjs';

const rounds = Number(process.argv[2] ?? 5);
const query = process.argv[3] ?? 'rows=100000&dim=64&k=100&iters=50';
const builds = ['simd128', 'relaxed'];
const times = {};
let browser = '';
for (let round = 0; round < rounds; round++) {
  for (const simd of builds) {
    const run = await runPage('simd.html', `${query}&simd=${simd}`, 'edgerecSimd');
    if (run.build !== simd) throw new Error(`asked for ${simd}, loaded ${run.build}`);
    browser = run.browser;
    for (const t of run.timings) ((times[simd] ??= {})[t.dtype] ??= []).push(t.ms);
  }
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`${browser}, ${query}, ${rounds} rounds`);
console.log('| build | dtype | median ms | min ms |\n|---|---|---:|---:|');
for (const simd of builds) {
  for (const [dtype, ms] of Object.entries(times[simd])) console.log(`| ${simd} | ${dtype} | ${median(ms).toFixed(3)} | ${Math.min(...ms).toFixed(3)} |`);
}
