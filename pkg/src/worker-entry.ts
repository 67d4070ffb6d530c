/**
 * `edgerec/worker-entry` — the worker side of `WorkerRecommender` (`edgerec/worker`): runs a
 * {@link Recommender} in a dedicated Web Worker and answers the main thread's calls; it is also
 * the worker of each shard of a `ParallelScoringEngine` (one CPU `ScoringEngine` over its rows).
 *
 * `WorkerRecommender.load` starts this module for you
 * (`new Worker(new URL('./worker-entry.js', import.meta.url), { type: 'module' })`). To run it in
 * a worker of your own (one that does other work too), call {@link exposeRecommender} in that
 * worker's module and pass the worker as `options.worker`:
 *
 * @example
 * ```ts
 * // my-worker.js, started with new Worker(new URL('./my-worker.js', import.meta.url), { type: 'module' })
 * import { exposeRecommender } from 'edgerec/worker-entry';
 * exposeRecommender();
 * ```
 *
 * @module
 */
import { Recommender, ScoringEngine, type LoadBundleOptions, type RecommenderOptions, type ScoringEngineOptions, type SearchOptions } from './index.js';
import type { RecommenderEvents } from './sync.js';
import { TAG, serializeError, type WorkerMessage, type WorkerRecommenderState, type WorkerRequest } from './worker-protocol.js';

/** What a dedicated worker's global scope offers (typed here: the package compiles against DOM). */
export interface WorkerScope {
  /** Sends a message to the page (`transfer`: buffers handed over instead of copied). */
  postMessage(message: unknown, transfer?: Transferable[]): void;
  /** Receives the page's messages. */
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}

/** The `Recommender` methods the main thread may call. */
const CALLS = new Set([
  'recommend', 'record', 'impression', 'markShown', 'history', 'query', 'resetUser', 'blockItem',
  'blockAttribute', 'clearBlocklist', 'importHistory', 'save', 'forget', 'flush', 'checkForUpdate',
  'rollback', 'trackCustom',
]);

const EVENTS: (keyof RecommenderEvents)[] = ['modelupdate', 'error', 'flush', 'experiments', 'updateprogress'];

let exposed = false;

/**
 * Serves one {@link Recommender} to a `WorkerRecommender` (`edgerec/worker`) over this worker's messages.
 * Called when this module is a worker's entry; call it yourself when you import it into a worker
 * module of your own. A second call does nothing.
 */
export function exposeRecommender(scope: WorkerScope = globalThis as unknown as WorkerScope): void {
  if (exposed) return;
  exposed = true;
  let rec: Recommender | undefined;
  /** The rows of one `ParallelScoringEngine` shard, when this worker serves one. */
  let shard: ScoringEngine | undefined;
  /** Calls started and not settled yet: `free` waits for them. */
  const inFlight = new Set<Promise<unknown>>();

  const post = (message: WorkerMessage, transfer: Transferable[] = []) => scope.postMessage(message, transfer);

  const state = (): WorkerRecommenderState | undefined => {
    if (!rec) return undefined;
    try {
      return {
        backend: rec.backend,
        backendReason: rec.backendReason,
        modelVersion: rec.modelVersion,
        restoreReport: rec.restoreReport,
        syncStatus: rec.syncStatus,
      };
    } catch {
      return undefined; // freed
    }
  };

  const load = async (id: number, [url, options]: unknown[]): Promise<void> => {
    if (rec) throw Object.assign(new Error('this worker already runs a recommender'), { name: 'EdgerecError', code: 'INVALID_ARGUMENT' });
    const opts = options as RecommenderOptions & LoadBundleOptions & { progress?: boolean };
    const { progress, ...rest } = opts;
    const loaded = await Recommender.load(url as string, {
      ...rest,
      onProgress: progress ? (p) => post({ tag: TAG, id, progress: p }) : undefined,
    });
    rec = loaded;
    for (const name of EVENTS) {
      loaded.on(name, (value) => {
        post({ tag: TAG, event: name, value: name === 'error' ? serializeError(value) : value, state: state() });
      });
    }
  };

  const handle = async ({ id, method, args }: WorkerRequest): Promise<unknown> => {
    if (method === 'load') return load(id, args);
    if (method === 'state') return undefined; // the reply carries it
    if (method === 'free') {
      await Promise.allSettled([...inFlight]);
      rec?.free();
      rec = undefined;
      shard?.free();
      shard = undefined;
      return undefined;
    }
    if (method === 'shardCreate') {
      if (rec || shard) throw Object.assign(new Error('this worker already runs an engine'), { name: 'EdgerecError', code: 'INVALID_ARGUMENT' });
      const [items, dim, options] = args as [Float32Array, number, ScoringEngineOptions];
      shard = await ScoringEngine.create(items, dim, { ...options, backend: 'cpu' });
      return undefined;
    }
    if (method === 'shardSearch') {
      if (!shard) throw Object.assign(new Error('the worker holds no shard'), { name: 'EdgerecError', code: 'INVALID_ARGUMENT' });
      const [queries, k, options] = args as [Float32Array, number, SearchOptions];
      return shard.search(queries, k, options);
    }
    if (!CALLS.has(method)) throw new Error(`edgerec worker: unknown method ${method}`);
    if (!rec) throw Object.assign(new Error('the worker runs no recommender (not loaded, or freed)'), { name: 'EdgerecError', code: 'INVALID_ARGUMENT' });
    const fn = (rec as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method];
    return fn.apply(rec, args);
  };

  scope.addEventListener('message', (event: MessageEvent) => {
    const request = event.data as WorkerRequest | undefined;
    if (!request || request.tag !== TAG) return;
    const call = handle(request);
    inFlight.add(call);
    const fail = (e: unknown) => post({ tag: TAG, id: request.id, ok: false, error: serializeError(e), state: state() });
    call.then(
      (value) => {
        inFlight.delete(call);
        const transfer: Transferable[] = [];
        if (value instanceof Float32Array) {
          // query(): hand the buffer over instead of copying it (copy first if it is a view).
          const own = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice();
          value = own;
          transfer.push(own.buffer as ArrayBuffer);
        }
        try {
          post({ tag: TAG, id: request.id, ok: true, value, state: state() }, transfer);
        } catch (e) {
          fail(e); // not cloneable (cannot happen with the Recommender's results)
        }
      },
      (e: unknown) => {
        inFlight.delete(call);
        fail(e);
      },
    );
  });
}

// This module is the worker's entry: start serving at once. Guarded so that importing it
// outside a worker (a test, a server-side build) does nothing.
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined') exposeRecommender();
