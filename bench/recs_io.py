"""Shared by the baseline scripts: read a split file, write the lists `edgerec eval --recs` scores."""
import csv
import json
import sys


def read_pairs(path):
    """(user, item) per row of a split CSV with a `user,item,...` header."""
    with open(path, newline="") as f:
        return [(r["user"], r["item"]) for r in csv.DictReader(f)]


def write_recs(path, recs, label, train_rows, users, items):
    """Writes {"<user>": ["<item>", ...]} and reports what was fitted on stderr."""
    with open(path, "w") as f:
        json.dump(recs, f)
    print(f"{label}: {train_rows} train rows, {users} users, {items} items, "
          f"{len(recs)} test users -> {path}", file=sys.stderr)
