/**
 * Sync with an `edgerec serve` server: events go up (queued on the device, batched, retried),
 * model versions and experiment configs come down. The queue, the retry policy and experiment
 * assignment are the engine's (`src/sync/`, tested natively); this module supplies what only the
 * browser has: `fetch`, timers, and the page lifecycle (`online`, `visibilitychange`, `pagehide`).
 *
 * @example
 * ```ts
 * const rec = await Recommender.load('/v1/models/latest/manifest.json', {
 *   sync: { endpoint: 'https://api.example.com', token: 'secret' },
 * });
 * rec.on('modelupdate', ({ from, to }) => console.log(`model ${from} → ${to}`));
 * rec.on('error', (e) => console.warn(e.code, e.message));
 * const { items, trace } = await rec.recommend(20);
 * await rec.impression(items.map((i) => i.id), trace.requestId); // when shown
 * await rec.record(items[0].id, { requestId: trace.requestId });  // a click, queued for upload
 * await rec.flush();                                               // resolves once acknowledged
 * ```
 */

/** How {@link Recommender} talks to the server. Every field but `endpoint` is optional. */
export interface SyncOptions {
  /** Base URL of the server, e.g. `https://api.example.com` (the API lives under `/v1/`). */
  endpoint: string;
  /** Bearer token sent with event uploads. */
  token?: string;
  /** The signed-in user's id; default: an anonymous id generated once per device and stored. */
  user?: string;
  /** Events per upload (default 50). */
  batchSize?: number;
  /** Most events kept while offline (default 5000; the oldest impressions go first). */
  maxQueue?: number;
  /** How often queued events are uploaded, in ms (default 10 000). */
  flushIntervalMs?: number;
  /** How often the model version and experiment config are checked, in ms (default 300 000; 0 = only on demand). */
  pollIntervalMs?: number;
  /** Retry backoff: first delay and cap in ms (defaults 1000 and 60 000, with full jitter). */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
}

/** One HTTP exchange as the engine sees it. */
export interface HttpResult {
  status: number;
  etag?: string;
  retryAfterMs?: number;
  body: Uint8Array;
}

/** The transport the engine's sync client calls (a rejected promise = the network failed). */
export interface Transport {
  post(url: string, token: string | undefined, body: Uint8Array): Promise<HttpResult>;
  get(url: string, etag: string | undefined): Promise<HttpResult>;
}

function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

async function toResult(response: Response): Promise<HttpResult> {
  return {
    status: response.status,
    etag: response.headers.get('etag') ?? undefined,
    retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
    body: new Uint8Array(await response.arrayBuffer()),
  };
}

/** The `fetch` transport (uploads are `keepalive`, so one started at page hide still completes). */
export function fetchTransport(fetchFn: typeof fetch = (...a) => fetch(...a)): Transport {
  return {
    async post(url, token, body) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (token) headers.authorization = `Bearer ${token}`;
      // keepalive bodies are limited to 64 KiB in total; larger uploads go without it.
      const keepalive = body.byteLength < 60_000;
      return toResult(await fetchFn(url, { method: 'POST', headers, body: body as BodyInit, keepalive, cache: 'no-store' }));
    },
    async get(url, etag) {
      const headers: Record<string, string> = {};
      if (etag) headers['if-none-match'] = etag;
      return toResult(await fetchFn(url, { headers, cache: 'no-cache' }));
    },
  };
}

/** What {@link Recommender.on} can listen to. */
export interface RecommenderEvents {
  /** A new model version is in use (the previous one is kept for {@link Recommender.rollback}). */
  modelupdate: { from: string; to: string };
  /** A sync or model-update failure; the recommender keeps working on what it has. */
  error: Error;
  /** An upload was acknowledged by the server. */
  flush: { sent: number; accepted: number; duplicates: number; pending: number };
  /** Download progress of a new model version (bytes of all its files). */
  updateprogress: { version: string; loaded: number; total: number; file: string };
  /** The experiment assignment changed. */
  experiments: { assignments: Record<string, string>; holdout: boolean };
}

/** A tiny typed event emitter: listeners' exceptions never reach the SDK. */
export class Emitter<E> {
  private readonly listeners = new Map<keyof E, Set<(value: never) => void>>();

  on<K extends keyof E>(name: K, listener: (value: E[K]) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as (value: never) => void);
    return () => set.delete(listener as (value: never) => void);
  }

  emit<K extends keyof E>(name: K, value: E[K]): void {
    for (const listener of this.listeners.get(name) ?? []) {
      try {
        (listener as (value: E[K]) => void)(value);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** Deep merge of plain JSON objects: `overlay` wins on scalars and arrays. */
export function mergeOptions<T>(base: T, overlay: unknown): T {
  if (!isPlainObject(overlay) || !isPlainObject(base)) return (overlay === undefined ? base : overlay) as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(overlay)) {
    out[key] = key in out ? mergeOptions(out[key], value) : value;
  }
  return out as T;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Runs `fn` on a timer and on page-lifecycle events, and stops cleanly. */
export class Scheduler {
  private timers: ReturnType<typeof setInterval>[] = [];
  private removers: (() => void)[] = [];

  every(ms: number, fn: () => void): void {
    if (ms > 0) this.timers.push(setInterval(fn, ms));
  }

  /** Calls `fn` on `type` of `target` when that target exists here (window, document). */
  listen(target: EventTarget | undefined, type: string, fn: () => void): void {
    if (!target || typeof target.addEventListener !== 'function') return;
    target.addEventListener(type, fn);
    this.removers.push(() => target.removeEventListener(type, fn));
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const r of this.removers) r();
    this.timers = [];
    this.removers = [];
  }
}
