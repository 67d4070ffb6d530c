"""Shared fixtures: a slice of MovieLens, the Rust trainer's bundle on it, the Spark job on it."""

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
