#!/usr/bin/env bash
# The quality benchmark of the model card, every model scored by the same code (`edgerec eval`)
# on the identical split files of MovieLens ml-latest-small:
#
#   bench/eval_baselines.sh [DATA_DIR] [WORK_DIR]
#
# Protocols: random 75/25 (stratified by item, seed 42 — the Microsoft Recommenders protocol),
# per-user temporal (last 20 %), leave-last-out; then the session replay (temporal split, the
# 460 users after the 150 the defaults were tuned on) and session responsiveness.
# Per protocol:
# 1. `edgerec eval --split …` writes WORK_DIR/<protocol>/{train,test}.csv;
# 2. `edgerec train` (defaults, seed 42) trains the bundle WORK_DIR/<protocol>/bundle;
# 3. implicit's ALS and BPR (bench/.venv) and Cornac's BiVAE (train/.venv) write their lists,
#    each with the setting tuned on validation splits (model card, "EASE, the four protocols");
# 4. `edgerec eval --funnel --recs …` scores popularity, ItemCF, EASE, the two-tower, the
#    shipped funnel and those lists → WORK_DIR/<protocol>/metrics.json; the funnel again with
#    the ranker off (recall-only order) → metrics_ranker_off.json.
# Then `bench/tables.py` writes the Markdown tables → WORK_DIR/tables.md.
# BiVAE takes 4–30 min per fit on two cores; SKIP_BIVAE=1 leaves it out.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-data/ml-latest-small}
WORK=${2:-target/eval-baselines}
EDGEREC=${EDGEREC:-target/release/edgerec}
[ -x "$EDGEREC" ] || cargo build --release -p edgerec-server
mkdir -p "$WORK"

if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet implicit scipy numpy
fi
if [ -z "${SKIP_BIVAE:-}" ]; then
  [ -x train/.venv/bin/python ] || scripts/setup.sh scale
  train/.venv/bin/python -c 'import cornac' 2>/dev/null || train/.venv/bin/pip install --quiet cornac
fi

# protocol, split flags, ALS flags, BPR flags (tuned on each protocol's validation split;
# leave-last-out uses the temporal settings).
run_protocol() {
  local name=$1 split=$2 als=$3 bpr=$4 k=${5:-50}
  local dir=$WORK/$name
  mkdir -p "$dir"
  # shellcheck disable=SC2086
  "$EDGEREC" eval $split --interactions "$DATA/ratings.csv" --items "$DATA/movies.csv" \
    --split-out "$dir"
  [ -f "$dir/bundle/manifest.json" ] || "$EDGEREC" train --interactions "$dir/train.csv" \
    --items "$DATA/movies.csv" --out "$dir/bundle" --seed 42 --quiet
  # shellcheck disable=SC2086
  bench/.venv/bin/python bench/als_baseline.py "$dir/train.csv" "$dir/test.csv" "$dir/als.json" \
    --k "$k" $als
  # shellcheck disable=SC2086
  bench/.venv/bin/python bench/als_baseline.py "$dir/train.csv" "$dir/test.csv" "$dir/bpr.json" \
    --model bpr --k "$k" $bpr
  local recs=(--recs "als=$dir/als.json" --recs "bpr=$dir/bpr.json")
  if [ -z "${SKIP_BIVAE:-}" ]; then
    train/.venv/bin/python bench/bivae_baseline.py "$dir/train.csv" "$dir/test.csv" \
      "$dir/bivae.json" --k "$k"
    recs+=(--recs "bivae=$dir/bivae.json")
  fi
  "$EDGEREC" eval --bundle "$dir/bundle" --train "$dir/train.csv" --test "$dir/test.csv" \
    --items "$DATA/movies.csv" --k 10 --funnel "${recs[@]}" --json "$dir/metrics.json"
  # The ranker's lift: the same funnel with recall-only ordering (ranker weight 0).
  "$EDGEREC" eval --bundle "$dir/bundle" --train "$dir/train.csv" --test "$dir/test.csv" \
    --items "$DATA/movies.csv" --k 10 --funnel --funnel-config '{"rankerWeight": 0}' \
    --json "$dir/metrics_ranker_off.json"
}

TEMPORAL_ALS="--factors 64 --reg 0.1"
TEMPORAL_BPR="--factors 64 --lr 0.01 --iterations 100 --reg 0.01"
run_protocol random "--split random --ratio 0.75 --seed 42" "--factors 32 --reg 0.1" \
  "--factors 128 --lr 0.01 --iterations 100 --reg 0.01"
# The replay drops consumed items from the fixed lists: 500 items per user.
run_protocol temporal "--split temporal" "$TEMPORAL_ALS" "$TEMPORAL_BPR" 500
run_protocol leave-last-out "--split leave-last-out" "$TEMPORAL_ALS" "$TEMPORAL_BPR"

T=$WORK/temporal
replay_recs=(--recs "als=$T/als.json" --recs "bpr=$T/bpr.json")
[ -n "${SKIP_BIVAE:-}" ] || replay_recs+=(--recs "bivae=$T/bivae.json")
"$EDGEREC" eval --replay --replay-skip 150 --bundle "$T/bundle" --train "$T/train.csv" \
  --test "$T/test.csv" "${replay_recs[@]}" --json "$WORK/replay.json"
"$EDGEREC" eval --responsiveness --bundle "$T/bundle" --k 20 --json "$WORK/responsiveness.json"
echo "eval_baselines: JSON in $WORK/*/metrics.json, $WORK/replay.json, $WORK/responsiveness.json"
python3 bench/tables.py "$WORK" > "$WORK/tables.md"
echo "eval_baselines: Markdown tables in $WORK/tables.md"
