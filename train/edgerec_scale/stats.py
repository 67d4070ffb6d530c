"""Popularity and freshness on Spark — `server/src/train/stats.rs`:

* `popularity = ln(1 + count) / ln(1 + max(max count, 1))`
* `popularity_recent` — the same over interactions with `time ≥ newest − 90 days`
* `freshness = 2^(−age / 3 years)` (3 · 365.25 days), `age = max(newest − born, 0)`, `born` the
  item's `created_at` when non-zero, else its first interaction; 0 for an item with neither.
"""

from __future__ import annotations

import math

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

RECENT_WINDOW_SECONDS = 90 * 86_400
FRESHNESS_HALF_LIFE_SECONDS = 3.0 * 365.25 * 86_400.0


def compute(inter: DataFrame, items: DataFrame) -> tuple[DataFrame, int]:
    """Per catalogue row: row, count, recent, popularity, popularity_recent, freshness; newest."""
    newest = inter.agg(F.max("time")).first()[0] or 0
    per = inter.groupBy(F.col("item").alias("row")).agg(
        F.count("*").alias("count"),
        F.sum(F.when(F.col("time") >= F.lit(newest - RECENT_WINDOW_SECONDS), 1).otherwise(0)).alias("recent"),
        F.min("time").alias("first_seen"),
    )
    df = items.select("row", "created_at").join(per, "row", "left").fillna(0, ["count", "recent"])
    mx = df.agg(F.max("count"), F.max("recent")).first()
    max_c, max_r = max(mx[0] or 0, 1), max(mx[1] or 0, 1)
    born = F.when(F.col("created_at") != 0, F.col("created_at")).otherwise(F.col("first_seen"))
    age = F.greatest(F.lit(newest) - born, F.lit(0)).cast("double")
    fresh = F.when(born.isNull(), F.lit(0.0)).otherwise(
        F.exp(-age / F.lit(FRESHNESS_HALF_LIFE_SECONDS) * F.lit(math.log(2.0)))
    )
    out = df.select(
        "row",
        "count",
        "recent",
        (F.log1p(F.col("count").cast("double")) / F.lit(math.log1p(max_c))).cast("float").alias("popularity"),
        (F.log1p(F.col("recent").cast("double")) / F.lit(math.log1p(max_r))).cast("float").alias(
            "popularity_recent"
        ),
        fresh.cast("float").alias("freshness"),
    )
    return out, int(newest)


def to_dense(stats: DataFrame, n_items: int) -> dict[str, np.ndarray]:
    t = stats.orderBy("row").toArrow()
    rows = t.column("row").to_numpy()
    out = {}
    for name in ("popularity", "popularity_recent", "freshness"):
        a = np.zeros(n_items, dtype=np.float32)
        a[rows] = t.column(name).to_numpy().astype(np.float32)
        out[f"stats.{name}"] = a
    return out
