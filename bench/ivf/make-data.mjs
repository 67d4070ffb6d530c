// Synthetic item vectors for the browser IVF benchmark (www/ivf.html): a Gaussian mixture like
// `edgerec bench ivf`'s synthetic data — `clusters` centres with unit variance per coordinate,
// each row a centre plus N(0, spread²) noise: items that form topics, as learned embeddings do
// (uniform random vectors have no clusters for an IVF index to exploit). Writes the inputs of
// `edgerec bundle build` (`tensors.safetensors` with `item_embeddings` f32 [rows, dim], and
// `items.csv`) and `queries.json`: more draws from the same mixture, the page's queries.
//
// CLI: node bench/ivf/make-data.mjs OUT_DIR [rows] [dim] [clusters] [spread] [seed]
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../../www/rng.js';

/** Standard normal draws from uniforms (Box–Muller). */
function normals(next) {
  let spare;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(1 - next()));
    const t = 2 * Math.PI * next();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
}

/** Writes the data into `dir`; resolves once every file is on disk. */
export async function writeIvfData(dir, { rows = 1_000_000, dim = 64, clusters = 1000, spread = 0.6, seed = 0, queries = 200 } = {}) {
  mkdirSync(dir, { recursive: true });
  const next = mulberry32(seed);
  const normal = normals(next);
  const centres = Float32Array.from({ length: clusters * dim }, normal);
  const draw = (out, at) => {
    const c = Math.floor(next() * clusters);
    for (let j = 0; j < dim; j++) out[at + j] = centres[c * dim + j] + spread * normal();
  };
  const items = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) draw(items, r * dim);
  // safetensors: u64 little-endian header length, the JSON header (padded to 8 bytes), the data.
  let header = JSON.stringify({ item_embeddings: { dtype: 'F32', shape: [rows, dim], data_offsets: [0, items.byteLength] } });
  header += ' '.repeat((8 - (header.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(join(dir, 'tensors.safetensors'), Buffer.concat([length, Buffer.from(header), Buffer.from(items.buffer)]));
  const csv = createWriteStream(join(dir, 'items.csv'));
  csv.write('id\n');
  for (let r = 0; r < rows; r += 10_000) {
    let chunk = '';
    for (let i = r; i < Math.min(rows, r + 10_000); i++) chunk += `i${i}\n`;
    csv.write(chunk);
  }
  await new Promise((resolve, reject) => csv.end((e) => (e ? reject(e) : resolve())));
  const qs = [];
  for (let q = 0; q < queries; q++) {
    const v = new Float32Array(dim);
    draw(v, 0);
    qs.push(Array.from(v, (x) => Math.round(x * 1e6) / 1e6));
  }
  writeFileSync(join(dir, 'queries.json'), JSON.stringify({ dim, clusters, spread, seed, queries: qs }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [out, rows, dim, clusters, spread, seed] = process.argv.slice(2);
  if (!out) {
    console.error('usage: node bench/ivf/make-data.mjs OUT_DIR [rows] [dim] [clusters] [spread] [seed]');
    process.exit(2);
  }
  const options = { rows: Number(rows ?? 1_000_000), dim: Number(dim ?? 64), clusters: Number(clusters ?? 1000), spread: Number(spread ?? 0.6), seed: Number(seed ?? 0) };
  await writeIvfData(out, options);
  console.log(`${options.rows} × ${options.dim}, ${options.clusters} clusters, spread ${options.spread}: ${out}`);
}
