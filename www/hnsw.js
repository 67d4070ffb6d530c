// hnswlib-wasm (the devDependency) as the benchmark pages build it: the approximate peer that
// www/peers.html and www/ivf.html compare edgerec with. M = 16, efConstruction = 200.
import { loadHnswlib } from '../node_modules/hnswlib-wasm/dist/hnswlib.js';

/** An HNSW index over `rows × dim` floats (`space`: `ip`, `cosine` or `l2`), and its build time. */
export async function buildHnsw(items, rows, dim, space = 'ip') {
  const lib = await loadHnswlib();
  const index = new lib.HierarchicalNSW(space, dim, '');
  index.initIndex(rows, 16, 200, 100);
  const t0 = performance.now();
  const vectors = Array.from({ length: rows }, (_, i) => items.subarray(i * dim, (i + 1) * dim));
  index.addPoints(vectors, Array.from({ length: rows }, (_, i) => i), false);
  return { index, buildMs: performance.now() - t0 };
}
