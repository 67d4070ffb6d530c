// The single-threaded core's engine, instantiated on its own next to whatever module
// `initEdgerec` loaded (the `threads` module on these isolated pages): the reference the
// threads page and the peers page compare and time the threaded engine against.
import initCore, * as core from '../pkg/wasm/edgerec.js';

let ready;

/** A CPU `ScoringEngine` of the core module, returning plain `{ ids, scores }` lists. */
export async function coreEngine(items, dim, dtype, similarity = 'dot') {
  ready ??= initCore({ module_or_path: new URL('../pkg/wasm/edgerec_bg.wasm', import.meta.url) });
  await ready;
  const engine = await core.ScoringEngine.create(items, dim, 'cpu', dtype, similarity);
  const take = (r) => {
    const out = { ids: r.ids, scores: r.scores };
    r.free();
    return out;
  };
  return {
    search: async (queries, k, { exclude, candidates } = {}) => (await engine.search(queries, k, exclude, candidates)).map(take),
    topK: async (query, k) => take(await engine.topK(query, k)),
    free: () => engine.free(),
  };
}
