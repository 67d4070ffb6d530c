// The demo's service worker: edgerec's offline cache (`edgerec/sw`), so sync.html, the wasm and
// the model load with the network off after the first visit. Registered as a module worker.
import { installOfflineCache } from '../pkg/dist/sw.js';

installOfflineCache({ cacheName: 'edgerec-demo-v1' });
