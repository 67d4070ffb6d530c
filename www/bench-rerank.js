// Re-rank benchmark in the browser (wasm): DPP, DPP with a window of 10, and MMR on the reference
// fixtures (N = 1000, k = 50). Each timing is the mean over a batch of calls (browsers coarsen
// performance.now), median of several batches. Selections are checked against the fixtures first.
import { dppSelect, dppSelectEmbeddings, mmrSelect, DppKernel, MmrIndex } from '../pkg/dist/index.js';
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

/**
 * Chen et al.'s fast greedy MAP (Alg. 1) in plain JavaScript, shared by the two baselines below:
 * `di2` starts as the diagonal of L, `kernelRow(j, out)` writes row j of L (the only rows the
 * algorithm reads). Float64Array throughout, ties to the lower index, ε = 1e-10.
 */
function plainFastGreedy(n, k, di2, kernelRow) {
  const cis = new Float64Array(k * n);
  const row = new Float64Array(n);
  const chosen = new Uint8Array(n);
  const picks = [];
  let j = 0;
  for (let i = 1; i < n; i++) if (di2[i] > di2[j]) j = i;
  while (picks.length < k && di2[j] >= 1e-10) {
    picks.push(j);
    chosen[j] = 1;
    if (picks.length === k) break;
    const t = picks.length - 1;
    const dj = Math.sqrt(di2[j]);
    kernelRow(j, row);
    for (let i = 0; i < n; i++) {
      if (chosen[i]) continue;
      let acc = 0;
      for (let r = 0; r < t; r++) acc += cis[r * n + j] * cis[r * n + i];
      const e = (row[i] - acc) / dj;
      cis[t * n + i] = e;
      di2[i] -= e * e;
    }
    j = -1;
    for (let i = 0; i < n; i++) if (!chosen[i] && (j < 0 || di2[i] > di2[j])) j = i;
    if (j < 0) break;
  }
  return picks;
}

/**
 * The funnel's form in plain JavaScript, for the ratio of `dppSelectEmbeddings`: the kernel
 * L = diag(q)·cos·diag(q), q = exp(α(s − max s)), its rows computed from the vectors on demand.
 */
export function plainDppEmbeddings(items, dim, scores, k, theta) {
  const n = scores.length;
  const alpha = theta / (2 * (1 - theta));
  let top = -Infinity;
  for (const s of scores) top = Math.max(top, s);
  const q = new Float64Array(n);
  const norm = new Float64Array(n);
  const di2 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    q[i] = Math.exp(alpha * (scores[i] - top));
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += items[i * dim + d] * items[i * dim + d];
    norm[i] = Math.sqrt(dot);
    di2[i] = q[i] * q[i];
  }
  return plainFastGreedy(n, k, di2, (j, out) => {
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += items[j * dim + d] * items[i * dim + d];
      out[i] = q[j] * q[i] * (norm[i] && norm[j] ? dot / (norm[i] * norm[j]) : 0);
    }
  });
}

/**
 * The same algorithm on an explicit n × n kernel, as a page would write it: the ratio for the
 * one-shot `dppSelect`, which also copies and checks the kernel.
 */
export function plainDppKernel(K, n, k) {
  const di2 = new Float64Array(n);
  for (let i = 0; i < n; i++) di2[i] = K[i * n + i];
  return plainFastGreedy(n, k, di2, (j, out) => out.set(K.subarray(j * n, (j + 1) * n)));
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
    plainKernelDpp: same(plainDppKernel(K, n, k), dppRef.selected),
  };
  for (const [key, v] of Object.entries(mmrRef).filter(([key]) => key.startsWith('lambda='))) {
    const lambda = Number(key.slice('lambda='.length));
    checks[key] = same(Array.from(await mmrSelect(items, dim, query, k, lambda)), v.selected);
  }
  // The selection itself, on a kernel / index already in wasm memory (as in the pipeline, which
  // builds them inside wasm), and — for reference — the one-shot calls that also copy the
  // 8 MB kernel across the JS boundary and validate it.
  // The funnel's form: item vectors + scores, low-rank kernel (no n × n matrix anywhere).
  const scores = Float64Array.from(items.subarray(0, n), (_, i) => {
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += items[i * dim + d] * query[d];
    return dot;
  });
  const lowRank = Array.from(await dppSelectEmbeddings(items, dim, scores, k, { theta: 0.7 }));
  checks.lowRankEqualsPlainJs = same(lowRank, plainDppEmbeddings(items, dim, scores, k, 0.7));
  const dpp = await DppKernel.create(K, n);
  const mmrIndex = await MmrIndex.create(items, dim);
  checks.heldDpp = same(Array.from(dpp.select(k)), dppRef.selected);
  checks.heldMmr = same(Array.from(mmrIndex.select(query, k, 0.5)), mmrRef['lambda=0.5'].selected);
  const results = [
    { algorithm: 'DPP', ms: await time(() => dpp.select(k), 50) },
    { algorithm: 'DPP window 10', ms: await time(() => dpp.select(k, { window: 10 }), 50) },
    { algorithm: 'MMR λ=0.5', ms: await time(() => mmrIndex.select(query, k, 0.5), 50) },
    { algorithm: 'DPP incl. 8 MB copy + validation (dppSelect)', ms: await time(() => dppSelect(K, n, k)) },
    { algorithm: 'DPP on the same kernel, plain JavaScript', ms: await time(async () => plainDppKernel(K, n, k), 50) },
    { algorithm: 'DPP from vectors + scores (dppSelectEmbeddings, one-shot)', ms: await time(() => dppSelectEmbeddings(items, dim, scores, k, { theta: 0.7 }), 50) },
    { algorithm: 'DPP from vectors + scores, plain JavaScript', ms: await time(async () => plainDppEmbeddings(items, dim, scores, k, 0.7), 50) },
    { algorithm: 'MMR incl. copy (mmrSelect)', ms: await time(() => mmrSelect(items, dim, query, k, 0.5)) },
  ];
  dpp.free();
  mmrIndex.free();
  return { n, k, checks, results };
}
