#!/usr/bin/env python3
"""Cornac's BiVAE (Truong, Salah & Lauw, WSDM 2021) on the exact split files `edgerec eval` uses.

The settings are Microsoft Recommenders' for MovieLens (the notebook behind its published
benchmark table: latent 50, encoder [100], tanh, Poisson likelihood, 500 epochs, batch 128,
lr 0.001). Every train interaction counts as rating 1 (binary relevance, as the protocol says).
Writes each test user's top-K unseen items as JSON {"<user>": ["<item>", ...]}, scored by

    edgerec eval --bundle DIR --train train.csv --test test.csv --recs bivae=bivae_recs.json

Needs torch and cornac (`train/.venv` after `scripts/setup.sh scale`, plus `pip install cornac`).
Usage: bivae_baseline.py TRAIN TEST OUT.json [--k 50] [--epochs 500] [--latent 50] [--seed 42]
"""
import argparse

import numpy as np
from recs_io import read_pairs, write_recs
import cornac


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("out")
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--latent", type=int, default=50)
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()

    train, test = read_pairs(a.train), read_pairs(a.test)
    data = cornac.data.Dataset.from_uir([(u, i, 1.0) for u, i in sorted(set(train))], seed=a.seed)
    model = cornac.models.BiVAECF(
        k=a.latent,
        encoder_structure=[100],
        act_fn="tanh",
        likelihood="pois",
        n_epochs=a.epochs,
        batch_size=128,
        learning_rate=0.001,
        seed=a.seed,
        use_gpu=False,
        verbose=False,
    )
    model.fit(data)
    items = [None] * data.num_items
    for item, idx in data.iid_map.items():
        items[idx] = item
    seen = {}
    for u, i in train:
        seen.setdefault(u, set()).add(data.iid_map[i])
    out = {}
    for u in sorted({u for u, _ in test}):
        if u not in data.uid_map:
            continue
        scores = np.asarray(model.score(data.uid_map[u]), dtype=np.float64)
        scores[list(seen.get(u, ()))] = -np.inf
        top = np.argsort(-scores, kind="stable")[: a.k]
        out[u] = [items[j] for j in top]
    write_recs(a.out, out, "bivae", len(train), data.num_users, data.num_items)


if __name__ == "__main__":
    main()
