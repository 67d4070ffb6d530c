//! The threads the CPU scan is split across: in the npm package's `threads` module (wasm with
//! shared memory, `+atomics`), Web Workers that entered [`worker_loop`]; everywhere else none,
//! and every part runs on the calling thread.
//!
//! Why not rayon (wasm-bindgen-rayon): a rayon caller outside the pool blocks on a latch until
//! the pool finishes, and blocking (`memory.atomic.wait32`, `Atomics.wait`) traps on a
//! browser's main thread — which is where `ScoringEngine.search` runs. Here the caller is one of
//! the participants: it publishes the job, wakes the workers, claims parts like they do, and
//! only *spins* for parts a worker is still running (a few microseconds: the parts are equal
//! shares). Workers block in `memory.atomic.wait32` between jobs, which workers may do, and wake
//! in about 13 µs (measured in Chromium 156: `Atomics.wait` → `Atomics.notify` round trip).
//! Parts are claimed with a counter, so a worker that wakes late just finds nothing left: the
//! caller never waits for a thread that has not started.

/// Worker threads in the pool (not counting the caller): 0 outside the `threads` build.
pub fn workers() -> usize {
    imp::workers()
}

/// Runs `job(part)` once for every part in `0..parts`, spread over the pool's workers and the
/// calling thread, and returns when all have finished.
pub fn run(parts: usize, job: &(dyn Fn(usize) + Sync)) {
    imp::run(parts, job)
}

/// Rows below which a scan share is not worth a thread's wake-up (about 30 µs of int8 scan at
/// 64 dimensions on one core).
pub const MIN_ROWS_PER_PART: usize = 4096;

/// How many parts a scan over `rows` rows is split into: one per thread, at most one per
/// [`MIN_ROWS_PER_PART`] rows, at least 1.
pub fn parts_for(rows: usize) -> usize {
    (workers() + 1).min(rows / MIN_ROWS_PER_PART).max(1)
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "atomics")))]
mod imp {
    pub fn workers() -> usize {
        0
    }

    pub fn run(parts: usize, job: &(dyn Fn(usize) + Sync)) {
        (0..parts).for_each(job);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
mod imp {
    use core::arch::wasm32::{memory_atomic_notify, memory_atomic_wait32};
    use std::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering::SeqCst};

    /// A job as the workers see it; lives on the caller's stack for the duration of [`run`].
    struct Job<'a> {
        job: &'a (dyn Fn(usize) + Sync),
        parts: usize,
        /// Next part to claim.
        next: AtomicUsize,
        /// Parts finished.
        done: AtomicUsize,
    }

    /// Workers that entered [`worker_loop`].
    static WORKERS: AtomicUsize = AtomicUsize::new(0);
    /// Bumped for every job; workers sleep on it.
    static GENERATION: AtomicI32 = AtomicI32::new(0);
    /// The current job (a `*const Job`), 0 when none.
    static CURRENT: AtomicUsize = AtomicUsize::new(0);
    /// Workers between reading [`CURRENT`] and being done with what it pointed to.
    static ACTIVE: AtomicU32 = AtomicU32::new(0);

    pub fn workers() -> usize {
        WORKERS.load(SeqCst)
    }

    /// Claims and runs parts until none is left.
    fn help(job: &Job<'_>) {
        loop {
            let part = job.next.fetch_add(1, SeqCst);
            if part >= job.parts {
                return;
            }
            (job.job)(part);
            job.done.fetch_add(1, SeqCst);
        }
    }

    pub fn run(parts: usize, job: &(dyn Fn(usize) + Sync)) {
        if parts <= 1 || workers() == 0 {
            (0..parts).for_each(job);
            return;
        }
        let shared = Job { job, parts, next: AtomicUsize::new(0), done: AtomicUsize::new(0) };
        CURRENT.store(&shared as *const Job<'_> as usize, SeqCst);
        GENERATION.fetch_add(1, SeqCst);
        // SAFETY: the address is that of a live static i32; notify only wakes waiters.
        unsafe { memory_atomic_notify(GENERATION.as_ptr().cast(), u32::MAX) };
        help(&shared);
        while shared.done.load(SeqCst) < parts {
            core::hint::spin_loop();
        }
        // Retire the job, then wait out any worker that read the pointer before it was
        // cleared: each either sees 0 or is counted in ACTIVE (SeqCst on both sides), so once
        // ACTIVE is 0 nobody touches `shared` again and it may leave the stack.
        CURRENT.store(0, SeqCst);
        while ACTIVE.load(SeqCst) != 0 {
            core::hint::spin_loop();
        }
    }

    /// A worker's life: sleep until a job is published, help with it, repeat. Never returns.
    pub fn worker_loop() -> ! {
        WORKERS.fetch_add(1, SeqCst);
        let mut seen = GENERATION.load(SeqCst);
        loop {
            // SAFETY: the address is that of a live static i32; a worker may block.
            unsafe { memory_atomic_wait32(GENERATION.as_ptr(), seen, -1) };
            seen = GENERATION.load(SeqCst);
            ACTIVE.fetch_add(1, SeqCst);
            let current = CURRENT.load(SeqCst);
            if current != 0 {
                // SAFETY: `run` keeps the job alive until ACTIVE drops back to 0 after it
                // cleared CURRENT; this worker is counted in ACTIVE and read a non-zero value.
                help(unsafe { &*(current as *const Job<'_>) });
            }
            ACTIVE.fetch_sub(1, SeqCst);
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
pub use imp::worker_loop;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn every_part_runs_once_and_small_scans_stay_whole() {
        let hits: Vec<AtomicUsize> = (0..5).map(|_| AtomicUsize::new(0)).collect();
        run(5, &|p| {
            hits[p].fetch_add(1, Ordering::SeqCst);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::SeqCst) == 1));
        assert_eq!(parts_for(100), 1);
        assert_eq!(parts_for(0), 1);
        // Natively there is no pool: one part however large the scan.
        assert_eq!(parts_for(10_000_000), workers() + 1);
    }
}
