// The built npm package in Node: no WebGPU there, so `auto` and `webgpu` must fall back to the
// CPU path (never throw), and bad input must reject with typed EdgerecErrors.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { ScoringEngine, referenceTopK, isEdgerecError, dppSelect, dppSelectEmbeddings, mmrSelect, loadedModule } from '../../pkg/dist/index.js';

function matrix(rows, dim, seed = 1) {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  return { items: Float32Array.from({ length: rows * dim }, next), query: Float32Array.from({ length: dim }, next) };
}

async function rejectsWith(promiseOrFn, code) {
  await assert.rejects(async () => (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn), (e) => {
    assert.ok(isEdgerecError(e), `expected an EdgerecError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

test('auto and webgpu fall back to the CPU in Node and say why', async () => {
  const { items } = matrix(100, 8);
  for (const backend of ['auto', 'webgpu']) {
    const engine = await ScoringEngine.create(items, 8, { backend });
    assert.equal(engine.backend, 'cpu');
    assert.match(engine.backendReason, /unavailable/);
    assert.match(engine.backendReason, /navigator\.gpu/);
    assert.equal(await engine.currentBackend(), 'cpu');
    engine.free();
  }
  // Node has no navigator.gpu: the CPU-only core module is the one loaded.
  assert.equal(loadedModule(), 'core');
});

test('topK matches the reference', async () => {
  const dim = 33;
  const { items, query } = matrix(5000, dim, 7);
  const engine = await ScoringEngine.create(items, dim, { backend: 'cpu' });
  for (const k of [1, 10, 1024]) {
    const got = await engine.topK(query, k);
    const ref = await referenceTopK(items, dim, query, k);
    assert.ok(got.ids instanceof Uint32Array && got.scores instanceof Float32Array);
    assert.equal(got.ids.length, k);
    for (let i = 0; i < k; i++) {
      assert.ok(Math.abs(got.scores[i] - ref.scores[i]) <= 1e-4 * Math.max(1, Math.abs(ref.scores[i])), `rank ${i}`);
      if (got.ids[i] !== ref.ids[i]) {
        // A genuine near-tie: the item returned here truly scores (in f64) within the tolerance
        // of the reference's item at this rank.
        let exact = 0;
        for (let j = 0; j < dim; j++) exact += items[got.ids[i] * dim + j] * query[j];
        assert.ok(Math.abs(exact - ref.scores[i]) <= 1e-4 * Math.max(1, Math.abs(ref.scores[i])), `rank ${i}: item ${got.ids[i]} (${exact}) is not a near-tie of ${ref.ids[i]} (${ref.scores[i]})`);
      }
    }
    assert.equal(new Set(got.ids).size, k, 'ids unique');
  }
  engine.free();
});

test('concurrent queries are queued, not rejected', async () => {
  const { items, query } = matrix(2000, 16, 3);
  const engine = await ScoringEngine.create(items, 16, { backend: 'cpu' });
  const results = await Promise.all(Array.from({ length: 8 }, () => engine.topK(query, 5)));
  for (const r of results) assert.deepEqual(Array.from(r.ids), Array.from(results[0].ids));
  engine.free();
});

test('bad input rejects with typed error codes', async () => {
  const { items, query } = matrix(10, 4);
  const engine = await ScoringEngine.create(items, 4, { backend: 'cpu' });
  await rejectsWith(engine.topK(new Float32Array(3), 1), 'DIMENSION_MISMATCH');
  await rejectsWith(engine.topK(query, 0), 'INVALID_K');
  await rejectsWith(engine.topK(query, 11), 'INVALID_K');
  await rejectsWith(engine.topK(query, -1), 'INVALID_K');
  await rejectsWith(engine.topK(Float32Array.of(1, NaN, 0, 0), 1), 'NON_FINITE');
  await rejectsWith(engine.topK(Float32Array.of(1, Infinity, 0, 0), 1), 'NON_FINITE');
  await rejectsWith(() => ScoringEngine.create(new Float32Array(0), 4), 'EMPTY_INDEX');
  await rejectsWith(() => ScoringEngine.create(new Float32Array(5), 4), 'SHAPE_MISMATCH');
  await rejectsWith(() => ScoringEngine.create(Float32Array.of(1, NaN), 2), 'NON_FINITE');
  await rejectsWith(() => ScoringEngine.create(items, 4, { backend: 'cuda' }), 'INVALID_ARGUMENT');
  await rejectsWith(() => referenceTopK(items, 4, query, 0), 'INVALID_K');
  // The engine keeps working after rejected calls.
  assert.equal((await engine.topK(query, 3)).ids.length, 3);
  engine.free();
  await rejectsWith(() => engine.topK(query, 1), 'INVALID_ARGUMENT');
});

test('search: batches, exclusions, candidates, dtypes and cosine', async () => {
  const dim = 16;
  const { items, query } = matrix(3000, dim, 11);
  const queries = new Float32Array(dim * 2);
  queries.set(query, 0);
  queries.set(query.map((x) => -x), dim);
  for (const dtype of ['f32', 'f16', 'int8']) {
    for (const similarity of ['dot', 'cosine']) {
      const engine = await ScoringEngine.create(items, dim, { backend: 'cpu', dtype, similarity });
      const [first, second] = await engine.search(queries, 10);
      assert.equal(first.ids.length, 10);
      assert.equal(second.ids.length, 10);
      // The negated query ranks the other end of the catalogue.
      assert.ok(first.scores[0] > 0 && second.scores[0] > 0, `${dtype}/${similarity}`);
      assert.equal(new Set([...first.ids, ...second.ids]).size, 20, `${dtype}/${similarity}`);
      if (similarity === 'cosine') assert.ok(first.scores[0] <= 1 + 1e-6);
      // Excluding the best item promotes the runner-up; candidates restrict the pool.
      const [without] = await engine.search(query, 10, { exclude: [first.ids[0]] });
      assert.ok(!Array.from(without.ids).includes(first.ids[0]));
      assert.equal(without.ids[0], first.ids[1]);
      const [only] = await engine.search(query, 3, { candidates: [5, 6, 7, 8] });
      assert.ok(Array.from(only.ids).every((id) => [5, 6, 7, 8].includes(id)));
      engine.free();
    }
  }
  await rejectsWith(() => ScoringEngine.create(items, dim, { dtype: 'int4' }), 'INVALID_ARGUMENT');
  await rejectsWith(() => ScoringEngine.create(items, dim, { similarity: 'l2' }), 'INVALID_ARGUMENT');
  const engine = await ScoringEngine.create(items, dim, { backend: 'cpu' });
  await rejectsWith(engine.search(query, 2, { candidates: [1, 1] }), 'INVALID_ARGUMENT');
  await rejectsWith(engine.search(query, 5, { candidates: [1, 2] }), 'INVALID_K');
  await rejectsWith(engine.search(new Float32Array(dim + 1), 1), 'DIMENSION_MISMATCH');
  engine.free();
});

test('dppSelect and mmrSelect reproduce the reference fixtures', async () => {
  const { readFile } = await import('node:fs/promises');
  const { parseNpy } = await import('../../www/npy.js');
  const fx = (name) => new URL(`../fixtures/${name}`, import.meta.url);
  const npy = async (name) => { const b = await readFile(fx(name)); return parseNpy(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); };
  const kernel = await npy('dpp_kernel_n1000_d64_seed42.npy');
  const dppRef = JSON.parse(await readFile(fx('dpp_n1000_d64_k50_seed42.json'), 'utf8'));
  assert.deepEqual(Array.from(await dppSelect(kernel.data, 1000, 50)), dppRef.selected);
  assert.deepEqual(Array.from(await dppSelect(kernel.data, 1000, 50, { window: 10 })), dppRef.selected_sw_window10);
  const E = await npy('mmr_E_n1000_d64_seed2024.npy');
  const q = await npy('mmr_q_d64_seed2024.npy');
  const mmrRef = JSON.parse(await readFile(fx('mmr_n1000_d64_k50_seed2024.json'), 'utf8'));
  let lambdas = 0;
  for (const [key, v] of Object.entries(mmrRef)) {
    if (!key.startsWith('lambda=')) continue;
    lambdas++;
    assert.deepEqual(Array.from(await mmrSelect(E.data, 64, q.data, 50, Number(key.slice(7)))), v.selected, key);
  }
  assert.equal(lambdas, 3);
  await rejectsWith(dppSelect([1, 2, 3, 4], 2, 1), 'KERNEL_NOT_SYMMETRIC');
  await rejectsWith(dppSelect([1, 0, 0, 1], 2, 3), 'INVALID_K');
  await rejectsWith(mmrSelect([1, 0, 0, 1], 2, [1, 0], 1, 1.5), 'INVALID_ARGUMENT');
});

test('the TypeScript ErrorCode union is generated from every code the engine can throw', async () => {
  const rust = await readFile(new URL('../../src/error.rs', import.meta.url), 'utf8');
  const ts = await readFile(new URL('../../pkg/src/error-codes.ts', import.meta.url), 'utf8');
  const codes = [...rust.matchAll(/=> "([A-Z_]+)"/g)].map((m) => m[1]);
  assert.ok(codes.length >= 35, `${codes.length} codes found`);
  for (const code of codes) assert.ok(ts.includes(`'${code}'`), `ErrorCode lacks ${code}`);
  const check = spawnSync(process.execPath, [new URL('../../scripts/gen-error-codes.mjs', import.meta.url).pathname, '--check']);
  assert.equal(check.status, 0, String(check.stderr));
});

test('dppSelectEmbeddings picks what dppSelect picks on the same quality kernel, with typed errors', async () => {
  const n = 300, dim = 32, k = 20, theta = 0.7; // k ≤ dim: the kernel has rank dim
  const { items } = matrix(n, dim, 7);
  const { items: raw } = matrix(n, 1, 11);
  const scores = Float64Array.from(raw, (x) => x * 3);
  // The kernel the low-rank path never builds: L_ij = q_i·cos(i, j)·q_j, q = exp(α(s − max s)).
  const alpha = theta / (2 * (1 - theta));
  const top = Math.max(...scores);
  const q = Array.from(scores, (s) => Math.exp(alpha * (s - top)));
  const norm = Array.from({ length: n }, (_, i) => Math.hypot(...items.subarray(i * dim, (i + 1) * dim)));
  const kernel = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += items[i * dim + d] * items[j * dim + d];
      kernel[i * n + j] = q[i] * (i === j ? 1 : dot / (norm[i] * norm[j])) * q[j];
    }
  }
  for (const window of [undefined, 5]) {
    const lowRank = Array.from(await dppSelectEmbeddings(items, dim, scores, k, { theta, window }));
    assert.equal(lowRank.length, k);
    assert.deepEqual(lowRank, Array.from(await dppSelect(kernel, n, k, { window })), `window ${window}`);
  }
  await rejectsWith(dppSelectEmbeddings(items, dim, scores.subarray(1), k), 'LENGTH_MISMATCH');
  await rejectsWith(dppSelectEmbeddings(items, dim, scores, k, { theta: 1 }), 'INVALID_ARGUMENT');
  await rejectsWith(dppSelectEmbeddings(items, dim, scores, 0), 'INVALID_K');
});

test('initEdgerec picks the build: the full module on request, same results as the core', () => {
  // The first initEdgerec decides for the process, so each build runs in its own Node process.
  const script = (module) => `
    import { initEdgerec, loadedModule, ScoringEngine } from '${new URL('../../pkg/dist/index.js', import.meta.url).href}';
    await initEdgerec(undefined, { module: '${module}' });
    const items = Float32Array.from({ length: 400 * 8 }, (_, i) => Math.sin(i * 0.37));
    const engine = await ScoringEngine.create(items, 8, { backend: 'auto' });
    const top = await engine.topK(items.subarray(0, 8), 5);
    console.log(JSON.stringify({ module: loadedModule(), backend: engine.backend, reason: engine.backendReason, ids: Array.from(top.ids) }));
  `;
  const run = (module) => {
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script(module)], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    return JSON.parse(out.stdout.trim().split('\n').pop());
  };
  const [core, gpu] = [run('core'), run('gpu')];
  assert.equal(core.module, 'core');
  assert.equal(gpu.module, 'gpu');
  // Node has no WebGPU: the full module says so (it has the GPU path, not the adapter).
  assert.equal(gpu.backend, 'cpu');
  assert.match(gpu.reason, /navigator\.gpu/);
  assert.match(core.reason, /core module/);
  assert.deepEqual(gpu.ids, core.ids);
});
