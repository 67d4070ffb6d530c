"""Safetensors merge and reading a built bundle's tensors back (for tests and checks).

    python -m edgerec_scale.bundle_io merge OUT.safetensors A.safetensors B.safetensors …
    python -m edgerec_scale.bundle_io dump BUNDLE_DIR NAME   # prints shape, dtype, first row
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

from . import NO_NEIGHBOR

_DTYPES = {"f32": np.float32, "f16": np.float16, "u32": np.uint32, "i8": np.int8}

# The quantization rules of `edgerec train` (server/src/train/mod.rs), as `bundle build` flags;
# after these the builder applies `item_embeddings=i8` and `*=f32`.
QUANT_FLAGS = [
    "user_tower.history_embeddings=i8",
    "user_tower.*=f16",
    "i2i.scores=f16",
    "swing.scores=f16",
    "item_tower.*=f16",
    "stats.*=f16",
]


def merge(out: str, inputs: list[str]) -> dict[str, tuple]:
    """Writes every tensor of `inputs` into `out` (a name given twice is an error).

    Neighbour ids (u32, padding 0xFFFFFFFF, as the bundle stores them) are written as i64
    with padding −1: `edgerec bundle build` reads integer inputs into u32 itself, takes a
    negative value as the padding and rejects 0xFFFFFFFF in its input."""
    from safetensors.numpy import load_file, save_file

    merged: dict[str, np.ndarray] = {}
    for path in inputs:
        for k, v in load_file(path).items():
            if k in merged:
                raise ValueError(f"{path}: tensor {k} is already in an earlier input")
            if v.dtype == np.uint32:
                v = np.where(v == NO_NEIGHBOR, -1, v.astype(np.int64))
            merged[k] = v
    save_file(merged, out)
    return {k: (v.dtype.name, v.shape) for k, v in merged.items()}


def read_bundle_tensor(bundle: str, name: str) -> np.ndarray:
    """A tensor of a built bundle as stored (f16 stays f16; i8 without its scales)."""
    with open(os.path.join(bundle, "manifest.json")) as f:
        m = json.load(f)["manifest"]
    for t in m["tensors"]:
        if t["name"] == name:
            dt = np.dtype(_DTYPES[t["dtype"]]).newbyteorder("<")
            with open(os.path.join(bundle, t["file"]), "rb") as f:
                f.seek(t["offset"])
                raw = f.read(t["bytes"])
            return np.frombuffer(raw, dtype=dt).reshape(t["shape"])
    raise KeyError(f"{bundle}: no tensor {name}")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 3 and argv[0] == "merge":
        for k, v in sorted(merge(argv[1], argv[2:]).items()):
            print(f"{k}: {v[0]} {list(v[1])}")
        return 0
    if len(argv) == 3 and argv[0] == "dump":
        t = read_bundle_tensor(argv[1], argv[2])
        print(t.dtype, t.shape, t.reshape(t.shape[0], -1)[0][:10] if t.ndim else t)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
