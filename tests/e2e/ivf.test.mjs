// End-to-end: the IVF path in the browser (issue 15). A small clustered catalogue is built into a
// bundle with an IVF index by the CLI (`edgerec bundle build --ivf-lists`), loaded with
// `loadBundle`, and searched through `ScoringEngine.fromBundle(bundle, { nprobe })` on
// www/ivf.html: probing every list is the exact scan, recall never falls as nprobe grows, and a
// few lists already find most of the exact top-k on topic-shaped data. `make bench-ivf` runs the
// same page at 1M rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareIvfBundle, runIvf } from '../../scripts/bench-ivf.mjs';

const LISTS = 32;

test('IVF search from a bundle: exact at nprobe = nlist, recall grows with nprobe', { timeout: 300_000 }, async () => {
  const manifest = await prepareIvfBundle('e2e-ivf', { rows: 20_000, dim: 32, clusters: 40, spread: 1.5, lists: LISTS, seed: 3 });
  const run = await runIvf(manifest, `k=50&nprobe=1,2,4,8,${LISTS}&queries=40`, { timeoutMs: 240_000 });
  assert.deepEqual(run.pageErrors, []);
  assert.equal(run.rows, 20_000);
  const [exact, ...ivf] = run.results;
  assert.equal(exact.nprobe, null);
  assert.deepEqual(ivf.map((r) => r.nprobe), [1, 2, 4, 8, LISTS]);
  assert.equal(ivf.at(-1).recall, 1, 'probing every list is the exact scan');
  for (let i = 1; i < ivf.length; i++) assert.ok(ivf[i].recall >= ivf[i - 1].recall, `recall falls from nprobe ${ivf[i - 1].nprobe} to ${ivf[i].nprobe}: ${JSON.stringify(ivf)}`);
  assert.ok(ivf[2].recall >= 0.7, `nprobe 4 of ${LISTS} finds most of the exact lists on clustered data: ${ivf[2].recall}`);
  assert.ok(ivf[0].recall < 1, 'one list misses some of the exact top-k (else the test data has no IVF trade-off)');
  // Typed errors: nprobe 0, and an engine without an IVF index (made by `create`).
  assert.deepEqual(run.errors, { nprobeZero: 'INVALID_ARGUMENT', noIvf: 'INVALID_ARGUMENT' });
  for (const r of run.results) console.log(`${r.search}: ${r.ms.toFixed(3)} ms, recall ${r.recall.toFixed(3)}`);
});
