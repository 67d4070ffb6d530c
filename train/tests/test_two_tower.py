"""The DDP two-tower: the streaming logQ sketch, 2-process DDP = 1 process, and the bundle."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors.numpy import load_file

from conftest import PY, TORCHRUN, run
from edgerec_scale.two_tower import FrequencySketch


def test_sketch_estimates_batch_frequencies():
    rng = np.random.default_rng(0)
    n, b = 50, 64
    p = rng.random(n) ** 3
    p /= p.sum()
    sk = FrequencySketch(n, buckets=1024, hashes=2, alpha=0.02, init_gap=10.0)
    for step in range(1, 3001):
        sk.update(step, rng.choice(n, size=b, p=p))
    est, exact = sk.batch_prob(np.arange(n)), b * p
    # Items seen at least every other step: within the EMA's noise of the true rate.
    frequent = exact > 0.5
    err = np.abs(np.log(est[frequent] / exact[frequent]))
    assert np.median(err) < 0.15 and err.max() < 0.5, (est[frequent], exact[frequent])
    # Items seen now and then: ordered right (never-seen ones keep the initial gap).
    seen = exact * 3000 > 5
    assert np.corrcoef(np.log(est[seen]), np.log(exact[seen]))[0, 1] > 0.9


def _tiny(tmp_path):
    """40 items in 3 categories, 30 users with 5..15 interactions."""
    rng = np.random.default_rng(1)
    d = tmp_path / "data"
    for sub in ("sequences", "catalogue"):
        (d / "parquet" / sub).mkdir(parents=True)
    seqs = [rng.integers(0, 40, size=rng.integers(5, 16)).tolist() for _ in range(30)]
    pq.write_table(pa.table({"user_idx": list(range(30)), "items": seqs}), d / "parquet" / "sequences" / "part-0.parquet")
    cats = [[i % 3] if i % 7 else [] for i in range(40)]
    pq.write_table(pa.table({"row": list(range(40)), "cats": pa.array(cats, pa.list_(pa.int32()))}),
                   d / "parquet" / "catalogue" / "part-0.parquet")
    (d / "categories.json").write_text(json.dumps(["a", "b", "c"]))
    return d


def test_two_processes_take_the_same_step_as_one(tmp_path):
    d = _tiny(tmp_path)
    # bag_prob 0: every random draw is shared by the ranks, so the two runs see the same batch.
    args = ["-m", "edgerec_scale.two_tower", "--data", str(d), "--epochs", "1", "--max-steps", "2",
            "--batch", "32", "--negatives", "16", "--dim", "8", "--hidden", "16", "--history", "5",
            "--bag-prob", "0"]
    run([PY, *args, "--out", str(tmp_path / "one.safetensors")])
    run([TORCHRUN, "--standalone", "--nproc_per_node", "2", *args, "--out", str(tmp_path / "two.safetensors")])
    one, two = load_file(tmp_path / "one.safetensors"), load_file(tmp_path / "two.safetensors")
    assert set(one) == {"item_embeddings", "user_tower.history_embeddings", "user_tower.w0", "user_tower.b0",
                        "user_tower.w1", "user_tower.b1", "item_tower.category_embeddings"}
    for k in one:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-4, atol=1e-5, err_msg=k)
    rep = json.loads((tmp_path / "two_report.json").read_text())
    assert rep["world_size"] == 2 and rep["steps"] == 2


def test_ddp_tensors_build_a_bundle(spark_out, ddp_bundle):
    # ddp_bundle (conftest): torchrun 2 ranks → merge with the Spark tensors → bundle build + verify.
    t = load_file(ddp_bundle / "tt.safetensors")
    n = len(open(f"{spark_out}/items.jsonl").readlines())
    assert t["item_embeddings"].shape == (n, 64)
    assert t["user_tower.w0"].shape == (128, 64) and t["user_tower.w1"].shape == (64, 128)
    assert t["item_tower.category_embeddings"].shape == (20, 64)
    np.testing.assert_allclose(np.linalg.norm(t["item_embeddings"], axis=1), 1.0, rtol=1e-4)
    m = json.load(open(ddp_bundle / "bundle" / "manifest.json"))["manifest"]
    dtypes = {x["name"]: x["dtype"] for x in m["tensors"]}
    assert dtypes["i2i.ids"] == "u32" and dtypes["swing.scores"] == "f16"
    assert dtypes["item_embeddings"] == "i8" and dtypes["user_tower.history_embeddings"] == "i8"
    assert dtypes["user_tower.w0"] == "f16" and dtypes["stats.popularity"] == "f16"
