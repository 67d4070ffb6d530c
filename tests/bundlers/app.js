// What every consumer app does (the test copies this file into each consumer): load the shipped
// bundle, one click, a top-10 — on the CPU path, so every bundler must give the same ids.
import { loadBundle, Recommender } from 'edgerec';
import { installOfflineCache } from 'edgerec/sw';

export async function run(before = async () => {}) {
  window.hasSw = typeof installOfflineCache === 'function';
  try {
    await before();
    const bundle = await loadBundle('/models/movielens-small/manifest.json');
    const rec = await Recommender.create(bundle, { backend: 'cpu', store: 'memory' });
    await rec.record('1');
    const { items } = await rec.recommend({ k: 10 });
    window.result = items.map((i) => i.id);
  } catch (e) {
    window.error = String(e?.stack ?? e);
  }
}
