# edgerec — two commands for a fresh machine: `make demo` and `make test`.
# Every target installs what it is missing (scripts/setup.sh) and skips what is there.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
export XDG_RUNTIME_DIR ?= /tmp
export CHROMEDRIVER ?= /usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT ?= 600
export CARGO_TERM_COLOR ?= always
PORT ?= 8080

.PHONY: demo server docs test pkg bench bench-ivf bench-quality setup lint types test-bundlers train-scale test-scale test-spark test-native test-browser test-node test-e2e fuzz clean

## demo: build the npm package and the server, then serve the demo pages and the sync API
## (events, models, experiments) from one origin: http://127.0.0.1:$(PORT)/www/
demo: pkg server
	@models=$$(scripts/demo-models.sh) && \
	  echo "edgerec demo: http://127.0.0.1:$(PORT)/www/  (sync demo: /www/sync.html; events in target/demo-events.db)" && \
	  target/debug/edgerec serve --addr 127.0.0.1:$(PORT) --static . --models $$models \
	    --experiments www/experiments.json --db sqlite:target/demo-events.db

## server: the `edgerec` CLI (serve, train, eval, bundle, …), built with the test profile the
## test suites share, so it is built once
server:
	scripts/setup.sh rust
	cargo build -p edgerec-server --profile test

## test: every check CI runs
test: setup lint test-native test-browser pkg docs test-node test-e2e test-bundlers test-spark fuzz
	@echo "make test: all checks passed"

setup:
	scripts/setup.sh

## pkg: build the npm package into pkg/ (wasm + TypeScript wrapper)
pkg:
	scripts/setup.sh rust node
	scripts/build-pkg.sh

## docs: the API reference generated from the package's types (typedoc) into target/docs/
docs: pkg
	scripts/setup.sh node
	node_modules/.bin/typedoc
	@echo "API reference: target/docs/index.html; guides: docs/bring-your-own-model.md, pkg/README.md"

lint:
	scripts/setup.sh rust
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib --test browser --test browser_user -- -D warnings
	# The npm package's modules (scripts/build-pkg.sh) must stay clean too: the CPU-only core (no
	# `gpu` feature: uninhabited GPU types, no wgpu), the kernels and the sync module.
	for features in js-engine js-kernels js-sync; do \
	  cargo clippy --target wasm32-unknown-unknown --lib --no-default-features --features $$features -- -D warnings || exit 1; \
	done
	# The `threads` module (shared memory, the CPU thread pool): the pinned nightly's clippy with
	# the package build's flags (scripts/toolchain.sh).
	source scripts/toolchain.sh && RUSTFLAGS="$$EDGEREC_THREADS_RUSTFLAGS" cargo "+$$EDGEREC_NIGHTLY" clippy \
	  -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown --lib --no-default-features \
	  --features js-engine --target-dir target/pkg-threads -- -D warnings
	# The core's Relaxed SIMD build (pkg/wasm/relaxed/): its own target features, hence its own
	# RUSTFLAGS and target dir (the default one keeps its cache).
	RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd -C llvm-args=-inline-threshold=25" \
	  cargo clippy --target wasm32-unknown-unknown --lib --no-default-features --features js-engine \
	  --target-dir target/relaxed-clippy -- -D warnings

## native tests, with the GPU parity suite on Vulkan (lavapipe) and the sync server's store
## tests on a real PostgreSQL on loopback: a missing adapter or database fails them
test-native:
	scripts/setup.sh vulkan
	EDGEREC_PG_URL=$$(scripts/setup.sh postgres | tail -n1) EDGEREC_REQUIRE_PG=1 \
	  EDGEREC_REQUIRE_GPU=1 cargo test --workspace
	scripts/ts-types.sh --check

## types: copy the TypeScript declarations generated from the Rust result types (ts-rs) into
## pkg/src/generated/ (commit them; `make test` checks they are current)
types:
	cargo test --lib export_bindings -q
	scripts/ts-types.sh

## browser tests: wasm-bindgen-test in headless Chromium with WebGPU (webdriver.json)
test-browser:
	scripts/setup.sh rust browser
	cargo test --target wasm32-unknown-unknown --test browser --test browser_user

## the built package in Node (no WebGPU there: must fall back to the CPU), with the real server
test-node: server
	node --test tests/node/

## end-to-end: the demo page in Chromium via playwright-core, with and without WebGPU
test-e2e: server
	scripts/setup.sh browser node
	node --test tests/e2e/

## bundlers: `npm pack` of pkg/ installed into fresh Vite, webpack 5 and esbuild apps and a plain
## import-map page, built and run in headless Chromium, and imported from Node; same ids everywhere
test-bundlers: pkg
	scripts/setup.sh browser node
	node --test tests/bundlers/

## train-scale: ItemCF/Swing/stats on Spark (local mode) + two-tower on PyTorch DDP (torchrun,
## 2 processes) → a verified bundle in OUT/bundle (train/README.md; flags for a real cluster there)
DATA ?= data/ml-latest-small
OUT ?= target/scale
train-scale: server
	scripts/setup.sh scale
	train/run_pipeline.sh $(DATA) $(OUT)

## test-spark: the Spark ItemCF/Swing lists and statistics equal the Rust trainer's (local mode,
## MovieLens users 1–100); Java + PySpark without torch in train/.venv-spark. Fails, never skips,
## when Java or PySpark is missing.
SPARK_TESTS := train/tests/test_data.py train/tests/test_spark_parity.py
test-spark: server
	scripts/setup.sh spark
	train/.venv-spark/bin/python -m pytest -q $(SPARK_TESTS)

## test-scale: everything in train/tests with train/.venv (PyTorch too — several GB, so not in
## `make test`): the Spark parity, DDP two-tower checks, the DDP bundle loaded by the npm package
## in headless Chromium, and the pipeline on the Parquet of `edgerec events export`
test-scale: server pkg
	scripts/setup.sh scale browser node
	train/.venv/bin/python -m pytest -q train/tests

## fuzz: the bundle parsers under libFuzzer for FUZZ_SECONDS (default 60; longer by hand).
## A crash, a target that does not build, or a toolchain that cannot be installed fails it.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/setup.sh fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

## bench: kernel and funnel timings on this machine — native CPU and GPU, then the browser (wasm + WebGPU),
## then edgerec against its peers (plain JS, TF.js wasm, hnswlib-wasm, voy) in one page → bench/results/
bench: pkg
	scripts/setup.sh vulkan browser
	cargo build --release -p edgerec-server
	for rows in 100000 1000000; do target/release/edgerec bench score --rows $$rows --dim 64 --k 100; done
	for d in none mmr dpp; do target/release/edgerec bench funnel --diversity $$d; done
	node scripts/bench-browser.mjs
	node scripts/bench-funnel-browser.mjs
	node scripts/bench-funnel-browser.mjs 300 cpu core
	node scripts/bench-funnel-browser.mjs 300 cpu threads
	node scripts/bench-peers.mjs "rows=100000&dim=64&k=100&iters=100&ef=64,800"
	node scripts/bench-peers.mjs "rows=1000000&dim=64&k=100&iters=30&libs=edgerec,edgerec-threads,edgerec-workers,plain,tfjs"
	$(MAKE) bench-ivf

## bench-quality: the model card's quality tables — every baseline (popularity, ItemCF, EASE, ALS,
## BPR, BiVAE), the two-tower and the shipped funnel on the random 75/25, temporal and
## leave-last-out splits of ml-latest-small, the session replay and responsiveness
## (target/eval-baselines/tables.md; about an hour on two cores, SKIP_BIVAE=1 for ~20 min)
bench-quality:
	scripts/setup.sh rust
	bench/eval_baselines.sh

## bench-ivf: the IVF recall / latency curve in the browser over a 1M-row bundle built with
## `--ivf-lists 1024`, on topic-shaped data (tight and loose topics), then at 100k rows next to
## hnswlib-wasm on the same vectors and queries → bench/results/ivf-browser-*
bench-ivf: pkg
	scripts/setup.sh browser
	cargo build --release -p edgerec-server
	node scripts/bench-ivf.mjs 1000000 1024 0.6
	node scripts/bench-ivf.mjs 1000000 1024 1.5
	node scripts/bench-ivf.mjs 100000 256 0.6 64,200,800
	node scripts/bench-ivf.mjs 100000 256 1.5 64,200,800

clean:
	cargo clean
	rm -rf pkg/wasm pkg/dist node_modules
