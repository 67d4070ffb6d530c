#!/usr/bin/env node
// The IVF recall@k / latency curve in the browser (issue 15): synthetic clustered item vectors
// (bench/ivf/make-data.mjs), a bundle with an IVF index built by `edgerec bundle build
// --ivf-lists`, then www/ivf.html in headless Chromium — the exact scan and each nprobe through
// `ScoringEngine.fromBundle(bundle, { nprobe })`, same engine, same queries. Writes
// bench/results/ivf-browser-<rows>.json and .md.
//
// Usage: node scripts/bench-ivf.mjs [rows=1000000] [lists=1024] [spread=0.6] [hnswlib efs, e.g. 64,200,800]
//        (`make bench-ivf`; tests/e2e/ivf.test.mjs runs a tiny size through `prepareIvfBundle`)
import { execFileSync } from 'node:child_process';
import { existsSync, copyFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { writeIvfData } from '../bench/ivf/make-data.mjs';
import { runPage } from './bench-page.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The `edgerec` CLI: $EDGEREC_BIN, else the release build, else the test-profile one. */
function cli() {
  const candidates = [process.env.EDGEREC_BIN, `${root}target/release/edgerec`, `${root}target/debug/edgerec`];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error('no edgerec CLI: run `make server` (or set EDGEREC_BIN)');
  return found;
}

/**
 * Writes the data and builds the bundle under `target/<name>/`; returns the manifest's URL path
 * on the demo server (which serves the repository root).
 */
export async function prepareIvfBundle(name, { rows, dim = 64, clusters, spread = 0.6, lists, seed = 0 }) {
  const data = `${root}target/${name}/data`;
  const bundle = `${root}target/${name}/bundle`;
  await writeIvfData(data, { rows, dim, clusters, spread, seed });
  execFileSync(cli(), [
    'bundle', 'build', '--tensors', `${data}/tensors.safetensors`, '--items', `${data}/items.csv`,
    '--out', bundle, '--model-id', name, '--model-version', '1', '--created-at', '2026-01-01T00:00:00Z',
    '--similarity', 'cosine', '--ivf-lists', String(lists), '--eval-queries', '32', '--seed', String(seed),
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  copyFileSync(`${data}/queries.json`, `${bundle}/queries.json`);
  return `/target/${name}/bundle/manifest.json`;
}

/** Runs www/ivf.html over `manifest` and resolves to its `window.edgerecIvf`. */
export function runIvf(manifest, query, options) {
  return runPage('ivf.html', `bundle=${encodeURIComponent(manifest)}&${query}`, 'edgerecIvf', options);
}

export function markdown(run, setup) {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `# IVF in the browser: recall@${run.k} against time over ${run.rows.toLocaleString('en')} × ${setup.dim} items`,
    '',
    `${new Date().toISOString().slice(0, 10)} · ${run.browser}, headless · ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB · Linux ${release()}`,
    '',
    `Data: a mixture of ${setup.clusters} Gaussian topics (unit-variance centres, spread ${setup.spread}), cosine similarity, int8 rows; ` +
      `${setup.lists} IVF lists (k-means in \`edgerec bundle build --ivf-lists\`). ${run.queries} queries drawn from the same mixture. ` +
      `CPU path (WebAssembly SIMD), one thread; each time is the median of 5 passes over all queries. ` +
      `Recall@${run.k} is against the exact scan of the same engine. Bundle download + verification: ${(run.loadMs / 1000).toFixed(1)} s.` +
      (setup.hnsw ? ' hnswlib-wasm (cosine, M 16, efConstruction 200) indexes the same vectors (the bundle\'s, dequantized) and answers the same queries.' : ''),
    '',
    '| search | ms / query | recall@k | × exact speed |',
    '|---|---:|---:|---:|',
    ...run.results.map((r) => `| ${r.search} | ${r.ms.toFixed(3)} | ${r.recall.toFixed(3)} | ${r.speedup.toFixed(1)}× |`),
    '',
    `Command: \`node scripts/bench-ivf.mjs ${setup.rows} ${setup.lists} ${setup.spread}${setup.hnsw ? ` ${setup.hnsw}` : ''}\` (\`make bench-ivf\`).`,
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [rows = 1_000_000, lists = 1024, spread = 0.6] = process.argv.slice(2, 5).map(Number);
  const efs = process.argv[5] ?? '';
  const setup = { rows, dim: 64, clusters: 1000, spread, lists, hnsw: efs };
  console.log(`building a ${rows}-row bundle with ${lists} IVF lists…`);
  const manifest = await prepareIvfBundle(`bench-ivf-${rows}-${spread}`, setup);
  const run = await runIvf(manifest, `k=100&nprobe=1,2,4,8,16,32,64&queries=200&hnsw=${efs}`);
  const table = markdown(run, setup);
  console.log(table);
  const dir = new URL('../bench/results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const name = `ivf-browser-${rows}-spread${spread}${efs ? '-hnswlib' : ''}`;
  await writeFile(new URL(`${name}.json`, dir), JSON.stringify({ setup, ...run }, null, 2) + '\n');
  await writeFile(new URL(`${name}.md`, dir), table);
  console.log(`wrote bench/results/${name}.json and .md`);
}
