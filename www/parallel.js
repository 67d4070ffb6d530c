// ParallelScoringEngine against ScoringEngine (CPU) on the same matrix: identical lists first,
// then the time per single query. Results land in `window.edgerecParallel` for the e2e test
// (tests/e2e/parallel.test.mjs) and scripts/bench-peers.mjs.
import { initEdgerec, ScoringEngine } from '../pkg/dist/index.js';
import { ParallelScoringEngine } from '../pkg/dist/worker.js';
import { randomData } from './rng.js';
import { medianCallMs } from './timing.js';

const url = new URL(location.href);
const rows = Number(url.searchParams.get('rows') ?? 200_000);
const dim = Number(url.searchParams.get('dim') ?? 64);
const k = Number(url.searchParams.get('k') ?? 100);
const iters = Number(url.searchParams.get('iters') ?? 50);
const threads = url.searchParams.get('threads') ? Number(url.searchParams.get('threads')) : undefined;
const dtypes = (url.searchParams.get('dtypes') ?? 'int8,f32,f16').split(',');
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');

/** Median ms per call after a warm-up (www/timing.js). */
const time = async (fn) => (await medianCallMs(fn, iters)).ms;

const same = (a, b) => a.ids.length === b.ids.length && a.ids.every((id, i) => id === b.ids[i] && Object.is(a.scores[i], b.scores[i]));

async function main() {
  // The single-threaded core is the reference here (and uses no worker of its own).
  await initEdgerec(undefined, { module: 'core' });
  const items = randomData(rows * dim, rows);
  // Exact ties across shard boundaries: copies of row 0 spread over the matrix, so a merge that
  // broke ties by shard instead of by row would be caught.
  for (const copy of [Math.floor(rows / 3), Math.floor(rows / 2), rows - 1]) items.copyWithin(copy * dim, 0, dim);
  const queries = randomData(3 * dim, 11);
  queries.set(items.subarray(0, dim), 0); // the first query sits on the duplicated row
  const exclude = Uint32Array.from({ length: 50 }, (_, i) => (i * 7919) % rows);
  const candidates = Uint32Array.from({ length: Math.min(rows, 5000) }, (_, i) => (i * 104729) % rows);
  const checks = [];
  const timings = [];
  for (const dtype of dtypes) {
    for (const similarity of ['dot', 'cosine']) {
      summary.textContent = `Checking ${dtype} ${similarity}…`;
      const single = await ScoringEngine.create(items, dim, { backend: 'cpu', dtype, similarity });
      const parallel = await ParallelScoringEngine.create(items, dim, { dtype, similarity, threads });
      try {
        for (const [name, options] of [['plain', {}], ['exclude', { exclude }], ['candidates', { candidates }], ['both', { exclude, candidates }]]) {
          const a = await single.search(queries, k, options);
          const b = await parallel.search(queries, k, options);
          checks.push({ dtype, similarity, case: name, threads: parallel.threads, same: a.length === b.length && a.every((r, i) => same(r, b[i])) });
        }
        if (similarity === 'dot') {
          summary.textContent = `Timing ${dtype}…`;
          const query = queries.subarray(dim, 2 * dim);
          const singleMs = await time(() => single.topK(query, k));
          const parallelMs = await time(() => parallel.topK(query, k));
          timings.push({ dtype, singleMs, threads: parallel.threads, parallelMs, speedup: singleMs / parallelMs });
          const tr = document.createElement('tr');
          for (const v of [dtype, singleMs.toFixed(2), parallel.threads, parallelMs.toFixed(2), `${(singleMs / parallelMs).toFixed(2)}×`]) {
            const td = document.createElement('td');
            td.textContent = String(v);
            tr.append(td);
          }
          tbody.append(tr);
        }
      } finally {
        single.free();
        parallel.free();
      }
    }
  }
  window.edgerecParallel = { status: 'done', rows, dim, k, iters, checks, timings, cores: navigator.hardwareConcurrency, userAgent: navigator.userAgent };
  const failed = checks.filter((c) => !c.same);
  summary.textContent = failed.length ? `Lists differ: ${JSON.stringify(failed)}` : `Identical lists in ${checks.length} cases; ${rows} × ${dim}, top-${k}.`;
  document.body.dataset.status = 'done';
}

main().catch((e) => {
  window.edgerecParallel = { status: 'error', message: String(e?.stack ?? e) };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
});
