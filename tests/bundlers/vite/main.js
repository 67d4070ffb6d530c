// A Vite app as `npm create vite` writes it: no vite.config, no plugin. Vite rewrites the
// package's `new URL('../wasm/edgerec_bg.wasm', import.meta.url)` to a hashed asset.
import { run } from './app.js';

await run(undefined, { worker: true });
