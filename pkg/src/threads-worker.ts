/**
 * A thread of the `threads` module's CPU pool (see `initEdgerec`'s `threads` option): it
 * instantiates the module on the page's shared memory, says it is ready, and enters the pool,
 * where it sleeps until a scan is split across the threads. It never returns; the page owns it.
 *
 * @internal
 * @module
 */
import { initSync, threadWorkerLoop } from '../wasm/threads/edgerec.js';

/** What the page sends: the compiled module and the memory it runs on. */
interface ThreadStart {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
}

const scope = self as unknown as { onmessage: ((e: MessageEvent<ThreadStart>) => void) | null; postMessage(m: unknown): void };
scope.onmessage = (e) => {
  scope.onmessage = null;
  try {
    initSync({ module: e.data.module, memory: e.data.memory });
  } catch (err) {
    scope.postMessage({ error: String(err) });
    return;
  }
  scope.postMessage({ ready: true });
  threadWorkerLoop();
};
