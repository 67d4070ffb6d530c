// The installed package's declarations, resolved through its `exports` (no `paths` mapping):
// `tsc -p tsconfig.json` (moduleResolution Bundler) and again with NodeNext.
import { initEdgerec, loadBundle, Recommender, type RecommendResult } from 'edgerec';
import { installOfflineCache } from 'edgerec/sw';

export async function feed(): Promise<RecommendResult> {
  await initEdgerec();
  const bundle = await loadBundle('/models/movielens-small/manifest.json');
  const rec = await Recommender.create(bundle, { backend: 'cpu', store: 'memory' });
  await rec.record('1');
  return rec.recommend({ k: 10 });
}

export const hasSw: boolean = typeof installOfflineCache === 'function';
