#!/usr/bin/env node
// The product path in headless Chromium: the npm package's Recommender on the shipped MovieLens
// bundle, `record(random item)` then `recommend({ k: 20, diversity, rules })` with the list
// marked shown, like a feed. Prints p50 / p95 per call and the mean per stage.
// Usage: node scripts/bench-funnel-browser.mjs [rounds (default 300)] [backend: cpu|auto|webgpu]
//        [module: auto|core|threads|gpu (default auto)] — on a cross-origin isolated blank page.
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS } from './demo-server.mjs';

const rounds = Number(process.argv[2] ?? 300);
const backend = process.argv[3] ?? 'cpu';
const module = process.argv[4] ?? 'auto';
const server = await startDemoServer();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--enable-unsafe-webgpu', ...CHROMIUM_ARGS],
});
try {
  const page = await browser.newPage();
  // A blank page of the demo server's origin, isolated like its pages (the threads module).
  await page.route('**/funnel-bench.html', (route) =>
    route.fulfill({
      contentType: 'text/html',
      headers: { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' },
      body: '<!doctype html><title>funnel benchmark</title>',
    }));
  await page.goto(`${server.url}funnel-bench.html`);
  const result = await page.evaluate(async ({ rounds, backend, module }) => {
    const { initEdgerec, loadedModule, cpuThreads, loadBundle, Recommender } = await import('../pkg/dist/index.js');
    await initEdgerec(undefined, { module });
    const bundle = await loadBundle('../models/movielens-small/manifest.json');
    const rec = await Recommender.create(bundle, { store: 'memory', backend });
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const out = {};
    for (const method of ['none', 'mmr', 'dpp']) {
      const options = {
        k: 20,
        diversity: { method },
        rules: [{ kind: 'max_consecutive', attribute: 'category', max: 2 }],
        markShown: true,
      };
      const record = [], recommend = [], both = [], stages = { userMs: 0, recallMs: 0, rankMs: 0, rerankMs: 0 };
      for (let i = 0; i < rounds + 50; i++) {
        const id = bundle.itemId(Math.floor(random() * bundle.itemCount));
        const t0 = performance.now();
        await rec.record(id);
        const t1 = performance.now();
        const { trace } = await rec.recommend(options);
        const t2 = performance.now();
        if (i < 50) continue;
        record.push(t1 - t0); recommend.push(t2 - t1); both.push(t2 - t0);
        for (const key of Object.keys(stages)) stages[key] += trace.timings[key] / rounds;
      }
      const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.round((xs.length - 1) * p)];
      out[method] = {
        record: [q(record, 0.5), q(record, 0.95)],
        recommend: [q(recommend, 0.5), q(recommend, 0.95)],
        both: [q(both, 0.5), q(both, 0.95)],
        stages,
      };
    }
    return { backend: rec.backend, reason: rec.backendReason, module: loadedModule(), threads: cpuThreads(), userAgent: navigator.userAgent, out };
  }, { rounds, backend, module });
  console.log(`browser: ${result.userAgent}; ${result.module} module, ${result.threads} CPU thread(s); backend ${result.backend} (${result.reason}); ${rounds} rounds`);
  console.log('| diversity | record p50 / p95 ms | recommend(20) p50 / p95 ms | record + recommend p50 / p95 ms | stages (mean ms) |');
  console.log('|---|---:|---:|---:|---|');
  const f = ([a, b]) => `${a.toFixed(2)} / ${b.toFixed(2)}`;
  for (const [method, r] of Object.entries(result.out)) {
    const s = r.stages;
    console.log(`| ${method} + max 2 per genre in a row | ${f(r.record)} | ${f(r.recommend)} | ${f(r.both)} | user ${s.userMs.toFixed(2)}, recall ${s.recallMs.toFixed(2)}, rank ${s.rankMs.toFixed(2)}, re-rank ${s.rerankMs.toFixed(2)} |`);
  }
  for (const [method, r] of Object.entries(result.out)) console.log(JSON.stringify({ bench: 'browser_funnel', module: result.module, threads: result.threads, method, ...r }));
} finally {
  await browser.close();
  server.stop();
}
