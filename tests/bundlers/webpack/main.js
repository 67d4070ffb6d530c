// A webpack 5 app: see webpack.config.js. The asset modules turn the package's
// `new URL('../wasm/edgerec_bg.wasm', import.meta.url)` into a hashed asset in dist/.
import { run } from './app.js';

await run(undefined, { worker: true });
