// A consumer of the published types under ordinary strict settings (lib ES2022 + DOM,
// skipLibCheck off): `tests/node/types.test.mjs` compiles it with tsc.
import {
  loadBundle,
  Recommender,
  ScoringEngine,
  isEdgerecError,
  type DiversityOptions,
  type Placement,
  type RecommendOptions,
  type RecommendResult,
  type RuleSpec,
  type TopK,
} from 'edgerec';
import {
  EdgerecError as WorkerEdgerecError,
  ParallelScoringEngine,
  WorkerRecommender,
  type ParallelScoringEngineOptions,
  type WorkerRecommenderState,
} from 'edgerec/worker';

const rules: RuleSpec[] = [
  { kind: 'max_consecutive', attribute: 'category', max: 2 },
  { kind: 'max_per_window', attribute: 'decade', window: 4, max: 1, hard: true },
  { kind: 'min_in_top', attribute: 'category', value: 'Comedy', top: 10, min: 2, priority: 3 },
  { kind: 'pin', item: '318', position: 0 },
];
const diversity: DiversityOptions = { method: 'dpp', theta: 0.9, window: 8, similarity: 'mix', mixWeight: 0.5 };

export async function feed(): Promise<RecommendResult> {
  const bundle = await loadBundle('/models/movielens-small/manifest.json', { onProgress: (p) => console.log(p.loaded, p.total) });
  const rec = await Recommender.create(bundle, { backend: 'auto', store: 'memory' });
  await rec.record('1', { kind: 'like' });
  const options: RecommendOptions = { k: 20, diversity, rules, candidates: [{ id: '1', score: 0.5 }] };
  try {
    const result = await rec.recommend(options);
    const why: Placement[] = result.items.map((i) => i.placedBy);
    console.log(why, result.trace.timings.totalMs, result.trace.relaxedRules);
    await rec.markShown(result.items.map((i) => i.id));
    return result;
  } catch (e) {
    if (isEdgerecError(e)) console.error(e.code);
    throw e;
  } finally {
    rec.free();
  }
}

export async function score(items: Float32Array): Promise<number> {
  const engine = await ScoringEngine.create(items, 64, { backend: 'cpu' });
  const top = await engine.topK(new Float32Array(64), 10);
  engine.free();
  return top.ids.length;
}

// Sync: events up, models and experiments down; `using` frees at the end of the scope.
export async function synced(): Promise<number> {
  using rec = await Recommender.load('/v1/models/latest', {
    publicKey: '00'.repeat(32),
    sync: { endpoint: 'https://api.example.com', token: 't', pollIntervalMs: 60_000 },
  });
  const off = rec.on('modelupdate', ({ from, to }) => console.log(from, to));
  rec.on('error', (e) => console.warn(isEdgerecError(e) ? e.code : e.message));
  const { items, trace } = await rec.recommend(10);
  await rec.impression(items.map((i) => i.id), trace.requestId);
  await rec.record(items[0].id, { requestId: trace.requestId, position: 0 });
  const report = await rec.flush();
  off();
  const status = rec.syncStatus;
  return report.accepted + (status?.pending ?? 0) + (rec.modelVersion.length > 0 ? 1 : 0);
}

// Worker mode: the same API from `edgerec/worker`, with cached getters and a custom worker.
export async function inWorker(custom?: Worker): Promise<number> {
  using rec = await WorkerRecommender.load('/models/movielens-small/manifest.json', {
    backend: 'auto',
    store: 'indexeddb',
    onProgress: (p) => console.log(p.loaded, p.total),
    ...(custom ? { worker: custom } : {}),
  });
  const off = rec.on('error', (e) => console.warn(isEdgerecError(e) ? e.code : e.message));
  const { items, trace }: RecommendResult = await rec.recommend({ k: 10, rules });
  await rec.impression(items.map((i) => i.id), trace.requestId);
  try {
    await rec.record('no-such-item', { kind: 'like' });
  } catch (e) {
    if (e instanceof WorkerEdgerecError && e.code === 'UNKNOWN_ITEM') console.log(e.message);
  }
  const query: Float32Array | undefined = await rec.query();
  const state: WorkerRecommenderState = await rec.refresh();
  off();
  return (query?.length ?? 0) + state.modelVersion.length + rec.backend.length + (rec.syncStatus?.pending ?? 0);
}

// Exact top-k split over Web Workers (`edgerec/worker`).
export async function everyCore(items: Float32Array, query: Float32Array): Promise<TopK> {
  const options: ParallelScoringEngineOptions = { dtype: 'int8', similarity: 'cosine', threads: 4 };
  using engine = await ParallelScoringEngine.create(items, 64, options);
  const [first]: TopK[] = await engine.search(query, 10, { exclude: [0], candidates: new Uint32Array([1, 2, 3]) });
  return engine.threads > 1 ? first : engine.topK(query, 10);
}
