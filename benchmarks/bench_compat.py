"""``xloss.compat.torch`` against ``torch.nn.functional``, in one process.

The compat profile takes torch's arguments and gives torch's numbers (on any backend); on
PyTorch tensors it should cost what torch's own function costs. Each cell: the median ratio
compat / native over interleaved pairs (`bench.measure`) on the same tensors, and the native's
median time. ``cross_entropy`` with class indices as targets (a seventh of them
``ignore_index`` in the ``ignore`` case); ``binary_cross_entropy_with_logits`` (``bce_logits``)
with targets of 0 and 1, ``pos_weight`` one per class, ``weight`` one per row;
``binary_cross_entropy`` (``bce``) on the sigmoid of the logits. ``--grad``: each call computes
the summed loss and its gradient with respect to the input (``backward()``).

    python benchmarks/bench_compat.py
    python benchmarks/bench_compat.py --sizes 8x10 --dtypes float32 --pairs 9
    python benchmarks/bench_compat.py --sizes 2048x8192 --dtypes float32 --grad --cases bce_logits
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import bench
import numpy as np

CASES = ("mean", "none", "ignore", "smoothing", "weight",
         "bce_logits", "bce_logits_none", "bce_logits_pos_weight", "bce_logits_weight",
         "bce", "bce_none")  # fmt: skip


def calls(
    torch: Any, x: Any, p: Any, rng: np.random.Generator
) -> dict[str, tuple[Callable[[], Any], ...]]:
    """``case -> (the compat call, the native call)`` on the logits ``x`` (classes on axis 1)
    or for ``bce`` the probabilities ``p``."""
    import torch.nn.functional as F

    from xloss.compat import torch as tc

    classes = x.shape[1]
    labels = torch.from_numpy(rng.integers(0, classes, x.shape[0]))
    ignored = labels.clone()
    ignored[::7] = -100
    weight = torch.from_numpy(rng.uniform(0.5, 2.0, classes).astype(np.float32)).to(x.dtype)
    bits = torch.from_numpy(rng.uniform(size=x.shape) < 0.3).to(x.dtype)
    per_row = torch.from_numpy(rng.uniform(0.5, 2.0, (x.shape[0], 1)).astype(np.float32))
    per_row = per_row.to(x.dtype)
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
        "bce_logits": (
            lambda: tc.binary_cross_entropy_with_logits(x, bits),
            lambda: F.binary_cross_entropy_with_logits(x, bits),
        ),
        "bce_logits_none": (
            lambda: tc.binary_cross_entropy_with_logits(x, bits, reduction="none"),
            lambda: F.binary_cross_entropy_with_logits(x, bits, reduction="none"),
        ),
        "bce_logits_pos_weight": (
            lambda: tc.binary_cross_entropy_with_logits(x, bits, pos_weight=weight),
            lambda: F.binary_cross_entropy_with_logits(x, bits, pos_weight=weight),
        ),
        "bce_logits_weight": (
            lambda: tc.binary_cross_entropy_with_logits(x, bits, per_row),
            lambda: F.binary_cross_entropy_with_logits(x, bits, per_row),
        ),
        "bce": (lambda: tc.binary_cross_entropy(p, bits), lambda: F.binary_cross_entropy(p, bits)),
        "bce_none": (
            lambda: tc.binary_cross_entropy(p, bits, reduction="none"),
            lambda: F.binary_cross_entropy(p, bits, reduction="none"),
        ),
    }


def with_gradient(call: Callable[[], Any], leaf: Any) -> Callable[[], Any]:
    """``call``'s summed result and its gradient with respect to ``leaf``."""
    import torch

    return lambda: torch.autograd.grad(call().sum(), leaf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["8x10", "2048x8192"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--grad", action="store_true", help="time value and gradient")
    args = parser.parse_args()

    import torch

    print(f"{'size':11} {'dtype':9} {'case':22} {'compat/native':>13} {'native ms':>10}")
    for size in args.sizes:
        rows, cols = bench.parse_size(size)
        rng = np.random.default_rng(0)
        logits = torch.from_numpy(rng.standard_normal((rows, cols), np.float32) * 3)
        for dtype in args.dtypes:
            x = logits.to(getattr(torch, dtype)).requires_grad_(args.grad)
            p = x.detach().sigmoid().requires_grad_(args.grad)
            table = calls(torch, x, p, rng)
            for case in args.cases:
                ours, theirs = table[case]
                if args.grad:  # with respect to the logits, or bce's probabilities
                    leaf = x if not case.startswith("bce") or "logits" in case else p
                    ours, theirs = with_gradient(ours, leaf), with_gradient(theirs, leaf)
                ratio, native, _ = bench.measure(ours, theirs, lambda r: r, args.pairs)
                print(f"{size:11} {dtype:9} {case:22} {ratio:13.2f} {native * 1e3:10.3f}")


if __name__ == "__main__":
    main()
