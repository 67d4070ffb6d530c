"""Reading interactions and items into Spark, with the semantics of `server/src/train/data.rs`.

What must match the Rust trainer exactly, because the i2i lists depend on it:

* **Catalogue rows** — items in file order, a repeated id skipped (first wins), empty ids
  skipped; row `r` of every per-item tensor is item `r`. Categories (`|`-separated, trimmed,
  non-empty, deduplicated per item) are numbered in the order they first appear.
* **Users** — numbered in first-seen order among the *kept* interaction rows (item known,
  rating ≥ `--min-rating`). Swing keeps each item's *first* 64 users in this order.
* **Per-user time order** — sorted by timestamp, file order breaking ties (Rust's stable sort).
* **Exported events** (`edgerec events export --out F.parquet`) — appended after the CSV rows
  like `data::append_events`: clicks (rating 4), likes (5), dwells (4 from 10 s, else 3);
  impressions and custom events dropped; time = `ts` (ms) / 1000.

File order is kept with `monotonically_increasing_id()`, which grows with the partition index
and the row within the partition; Spark splits a file into partitions by byte offset, in order.
Global numbering (catalogue rows, users) uses a sort + `zipWithIndex`, which scales (no
single-partition window).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

USER_COLS = ["user", "userId", "user_id"]
ITEM_COLS = ["item", "movieId", "itemId", "item_id"]
RATING_COLS = ["rating"]
TIME_COLS = ["timestamp", "time", "ts"]
ITEM_ID_COLS = ["item", "movieId", "id", "itemId", "item_id"]
TITLE_COLS = ["title"]
CATEGORY_COLS = ["categories", "genres", "tags"]

# Event rows come after every CSV row: CSV ids stay far below 2^62.
EVENTS_ORD_BASE = 1 << 62


def spark_session(app: str = "edgerec-scale", master: str | None = None) -> SparkSession:
    """A session; `master` None keeps what `spark-submit` set (else local[*])."""
    # Local Python workers inherit this environment: let them import this package (the
    # title-year UDF lives here). On a cluster, ship it with `--py-files edgerec_scale.zip`.
    import os

    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if pkg_parent not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in paths if p])
    b = SparkSession.builder.appName(app)
    if master:
        b = b.master(master)
    b = (
        b.config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # Sizes of exploded pair tables are unknown to the planner: no automatic broadcasts
        # (the catalogue is broadcast explicitly).
        .config("spark.sql.autoBroadcastJoinThreshold", "-1")
        .config("spark.sql.adaptive.autoBroadcastJoinThreshold", "-1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "4g")
    )
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def _find(header: list[str], explicit: str | None, candidates: list[str], flag: str, required: bool):
    names = [explicit] if explicit else candidates
    stripped = [h.strip() for h in header]
    for n in names:
        if n in stripped:
            return header[stripped.index(n)]
    if required or explicit:
        raise ValueError(f"no column {', '.join(names)} in header {','.join(header)} (map it with {flag})")
    return None


def _read_csv(spark: SparkSession, path: str) -> DataFrame:
    return (
        spark.read.option("header", True)
        .option("quote", '"')
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .csv(path)
    )


def _with_index(df: DataFrame, order_col: str, name: str) -> DataFrame:
    """Adds `name` = 0-based position of each row when sorted by `order_col` (distinct)."""
    schema = T.StructType(df.schema.fields + [T.StructField(name, T.LongType(), False)])
    rdd = df.orderBy(order_col).rdd.zipWithIndex().map(lambda ri: tuple(ri[0]) + (ri[1],))
    return df.sparkSession.createDataFrame(rdd, schema)


def year_of_title(title: str | None) -> int | None:
    """Unix seconds of January 1st of the `(YYYY)` ending a MovieLens title (data.rs)."""
    if title is None:
        return None
    t = title.rstrip()
    open_ = t.rfind("(")
    if open_ < 0:
        return None
    inner = t[open_ + 1 :]
    if not inner.endswith(")"):
        return None
    inner = inner[:-1].encode("utf-8")
    if len(inner) < 4:
        return None
    head = inner[:4]
    try:
        s = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not (s.isascii() and (s.isdigit() or (s[0] in "+-" and s[1:].isdigit()))):
        return None
    year = int(s)
    if not 1800 <= year <= 2200:
        return None
    y = year - 1
    days = 365 * (year - 1970) + (y // 4 - y // 100 + y // 400) - (1969 // 4 - 1969 // 100 + 1969 // 400)
    return days * 86_400


@dataclass
class Catalogue:
    """`items`: row, id, title, created_at, cats (array<int>); `categories`: names by index."""

    items: DataFrame
    categories: list[str]
    n_items: int


def read_items(spark: SparkSession, path: str, item_id_col=None, title_col=None, categories_col=None) -> Catalogue:
    raw = _read_csv(spark, path)
    header = raw.columns
    id_c = _find(header, item_id_col, ITEM_ID_COLS, "--item-id-col", True)
    title_c = _find(header, title_col, TITLE_COLS, "--title-col", False)
    cats_c = _find(header, categories_col, CATEGORY_COLS, "--categories-col", False)
    created_c = next((h for h in header if h.strip() == "created_at"), None)
    df = raw.select(
        F.trim(F.col(f"`{id_c}`")).alias("id"),
        (F.col(f"`{title_c}`") if title_c else F.lit(None)).cast("string").alias("title"),
        (F.col(f"`{cats_c}`") if cats_c else F.lit(None)).cast("string").alias("cats_text"),
        (F.expr(f"try_cast(trim(`{created_c}`) as bigint)") if created_c else F.lit(None).cast("bigint")).alias(
            "created_col"
        ),
    ).withColumn("ord", F.monotonically_increasing_id())
    df = df.where(F.col("id").isNotNull() & (F.col("id") != ""))
    first = df.groupBy("id").agg(F.min("ord").alias("ord"))
    df = df.join(first, ["id", "ord"])
    df = _with_index(df, "ord", "row")
    year = F.udf(year_of_title, T.LongType())
    df = df.withColumn(
        "created_at", F.coalesce(F.col("created_col"), year(F.coalesce(F.col("title"), F.lit(""))), F.lit(0))
    ).withColumn("title", F.coalesce(F.col("title"), F.lit("")))
    # Categories in first-appearance order over (row, position in the row).
    exploded = df.select(
        "row", F.posexplode(F.split(F.coalesce(F.col("cats_text"), F.lit("")), r"\|")).alias("pos", "c")
    ).withColumn("c", F.trim("c")).where(F.col("c") != "")
    first_c = exploded.groupBy("c").agg(F.min(F.struct("row", "pos")).alias("at"))
    cat_rows = first_c.orderBy("at.row", "at.pos").collect()
    categories = [r["c"] for r in cat_rows]
    cat_index = spark.createDataFrame([(c, i) for i, c in enumerate(categories)], "c string, cat int")
    per_item = (
        exploded.join(F.broadcast(cat_index), "c")
        .groupBy("row", "cat")
        .agg(F.min("pos").alias("pos"))
        .groupBy("row")
        .agg(F.sort_array(F.collect_list(F.struct("pos", "cat"))).alias("pc"))
        .select("row", F.col("pc.cat").alias("cats"))
    )
    items = (
        df.join(per_item, "row", "left")
        .select(
            F.col("row").cast("int").alias("row"),
            "id",
            "title",
            F.col("created_at").cast("long").alias("created_at"),
            F.coalesce(F.col("cats"), F.array().cast("array<int>")).alias("cats"),
        )
        .orderBy("row")
        .cache()
    )
    n = items.count()
    if n == 0:
        raise ValueError(f"{path}: no usable item")
    return Catalogue(items, categories, n)


def _event_rating():
    return (
        F.when(F.col("kind") == "like", F.lit(5.0))
        .when(F.col("kind") == "click", F.lit(4.0))
        .when((F.col("kind") == "dwell") & (F.coalesce(F.col("dwell_ms"), F.lit(0)) >= 10_000), F.lit(4.0))
        .when(F.col("kind") == "dwell", F.lit(3.0))
    )


def read_interactions(
    spark: SparkSession,
    cat: Catalogue,
    interactions: str | None = None,
    events: str | None = None,
    min_rating: float | None = None,
    user_col=None,
    item_col=None,
    rating_col=None,
    time_col=None,
) -> DataFrame:
    """Kept interactions: user (string), user_idx, item (catalogue row), rating, time, ord."""
    parts = []
    if interactions:
        raw = _read_csv(spark, interactions)
        h = raw.columns
        u = _find(h, user_col, USER_COLS, "--user-col", True)
        i = _find(h, item_col, ITEM_COLS, "--item-col", True)
        r = _find(h, rating_col, RATING_COLS, "--rating-col", False)
        t = _find(h, time_col, TIME_COLS, "--time-col", False)
        df = raw.withColumn("ord", F.monotonically_increasing_id()).select(
            F.trim(F.col(f"`{u}`")).alias("user"),
            F.trim(F.col(f"`{i}`")).alias("id"),
            (F.expr(f"try_cast(trim(`{r}`) as float)") if r else F.lit(1.0).cast("float")).alias("rating"),
            F.trim(F.col(f"`{t}`")).alias("t_text") if t else F.lit(None).cast("string").alias("t_text"),
            "ord",
        )
        ok = F.col("user").isNotNull() & (F.col("user") != "") & F.col("id").isNotNull() & (F.col("id") != "")
        ok = ok & F.col("rating").isNotNull() & ~F.isnan("rating") & (F.abs("rating") != float("inf"))
        if t:
            ok = ok & F.col("t_text").rlike(r"^[+-]?[0-9]+$")
            time = F.expr("try_cast(t_text as bigint)")
        else:
            # No timestamp column: file order (ids grow in file order).
            time = F.col("ord")
        df = df.where(ok).withColumn("time", time).where(F.col("time").isNotNull()).drop("t_text")
        parts.append(df.select("user", "id", "rating", "time", "ord"))
    if events:
        ev = spark.read.parquet(events)
        ev = (
            ev.withColumn("ord", F.monotonically_increasing_id() + F.lit(EVENTS_ORD_BASE))
            .withColumn("rating", _event_rating().cast("float"))
            .where(F.col("rating").isNotNull() & F.col("item").isNotNull())
            .select(
                F.col("user_id").alias("user"),
                F.col("item").alias("id"),
                "rating",
                F.floor(F.col("ts") / 1000).cast("long").alias("time"),
                "ord",
            )
        )
        parts.append(ev)
    if not parts:
        raise ValueError("give an interactions CSV, an events Parquet, or both")
    df = parts[0]
    for p in parts[1:]:
        df = df.unionByName(p)
    df = df.join(F.broadcast(cat.items.select("id", F.col("row").alias("item"))), "id")
    if min_rating is not None:
        df = df.where(F.col("rating") >= F.lit(float(min_rating)))
    first = df.groupBy("user").agg(F.min("ord").alias("first_ord"))
    users = _with_index(first, "first_ord", "user_idx").select("user", F.col("user_idx").cast("int"))
    return df.join(users, "user").select(
        "user", "user_idx", F.col("item").cast("int").alias("item"), "rating", "time", "ord"
    )


def sequences(inter: DataFrame) -> DataFrame:
    """Per user, items in time order (file order breaking ties): user_idx, items array<int>."""
    return (
        inter.groupBy("user_idx")
        .agg(F.sort_array(F.collect_list(F.struct("time", "ord", "item"))).alias("s"))
        .select("user_idx", F.col("s.item").alias("items"))
    )
