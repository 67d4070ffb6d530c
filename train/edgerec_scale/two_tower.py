"""The two-tower model of `server/src/train/two_tower.rs` on PyTorch DistributedDataParallel.

    torchrun --nproc_per_node 2 -m edgerec_scale.two_tower --data OUT --out OUT/two_tower.safetensors
    python -m edgerec_scale.two_tower …            # one process, no torch.distributed

`--data` is the Spark job's output directory (`parquet/sequences`, `parquet/catalogue`,
`categories.json`). Same model and loss as the candle trainer:

* user tower `q = normalize(W1 · relu(W0 · mean_{last N} H[item] + b0) + b1)` (history mean
  pooling; `N` = `--history`), item tower `v = normalize(E[item] + mean_{c} C[c])`;
* training pairs (history, item at position t) from each user's time-ordered sequence, the
  history ending at `t − δ`, `δ ~ U{0..min(horizon, t−1)}` per pair and epoch; with
  probability `--bag-prob` the history is instead up to `N` of the user's other items at random;
* sampled softmax over the global batch's `B` targets plus `M` shared negatives drawn
  ∝ count^0.75, logits `s(u, j)/τ − α·log Q(j)`, accidental hits masked; AdamW
  (lr 3e-3, decoupled weight decay 1e-4), Xavier-uniform dense layers, U(±0.1) embeddings.

The logQ term `Q(j) = E[count of j among the candidates] = B·p_target(j) + M·p_neg(j)`: the
negative part is the sampler's own (known) distribution; the in-batch part is estimated by the
**streaming frequency estimator of Yi et al. (RecSys 2019, Algorithm 2)** — per hash bucket, the
last global step `A[h]` an item was a target and an exponential moving average `B[h]` of the
steps between its occurrences; `B·p_target(j) ≈ 1 / B[h(j)]` (the max over `--sketch-hashes`
hash functions limits collisions). The candle trainer uses the exact frequencies of its
finite training set by default (its `--logq-frequencies streaming` is this sketch); the sketch
is what works on an unbounded stream. Every rank sees the same
global targets (the shuffle is seeded and shared), so the sketch is replicated without any
communication; the report gives its error against the exact frequencies.

DDP: the global batch is split across ranks (rank r takes rows r, r+W, …); each rank encodes
its rows' users, its targets and its share of the negatives, and all ranks' candidate vectors
are all-gathered (gradients summed back across ranks), so every row is scored against the same
`B + M` candidates as in the single-process model. Gradients of the parameters are averaged by
DDP; with the per-rank mean loss that is the gradient of the global mean loss.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as Fn


# ----------------------------------------------------------------------------- data

def load(data_dir: str):
    """(seq_items flat int64, seq_offsets, item_categories list, n_items, n_cats)."""
    import pyarrow.parquet as pq

    seqs = pq.read_table(os.path.join(data_dir, "parquet", "sequences")).sort_by("user_idx")
    lists = seqs.column("items").combine_chunks()
    offsets = lists.offsets.to_numpy().astype(np.int64)
    flat = lists.values.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    cat = pq.read_table(os.path.join(data_dir, "parquet", "catalogue"), columns=["row", "cats"]).sort_by("row")
    cats = cat.column("cats").to_pylist()
    with open(os.path.join(data_dir, "categories.json")) as f:
        n_cats = len(json.load(f))
    return flat, offsets, cats, len(cats), n_cats


# ----------------------------------------------------------------------------- model

class TwoTower(torch.nn.Module):
    def __init__(self, n_items: int, item_cats: list[list[int]], n_cats: int, dim: int, hidden: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        u = lambda shape, a: torch.nn.Parameter((torch.rand(*shape, generator=g) * 2 - 1) * a)  # noqa: E731
        nc = max(n_cats, 1)
        self.n_cats = n_cats
        self.id_emb = u((n_items, dim), 0.1)
        self.cat_emb = u((nc, dim), 0.1)
        self.hist_emb = u((n_items, dim), 0.1)
        self.w0 = u((hidden, dim), math.sqrt(6.0 / (dim + hidden)))
        self.b0 = torch.nn.Parameter(torch.zeros(hidden))
        self.w1 = u((dim, hidden), math.sqrt(6.0 / (hidden + dim)))
        self.b1 = torch.nn.Parameter(torch.zeros(dim))
        # Row-normalized multi-hot [items, cats], sparse (CSR) so that it scales with the catalogue.
        rows, cols, vals = [], [], []
        for r, cs in enumerate(item_cats):
            for c in cs:
                rows.append(r)
                cols.append(c)
                vals.append(1.0 / len(cs))
        self.register_buffer("cat_rows", torch.tensor(rows, dtype=torch.long), persistent=False)
        self.register_buffer("cat_cols", torch.tensor(cols, dtype=torch.long), persistent=False)
        self.register_buffer("cat_vals", torch.tensor(vals, dtype=torch.float32), persistent=False)
        counts = np.bincount(np.asarray(rows, dtype=np.int64), minlength=n_items)
        starts = np.concatenate([[0], np.cumsum(counts)])
        self.cat_start = torch.from_numpy(starts[:-1].copy())
        self.cat_count = torch.from_numpy(counts.copy())

    def items(self, ids: torch.Tensor) -> torch.Tensor:
        """Item tower for `ids` → [len, dim], L2-normalized."""
        x = self.id_emb.index_select(0, ids)
        if len(self.cat_vals):
            cnt = self.cat_count.index_select(0, ids)
            seg = torch.repeat_interleave(torch.arange(len(ids)), cnt)
            pos = torch.repeat_interleave(self.cat_start.index_select(0, ids) - torch.cumsum(cnt, 0) + cnt, cnt)
            entry = pos + torch.arange(int(cnt.sum()))
            contrib = self.cat_emb.index_select(0, self.cat_cols.index_select(0, entry))
            contrib = contrib * self.cat_vals.index_select(0, entry).unsqueeze(1)
            x = x.index_add(0, seg, contrib)
        return l2n(x)

    def users(self, hist: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """`hist` [B, N] ids, `weights` [B, N] (rows sum to 1, or 0 when empty) → [B, dim]."""
        e = self.hist_emb.index_select(0, hist.reshape(-1)).reshape(*hist.shape, -1)
        pooled = (e * weights.unsqueeze(-1)).sum(1)
        h = torch.relu(pooled @ self.w0.t() + self.b0)
        return l2n(h @ self.w1.t() + self.b1)

    def forward(self, hist, weights, cand_ids):
        return self.users(hist, weights), self.items(cand_ids)


def l2n(x: torch.Tensor) -> torch.Tensor:
    return x / torch.sqrt((x * x).sum(-1, keepdim=True) + 1e-12)


# ----------------------------------------------------------------------------- logQ sketch

class FrequencySketch:
    """Streaming frequency estimation, Yi et al. RecSys 2019 (Algorithm 2, multiple hashes)."""

    PRIMES = (2654435761, 2246822519, 3266489917, 668265263)

    def __init__(self, n_items: int, buckets: int, hashes: int, alpha: float, init_gap: float):
        self.h = buckets
        self.alpha = alpha
        ids = np.arange(n_items, dtype=np.uint64)
        self.slots = [((ids * np.uint64(p) + np.uint64(k)) % np.uint64(buckets)).astype(np.int64)
                      for k, p in enumerate(self.PRIMES[:hashes])]
        self.a = [np.zeros(buckets) for _ in range(hashes)]
        self.b = [np.full(buckets, init_gap) for _ in range(hashes)]

    def update(self, step: int, targets: np.ndarray) -> None:
        items, k = np.unique(targets, return_counts=True)
        al = self.alpha
        for s, a, b in zip(self.slots, self.a, self.b):
            # Items sharing a bucket in one step count as that many hits of the bucket.
            hb, inv = np.unique(s[items], return_inverse=True)
            kb = np.bincount(inv, weights=k).astype(np.int64)
            gap = step - a[hb]
            # k updates: the first with the gap since the last hit, k−1 with gap 0.
            b[hb] = (1 - al) ** kb * b[hb] + al * (1 - al) ** (kb - 1) * gap
            a[hb] = step

    def batch_prob(self, ids: np.ndarray) -> np.ndarray:
        """Estimated expected count of each id among one batch's targets: 1 / max_h B[h]."""
        gaps = np.max(np.stack([b[s[ids]] for s, b in zip(self.slots, self.b)]), axis=0)
        return 1.0 / np.maximum(gaps, 1e-6)


# ----------------------------------------------------------------------------- distributed

class _Gather(torch.autograd.Function):
    """all_gather of [n_r, d] blocks (n_r may differ by rank); backward sums across ranks."""

    @staticmethod
    def forward(ctx, x, sizes):
        ctx.sizes, ctx.rank = sizes, dist.get_rank()
        top = max(sizes)
        pad = torch.zeros(top, x.shape[1], dtype=x.dtype)
        pad[: x.shape[0]] = x
        out = [torch.empty_like(pad) for _ in sizes]
        dist.all_gather(out, pad)
        return torch.cat([o[:n] for o, n in zip(out, sizes)])

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None


def gather_rows(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    if len(sizes) == 1:
        return x
    return _Gather.apply(x, sizes)


# ----------------------------------------------------------------------------- training

def histories(flat, offsets, users, targets_pos, ends, bag, n, rng):
    """Padded history ids [b, n] and pooling weights [b, n], as `histories_mixed` in Rust."""
    b = len(users)
    ids = np.zeros((b, n), dtype=np.int64)
    w = np.zeros((b, n), dtype=np.float32)
    for r in range(b):
        o = offsets[users[r]]
        ln = offsets[users[r] + 1] - o
        if bag[r]:
            others = ln - 1
            k = min(others, n)
            pick = rng.choice(others, size=k, replace=False)
            pick = pick + (pick >= targets_pos[r])
            ids[r, :k] = flat[o + pick]
            w[r, :k] = 1.0 / k
        else:
            end = ends[r]
            start = max(0, end - n)
            ids[r, : end - start] = flat[o + start : o + end]
            w[r, : end - start] = 1.0 / (end - start)
    return ids, w


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the Spark job's --out directory")
    p.add_argument("--out", required=True, help="safetensors file to write (rank 0)")
    p.add_argument("--report", help="JSON report (default: next to --out)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--history", type=int, default=50)
    p.add_argument("--batch", type=int, default=512, help="global batch B (split across ranks)")
    p.add_argument("--negatives", type=int, help="shared negatives M per global batch (default: B)")
    p.add_argument("--neg-power", type=float, default=0.75)
    p.add_argument("--temperature", type=float, default=0.1)
    p.add_argument("--logq-weight", type=float, default=1.5)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--horizon", type=int, default=8)
    p.add_argument("--bag-prob", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--logq", choices=["streaming", "exact"], default="streaming",
                   help="in-batch part of log Q: Yi et al.'s streaming estimate or exact counts")
    p.add_argument("--sketch-buckets", type=int, help="hash buckets (default: 2 × items, power of 2)")
    p.add_argument("--sketch-hashes", type=int, default=2)
    p.add_argument("--sketch-alpha", type=float, default=0.05)
    p.add_argument("--max-steps", type=int, help="stop after this many steps (throughput runs)")
    p.add_argument("--threads", type=int, help="torch threads per process (default: OMP_NUM_THREADS or all)")
    a = p.parse_args(argv)
    negatives = a.batch if a.negatives is None else a.negatives

    distributed = "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    if a.threads:
        torch.set_num_threads(a.threads)
    elif "OMP_NUM_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

    flat, offsets, item_cats, n_items, n_cats = load(a.data)
    lens = np.diff(offsets)
    users_of = np.repeat(np.arange(len(lens)), np.maximum(lens - 1, 0))
    t_of = np.concatenate([np.arange(1, n) for n in lens if n > 1]) if (lens > 1).any() else np.zeros(0, np.int64)
    n_pos = len(users_of)
    if n_pos < 2:
        print("two_tower: needs at least 2 (history, next item) pairs", file=sys.stderr)
        return 1
    target_of = flat[offsets[users_of] + t_of]
    counts = np.bincount(target_of, minlength=n_items).astype(np.float64)
    neg_w = counts ** a.neg_power
    p_neg = neg_w / neg_w.sum()
    p_target = counts / counts.sum()
    batch = max(2, min(a.batch, n_pos))
    steps_per_epoch = math.ceil(n_pos / batch)

    torch.manual_seed(a.seed)
    model = TwoTower(n_items, item_cats, n_cats, a.dim, a.hidden, a.seed)
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay, betas=(0.9, 0.999), eps=1e-8)
    buckets = a.sketch_buckets or 1 << max(1, math.ceil(math.log2(2 * n_items)))
    sketch = FrequencySketch(n_items, buckets, a.sketch_hashes, a.sketch_alpha, init_gap=float(steps_per_epoch))
    shared = np.random.default_rng(a.seed)  # identical on every rank: shuffles, δ, bags, negatives
    local = np.random.default_rng([a.seed, rank])  # this rank's bag samples
    neg_sampler = torch.Generator().manual_seed(a.seed)
    neg_probs = torch.from_numpy(p_neg)
    probe = shared.permutation(n_pos)[:512]

    epochs, step, rows_done, t_train = [], 0, 0, 0.0
    stop = False
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        order = shared.permutation(n_pos)
        loss_sum = acc_sum = 0.0
        rows = 0
        for s in range(steps_per_epoch):
            chunk = order[s * batch : (s + 1) * batch]
            b = len(chunk)
            if b < 2:
                continue
            step += 1
            u, t = users_of[chunk], t_of[chunk]
            delta = np.floor(shared.random(b) * (np.minimum(a.horizon, t - 1) + 1)).astype(np.int64)
            bag = shared.random(b) < a.bag_prob if a.bag_prob > 0 else np.zeros(b, bool)
            targets = target_of[chunk]
            negs = torch.multinomial(neg_probs, negatives, replacement=True, generator=neg_sampler).numpy()
            cands = np.concatenate([targets, negs])
            if a.logq == "streaming":
                sketch.update(step, targets)
                q_in = sketch.batch_prob(cands)
            else:
                q_in = b * p_target[cands]
            log_q = a.logq_weight * np.log(np.maximum(q_in + negatives * p_neg[cands], 1e-12))
            # This rank's rows and its share of the candidates.
            mine = np.arange(rank, b, world)
            neg_mine = np.arange(rank, negatives, world)
            sizes_t = [len(range(r, b, world)) for r in range(world)]
            sizes_n = [len(range(r, negatives, world)) for r in range(world)]
            hist, w = histories(flat, offsets, u[mine], t[mine], t[mine] - delta[mine], bag[mine], a.history, local)
            local_c = np.concatenate([targets[mine], negs[neg_mine]])
            q, v = net(torch.from_numpy(hist), torch.from_numpy(w), torch.from_numpy(local_c))
            vt, vn = v[: len(mine)], v[len(mine) :]
            vt_all = gather_rows(vt, sizes_t)  # rank-major: rows r, r+W, … of every rank
            vn_all = gather_rows(vn, sizes_n)
            # Back to global order: targets 0..b, then negatives 0..M.
            perm_t = np.concatenate([np.arange(r, b, world) for r in range(world)])
            perm_n = np.concatenate([np.arange(r, negatives, world) for r in range(world)])
            inv_t, inv_n = np.empty(b, np.int64), np.empty(negatives, np.int64)
            inv_t[perm_t], inv_n[perm_n] = np.arange(b), np.arange(negatives)
            v_all = torch.cat([vt_all[torch.from_numpy(inv_t)], vn_all[torch.from_numpy(inv_n)]])
            bias = torch.from_numpy(-log_q.astype(np.float32)).expand(len(mine), -1).clone()
            hit = (cands[None, :] == targets[mine][:, None])
            hit[np.arange(len(mine)), mine] = False
            bias[torch.from_numpy(hit)] = -1e4
            logits = q @ v_all.t() / a.temperature + bias
            labels = torch.from_numpy(mine)
            loss = Fn.cross_entropy(logits, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                print(f"two_tower: diverged at epoch {epoch} (loss {lv})", file=sys.stderr)
                return 1
            loss_sum += lv * len(mine)
            acc_sum += float((logits.argmax(1) == labels).sum())
            rows += len(mine)
            rows_done += b
            if a.max_steps and step >= a.max_steps:
                stop = True
                break
        dt = time.perf_counter() - t0
        t_train += dt
        stats = torch.tensor([loss_sum, acc_sum, float(rows)], dtype=torch.float64)
        if distributed:
            dist.all_reduce(stats)
        m = {
            "epoch": epoch,
            "loss": stats[0].item() / max(stats[2].item(), 1),
            "batch_accuracy": stats[1].item() / max(stats[2].item(), 1),
            "train_hr_at_20": probe_hit_rate(model, flat, offsets, users_of[probe], t_of[probe], target_of[probe], a.history),
            "seconds": dt,
            "samples_per_second": stats[2].item() / dt,
        }
        epochs.append(m)
        if rank == 0:
            print(f"epoch {epoch:>2}: loss {m['loss']:.4f}  batch acc {m['batch_accuracy']:.3f}  "
                  f"train HR@20 {m['train_hr_at_20']:.3f}  ({dt:.1f}s, {m['samples_per_second']:.0f} samples/s)",
                  file=sys.stderr, flush=True)
        if stop:
            break

    if rank == 0:
        export(model, n_items, n_cats, a.out)
        est = sketch.batch_prob(np.arange(n_items))
        seen = counts > 0
        exact = batch * p_target
        rep = {
            "two_tower": {
                "dim": a.dim, "hidden": a.hidden, "history": a.history, "batch": batch, "negatives": negatives,
                "neg_power": a.neg_power, "temperature": a.temperature, "logq_weight": a.logq_weight,
                "logq": a.logq, "lr": a.lr, "weight_decay": a.weight_decay, "epochs": a.epochs,
                "horizon": a.horizon, "bag_prob": a.bag_prob, "seed": a.seed,
            },
            "world_size": world,
            "threads_per_process": torch.get_num_threads(),
            "epochs": epochs,
            "steps": step,
            "samples": rows_done,
            "train_seconds": t_train,
            "samples_per_second": rows_done / t_train if t_train else None,
            "sketch": {
                "buckets": buckets, "hashes": a.sketch_hashes, "alpha": a.sketch_alpha,
                # How far the streaming estimate of B·p_target is from the exact frequencies.
                "log_ratio_mean_abs": float(np.mean(np.abs(np.log(est[seen] / exact[seen])))),
                "log_corr": float(np.corrcoef(np.log(est[seen]), np.log(exact[seen]))[0, 1]),
            },
        }
        path = a.report or os.path.splitext(a.out)[0] + "_report.json"
        with open(path, "w") as f:
            json.dump(rep, f, indent=2)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return 0


@torch.no_grad()
def probe_hit_rate(model, flat, offsets, users, ts, targets, n) -> float:
    """Next-item HR@20 of fixed training pairs over the whole catalogue (a fit check)."""
    hist, w = histories(flat, offsets, users, ts, ts, np.zeros(len(users), bool), n, None)
    q = model.users(torch.from_numpy(hist), torch.from_numpy(w))
    allv = model.items(torch.arange(model.id_emb.shape[0]))
    s = q @ allv.t()
    tgt = s[torch.arange(len(users)), torch.from_numpy(targets)]
    better = (s > tgt[:, None]).sum(1)
    return float((better < 20).float().mean())


@torch.no_grad()
def export(model: TwoTower, n_items: int, n_cats: int, path: str) -> None:
    from safetensors.numpy import save_file

    t = {
        "item_embeddings": model.items(torch.arange(n_items)),
        "user_tower.history_embeddings": model.hist_emb,
        "user_tower.w0": model.w0,
        "user_tower.b0": model.b0,
        "user_tower.w1": model.w1,
        "user_tower.b1": model.b1,
    }
    if n_cats > 0:
        t["item_tower.category_embeddings"] = model.cat_emb[:n_cats]
    save_file({k: v.detach().float().contiguous().numpy() for k, v in t.items()}, path)


if __name__ == "__main__":
    sys.exit(main())
