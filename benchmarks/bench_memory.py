"""Peak extra memory of cross-entropy from logits, in units of the logits' size.

    python benchmarks/bench_memory.py [--rows 2048] [--cols 32768]

Each measurement runs in a fresh process: it builds the inputs (float32 logits, int64 labels
or float32 one-hot targets), records its resident set, makes one call, and reports how far the
peak resident set (``ru_maxrss``) rose above that: the temporaries the call needed, its result
included. NumPy and PyTorch (CPU), xloss against the native equivalent (SciPy's
``log_softmax`` + a gather; ``F.cross_entropy``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
backend, side, case, rows, cols = sys.argv[1:6]
rows, cols = int(rows), int(cols)

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

import numpy as np
import xloss
rng = np.random.default_rng(0)
logits = rng.standard_normal((rows, cols), dtype=np.float32)
labels = rng.integers(0, cols, rows)
targets = None
if case == "categorical":
    targets = np.zeros((rows, cols), np.float32)
    targets[np.arange(rows), labels] = 1.0
if backend == "torch":
    import torch
    import torch.nn.functional as F
    logits, labels = torch.from_numpy(logits), torch.from_numpy(labels)
    targets = None if targets is None else torch.from_numpy(targets)
    native = {
        "sparse": lambda: F.cross_entropy(logits, labels, reduction="none"),
        "categorical": lambda: F.cross_entropy(logits, targets, reduction="none"),
    }
else:
    from scipy import special
    native = {
        "sparse": lambda: -np.take_along_axis(
            special.log_softmax(logits, axis=-1), labels[:, None], -1)[:, 0],
        "categorical": lambda: -(targets * special.log_softmax(logits, axis=-1)).sum(-1),
    }
ours = {
    "sparse": lambda: xloss.sparse_categorical_crossentropy(labels, logits, from_logits=True),
    "categorical": lambda: xloss.categorical_crossentropy(targets, logits, from_logits=True),
}
call = (ours if side == "xloss" else native)[case]
before = rss()
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out = call()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
# stale: building the inputs peaked higher than the call did, so its peak went unseen
stale = peak_before > before and peak == peak_before
print(json.dumps({"extra": peak - before, "stale": stale, "logits": rows * cols * 4}))
"""


def measure(backend: str, side: str, case: str, rows: int, cols: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, backend, side, case, str(rows), str(cols)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--cols", type=int, default=32768)
    args = parser.parse_args()
    size_mib = args.rows * args.cols * 4 / 2**20
    print(f"peak extra memory, {args.rows}x{args.cols} float32 logits ({size_mib:.0f} MiB)")
    print(f"{'backend':<8}{'case':<13}{'xloss':>18}{'native':>18}")
    for backend in ("numpy", "torch"):
        for case in ("sparse", "categorical"):
            cells = []
            for side in ("xloss", "native"):
                m = measure(backend, side, case, args.rows, args.cols)
                cell = f"{m['extra'] / m['logits']:.2f} x ({m['extra'] / 2**20:.0f} MiB)"
                cells.append(cell + (" ?" if m["stale"] else ""))
            print(f"{backend:<8}{case:<13}{cells[0]:>18}{cells[1]:>18}")
    print("(x: logits-sized arrays; ? marks a peak hidden by the inputs' own construction)")


if __name__ == "__main__":
    main()
