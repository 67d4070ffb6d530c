// ParallelScoringEngine against ScoringEngine (CPU) on the same matrix: identical lists first,
// then the time per single query. Results land in `window.edgerecParallel` for the e2e test
// (tests/e2e/parallel.test.mjs) and scripts/bench-peers.mjs.
import { initEdgerec, ScoringEngine } from '../pkg/dist/index.js';
import { ParallelScoringEngine } from '../pkg/dist/worker.js';
import { scanCases, scanParams, sameList as same } from './scan-cases.js';
import { medianCallMs } from './timing.js';

const url = new URL(location.href);
const { rows, dim, k, iters, dtypes } = scanParams(url, { rows: 200_000 });
const threads = url.searchParams.get('threads') ? Number(url.searchParams.get('threads')) : undefined;
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');

/** Median ms per call after a warm-up (www/timing.js). */
const time = async (fn) => (await medianCallMs(fn, iters)).ms;

async function main() {
  // The single-threaded core is the reference here (and uses no worker of its own).
  await initEdgerec(undefined, { module: 'core' });
  const { items, queries, cases } = scanCases(rows, dim);
  const checks = [];
  const timings = [];
  for (const dtype of dtypes) {
    for (const similarity of ['dot', 'cosine']) {
      summary.textContent = `Checking ${dtype} ${similarity}…`;
      const single = await ScoringEngine.create(items, dim, { backend: 'cpu', dtype, similarity });
      const parallel = await ParallelScoringEngine.create(items, dim, { dtype, similarity, threads });
      try {
        for (const [name, options] of cases) {
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
