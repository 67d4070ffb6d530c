"""Shared fixtures: a slice of MovieLens, the Rust trainer's bundle on it, the Spark job on it,
the DDP two-tower's bundle on it.

Nothing here imports torch (the DDP fixture runs torchrun in a subprocess): `make test-spark`
runs the Spark tests from a venv without it (train/.venv-spark)."""

import csv
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN = os.path.dirname(HERE)
ROOT = os.path.dirname(TRAIN)
sys.path.insert(0, TRAIN)
DATA = os.path.join(ROOT, "data", "ml-latest-small")
# Users 1..100 of ml-latest-small (15,448 ratings, 5.9 M co-occurrence pairs): the whole
# comparison in about a minute. EDGEREC_SCALE_FULL=1 compares on the full data set instead
# (about 6 minutes on 2 cores).
MAX_USER = None if os.environ.get("EDGEREC_SCALE_FULL") else 100
# The interpreter running the tests (train/.venv for make test-scale, train/.venv-spark for
# make test-spark) and its torchrun.
PY = sys.executable
TORCHRUN = os.path.join(os.path.dirname(sys.executable), "torchrun")
ENV = dict(os.environ, PYTHONPATH=TRAIN, OMP_NUM_THREADS="1")


def edgerec_bin() -> str:
    for c in (os.environ.get("EDGEREC"), f"{ROOT}/target/debug/edgerec", f"{ROOT}/target/release/edgerec"):
        if c and os.access(c, os.X_OK):
            return c
    pytest.fail("no edgerec binary: build it (make server) or set EDGEREC")


@pytest.fixture(scope="session")
def slice_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ml-slice")
    with open(f"{DATA}/ratings.csv", newline="") as f, open(d / "ratings.csv", "w", newline="") as g:
        r, w = csv.reader(f), csv.writer(g, lineterminator="\n")
        w.writerow(next(r))
        for row in r:
            if MAX_USER is None or int(row[0]) <= MAX_USER:
                w.writerow(row)
    os.symlink(f"{DATA}/movies.csv", d / "movies.csv")
    return d


@pytest.fixture(scope="session")
def rust_bundle(slice_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("rust") / "bundle"
    subprocess.run(
        [edgerec_bin(), "train", "--interactions", str(slice_dir / "ratings.csv"),
         "--items", str(slice_dir / "movies.csv"), "--out", str(out), "--epochs", "1",
         "--ranker-epochs", "0", "--quiet"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return str(out)


@pytest.fixture(scope="session")
def spark_out(slice_dir, tmp_path_factory):
    from edgerec_scale import spark_job

    out = tmp_path_factory.mktemp("spark")
    rc = spark_job.main(["--master", "local[2]", "--items", str(slice_dir / "movies.csv"),
                         "--interactions", str(slice_dir / "ratings.csv"), "--out", str(out)])
    assert rc == 0
    return str(out)


def run(cmd, timeout=300, **kw):
    """Runs `cmd` in train/ with this package importable; fails the test with its stderr."""
    r = subprocess.run(cmd, env=kw.pop("env", ENV), cwd=kw.pop("cwd", TRAIN), capture_output=True, text=True,
                       timeout=timeout, **kw)
    assert r.returncode == 0, f"{cmd[:4]}… exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="session")
def ddp_bundle(spark_out, tmp_path_factory):
    """3 steps of the DDP two-tower (torchrun, 2 ranks) on the Spark outputs, merged with the Spark
    i2i/stats tensors, `edgerec bundle build` + `verify`: the directory holding `tt.safetensors`,
    `model.safetensors` and `bundle/`."""
    d = tmp_path_factory.mktemp("ddp")
    run([TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "edgerec_scale.two_tower", "--data", spark_out,
         "--out", str(d / "tt.safetensors"), "--epochs", "1", "--max-steps", "3"])
    run([PY, "-m", "edgerec_scale.bundle_io", "merge", str(d / "model.safetensors"), str(d / "tt.safetensors"),
         f"{spark_out}/i2i_stats.safetensors"])
    from edgerec_scale.bundle_io import QUANT_FLAGS

    quant = [x for q in QUANT_FLAGS for x in ("--quant", q)]
    e = edgerec_bin()
    run([e, "bundle", "build", "--tensors", str(d / "model.safetensors"), "--items", f"{spark_out}/items.jsonl",
         "--out", str(d / "bundle"), "--model-id", "t", "--model-version", "1", "--similarity", "cosine",
         "--temperature", "0.1", *quant])
    run([e, "bundle", "verify", str(d / "bundle")])
    return d
