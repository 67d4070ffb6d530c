// The benchmark pages' timer. Browsers coarsen `performance.now()` (0.1 ms without cross-origin
// isolation), so each sample times a batch of calls long enough (≥ 2 ms) for that step not to
// matter.

/**
 * Median ms per call of `fn` over `iters` samples, after one warm-up call, whose result comes
 * back as `first`.
 */
export async function medianCallMs(fn, iters) {
  const first = await fn();
  let batch = 0;
  let t0 = performance.now();
  while (performance.now() - t0 < 2) {
    await fn();
    batch++;
  }
  const samples = [];
  for (let i = 0; i < iters; i++) {
    t0 = performance.now();
    for (let b = 0; b < batch; b++) await fn();
    samples.push((performance.now() - t0) / batch);
  }
  samples.sort((a, b) => a - b);
  return { ms: samples[Math.floor(samples.length / 2)], first };
}
