// Scoring benchmark page: the same measurement as `edgerec bench score`, in the browser, through
// the npm package. Results land in `window.edgerecBench` for scripts/bench-browser.mjs.
import { ScoringEngine, memorySumBandwidth } from '../pkg/dist/index.js';
import { benchRerank } from './bench-rerank.js';
import { randomData } from './rng.js';

const url = new URL(location.href);
const list = (name, fallback) => (url.searchParams.get(name) ?? fallback).split(',').filter(Boolean);
const rowsList = list('rows', '100000,1000000').map(Number);
const dim = Number(url.searchParams.get('dim') ?? 64);
const k = Number(url.searchParams.get('k') ?? 100);
const iters = Number(url.searchParams.get('iters') ?? 10);
const dtypes = list('dtypes', 'f32,f16,int8');
const backends = list('backends', 'cpu,webgpu');
const withRerank = (url.searchParams.get('rerank') ?? '1') !== '0';
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');

// Bytes the stored index occupies: what one query must read.
function storedBytes(rows, dtype) {
  if (dtype === 'f32') return rows * dim * 4;
  if (dtype === 'f16') return rows * Math.ceil(dim / 2) * 4;
  return rows * (Math.ceil(dim / 4) * 4 + 4); // packed int8 + one f32 scale per row
}

async function time(engine, query) {
  await engine.topK(query, k); // warm-up: buffers and bind groups are built on first use
  const samples = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    await engine.topK(query, k);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

async function main() {
  const results = [];
  const bandwidth = await memorySumBandwidth(256);
  for (const rows of rowsList) {
    const items = randomData(rows * dim, rows);
    const query = randomData(dim, 7);
    for (const dtype of dtypes) {
      for (const backend of backends) {
        summary.textContent = `Running ${rows} × ${dim} ${dtype} on ${backend}…`;
        let engine;
        try {
          engine = await ScoringEngine.create(items, dim, { backend, dtype });
          const ms = await time(engine, query);
          const row = { rows, dim, k, dtype, requested: backend, backend: engine.backend, adapter: engine.adapter ?? '', medianMs: ms, gbPerS: storedBytes(rows, dtype) / (ms / 1e3) / 1e9 };
          results.push(row);
          const tr = document.createElement('tr');
          for (const v of [rows, dtype, row.backend, ms.toFixed(3), row.gbPerS.toFixed(2), row.adapter]) {
            const td = document.createElement('td');
            td.textContent = String(v);
            tr.append(td);
          }
          tbody.append(tr);
        } catch (e) {
          results.push({ rows, dtype, requested: backend, error: `${e.code ?? ''} ${e.message}` });
        } finally {
          engine?.free();
        }
      }
    }
  }
  const rerank = withRerank ? await benchRerank() : null;
  window.edgerecBench = { status: 'done', memorySumGbPerS: bandwidth, results, rerank, userAgent: navigator.userAgent };
  summary.textContent = `Done. WebAssembly single-core memory-sum bandwidth: ${bandwidth.toFixed(2)} GB/s`;
  document.body.dataset.status = 'done';
}

main().catch((e) => {
  window.edgerecBench = { status: 'error', message: String(e?.message ?? e) };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
});
