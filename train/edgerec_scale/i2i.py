"""ItemCF (IUF) and Swing on Spark — the definitions of `server/src/train/i2i.rs`, as called by
`server/src/train/mod.rs`:

* ItemCF — `item_cf(user_sets, n, K, alpha=0.5)`: user sets deduplicated; user weight
  `w_u = 1 / ln(1 + |I_u|)` (inverse user frequency); `c(i, j) = Σ_{u ∋ i, j} w_u`;
  `score(i, j) = c(i, j) / max(n_i^(1−α) · n_j^α, 1e-12)` with `n_i` = users of `i`.
* Swing — `swing(recent, n, K, alpha=1.0, max_users=64, max_items=100)`: each user's items
  without repeats ordered by their *last* occurrence, cut to the `max_items` most recent;
  `w_u = (|S_u| + 5)^−0.35`; each item keeps its first `max_users` users (user index order);
  for every pair `u < v` of those users `c = w_u w_v / (α + |S_u ∩ S_v|)` is added to
  `s(i, j)` for every `j ∈ S_u ∩ S_v`, `j ≠ i`.
* Top-K per item by score descending, ties to the lower item row; rows padded with
  `0xFFFFFFFF` and score 0.

Scores: with `sum_mode="exact-f32"` (default) every quantity is rounded to f32 at the step
where the Rust trainer computes in f32, and each co-count is folded in the Rust order (users
ascending; Swing's user pairs lexicographic), so the lists are identical to `edgerec train`'s,
ties and all (`tests/test_spark_parity.py`). That needs the per-pair contributions collected
before summing. `sum_mode="f64"` sums with Spark's partial aggregation in f64 (cheaper shuffle,
what to use on a cluster): same definitions, scores within 1 f32 ulp, and exactly tied
neighbours can swap where the Rust f32 sums differ by rounding.
"""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from . import NO_NEIGHBOR


SUMS = ("exact-f32", "f64")
# Rust's `-0.35` is an f32 literal: use that exact value, or w_u can round differently.
SWING_POWER = float(np.float32(-0.35))


def _fold(col_list: str, key: str, value: str) -> F.Column:
    """f32 running sum of `value` over `col_list` (array of structs) sorted by `key`: the
    order and dtype the Rust trainer accumulates in, so scores are bit-identical. Every
    step is rounded to f32 (a sum of two f32 computed in f64 and rounded is the f32 sum)."""
    return F.expr(
        f"aggregate(array_sort({col_list}), cast(0 as float), "
        f"(acc, x) -> cast(cast(acc as double) + cast(x.{value} as double) as float))"
    )


def _sum(sum_mode: str, key_cols: list[str], value: str) -> F.Column:
    if sum_mode == "f64":
        return F.sum(value).alias("c")
    if sum_mode != "exact-f32":
        raise ValueError(f"sum mode {sum_mode!r}: one of {SUMS}")
    return F.collect_list(F.struct(*key_cols, value)).alias("parts")


def _top_k(scored: DataFrame, k: int) -> DataFrame:
    """(i, j, score) → (i, rank, j, score) for the best `k` per `i`: score (as f32) desc, j asc."""
    scored = scored.withColumn("score", F.col("score").cast("float"))
    w = Window.partitionBy("i").orderBy(F.col("score").desc(), F.col("j").asc())
    return (
        scored.withColumn("rank", F.row_number().over(w) - 1)
        .where(F.col("rank") < k)
        .select(F.col("i").cast("int"), F.col("rank").cast("int"), F.col("j").cast("int"), "score")
    )


def item_cf(inter: DataFrame, k: int, alpha: float = 0.5, sum_mode: str = "exact-f32") -> DataFrame:
    """ItemCF neighbours: (i, rank, j, score).

    Pairs `i < j` are generated per user (no join) and co-counts summed once per unordered
    pair: `c(i, j) = c(j, i)` bit for bit even in f32, since both sum the same users in user
    order."""
    per_user = (
        inter.select(F.col("user_idx").alias("u"), F.col("item").alias("i"))
        .distinct()
        .groupBy("u")
        .agg(F.sort_array(F.collect_list("i")).alias("items"))
        .withColumn("n", F.size("items"))
        # f32 like Rust: ln in f64 rounded to f32 (logf), then an f32 division.
        .withColumn("w", (F.lit(1.0) / F.log1p(F.col("n").cast("double")).cast("float").cast("double")).cast("float"))
    )
    n_i = per_user.select(F.explode("items").alias("i")).groupBy("i").agg(F.count("*").alias("n"))
    pairs = per_user.where(F.col("n") >= 2).select(
        "u",
        "w",
        F.explode(
            F.expr(
                "flatten(transform(sequence(0, n - 2), a -> "
                "transform(slice(items, a + 2, n - a - 1), b -> named_struct('i', items[a], 'j', b))))"
            )
        ).alias("p"),
    ).select("u", "w", F.col("p.i").alias("i"), F.col("p.j").alias("j"))
    co = pairs.groupBy("i", "j").agg(_sum(sum_mode, ["u"], "w"))
    if sum_mode == "exact-f32":
        co = co.select("i", "j", _fold("parts", "u", "w").alias("c"))
    both = co.select("i", "j", "c").unionByName(co.select(F.col("j").alias("i"), F.col("i").alias("j"), "c"))
    # Rust: n_i^(1-a) and n_j^a in f32 (powf), their product in f32, then c / max(., 1e-12).
    f32 = lambda c: c.cast("float").cast("double")  # noqa: E731
    ni = n_i.select("i", f32(F.pow(F.col("n").cast("double"), F.lit(1.0 - alpha))).alias("ni"))
    nj = n_i.select(F.col("i").alias("j"), f32(F.pow(F.col("n").cast("double"), F.lit(alpha))).alias("nj"))
    scored = both.join(ni, "i").join(nj, "j").select(
        "i", "j", (f32(F.col("c")) / F.greatest(f32(F.col("ni") * F.col("nj")), F.lit(1e-12))).alias("score")
    )
    return _top_k(scored, k)


def recent_sets(inter: DataFrame, max_items: int) -> DataFrame:
    """(u, i): each user's distinct items by last occurrence, the `max_items` most recent."""
    last = inter.groupBy(F.col("user_idx").alias("u"), F.col("item").alias("i")).agg(
        F.max(F.struct("time", "ord")).alias("at")
    )
    w = Window.partitionBy("u").orderBy(F.col("at").desc())
    return last.withColumn("back", F.row_number().over(w)).where(F.col("back") <= max_items).select("u", "i")


def swing(
    inter: DataFrame,
    k: int,
    alpha: float = 1.0,
    max_users: int = 64,
    max_items: int = 100,
    sum_mode: str = "exact-f32",
) -> DataFrame:
    """Swing neighbours: (i, rank, j, score)."""
    s = recent_sets(inter, max_items)
    f32 = lambda c: c.cast("float").cast("double")  # noqa: E731
    arrays = s.groupBy("u").agg(F.collect_list("i").alias("items"))
    wu = arrays.select(
        "u", "items", f32(F.pow(F.size("items").cast("double") + F.lit(5.0), F.lit(SWING_POWER))).alias("w")
    )
    first_users = (
        s.withColumn("n", F.row_number().over(Window.partitionBy("i").orderBy("u")))
        .where(F.col("n") <= max_users)
        .select("i", "u")
    )
    pairs = (
        first_users.alias("a")
        .join(first_users.alias("b"), "i")
        .where(F.col("a.u") < F.col("b.u"))
        .select("i", F.col("a.u").alias("u"), F.col("b.u").alias("v"))
    )
    info = (
        pairs.select("u", "v").distinct()
        .join(wu.select("u", F.col("items").alias("su"), F.col("w").alias("wu")), "u")
        .join(wu.select(F.col("u").alias("v"), F.col("items").alias("sv"), F.col("w").alias("wv")), "v")
        .select("u", "v", F.array_intersect("su", "sv").alias("common"), "wu", "wv")
        # Rust: w_u * w_v / (alpha + |common|), each step in f32.
        .select("u", "v", "common",
                f32(f32(F.col("wu") * F.col("wv")) / (F.lit(alpha) + F.size("common"))).alias("c"))
    )
    contrib = (
        pairs.join(info, ["u", "v"])
        .select("i", "u", "v", F.explode("common").alias("j"), "c")
        .where(F.col("i") != F.col("j"))
        .groupBy("i", "j")
        .agg(_sum(sum_mode, ["u", "v"], "c"))
    )
    if sum_mode == "exact-f32":
        contrib = contrib.select("i", "j", _fold("parts", "u", "c").alias("c"))
    return _top_k(contrib.select("i", "j", F.col("c").alias("score")), k)


def to_dense(neighbours: DataFrame, n_items: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, rank, j, score) → `ids` u32 `[n_items, k]` (padding 0xFFFFFFFF), `scores` f32 (0)."""
    ids = np.full((n_items, k), NO_NEIGHBOR, dtype=np.uint32)
    scores = np.zeros((n_items, k), dtype=np.float32)
    pdf = neighbours.toArrow() if hasattr(neighbours, "toArrow") else None
    if pdf is not None:
        i = pdf.column("i").to_numpy()
        r = pdf.column("rank").to_numpy()
        ids[i, r] = pdf.column("j").to_numpy().astype(np.uint32)
        scores[i, r] = pdf.column("score").to_numpy().astype(np.float32)
    else:  # pragma: no cover - older Spark
        for row in neighbours.toLocalIterator():
            ids[row["i"], row["rank"]] = row["j"]
            scores[row["i"], row["rank"]] = row["score"]
    return ids, scores
