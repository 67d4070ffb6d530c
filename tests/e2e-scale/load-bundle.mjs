#!/usr/bin/env node
// Loads a bundle built by train/ (Spark + PyTorch DDP → `edgerec bundle build`) in headless
// Chromium with the built npm package (pkg/dist, pkg/wasm), the way an app would: the bundle is
// published in an `edgerec serve --models` directory, the page (load-bundle.html, served by the
// same server with `--static` = the repository) calls Recommender.load('/v1/models/latest'),
// recommends, clicks and recommends again. Prints the page's outcome as one JSON line; exit
// status 1 when the page did not finish. Used by train/tests/test_browser_bundle.py.
//
//   node tests/e2e-scale/load-bundle.mjs BUNDLE_DIR [--backend cpu] [--clicks 3] [--k 10]
// Environment: EDGEREC_BIN (default target/debug/edgerec), CHROMIUM (default /usr/bin/chromium).
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from '../../scripts/demo-server.mjs';
import { ROOT, startServe } from '../e2e/support/edgerec-serve.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { backend: { type: 'string', default: 'cpu' }, clicks: { type: 'string', default: '3' }, k: { type: 'string', default: '10' } },
});
if (positionals.length !== 1) {
  console.error('usage: load-bundle.mjs BUNDLE_DIR [--backend cpu] [--clicks 3] [--k 10]');
  process.exit(2);
}
const bundle = resolve(positionals[0]);
const version = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')).manifest.model.version;
const scratch = mkdtempSync(join(tmpdir(), 'edgerec-scale-browser-'));
symlinkSync(bundle, join(scratch, version));

let server;
let browser;
let code = 1;
try {
  server = await startServe(['--addr', '127.0.0.1:0', '--db', `sqlite:${join(scratch, 'events.db')}`,
    '--models', scratch, '--static', ROOT]);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const query = new URLSearchParams({ manifest: '/v1/models/latest', backend: values.backend, clicks: values.clicks, k: values.k });
  await page.goto(`${server.url}/tests/e2e-scale/load-bundle.html?${query}`);
  await page.waitForFunction(() => document.body.dataset.status !== 'loading', null, { timeout: 120_000 });
  const result = await page.evaluate(() => window.edgerecScale);
  result.pageErrors = errors;
  console.log(JSON.stringify(result));
  if (result.status === 'done') code = 0;
} finally {
  await browser?.close();
  await server?.kill();
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(code);
