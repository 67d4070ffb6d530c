// Storage in the browser: every save is one IndexedDB transaction of what changed. A save that
// runs out of space in the middle (its second put fails with QuotaExceededError) leaves the
// previous generation of every value intact — the first put is rolled back with the
// transaction — the change is kept in memory (`persisted: false`), and it is written once
// space is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS } from '../../scripts/demo-server.mjs';

let server;
before(async () => {
  server = await startDemoServer();
});
after(() => server?.stop());

test('a quota failure in the middle of a save keeps the previous generation whole', async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${server.url}index.html`);
    await page.evaluate(async () => {
      const m = await import('../pkg/dist/index.js');
      const bundle = await m.loadBundle('../models/movielens-small/manifest.json');
      const store = await m.IndexedDbStore.open('quota-test');
      const rec = await m.Recommender.create(bundle, { store, backend: 'cpu' });
      // What IndexedDB holds, as hex per key (read through a separate connection).
      const dump = () => new Promise((resolve, reject) => {
        const open = indexedDB.open('quota-test');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const tx = open.result.transaction('kv', 'readonly');
          const out = {};
          const cursor = tx.objectStore('kv').openCursor();
          cursor.onsuccess = () => {
            const c = cursor.result;
            if (!c) {
              open.result.close();
              return resolve(out);
            }
            out[c.key] = Array.from(new Uint8Array(c.value), (b) => b.toString(16).padStart(2, '0')).join('');
            c.continue();
          };
        };
      });
      window.t = { m, rec, bundle, dump };
    });
    const ids = (from, n) => page.evaluate(([a, b]) => {
      const out = [];
      for (let r = a; r < a + b; r++) out.push(window.t.bundle.itemId(r));
      return out;
    }, [from, n]);

    // Generation 1: two clicks, a few impressions, a block.
    for (const id of ['1258', '1982']) assert.deepEqual(await page.evaluate((i) => window.t.rec.record(i), id), { persisted: true });
    await page.evaluate(async (shown) => window.t.rec.markShown(shown), await ids(0, 50));
    await page.evaluate(() => window.t.rec.blockItem('296'));
    const first = await page.evaluate(() => window.t.dump());
    assert.deepEqual(Object.keys(first).sort(), ['edgerec/blocklist', 'edgerec/exposure', 'edgerec/user']);

    // The quota runs out in the middle of the next save: the second put() of its transaction
    // throws QuotaExceededError (Chromium's Storage.overrideQuotaForOrigin does not make
    // headless IndexedDB writes fail, so the failure is injected at the IndexedDB API).
    await page.evaluate(() => {
      const put = IDBObjectStore.prototype.put;
      let calls = 0;
      window.quotaLeft = 0;
      IDBObjectStore.prototype.put = function (...args) {
        calls += 1;
        if (window.quotaLeft-- <= 0) throw new DOMException(`simulated: quota exhausted at put #${calls}`, 'QuotaExceededError');
        return put.apply(this, args);
      };
    });

    // A click whose save fails at once: kept in memory, the user state stays unsaved. Then
    // impressions: their save is one transaction of the user state and the exposure filter;
    // the user state's put goes through, the filter's runs out of space.
    const clicked = await page.evaluate(() => window.t.rec.record('3917'));
    assert.equal(clicked.persisted, false, JSON.stringify(clicked));
    await page.evaluate(() => {
      window.quotaLeft = 1; // the next transaction gets one put through, then runs out
    });
    const failed = await page.evaluate(async (shown) => window.t.rec.markShown(shown), await ids(50, 4000));
    assert.equal(failed.persisted, false, JSON.stringify(failed));
    assert.equal(failed.code, 'STORAGE_QUOTA_EXCEEDED', JSON.stringify(failed));
    assert.deepEqual(await page.evaluate(() => window.t.dump()), first, 'every stored value is the previous generation');
    assert.equal((await page.evaluate(() => window.t.rec.history())).length, 3, 'the click is kept in memory');

    // Space is back: the next save writes the whole new generation at once.
    await page.evaluate(() => {
      window.quotaLeft = Infinity;
    });
    assert.deepEqual(await page.evaluate(() => window.t.rec.save()), { persisted: true });
    const second = await page.evaluate(() => window.t.dump());
    assert.notEqual(second['edgerec/exposure'], first['edgerec/exposure']);
    assert.notEqual(second['edgerec/user'], first['edgerec/user']);
    const restored = await page.evaluate(async () => {
      const store = await window.t.m.IndexedDbStore.open('quota-test');
      const again = await window.t.m.Recommender.create(window.t.bundle, { store, backend: 'cpu' });
      return (await again.history()).map((h) => h.item);
    });
    assert.deepEqual(restored, ['1258', '1982', '3917']);
  } finally {
    await browser.close();
  }
});
