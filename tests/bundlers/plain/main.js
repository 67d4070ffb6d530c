// No bundler: index.html maps the bare specifiers to the package's files; the package finds
// its wasm next to itself (`new URL('../wasm/edgerec_bg.wasm', import.meta.url)`).
import { run } from './app.js';

await run(undefined, { worker: true });
