// Bundle loading demo: loadBundle with progress, then a ScoringEngine over the bundle's index.
// Publishes the outcome on `window.edgerecBundle` for the end-to-end test.
import { loadBundle, ScoringEngine, isEdgerecError } from '../pkg/dist/index.js';

const url = new URL(location.href);
const manifest = url.searchParams.get('manifest') ?? '../models/fixture/manifest.json';
const backend = url.searchParams.get('backend') ?? 'auto';
const bar = document.querySelector('#progress');
const summary = document.querySelector('#summary');
const progress = [];

try {
  const bundle = await loadBundle(manifest, {
    onProgress: (p) => {
      progress.push(p);
      bar.max = p.total;
      bar.value = p.loaded;
    },
  });
  const engine = await ScoringEngine.fromBundle(bundle, { backend });
  const dim = bundle.embeddingDim;
  const query = bundle.itemEmbeddings().slice(0, dim); // item 0's own vector
  const top = await engine.topK(query, Math.min(10, bundle.itemCount));
  const rows = Array.from(top.ids, (id, i) => ({ id: bundle.itemId(id), score: top.scores[i] }));
  window.edgerecBundle = {
    status: 'done',
    modelId: bundle.modelId,
    modelVersion: bundle.modelVersion,
    itemCount: bundle.itemCount,
    dim,
    signatureVerified: bundle.signatureVerified,
    backend: engine.backend,
    progress,
    top: rows,
    firstItem: bundle.itemId(0),
  };
  summary.textContent = `${bundle.modelId} ${bundle.modelVersion}: ${bundle.itemCount} items × ${dim}, backend ${engine.backend}`;
  const tbody = document.querySelector('#results tbody');
  rows.forEach((r, i) => {
    const tr = document.createElement('tr');
    for (const v of [i + 1, r.id, r.score.toFixed(4)]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    tbody.append(tr);
  });
  document.body.dataset.status = 'done';
} catch (e) {
  window.edgerecBundle = { status: 'error', code: isEdgerecError(e) ? e.code : 'UNEXPECTED', message: String(e?.message ?? e), progress };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
}
