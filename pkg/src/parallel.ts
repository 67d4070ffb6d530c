/**
 * Exact top-k over several cores: the rows are split into contiguous shards, one per dedicated
 * Web Worker, each worker scans its shard with the CPU engine (wasm SIMD), and the page merges
 * the per-shard top-k lists. Each shard lives in one worker only (no copy of the whole matrix
 * per thread) and no `SharedArrayBuffer` is needed, so it works on any page, cross-origin
 * isolated or not.
 *
 * The result is the single-threaded engine's, bit for bit: every dtype quantizes and scores a row
 * on its own (int8's scale is per row, cosine normalizes per row), so a row scores the same in
 * a shard as in the whole matrix, and the merge keeps the engine's order (score descending,
 * exact ties to the lower row).
 *
 * @module
 */
import { EdgerecError, type DType, type SearchOptions, type Similarity, type TopK } from './index.js';
import { TAG, toError, type WorkerMessage, type WorkerRequest } from './worker-protocol.js';

/** Options of {@link ParallelScoringEngine.create}. */
export interface ParallelScoringEngineOptions {
  /**
   * Shards (one worker each). Default: `navigator.hardwareConcurrency` capped at 8, and no more
   * than one shard per 4,096 rows (below that a worker's round trip costs more than its scan).
   */
  threads?: number;
  /** Storage format of the item vectors, as for `ScoringEngine.create`. Default `f32`. */
  dtype?: DType;
  /** `dot` (default) or `cosine`. */
  similarity?: Similarity;
}

/** Rows per shard below which another worker does not pay for its round trip. */
const MIN_ROWS_PER_SHARD = 4096;

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** One worker and the rows `[offset, offset + rows)` it holds. */
class Shard {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    private readonly worker: Worker,
    readonly offset: number,
    readonly rows: number,
  ) {
    worker.addEventListener('message', (event: MessageEvent) => this.receive(event.data as WorkerMessage));
    worker.addEventListener('error', (event: Event) => {
      const detail = (event as ErrorEvent).message || 'the worker script could not be loaded';
      this.failAll(new EdgerecError('BACKEND_UNAVAILABLE', `an edgerec scan worker failed: ${detail}`));
    });
  }

  call<T>(method: string, args: unknown[], transfer: Transferable[] = []): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      try {
        this.worker.postMessage({ tag: TAG, id, method, args } satisfies WorkerRequest, transfer);
      } catch (e) {
        this.pending.delete(id);
        reject(e as Error);
      }
    });
  }

  private receive(message: WorkerMessage): void {
    if (!message || message.tag !== TAG || 'event' in message || 'progress' in message) return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.value);
    else pending.reject(toError(message.error));
  }

  failAll(error: Error): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  terminate(): void {
    this.worker.terminate();
    this.failAll(new EdgerecError('INVALID_ARGUMENT', 'this ParallelScoringEngine was freed'));
  }
}

/** The row ids of `ids` that fall in `shard`, made local to it. */
function localIds(ids: Uint32Array, shard: Shard): Uint32Array {
  const end = shard.offset + shard.rows;
  const local: number[] = [];
  for (const id of ids) if (id >= shard.offset && id < end) local.push(id - shard.offset);
  return Uint32Array.from(local);
}

/**
 * The best `k` of the shards' lists, each best first with shard-local ids: score descending, exact
 * ties to the lower global row, as the single-threaded engine orders them.
 *
 * @internal exported for the tests
 */
export function mergeShards(lists: { offset: number; ids: Uint32Array; scores: Float32Array }[], k: number): TopK {
  const all: { id: number; score: number }[] = [];
  for (const { offset, ids, scores } of lists) for (let i = 0; i < ids.length; i++) all.push({ id: ids[i] + offset, score: scores[i] });
  all.sort((a, b) => b.score - a.score || a.id - b.id);
  const best = all.slice(0, k);
  return { ids: Uint32Array.from(best, (c) => c.id), scores: Float32Array.from(best, (c) => c.score) };
}

/**
 * Exact top-k scoring split across Web Workers (see the module doc). Same results as
 * `ScoringEngine` on the CPU path; use it for large catalogues where one core is the limit.
 *
 * @example
 * ```ts
 * import { ParallelScoringEngine } from 'edgerec/worker';
 * const engine = await ParallelScoringEngine.create(items, 64, { dtype: 'int8' });
 * const { ids, scores } = await engine.topK(query, 100);
 * engine.free(); // terminates the workers
 * ```
 */
export class ParallelScoringEngine {
  private freed = false;

  private constructor(
    private readonly shards: Shard[],
    /** Rows of the matrix. */
    readonly rows: number,
    /** Values per row. */
    readonly dim: number,
  ) {}

  /**
   * Splits `items` (`rows × dim`, row-major) over the workers and builds each shard's engine
   * (quantized as `dtype`). Rejects with `INVALID_ARGUMENT` for a bad shape or option, with
   * `BACKEND_UNAVAILABLE` where there are no Web Workers (Node): use `ScoringEngine` there.
   */
  static async create(items: Float32Array, dim: number, options: ParallelScoringEngineOptions = {}): Promise<ParallelScoringEngine> {
    if (!Number.isInteger(dim) || dim <= 0 || items.length % dim !== 0 || items.length === 0) {
      throw new EdgerecError('INVALID_ARGUMENT', `items must hold rows × dim values with dim ≥ 1 (got ${items.length} values, dim ${dim})`);
    }
    if (typeof Worker === 'undefined') {
      throw new EdgerecError('BACKEND_UNAVAILABLE', 'Web Workers are not available here: use ScoringEngine');
    }
    const rows = items.length / dim;
    const cores = typeof navigator === 'undefined' ? 1 : navigator.hardwareConcurrency || 1;
    const wanted = options.threads ?? Math.min(8, cores);
    if (!Number.isInteger(wanted) || wanted < 1) throw new EdgerecError('INVALID_ARGUMENT', `threads must be a positive integer (got ${wanted})`);
    const count = Math.max(1, Math.min(wanted, options.threads === undefined ? Math.floor(rows / MIN_ROWS_PER_SHARD) : rows));
    const shards: Shard[] = [];
    for (let s = 0, offset = 0; s < count; s++) {
      const size = Math.floor(rows / count) + (s < rows % count ? 1 : 0);
      shards.push(new Shard(new Worker(new URL('./worker-entry.js', import.meta.url), { type: 'module' }), offset, size));
      offset += size;
    }
    const engine = new ParallelScoringEngine(shards, rows, dim);
    try {
      await Promise.all(
        shards.map((shard) => {
          const part = items.slice(shard.offset * dim, (shard.offset + shard.rows) * dim);
          return shard.call('shardCreate', [part, dim, { dtype: options.dtype, similarity: options.similarity }], [part.buffer]);
        }),
      );
    } catch (e) {
      engine.free();
      throw e;
    }
    return engine;
  }

  /** Workers the rows are split over. */
  get threads(): number {
    return this.shards.length;
  }

  /**
   * The best `k` rows for each query of a batch (`B × dim` floats), as `ScoringEngine.search`:
   * `exclude` leaves rows out, `candidates` scores only those rows (global row ids).
   */
  async search(queries: Float32Array, k: number, options: SearchOptions = {}): Promise<TopK[]> {
    if (this.freed) throw new EdgerecError('INVALID_ARGUMENT', 'this ParallelScoringEngine was freed');
    if (!Number.isInteger(k) || k < 1) throw new EdgerecError('INVALID_ARGUMENT', `k must be a positive integer (got ${k})`);
    if (queries.length === 0 || queries.length % this.dim !== 0) {
      throw new EdgerecError('INVALID_ARGUMENT', `queries must hold B × ${this.dim} values (got ${queries.length})`);
    }
    const exclude = options.exclude ? Uint32Array.from(options.exclude) : undefined;
    const candidates = options.candidates ? Uint32Array.from(options.candidates) : undefined;
    for (const ids of [exclude, candidates]) {
      for (const id of ids ?? []) if (id >= this.rows) throw new EdgerecError('INVALID_ARGUMENT', `row ${id} is out of range (${this.rows} rows)`);
    }
    const perShard = await Promise.all(
      this.shards.map(async (shard) => {
        const local = candidates ? localIds(candidates, shard) : undefined;
        if (local && local.length === 0) return undefined; // no candidate here
        const shardOptions: SearchOptions = { exclude: exclude && localIds(exclude, shard), candidates: local };
        const found = await shard.call<TopK[]>('shardSearch', [queries, Math.min(k, shard.rows), shardOptions]);
        return { offset: shard.offset, found };
      }),
    );
    const batch = queries.length / this.dim;
    const answered = perShard.filter((s): s is { offset: number; found: TopK[] } => s !== undefined);
    return Array.from({ length: batch }, (_, q) => mergeShards(answered.map(({ offset, found }) => ({ offset, ...found[q] })), k));
  }

  /** The best `k` rows for `query` (score desc, exact ties to the lower row). */
  async topK(query: Float32Array, k: number): Promise<TopK> {
    return (await this.search(query, k))[0];
  }

  /** Terminates the workers (a second call does nothing); pending calls reject. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const shard of this.shards) shard.terminate();
  }

  /** `using x = …` frees it at the end of the scope (same as {@link free}). */
  [Symbol.dispose](): void {
    this.free();
  }
}
