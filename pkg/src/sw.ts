/**
 * `edgerec/sw` — offline support in your service worker: after the first visit the app, the
 * wasm and the model load with the network off.
 *
 * Strategy (Jake Archibald, "The Offline Cookbook"):
 * - immutable files — a versioned model file (`/v1/models/{version}/…`) or a content-hashed
 *   asset (`name-3f2a9c1e.wasm`) — are served **cache-first**: they never change, so the
 *   network is never asked twice;
 * - everything else the page GETs from its own origin (the page, scripts, `manifest.json`,
 *   `/v1/models/latest`, `/v1/experiments`) is **network-first** with the cached copy as the
 *   fallback, so a new model is picked up when online and the last one works offline. A bundle's
 *   files are checked against its manifest's SHA-256 by the SDK, so a stale copy can never be
 *   used silently;
 * - uploads (`POST /v1/events`) are never touched: the SDK queues events itself.
 *
 * @example
 * ```ts
 * // sw.js of your app (bundled, or a module service worker)
 * import { installOfflineCache } from 'edgerec/sw';
 * installOfflineCache({ precache: ['/', '/app.js'] });
 * // page: navigator.serviceWorker.register('/sw.js', { type: 'module' });
 * ```
 */

/** Options of {@link installOfflineCache}. */
export interface OfflineCacheOptions {
  /** Cache name (default `edgerec-v1`); change it to drop everything cached before. */
  cacheName?: string;
  /** URLs fetched and cached at install time (e.g. the app shell). */
  precache?: string[];
  /** Which requests are immutable (cache-first); default: versioned model files and hashed assets. */
  immutable?: (url: URL) => boolean;
  /** Which requests to handle at all; default: GETs of this origin. */
  handles?: (url: URL, request: Request) => boolean;
}

/** Versioned model files and content-hashed assets never change. */
export function isImmutable(url: URL): boolean {
  if (/\/v1\/models\/(?!latest\/)[^/]+\/[^/]+$/.test(url.pathname)) return true;
  return /[.-][0-9a-f]{8,}\.(wasm|js|css|bin)$/i.test(url.pathname);
}

interface FetchEventLike extends Event {
  request: Request;
  respondWith(response: Promise<Response>): void;
}

interface ExtendableEventLike extends Event {
  waitUntil(promise: Promise<unknown>): void;
}

interface WorkerScope {
  location: { origin: string };
  addEventListener(type: string, listener: (event: Event) => void): void;
  skipWaiting?: () => Promise<void>;
  clients?: { claim(): Promise<void> };
}

/**
 * Installs the fetch handler in the service worker it runs in. Returns the strategy chooser, for
 * tests: `'cache-first' | 'network-first' | undefined` (not handled) for a request.
 */
export function installOfflineCache(options: OfflineCacheOptions = {}): (request: Request) => string | undefined {
  const scope = globalThis as unknown as WorkerScope;
  const cacheName = options.cacheName ?? 'edgerec-v1';
  const immutable = options.immutable ?? isImmutable;
  const handles = options.handles ?? ((url: URL, request: Request) => request.method === 'GET' && url.origin === scope.location.origin);

  const strategy = (request: Request): string | undefined => {
    const url = new URL(request.url);
    if (!handles(url, request)) return undefined;
    return immutable(url) ? 'cache-first' : 'network-first';
  };

  scope.addEventListener('install', (event) => {
    const install = (async () => {
      if (options.precache?.length) await (await caches.open(cacheName)).addAll(options.precache);
      await scope.skipWaiting?.();
    })();
    (event as ExtendableEventLike).waitUntil(install);
  });
  scope.addEventListener('activate', (event) => {
    (event as ExtendableEventLike).waitUntil(scope.clients?.claim() ?? Promise.resolve());
  });
  scope.addEventListener('fetch', (event) => {
    const fetchEvent = event as FetchEventLike;
    const how = strategy(fetchEvent.request);
    if (!how) return;
    fetchEvent.respondWith(how === 'cache-first' ? cacheFirst(cacheName, fetchEvent.request) : networkFirst(cacheName, fetchEvent.request));
  });
  return strategy;
}

async function cacheFirst(cacheName: string, request: Request): Promise<Response> {
  const cache = await caches.open(cacheName);
  const hit = await cache.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

async function networkFirst(cacheName: string, request: Request): Promise<Response> {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
    // 304s and errors are not content; only full answers replace the cached copy.
    if (response.status === 200) await cache.put(request, response.clone());
    return response;
  } catch (e) {
    // A conditional request (If-None-Match) is keyed like the plain one: ignoreVary finds it.
    // A page opened with other query parameters than the cached one is still that page.
    const hit =
      (await cache.match(request, { ignoreVary: true })) ??
      (request.mode === 'navigate' ? await cache.match(request, { ignoreVary: true, ignoreSearch: true }) : undefined);
    if (hit) return hit;
    throw e;
  }
}
