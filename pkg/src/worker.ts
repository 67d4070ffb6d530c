/// <reference lib="esnext.disposable" preserve="true" />
/**
 * `edgerec/worker` — the whole engine in a dedicated Web Worker, behind the async API of
 * {@link Recommender}: downloading and validating the bundle, the wasm, scoring, recall, rank,
 * re-rank, storage and sync all run off the main thread, which only posts messages and receives
 * plain results.
 *
 * @example
 * ```ts
 * import { WorkerRecommender, isEdgerecError } from 'edgerec/worker';
 *
 * const rec = await WorkerRecommender.load('/models/movielens-small/manifest.json', { backend: 'auto' });
 * const { items, trace } = await rec.recommend({ k: 20 });
 * await rec.record(items[0].id, { requestId: trace.requestId, position: 0 });
 * try {
 *   await rec.record('no-such-item');
 * } catch (e) {
 *   if (isEdgerecError(e)) console.warn(e.code); // UNKNOWN_ITEM, as on the main thread
 * }
 * console.log(rec.backend, rec.modelVersion); // cached after each call
 * rec.free(); // terminates the worker
 * ```
 *
 * @module
 */
import {
  EdgerecError,
  type Backend,
  type BackendChoice,
  type BundleProgress,
  type ErrorCode,
  type FlushReport,
  type HistoryEntry,
  type InteractionKind,
  type RecommendOptions,
  type RecommenderConfig,
  type RecommendResult,
  type Recommender,
  type RecordOptions,
  type RestoreReport,
  type SaveOutcome,
  type SyncStatus,
} from './index.js';
import { Emitter, Scheduler, type RecommenderEvents, type SyncOptions } from './sync.js';
import { TAG, toError, type SerializedError, type WorkerMessage, type WorkerRecommenderState, type WorkerRequest } from './worker-protocol.js';

export { EdgerecError, isEdgerecError } from './index.js';
export { ParallelScoringEngine, type ParallelScoringEngineOptions } from './parallel.js';
export type {
  Backend,
  BackendChoice,
  BundleProgress,
  ErrorCode,
  FlushReport,
  HistoryEntry,
  InteractionKind,
  RecommendOptions,
  RecommendResult,
  RecordOptions,
  SaveOutcome,
  SyncStatus,
} from './index.js';
export type { RecommenderEvents, SyncOptions } from './sync.js';
export type { WorkerRecommenderState } from './worker-protocol.js';

/**
 * Options of {@link WorkerRecommender.load}: those of {@link Recommender.load} that can cross to
 * a worker. Functions and objects with methods cannot be sent to another thread, so there is no
 * custom store (use `'indexeddb'` — IndexedDB works in workers — or `'memory'`) and no custom
 * `fetch` (the worker uses its global `fetch`).
 */
export interface WorkerRecommenderOptions {
  /** `auto` (default), `webgpu` or `cpu`. WebGPU is available in dedicated workers. */
  backend?: BackendChoice;
  /**
   * `'indexeddb'` (default; database `edgerec`, the same as on the main thread) or `'memory'`.
   * A custom `KeyValueStore` object cannot cross threads and is rejected with `INVALID_ARGUMENT`.
   */
  store?: 'indexeddb' | 'memory';
  /** Overrides of the engine's defaults, as for {@link Recommender.create}. */
  config?: RecommenderConfig;
  /** Ed25519 key (64 hex digits) the bundle and new model versions must be signed with. */
  publicKey?: string;
  /**
   * Sync with an `edgerec serve` server, as for {@link Recommender.load}, without `fetch`. A
   * relative `endpoint` is resolved against the page. The worker has no page lifecycle, so the
   * main thread asks it to flush when the page is hidden or comes back online.
   */
  sync?: Omit<SyncOptions, 'fetch'>;
  /** Download progress of the bundle (forwarded from the worker). */
  onProgress?: (progress: BundleProgress) => void;
  /** Passed to every request of the bundle download; must be structured-cloneable (no `signal`). */
  requestInit?: Omit<RequestInit, 'signal' | 'window'>;
  /**
   * A worker of your own to run in (one whose module calls `exposeRecommender()` from
   * `edgerec/worker-entry`); it is not terminated by {@link WorkerRecommender.free}. Default: a
   * module worker over `edgerec/worker-entry`, created and terminated by the recommender. One
   * worker serves one recommender.
   */
  worker?: Worker;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onProgress?: (progress: BundleProgress) => void;
}

function pageBase(): string | undefined {
  if (typeof document !== 'undefined') return document.baseURI;
  return typeof location === 'undefined' ? undefined : location.href;
}

/**
 * A {@link Recommender} running in a dedicated Web Worker. Every method returns what the
 * `Recommender` method of the same name returns; calls run in the order they are made. Errors
 * thrown in the worker reject with an {@link EdgerecError} of the same `code` and message
 * (`isEdgerecError(e)` and `e instanceof EdgerecError` hold).
 *
 * The getters `backend`, `backendReason`, `modelVersion`, `restoreReport` and `syncStatus` cannot
 * reach into the worker synchronously: they return the values the worker sent with its last
 * reply or event (every call and event refreshes them). `await rec.refresh()` fetches them now.
 *
 * @example
 * ```ts
 * const rec = await WorkerRecommender.load('/models/movielens-small/manifest.json');
 * await rec.record('1');
 * const { items } = await rec.recommend(20);
 * ```
 */
export class WorkerRecommender {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private readonly events = new Emitter<RecommenderEvents>();
  private readonly scheduler = new Scheduler();
  private snapshot: WorkerRecommenderState | undefined;
  private freed = false;
  private released = false;
  private readonly onMessage = (event: MessageEvent) => this.receive(event.data as WorkerMessage);
  private readonly onError = (event: Event) => this.crashed(event);

  private constructor(
    private readonly worker: Worker,
    private readonly ownsWorker: boolean,
  ) {
    worker.addEventListener('message', this.onMessage);
    worker.addEventListener('error', this.onError);
  }

  /**
   * Starts the worker (or uses `options.worker`), which downloads and verifies the bundle at
   * `manifestUrl` (relative URLs are resolved against the page) and builds the recommender, as
   * {@link Recommender.load} does on the main thread. Rejects with the worker's
   * {@link EdgerecError} (the worker is then terminated), with `INVALID_ARGUMENT` for options
   * that cannot cross threads, or with `BACKEND_UNAVAILABLE` where there are no Web Workers
   * (Node) or the worker script fails to start.
   *
   * @example
   * ```ts
   * const rec = await WorkerRecommender.load('/models/movielens-small/manifest.json', {
   *   store: 'indexeddb',
   *   onProgress: ({ loaded, total }) => console.log(`${loaded}/${total} bytes`),
   * });
   * ```
   */
  static async load(manifestUrl: string | URL, options: WorkerRecommenderOptions = {}): Promise<WorkerRecommender> {
    const { worker, onProgress, ...rest } = options;
    const store = rest.store as unknown;
    if (store !== undefined && store !== 'indexeddb' && store !== 'memory') {
      throw new EdgerecError('INVALID_ARGUMENT', "a custom store cannot cross to a worker: use store 'indexeddb' or 'memory'");
    }
    let sync: Omit<SyncOptions, 'fetch'> | undefined;
    if (rest.sync) {
      if ((rest.sync as SyncOptions).fetch !== undefined) throw new EdgerecError('INVALID_ARGUMENT', 'sync.fetch cannot cross to a worker (the worker uses its global fetch)');
      const endpoint = rest.sync.endpoint;
      sync = { ...rest.sync, endpoint: typeof endpoint === 'string' && endpoint !== '' ? new URL(endpoint, pageBase()).href : endpoint };
    }
    if ((rest.requestInit as RequestInit | undefined)?.signal) {
      throw new EdgerecError('INVALID_ARGUMENT', 'requestInit.signal cannot cross to a worker');
    }
    const url = new URL(manifestUrl, pageBase()).href;
    if (!worker && typeof Worker === 'undefined') {
      throw new EdgerecError('BACKEND_UNAVAILABLE', 'Web Workers are not available here: use Recommender from edgerec');
    }
    const rec = new WorkerRecommender(
      worker ?? new Worker(new URL('./worker-entry.js', import.meta.url), { type: 'module' }),
      !worker,
    );
    try {
      await rec.call('load', [url, { ...rest, sync, progress: onProgress !== undefined }], onProgress);
    } catch (e) {
      rec.release();
      throw e;
    }
    if (sync) {
      // What the main-thread Recommender does at these moments, asked of the worker.
      const flush = () => void rec.call('flush').catch(() => undefined);
      const win = typeof window === 'undefined' ? undefined : window;
      const doc = typeof document === 'undefined' ? undefined : document;
      rec.scheduler.listen(win, 'online', flush);
      rec.scheduler.listen(win, 'pagehide', flush);
      rec.scheduler.listen(doc, 'visibilitychange', () => {
        if (doc?.visibilityState === 'hidden') flush();
      });
    }
    return rec;
  }

  private call<T>(method: string, args: unknown[] = [], onProgress?: (progress: BundleProgress) => void): Promise<T> {
    if (this.freed) return Promise.reject(new EdgerecError('INVALID_ARGUMENT', 'this WorkerRecommender was freed'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, onProgress });
      try {
        this.worker.postMessage({ tag: TAG, id, method, args } satisfies WorkerRequest);
      } catch (e) {
        this.pending.delete(id); // e.g. DataCloneError: an argument cannot be sent
        reject(e as Error);
      }
    });
  }

  private receive(message: WorkerMessage): void {
    if (!message || message.tag !== TAG) return;
    if ('event' in message) {
      if (message.state) this.snapshot = message.state;
      const name = message.event as keyof RecommenderEvents;
      const value = name === 'error' ? toError(message.value as SerializedError) : message.value;
      this.events.emit(name, value as RecommenderEvents[typeof name]);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if ('progress' in message) {
      try {
        pending.onProgress?.(message.progress);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
      return;
    }
    this.pending.delete(message.id);
    if (message.state) this.snapshot = message.state;
    if (message.ok) pending.resolve(message.value);
    else pending.reject(toError(message.error));
  }

  /** An uncaught error in the worker: fatal while loading, reported on `error` afterwards. */
  private crashed(event: Event): void {
    const detail = (event as ErrorEvent).message || 'the worker script could not be loaded';
    if (this.snapshot === undefined || this.freed) {
      const error = new EdgerecError('BACKEND_UNAVAILABLE', `the edgerec worker failed: ${detail}`);
      for (const pending of this.pending.values()) pending.reject(error);
      this.pending.clear();
      this.release();
      return;
    }
    this.events.emit('error', new Error(`edgerec worker: ${detail}`));
  }

  /** Detaches from the worker and terminates it when the recommender created it. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.freed = true;
    this.scheduler.stop();
    this.worker.removeEventListener('message', this.onMessage);
    this.worker.removeEventListener('error', this.onError);
    if (this.ownsWorker) this.worker.terminate();
    const error = new EdgerecError('INVALID_ARGUMENT', 'this WorkerRecommender was freed');
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
  }

  private get state(): WorkerRecommenderState {
    if (!this.snapshot) throw new EdgerecError('INVALID_ARGUMENT', 'this WorkerRecommender is not loaded');
    return this.snapshot;
  }

  /**
   * Listens to `modelupdate`, `error`, `flush`, `experiments` or `updateprogress`, forwarded from
   * the worker (an `error` arrives as an {@link EdgerecError} when it was one); returns a function
   * that removes the listener.
   */
  on<K extends keyof RecommenderEvents>(name: K, listener: (value: RecommenderEvents[K]) => void): () => void {
    return this.events.on(name, listener);
  }

  /** {@link Recommender.backend} as of the last reply from the worker (see {@link refresh}). */
  get backend(): Backend {
    return this.state.backend;
  }

  /** {@link Recommender.backendReason} as of the last reply from the worker. */
  get backendReason(): string {
    return this.state.backendReason;
  }

  /** {@link Recommender.modelVersion} as of the last reply or `modelupdate` from the worker. */
  get modelVersion(): string {
    return this.state.modelVersion;
  }

  /** {@link Recommender.restoreReport}: what was restored at load, and where state is kept. */
  get restoreReport(): RestoreReport {
    return this.state.restoreReport;
  }

  /** {@link Recommender.syncStatus} as of the last reply or event (undefined without `sync`). */
  get syncStatus(): SyncStatus | undefined {
    return this.state.syncStatus;
  }

  /** Asks the worker for the current values of the getters, and resolves with them. */
  async refresh(): Promise<WorkerRecommenderState> {
    await this.call('state');
    return this.state;
  }

  /** {@link Recommender.recommend}: recall → rank → re-rank, in the worker. */
  recommend(options: number | RecommendOptions = {}): Promise<RecommendResult> {
    return this.call('recommend', [options]);
  }

  /** {@link Recommender.record}: records an interaction and updates the embedding; rejects on bad input (`UNKNOWN_ITEM`, …). */
  record(id: string, options: RecordOptions = {}): Promise<SaveOutcome> {
    return this.call('record', [id, options]);
  }

  /** {@link Recommender.impression}: the list `requestId` returned is on screen. */
  impression(ids: string[], requestId: string): Promise<SaveOutcome> {
    return this.call('impression', [ids, requestId]);
  }

  /** {@link Recommender.markShown}: `ids` were displayed (exposure filter). */
  markShown(ids: string[]): Promise<SaveOutcome> {
    return this.call('markShown', [ids]);
  }

  /** {@link Recommender.trackCustom}: queues an application event; needs `sync`. */
  trackCustom(name: string, options: { item?: string; requestId?: string } = {}): Promise<void> {
    return this.call('trackCustom', [name, options]);
  }

  /** {@link Recommender.history}: the stored history, oldest first. */
  history(): Promise<HistoryEntry[]> {
    return this.call('history');
  }

  /** {@link Recommender.query}: the user's embedding (its buffer is transferred, not copied), or undefined when cold. */
  query(): Promise<Float32Array | undefined> {
    return this.call('query');
  }

  /** {@link Recommender.resetUser}: starts over as a new user; blocklists stay. */
  resetUser(): Promise<SaveOutcome> {
    return this.call('resetUser');
  }

  /** {@link Recommender.blockItem}: never recommends item `id` again. */
  blockItem(id: string): Promise<SaveOutcome> {
    return this.call('blockItem', [id]);
  }

  /** {@link Recommender.blockAttribute}: never recommends items with attribute `key` = `value`. */
  blockAttribute(key: string, value: string): Promise<SaveOutcome> {
    return this.call('blockAttribute', [key, value]);
  }

  /** {@link Recommender.clearBlocklist}: lifts every block. */
  clearBlocklist(): Promise<SaveOutcome> {
    return this.call('clearBlocklist');
  }

  /** {@link Recommender.importHistory}: imports interactions this device did not see. */
  importHistory(entries: { id: string; kind?: InteractionKind; timestampMs: number; dwellMs?: number }[]): Promise<SaveOutcome> {
    return this.call('importHistory', [entries]);
  }

  /** {@link Recommender.save}: saves now. */
  save(): Promise<SaveOutcome> {
    return this.call('save');
  }

  /** {@link Recommender.forget}: erases everything stored about the user. */
  forget(): Promise<void> {
    return this.call('forget');
  }

  /** {@link Recommender.flush}: uploads the queued events; resolves once acknowledged. */
  flush(): Promise<FlushReport> {
    return this.call('flush');
  }

  /** {@link Recommender.checkForUpdate}: looks for a new model version; `true` when it changed. */
  checkForUpdate(): Promise<boolean> {
    return this.call('checkForUpdate');
  }

  /** {@link Recommender.rollback}: back to the model used before the last update. */
  rollback(): Promise<boolean> {
    return this.call('rollback');
  }

  /**
   * Releases the recommender: later calls reject with `INVALID_ARGUMENT`; the calls already made
   * settle normally, then the worker frees the recommender and is terminated (when this object
   * created it; a worker passed as `options.worker` stays, without a recommender). A second call
   * does nothing.
   */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.scheduler.stop();
    this.events.clear();
    const id = this.nextId++;
    const done = () => this.release();
    this.pending.set(id, { resolve: done, reject: done });
    try {
      this.worker.postMessage({ tag: TAG, id, method: 'free', args: [] } satisfies WorkerRequest);
    } catch {
      this.release();
    }
  }

  /** `using x = …` frees it at the end of the scope (same as {@link free}). */
  [Symbol.dispose](): void {
    this.free();
  }
}
