#!/usr/bin/env bash
# Installs what the build and tests need, skipping whatever is already present. Idempotent.
#   scripts/setup.sh rust     rustup wasm32 target + wasm-bindgen-cli pinned to Cargo.lock + the
#                             pinned nightly with rust-src (the npm package's wasm build)
#   scripts/setup.sh browser  chromium + chromedriver (Debian packages)
#   scripts/setup.sh vulkan   Mesa lavapipe (software Vulkan) for native GPU tests
#   scripts/setup.sh node     node/npm + the dev tools in package.json (tsc, wasm-opt, playwright-core)
#   scripts/setup.sh fuzz     the pinned nightly + cargo-fuzz (for `make fuzz`)
#   scripts/setup.sh postgres PostgreSQL for the `edgerec serve` tests: a private cluster in
#                             $EDGEREC_PG_DIR (default /var/tmp/edgerec-pg) on 127.0.0.1:$EDGEREC_PG_PORT
#                             (default 55432), trust auth, database edgerec_test; its URL is the
#                             last line printed:  export EDGEREC_PG_URL=$(scripts/setup.sh postgres | tail -n1)
#   scripts/setup.sh scale    Java (Debian's headless JRE) + train/.venv with train/requirements.txt
#                             (PySpark, torch, safetensors, numpy, pyarrow, pytest) for
#                             `make train-scale` / `make test-scale` (train/README.md)
#   scripts/setup.sh spark    Java + train/.venv-spark with train/requirements-spark.txt (the same
#                             without torch, ~0.7 GB) for `make test-spark`, part of `make test`
# With no argument: all of them but scale and spark (Python wheels; ask for them by name).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
APT_UPDATED=""
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    say "apt-get update"
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The pinned nightly (scripts/toolchain.sh) with the standard library's sources.
setup_nightly() {
  export PATH="$HOME/.cargo/bin:$PATH"
  # shellcheck source=toolchain.sh
  source scripts/toolchain.sh
  local installed
  installed=$(rustup component list --toolchain "$EDGEREC_NIGHTLY" --installed 2>/dev/null || true)
  if ! grep -q '^rust-src' <<<"$installed" || ! grep -q '^clippy' <<<"$installed"; then
    # rust-src: the wasm build rebuilds std; clippy: `make lint` checks the `threads` module,
    # which only this toolchain builds.
    say "rustup toolchain install $EDGEREC_NIGHTLY --component rust-src,clippy"
    rustup toolchain install "$EDGEREC_NIGHTLY" --profile minimal --component rust-src,clippy
  fi
}

setup_rust() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  setup_nightly
  if [ ! -f Cargo.lock ]; then cargo generate-lockfile; fi
  local want
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  local have
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    say "cargo install wasm-bindgen-cli $want (have: ${have:-none}; takes a few minutes)"
    cargo install wasm-bindgen-cli --version "$want" --no-default-features
  fi
}

setup_browser() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt_install chromium chromium-driver
  fi
}

setup_vulkan() {
  if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    apt_install mesa-vulkan-drivers libvulkan1
  fi
}

setup_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  # Reinstall only when package.json or the lock changed since the last install.
  if [ ! -f node_modules/.package-lock.json ] || [ package.json -nt node_modules/.package-lock.json ] \
     || { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
    say "npm install (dev tools)"
    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  fi
}

setup_fuzz() {
  setup_nightly
  if ! cargo "+$EDGEREC_NIGHTLY" fuzz --version >/dev/null 2>&1; then
    say "cargo install cargo-fuzz"
    cargo "+$EDGEREC_NIGHTLY" install cargo-fuzz --locked
  fi
}

# The newest installed PostgreSQL's bin directory (Debian keeps it off PATH), or nothing.
pg_bindir() {
  local d
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    d=$(dirname "$(readlink -f "$(command -v initdb)")")
    if [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
}

setup_postgres() {
  local dir="${EDGEREC_PG_DIR:-/var/tmp/edgerec-pg}" port="${EDGEREC_PG_PORT:-55432}" bin
  bin=$(pg_bindir)
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin=$(pg_bindir)
  fi
  if [ -z "$bin" ]; then echo "setup.sh: PostgreSQL is installed but initdb/pg_ctl were not found" >&2; exit 1; fi
  # The server refuses to run as root: as root, the cluster belongs to the `postgres` OS user.
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    say "initdb $dir (superuser postgres, trust auth on loopback)"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
    chmod 700 "$dir"
    "${as[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  fi
  if ! "${as[@]}" "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    say "starting PostgreSQL on 127.0.0.1:$port (log: $dir/server.log)"
    "${as[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null
  fi
  if ! "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'edgerec_test'" | grep -qx 1; then
    say "createdb edgerec_test"
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres edgerec_test
  fi
  say "PostgreSQL ready; the serve tests read EDGEREC_PG_URL:"
  echo "postgres://postgres@127.0.0.1:$port/edgerec_test"
}

setup_java() {
  # Spark 4 runs on Java 17 or 21.
  if ! command -v java >/dev/null || ! java -version 2>&1 | grep -Eq 'version "(17|21|2[2-9])'; then
    apt_install openjdk-17-jre-headless
  fi
}

# python_venv VENV REQUIREMENTS [pip args]: VENV with REQUIREMENTS installed; reinstalls only
# when the requirements file changed since the last install.
python_venv() {
  local venv=$1 req=$2
  shift 2
  if ! command -v python3 >/dev/null; then apt_install python3 python3-venv; fi
  if [ ! -x "$venv/bin/python" ]; then
    say "python3 -m venv $venv"
    python3 -m venv "$venv" || { apt_install python3-venv; rm -rf "$venv"; python3 -m venv "$venv"; }
  fi
  if [ ! -f "$venv/.installed" ] || [ "$req" -nt "$venv/.installed" ]; then
    say "pip install -r $req into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$@" -r "$req"
    touch "$venv/.installed"
  fi
}

setup_scale() {
  setup_java
  local index=()
  if [ ! -f train/.venv/.installed ] || [ train/requirements.txt -nt train/.venv/.installed ]; then
    # The CPU-only torch wheels (no CUDA libraries) when their index is reachable; else PyPI's.
    # torch and pyspark: a few minutes.
    if curl -fsS --max-time 10 -o /dev/null https://download.pytorch.org/whl/cpu/torch/ 2>/dev/null; then
      index=(--extra-index-url https://download.pytorch.org/whl/cpu)
    fi
  fi
  python_venv train/.venv train/requirements.txt "${index[@]}"
}

setup_spark() {
  setup_java
  python_venv train/.venv-spark train/requirements-spark.txt
}

if [ $# -eq 0 ]; then set -- rust browser vulkan node fuzz postgres; fi
for part in "$@"; do
  case "$part" in
    rust) setup_rust ;;
    browser) setup_browser ;;
    vulkan) setup_vulkan ;;
    node) setup_node ;;
    fuzz) setup_fuzz ;;
    postgres) setup_postgres ;;
    scale) setup_scale ;;
    spark) setup_spark ;;
    *) echo "setup.sh: unknown part '$part'" >&2; exit 2 ;;
  esac
done
