//! The CPU thread pool's JavaScript side (`crate::compute::cpu::pool`).

use wasm_bindgen::prelude::*;

/// Threads a CPU scan is split across: the calling thread plus the pool's workers (1 outside
/// the npm package's `threads` module, or before its workers started).
#[wasm_bindgen(js_name = cpuThreads)]
pub fn cpu_threads() -> usize {
    crate::compute::cpu::pool::workers() + 1
}

/// Enters the pool as a worker; never returns. Called by the package's thread worker
/// (`pkg/src/threads-worker.ts`) once this module is instantiated on the shared memory.
#[cfg(target_feature = "atomics")]
#[wasm_bindgen(js_name = threadWorkerLoop)]
pub fn thread_worker_loop() {
    crate::compute::cpu::pool::worker_loop()
}
