// What every consumer app does (the test copies this file into each consumer): load the shipped
// bundle, one click, a top-10 — on the CPU path, so every bundler must give the same ids. With
// `worker`, the same again through `WorkerRecommender.load` from `edgerec/worker`: the engine in
// the package's Web Worker (its entry and the wasm resolved by the bundler from inside the worker).
import { loadBundle, loadedModule, Recommender } from 'edgerec';
import { installOfflineCache } from 'edgerec/sw';
import { WorkerRecommender } from 'edgerec/worker';

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
