"""PyTorch's own layout, the classes on axis 1: xloss against PyTorch, in one process.

``F.cross_entropy`` takes ``(N, C, d1, ...)`` (segmentation maps, sequences in ``(N, C, T)``);
xloss takes it with ``axis=1``. The natives: ``F.cross_entropy`` with class indices and with
probability targets, ``torch.softmax``/``log_softmax`` along dimension 1, each given the
same tensor (in ``--dtypes``; the losses' targets in float32). Each cell: the median ratio
xloss / native over interleaved pairs (`bench.measure`), and the median times.

    python benchmarks/bench_layout.py
    python benchmarks/bench_layout.py --shapes 8x21x256x256 --dtypes bfloat16 --pairs 11
    python benchmarks/bench_layout.py --shapes 8x21x256x256 --channels-last

``--channels-last`` lays 4-D inputs out as ``torch.channels_last`` (the classes innermost in
memory, as a convolution's output in that format is).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import bench
import numpy as np

CASES = ("sparse_logits", "categorical_logits", "softmax", "log_softmax")


def calls(torch: Any, x: Any, rng: np.random.Generator) -> dict[str, tuple[Callable[[], Any], ...]]:
    """``case -> (xloss's call, the native call)`` on ``x``, classes on axis 1."""
    import torch.nn.functional as F

    import xloss

    classes = x.shape[1]
    labels_shape = (x.shape[0], *x.shape[2:])
    labels = torch.from_numpy(rng.integers(0, classes, labels_shape))
    targets = torch.softmax(torch.from_numpy(rng.standard_normal(x.shape, np.float32)), 1)
    return {
        "sparse_logits": (
            lambda: xloss.sparse_categorical_crossentropy(labels, x, from_logits=True, axis=1),
            lambda: F.cross_entropy(x, labels, reduction="none"),
        ),
        "categorical_logits": (
            lambda: xloss.categorical_crossentropy(targets, x, from_logits=True, axis=1),
            lambda: F.cross_entropy(x, targets.to(x.dtype), reduction="none"),
        ),
        "softmax": (lambda: xloss.softmax(x, 1), lambda: torch.softmax(x, 1)),
        "log_softmax": (lambda: xloss.log_softmax(x, 1), lambda: torch.log_softmax(x, 1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["8x21x256x256", "4x8000x512"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--channels-last", action="store_true", help="4-D inputs as channels_last")
    args = parser.parse_args()

    import torch

    print(f"{'shape':14} {'dtype':9} {'case':19} {'xloss/native':>12} {'native ms':>10}")
    for shape in args.shapes:
        dims = tuple(int(n) for n in shape.split("x"))
        rng = np.random.default_rng(0)
        logits = torch.from_numpy(rng.standard_normal(dims, np.float32) * 3)
        for dtype in args.dtypes:
            x = logits.to(getattr(torch, dtype))
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            table = calls(torch, x, rng)
            for case in args.cases:
                ours, theirs = table[case]
                ratio, native, _ = bench.measure(ours, theirs, lambda r: r, args.pairs)
                print(f"{shape:14} {dtype:9} {case:19} {ratio:12.2f} {native * 1e3:10.2f}")


if __name__ == "__main__":
    main()
