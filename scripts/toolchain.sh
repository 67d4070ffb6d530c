# Sourced by the build and setup scripts: the pinned nightly toolchain.
#
# The npm package's wasm is built with it (scripts/build-pkg.sh): `-Zbuild-std` with
# `-Cpanic=immediate-abort` compiles the standard library without its panic-formatting machinery
# (a panic in wasm aborts either way; nothing panics on input by design) — 21 KB gzipped off the
# core module. `cargo fuzz` (scripts/fuzz.sh) needs a nightly too, so both use this one.
# Pinned, so that a build on a fresh machine is the build that was measured.
EDGEREC_NIGHTLY=nightly-2026-05-20
