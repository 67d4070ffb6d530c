// The demo's service worker: edgerec's offline cache (`edgerec/sw`), so sync.html, the wasm and
// the model load with the network off after the first visit. Registered as a module worker.
// The page and its modules were fetched before this worker existed, so they are precached;
// everything fetched later (wasm, model, experiments) is cached as it goes by.
import { installOfflineCache } from '../pkg/dist/sw.js';

installOfflineCache({
  cacheName: 'edgerec-demo-v1',
  precache: [
    './sync.html',
    './sync.js',
    './style.css',
    '../pkg/dist/index.js',
    '../pkg/dist/sync.js',
    '../pkg/dist/storage.js',
    '../pkg/wasm/edgerec.js',
    '../pkg/wasm/edgerec_bg.wasm',
  ],
});
