// End-to-end: www/recommend.html runs the on-device Recommender on the shipped MovieLens model.
// Clicking items of one genre shifts the top-20 toward it; the state survives a reload
// (IndexedDB); forget() erases it; bad input is a typed error that changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS as ARGS } from '../../scripts/demo-server.mjs';

let server;
before(async () => {
  server = await startDemoServer();
});
after(() => server?.stop());

const GENRE = 'Horror';

async function ready(page) {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 120_000 });
  const status = await page.evaluate(() => document.body.dataset.status);
  assert.equal(status, 'done', JSON.stringify(await page.evaluate(() => window.edgerecDemo)));
}

const genreShare = (items, genre) => items.filter((i) => i.tags.includes(genre)).length;

for (const backend of ['cpu', 'webgpu']) {
  test(`clicks of one genre reshape the top-20, persist across reloads, and forget() clears them (${backend})`, async () => {
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: [...ARGS, '--enable-unsafe-webgpu'] });
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${server.url}recommend.html?backend=${backend}`);
      await ready(page);
      assert.equal(await page.evaluate(() => window.edgerecDemo.backend), backend);
      const before = await page.evaluate(() => window.edgerecDemo.recommend());
      assert.equal(before.length, 20);
      // The five most-watched MovieLens films tagged only "Horror" (The Shining, Halloween,
      // Hellraiser, Creepshow, Pet Sematary).
      const clicks = ['1258', '1982', '3917', '3016', '2513'];
      for (const id of clicks) assert.deepEqual(await page.evaluate((i) => window.edgerecDemo.tagsOf(i), id), [GENRE]);
      let after;
      for (const id of clicks) after = await page.evaluate((i) => window.edgerecDemo.click(i), id);
      const shareBefore = genreShare(before, GENRE);
      const shareAfter = genreShare(after, GENRE);
      console.log(`${backend}: ${GENRE} in top-20 before ${shareBefore}, after 5 clicks ${shareAfter}`);
      assert.ok(shareAfter >= shareBefore + 4 && shareAfter >= 2 * shareBefore, `${GENRE}: ${shareBefore} → ${shareAfter}`);
      assert.ok(after.every((i) => !clicks.includes(i.id)), 'clicked items are not recommended again');

      // Bad input: typed errors, and the history is unchanged.
      const bad = await page.evaluate(async () => {
        const out = [];
        for (const [id, opts] of [['no-such-movie', {}], ['1', { timestampMs: Date.now() + 86_400_000 }], ['1', { timestampMs: NaN }], ['1', { kind: 'stare' }]]) {
          try {
            await window.edgerecDemo.recordRaw(id, opts);
            out.push('accepted');
          } catch (e) {
            out.push(e.code);
          }
        }
        return { codes: out, history: (await window.edgerecDemo.history()).length };
      });
      assert.deepEqual(bad.codes.slice(0, 2), ['UNKNOWN_ITEM', 'INVALID_INTERACTION']);
      assert.ok(bad.codes.slice(2).every((c) => c && c !== 'accepted'), JSON.stringify(bad.codes));
      assert.equal(bad.history, 5);

      // Reload: the state comes back from IndexedDB.
      await page.reload();
      await ready(page);
      const report = await page.evaluate(() => window.edgerecDemo.restoreReport);
      assert.equal(report.userRestored, true, JSON.stringify(report));
      const history = await page.evaluate(() => window.edgerecDemo.history());
      assert.deepEqual(history.map((h) => h.item), clicks);
      const reloaded = await page.evaluate(() => window.edgerecDemo.recommend());
      assert.deepEqual(reloaded.map((i) => i.id), after.map((i) => i.id), 'the same state gives the same list after a reload');

      // forget(): memory and storage are cleared, also after another reload.
      const forgotten = await page.evaluate(() => window.edgerecDemo.forget());
      assert.equal((await page.evaluate(() => window.edgerecDemo.history())).length, 0);
      assert.deepEqual(forgotten.map((i) => i.id), before.map((i) => i.id), 'back to the cold-start list');
      await page.reload();
      await ready(page);
      assert.equal((await page.evaluate(() => window.edgerecDemo.history())).length, 0);
      assert.equal((await page.evaluate(() => window.edgerecDemo.restoreReport)).userRestored, false);
    } finally {
      await browser.close();
    }
  });
}
