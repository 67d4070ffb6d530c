#!/usr/bin/env bash
# Two-tower vs popularity, ItemCF and implicit's ALS on one per-user temporal split of
# MovieLens ml-latest-small, every model scored by the same code (`edgerec eval`).
#
#   bench/eval_baselines.sh [DATA_DIR] [WORK_DIR] [BUNDLE_DIR]
#
# 1. `edgerec eval --split temporal` writes WORK_DIR/split/{train,test}.csv (last 20% of each
#    user's interactions by time are the test set).
# 2. Unless BUNDLE_DIR already holds a bundle trained on that train.csv, `edgerec train` trains
#    one into WORK_DIR/bundle (seed 42).
# 3. bench/als_baseline.py (implicit ALS, venv in bench/.venv) writes its top-50 lists.
# 4. `edgerec eval` prints the table and writes WORK_DIR/metrics.json.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data/ml-latest-small}
WORK=${2:-target/eval-baselines}
BUNDLE=${3:-$WORK/bundle}
EDGEREC=${EDGEREC:-target/release/edgerec}
[ -x "$EDGEREC" ] || cargo build --release -p edgerec-server
mkdir -p "$WORK"

"$EDGEREC" eval --split temporal --interactions "$DATA/ratings.csv" --items "$DATA/movies.csv" \
  --split-out "$WORK/split"

if [ ! -f "$BUNDLE/manifest.json" ]; then
  "$EDGEREC" train --interactions "$WORK/split/train.csv" --items "$DATA/movies.csv" \
    --out "$BUNDLE" --seed 42 > "$WORK/train_report.json"
fi

if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet implicit scipy numpy
fi
bench/.venv/bin/python bench/als_baseline.py "$WORK/split/train.csv" "$WORK/split/test.csv" \
  "$WORK/als_recs.json" --k 50

"$EDGEREC" eval --bundle "$BUNDLE" --train "$WORK/split/train.csv" --test "$WORK/split/test.csv" \
  --k 50 --recs "als=$WORK/als_recs.json" --dump-recs "$WORK/two_tower_recs.json" \
  --json "$WORK/metrics.json"
