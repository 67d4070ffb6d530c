// End-to-end: www/worker.html runs the Recommender in a dedicated Web Worker (`edgerec/worker`).
// 200 clicks (record + recommend each) through the worker leave the main thread free of long
// tasks (> 50 ms, Long Tasks API), the lists equal the main-thread Recommender's for the same
// clicks, worker errors arrive as EdgerecErrors, and free() terminates the worker.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism, loadavg } from 'node:os';
import { chromium } from 'playwright-core';
import { startDemoServer, CHROMIUM_ARGS as ARGS } from '../../scripts/demo-server.mjs';

let server;
before(async () => {
  server = await startDemoServer();
});
after(() => server?.stop());

const CLICKS = 200;
const ATTEMPTS = 3;
const CHECKPOINTS = [0, 1, 10, 50, 100, 150, 200, 300, 400, 500, 600];

async function ready(page) {
  await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.status), null, { timeout: 120_000 });
  const status = await page.evaluate(() => document.body.dataset.status);
  assert.equal(status, 'done', JSON.stringify(await page.evaluate(() => window.edgerecWorker)));
}

test('the worker keeps the main thread free, matches the main-thread Recommender, and frees cleanly', { timeout: 600_000 }, async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ARGS });
  try {
    const page = await (await browser.newContext()).newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const workerCloses = [];
    // The page is cross-origin isolated, so its own main-thread Recommender (the comparison)
    // runs on the threads module, whose pool threads are workers of the page for its lifetime:
    // only the engine workers (worker-entry.js) are watched here.
    const isEngine = (w) => /\/pkg\/dist\/worker-entry\.js$/.test(w.url());
    const engineWorkers = () => page.workers().filter(isEngine);
    page.on('worker', (w) => isEngine(w) && workerCloses.push(new Promise((resolve) => w.once('close', resolve))));
    await page.goto(`${server.url}worker.html?backend=cpu&store=memory`);
    await ready(page);
    assert.equal(engineWorkers().length, 1, 'one dedicated worker runs the engine');
    // `auto` starts no thread pool inside a worker, only the page's own (threads − 1 workers).
    const poolThreads = page.workers().filter((w) => /\/threads-worker\.js$/.test(w.url())).length;
    assert.equal(page.workers().length, 1 + poolThreads);
    const [worker] = engineWorkers();
    assert.match(worker.url(), /\/pkg\/dist\/worker-entry\.js$/);
    assert.equal(await page.evaluate(() => window.edgerecWorker.backend), 'cpu');
    assert.equal(await page.evaluate(() => window.edgerecWorker.restoreReport.userRestored), false);

    // The long-task instrument works here: a deliberate 80 ms task is reported.
    const calibration = await page.evaluate(async () => {
      const entries = [];
      const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
      observer.observe({ type: 'longtask' });
      const busy = await new Promise((resolve) => setTimeout(() => {
        const start = performance.now();
        while (performance.now() - start < 80);
        resolve(start);
      }, 0));
      await new Promise((resolve) => setTimeout(resolve, 200));
      entries.push(...observer.takeRecords());
      observer.disconnect();
      return entries.filter((e) => e.startTime + e.duration >= busy).map((e) => e.duration);
    });
    assert.ok(calibration.some((d) => d >= 50), `the long-task observer must see a deliberate 80 ms task: ${JSON.stringify(calibration)}`);

    // The click loop, measured: every long task the main thread runs between its start and end.
    // A loaded machine (other processes on the same cores) can stretch a 1 ms task past 50 ms by
    // descheduling the thread (a Chromium trace of one such "long task": 58 ms wall, 0.8 ms CPU),
    // so a loop with long tasks is tried again, up to ATTEMPTS times, continuing the same user.
    // The main-thread Recommender, for comparison, blocks for the whole loop every time.
    const t0Epoch = Date.now() - (ATTEMPTS * CLICKS + 10) * 1000;
    const ids = [];
    const lists = {};
    const attempts = [];
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const run = await page.evaluate(async ({ from, clicks, checkpoints, t0Epoch }) => {
        const app = window.edgerecWorker;
        const entries = [];
        const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
        observer.observe({ type: 'longtask', buffered: true });
        const ids = [];
        const lists = from === 0 ? { 0: app.last.map((i) => i.id) } : {};
        const start = performance.now();
        for (let i = from; i < from + clicks; i++) {
          const shown = app.last;
          const id = shown[(i * 7) % shown.length].id;
          ids.push(id);
          const items = await app.click(id, { timestampMs: t0Epoch + i * 1000 });
          if (checkpoints.includes(i + 1)) lists[i + 1] = items.map((item) => item.id);
        }
        const end = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 200));
        entries.push(...observer.takeRecords());
        observer.disconnect();
        const during = entries.filter((e) => e.startTime < end && e.startTime + e.duration > start).map((e) => e.duration);
        return { ids, lists, ms: end - start, during };
      }, { from: attempt * CLICKS, clicks: CLICKS, checkpoints: CHECKPOINTS, t0Epoch });
      ids.push(...run.ids);
      Object.assign(lists, run.lists);
      attempts.push(run);
      const max = run.during.length ? Math.max(...run.during) : 0;
      console.log(`worker, loop ${attempt + 1}: ${CLICKS} clicks (record + recommend + render) in ${run.ms.toFixed(0)} ms = ` +
        `${(CLICKS / (run.ms / 1000)).toFixed(1)} clicks/s; main-thread long tasks during the loop: ${run.during.length}, ` +
        `max ${max.toFixed(1)} ms (load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores)`);
      if (run.during.length === 0) break;
    }
    const clean = attempts.find((run) => run.during.length === 0);
    assert.ok(clean, `long tasks on the main thread in every click loop: ${JSON.stringify(attempts.map((run) => run.during))}`);

    // Parity: the main-thread Recommender on a fresh memory store, fed the same clicks.
    const replay = await page.evaluate(async ({ ids, t0Epoch, checkpoints }) => {
      const { Recommender } = await import('/pkg/dist/index.js');
      const rec = await Recommender.load('/models/movielens-small/manifest.json', { backend: 'cpu', store: 'memory' });
      const entries = [];
      const observer = new PerformanceObserver((list) => entries.push(...list.getEntries()));
      observer.observe({ type: 'longtask' });
      const lists = { 0: (await rec.recommend({ k: 20 })).items.map((i) => i.id) };
      const start = performance.now();
      for (let i = 0; i < ids.length; i++) {
        await rec.record(ids[i], { timestampMs: t0Epoch + i * 1000 });
        const { items } = await rec.recommend({ k: 20 });
        if (checkpoints.includes(i + 1)) lists[i + 1] = items.map((item) => item.id);
      }
      const end = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 200));
      entries.push(...observer.takeRecords());
      observer.disconnect();
      const history = (await rec.history()).map((h) => h.item);
      rec.free();
      const during = entries.filter((e) => e.startTime < end && e.startTime + e.duration > start).map((e) => e.duration);
      return { lists, ms: end - start, during, history };
    }, { ids, t0Epoch, checkpoints: CHECKPOINTS });
    const mainMax = replay.during.length ? Math.max(...replay.during) : 0;
    console.log(`main thread (for comparison): ${ids.length} clicks (record + recommend) in ${replay.ms.toFixed(0)} ms = ${(ids.length / (replay.ms / 1000)).toFixed(1)} clicks/s; ` +
      `long tasks ${replay.during.length}, max ${mainMax.toFixed(1)} ms`);
    const reached = CHECKPOINTS.filter((c) => c <= ids.length);
    assert.ok(reached.length >= 7);
    for (const c of reached) {
      assert.equal(lists[c].length, 20, `checkpoint ${c}`);
      assert.deepEqual(lists[c], replay.lists[c], `after ${c} clicks the worker and the main thread agree`);
    }

    // Errors cross the thread as EdgerecErrors; bad input changes nothing.
    const errors = await page.evaluate(async () => {
      const { EdgerecError, isEdgerecError, WorkerRecommender } = await import('/pkg/dist/worker.js');
      const { rec } = window.edgerecWorker;
      const history = (await rec.history()).map((h) => h.item);
      const before = history.length;
      const out = { history };
      try {
        await rec.record('no-such-movie');
        out.unknown = 'accepted';
      } catch (e) {
        out.unknown = { code: e.code, name: e.name, message: e.message, is: isEdgerecError(e), instance: e instanceof EdgerecError };
      }
      try {
        await rec.record('1', { timestampMs: Date.now() + 86_400_000 });
      } catch (e) {
        out.future = e.code;
      }
      out.unchanged = (await rec.history()).length === before;
      try {
        await WorkerRecommender.load('/models/movielens-small/manifest.json', { store: { get() {}, put() {}, delete() {} } });
      } catch (e) {
        out.customStore = e.code;
      }
      // A second recommender in a worker of the page's own: load progress crosses too, and
      // free() leaves that worker running (it serves a new recommender afterwards).
      const own = new Worker('/pkg/dist/worker-entry.js', { type: 'module' });
      const progress = [];
      const second = await WorkerRecommender.load('/models/movielens-small/manifest.json', {
        backend: 'cpu',
        store: 'memory',
        worker: own,
        onProgress: (p) => progress.push(p),
      });
      out.progress = { calls: progress.length, done: progress.at(-1)?.loaded === progress.at(-1)?.total, cold: (await second.history()).length === 0 };
      second.free();
      const third = await WorkerRecommender.load('/models/movielens-small/manifest.json', { backend: 'cpu', store: 'memory', worker: own });
      out.ownWorkerReused = (await third.recommend(5)).items.length === 5;
      third.free();
      await new Promise((resolve) => setTimeout(resolve, 100));
      own.terminate();
      const query = await rec.query();
      out.query = { isF32: query instanceof Float32Array, length: query.length, finite: query.every(Number.isFinite) };
      const state = await rec.refresh();
      out.state = { backend: state.backend, modelVersion: state.modelVersion, cached: rec.modelVersion };
      return out;
    });
    assert.deepEqual(errors.history, replay.history, 'the same stored history');
    assert.ok(errors.history.length > 0);
    assert.equal(errors.unknown.code, 'UNKNOWN_ITEM', JSON.stringify(errors.unknown));
    assert.equal(errors.unknown.name, 'EdgerecError');
    assert.ok(errors.unknown.is && errors.unknown.instance, JSON.stringify(errors.unknown));
    assert.match(errors.unknown.message, /no-such-movie/);
    assert.equal(errors.future, 'INVALID_INTERACTION');
    assert.ok(errors.unchanged, 'a rejected record changes nothing');
    assert.equal(errors.customStore, 'INVALID_ARGUMENT');
    assert.ok(errors.ownWorkerReused, 'free() leaves a worker passed as options.worker running');
    assert.ok(errors.progress.calls > 0 && errors.progress.done && errors.progress.cold, JSON.stringify(errors.progress));
    assert.ok(errors.query.isF32 && errors.query.length > 0 && errors.query.finite, JSON.stringify(errors.query));
    assert.equal(errors.state.backend, 'cpu');
    assert.equal(errors.state.modelVersion, errors.state.cached);

    // free(): later calls reject, and the worker is terminated.
    const closed = Promise.all(workerCloses);
    const freed = await page.evaluate(async () => {
      const { rec } = window.edgerecWorker;
      rec.free();
      rec.free(); // a second call does nothing
      try {
        await rec.recommend();
        return 'resolved';
      } catch (e) {
        return { code: e.code, name: e.name };
      }
    });
    assert.deepEqual(freed, { code: 'INVALID_ARGUMENT', name: 'EdgerecError' });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('the worker was not terminated')), 10_000);
    });
    await Promise.race([closed, timeout]).finally(() => clearTimeout(timer));
    assert.equal(engineWorkers().length, 0);
    assert.deepEqual(pageErrors, []);
  } finally {
    await browser.close();
  }
});
