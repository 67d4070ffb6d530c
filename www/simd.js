// One build of the core module (simd128 or relaxed SIMD, `?simd=`), its CPU top-k lists and its
// time per query. Results land in `window.edgerecSimd` for the e2e test
// (tests/e2e/simd.test.mjs), which loads the page once per build and compares the lists.
import * as edgerec from '../pkg/dist/index.js';
import { scanCases, scanParams } from './scan-cases.js';
import { medianCallMs } from './timing.js';

const { ScoringEngine, initEdgerec } = edgerec;
const url = new URL(location.href);
const { rows, dim, k, iters, dtypes } = scanParams(url);
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
  const { items, queries, cases } = scanCases(rows, dim);
  const lists = [];
  const timings = [];
  for (const dtype of dtypes) {
    for (const similarity of ['dot', 'cosine']) {
      summary.textContent = `${build}: ${dtype} ${similarity}…`;
      const engine = await ScoringEngine.create(items, dim, { backend: 'cpu', dtype, similarity });
      try {
        for (const [name, options] of cases) {
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
