// End-to-end, issue 15 "instant start": with backend 'auto' in headless Chromium, whose only
// WebGPU adapter is SwiftShader (software), ScoringEngine.create and Recommender.create decide
// from the adapter info — no device, no pipelines — and say which adapter they skipped. Times
// are logged, not asserted (shared machines are noisy).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS as ARGS } from '../../scripts/demo-server.mjs';

let server;
before(async () => {
  server = await startDemoServer();
});
after(() => server?.stop());

test('auto on a software-only WebGPU adapter picks the CPU and names the adapter', async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: [...ARGS, '--enable-unsafe-webgpu'] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.route('**/blank.html', (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>auto</title>' }));
    await page.goto(`${server.url}blank.html`);
    const r = await page.evaluate(async () => {
      const m = await import('/pkg/dist/index.js');
      const adapter = await navigator.gpu?.requestAdapter();
      const info = adapter ? { architecture: adapter.info.architecture, fallback: adapter.info.isFallbackAdapter } : null;
      const bundle = await m.loadBundle('/models/movielens-small/manifest.json');
      const items = new Float32Array(2000 * 16).map((_, i) => Math.sin(i));
      let t0 = performance.now();
      const engine = await m.ScoringEngine.create(items, 16, { backend: 'auto' });
      const engineMs = performance.now() - t0;
      const top = await engine.topK(items.subarray(0, 16), 5);
      t0 = performance.now();
      const rec = await m.Recommender.create(bundle, { backend: 'auto', store: 'memory' });
      const recMs = performance.now() - t0;
      const { items: recs } = await rec.recommend({ k: 20 });
      const firstMs = performance.now() - t0;
      return {
        info,
        module: m.loadedModule(),
        engine: { backend: engine.backend, reason: engine.backendReason, adapter: engine.adapter, trial: engine.trial ?? null, current: await engine.currentBackend(), top: top.ids.length },
        rec: { backend: rec.backend, reason: rec.backendReason, recs: recs.length },
        ms: { engine: engineMs, rec: recMs, recToFirst: firstMs },
      };
    });
    console.log(`auto on ${JSON.stringify(r.info)}: ScoringEngine.create ${r.ms.engine.toFixed(0)} ms, Recommender.create ${r.ms.rec.toFixed(0)} ms (first recommendation at ${r.ms.recToFirst.toFixed(0)} ms); ${r.engine.reason}`);
    assert.deepEqual(errors, []);
    assert.ok(r.info, 'headless Chromium with --enable-unsafe-webgpu exposes an adapter');
    // An adapter exists, so the full module (with the WebGPU path) was loaded, not the core.
    assert.equal(r.module, 'gpu');
    if (!(r.info.fallback || /swiftshader/i.test(r.info.architecture))) {
      // A hardware GPU: both start on the CPU while the GPU is timed in the background.
      for (const s of [r.engine, r.rec]) assert.match(s.reason, /background/, s.reason);
      return;
    }
    for (const s of [r.engine, r.rec]) {
      assert.equal(s.backend, 'cpu', s.reason);
      assert.match(s.reason, /software/, s.reason);
      assert.match(s.reason, /swiftshader/i, 'the reason names the skipped adapter');
      assert.match(s.reason, /no GPU device was opened/, s.reason);
    }
    assert.match(r.engine.adapter, /swiftshader/i);
    assert.equal(r.engine.trial, null, 'no trial on a software adapter');
    assert.equal(r.engine.current, 'cpu');
    assert.equal(r.engine.top, 5);
    assert.equal(r.rec.recs, 20);
  } finally {
    await browser.close();
  }
});
