/**
 * Starts the `'threads'` module (see `initEdgerec`'s `threads` option): compiles it, instantiates
 * it on a new shared memory, and starts its pool's workers (`threads-worker.ts`). Imported by
 * `initEdgerec` only when that module is chosen.
 *
 * @internal
 * @module
 */
import { EdgerecError, type WasmSource } from './index.js';
import { wasmFile } from './wasm-file.js';

/** The `'threads'` module's glue: the core's exports plus the pool's. */
export interface ThreadsGlue {
  default(init: { module_or_path: WasmSource }): Promise<{ memory: WebAssembly.Memory }>;
  cpuThreads(): number;
}

/** A compiled module from any {@link WasmSource}: the pool's workers need the module itself. */
async function compileModule(source: WasmSource): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof Response) return WebAssembly.compileStreaming(source);
  if (typeof source === 'string' || source instanceof URL) return WebAssembly.compileStreaming(fetch(source));
  return WebAssembly.compile(source);
}

/**
 * Starts `workers` pool threads on `memory` and waits until the module counts them all
 * (`cpuThreads() === workers + 1`): each worker instantiates the module, says so, and enters
 * the pool, where the module counts it.
 */
async function startThreads(module: WebAssembly.Module, memory: WebAssembly.Memory, workers: number, cpuThreads: () => number): Promise<void> {
  const started: Worker[] = [];
  await Promise.all(
    Array.from({ length: workers }, () => {
      const worker = new Worker(new URL('./threads-worker.js', import.meta.url), { type: 'module', name: 'edgerec-thread' });
      started.push(worker);
      return new Promise<void>((resolve, reject) => {
        worker.onmessage = (e: MessageEvent<{ ready?: boolean; error?: string }>) =>
          e.data.ready ? resolve() : reject(new EdgerecError('BACKEND_UNAVAILABLE', `a thread worker failed to start: ${e.data.error}`));
        worker.onerror = (e) => reject(new EdgerecError('BACKEND_UNAVAILABLE', `a thread worker failed to load: ${e.message}`));
        worker.postMessage({ module, memory });
      });
    }),
  ).catch((e: unknown) => {
    for (const w of started) w.terminate();
    throw e;
  });
  // A worker enters the pool right after saying it is ready; give the last ones that moment.
  for (let waited = 0; cpuThreads() < workers + 1 && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
}

/**
 * The `'threads'` module from `source` (default: beside this file), running with `threads`
 * threads: this one and `threads − 1` pool workers, all counted in by the time it resolves.
 */
export async function loadThreads(source: WasmSource | undefined, threads: number): Promise<ThreadsGlue> {
  const threaded = (await import('../wasm/threads/edgerec.js')) as unknown as ThreadsGlue;
  const wasm = source ?? (await wasmFile(new URL('../wasm/threads/edgerec_bg.wasm', import.meta.url)));
  const compiled = await compileModule(wasm);
  const exports = await threaded.default({ module_or_path: compiled });
  await startThreads(compiled, exports.memory, threads - 1, threaded.cpuThreads);
  return threaded;
}
