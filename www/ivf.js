// IVF recall@k / latency curve in the browser: one engine over a bundle with an IVF index, timed
// exact (every row) and at each nprobe, on the queries stored beside the bundle
// (bench/ivf/make-data.py). Results land in `window.edgerecIvf` for scripts/bench-ivf.mjs.
import { loadBundle, ScoringEngine } from '../pkg/dist/index.js';
import { buildHnsw } from './hnsw.js';

const url = new URL(location.href);
// The manifest of a bundle with an IVF index and a queries.json beside it (scripts/bench-ivf.mjs).
const manifest = url.searchParams.get('bundle');
const k = Number(url.searchParams.get('k') ?? 100);
const nprobes = (url.searchParams.get('nprobe') ?? '1,2,4,8,16,32,64').split(',').map(Number);
const count = Number(url.searchParams.get('queries') ?? 100);
// hnswlib-wasm's search breadths on the same vectors (the bundle's, dequantized); none by default
// (its graph over 1M rows takes longer to build than the rest of the page).
const efs = (url.searchParams.get('hnsw') ?? '').split(',').filter(Boolean).map(Number);
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');

/**
 * Median ms per query over the query set, after one warm-up pass. Browsers coarsen
 * `performance.now()`, so each sample is one pass over every query, divided by their count.
 */
async function time(engine, queries) {
  const lists = [];
  for (const q of queries) lists.push(Array.from((await engine.topK(q, k)).ids));
  const samples = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    for (const q of queries) await engine.topK(q, k);
    samples.push((performance.now() - t0) / queries.length);
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[2], lists };
}

function recall(found, exact) {
  let hit = 0;
  let total = 0;
  for (let i = 0; i < exact.length; i++) {
    const want = new Set(exact[i]);
    total += want.size;
    for (const id of found[i]) if (want.has(id)) hit++;
  }
  return hit / total;
}

function show(row) {
  const tr = document.createElement('tr');
  for (const v of [row.search, row.ms.toFixed(3), row.recall.toFixed(3), `${row.speedup.toFixed(1)}×`]) {
    const td = document.createElement('td');
    td.textContent = v;
    tr.append(td);
  }
  tbody.append(tr);
}

async function main() {
  if (!manifest) throw new Error('?bundle=<manifest URL> is required: `make bench-ivf` builds one');
  summary.textContent = 'Loading the bundle…';
  const t0 = performance.now();
  const bundle = await loadBundle(manifest);
  const loadMs = performance.now() - t0;
  const stored = await (await fetch(new URL('queries.json', new URL(manifest, location.href)))).json();
  const queries = stored.queries.slice(0, count).map((q) => Float32Array.from(q));
  const engine = await ScoringEngine.fromBundle(bundle, { backend: 'cpu' });
  const results = [];
  try {
    summary.textContent = 'Exact scan…';
    const exact = await time(engine, queries);
    results.push({ search: 'exact (every row)', nprobe: null, ms: exact.ms, recall: 1, speedup: 1 });
    for (const nprobe of nprobes) {
      summary.textContent = `nprobe ${nprobe}…`;
      await engine.setNprobe(nprobe);
      const ivf = await time(engine, queries);
      results.push({ search: `IVF nprobe ${nprobe}`, nprobe, ms: ivf.ms, recall: recall(ivf.lists, exact.lists), speedup: exact.ms / ivf.ms });
    }
    if (efs.length) {
      summary.textContent = 'Building the HNSW graph…';
      const vectors = bundle.itemEmbeddings();
      const { index, buildMs } = await buildHnsw(vectors, bundle.itemCount, bundle.embeddingDim, 'cosine');
      for (const ef of efs) {
        summary.textContent = `hnswlib ef ${ef}…`;
        index.setEfSearch(ef);
        const timed = await time({ topK: async (q) => ({ ids: index.searchKnn(q, k, undefined).neighbors }) }, queries);
        results.push({ search: `hnswlib-wasm ef ${ef} (M 16, build ${(buildMs / 1000).toFixed(0)} s)`, ef, ms: timed.ms, recall: recall(timed.lists, exact.lists), speedup: exact.ms / timed.ms });
      }
    }
  } finally {
    engine.free();
  }
  results.forEach(show);
  // The typed errors of `setNprobe`: 0 lists, and an engine without an IVF index.
  const code = async (fn) => {
    try {
      await fn();
      return 'resolved';
    } catch (e) {
      return e.code ?? String(e);
    }
  };
  const errors = {};
  const again = await ScoringEngine.fromBundle(bundle, { backend: 'cpu' });
  errors.nprobeZero = await code(() => again.setNprobe(0));
  again.free();
  const plain = await ScoringEngine.create(new Float32Array(8), 4, { backend: 'cpu' });
  errors.noIvf = await code(() => plain.setNprobe(4));
  plain.free();
  window.edgerecIvf = { status: 'done', rows: bundle.itemCount, k, queries: queries.length, loadMs, results, errors, userAgent: navigator.userAgent };
  summary.textContent = `Done: top-${k}, ${queries.length} queries; bundle loaded and verified in ${(loadMs / 1000).toFixed(1)} s.`;
  document.body.dataset.status = 'done';
}

main().catch((e) => {
  window.edgerecIvf = { status: 'error', message: String(e?.stack ?? e) };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
});
