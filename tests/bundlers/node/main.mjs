// Node (CPU path) from the installed package: `node main.mjs <path of manifest.json>` prints
// {"ids": [...], "hasSw": true, "backend": "cpu"}. Node's fetch cannot read file: URLs, so
// loadBundle gets a fetch that reads files.
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { loadBundle, Recommender } from 'edgerec';
import { installOfflineCache } from 'edgerec/sw';

const fileFetch = async (url) => new Response(await readFile(new URL(url)));
const bundle = await loadBundle(pathToFileURL(process.argv[2]), { fetch: fileFetch });
const rec = await Recommender.create(bundle, { backend: 'cpu', store: 'memory' });
await rec.record('1');
const { items } = await rec.recommend({ k: 10 });
console.log(JSON.stringify({ ids: items.map((i) => i.id), hasSw: typeof installOfflineCache === 'function', backend: rec.backend }));
