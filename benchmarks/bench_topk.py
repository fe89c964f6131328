"""top_k against each backend's native op: the median of interleaved A/B timing pairs.

    python benchmarks/bench_topk.py [--rows 2048] [--cols 8192] [--ks 1 50 1000] [--pairs 7]

Natives: ``np.argpartition`` + a sort of the K (NumPy), ``torch.topk``, ``jax.lax.top_k`` (both
sides under ``jax.jit``), ``tf.math.top_k``. Ratios only: absolute times on a shared machine mean
little. Each pair runs xloss and the native op back to back, in alternating order.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _numpy_native(x: np.ndarray, k: int) -> Any:
    n = x.shape[-1]
    part = np.argpartition(x, n - k, axis=-1)[:, n - k :]
    vals = np.take_along_axis(x, part, axis=-1)
    order = np.argsort(-vals, axis=-1)
    return np.take_along_axis(vals, order, -1), np.take_along_axis(part, order, -1)


def backends(
    x: np.ndarray,
) -> dict[str, tuple[Any, Callable[[Any, int], Any], Callable[[Any], Any]]]:
    """name: (array, native(array, k), block_until_ready)."""
    import torch

    out: dict[str, Any] = {"numpy": (x, _numpy_native, lambda r: r)}
    out["torch"] = (torch.from_numpy(x), lambda a, k: torch.topk(a, k), lambda r: r)
    import jax

    jx = jax.device_put(x)
    out["jax"] = (jx, None, lambda r: jax.block_until_ready(r))
    import tensorflow as tf

    out["tensorflow"] = (tf.constant(x), lambda a, k: tf.math.top_k(a, k), lambda r: r)
    return out


def _time(fn: Callable[[], Any], ready: Callable[[Any], Any]) -> float:
    start = time.perf_counter()
    ready(fn())
    return time.perf_counter() - start


def main() -> None:
    import xloss

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--cols", type=int, default=8192)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 50, 1000])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--backends", nargs="+", default=["numpy", "torch", "jax", "tensorflow"])
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal((args.rows, args.cols)).astype(np.float32)
    print(f"top_k on {args.rows}x{args.cols} float32, median of {args.pairs} interleaved pairs")
    print(f"{'backend':<11} {'k':>5} {'xloss/native':>13} {'native ms':>10}")
    for name, (array, native, ready) in backends(x).items():
        if name not in args.backends:
            continue
        for k in args.ks:
            ours: Callable[[], Any] = lambda a=array, k=k: tuple(xloss.top_k(a, k))  # noqa: E731
            theirs: Callable[[], Any] = lambda a=array, k=k, f=native: f(a, k)  # noqa: E731
            if name == "jax":
                import jax

                jit_ours = jax.jit(lambda a, k=k: tuple(xloss.top_k(a, k)))
                jit_native = jax.jit(lambda a, k=k: jax.lax.top_k(a, k))
                ours = lambda f=jit_ours, a=array: f(a)  # noqa: E731
                theirs = lambda f=jit_native, a=array: f(a)  # noqa: E731
            ready(ours()), ready(theirs())  # warm up (and compile)
            ratios, native_times = [], []
            for i in range(args.pairs):
                if i % 2:
                    b, a = _time(theirs, ready), _time(ours, ready)
                else:
                    a, b = _time(ours, ready), _time(theirs, ready)
                ratios.append(a / b)
                native_times.append(b)
            print(
                f"{name:<11} {k:>5} {statistics.median(ratios):>13.2f} "
                f"{1e3 * statistics.median(native_times):>10.1f}"
            )


if __name__ == "__main__":
    main()
