"""The Spark job: catalogue + interactions → i2i lists, statistics, sequences for the two-tower.

    spark-submit --master local[2] train/edgerec_scale/spark_job.py \
        --items movies.csv --interactions ratings.csv [--events events.parquet] --out OUT

(or `python -m edgerec_scale.spark_job …`, which starts a local session). Writes into OUT:

* `parquet/catalogue/`, `parquet/sequences/`, `parquet/itemcf/`, `parquet/swing/`, `parquet/stats/`
* `i2i_stats.safetensors` — `i2i.ids`, `i2i.scores`, `swing.ids`, `swing.scores`,
  `stats.popularity`, `stats.popularity_recent`, `stats.freshness` (what `edgerec bundle build`
  takes; ids u32 with 0xFFFFFFFF padding, scores f32)
* `items.jsonl` — the catalogue for `edgerec bundle build --items`
* `spark_report.json` — counts, the newest time, seconds and events/s per stage
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "edgerec_scale"

from edgerec_scale import data, i2i, stats  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", required=True)
    p.add_argument("--interactions")
    p.add_argument("--events", help="Parquet written by `edgerec events export --out F.parquet`")
    p.add_argument("--out", required=True)
    p.add_argument("--neighbours", type=int, default=100, help="K of the i2i lists (edgerec train: 100)")
    p.add_argument("--min-rating", type=float)
    p.add_argument("--master", help="Spark master when not started by spark-submit (default local[*])")
    p.add_argument("--sum", default="exact-f32", choices=i2i.SUMS,
                   help="i2i score sums: exact-f32 (bit-identical to edgerec train) or f64 (cheaper)")
    p.add_argument("--skip", default="", help="comma-separated stages to skip: itemcf,swing,stats")
    for c in ("user", "item", "rating", "time", "item-id", "title", "categories"):
        p.add_argument(f"--{c}-col")
    a = p.parse_args(argv)
    from safetensors.numpy import save_file

    os.makedirs(a.out, exist_ok=True)
    master = a.master or (None if "SPARK_ENV_LOADED" in os.environ else "local[*]")
    spark = data.spark_session(master=master)
    report = {"master": spark.sparkContext.master, "parallelism": spark.sparkContext.defaultParallelism}
    seconds = {}
    t0 = time.perf_counter()
    cat = data.read_items(spark, a.items, a.item_id_col, a.title_col, a.categories_col)
    inter = data.read_interactions(
        spark, cat, a.interactions, a.events, a.min_rating, a.user_col, a.item_col, a.rating_col, a.time_col
    ).cache()
    n_rows = inter.count()
    if n_rows == 0:
        print("spark_job: no usable interaction", file=sys.stderr)
        return 1
    n_users = inter.agg({"user_idx": "max"}).first()[0] + 1
    pq = os.path.join(a.out, "parquet")
    cat.items.write.mode("overwrite").parquet(f"{pq}/catalogue")
    data.sequences(inter).write.mode("overwrite").parquet(f"{pq}/sequences")
    seconds["read"] = time.perf_counter() - t0
    tensors = {}
    skip = set(filter(None, a.skip.split(",")))
    for name, fn in (("itemcf", lambda: i2i.item_cf(inter, a.neighbours, 0.5, a.sum)),
                     ("swing", lambda: i2i.swing(inter, a.neighbours, 1.0, 64, 100, a.sum))):
        if name in skip:
            continue
        t = time.perf_counter()
        nb = fn()
        nb.write.mode("overwrite").parquet(f"{pq}/{name}")
        nb = spark.read.parquet(f"{pq}/{name}")
        ids, scores = i2i.to_dense(nb, cat.n_items, a.neighbours)
        prefix = "i2i" if name == "itemcf" else "swing"
        tensors[f"{prefix}.ids"], tensors[f"{prefix}.scores"] = ids, scores
        seconds[name] = time.perf_counter() - t
    newest = None
    if "stats" not in skip:
        t = time.perf_counter()
        st, newest = stats.compute(inter, cat.items)
        st.write.mode("overwrite").parquet(f"{pq}/stats")
        tensors.update(stats.to_dense(spark.read.parquet(f"{pq}/stats"), cat.n_items))
        seconds["stats"] = time.perf_counter() - t
    save_file(tensors, os.path.join(a.out, "i2i_stats.safetensors"))
    with open(os.path.join(a.out, "items.jsonl"), "w", encoding="utf-8") as f:
        for r in cat.items.orderBy("row").toLocalIterator():
            f.write(json.dumps({
                "id": r["id"],
                "title": r["title"],
                "tags": [cat.categories[c] for c in r["cats"]],
                "created_at": int(r["created_at"]),
            }, ensure_ascii=False) + "\n")
    with open(os.path.join(a.out, "categories.json"), "w", encoding="utf-8") as f:
        json.dump(cat.categories, f, ensure_ascii=False)
    if newest is None:
        newest = inter.agg({"time": "max"}).first()[0]
    report.update({
        "items": cat.n_items,
        "categories": len(cat.categories),
        "interactions": n_rows,
        "users": n_users,
        "newest_time": int(newest),
        "neighbours": a.neighbours,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "events_per_second": {k: round(n_rows / v, 1) for k, v in seconds.items() if v > 0},
    })
    with open(os.path.join(a.out, "spark_report.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
