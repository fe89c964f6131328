"""The loss and its gradient (a training step's share): xloss against the native, in one process.

`bench.py` times forward calls. Here each call computes the mean loss and its gradient with
respect to the floating input, with the framework's own autodiff: ``backward()`` (PyTorch
eager), ``jax.grad`` (eager and under ``jax.jit``), ``tf.GradientTape`` (eager and inside
``tf.function``). The natives are `bench.py`'s (``F.cross_entropy``, optax, ``tf.nn``, ...).
Each cell: the median ratio xloss / native over interleaved pairs (`bench.measure`), and the
native's median time.

    python benchmarks/bench_grad.py
    python benchmarks/bench_grad.py --backends jax --cases sparse_logits --dtypes bfloat16
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import bench

CASES = ("sparse_logits", "categorical_logits", "binary_logits", "sparse_probs",
         "categorical_probs", "binary_probs", "log_softmax")  # fmt: skip
MODES = {"torch": ("eager",), "jax": ("eager", "jit"), "tensorflow": ("eager", "function")}


def with_gradient(name: str, mode: str, fn: Callable[..., Any], args: list[Any]) -> Any:
    """A call of ``mean(fn(*args))`` and its gradient with respect to ``args[-1]`` (the
    floating input), in ``name``'s autodiff and ``mode``. The other arguments are arguments of
    the compiled function too, not constants that XLA could fold into it (an all-nonzero
    target's ``y != 0`` would fold to true)."""
    *rest, x = args
    if name == "torch":
        x = x.detach().requires_grad_()

        def torch_step() -> Any:
            x.grad = None
            fn(*rest, x).float().mean().backward()
            return x.grad

        return torch_step
    if name == "jax":
        import jax

        grad = jax.grad(lambda a, *others: fn(*others, a).astype("float32").mean())
        grad = jax.jit(grad) if mode == "jit" else grad
        return lambda: grad(x, *rest)
    import tensorflow as tf

    def tf_step(a: Any, *others: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = tf.reduce_mean(tf.cast(fn(*others, a), tf.float32))
        return tape.gradient(loss, a)

    step = tf.function(tf_step) if mode == "function" else tf_step
    return lambda: step(x, *rest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--size", default="2048x8192")
    parser.add_argument("--dtypes", nargs="+", default=["float32"])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()

    data = bench.inputs(*bench.parse_size(args.size))
    print(
        f"{'backend':11} {'mode':9} {'case':19} {'dtype':9} {'xloss/native':>12} {'native ms':>10}"
    )
    for name in args.backends:
        fw = bench.framework(name)
        for mode in MODES[name]:
            for dtype in args.dtypes:
                cast = None if dtype == "float32" else dtype
                for case in args.cases:
                    np_args = bench.args_for(case, data)
                    arrays = [
                        fw.convert(a, cast if bench.is_float_input(case, i, len(np_args)) else None)
                        for i, a in enumerate(np_args)
                    ]
                    ours = with_gradient(name, mode, bench.xloss_fn(case, fw.rng), arrays)
                    theirs = with_gradient(name, mode, fw.natives[case], arrays)
                    ratio, native, _ = bench.measure(ours, theirs, fw.ready, args.pairs)
                    print(
                        f"{name:11} {mode:9} {case:19} {dtype:9} {ratio:12.2f} "
                        f"{native * 1e3:10.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
