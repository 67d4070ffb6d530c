// End-to-end: www/lab.html, the re-ranking lab, on the shipped MovieLens model. It loads on
// WebGPU and on the CPU; moving λ (MMR) or θ (DPP) away from "none" changes the re-ranked list
// and its ILD; the "at most 2 of the same genre in a row" rule holds in the rendered rows; clicks
// on a rendered movie and on a search match move every column; bad custom rules are reported.
// No console errors anywhere. Screenshots go to test-results/lab/ (git-ignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS as ARGS } from '../../scripts/demo-server.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../test-results/lab/', import.meta.url));
const VIEWPORT = { width: 1500, height: 1000 };

let server;
before(async () => {
  server = await startDemoServer();
  await mkdir(SHOTS, { recursive: true });
});
after(() => server?.stop());

/** Opens the lab; collects console errors and uncaught page errors into `errors`. */
async function openLab(browser, query) {
  const page = await browser.newPage({ viewport: VIEWPORT });
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e}`));
  await page.goto(`${server.url}lab.html${query ? `?${query}` : ''}`);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.status), null, { timeout: 120_000 });
  const status = await page.evaluate(() => document.body.dataset.status);
  assert.equal(status, 'ready', JSON.stringify(await page.evaluate(() => window.edgerecLab)));
  return { page, errors };
}

const lab = (page, method, ...args) => page.evaluate(([m, a]) => window.edgerecLab[m](...a), [method, args]);
const ids = (list) => list.map((x) => x.id);

/** What the re-ranked column shows: ids and first genres, read from the DOM. */
const renderedReranked = (page) => page.$$eval('#col-reranked .list li', (lis) => lis.map((li) => ({ id: li.dataset.id, category: li.dataset.category })));

function longestRun(categories) {
  let best = 0;
  let run = 0;
  for (let i = 0; i < categories.length; i++) {
    run = i > 0 && categories[i] === categories[i - 1] ? run + 1 : 1;
    best = Math.max(best, run);
  }
  return best;
}

/** Waits for the render that follows a UI action (a click, a search pick, a toggle). */
async function afterRender(page, action) {
  const v0 = await page.evaluate(() => window.edgerecLab.state().version);
  await action();
  await page.waitForFunction((v) => window.edgerecLab.state().version > v, v0, { timeout: 60_000 });
  return page.evaluate(() => window.edgerecLab.idle());
}

const shot = (page, name) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

test('the lab loads on WebGPU (auto and forced) and with ?backend=cpu', async () => {
  for (const [query, flags, expect] of [
    ['', ['--enable-unsafe-webgpu'], null],
    ['backend=webgpu', ['--enable-unsafe-webgpu'], 'webgpu'],
    ['backend=cpu', ['--enable-unsafe-webgpu'], 'cpu'],
    ['', ['--disable-webgpu'], 'cpu'],
  ]) {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...flags] });
    try {
      const { page, errors } = await openLab(browser, query);
      const s = await lab(page, 'state');
      console.log(`lab ?${query} ${flags.join(' ')}: backend ${s.backend} (${s.backendReason})`);
      if (expect) assert.equal(s.backend, expect, s.backendReason);
      assert.equal(s.reranked.length, 20);
      assert.ok(s.ranked.length >= 20 && s.recall.length === s.ranked.length);
      assert.equal((await renderedReranked(page)).length, 20);
      assert.ok(await page.$$eval('#col-recall .chan', (c) => c.length) > 0, 'channel badges');
      assert.ok(await page.$$eval('#heat-before canvas, #heat-after canvas, #projection canvas', (c) => c.length) >= 3, 'ECharts drew');
      assert.match(await page.textContent('#backend'), s.backend === 'webgpu' ? /WebGPU/ : /CPU/);
      if (query === 'backend=webgpu') await shot(page, 'lab-webgpu-cold');
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  }
});

for (const backend of ['cpu', 'webgpu']) {
  test(`diversity, rules, clicks and search move the lists (${backend})`, async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, '--enable-unsafe-webgpu'] });
    try {
      const { page, errors } = await openLab(browser, `backend=${backend}`);
      assert.equal((await lab(page, 'state')).backend, backend);

      // --- Diversity: "none" keeps the ranked order; MMR and DPP change it and raise ILD.
      const none = await lab(page, 'setMethod', 'none');
      assert.deepEqual(ids(none.reranked), ids(none.ranked.slice(0, 20)), 'no diversity, no rules: the ranked top-k');
      assert.ok(none.reranked.every((x) => x.placedBy === 'relevance'));
      const ildText0 = await page.textContent('#m-ild .value');

      // MMR through the controls, as a person would: the radio, then the λ slider.
      await afterRender(page, () => page.click('.segmented label:has(input[value="mmr"])'));
      const mmr = await afterRender(page, () => page.locator('#lambda').fill('0.3'));
      assert.equal(mmr.method, 'mmr');
      assert.equal(mmr.lambda, 0.3);
      assert.notDeepEqual(ids(mmr.reranked), ids(none.reranked), 'λ 0.3 changes the order');
      assert.ok(mmr.metrics.reranked.ildEmbedding > none.metrics.reranked.ildEmbedding,
        `ILD ${none.metrics.reranked.ildEmbedding} → ${mmr.metrics.reranked.ildEmbedding}`);
      assert.notEqual(await page.textContent('#m-ild .value'), ildText0, 'the ILD figure on the page moved');
      assert.ok(mmr.reranked.some((x) => x.placedBy === 'diversity'));
      assert.deepEqual(ids(await renderedReranked(page)), ids(mmr.reranked), 'the DOM shows the state');
      assert.ok(await page.$$eval('#col-reranked .move.up', (m) => m.length) > 0, 'moves are marked');

      await lab(page, 'setMethod', 'dpp');
      const dpp = await lab(page, 'setTheta', 0.3);
      assert.notDeepEqual(ids(dpp.reranked), ids(none.reranked), 'θ 0.3 changes the order');
      assert.ok(dpp.metrics.reranked.ildEmbedding > none.metrics.reranked.ildEmbedding,
        `ILD ${none.metrics.reranked.ildEmbedding} → ${dpp.metrics.reranked.ildEmbedding}`);
      assert.ok(dpp.metrics.relevanceLoss > 0, 'diversity costs some relevance');
      console.log(`${backend}: ILD@20 none ${none.metrics.reranked.ildEmbedding.toFixed(3)}, MMR λ0.3 ${mmr.metrics.reranked.ildEmbedding.toFixed(3)}, DPP θ0.3 ${dpp.metrics.reranked.ildEmbedding.toFixed(3)} (relevance loss ${(dpp.metrics.relevanceLoss * 100).toFixed(1)}%)`);
      await shot(page, `lab-${backend}-dpp`);

      // --- Clicks: a rendered movie, then a search match; every column follows.
      await lab(page, 'setMethod', 'none');
      const beforeClick = await lab(page, 'state');
      const target = await page.getAttribute('#col-reranked .list li:nth-child(3)', 'data-id');
      const clicked = await afterRender(page, () => page.click('#col-reranked .list li:nth-child(3)'));
      assert.deepEqual(clicked.clicks, [target]);
      assert.equal(clicked.cold, false);
      assert.notDeepEqual(ids(clicked.reranked), ids(beforeClick.reranked), 'the re-ranked list moved');
      assert.notDeepEqual(ids(clicked.ranked), ids(beforeClick.ranked), 'the ranked pool moved');
      assert.notDeepEqual(ids(clicked.recall), ids(beforeClick.recall), 'the recall candidates moved');
      assert.ok(!ids(clicked.reranked).includes(target), 'a clicked movie is not recommended again');
      assert.equal(clicked.trail.length, 1, 'the user vector is on the map');

      await page.fill('#search', 'shining');
      await page.waitForSelector('#matches li[data-id]');
      const matches = await page.$$eval('#matches li[data-id]', (lis) => lis.map((li) => li.textContent));
      assert.ok(matches.some((t) => /Shining/.test(t)), JSON.stringify(matches));
      assert.ok((await lab(page, 'search', 'toy story')).some((m) => m.title.startsWith('Toy Story')));
      const searchId = await page.getAttribute('#matches li[data-id]', 'data-id');
      const searched = await afterRender(page, () => page.click('#matches li[data-id]'));
      assert.deepEqual(searched.clicks, [target, searchId]);
      assert.notDeepEqual(ids(searched.reranked), ids(clicked.reranked), 'the search pick moved the list');
      assert.equal(searched.trail.length, 2, 'the trail grows');
      assert.notDeepEqual(searched.trail[0], searched.trail[1]);
      assert.equal(await page.$$eval('#history .chip', (c) => c.length), 2);

      // --- Rules: a new user with five horror clicks gets genre runs; the toggle breaks them.
      const fresh = await lab(page, 'reset');
      assert.equal(fresh.cold, true);
      assert.deepEqual([fresh.clicks, fresh.trail], [[], []]);
      assert.deepEqual(ids(fresh.reranked), ids(none.reranked), 'back to the cold-start list');
      for (const id of ['1258', '1982', '3917', '3016', '2513']) await lab(page, 'click', id);
      const free = await renderedReranked(page);
      const runFree = longestRun(free.map((x) => x.category));
      const ruled = await afterRender(page, () => page.click('label.toggle:has(input[value="max-2-in-a-row"])'));
      assert.deepEqual(ruled.presets, ['max-2-in-a-row']);
      const rendered = await renderedReranked(page);
      assert.equal(rendered.length, 20);
      const runRuled = longestRun(rendered.map((x) => x.category));
      console.log(`${backend}: longest same-genre run ${runFree} without the rule, ${runRuled} with it; ${JSON.stringify(rendered.map((x) => x.category))}`);
      assert.deepEqual(ruled.relaxedRules, [], 'the rule never gave way');
      assert.ok(runRuled <= 2, `a run of ${runRuled}`);
      assert.ok(runFree > 2, `the clicks should create a run longer than 2 (got ${runFree})`);
      assert.ok(ruled.reranked.some((x) => x.placedBy === 'rule'));
      const ruleNames = await page.$$eval('#col-reranked .rule-name', (r) => r.map((x) => `${x.textContent} | ${x.title}`));
      assert.ok(ruleNames.length > 0 && ruleNames.every((t) => /same genre in a row/.test(t) && /At most 2 of the same genre/.test(t)), JSON.stringify(ruleNames));

      // The decade rule as well (1 per 4 from the same decade).
      const decade = await lab(page, 'toggleRule', 'decade-1-per-4', true);
      assert.equal(decade.rules.length, 2);
      assert.ok(longestRun((await renderedReranked(page)).map((x) => x.category)) <= 2 || decade.relaxedRules.length > 0);
      await shot(page, `lab-${backend}-rules`);
      await lab(page, 'toggleRule', 'decade-1-per-4', false);

      // --- Custom rules: bad JSON and an invalid rule are reported and change nothing.
      const kept = await lab(page, 'state');
      await page.click('#custom summary');
      await page.fill('#custom-rules', '[{"kind": "max_consecutive", ');
      await page.click('#apply-rules');
      await page.waitForSelector('#rules-error:not([hidden])');
      assert.match(await page.textContent('#rules-error'), /Not valid JSON/);
      const invalid = await lab(page, 'setCustomRules', '[{"kind": "max_consecutive", "attribute": "category", "max": 0}]');
      assert.ok(invalid.error?.code, JSON.stringify(invalid.error));
      assert.match(await page.textContent('#rules-error'), new RegExp(invalid.error.code));
      assert.deepEqual(ids((await lab(page, 'state')).reranked), ids(kept.reranked), 'a rejected rule changes nothing');
      const pinned = await lab(page, 'setCustomRules', '[{"kind": "pin", "item": "318", "position": 0}]');
      assert.equal(pinned.reranked[0].id, '318');
      assert.equal(pinned.reranked[0].placedBy, 'pin');
      assert.equal(await page.isHidden('#rules-error'), true);
      await shot(page, `lab-${backend}-custom`);

      assert.deepEqual(errors, [], 'no console errors');
    } finally {
      await browser.close();
    }
  });
}
