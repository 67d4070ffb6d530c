# Sourced by the build and setup scripts: the pinned nightly toolchain.
#
# The npm package's wasm is built with it (scripts/build-pkg.sh): `-Zbuild-std` with
# `-Cpanic=immediate-abort` compiles the standard library without its panic-formatting machinery
# (a panic in wasm aborts either way; nothing panics on input by design) — 21 KB gzipped off the
# core module. `cargo fuzz` (scripts/fuzz.sh) needs a nightly too, so both use this one.
# Pinned, so that a build on a fresh machine is the build that was measured.
EDGEREC_NIGHTLY=nightly-2026-05-20

# RUSTFLAGS of the npm package's wasm modules (scripts/build-pkg.sh; RUSTFLAGS replaces
# .cargo/config.toml's flags, so its simd128 / inline-threshold flags are repeated here).
EDGEREC_WASM_RUSTFLAGS="-C target-feature=+simd128 -C llvm-args=-inline-threshold=25 -Zunstable-options -Cpanic=immediate-abort"
# The core's Relaxed SIMD build (pkg/wasm/relaxed/): the same flags plus `+relaxed-simd`.
EDGEREC_RELAXED_RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd -C llvm-args=-inline-threshold=25 -Zunstable-options -Cpanic=immediate-abort"
# The `threads` module: the core on shared memory (atomics; the standard library rebuilt with
# them, which `-Zbuild-std` does anyway), imported from the page so that the pool's workers
# (pkg/src/threads-worker.ts) instantiate the same module on it. wasm-bindgen needs the TLS
# symbols exported to give each worker its own stack and thread-locals. 2 GiB maximum: shared
# memory must declare one, and 4 GiB reservations fail on some 32-bit phones.
EDGEREC_THREADS_RUSTFLAGS="$EDGEREC_WASM_RUSTFLAGS -C target-feature=+atomics,+bulk-memory,+mutable-globals \
  -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=2147483648 \
  -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size \
  -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base"
