#!/usr/bin/env python3
"""The model card's quality tables, in Markdown, from what `bench/eval_baselines.sh` wrote.

One table per protocol — random 75/25, temporal, leave-last-out (from each
WORK/<protocol>/metrics.json, `edgerec eval --funnel --json`) and the session replay (from
WORK/replay.json, `edgerec eval --replay --json`) — with NDCG@10, Recall@10, coverage and ILD@10
for every model, sorted by NDCG@10, the first row in bold (the funnel with the ranker off, from
metrics_ranker_off.json, is one more row: the ranker's lift over recall-only order). Then the responsiveness per genre
(WORK/responsiveness.json). Only the standard library: it runs with any python3.

Usage: tables.py WORK_DIR  (prints to stdout; eval_baselines.sh writes WORK_DIR/tables.md)
"""
import json
import sys
from pathlib import Path

PROTOCOLS = [
    ("random", "Random 75/25 (stratified by item, seed 42)"),
    ("temporal", "Temporal (each user's last 20 %)"),
    ("leave-last-out", "Leave-last-out (each user's last interaction; ±0.005 is noise)"),
]


def row(cells):
    return "| " + " | ".join(cells) + " |"


def table(header, rows):
    """Markdown table; rows are (name, [floats]) sorted by the first float, best first."""
    rows = sorted(rows, key=lambda r: -r[1][0])
    out = [row(header), row(["---"] * len(header))]
    for i, (name, values) in enumerate(rows):
        cells = [f"{v:.4f}" for v in values]
        if i == 0:
            name, cells[0] = f"**{name}**", f"**{cells[0]}**"
        out.append(row([name] + cells))
    return "\n".join(out)


def static_table(metrics):
    header = ["model", "NDCG@10", "P@10", "Recall@10", "MAP@10", "HR@10", "Cov@10",
              "ILD@10 cat", "ILD@10 emb"]
    rows = []
    for name, m in metrics["models"].items():
        at = m["at"]["@10"]
        rows.append((name, [at["ndcg"], at["precision"], at["recall"], at["map"], at["hr"],
                            at["coverage"], m["ild_category"], m["ild_embedding"]]))
    users = metrics["data"]["users"]
    return f"{users} test users.\n\n" + table(header, rows)


def replay_table(replay):
    header = ["list", "NDCG@10", "HR@10 (= Recall@10)", "Cov@10", "ILD@10 cat", "ILD@10 emb"]
    rows = []

    def add(name, m):
        rows.append((name, [m["ndcg10"], m["hr10"], m["coverage"], m["ild_category"],
                            m["ild_embedding"]]))

    for setting, lists in replay["settings"].items():
        for lst, m in lists.items():
            add(f"{setting} ({lst})", m)
    for name, m in replay["baselines"].items():
        add(f"{name} (baseline)", m)
    events = replay["settings"]["tower"]["funnel"]["events"]
    return f"{replay['users']} users, {events} events.\n\n" + table(header, rows)


def responsiveness_table(resp):
    out = [f"After {resp['clicks']} clicks on random items of the genre, median over "
           f"{resp['draws']} draws of the genre's share of the top-{resp['k']}; "
           f"{resp['at_least_half']} of {len(resp['categories'])} genres at ≥ 50 %.", "",
           row(["genre", "items", "median share", "cold share"]), row(["---"] * 4)]
    for c in sorted(resp["categories"], key=lambda c: c["median_share"]):
        out.append(row([c["category"], str(c["items"]), f"{c['median_share']:.3f}",
                        f"{c['cold_share']:.3f}"]))
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    work = Path(sys.argv[1])
    parts = []
    for name, title in PROTOCOLS:
        path = work / name / "metrics.json"
        if path.exists():
            metrics = json.loads(path.read_text())
            off = work / name / "metrics_ranker_off.json"
            if off.exists():
                funnel = json.loads(off.read_text())["models"]["funnel"]
                metrics["models"]["funnel, ranker off (recall-only order)"] = funnel
            parts.append(f"### {title}\n\n" + static_table(metrics))
    path = work / "replay.json"
    if path.exists():
        parts.append("### Session replay (temporal split)\n\n"
                     + replay_table(json.loads(path.read_text())))
    path = work / "responsiveness.json"
    if path.exists():
        parts.append("### Session responsiveness (share of the top-20 after 5 clicks)\n\n"
                     + responsiveness_table(json.loads(path.read_text())))
    if not parts:
        sys.exit(f"tables.py: nothing to tabulate in {work}")
    print("\n\n".join(parts))


if __name__ == "__main__":
    main()
