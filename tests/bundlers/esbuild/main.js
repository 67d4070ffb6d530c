// An esbuild app: `esbuild main.js --bundle --format=esm --loader:.wasm=file --minify --outdir=dist`.
// esbuild leaves `new URL('…', import.meta.url)` alone (it would point next to the bundle, where
// no wasm is), so the app imports the wasm through the package's `edgerec/edgerec_bg.wasm`
// export — the `file` loader copies it to dist/ as edgerec_bg-<hash>.wasm and yields its path
// relative to the bundle — and hands it to initEdgerec before the first call.
import { initEdgerec } from 'edgerec';
import wasmUrl from 'edgerec/edgerec_bg.wasm';
import { run } from './app.js';

await run(() => initEdgerec(new URL(wasmUrl, import.meta.url)));
