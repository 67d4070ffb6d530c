// Opens one of the www/ benchmark pages in headless Chromium (WebGPU enabled) on the demo
// server, waits for it to finish and returns what it left in `window[global]`, with the browser
// version and any page errors. Shared by scripts/bench-peers.mjs, scripts/bench-ivf.mjs and
// their e2e smokes.
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS } from './demo-server.mjs';

/** `page` (e.g. `peers.html`) with `query`; rejects when the page reports an error. */
export async function runPage(page, query, global, { timeoutMs = 1_800_000 } = {}) {
  const server = await startDemoServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  try {
    const tab = await browser.newPage();
    const errors = [];
    tab.on('pageerror', (e) => errors.push(String(e)));
    await tab.goto(`${server.url}${page}?${query}`);
    await tab.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: timeoutMs });
    const result = await tab.evaluate((name) => window[name], global);
    if (result?.status !== 'done') throw new Error(`${page}: ${result?.message ?? 'no result'}`);
    return { ...result, query, browser: `Chromium ${browser.version()}`, pageErrors: errors };
  } finally {
    await browser.close();
    server.stop();
  }
}
