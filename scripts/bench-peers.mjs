#!/usr/bin/env node
// Runs www/peers.html in headless Chromium: exact top-k for edgerec (int8, f32, f16 on the CPU
// path), a plain-JavaScript scan and TF.js (wasm backend), next to hnswlib-wasm and voy, all on
// the same matrix and query in one page. Writes bench/results/peers-<rows>.json and
// bench/results/peers-<rows>.md (machine and browser versions, ratios to edgerec int8).
//
// Usage: node scripts/bench-peers.mjs [query string, e.g. "rows=100000&iters=100"]
//        `make bench` runs it at 100k and 1M rows; tests/e2e/peers.test.mjs runs a tiny size.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runPage } from './bench-page.mjs';

/** Opens the page with `query` and resolves to its `window.edgerecPeers` plus the browser version. */
export function runPeers(query, options) {
  return runPage('peers.html', query, 'edgerecPeers', options);
}

/** The Markdown table of one run, with the machine it ran on. */
export function markdown(run) {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `# Top-${run.k} over ${run.rows.toLocaleString('en')} × ${run.dim}: edgerec against the peers`,
    '',
    `${new Date().toISOString().slice(0, 10)} · ${run.browser}, headless · ${cpu}, ${run.cores} logical cores visible to the page, ` +
      `${(totalmem() / 2 ** 30).toFixed(0)} GiB · Linux ${release()} · median of ${run.iters} samples (each a batch of single-query calls lasting ≥ 2 ms), after a warm-up`,
    '',
    'Recall@k is against the exact top-k of the library\'s own metric (dot product; voy is Euclidean).',
    '',
    '| library | search | metric | median ms | recall@k | ÷ edgerec int8 | setting |',
    '|---|---|---|---:|---:|---:|---|',
  ];
  for (const r of run.results) {
    if (r.error) lines.push(`| ${r.library} | | ${r.metric} | error: ${r.error} | | | |`);
    else lines.push(`| ${r.library} | ${r.exact ? 'exact' : 'approximate'} | ${r.metric} | ${r.medianMs.toFixed(3)} | ${r.recall.toFixed(3)} | ${r.vsEdgerecInt8.toFixed(1)}× | ${r.note ?? ''} |`);
  }
  lines.push('', `Command: \`node scripts/bench-peers.mjs "${run.query}"\` (\`make bench\`).`, '');
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const query = process.argv[2] ?? 'rows=100000&dim=64&k=100&iters=100&ef=64,800';
  const run = await runPeers(query);
  const table = markdown(run);
  console.log(table);
  const dir = new URL('../bench/results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const name = `peers-${run.rows}`;
  await writeFile(new URL(`${name}.json`, dir), JSON.stringify(run, null, 2) + '\n');
  await writeFile(new URL(`${name}.md`, dir), table);
  console.log(`wrote bench/results/${name}.json and .md`);
  const failed = run.results.filter((r) => r.error);
  if (failed.length) {
    console.error(`failed: ${failed.map((r) => `${r.library}: ${r.error}`).join('; ')}`);
    process.exit(1);
  }
}
