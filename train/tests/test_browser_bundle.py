"""The DDP pipeline's bundle in the browser: published with `edgerec serve --models`, loaded by the
built npm package (pkg/) in headless Chromium with `Recommender.load('/v1/models/latest')`, on the
CPU backend (tests/e2e-scale/load-bundle.mjs drives the page)."""

import json
import os
import shutil

from conftest import ROOT, edgerec_bin, run

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def test_ddp_bundle_loads_and_recommends_in_the_browser(ddp_bundle, spark_out):
    # Missing tools fail the test (make test-scale installs them): never a silent skip.
    node = shutil.which("node")
    assert node, "node is missing: scripts/setup.sh node"
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: scripts/setup.sh browser"
    for f in ("pkg/dist/index.js", "node_modules/playwright-core/package.json"):
        assert os.path.exists(os.path.join(ROOT, f)), f"{f} is missing: make pkg / scripts/setup.sh node"
    env = dict(os.environ, EDGEREC_BIN=edgerec_bin(), CHROMIUM=CHROMIUM)
    r = run([node, "tests/e2e-scale/load-bundle.mjs", str(ddp_bundle / "bundle"), "--backend", "cpu",
             "--clicks", "3", "--k", "10"], cwd=ROOT, env=env, timeout=240)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["status"] == "done", out
    assert out["pageErrors"] == [], out["pageErrors"]
    assert out["backend"] == "cpu" and out["modelVersion"] == "1"
    ids = [json.loads(line)["id"] for line in open(f"{spark_out}/items.jsonl")]
    assert out["itemCount"] == len(ids)

    before, after = out["before"], out["after"]
    # N distinct items of the catalogue, at the rows the Spark job numbered them.
    for r_ in (before, after):
        assert len(r_["ids"]) == 10 and len(set(r_["ids"])) == 10, r_["ids"]
        assert all(ids[row] == i for i, row in zip(r_["ids"], r_["rows"])), r_
        assert all(t for t in r_["titles"])
    assert out["rowsOfIds"] == before["rows"]
    assert before["cold"] is True and after["cold"] is False

    # Three clicks: recorded (in memory), the list changed, clicked items are not recommended
    # again, and the DDP embeddings (vector) and the Spark lists (i2i, swing) feed recall.
    assert out["history"] == out["clicked"] and len(set(out["clicked"])) == 3
    assert all(s["persisted"] for s in out["saves"]), out["saves"]
    assert after["ids"] != before["ids"]
    assert not set(out["clicked"]) & set(after["ids"])
    recall = {c["name"]: c["produced"] for c in after["recall"]}
    assert all(recall.get(name, 0) > 0 for name in ("vector", "i2i", "swing")), after["recall"]
    print(json.dumps({"before": before["ids"], "clicked": out["clicked"], "after": after["ids"],
                      "recall": after["recall"]}))
