"""edgerec training at scale: the models of `edgerec train` on Apache Spark and PyTorch DDP.

* `data`      — interactions CSV / exported events Parquet + items CSV → Spark DataFrames with
                the same catalogue rows, user order and per-user time order as
                `server/src/train/data.rs`.
* `i2i`       — ItemCF (IUF) and Swing on Spark, the definitions of `server/src/train/i2i.rs`.
* `stats`     — popularity / freshness on Spark (`server/src/train/stats.rs`).
* `spark_job` — the Spark entry point (`spark-submit` or local mode): all of the above, written
                as Parquet plus a safetensors file for `edgerec bundle build`.
* `two_tower` — the two-tower model on PyTorch DistributedDataParallel (`torchrun`).
* `bundle_io` — safetensors merge, items JSONL, reading a built bundle's tensors back.
"""

NO_NEIGHBOR = 0xFFFFFFFF
