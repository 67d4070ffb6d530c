# edgerec — two commands for a fresh machine: `make demo` and `make test`.
# Every target installs what it is missing (scripts/setup.sh) and skips what is there.

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
export XDG_RUNTIME_DIR ?= /tmp
export CHROMEDRIVER ?= /usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT ?= 600
export CARGO_TERM_COLOR ?= always
PORT ?= 8080

.PHONY: demo test pkg bench setup lint test-native test-browser test-node test-e2e fuzz clean

## demo: build the npm package and serve the demo on http://127.0.0.1:$(PORT)/www/
demo: pkg
	node scripts/serve.mjs --port $(PORT)

## test: every check CI runs
test: setup lint test-native test-browser pkg test-node test-e2e fuzz
	@echo "make test: all checks passed"

setup:
	scripts/setup.sh

## pkg: build the npm package into pkg/ (wasm + TypeScript wrapper)
pkg:
	scripts/setup.sh rust node
	scripts/build-pkg.sh

lint:
	scripts/setup.sh rust
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib --test browser --test browser_user -- -D warnings

## native tests, with the GPU parity suite on Vulkan (lavapipe): a missing adapter fails them
test-native:
	scripts/setup.sh vulkan
	EDGEREC_REQUIRE_GPU=1 cargo test --workspace

## browser tests: wasm-bindgen-test in headless Chromium with WebGPU (webdriver.json)
test-browser:
	scripts/setup.sh rust browser
	cargo test --target wasm32-unknown-unknown --test browser --test browser_user

## the built package in Node (no WebGPU there: must fall back to the CPU)
test-node:
	node --test tests/node/

## end-to-end: the demo page in Chromium via playwright-core, with and without WebGPU
test-e2e:
	scripts/setup.sh browser node
	node --test tests/e2e/

## fuzz: the bundle parsers under libFuzzer for FUZZ_SECONDS (default 60; longer by hand).
## A crash, a target that does not build, or a toolchain that cannot be installed fails it.
FUZZ_SECONDS ?= 60
fuzz:
	scripts/setup.sh fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

## bench: kernel and funnel timings on this machine — native CPU and GPU, then the browser (wasm + WebGPU)
bench: pkg
	scripts/setup.sh vulkan browser
	cargo build --release -p edgerec-server
	for rows in 100000 1000000; do target/release/edgerec bench score --rows $$rows --dim 64 --k 100; done
	for d in none mmr dpp; do target/release/edgerec bench funnel --diversity $$d; done
	node scripts/bench-browser.mjs
	node scripts/bench-funnel-browser.mjs

clean:
	cargo clean
	rm -rf pkg/wasm pkg/dist node_modules
