// End-to-end: serve the demo exactly as `make demo` does, open it in headless Chromium with
// playwright-core, and check the result against the CPU reference — once on WebGPU
// (--enable-unsafe-webgpu: SwiftShader) and once with WebGPU off (auto must fall back).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS as BASE_ARGS } from '../../scripts/demo-server.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

let server;
let baseUrl;

before(async () => {
  server = await startDemoServer();
  baseUrl = server.url;
});

after(() => server?.stop());

async function runDemo({ webgpu, query }) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: webgpu ? [...BASE_ARGS, '--enable-unsafe-webgpu'] : [...BASE_ARGS, '--disable-webgpu'],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${baseUrl}?${query}`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 120_000 });
    const result = await page.evaluate(() => window.edgerecDemo);
    const summary = await page.textContent('#summary');
    assert.deepEqual(errors, [], 'uncaught page errors');
    return { result, summary };
  } finally {
    await browser.close();
  }
}

// The parity rule: scores within 1e-4 relative; ids equal except near-ties within that tolerance.
function assertMatchesReference(r) {
  assert.equal(r.status, 'done', JSON.stringify(r));
  assert.equal(r.ids.length, r.refIds.length);
  for (let i = 0; i < r.refIds.length; i++) {
    const tol = 1e-4 * Math.max(Math.abs(r.refScores[i]), 1e-30);
    assert.ok(Math.abs(r.scores[i] - r.refScores[i]) <= tol, `rank ${i}: ${r.scores[i]} vs ${r.refScores[i]}`);
    if (r.ids[i] !== r.refIds[i]) {
      const j = r.refIds.indexOf(r.ids[i]);
      assert.ok(j >= 0 && Math.abs(r.refScores[j] - r.refScores[i]) <= tol, `rank ${i}: item ${r.ids[i]} vs ${r.refIds[i]}`);
    }
  }
  assert.equal(new Set(r.ids).size, r.ids.length, 'ids unique');
  assert.ok(r.matches, r.problems?.join('\n'));
}

test('demo on WebGPU matches the CPU reference', async () => {
  const { result, summary } = await runDemo({ webgpu: true, query: 'backend=webgpu&rows=50000&dim=64&k=100&seed=42' });
  assert.equal(result.backend, 'webgpu', result.reason);
  assert.equal(result.module, 'gpu', 'an adapter exists: the full module is loaded');
  assert.match(summary, /Module: full/);
  assertMatchesReference(result);
  assert.match(summary, /Backend: webgpu/);
  assert.match(summary, /Matches the CPU reference/);
});

test('demo with WebGPU off falls back to the CPU and matches the reference', async () => {
  const { result, summary } = await runDemo({ webgpu: false, query: 'backend=auto&rows=50000&dim=64&k=100&seed=42' });
  assert.equal(result.backend, 'cpu');
  assert.match(result.reason, /unavailable/);
  // No WebGPU, on a cross-origin isolated page (the demo server sends COOP/COEP) with two
  // cores: the page downloaded the CPU-only threads module, and the reason says so. The lists
  // still match the single-threaded reference.
  assert.equal(result.module, 'threads');
  assert.match(result.reason, /threads module/);
  assert.match(summary, /Module: threads/);
  assertMatchesReference(result);
  assert.match(summary, /Backend: cpu/);
});

test('auto on a software-only WebGPU adapter keeps the CPU and says why', async () => {
  const { result } = await runDemo({ webgpu: true, query: 'backend=auto&rows=5000&dim=16&k=10&seed=7' });
  assert.equal(result.backend, 'cpu');
  assert.match(result.reason, /software/);
  assertMatchesReference(result);
});

test('bad input in the demo surfaces a typed error, not a crash', async () => {
  const { result } = await runDemo({ webgpu: true, query: 'backend=webgpu&rows=100&dim=8&k=500&seed=1' });
  assert.equal(result.status, 'error');
  assert.equal(result.code, 'INVALID_K');
});
