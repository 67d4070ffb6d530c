// The `threads` module against the single-threaded core on the same matrix: identical lists
// first, then the time per single query. Results land in `window.edgerecThreads` for the e2e
// test (tests/e2e/threads.test.mjs) and the benchmark runners.
import { initEdgerec, loadedModule, cpuThreads, ScoringEngine } from '../pkg/dist/index.js';
import { coreEngine } from './core-engine.js';
import { scanCases, scanParams, sameList as same } from './scan-cases.js';
import { medianCallMs } from './timing.js';
import { cell } from './dom.js';

const url = new URL(location.href);
const { rows, dim, k, iters, dtypes } = scanParams(url);
const threads = url.searchParams.get('threads') ? Number(url.searchParams.get('threads')) : undefined;
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');

const time = async (fn) => (await medianCallMs(fn, iters)).ms;

async function main() {
  await initEdgerec(undefined, { module: 'threads', threads });
  const info = { module: loadedModule(), threads: cpuThreads(), crossOriginIsolated: globalThis.crossOriginIsolated === true };
  // Enough candidates to be split too (4,096 rows per thread at least).
  const { items, queries, cases } = scanCases(rows, dim, 12_000);
  const checks = [];
  const timings = [];
  for (const dtype of dtypes) {
    for (const similarity of ['dot', 'cosine']) {
      summary.textContent = `Checking ${dtype} ${similarity}…`;
      const single = await coreEngine(items, dim, dtype, similarity);
      const threaded = await ScoringEngine.create(items, dim, { backend: 'cpu', dtype, similarity });
      try {
        for (const [name, options] of cases) {
          const a = await single.search(queries, k, options);
          const b = await threaded.search(queries, k, options);
          checks.push({ dtype, similarity, case: name, same: a.length === b.length && a.every((r, i) => same(r, b[i])) });
        }
        if (similarity === 'dot') {
          summary.textContent = `Timing ${dtype}…`;
          const query = queries.subarray(dim, 2 * dim);
          const singleMs = await time(() => single.topK(query, k));
          const threadedMs = await time(() => threaded.topK(query, k));
          timings.push({ dtype, singleMs, threads: info.threads, threadedMs, speedup: singleMs / threadedMs });
          const tr = document.createElement('tr');
          for (const v of [dtype, singleMs.toFixed(3), info.threads, threadedMs.toFixed(3), `${(singleMs / threadedMs).toFixed(2)}×`]) cell(tr, v);
          tbody.append(tr);
        }
      } finally {
        single.free();
        threaded.free();
      }
    }
  }
  window.edgerecThreads = { status: 'done', ...info, rows, dim, k, iters, checks, timings, cores: navigator.hardwareConcurrency, userAgent: navigator.userAgent };
  const failed = checks.filter((c) => !c.same);
  summary.textContent = failed.length
    ? `Lists differ: ${JSON.stringify(failed)}`
    : `Identical lists in ${checks.length} cases on ${info.threads} threads (${info.module} module); ${rows} × ${dim}, top-${k}.`;
  document.body.dataset.status = 'done';
}

main().catch((e) => {
  window.edgerecThreads = { status: 'error', message: String(e?.stack ?? e) };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
});
