// "For you": the on-device Recommender over the shipped MovieLens model. Clicking a row records
// the click (the user embedding updates locally) and re-renders; state persists in IndexedDB.
// Exposes `window.edgerecDemo` for the end-to-end test.
import { loadBundle, Recommender, isEdgerecError } from '../pkg/dist/index.js';
import { itemRow } from './dom.js';

const url = new URL(location.href);
const manifest = url.searchParams.get('manifest') ?? '../models/movielens-small/manifest.json';
const backend = url.searchParams.get('backend') ?? 'auto';
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');
const historyList = document.querySelector('#history');
const storageNote = document.querySelector('#storage');

try {
  const bundle = await loadBundle(manifest);
  const rec = await Recommender.create(bundle, { backend });
  const report = rec.restoreReport;
  storageNote.textContent = report.storage === 'memory' ? `state kept in memory only: ${report.message}` : 'state kept in IndexedDB';
  let last = [];

  const render = async () => {
    const { items, trace } = await rec.recommend({ k: 20 });
    last = items.map((item) => ({ ...item, tags: bundle.itemTags(item.row) }));
    tbody.replaceChildren(...last.map((item, i) => itemRow(item, i, click, item.tags)));
    const history = await rec.history();
    historyList.replaceChildren(...history.map((h) => {
      const li = document.createElement('li');
      const row = bundle.rowOf(h.item);
      li.textContent = row === undefined ? h.item : bundle.itemTitle(row);
      return li;
    }));
    const channels = trace.recall.map((c) => `${c.name} ${c.kept}/${c.produced}`).join(', ');
    summary.textContent = `${trace.cold ? 'New user: popular and fresh picks' : `Personalized from ${history.length} interactions`}; ` +
      `ordered by ${trace.orderedBy}; ${trace.candidates} candidates (${channels}); ` +
      `user ${trace.timings.userMs.toFixed(1)} ms, recall ${trace.timings.recallMs.toFixed(1)} ms, rank ${trace.timings.rankMs.toFixed(1)} ms, re-rank ${trace.timings.rerankMs.toFixed(1)} ms on ${rec.backend}`;
    return last;
  };

  const click = async (id) => {
    const outcome = await rec.record(id);
    if (!outcome.persisted) storageNote.textContent = `not saved (${outcome.code}): kept in memory`;
    return render();
  };

  document.querySelector('#forget').addEventListener('click', async () => {
    await rec.forget();
    await render();
  });

  await render();
  window.edgerecDemo = {
    click,
    recommend: () => render(),
    history: () => rec.history(),
    forget: async () => { await rec.forget(); return render(); },
    restoreReport: report,
    backend: rec.backend,
    tagsOf: (id) => bundle.itemTags(bundle.rowOf(id)),
    recordRaw: (id, options) => rec.record(id, options),
  };
  document.body.dataset.status = 'done';
} catch (e) {
  window.edgerecDemo = { status: 'error', code: isEdgerecError(e) ? e.code : 'UNEXPECTED', message: String(e?.message ?? e) };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
}
