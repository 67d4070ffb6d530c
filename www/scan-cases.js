// The scan-comparison pages' shared parts (www/parallel.js, www/threads.js, www/simd.js): their
// URL parameters, one test matrix with exact ties planted across the rows, and the cases each
// engine answers (plain, exclude, candidates, both) so that two engines' lists can be compared.
import { randomData } from './rng.js';

/** `?rows=&dim=&k=&iters=&dtypes=` with the page's defaults. */
export function scanParams(url, { rows = 100_000, iters = 50 } = {}) {
  const get = (name, fallback) => url.searchParams.get(name) ?? fallback;
  return {
    rows: Number(get('rows', rows)),
    dim: Number(get('dim', 64)),
    k: Number(get('k', 100)),
    iters: Number(get('iters', iters)),
    dtypes: get('dtypes', 'int8,f32,f16').split(','),
  };
}

/**
 * A `rows × dim` matrix with copies of row 0 at a third, half and the end (exact ties that a
 * merge or a filter breaking ties by anything but the row would get wrong), three queries (the
 * first on the duplicated row), 50 excluded rows, up to `candidates` distinct candidate rows,
 * and the four option sets each engine is asked.
 */
export function scanCases(rows, dim, candidates = 5000) {
  const items = randomData(rows * dim, rows);
  for (const copy of [Math.floor(rows / 3), Math.floor(rows / 2), rows - 1]) items.copyWithin(copy * dim, 0, dim);
  const queries = randomData(3 * dim, 11);
  queries.set(items.subarray(0, dim), 0);
  const exclude = Uint32Array.from({ length: 50 }, (_, i) => (i * 7919) % rows);
  const candidateRows = Uint32Array.from(new Set(Array.from({ length: Math.min(rows, candidates) }, (_, i) => (i * 104729) % rows)));
  const cases = [['plain', {}], ['exclude', { exclude }], ['candidates', { candidates: candidateRows }], ['both', { exclude, candidates: candidateRows }]];
  return { items, queries, cases };
}

/** Whether two top-k lists are the same ids with the same scores (`Object.is`, so bit for bit). */
export const sameList = (a, b) => a.ids.length === b.ids.length && a.ids.every((id, i) => id === b.ids[i] && Object.is(a.scores[i], b.scores[i]));
