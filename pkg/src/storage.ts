/**
 * Local persistence for the recommender's user state: a tiny async key–value interface with an
 * IndexedDB implementation (browsers) and an in-memory one (tests, Node, private browsing).
 *
 * Errors follow the engine's contract (`src/user/storage.rs`): a store that cannot be opened or
 * used throws `code: 'STORAGE_UNAVAILABLE'`, a write refused for space throws
 * `code: 'STORAGE_QUOTA_EXCEEDED'`, and a failed `put` never leaves a partial value (IndexedDB
 * transactions are atomic).
 *
 * @example
 * ```ts
 * import { IndexedDbStore, Recommender } from 'edgerec';
 * const store = await IndexedDbStore.open('my-app');      // falls back with a typed error
 * const rec = await Recommender.create(bundle, { store });
 * ```
 */

/** What the recommender needs from a store. Values are opaque bytes chosen by the SDK. */
export interface KeyValueStore {
  /** The value under `key`, or `undefined`. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores `value` under `key`, replacing any previous value atomically. */
  put(key: string, value: Uint8Array): Promise<void>;
  /** Removes `key` (no error when absent). */
  delete(key: string): Promise<void>;
  /**
   * Optional: stores every `[key, value]` as one atomic change (all or nothing). The
   * recommender saves through it when present, so a failure never leaves mixed generations.
   */
  putAll?(entries: [string, Uint8Array][]): Promise<void>;
}

function storageError(code: 'STORAGE_UNAVAILABLE' | 'STORAGE_QUOTA_EXCEEDED', message: string): Error {
  return Object.assign(new Error(message), { name: 'EdgerecError', code });
}

function classify(e: unknown, what: string): Error {
  const name = (e as { name?: string } | null)?.name ?? '';
  const text = e instanceof Error ? e.message : String(e);
  if (name === 'QuotaExceededError') return storageError('STORAGE_QUOTA_EXCEEDED', `${what}: ${text}`);
  return storageError('STORAGE_UNAVAILABLE', `${what}: ${name ? name + ': ' : ''}${text}`);
}

function request<T>(req: IDBRequest<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(classify(req.error, what));
  });
}

/** A store in one IndexedDB database with one object store (`kv`). */
export class IndexedDbStore implements KeyValueStore {
  private constructor(private readonly db: IDBDatabase) {}

  /**
   * Opens (creating when needed) the database `name`. Throws `STORAGE_UNAVAILABLE` when
   * IndexedDB is missing or blocked (some private-browsing modes, sandboxed iframes).
   */
  static async open(name = 'edgerec'): Promise<IndexedDbStore> {
    const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (!idb) throw storageError('STORAGE_UNAVAILABLE', 'IndexedDB is not available in this context');
    let req: IDBOpenDBRequest;
    try {
      req = idb.open(name, 1);
    } catch (e) {
      throw classify(e, `opening IndexedDB ${name}`);
    }
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains('kv')) req.result.createObjectStore('kv');
    };
    return new IndexedDbStore(await request(req, `opening IndexedDB ${name}`));
  }

  private async run<T>(mode: IDBTransactionMode, what: string, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    let tx: IDBTransaction;
    try {
      tx = this.db.transaction('kv', mode);
    } catch (e) {
      throw classify(e, what);
    }
    let req: IDBRequest<T>;
    try {
      req = op(tx.objectStore('kv'));
    } catch (e) {
      // A value that cannot be stored (e.g. DataCloneError) throws at put(): abort, so the
      // writes already queued in this transaction are undone too.
      try {
        tx.abort();
      } catch {
        // already finished
      }
      throw classify(e, what);
    }
    const result = request(req, what);
    // A write is only durable once its transaction completes; quota errors often surface there.
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onabort = () => reject(classify(tx.error, what));
      tx.onerror = () => reject(classify(tx.error, what));
    });
    const [value] = await Promise.all([result, done]);
    return value;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const value = await this.run('readonly', `reading ${key}`, (s) => s.get(key));
    if (value === undefined) return undefined;
    return value instanceof Uint8Array ? value : new Uint8Array(value as ArrayBuffer);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    // Store a copy: the caller's view may point into wasm memory that moves.
    await this.run('readwrite', `writing ${key}`, (s) => s.put(value.slice(), key));
  }

  async delete(key: string): Promise<void> {
    await this.run('readwrite', `deleting ${key}`, (s) => s.delete(key));
  }

  /** Every entry in one readwrite transaction: all are stored, or (abort, quota) none. */
  async putAll(entries: [string, Uint8Array][]): Promise<void> {
    if (entries.length === 0) return;
    const what = `writing ${entries.map(([k]) => k).join(', ')}`;
    await this.run('readwrite', what, (s) => {
      const requests = entries.map(([key, value]) => s.put(value.slice(), key));
      return requests[requests.length - 1];
    });
  }

  /** Closes the database connection. */
  close(): void {
    this.db.close();
  }
}

/** A store in memory: nothing survives a reload. Optional byte quota, for tests. */
export class MemoryStore implements KeyValueStore {
  private readonly entries = new Map<string, Uint8Array>();

  constructor(private readonly quotaBytes = Infinity) {}

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.entries.get(key)?.slice();
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    let others = 0;
    for (const [k, v] of this.entries) if (k !== key) others += v.length;
    if (others + value.length > this.quotaBytes) {
      throw storageError('STORAGE_QUOTA_EXCEEDED', `writing ${key}: ${value.length} bytes exceed the quota`);
    }
    this.entries.set(key, value.slice());
  }

  async delete(key: string): Promise<void> {
    this.entries.delete(key);
  }

  async putAll(entries: [string, Uint8Array][]): Promise<void> {
    const replaced = new Set(entries.map(([k]) => k));
    let total = 0;
    for (const [k, v] of this.entries) if (!replaced.has(k)) total += v.length;
    for (const [, v] of entries) total += v.length;
    if (total > this.quotaBytes) {
      throw storageError('STORAGE_QUOTA_EXCEEDED', `writing ${[...replaced].join(', ')}: ${total} bytes exceed the quota`);
    }
    for (const [k, v] of entries) this.entries.set(k, v.slice());
  }
}
