#!/usr/bin/env bash
# The TypeScript declarations of the JS API's results are generated from the Rust types by the
# lib's tests (ts-rs writes them to target/ts-bindings/, see .cargo/config.toml). This copies
# them into pkg/src/generated/ (committed, compiled into the package); `--check` fails instead
# when the committed copies differ — `make test` runs it after the native tests.
set -euo pipefail
cd "$(dirname "$0")/.."
src=target/ts-bindings
dst=pkg/src/generated
if [[ ! -d $src ]]; then
  cargo test --lib export_bindings -q >/dev/null
fi
if [[ ${1:-} == --check ]]; then
  if ! diff -r --exclude=README.md "$src" "$dst"; then
    echo "pkg/src/generated/ is stale: run 'make types' and commit it" >&2
    exit 1
  fi
  echo "pkg/src/generated/: $(ls "$src" | wc -l) declarations up to date"
else
  rm -f "$dst"/*.ts
  cp "$src"/*.ts "$dst"/
  echo "pkg/src/generated/: $(ls "$src" | wc -l) declarations copied"
fi
