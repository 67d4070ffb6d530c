#!/usr/bin/env bash
# Builds the npm package in pkg/: release wasm → wasm-bindgen (web target) → wasm-opt -Oz →
# TypeScript wrapper → prints the gzipped size of what the package ships.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1;34m[pkg]\033[0m %s\n' "$*"; }

# Two builds of the same crate, with the same exports:
#   pkg/wasm/      the core module: CPU only (`--no-default-features`: no wgpu, no WGSL), what a
#                  page without a usable WebGPU adapter downloads;
#   pkg/wasm/gpu/  the full module (the `gpu` feature): WebGPU plus the same CPU path, loaded
#                  instead of the core where `navigator.gpu` offers an adapter.
# The core builds in its own target dir so neither build invalidates the other.
build() { # <out dir> <cargo args…>
  local out=$1
  shift
  say "cargo build --release --target wasm32-unknown-unknown $*"
  cargo build --release --target wasm32-unknown-unknown --lib "$@"
  local target=target
  [[ " $* " == *" --target-dir target/core "* ]] && target=target/core
  say "wasm-bindgen --target web → $out"
  wasm-bindgen --target web --out-dir "$out" --out-name edgerec \
    "$target/wasm32-unknown-unknown/release/edgerec.wasm"
  # The generated classes declare `[Symbol.dispose]()`, which needs the `esnext.disposable` lib:
  # a consumer compiling with `lib: ["ES2022", "DOM"]` and `skipLibCheck: false` would fail on
  # our types. The reference directive brings that lib in wherever the declarations are used.
  sed -i '1i /// <reference lib="esnext.disposable" />' "$out/edgerec.d.ts"
  say "wasm-opt -Oz (binaryen $(node_modules/.bin/wasm-opt --version | awk '{print $3}')) → $out"
  node_modules/.bin/wasm-opt -Oz \
    --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$out/edgerec_bg.wasm" -o "$out/edgerec_bg.wasm"
}
build pkg/wasm --no-default-features --target-dir target/core
build pkg/wasm/gpu
say "ErrorCode union from src/error.rs"
node scripts/gen-error-codes.mjs
say "tsc (pkg/src → pkg/dist)"
node_modules/.bin/tsc -p pkg/tsconfig.json

gz() { gzip -9 -c "$@" | wc -c; }
core_wasm=$(gz pkg/wasm/edgerec_bg.wasm)
gpu_wasm=$(gz pkg/wasm/gpu/edgerec_bg.wasm)
core_js=$(gz pkg/wasm/edgerec.js pkg/dist/index.js pkg/dist/storage.js pkg/dist/sync.js pkg/dist/error-codes.js)
gpu_js=$(gz pkg/wasm/gpu/edgerec.js)
say "size (gzip -9): core = wasm ${core_wasm} B + JS ${core_js} B = $((core_wasm + core_js)) B;" \
  "with WebGPU the full module replaces the core wasm: wasm ${gpu_wasm} B + its glue ${gpu_js} B"
