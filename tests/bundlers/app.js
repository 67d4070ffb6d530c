// What every consumer app does (the test copies this file into each consumer): load the shipped
// bundle, one click, a top-10 — on the CPU path, so every bundler must give the same ids. With
// `worker`, the same again through `WorkerRecommender.load` from `edgerec/worker`: the engine in
// the package's Web Worker (its entry and the wasm resolved by the bundler from inside the worker).
import { dppSelectEmbeddings, loadBundle, loadedModule, Recommender } from 'edgerec';
import { installOfflineCache } from 'edgerec/sw';
import { WorkerRecommender } from 'edgerec/worker';

// The kernels module, fetched on the first one-shot re-rank call: a second wasm the bundler must
// have emitted. Three items, two alike: DPP keeps the best one and the unlike one.
window.kernels = async () => {
  const vectors = new Float32Array([1, 0, 0.8, 0.6, 0, 1]);
  return Array.from(await dppSelectEmbeddings(vectors, 2, new Float32Array([1, 0.9, 0.5]), 2));
};

export async function run(before = async () => {}, { worker = false } = {}) {
  window.hasSw = typeof installOfflineCache === 'function';
  try {
    await before();
    const bundle = await loadBundle('/models/movielens-small/manifest.json');
    const rec = await Recommender.create(bundle, { backend: 'cpu', store: 'memory' });
    await rec.record('1');
    const { items } = await rec.recommend({ k: 10 });
    if (worker) {
      const off = await WorkerRecommender.load('/models/movielens-small/manifest.json', { backend: 'cpu', store: 'memory' });
      await off.record('1');
      window.workerResult = (await off.recommend({ k: 10 })).items.map((i) => i.id);
      off.free();
    }
    window.module = loadedModule();
    window.result = items.map((i) => i.id);
  } catch (e) {
    window.error = String(e?.stack ?? e);
  }
}
