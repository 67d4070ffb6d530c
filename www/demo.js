// Demo: runs the scoring kernel through the npm package (imported from pkg/ only) and checks it
// against the scalar CPU reference. The outcome is also published on `window.edgerecDemo` (and
// `document.body.dataset.status`) for the end-to-end test.
import { ScoringEngine, referenceTopK, isEdgerecError, loadedModule, cpuThreads } from '../pkg/dist/index.js';
import { mulberry32 } from './rng.js';

const REL_TOL = 1e-4;
const form = document.querySelector('#controls');
const summary = document.querySelector('#summary');
const tbody = document.querySelector('#results tbody');


function randomMatrix(rows, dim, seed) {
  const next = mulberry32(seed);
  const items = new Float32Array(rows * dim).map(() => next() * 2 - 1);
  const query = new Float32Array(dim).map(() => next() * 2 - 1);
  return { items, query };
}

// Same rule as the Rust parity suite: scores within 1e-4 relative; ids equal except near-ties.
function compare(got, ref) {
  const problems = [];
  for (let i = 0; i < ref.ids.length; i++) {
    const tol = REL_TOL * Math.max(Math.abs(ref.scores[i]), 1e-30);
    if (Math.abs(got.scores[i] - ref.scores[i]) > tol) problems.push(`rank ${i}: score ${got.scores[i]} vs ${ref.scores[i]}`);
    if (got.ids[i] !== ref.ids[i] && !(Math.abs(got.scores[i] - ref.scores[i]) <= tol)) problems.push(`rank ${i}: item ${got.ids[i]} vs ${ref.ids[i]}`);
  }
  return problems;
}

function params() {
  const url = new URL(location.href);
  const get = (name, fallback) => url.searchParams.get(name) ?? fallback;
  return {
    backend: get('backend', 'auto'),
    rows: Number(get('rows', 50000)),
    dim: Number(get('dim', 64)),
    k: Number(get('k', 10)),
    seed: Number(get('seed', 42)),
  };
}

async function run(p) {
  document.body.dataset.status = 'running';
  summary.className = '';
  summary.textContent = `Running: ${p.rows} items × ${p.dim}, top-${p.k}, backend ${p.backend}…`;
  tbody.replaceChildren();
  let engine;
  try {
    const { items, query } = randomMatrix(p.rows, p.dim, p.seed);
    const t0 = performance.now();
    engine = await ScoringEngine.create(items, p.dim, { backend: p.backend });
    const t1 = performance.now();
    await engine.topK(query, p.k); // warm-up: pipelines and buffers are built on first use
    const t2 = performance.now();
    const got = await engine.topK(query, p.k);
    const t3 = performance.now();
    const ref = await referenceTopK(items, p.dim, query, p.k);
    const problems = compare(got, ref);
    const result = {
      status: 'done',
      requested: p.backend,
      // Which build of the engine the page downloaded: 'gpu' where WebGPU offers an adapter.
      module: loadedModule(),
      backend: engine.backend,
      reason: engine.backendReason,
      adapter: engine.adapter ?? null,
      ids: Array.from(got.ids),
      scores: Array.from(got.scores),
      refIds: Array.from(ref.ids),
      refScores: Array.from(ref.scores),
      matches: problems.length === 0,
      problems,
      timings: { createMs: t1 - t0, firstQueryMs: t2 - t1, queryMs: t3 - t2 },
    };
    window.edgerecDemo = result;
    summary.className = result.matches ? 'ok' : 'mismatch';
    summary.textContent =
      `Backend: ${result.backend}${result.adapter ? ` (adapter: ${result.adapter})` : ''}\n` +
      `Why: ${result.reason}\n` +
      `Module: ${{ gpu: 'full (WebGPU + CPU)', threads: `threads (CPU, ${cpuThreads()} threads)`, core: 'core (CPU only)' }[result.module]}\n` +
      `Query: ${result.timings.queryMs.toFixed(2)} ms (first: ${result.timings.firstQueryMs.toFixed(2)} ms, setup: ${result.timings.createMs.toFixed(1)} ms)\n` +
      (result.matches ? 'Matches the CPU reference ✓' : `Differs from the CPU reference:\n${problems.join('\n')}`);
    for (let i = 0; i < got.ids.length; i++) {
      const tr = document.createElement('tr');
      if (got.ids[i] !== ref.ids[i]) tr.className = 'differs';
      for (const v of [i + 1, got.ids[i], got.scores[i].toFixed(5), ref.ids[i], ref.scores[i].toFixed(5)]) {
        const td = document.createElement('td');
        td.textContent = String(v);
        tr.append(td);
      }
      tbody.append(tr);
    }
    document.body.dataset.status = 'done';
  } catch (e) {
    const code = isEdgerecError(e) ? e.code : 'UNEXPECTED';
    window.edgerecDemo = { status: 'error', code, message: String(e?.message ?? e) };
    summary.textContent = `Error ${code}: ${e?.message ?? e}`;
    document.body.dataset.status = 'error';
  } finally {
    engine?.free();
  }
}

const initial = params();
for (const [name, value] of Object.entries(initial)) {
  if (form.elements[name]) form.elements[name].value = value;
}
form.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = Object.fromEntries(new FormData(form));
  const url = new URL(location.href);
  for (const [name, value] of Object.entries(data)) url.searchParams.set(name, value);
  history.replaceState(null, '', url);
  run({ backend: data.backend, rows: Number(data.rows), dim: Number(data.dim), k: Number(data.k), seed: Number(data.seed) });
});
run(initial);
