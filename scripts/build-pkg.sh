#!/usr/bin/env bash
# Builds the npm package in pkg/: release wasm → wasm-bindgen (web target) → wasm-opt -Oz →
# TypeScript wrapper → prints the gzipped size of what the package ships.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1;34m[pkg]\033[0m %s\n' "$*"; }

# shellcheck source=toolchain.sh
source scripts/toolchain.sh

# Six builds of the same crate (`src/wasm/mod.rs` says which exports each carries):
#   pkg/wasm/          the core: `Recommender`, `Bundle`, `ScoringEngine` on the CPU (no wgpu, no
#                      WGSL) — what every page downloads;
#   pkg/wasm/relaxed/  the core again with Relaxed SIMD (its int8 scan filters rows with a 6-bit
#                      dot product, then rescores exactly: the same lists), loaded instead of the
#                      core where `WebAssembly.validate` accepts a relaxed-SIMD instruction. Only
#                      the `.wasm` ships: its glue must equal the core's (checked below);
#   pkg/wasm/gpu/      the full engine: the core's exports plus the WebGPU path, loaded instead of
#                      the core where `navigator.gpu` offers an adapter;
#   pkg/wasm/kernels/  the one-shot re-rank primitives and `referenceTopK`, loaded on first use;
#   pkg/wasm/sync/     the sync client, loaded by the first `Recommender` created with `sync`;
#   pkg/wasm/threads/  the core on shared memory with a CPU thread pool, loaded instead of the
#                      core on cross-origin isolated pages (`initEdgerec`'s `threads`).
# All six: the pinned nightly, the standard library rebuilt with `-Cpanic=immediate-abort`
# (scripts/toolchain.sh), and the simd128 / inline-threshold flags of .cargo/config.toml
# (RUSTFLAGS replaces that file's flags, so they are repeated here).
# The flags of each build (scripts/toolchain.sh): the core and the lazily loaded modules
# (simd128), the core's Relaxed SIMD build, and the `threads` module. Each flag set has its own
# target dir, so that switching between them never rebuilds the standard library.
build() { # <out dir> <cargo features> [relaxed | threads]
  local out=$1 features=$2 variant=${3:-simd128} flags=$EDGEREC_WASM_RUSTFLAGS target_dir=target/pkg
  case $variant in
    relaxed) flags=$EDGEREC_RELAXED_RUSTFLAGS target_dir=target/pkg-relaxed ;;
    threads) flags=$EDGEREC_THREADS_RUSTFLAGS target_dir=target/pkg-threads ;;
  esac
  say "cargo +$EDGEREC_NIGHTLY build --release --target wasm32-unknown-unknown --features $features, $variant (std rebuilt: immediate-abort)"
  RUSTFLAGS="$flags" cargo "+$EDGEREC_NIGHTLY" build -Zbuild-std=std,panic_abort --release \
    --target wasm32-unknown-unknown --lib --no-default-features --features "$features" --target-dir "$target_dir"
  say "wasm-bindgen --target web → $out"
  wasm-bindgen --target web --out-dir "$out" --out-name edgerec \
    "$target_dir/wasm32-unknown-unknown/release/edgerec.wasm"
  # The generated classes declare `[Symbol.dispose]()`, which needs the `esnext.disposable` lib:
  # a consumer compiling with `lib: ["ES2022", "DOM"]` and `skipLibCheck: false` would fail on
  # our types. The reference directive brings that lib in wherever the declarations are used.
  sed -i '1i /// <reference lib="esnext.disposable" />' "$out/edgerec.d.ts"
  say "wasm-opt -Oz (binaryen $(node_modules/.bin/wasm-opt --version | awk '{print $3}')) → $out"
  # --converge: -Oz again until the module stops shrinking; then whole-program type flow
  # (--gufa-optimizing) and -Oz once more (about 0.1 KB gzipped); the producers and
  # target-features sections only name the toolchain (about 0.6 KB gzipped).
  node_modules/.bin/wasm-opt -Oz --converge --gufa-optimizing -Oz --converge \
    --strip-producers --strip-debug --strip-target-features \
    --enable-simd --enable-relaxed-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue --enable-threads \
    "$out/edgerec_bg.wasm" -o "$out/edgerec_bg.wasm"
}
build pkg/wasm js-engine
# The relaxed core: wasm-bindgen's glue names the imports and exports, and `initEdgerec` loads
# this `.wasm` with the core's glue, so the two must be the same files (the `.wasm` differs
# only in the scan's instructions). A difference fails the build instead of shipping a module
# that would not link.
build target/pkg/relaxed js-engine relaxed
for f in edgerec.js edgerec.d.ts edgerec_bg.wasm.d.ts; do
  if ! cmp -s "pkg/wasm/$f" "target/pkg/relaxed/$f"; then
    diff "pkg/wasm/$f" "target/pkg/relaxed/$f" | head -20 >&2 || true
    echo "build-pkg: the relaxed-SIMD core's $f differs from the core's; it cannot share the core's glue" >&2
    exit 1
  fi
done
mkdir -p pkg/wasm/relaxed
cp target/pkg/relaxed/edgerec_bg.wasm pkg/wasm/relaxed/edgerec_bg.wasm
build pkg/wasm/gpu js-engine,gpu
build pkg/wasm/kernels js-kernels
build pkg/wasm/sync js-sync
build pkg/wasm/threads js-engine threads
say "ErrorCode union from src/error.rs"
node scripts/gen-error-codes.mjs
say "tsc (pkg/src → pkg/dist)"
node_modules/.bin/tsc -p pkg/tsconfig.json

# What the package ships is minified (the declarations keep every doc comment): a consumer's
# bundler would minify it anyway, and a page that imports the package without one (an import
# map, a CDN) downloads half the bytes. Minifiers drop comments, so dist/wasm-file.js, whose
# import() carries the comments bundlers read, stays as tsc wrote it but for its doc comments.
say "esbuild --minify (pkg/dist, the wasm-bindgen glue)"
for js in pkg/dist/*.js pkg/wasm/edgerec.js pkg/wasm/{gpu,kernels,sync,threads}/edgerec.js; do
  if [[ $js == pkg/dist/wasm-file.js ]]; then
    # Only its whole-line comments go (the doc comments); the inline ones stay.
    sed -i -E '/^\s*(\/\*\*|\*|\*\/|\/\/)/d' "$js"
    continue
  fi
  node_modules/.bin/esbuild --minify --format=esm --log-level=warning "$js" --outfile="$js" --allow-overwrite
done

# Each file compressed on its own, as a browser downloads them.
gz() { local total=0 f; for f in "$@"; do total=$((total + $(gzip -9 -c "$f" | wc -c))); done; echo "$total"; }
kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1000 }'; }
core_wasm=$(gz pkg/wasm/edgerec_bg.wasm)
core_js=$(gz pkg/wasm/edgerec.js pkg/dist/index.js pkg/dist/storage.js pkg/dist/sync.js pkg/dist/error-codes.js pkg/dist/wasm-file.js)
say "size (gzip -9), per entry point and lazily loaded module:"
say "  edgerec (core):    wasm $(kb "$core_wasm") + JS $(kb "$core_js") = $(kb $((core_wasm + core_js)))"
relaxed_wasm=$(gz pkg/wasm/relaxed/edgerec_bg.wasm)
say "  edgerec (core, Relaxed SIMD build where supported): wasm $(kb "$relaxed_wasm") + JS $(kb "$core_js") = $(kb $((relaxed_wasm + core_js)))"
say "  + WebGPU (replaces the core wasm): wasm $(kb "$(gz pkg/wasm/gpu/edgerec_bg.wasm)") + glue $(kb "$(gz pkg/wasm/gpu/edgerec.js)")"
say "  + kernels (dppSelect, mmrSelect, DppKernel, MmrIndex, referenceTopK): wasm $(kb "$(gz pkg/wasm/kernels/edgerec_bg.wasm)") + glue $(kb "$(gz pkg/wasm/kernels/edgerec.js)")"
say "  + threads (replaces the core on cross-origin isolated pages): wasm $(kb "$(gz pkg/wasm/threads/edgerec_bg.wasm)") + glue $(kb "$(gz pkg/wasm/threads/edgerec.js pkg/dist/threads.js pkg/dist/threads-worker.js)")"
say "  + sync (Recommender with sync): wasm $(kb "$(gz pkg/wasm/sync/edgerec_bg.wasm)") + glue $(kb "$(gz pkg/wasm/sync/edgerec.js)")"
say "  edgerec/worker: $(kb "$(gz pkg/dist/worker.js pkg/dist/worker-protocol.js pkg/dist/worker-entry.js pkg/dist/parallel.js)") JS; edgerec/sw: $(kb "$(gz pkg/dist/sw.js)") JS"
