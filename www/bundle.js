// Bundle demo: loadBundle with progress, then a ScoringEngine over the bundle's item index —
// "items like this one" by the model's own similarity. Defaults to the shipped MovieLens model.
// Publishes the outcome on `window.edgerecBundle` for the end-to-end test.
import { loadBundle, ScoringEngine, isEdgerecError } from '../pkg/dist/index.js';
import { cell } from './dom.js';

const url = new URL(location.href);
const manifest = url.searchParams.get('manifest') ?? '../models/movielens-small/manifest.json';
const backend = url.searchParams.get('backend') ?? 'auto';
const bar = document.querySelector('#progress');
const summary = document.querySelector('#summary');
const picker = document.querySelector('#item');
const tbody = document.querySelector('#results tbody');
const progress = [];

try {
  const t0 = performance.now();
  const bundle = await loadBundle(manifest, {
    onProgress: (p) => {
      progress.push(p);
      bar.max = p.total;
      bar.value = p.loaded;
      summary.textContent = `Downloading ${p.file}: ${(p.loaded / 1e6).toFixed(2)} / ${(p.total / 1e6).toFixed(2)} MB`;
    },
  });
  const loadMs = performance.now() - t0;
  const engine = await ScoringEngine.fromBundle(bundle, { backend });
  const dim = bundle.embeddingDim;
  const embeddings = bundle.itemEmbeddings();
  const k = Math.min(10, bundle.itemCount);
  const similarTo = async (row) => {
    const top = await engine.topK(embeddings.slice(row * dim, (row + 1) * dim), k);
    return Array.from(top.ids, (id, i) => ({ row: id, id: bundle.itemId(id), title: bundle.itemTitle(id), tags: bundle.itemTags(id), score: top.scores[i] }));
  };
  const show = async (row) => {
    const rows = await similarTo(row);
    tbody.replaceChildren();
    rows.forEach((r, i) => {
      const tr = document.createElement('tr');
      for (const v of [i + 1, r.title || r.id, r.tags.join(', '), r.score.toFixed(4)]) cell(tr, v);
      tbody.append(tr);
    });
    return rows;
  };
  for (let row = 0; row < Math.min(bundle.itemCount, 300); row++) {
    const option = document.createElement('option');
    option.value = String(row);
    option.textContent = bundle.itemTitle(row) || bundle.itemId(row);
    picker.append(option);
  }
  picker.addEventListener('change', () => show(Number(picker.value)));
  const top = await show(0);
  window.edgerecBundle = {
    status: 'done',
    modelId: bundle.modelId,
    modelVersion: bundle.modelVersion,
    itemCount: bundle.itemCount,
    dim,
    signatureVerified: bundle.signatureVerified,
    backend: engine.backend,
    progress,
    top,
    firstItem: bundle.itemId(0),
  };
  summary.textContent = `${bundle.modelId} ${bundle.modelVersion}: ${bundle.itemCount} items × ${dim}, loaded and verified in ${loadMs.toFixed(0)} ms; scoring on ${engine.backend} (${engine.backendReason})`;
  document.body.dataset.status = 'done';
} catch (e) {
  window.edgerecBundle = { status: 'error', code: isEdgerecError(e) ? e.code : 'UNEXPECTED', message: String(e?.message ?? e), progress };
  summary.textContent = `Error: ${e?.message ?? e}`;
  document.body.dataset.status = 'error';
}
