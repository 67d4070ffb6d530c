#!/usr/bin/env python3
"""implicit's ALS (Hu, Koren & Volinsky, ICDM 2008) or BPR (Rendle et al., UAI 2009) on the exact split files `edgerec eval` uses.

Reads train.csv / test.csv (header user,item[,rating][,timestamp]), fits the model on the train
interactions (ALS: confidence 1 + alpha per interaction; BPR: one positive per interaction), and
writes each test user's top-K unseen items as JSON {"<user>": ["<item>", ...]}; score it with the
same metric code as the other models:

    edgerec eval --bundle DIR --train train.csv --test test.csv --recs als=als_recs.json

Usage: als_baseline.py TRAIN TEST OUT.json [--model als|bpr] [--k 50] [--factors 128]
       [--reg 0.1] [--iterations 20] [--alpha 10] [--lr 0.01] [--seed 42]
"""
import argparse
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit's advice: BLAS threads off
import numpy as np
from recs_io import read_pairs, write_recs
import scipy.sparse as sp
from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("out")
    ap.add_argument("--model", choices=["als", "bpr"], default="als")
    ap.add_argument("--lr", type=float, default=0.01, help="BPR learning rate")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--factors", type=int, default=128)
    ap.add_argument("--reg", type=float, default=0.1)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--alpha", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()

    train, test = read_pairs(a.train), read_pairs(a.test)
    users = sorted({u for u, _ in train} | {u for u, _ in test})
    items = sorted({i for _, i in train})
    uix = {u: n for n, u in enumerate(users)}
    iix = {i: n for n, i in enumerate(items)}
    rows = [uix[u] for u, _ in train]
    cols = [iix[i] for _, i in train]
    value = a.alpha if a.model == "als" else 1.0
    ui = sp.csr_matrix(
        (np.full(len(rows), value, dtype=np.float32), (rows, cols)),
        shape=(len(users), len(items)),
    )
    ui.sum_duplicates()
    if a.model == "als":
        model = AlternatingLeastSquares(
            factors=a.factors,
            regularization=a.reg,
            iterations=a.iterations,
            random_state=a.seed,
            calculate_training_loss=False,
        )
    else:
        model = BayesianPersonalizedRanking(
            factors=a.factors,
            learning_rate=a.lr,
            regularization=a.reg,
            iterations=a.iterations,
            random_state=a.seed,
        )
    model.fit(ui, show_progress=False)
    test_users = sorted({u for u, _ in test}, key=lambda u: uix[u])
    ids = np.array([uix[u] for u in test_users])
    recs, _ = model.recommend(ids, ui[ids], N=a.k, filter_already_liked_items=True)
    out = {u: [items[j] for j in r if j >= 0] for u, r in zip(test_users, recs)}
    write_recs(a.out, out, a.model, len(train), len(users), len(items))


if __name__ == "__main__":
    main()
