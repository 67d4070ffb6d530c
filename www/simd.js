// One build of the core module (simd128 or relaxed SIMD, `?simd=`), its CPU top-k lists and its
// time per query. Results land in `window.edgerecSimd` for the e2e test
// (tests/e2e/simd.test.mjs), which loads the page once per build and compares the lists.
import * as edgerec from '../pkg/dist/index.js';
import { randomData } from './rng.js';
import { medianCallMs } from './timing.js';

const { ScoringEngine, initEdgerec } = edgerec;
const url = new URL(location.href);
const rows = Number(url.searchParams.get('rows') ?? 100_000);
const dim = Number(url.searchParams.get('dim') ?? 64);
const k = Number(url.searchParams.get('k') ?? 100);
const iters = Number(url.searchParams.get('iters') ?? 50);
const dtypes = (url.searchParams.get('dtypes') ?? 'int8,f32,f16').split(',');
const simd = url.searchParams.get('simd') ?? undefined;
const wasm = url.searchParams.get('wasm') ?? undefined;
const module = url.searchParams.get('module') ?? 'core';
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');

/** Scores as their f32 bit patterns: equal bits are `Object.is`-equal scores, and survive JSON. */
const bits = (scores) => Array.from(new Uint32Array(Float32Array.from(scores).buffer));

async function main() {
  await initEdgerec(wasm, { module, simd });
  const build = edgerec.loadedSimd?.() ?? 'simd128';
  const items = randomData(rows * dim, rows);
  // Exact ties: copies of row 0 spread over the matrix.
  for (const copy of [Math.floor(rows / 3), Math.floor(rows / 2), rows - 1]) items.copyWithin(copy * dim, 0, dim);
  const queries = randomData(3 * dim, 11);
  queries.set(items.subarray(0, dim), 0); // the first query sits on the duplicated row
  const exclude = Uint32Array.from({ length: 50 }, (_, i) => (i * 7919) % rows);
  const candidates = Uint32Array.from({ length: Math.min(rows, 5000) }, (_, i) => (i * 104729) % rows);
  const lists = [];
  const timings = [];
  for (const dtype of dtypes) {
    for (const similarity of ['dot', 'cosine']) {
      summary.textContent = `${build}: ${dtype} ${similarity}…`;
      const engine = await ScoringEngine.create(items, dim, { backend: 'cpu', dtype, similarity });
      try {
        for (const [name, options] of [['plain', {}], ['exclude', { exclude }], ['candidates', { candidates }], ['both', { exclude, candidates }]]) {
          const results = await engine.search(queries, k, options);
          lists.push({ dtype, similarity, case: name, results: results.map((r) => ({ ids: Array.from(r.ids), scores: bits(r.scores) })) });
        }
        if (similarity === 'dot') {
          const query = queries.subarray(dim, 2 * dim);
          const { ms } = await medianCallMs(() => engine.topK(query, k), iters);
          timings.push({ dtype, ms });
          const tr = document.createElement('tr');
          for (const v of [build, dtype, ms.toFixed(3)]) {
            const td = document.createElement('td');
            td.textContent = String(v);
            tr.append(td);
          }
          tbody.append(tr);
        }
      } finally {
        engine.free();
      }
    }
  }
  window.edgerecSimd = { status: 'done', build, rows, dim, k, iters, lists, timings, userAgent: navigator.userAgent };
  summary.textContent = `${build}: ${lists.length} lists; ${rows} × ${dim}, top-${k}.`;
  document.body.dataset.status = 'done';
}

main().catch((e) => {
  window.edgerecSimd = { status: 'error', message: String(e?.stack ?? e) };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
});
