"""The Spark lists and statistics equal the Rust trainer's (`edgerec train`) on the same data."""

import json

import numpy as np
from safetensors.numpy import load_file

from edgerec_scale import NO_NEIGHBOR
from edgerec_scale.bundle_io import read_bundle_tensor


def _spark(spark_out):
    return load_file(f"{spark_out}/i2i_stats.safetensors")


def test_i2i_and_swing_lists_equal_the_rust_trainer(rust_bundle, spark_out):
    sp = _spark(spark_out)
    for name in ("i2i", "swing"):
        rust_ids = read_bundle_tensor(rust_bundle, f"{name}.ids")
        rust_scores = read_bundle_tensor(rust_bundle, f"{name}.scores").astype(np.float32)
        ids, scores = sp[f"{name}.ids"], sp[f"{name}.scores"]
        assert ids.dtype == np.uint32 and scores.dtype == np.float32
        assert ids.shape == rust_ids.shape == (rust_ids.shape[0], 100)
        # Same neighbours, same order, same padding, in every row.
        diff = np.argwhere(ids != rust_ids)
        assert len(diff) == 0, f"{name}: {len(diff)} positions differ, first {diff[:5].tolist()}"
        assert (ids != NO_NEIGHBOR).sum() > 10_000, f"{name}: lists are nearly empty"
        assert np.all(scores[ids == NO_NEIGHBOR] == 0)
        # The bundle stores scores as f16: the Spark f32 scores round to the same f16.
        np.testing.assert_array_equal(scores.astype(np.float16).astype(np.float32), rust_scores)
        # Best first.
        assert np.all(np.diff(scores, axis=1) <= 0)


def test_stats_equal_the_rust_trainer(rust_bundle, spark_out):
    sp = _spark(spark_out)
    for name in ("popularity", "popularity_recent", "freshness"):
        rust = read_bundle_tensor(rust_bundle, f"stats.{name}").astype(np.float32)
        np.testing.assert_allclose(sp[f"stats.{name}"].astype(np.float16).astype(np.float32), rust,
                                   rtol=1e-3, atol=1e-3, err_msg=name)


def test_report_counts(spark_out, rust_bundle):
    rep = json.load(open(f"{spark_out}/spark_report.json"))
    rust = json.load(open(f"{rust_bundle}/train_report.json"))
    assert rep["interactions"] == rust["interactions"]["kept"]
    assert rep["users"] == rust["users"]
    assert rep["items"] == rust["items"]["kept"]
    with open(f"{spark_out}/items.jsonl") as f:
        first = json.loads(f.readline())
    assert first == {"id": "1", "title": "Toy Story (1995)",
                     "tags": ["Adventure", "Animation", "Children", "Comedy", "Fantasy"],
                     "created_at": 788918400}
