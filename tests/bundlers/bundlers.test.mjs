// The packed npm package in real consumer projects: `npm pack` of pkg/ is installed into fresh
// Vite, webpack 5 and esbuild apps (tests/bundlers/<name>/, copied to a temp dir), each is built
// with no warning and its wasm emitted as a hashed asset, and served on 127.0.0.1 to headless
// Chromium; a plain page loads the tarball's files through an import map, and Node imports the
// installed package. All of them load the shipped MovieLens bundle, record('1') and
// recommend({ k: 10 }) on the CPU path: the ids must be the same everywhere.
//
// What each consumer needs (see the files in each folder):
//   vite     nothing (no config, no plugin)
//   webpack  nothing for edgerec; `performance.assetFilter` only silences the generic 244 KiB
//            size hint for the 1.2 MiB wasm
//   esbuild  `--loader:.wasm=file` and `import wasmUrl from 'edgerec/edgerec_bg.wasm'` +
//            `await initEdgerec(new URL(wasmUrl, import.meta.url))` (esbuild does not rewrite
//            `new URL(…, import.meta.url)`)
//   plain    an import map for `edgerec`, `edgerec/sw` and `edgerec/worker`
//
// Installs use the default npm cache (--prefer-offline): after the first run nothing is
// downloaded. EDGEREC_PKG_DIR packs another directory than pkg/ (to try a fix of the package);
// KEEP_BUNDLER_WORK=1 keeps the temp dir with the consumers and their builds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { cp, mkdtemp, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from '../../scripts/demo-server.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '../..');
const pkgDir = resolve(process.env.EDGEREC_PKG_DIR ?? join(repo, 'pkg'));
const models = join(repo, 'models');
const tsc = join(repo, 'node_modules/.bin/tsc');
const K = 10;

let work;
let tarball;
let browser;
const results = {}; // consumer → ids
const report = []; // rows printed at the end

function run(cmd, args, cwd, timeout = 240_000) {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    execFile(cmd, args, { cwd, timeout, maxBuffer: 64 << 20, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      const seconds = (performance.now() - started) / 1000;
      if (err) reject(new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${output}`));
      else resolvePromise({ output, seconds });
    });
  });
}

const npmInstall = (cwd, ...extra) =>
  run('npm', ['install', ...extra, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], cwd);

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'edgerec-bundlers-'));
  const { output } = await run('npm', ['pack', pkgDir, '--pack-destination', work, '--silent'], work);
  tarball = join(work, output.trim().split('\n').pop());
  await stat(tarball);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  if (report.length) {
    console.log('\nconsumer  install s  build s  JS gz kB  wasm gz kB');
    const col = (v, width) => (v === undefined ? '-' : v.toFixed(1)).padStart(width);
    for (const r of report) {
      console.log(`${r.name.padEnd(9)} ${col(r.install, 9)} ${col(r.build, 8)} ${col(r.js, 9)} ${col(r.wasm, 11)}`);
    }
  }
  if (work && !process.env.KEEP_BUNDLER_WORK) await rm(work, { recursive: true, force: true });
});

async function copyConsumer(name) {
  const dir = join(work, name);
  await cp(join(here, name), dir, { recursive: true });
  await cp(join(here, 'app.js'), join(dir, 'app.js'));
  return dir;
}

/** Files under `dir`, relative paths. */
async function walk(dir, base = dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path, base)));
    else out.push(relative(base, path));
  }
  return out;
}

/** A build log must not complain: no warning, no unresolved import, no wasm or asset notice. */
function assertCleanBuild(name, output) {
  const bad = output
    .split('\n')
    .filter((line) => /warn|could not resolve|critical dependency|error|not supported|cannot|unable|failed/i.test(line));
  assert.deepEqual(bad, [], `${name} build printed:\n${output}`);
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** Serves `root` (and /models/ from the repository) on 127.0.0.1; records what was served. */
function serve(root, { isolated = false } = {}) {
  const served = [];
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (path === '/favicon.ico') return void res.writeHead(204).end(); // asked by Chromium, not by the app
      const [base, rest] = path.startsWith('/models/') ? [models, path.slice('/models'.length)] : [root, path];
      let file = normalize(join(base, rest));
      if (file !== base && !file.startsWith(base + sep)) throw new Error('outside');
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      served.push({ file, bytes: body });
      const isolation = isolated ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...isolation });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  return new Promise((resolvePromise) => {
    server.listen(0, '127.0.0.1', () => {
      resolvePromise({ url: `http://127.0.0.1:${server.address().port}/`, served, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

/** Opens the app, waits for window.result, checks the page loaded without a failed request. */
async function runInChromium(name, root) {
  const server = await serve(root);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`));
    // Chromium reports a fetch whose body a reader consumed to the end as ERR_ABORTED at times
    // (a plain reader loop does it too, with all bytes received): not a failure.
    page.on('requestfailed', (r) => r.failure()?.errorText !== 'net::ERR_ABORTED' && problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
    await page.goto(server.url);
    await page.waitForFunction(() => window.result || window.error, null, { timeout: 60_000 });
    const { result, workerResult, error, hasSw, module } = await page.evaluate(() => ({
      module: window.module,
      result: window.result,
      workerResult: window.workerResult,
      error: window.error,
      hasSw: window.hasSw,
    }));
    assert.equal(error, undefined, `${name}: ${error}`);
    assert.deepEqual(problems, [], `${name}: ${problems.join('\n')}`);
    assert.equal(hasSw, true, `${name}: installOfflineCache from edgerec/sw is a function`);
    // Chromium runs here without WebGPU, on pages that are not cross-origin isolated: the
    // single-threaded, CPU-only core module is the one loaded.
    assert.equal(module, 'core', `${name}: loaded module`);
    assert.equal(result.length, K, `${name}: ${JSON.stringify(result)}`);
    assert.equal(new Set(result).size, K);
    results[name] = result;
    // edgerec/worker: the same list from the engine in a Web Worker.
    if (WORKER_CONSUMERS.includes(name)) assert.deepEqual(workerResult, result, `${name}: the worker's list`);
    // What the page downloaded (model files aside), gzipped as a server would send it.
    const gz = (ext) =>
      [...new Map(server.served.filter((s) => s.file.endsWith(ext) && !s.file.startsWith(models + sep)).map((s) => [s.file, s])).values()]
        .reduce((n, s) => n + gzipSync(s.bytes).length, 0) / 1000;
    // One wasm file downloaded, the core's (the worker fetches the same one).
    const wasmFiles = [...new Set(server.served.filter((s) => s.file.endsWith('.wasm')).map((s) => s.file))];
    assert.equal(wasmFiles.length, 1, `${name}: one wasm file, got ${wasmFiles}`);
    const sizes = { js: gz('.js'), wasm: gz('.wasm') };
    if (LAZY_CONSUMERS.includes(name)) {
      const picks = await page.evaluate(() => window.kernels());
      assert.deepEqual(picks, [0, 2], `${name}: dppSelectEmbeddings from the kernels module`);
      const now = new Set(server.served.filter((s) => s.file.endsWith('.wasm')).map((s) => s.file));
      assert.equal(now.size, 2, `${name}: the kernels module is a second wasm, fetched on first use`);
      assert.deepEqual(problems, [], `${name}: ${problems.join('\n')}`);
    }
    return sizes;
  } finally {
    await context.close();
    await server.close();
  }
}

/**
 * The same built app on a cross-origin isolated server: `auto` loads the threads module (its
 * loader chunk, its worker and its wasm resolved by the bundler), which must answer with the
 * same ids as the single-threaded core did.
 */
async function runIsolated(name, root) {
  const server = await serve(root, { isolated: true });
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // Errors, and edgerec's warning that the threads did not start (Chromium's own "No
    // available adapters" warning, from the WebGPU probe, is not one).
    page.on('console', (m) => (m.type() === 'error' || /^edgerec:/.test(m.text())) && problems.push(`console ${m.type()}: ${m.text()}`));
    await page.goto(server.url);
    await page.waitForFunction(() => window.result || window.error, null, { timeout: 60_000 });
    const { result, error, module } = await page.evaluate(() => ({
      module: window.module,
      result: window.result,
      error: window.error,
    }));
    assert.equal(error, undefined, `${name} (isolated): ${error}`);
    assert.deepEqual(problems, [], `${name} (isolated): ${problems.join('\n')}`);
    assert.equal(module, 'threads', `${name} (isolated): loaded module`);
    assert.deepEqual(result, results[name], `${name} (isolated): the threads module's list`);
    const workers = page.workers().map((w) => w.url());
    // webpack names the chunk after the worker's `name` option.
    assert.ok(workers.some((u) => /threads-worker|edgerec-thread/.test(u)), `${name} (isolated): a pool thread runs: ${workers}`);
  } finally {
    await context.close();
    await server.close();
  }
}

// Consumers that also run the worker mode. esbuild does not bundle `new Worker(new URL(…,
// import.meta.url))`, so an esbuild app builds its own worker (`worker: new Worker(…)` over
// `edgerec/worker-entry`, see pkg/README.md) and is checked on the main thread only.
const WORKER_CONSUMERS = ['vite', 'webpack', 'plain'];
// Consumers whose build emits the lazily loaded modules (kernels, sync) beside the core. esbuild
// copies only the wasm an app imports, so an esbuild app that calls them passes
// `initEdgerec(core, { lazySources })` (pkg/README.md).
const LAZY_CONSUMERS = ['vite', 'webpack', 'plain'];

const bundlers = [
  // [name, folder the server serves, hashed wasm name in the output, wasm files emitted]. Vite
  // and webpack emit the six modules (core, and its Relaxed SIMD build fetched instead where the
  // engine validates Relaxed SIMD; threads, fetched only on cross-origin isolated pages — these
  // test servers do not isolate; full, fetched only where WebGPU has an adapter; kernels and
  // sync, fetched on first use); esbuild copies the wasm the app imports (the core; see
  // tests/bundlers/esbuild/main.js).
  ['vite', 'dist', /^dist\/assets\/edgerec_bg-[\w-]{8,}\.wasm$/, 6],
  ['webpack', '.', /^dist\/[0-9a-f]{16,}\.wasm$/, 6],
  ['esbuild', '.', /^dist\/edgerec_bg-[A-Z0-9]{8,}\.wasm$/, 1],
];

for (const [name, served, wasmName, wasmCount] of bundlers) {
  test(`${name}: installs the packed package, builds cleanly, recommends in Chromium`, async () => {
    const dir = await copyConsumer(name);
    const install = await npmInstall(dir, tarball);
    const build = await run('npm', ['run', '--silent', 'build'], dir);
    assertCleanBuild(name, build.output);
    const outputs = (await walk(join(dir, 'dist'))).map((f) => `dist/${f}`);
    const wasm = outputs.filter((f) => f.endsWith('.wasm'));
    assert.equal(wasm.length, wasmCount, `${name}: ${wasmCount} wasm in ${outputs}`);
    for (const file of wasm) assert.match(file, wasmName, `${name}: the wasm is a hashed asset`);
    const sizes = await runInChromium(name, join(dir, served));
    if (WORKER_CONSUMERS.includes(name)) await runIsolated(name, join(dir, served));
    report.push({ name, install: install.seconds, build: build.seconds, ...sizes });
    console.log(`${name}: ${results[name].join(' ')}`);
  });
}

test('plain page: the tarball extracted under a static dir, an import map, no bundler', async () => {
  const dir = await copyConsumer('plain');
  const started = performance.now();
  const target = join(dir, 'node_modules/edgerec');
  await mkdir(target, { recursive: true });
  await run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], dir);
  const install = (performance.now() - started) / 1000;
  const sizes = await runInChromium('plain', dir);
  await runIsolated('plain', dir);
  report.push({ name: 'plain', install, ...sizes });
  console.log(`plain: ${results.plain.join(' ')}`);
});

test('node: import from the installed tarball (CPU path), and its types resolve', async () => {
  const dir = await copyConsumer('node');
  const install = await npmInstall(dir, tarball);
  // A CommonJS-context dynamic import, as `node -e "import('edgerec')"`.
  await run(process.execPath, ['-e', "import('edgerec').then((m) => { if (typeof m.Recommender !== 'function') process.exit(3); })"], dir);
  const { output } = await run(process.execPath, ['main.mjs', join(models, 'movielens-small/manifest.json')], dir);
  const got = JSON.parse(output.trim().split('\n').pop());
  assert.equal(got.backend, 'cpu');
  assert.equal(got.hasSw, true);
  assert.equal(got.ids.length, K);
  results.node = got.ids;
  console.log(`node: ${got.ids.join(' ')}`);
  // The declarations through the package's `exports`, as bundler users and Node users resolve them.
  await run(tsc, ['-p', 'tsconfig.json'], dir);
  await run(tsc, ['-p', 'tsconfig.json', '--module', 'nodenext', '--moduleResolution', 'nodenext'], dir);
  report.push({ name: 'node', install: install.seconds });
});

test('every consumer recommends the same ids (same model, same click, CPU path)', () => {
  const names = [...bundlers.map(([n]) => n), 'plain', 'node'];
  for (const name of names) assert.ok(results[name], `${name} produced no result (see its test)`);
  for (const name of names) assert.deepEqual(results[name], results.vite, `${name} vs vite`);
});
