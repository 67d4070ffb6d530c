// Peer benchmark page: exact top-k over the same random N × dim matrix and the same query, timed
// in this one page for edgerec (CPU, through the npm package) and the libraries a front-end team
// would otherwise pick: a plain-JavaScript scan, TF.js on its WebAssembly backend, hnswlib-wasm
// (approximate HNSW) and voy (a k-d tree, Euclidean). Every list is checked against the exact
// top-k of the same metric (recall@k), so a fast wrong answer shows as such. Results land in
// `window.edgerecPeers` for scripts/bench-peers.mjs.
import { initEdgerec, loadedModule, cpuThreads, ScoringEngine } from '../pkg/dist/index.js';
import { coreEngine } from './core-engine.js';
import { ParallelScoringEngine } from '../pkg/dist/worker.js';
import { buildHnsw } from './hnsw.js';
import * as voyGlue from '../node_modules/voy-search/voy_search_bg.js';
import { randomData } from './rng.js';
import { medianCallMs } from './timing.js';

const url = new URL(location.href);
const rows = Number(url.searchParams.get('rows') ?? 100_000);
const dim = Number(url.searchParams.get('dim') ?? 64);
const k = Number(url.searchParams.get('k') ?? 100);
const iters = Number(url.searchParams.get('iters') ?? 100);
// hnswlib's search breadth: the ef = 64, and a larger one for a recall near the exact lists.
const efs = (url.searchParams.get('ef') ?? '64,800').split(',').map(Number);
// voy builds its k-d tree from a JS object per item; past ~100k rows that alone takes minutes.
const voyRows = Number(url.searchParams.get('voyRows') ?? Math.min(rows, 100_000));
// Which libraries to run (`libs=edgerec,plain,tfjs` at 1M rows, where an HNSW build takes long).
// `edgerec-threads`: the int8 scan of the `threads` module (shared memory, the page's thread and
// `navigator.hardwareConcurrency − 1` workers); `edgerec-workers`: split over Web Workers that
// share nothing (`ParallelScoringEngine`). `edgerec` rows are the single-threaded core.
const libs = new Set((url.searchParams.get('libs') ?? 'edgerec,edgerec-threads,edgerec-workers,plain,tfjs,hnswlib,voy').split(','));
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');

/** Median ms per call after a warm-up (www/timing.js); `fn` returns the ids it found. */
async function time(fn) {
  const { ms, first } = await medianCallMs(fn, iters);
  return { ms, ids: Array.from(first) };
}

/**
 * The plain-JavaScript scan a team would write first: one pass computing each row's score, a
 * size-k min-heap of the best (ties to the lower index), then sorted best first.
 */
export function plainTopK(items, dim, query, k, metric = 'dot') {
  const n = items.length / dim;
  const heapScore = new Float64Array(k);
  const heapId = new Int32Array(k);
  let size = 0;
  const worse = (a, b) => heapScore[a] < heapScore[b] || (heapScore[a] === heapScore[b] && heapId[a] > heapId[b]);
  const swap = (a, b) => {
    [heapScore[a], heapScore[b]] = [heapScore[b], heapScore[a]];
    [heapId[a], heapId[b]] = [heapId[b], heapId[a]];
  };
  const siftDown = (i) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(l, m)) m = l;
      if (r < size && worse(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (let row = 0; row < n; row++) {
    let s = 0;
    const base = row * dim;
    if (metric === 'dot') {
      for (let d = 0; d < dim; d++) s += items[base + d] * query[d];
    } else {
      for (let d = 0; d < dim; d++) {
        const diff = items[base + d] - query[d];
        s -= diff * diff;
      }
    }
    if (size < k) {
      heapScore[size] = s;
      heapId[size] = row;
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(i, p)) break;
        swap(i, p);
        i = p;
      }
    } else if (s > heapScore[0]) {
      heapScore[0] = s;
      heapId[0] = row;
      siftDown(0);
    }
  }
  const order = Array.from({ length: size }, (_, i) => i);
  order.sort((a, b) => heapScore[b] - heapScore[a] || heapId[a] - heapId[b]);
  return Int32Array.from(order, (i) => heapId[i]);
}

const recall = (found, exact) => {
  const want = new Set(exact);
  let hit = 0;
  for (const id of found) if (want.has(Number(id))) hit++;
  return hit / exact.length;
};

/** Loads a classic (UMD) script once; TF.js' ESM builds import Node modules the browser lacks. */
function script(src) {
  return new Promise((resolve, reject) => {
    const el = document.createElement('script');
    el.src = src;
    el.onload = resolve;
    el.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.append(el);
  });
}

async function tfjsWasm(items, query) {
  await script('../node_modules/@tensorflow/tfjs-core/dist/tf-core.min.js');
  await script('../node_modules/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js');
  const tf = globalThis.tf;
  tf.wasm.setWasmPaths(new URL('../node_modules/@tensorflow/tfjs-backend-wasm/dist/', location.href).href);
  if (!(await tf.setBackend('wasm'))) throw new Error('TF.js wasm backend did not initialise');
  const matrix = tf.tensor2d(items, [rows, dim]);
  const q = tf.tensor2d(query, [dim, 1]);
  try {
    const run = async () => {
      const { values, indices } = tf.tidy(() => tf.topk(tf.reshape(tf.matMul(matrix, q), [rows]), k));
      const ids = await indices.data();
      values.dispose();
      indices.dispose();
      return ids;
    };
    return { ...(await time(run)), note: `TF.js ${tf.version_core}, ${tf.getBackend()} backend` };
  } finally {
    matrix.dispose();
    q.dispose();
  }
}

let hnswIndex; // built once, searched at every ef
async function hnsw(items, query, ef) {
  let buildNote = '';
  if (!hnswIndex) {
    const built = await buildHnsw(items, rows, dim, 'ip');
    hnswIndex = built.index;
    buildNote = `; build ${(built.buildMs / 1000).toFixed(1)} s`;
  }
  hnswIndex.setEfSearch(ef);
  const r = await time(() => hnswIndex.searchKnn(query, k, undefined).neighbors);
  // hnswlib returns the farthest of the k first; order does not matter for recall.
  return { ...r, note: `M = 16, efConstruction = 200, ef = ${ef}${buildNote}` };
}

async function voy(items, query) {
  // voy ships a bundler-target wasm-bindgen package (`import * as wasm from '…wasm'`), which a
  // browser cannot import directly: instantiate its module against its own glue, as a bundler would.
  const glueUrl = new URL('../node_modules/voy-search/voy_search_bg.wasm', import.meta.url);
  const { instance } = await WebAssembly.instantiateStreaming(fetch(glueUrl), { './voy_search_bg.js': voyGlue });
  voyGlue.__wbg_set_wasm(instance.exports);
  const embeddings = Array.from({ length: voyRows }, (_, i) => ({
    id: String(i),
    title: '',
    url: '',
    embeddings: Array.from(items.subarray(i * dim, (i + 1) * dim)),
  }));
  const t0 = performance.now();
  const index = new voyGlue.Voy({ embeddings });
  const buildMs = performance.now() - t0;
  try {
    const r = await time(() => index.search(query, k).neighbors.map((n) => Number(n.id)));
    return { ...r, note: `Euclidean k-d tree over the first ${voyRows} rows; build ${(buildMs / 1000).toFixed(1)} s` };
  } finally {
    index.free();
  }
}

function show(row) {
  const tr = document.createElement('tr');
  const cells = [row.library, row.exact ? 'exact' : 'approximate', row.metric, row.error ?? row.medianMs.toFixed(3),
    row.error ? '' : row.recall.toFixed(3), row.error ? '' : `${row.vsEdgerecInt8.toFixed(1)}×`, row.note ?? ''];
  for (const v of cells) {
    const td = document.createElement('td');
    td.textContent = String(v);
    tr.append(td);
  }
  tbody.append(tr);
}

async function main() {
  if (libs.has('edgerec-threads')) await initEdgerec(undefined, { module: 'threads' });
  const items = randomData(rows * dim, rows);
  const query = randomData(dim, 7);
  const exactDot = Array.from(plainTopK(items, dim, query, k));
  const exactL2 = libs.has('voy') ? Array.from(plainTopK(items.subarray(0, voyRows * dim), dim, query, k, 'l2')) : [];
  const runs = [];
  for (const dtype of ['int8', 'f32', 'f16']) {
    runs.push({ key: 'edgerec', library: `edgerec ${dtype}`, exact: true, metric: 'dot', run: async () => {
      const engine = await coreEngine(items, dim, dtype);
      try {
        return { ...(await time(async () => (await engine.topK(query, k)).ids)), note: `CPU (WebAssembly SIMD), ${dtype} storage, one thread` };
      } finally {
        engine.free();
      }
    } });
  }
  runs.push({ key: 'edgerec-threads', library: `edgerec int8, ${cpuThreads()} threads`, exact: true, metric: 'dot', run: async () => {
    const engine = await ScoringEngine.create(items, dim, { backend: 'cpu', dtype: 'int8' });
    try {
      return { ...(await time(async () => (await engine.topK(query, k)).ids)), note: `the ${loadedModule()} module: ${cpuThreads()} threads on shared memory` };
    } finally {
      engine.free();
    }
  } });
  runs.push({ key: 'edgerec-workers', library: `edgerec int8, ${navigator.hardwareConcurrency} workers`, exact: true, metric: 'dot', run: async () => {
    const engine = await ParallelScoringEngine.create(items, dim, { dtype: 'int8', threads: navigator.hardwareConcurrency });
    try {
      return { ...(await time(async () => (await engine.topK(query, k)).ids)), note: `ParallelScoringEngine (edgerec/worker): ${engine.threads} shards, one Web Worker each` };
    } finally {
      engine.free();
    }
  } });
  runs.push({ key: 'plain', library: 'plain JavaScript', exact: true, metric: 'dot', run: async () => ({ ...(await time(() => plainTopK(items, dim, query, k))), note: 'Float32Array scan + min-heap' }) });
  runs.push({ key: 'tfjs', library: 'TF.js', exact: true, metric: 'dot', run: () => tfjsWasm(items, query) });
  for (const ef of efs) runs.push({ key: 'hnswlib', library: `hnswlib-wasm ef=${ef}`, exact: false, metric: 'dot', run: () => hnsw(items, query, ef) });
  runs.push({ key: 'voy', library: 'voy', exact: false, metric: 'l2', run: () => voy(items, query) });
  const results = [];
  for (const { key, run, ...row } of runs.filter((r) => libs.has(r.key))) {
    summary.textContent = `Running ${row.library} (${rows} × ${dim}, top-${k})…`;
    try {
      const { ms, ids, note } = await run();
      results.push({ ...row, medianMs: ms, recall: recall(ids, row.metric === 'dot' ? exactDot : exactL2), returned: ids.length, note });
    } catch (e) {
      results.push({ ...row, error: String(e?.message ?? e) });
    }
  }
  const base = results.find((r) => r.library === 'edgerec int8' && !r.error)?.medianMs;
  for (const r of results) {
    if (!r.error) r.vsEdgerecInt8 = r.medianMs / base;
    show(r);
  }
  window.edgerecPeers = { status: 'done', rows, dim, k, iters, efs, voyRows, results, userAgent: navigator.userAgent, cores: navigator.hardwareConcurrency };
  summary.textContent = `Done: ${rows} × ${dim}, top-${k}, median of ${iters} single-query calls.`;
  document.body.dataset.status = 'done';
}

main().catch((e) => {
  window.edgerecPeers = { status: 'error', message: String(e?.message ?? e) };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
});
