// Worker mode: the on-device Recommender runs in a dedicated Web Worker (`edgerec/worker`); this
// page only sends calls and renders the answers. Exposes `window.edgerecWorker` for the
// end-to-end test (tests/e2e/worker.test.mjs).
import { WorkerRecommender, isEdgerecError } from '../pkg/dist/worker.js';
import { itemRow } from './dom.js';

const url = new URL(location.href);
const manifest = url.searchParams.get('manifest') ?? '/models/movielens-small/manifest.json';
const backend = url.searchParams.get('backend') ?? 'auto';
const store = url.searchParams.get('store') ?? 'indexeddb';
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');
const storageNote = document.querySelector('#storage');

try {
  const started = performance.now();
  const rec = await WorkerRecommender.load(manifest, { backend, store });
  const loadMs = performance.now() - started;
  const report = rec.restoreReport;
  storageNote.textContent = report.storage === 'memory' ? `state kept in memory (${report.message ?? store})` : 'state kept in IndexedDB';
  let last = [];

  const render = (items, trace) => {
    last = items;
    tbody.replaceChildren(...items.map((item, i) => itemRow(item, i, click)));
    summary.textContent = `${trace.cold ? 'New user: popular and fresh picks' : 'Personalized'}; ordered by ${trace.orderedBy}; ` +
      `${trace.candidates} candidates; ${trace.timings.totalMs.toFixed(1)} ms in the worker on ${rec.backend}; ` +
      `model ${rec.modelVersion} loaded in ${loadMs.toFixed(0)} ms`;
    return items;
  };

  const recommend = async (options = { k: 20 }) => {
    const { items, trace } = await rec.recommend(options);
    return render(items, trace);
  };

  // One click: record it in the worker, then fetch and render the new list.
  const click = async (id, options) => {
    const outcome = await rec.record(id, options);
    if (!outcome.persisted) storageNote.textContent = `not saved (${outcome.code}): kept in memory`;
    return recommend();
  };

  document.querySelector('#burst').addEventListener('click', async () => {
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) await click(last[i % Math.max(1, last.length)].id);
    const s = (performance.now() - t0) / 1000;
    storageNote.textContent = `50 clicks in ${s.toFixed(2)} s: ${(50 / s).toFixed(1)} clicks/s`;
  });
  document.querySelector('#forget').addEventListener('click', async () => {
    await rec.forget();
    await recommend();
  });

  await recommend();
  window.edgerecWorker = {
    rec,
    click,
    recommend,
    get last() { return last; },
    backend: rec.backend,
    restoreReport: report,
    loadMs,
  };
  document.body.dataset.status = 'done';
} catch (e) {
  window.edgerecWorker = { status: 'error', code: isEdgerecError(e) ? e.code : 'UNEXPECTED', message: String(e?.message ?? e) };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
}
