#!/usr/bin/env python3
"""Straightforward NumPy re-rank baselines, timed on the same fixtures as `edgerec rerank bench`.

- DPP: fast greedy MAP inference (Chen, Zhang & Zhou, NeurIPS 2018), Alg. 1 (incremental
  Cholesky) and Alg. 2 (sliding window, Givens re-triangulation), float64, vectorized over the
  N candidates the way the authors' reference code is.
- MMR (Carbonell & Goldstein 1998): incremental, with a running max-similarity per candidate.

Each selection is checked against the fixture JSON before it is timed. Prints one JSON line per
algorithm: {"bench": "rerank", "impl": "numpy", "algo": ..., "median_ms": ...}.
"""

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def dpp_greedy(kernel, k, window=None, epsilon=1e-10):
    n = kernel.shape[0]
    window = window or k + 1  # never full: Alg. 1
    cis = np.zeros((k, n))
    v = np.zeros((k, k))
    d2 = np.copy(np.diag(kernel))
    picked = [int(np.argmax(d2))]
    left = 0
    while len(picked) < k:
        j = len(picked) - 1
        item = picked[-1]
        ci = cis[left:j, item]
        di = math.sqrt(d2[item])
        v[j, left:j] = ci
        v[j, j] = di
        e = (kernel[item, :] - ci @ cis[left:j, :]) / di
        cis[j, :] = e
        d2 -= e * e
        if len(picked) >= window:
            left += 1
            old = left - 1
            for r in range(left, j + 1):
                t = math.sqrt(v[r, r] ** 2 + v[r, old] ** 2)
                c, s = t / v[r, r], v[r, old] / v[r, r]
                v[r, r] = t
                v[r + 1 : j + 1, r] = (v[r + 1 : j + 1, r] + s * v[r + 1 : j + 1, old]) / c
                v[r + 1 : j + 1, old] = v[r + 1 : j + 1, old] * c - s * v[r + 1 : j + 1, r]
                cis[r, :] = (cis[r, :] + s * cis[old, :]) / c
                cis[old, :] = cis[old, :] * c - s * cis[r, :]
            d2 += cis[old, :] ** 2
        d2[item] = -np.inf
        nxt = int(np.argmax(d2))
        if d2[nxt] < epsilon:
            break
        picked.append(nxt)
    return picked


def mmr(items, query, k, lam):
    norms = np.linalg.norm(items, axis=1)
    rel = items @ query / (norms * np.linalg.norm(query))
    picked = [int(np.argmax(rel))]
    max_sim = np.full(items.shape[0], -np.inf)
    taken = np.zeros(items.shape[0], dtype=bool)
    taken[picked[0]] = True
    while len(picked) < k:
        last = picked[-1]
        sim = items @ items[last] / (norms * norms[last])
        np.maximum(max_sim, sim, out=max_sim)
        score = lam * rel - (1 - lam) * max_sim
        score[taken] = -np.inf
        nxt = int(np.argmax(score))
        picked.append(nxt)
        taken[nxt] = True
    return picked


def timed(iters, fn):
    fn()
    samples = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def table(lines):
    """Side-by-side table of edgerec and NumPy JSON lines (as printed by both benchmarks)."""
    rows = [json.loads(line) for line in lines if line.startswith("{")]
    by = {(r["impl"], r["algo"]): r for r in rows}
    algos = list(dict.fromkeys(r["algo"] for r in rows))
    print(f"{'algorithm':<16} {'N':>5} {'k':>3} {'edgerec ms':>11} {'numpy ms':>9} "
          f"{'numpy/edgerec':>14}")
    for a in algos:
        e, n = by[("edgerec", a)], by[("numpy", a)]
        print(f"{a:<16} {e['n']:>5} {e['k']:>3} {e['median_ms']:>11.3f} {n['median_ms']:>9.3f} "
              f"{n['median_ms'] / e['median_ms']:>13.1f}x")


def main():
    here = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", type=Path, default=here)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--table", action="store_true",
                    help="read both benchmarks' JSON lines on stdin and print a table")
    args = ap.parse_args()
    if args.table:
        table(sys.stdin)
        return
    f = args.fixtures
    kernel = np.load(f / "dpp_kernel_n1000_d64_seed42.npy").astype(np.float64)
    items = np.load(f / "mmr_E_n1000_d64_seed2024.npy").astype(np.float64)
    query = np.load(f / "mmr_q_d64_seed2024.npy").astype(np.float64).reshape(-1)
    want_dpp = json.loads((f / "dpp_n1000_d64_k50_seed42.json").read_text())
    want_mmr = json.loads((f / "mmr_n1000_d64_k50_seed2024.json").read_text())
    k = args.k
    runs = [
        ("dpp", kernel.shape[0], lambda: dpp_greedy(kernel, k), want_dpp["selected"]),
        ("dpp_window10", kernel.shape[0], lambda: dpp_greedy(kernel, k, window=10),
         want_dpp["selected_sw_window10"]),
        ("mmr_lambda0.5", items.shape[0], lambda: mmr(items, query, k, 0.5),
         want_mmr["lambda=0.5"]["selected"]),
    ]
    for name, n, fn, want in runs:
        got = fn()
        if got != want[:k]:
            raise SystemExit(f"{name}: the NumPy baseline disagrees with the fixture: {got}")
        ms = timed(args.iters, fn)
        print(json.dumps({"bench": "rerank", "impl": "numpy", "algo": name, "n": n, "k": k,
                          "iters": args.iters, "median_ms": ms}))


if __name__ == "__main__":
    main()
