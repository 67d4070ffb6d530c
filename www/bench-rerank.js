// Re-rank benchmark in the browser (wasm): DPP, DPP with a window of 10, and MMR on the reference
// fixtures (N = 1000, k = 50). Each timing is the mean over a batch of calls (browsers coarsen
// performance.now), median of several batches. Selections are checked against the fixtures first.
import { dppSelect, mmrSelect, DppKernel, MmrIndex } from '../pkg/dist/index.js';
import { parseNpy } from './npy.js';

const fixtures = '../tests/fixtures/';
const load = async (name) => parseNpy(await (await fetch(fixtures + name)).arrayBuffer());
const json = async (name) => (await fetch(fixtures + name)).json();

async function time(fn, batch = 20, batches = 7) {
  await fn();
  const samples = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) await fn();
    samples.push((performance.now() - t0) / batch);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

export async function benchRerank() {
  const kernel = await load('dpp_kernel_n1000_d64_seed42.npy');
  const dppRef = await json('dpp_n1000_d64_k50_seed42.json');
  const E = await load('mmr_E_n1000_d64_seed2024.npy');
  const q = await load('mmr_q_d64_seed2024.npy');
  const mmrRef = await json('mmr_n1000_d64_k50_seed2024.json');
  const n = kernel.shape[0];
  const dim = E.shape[1];
  const k = 50;
  const K = Float64Array.from(kernel.data);
  const items = Float64Array.from(E.data);
  const query = Float64Array.from(q.data);
  const checks = {
    dpp: same(Array.from(await dppSelect(K, n, k)), dppRef.selected),
    dppWindow10: same(Array.from(await dppSelect(K, n, k, { window: 10 })), dppRef.selected_sw_window10),
  };
  for (const [key, v] of Object.entries(mmrRef).filter(([key]) => key.startsWith('lambda='))) {
    const lambda = Number(key.slice('lambda='.length));
    checks[key] = same(Array.from(await mmrSelect(items, dim, query, k, lambda)), v.selected);
  }
  // The selection itself, on a kernel / index already in wasm memory (as in the pipeline, which
  // builds them inside wasm), and — for reference — the one-shot calls that also copy the
  // 8 MB kernel across the JS boundary and validate it.
  const dpp = await DppKernel.create(K, n);
  const mmrIndex = await MmrIndex.create(items, dim);
  checks.heldDpp = same(Array.from(dpp.select(k)), dppRef.selected);
  checks.heldMmr = same(Array.from(mmrIndex.select(query, k, 0.5)), mmrRef['lambda=0.5'].selected);
  const results = [
    { algorithm: 'DPP', ms: await time(() => dpp.select(k), 50) },
    { algorithm: 'DPP window 10', ms: await time(() => dpp.select(k, { window: 10 }), 50) },
    { algorithm: 'MMR λ=0.5', ms: await time(() => mmrIndex.select(query, k, 0.5), 50) },
    { algorithm: 'DPP incl. 8 MB copy + validation (dppSelect)', ms: await time(() => dppSelect(K, n, k)) },
    { algorithm: 'MMR incl. copy (mmrSelect)', ms: await time(() => mmrSelect(items, dim, query, k, 0.5)) },
  ];
  dpp.free();
  mmrIndex.free();
  return { n, k, checks, results };
}
