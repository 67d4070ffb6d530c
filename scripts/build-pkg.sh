#!/usr/bin/env bash
# Builds the npm package in pkg/: release wasm → wasm-bindgen (web target) → wasm-opt -Oz →
# TypeScript wrapper → prints the gzipped size of what the package ships.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1;34m[pkg]\033[0m %s\n' "$*"; }

say "cargo build --release --target wasm32-unknown-unknown"
cargo build --release --target wasm32-unknown-unknown --lib
say "wasm-bindgen --target web"
wasm-bindgen --target web --out-dir pkg/wasm --out-name edgerec \
  target/wasm32-unknown-unknown/release/edgerec.wasm
# The generated classes declare `[Symbol.dispose]()`, which needs the `esnext.disposable` lib: a
# consumer compiling with `lib: ["ES2022", "DOM"]` and `skipLibCheck: false` would fail on our
# types. The reference directive brings that lib in wherever the declarations are used.
sed -i '1i /// <reference lib="esnext.disposable" />' pkg/wasm/edgerec.d.ts
say "wasm-opt -Oz (binaryen $(node_modules/.bin/wasm-opt --version | awk '{print $3}'))"
node_modules/.bin/wasm-opt -Oz \
  --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/wasm/edgerec_bg.wasm -o pkg/wasm/edgerec_bg.wasm
say "ErrorCode union from src/error.rs"
node scripts/gen-error-codes.mjs
say "tsc (pkg/src → pkg/dist)"
node_modules/.bin/tsc -p pkg/tsconfig.json

gz() { gzip -9 -c "$1" | wc -c; }
wasm_raw=$(wc -c < pkg/wasm/edgerec_bg.wasm)
wasm_gz=$(gz pkg/wasm/edgerec_bg.wasm)
js_gz=$(cat pkg/wasm/edgerec.js pkg/dist/index.js | gzip -9 -c | wc -c)
say "size: wasm ${wasm_raw} B raw, ${wasm_gz} B gzipped; JS ${js_gz} B gzipped; total $((wasm_gz + js_gz)) B gzipped"
