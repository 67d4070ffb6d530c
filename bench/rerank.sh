#!/usr/bin/env bash
# Re-rank timings, edgerec (Rust, release build) next to a straightforward NumPy baseline, on the
# same fixtures (N = 1000 candidates, k = 50): DPP, DPP with a window of 10, MMR (λ = 0.5).
# Both check their selections against tests/fixtures before timing.
#
#   bench/rerank.sh [ITERS]        (default 50 timed runs per algorithm; the median is reported)
set -euo pipefail
cd "$(dirname "$0")/.."
iters="${1:-50}"

cargo build --release -p edgerec-server >&2
if [[ ! -x bench/.venv/bin/python ]]; then
  python3 -m venv bench/.venv >&2
fi
bench/.venv/bin/python -c 'import numpy' 2>/dev/null || bench/.venv/bin/pip install -q numpy >&2

rust="$(target/release/edgerec rerank bench --iters "$iters" | grep '^{')"
numpy="$(bench/.venv/bin/python bench/rerank_numpy.py --iters "$iters")"

printf '%s\n%s\n' "$rust" "$numpy" | bench/.venv/bin/python bench/rerank_numpy.py --table
numpy_version="$(bench/.venv/bin/python -c 'import numpy; print(numpy.__version__)')"
echo "(medians of $iters runs; numpy $numpy_version; $(nproc) cores)"
