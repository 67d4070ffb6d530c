#!/usr/bin/env bash
# Fuzz the bundle parsers: scripts/fuzz.sh [seconds] (total, split over the targets; default 60).
# Installs what is missing (nightly toolchain, cargo-fuzz), seeds each corpus from the fixture
# bundle, and prints libFuzzer's execution count per target. Exits 1 on a crash (the crashing
# input is left in fuzz/artifacts/<target>/), 2 when a target does not build, 3 when the
# nightly toolchain or cargo-fuzz cannot be installed on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds="${1:-60}"
targets=(manifest items tensors)
per_target=$(( seconds / ${#targets[@]} ))
(( per_target >= 1 )) || per_target=1

# shellcheck source=toolchain.sh
source scripts/toolchain.sh
if ! rustup toolchain list | grep -q "^$EDGEREC_NIGHTLY"; then
  rustup toolchain install "$EDGEREC_NIGHTLY" --profile minimal --component rust-src \
    || { echo "fuzz: cannot install $EDGEREC_NIGHTLY" >&2; exit 3; }
fi
if ! cargo "+$EDGEREC_NIGHTLY" fuzz --version >/dev/null 2>&1; then
  cargo "+$EDGEREC_NIGHTLY" install cargo-fuzz --locked || { echo "fuzz: cannot install cargo-fuzz" >&2; exit 3; }
fi

seed() { # seed <target> <file> [prefix byte]
  local dir="fuzz/corpus/$1"
  mkdir -p "$dir"
  if [[ $# -eq 3 ]]; then
    { printf "\\x$3"; cat "$2"; } > "$dir/seed-$3-$(basename "$2")"
  else
    cp "$2" "$dir/seed-$(basename "$2")"
  fi
}
seed manifest models/fixture/manifest.json
seed items models/fixture/items.bin
seed tensors models/fixture/tensors.bin 00
seed tensors models/fixture/items.bin 01

total=0
for t in "${targets[@]}"; do
  log="fuzz/${t}.log"
  mkdir -p fuzz
  if ! cargo "+$EDGEREC_NIGHTLY" fuzz build "$t" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: target $t did not build (see $log)" >&2
    exit 2
  fi
  # -rss_limit_mb: the loader must not allocate more than it receives (see MAX_RESERVE_BYTES).
  if ! cargo "+$EDGEREC_NIGHTLY" fuzz run "$t" -- -max_total_time="$per_target" -rss_limit_mb=2048 \
      -max_len=65536 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: target $t FAILED (crash input in fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -n1 | grep -Eo '[0-9]+' || echo 0)
  total=$(( total + runs ))
  echo "fuzz: $t: $runs executions in ${per_target}s, no crash"
done
echo "fuzz: $total executions over ${#targets[@]} targets, no crash"
