"""``xloss.compat.torch.cross_entropy`` against ``F.cross_entropy``, in one process.

The compat profile takes torch's arguments and gives torch's numbers (on any backend); on
PyTorch tensors it should cost what ``F.cross_entropy`` costs. Each cell: the median ratio
compat / native over interleaved pairs (`bench.measure`) on the same tensor, class indices as
targets (a seventh of them ``ignore_index`` in the ``ignore`` case), and the native's median
time.

    python benchmarks/bench_compat.py
    python benchmarks/bench_compat.py --sizes 8x10 --dtypes float32 --pairs 9
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import bench
import numpy as np

CASES = ("mean", "none", "ignore", "smoothing", "weight")


def calls(torch: Any, x: Any, rng: np.random.Generator) -> dict[str, tuple[Callable[[], Any], ...]]:
    """``case -> (the compat call, the native call)`` on ``x``, classes on axis 1."""
    import torch.nn.functional as F

    from xloss.compat import torch as tc

    classes = x.shape[1]
    labels = torch.from_numpy(rng.integers(0, classes, x.shape[0]))
    ignored = labels.clone()
    ignored[::7] = -100
    weight = torch.from_numpy(rng.uniform(0.5, 2.0, classes).astype(np.float32)).to(x.dtype)
    return {
        "mean": (lambda: tc.cross_entropy(x, labels), lambda: F.cross_entropy(x, labels)),
        "none": (
            lambda: tc.cross_entropy(x, labels, reduction="none"),
            lambda: F.cross_entropy(x, labels, reduction="none"),
        ),
        "ignore": (lambda: tc.cross_entropy(x, ignored), lambda: F.cross_entropy(x, ignored)),
        "smoothing": (
            lambda: tc.cross_entropy(x, labels, label_smoothing=0.1),
            lambda: F.cross_entropy(x, labels, label_smoothing=0.1),
        ),
        "weight": (
            lambda: tc.cross_entropy(x, labels, weight),
            lambda: F.cross_entropy(x, labels, weight),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["8x10", "2048x8192"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args()

    import torch

    print(f"{'size':11} {'dtype':9} {'case':10} {'compat/native':>13} {'native ms':>10}")
    for size in args.sizes:
        rows, cols = bench.parse_size(size)
        rng = np.random.default_rng(0)
        logits = torch.from_numpy(rng.standard_normal((rows, cols), np.float32) * 3)
        for dtype in args.dtypes:
            table = calls(torch, logits.to(getattr(torch, dtype)), rng)
            for case in args.cases:
                ours, theirs = table[case]
                ratio, native, _ = bench.measure(ours, theirs, lambda r: r, args.pairs)
                print(f"{size:11} {dtype:9} {case:10} {ratio:13.2f} {native * 1e3:10.3f}")


if __name__ == "__main__":
    main()
