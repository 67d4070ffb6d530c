#!/usr/bin/env bash
# The whole training pipeline on one machine: Spark (local mode) for the item-to-item lists and
# statistics, PyTorch DDP (torchrun, gloo on CPU) for the two-tower model, then
# `edgerec bundle build` + `edgerec bundle verify`.
#
#   train/run_pipeline.sh DATA OUT
#
# DATA holds an items CSV (movies.csv or items.csv) and an interactions CSV (ratings.csv or
# interactions.csv) and/or the Parquet of `edgerec events export` (events.parquet). OUT gets the
# Spark outputs (OUT/spark), the two-tower tensors (OUT/torch) and the bundle (OUT/bundle).
# Settings (environment): EPOCHS (10), NPROC (2), SPARK_MASTER (local[2]), NEIGHBOURS (100),
# I2I_SUM (exact-f32 | f64), SEED (42), EDGEREC (the edgerec binary), TRAIN_ARGS (extra
# two_tower flags, e.g. "--temperature 0.07 --logq-weight 1"), MODEL_ID, MODEL_VERSION,
# FROM (spark | torch | bundle: start at that stage, reusing OUT's earlier outputs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
if [ $# -ne 2 ]; then sed -n 2,14p "$0" >&2; exit 2; fi
data="$(cd "$1" && pwd)"
mkdir -p "$2"
out="$(cd "$2" && pwd)"
py="$here/.venv/bin/python"
if [ ! -x "$py" ]; then echo "run_pipeline: $py is missing: run scripts/setup.sh scale" >&2; exit 1; fi
EDGEREC="${EDGEREC:-}"
if [ -z "$EDGEREC" ]; then
  for c in "$root/target/debug/edgerec" "$root/target/release/edgerec"; do
    if [ -x "$c" ]; then EDGEREC="$c"; break; fi
  done
fi
if [ -z "$EDGEREC" ]; then echo "run_pipeline: no edgerec binary (make server, or set EDGEREC)" >&2; exit 1; fi

pick() { for f in "$@"; do if [ -e "$data/$f" ]; then echo "$data/$f"; return; fi; done; }
items=$(pick movies.csv items.csv)
inter=$(pick ratings.csv interactions.csv train.csv)
events=$(pick events.parquet)
if [ -z "$items" ]; then echo "run_pipeline: no movies.csv / items.csv in $data" >&2; exit 1; fi
if [ -z "$inter$events" ]; then echo "run_pipeline: no interactions CSV or events.parquet in $data" >&2; exit 1; fi

say() { printf '\033[1;34m[pipeline]\033[0m %s\n' "$*" >&2; }
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export PYSPARK_PYTHON="$py"

FROM="${FROM:-spark}"
t0=$(date +%s)
if [ "$FROM" = spark ]; then
say "spark: i2i (ItemCF, Swing) + stats on ${SPARK_MASTER:-local[2]}"
"$py" -m edgerec_scale.spark_job --master "${SPARK_MASTER:-local[2]}" --items "$items" \
  ${inter:+--interactions "$inter"} ${events:+--events "$events"} --out "$out/spark" \
  --neighbours "${NEIGHBOURS:-100}" --sum "${I2I_SUM:-exact-f32}" > "$out/spark.log" 2>&1 \
  || { tail -n 40 "$out/spark.log" >&2; exit 1; }
fi
t1=$(date +%s)

if [ "$FROM" != bundle ]; then
say "torch: two-tower, torchrun --nproc_per_node ${NPROC:-2} (gloo)"
mkdir -p "$out/torch"
# shellcheck disable=SC2086
"$here/.venv/bin/torchrun" --standalone --nproc_per_node "${NPROC:-2}" -m edgerec_scale.two_tower \
  --data "$out/spark" --out "$out/torch/two_tower.safetensors" --epochs "${EPOCHS:-10}" \
  --seed "${SEED:-42}" ${TRAIN_ARGS:-}
fi
t2=$(date +%s)

say "bundle: merge tensors, edgerec bundle build + verify"
"$py" -m edgerec_scale.bundle_io merge "$out/model.safetensors" \
  "$out/torch/two_tower.safetensors" "$out/spark/i2i_stats.safetensors" > /dev/null
newest=$("$py" -c "import json,datetime;t=json.load(open('$out/spark/spark_report.json'))['newest_time'];print(datetime.datetime.fromtimestamp(t,datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'))")
temp=$("$py" -c "import json;print(json.load(open('$out/torch/two_tower_report.json'))['two_tower']['temperature'])")
quant=()
for q in $("$py" -c "from edgerec_scale.bundle_io import QUANT_FLAGS;print(' '.join(QUANT_FLAGS))"); do
  quant+=(--quant "$q")
done
"$EDGEREC" bundle build --tensors "$out/model.safetensors" --items "$out/spark/items.jsonl" \
  --out "$out/bundle" --model-id "${MODEL_ID:-edgerec-two-tower}" \
  --model-version "${MODEL_VERSION:-${newest:0:10}-s${SEED:-42}-e${EPOCHS:-10}-ddp}" \
  --created-at "$newest" --similarity cosine --temperature "$temp" "${quant[@]}" \
  --eval-queries 500 --seed "${SEED:-42}" > "$out/bundle_build.json"
# `edgerec eval` reads the history length from the bundle's train_report.json.
cp "$out/torch/two_tower_report.json" "$out/bundle/train_report.json"
if [ -n "$inter" ] && [ -e "$(dirname "$inter")/README.txt" ]; then
  cp "$(dirname "$inter")/README.txt" "$out/bundle/DATA_README.txt"
fi
"$EDGEREC" bundle verify "$out/bundle"
t3=$(date +%s)
say "done: $out/bundle (spark $((t1 - t0)) s, torch $((t2 - t1)) s, bundle $((t3 - t2)) s)"
