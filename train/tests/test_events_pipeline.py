"""run_pipeline.sh on the Parquet of `edgerec events export`, produced the product's way: a few
hundred events of MovieLens users POSTed to `edgerec serve` (SQLite store, bearer token), exported,
then Spark + DDP → a verified bundle whose lists are the Rust trainer's on the same events."""

import csv
import json
import os
import subprocess
import urllib.request
import uuid

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import DATA, ROOT, TRAIN, edgerec_bin, run
from edgerec_scale import NO_NEIGHBOR
from edgerec_scale.bundle_io import read_bundle_tensor

USERS, PER_USER, TOKEN = 16, 25, "scale-test-token"


def _events():
    """The first PER_USER ratings of users 1..USERS as events: ≥ 4.5 a like, ≤ 2 a short dwell,
    else a click; per user also an impression and a custom event (which training drops)."""
    out, taken = [], {}
    with open(f"{DATA}/ratings.csv", newline="") as f:
        for row in csv.DictReader(f):
            u = int(row["userId"])
            if u > USERS or taken.get(u, 0) >= PER_USER:
                continue
            taken[u] = taken.get(u, 0) + 1
            r, ts = float(row["rating"]), int(row["timestamp"]) * 1000
            e = {"id": str(uuid.uuid4()), "user": f"u{u}", "item": row["movieId"], "ts": ts}
            if r >= 4.5:
                e["kind"] = "like"
            elif r <= 2:
                e.update(kind="dwell", dwellMs=3000)
            else:
                e["kind"] = "click"
            out.append(e)
            if taken[u] == 1:
                out.append({"id": str(uuid.uuid4()), "user": f"u{u}", "item": row["movieId"], "ts": ts,
                            "kind": "impression", "position": 0, "requestId": "r"})
                out.append({"id": str(uuid.uuid4()), "user": f"u{u}", "ts": ts, "kind": "custom", "name": "checkout"})
    return out


def _post(url, events):
    req = urllib.request.Request(f"{url}/v1/events", data=json.dumps({"events": events}).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`edgerec serve` ← POST /v1/events; `edgerec events export` → DATA/events.parquet (+ .jsonl)."""
    d = tmp_path_factory.mktemp("events")
    (d / "tokens.txt").write_text(f"{TOKEN}\n")
    db = f"sqlite:{d / 'ev.db'}"
    serve = subprocess.Popen([edgerec_bin(), "serve", "--db", db, "--addr", "127.0.0.1:0", "--token-file",
                              str(d / "tokens.txt")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = serve.stdout.readline()
        assert "listening on http://" in line, line
        url = line.split("listening on ", 1)[1].strip().rstrip("/")
        events = _events()
        for i in range(0, len(events), 100):
            assert _post(url, events[i : i + 100]) == {"accepted": len(events[i : i + 100]), "duplicates": 0}
        with urllib.request.urlopen(f"{url}/healthz", timeout=30) as r:
            assert json.load(r)["events"] == len(events)
    finally:
        serve.terminate()
        assert serve.wait(timeout=30) == 0
    data = d / "data"
    data.mkdir()
    os.symlink(f"{DATA}/movies.csv", data / "movies.csv")
    for out in (data / "events.parquet", d / "events.jsonl"):
        r = run([edgerec_bin(), "events", "export", "--db", db, "--out", str(out)])
        assert f"wrote {len(events)} events" in r.stdout, r.stdout
    return d, events


def test_pipeline_on_exported_events_parquet(exported, tmp_path):
    d, events = exported
    kept = [e for e in events if e["kind"] in ("click", "like", "dwell")]
    assert 350 <= len(kept) <= 400
    out = tmp_path / "out"
    env = dict(os.environ, EDGEREC=edgerec_bin(), EPOCHS="1", NPROC="2", OMP_NUM_THREADS="1")
    run([f"{TRAIN}/run_pipeline.sh", str(d / "data"), str(out)], cwd=ROOT, env=env, timeout=600)

    # The Spark job read every interaction event (impressions and custom events dropped).
    rep = json.load(open(out / "spark" / "spark_report.json"))
    assert rep["interactions"] == len(kept), rep
    assert rep["users"] == USERS and rep["items"] == 9742
    assert rep["newest_time"] == max(e["ts"] for e in kept) // 1000
    # The bundle: verified (again), the DDP tower over the whole catalogue.
    run([edgerec_bin(), "bundle", "verify", str(out / "bundle")])
    m = json.load(open(out / "bundle" / "manifest.json"))["manifest"]
    assert {"item_embeddings", "user_tower.w0", "i2i.ids", "swing.ids"} <= {t["name"] for t in m["tensors"]}
    assert json.load(open(out / "torch" / "two_tower_report.json"))["world_size"] == 2

    # Its neighbour lists are the events': the Spark lists (kept in the bundle as built) equal
    # `edgerec train --events` on the JSON Lines export of the same store…
    empty = tmp_path / "none.csv"
    empty.write_text("userId,movieId,rating,timestamp\n")
    rust = tmp_path / "rust"
    run([edgerec_bin(), "train", "--interactions", str(empty), "--items", f"{DATA}/movies.csv", "--events",
         str(d / "events.jsonl"), "--out", str(rust), "--epochs", "1", "--ranker-epochs", "0", "--quiet"])
    ev = json.load(open(rust / "train_report.json"))["events"]
    assert (ev["events"], ev["kept"], ev["not_interactions"]) == (len(events), len(kept), len(events) - len(kept))
    sp = load_file(out / "spark" / "i2i_stats.safetensors")
    for name in ("i2i", "swing"):
        ids = read_bundle_tensor(str(out / "bundle"), f"{name}.ids")
        np.testing.assert_array_equal(ids, sp[f"{name}.ids"], err_msg=name)
        np.testing.assert_array_equal(ids, read_bundle_tensor(str(rust), f"{name}.ids"), err_msg=name)
        np.testing.assert_array_equal(read_bundle_tensor(str(out / "bundle"), f"{name}.scores"),
                                      read_bundle_tensor(str(rust), f"{name}.scores"), err_msg=name)
    # …and every neighbour of an item was clicked by one of the item's users.
    row = {json.loads(line)["id"]: i for i, line in enumerate(open(out / "spark" / "items.jsonl"))}
    per_user = {}
    for e in kept:
        per_user.setdefault(e["user"], set()).add(row[e["item"]])
    co = {}
    for items in per_user.values():
        for i in items:
            co.setdefault(i, set()).update(items - {i})
    ids = sp["i2i.ids"]
    listed = {int(i) for i in np.flatnonzero((ids != NO_NEIGHBOR).any(axis=1))}
    assert listed == {i for i, c in co.items() if c}
    for i in listed:
        got = {int(x) for x in ids[i] if x != NO_NEIGHBOR}
        assert got == co[i] if len(co[i]) <= ids.shape[1] else got <= co[i], i
