"""xloss against each framework's native equivalent: ratios from interleaved A/B timing pairs.

    python benchmarks/bench.py                       # the documented run (see docs/performance.md)
    python benchmarks/bench.py --backends torch --cases sparse_logits --sizes 2048x8192
    python benchmarks/bench.py --markdown out.md --plot out.png --json out.json
    python benchmarks/bench.py --device cuda --backends torch jax   # on a GPU
    python benchmarks/bench.py --as-if-off-host --backends torch     # CUDA's eager path, on the CPU
    python benchmarks/bench.py --backends torch --cases top_k_128 top_k_495 --sizes 512x32000

Every cell times xloss and the native equivalent back to back, alternating which goes first,
in one process, and reports the median of the per-pair ratios ``xloss / native`` (1.00 = as
fast, lower is better) and the native median time. Ratios are what to compare: absolute times
on a shared machine mean little.
``top_k_<K>`` times ``top_k`` at any K (the default cases: K = 1, 50 and 1000).

Natives (what a user of the framework would write, the fastest we know of):
NumPy: ``scipy.special`` softmax/log_softmax + ``take_along_axis``, ``argpartition`` + a sort of
the K; PyTorch: ``F.cross_entropy``, ``F.binary_cross_entropy(_with_logits)``, ``torch.softmax``,
``torch.topk``, ``torch.multinomial``; JAX: optax's losses, ``jax.nn``, ``lax.top_k``,
``jax.random.categorical``; TensorFlow: ``tf.nn``'s fused losses, ``tf.math.top_k``,
``tf.random.categorical``. Losses from probabilities have no fused native kernel in any
framework; their native side is the direct expression of Keras's semantics in the framework's
own ops (normalise, clip to [1e-7, 1 - 1e-7], log, gather).

Modes: ``eager`` for every backend, and each compiler with both sides compiled: ``jit``
(``jax.jit``), ``function`` (``tf.function``), ``compile`` (``torch.compile``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

EPS = 1e-7
CASES = (
    "sparse_logits",
    "sparse_probs",
    "categorical_logits",
    "categorical_probs",
    "binary_logits",
    "binary_probs",
    "softmax",
    "log_softmax",
    "top_k_1",
    "top_k_50",
    "top_k_1000",
    "sample",
)
MODES = {"numpy": ("eager",), "torch": ("eager", "compile"), "jax": ("eager", "jit"),
         "tensorflow": ("eager", "function")}  # fmt: skip


# --- inputs -----------------------------------------------------------------------------------


def inputs(rows: int, cols: int, seed: int = 0) -> dict[str, np.ndarray]:
    """float32 NumPy inputs shared by every backend: logits, probabilities, labels, targets."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((rows, cols), dtype=np.float32) * 3
    e = np.exp(logits - logits.max(-1, keepdims=True))
    labels = rng.integers(0, cols, rows)
    return {
        "logits": logits,
        "probs": (e / e.sum(-1, keepdims=True)).astype(np.float32),
        "labels": labels,
        "onehot": np.eye(cols, dtype=np.float32)[labels] if rows * cols <= 2**26 else None,
        "binary": (rng.random((rows, cols)) < 0.5).astype(np.float32),
        "sigmoid": (1 / (1 + np.exp(-logits))).astype(np.float32),
    }


def _onehot(data: dict[str, np.ndarray]) -> np.ndarray:
    if data["onehot"] is None:
        onehot = np.zeros_like(data["logits"])
        np.put_along_axis(onehot, data["labels"][:, None], 1.0, axis=-1)
        data["onehot"] = onehot
    return data["onehot"]


def args_for(case: str, data: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """The NumPy arguments of a case, in the order both sides take them."""
    if case == "sparse_logits":
        return data["labels"], data["logits"]
    if case == "sparse_probs":
        return data["labels"], data["probs"]
    if case == "categorical_logits":
        return _onehot(data), data["logits"]
    if case == "categorical_probs":
        return _onehot(data), data["probs"]
    if case == "binary_logits":
        return data["binary"], data["logits"]
    if case == "binary_probs":
        return data["binary"], data["sigmoid"]
    return (data["logits"],)


def is_float_input(case: str, position: int, count: int) -> bool:
    """Whether an argument is a floating input that takes the benchmark's dtype."""
    if case.startswith("sparse"):
        return position == 1
    return case.startswith(("categorical", "binary")) or position == count - 1


# --- xloss ------------------------------------------------------------------------------------


def xloss_fn(case: str, rng: Any) -> Callable[..., Any]:
    import xloss

    if case.startswith("top_k"):
        k = int(case.rsplit("_", 1)[1])
        return lambda x: tuple(xloss.top_k(x, k))
    table: dict[str, Callable[..., Any]] = {
        "sparse_logits": lambda y, x: xloss.sparse_categorical_crossentropy(y, x, from_logits=True),
        "sparse_probs": lambda y, p: xloss.sparse_categorical_crossentropy(y, p),
        "categorical_logits": lambda y, x: xloss.categorical_crossentropy(y, x, from_logits=True),
        "categorical_probs": lambda y, p: xloss.categorical_crossentropy(y, p),
        "binary_logits": lambda z, x: xloss.binary_crossentropy(z, x, from_logits=True),
        "binary_probs": lambda z, p: xloss.binary_crossentropy(z, p),
        "softmax": xloss.softmax,
        "log_softmax": xloss.log_softmax,
        "sample": lambda x: xloss.sample(x, rng),
    }
    return table[case]


# --- natives ----------------------------------------------------------------------------------


def numpy_natives() -> dict[str, Callable[..., Any]]:
    from scipy import special

    def top_k(k: int) -> Callable[[np.ndarray], Any]:
        def run(x: np.ndarray) -> Any:
            n = x.shape[-1]
            part = np.argpartition(x, n - k, axis=-1)[:, n - k :]
            vals = np.take_along_axis(x, part, axis=-1)
            order = np.argsort(-vals, axis=-1)
            return np.take_along_axis(vals, order, -1), np.take_along_axis(part, order, -1)

        return run

    gen = np.random.default_rng(0)
    return {
        "sparse_logits": lambda y, x: (
            -np.take_along_axis(special.log_softmax(x, axis=-1), y[:, None], -1)[:, 0]
        ),
        "sparse_probs": lambda y, p: (
            -np.log(np.clip(np.take_along_axis(p, y[:, None], -1)[:, 0] / p.sum(-1), EPS, 1 - EPS))
        ),
        "categorical_logits": lambda y, x: -(y * special.log_softmax(x, axis=-1)).sum(-1),
        "categorical_probs": lambda y, p: (
            -(y * np.log(np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))).sum(-1)
        ),
        "binary_logits": lambda z, x: (
            np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))
        ).mean(-1),
        "binary_probs": lambda z, p: _clipped_bce(np, np.clip(p, EPS, 1 - EPS), z),
        "softmax": lambda x: special.softmax(x, axis=-1),
        "log_softmax": lambda x: special.log_softmax(x, axis=-1),
        "top_k": top_k,
        "sample": lambda x: np.argmax(x + gen.gumbel(size=x.shape).astype(x.dtype), axis=-1),
    }


def _clipped_bce(m: Any, p: Any, z: Any) -> Any:
    return (-(z * m.log(p) + (1 - z) * m.log(1 - p))).mean(-1)


def torch_natives(device: str = "cpu") -> dict[str, Callable[..., Any]]:
    import torch
    import torch.nn.functional as F

    gen = torch.Generator(device).manual_seed(0)
    return {
        "sparse_logits": lambda y, x: F.cross_entropy(x, y, reduction="none"),
        "sparse_probs": lambda y, p: (
            -torch.log(torch.clamp(p.gather(-1, y[:, None])[:, 0] / p.sum(-1), EPS, 1 - EPS))
        ),
        "categorical_logits": lambda y, x: F.cross_entropy(x, y, reduction="none"),
        "categorical_probs": lambda y, p: (
            -(y * torch.log(torch.clamp(p / p.sum(-1, keepdim=True), EPS, 1 - EPS))).sum(-1)
        ),
        "binary_logits": lambda z, x: F.binary_cross_entropy_with_logits(
            x, z, reduction="none"
        ).mean(-1),
        "binary_probs": lambda z, p: F.binary_cross_entropy(p, z, reduction="none").mean(-1),
        "softmax": lambda x: torch.softmax(x, -1),
        "log_softmax": lambda x: torch.log_softmax(x, -1),
        "top_k": lambda k: lambda x: tuple(torch.topk(x, k)),
        "sample": lambda x: torch.multinomial(torch.softmax(x, -1), 1, generator=gen),
    }


def jax_natives() -> dict[str, Callable[..., Any]]:
    import jax
    import jax.numpy as jnp
    import optax

    key = jax.random.key(0)
    return {
        "sparse_logits": lambda y, x: optax.softmax_cross_entropy_with_integer_labels(x, y),
        "sparse_probs": lambda y, p: (
            -jnp.log(
                jnp.clip(jnp.take_along_axis(p, y[:, None], -1)[:, 0] / p.sum(-1), EPS, 1 - EPS)
            )
        ),
        "categorical_logits": lambda y, x: optax.softmax_cross_entropy(x, y),
        "categorical_probs": lambda y, p: (
            -(y * jnp.log(jnp.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS))).sum(-1)
        ),
        "binary_logits": lambda z, x: optax.sigmoid_binary_cross_entropy(x, z).mean(-1),
        "binary_probs": lambda z, p: _clipped_bce(jnp, jnp.clip(p, EPS, 1 - EPS), z),
        "softmax": lambda x: jax.nn.softmax(x, -1),
        "log_softmax": lambda x: jax.nn.log_softmax(x, -1),
        "top_k": lambda k: lambda x: jax.lax.top_k(x, k),
        "sample": lambda x: jax.random.categorical(key, x, axis=-1),
    }


def _tf_clip(tf: Any, p: Any) -> Any:
    return tf.clip_by_value(p, EPS, 1 - EPS)


def tensorflow_natives() -> dict[str, Callable[..., Any]]:
    import tensorflow as tf

    gen = tf.random.Generator.from_seed(0)
    return {
        "sparse_logits": lambda y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(y, x),
        "sparse_probs": lambda y, p: (
            -tf.math.log(
                tf.clip_by_value(
                    tf.gather(p, y, axis=-1, batch_dims=1) / tf.reduce_sum(p, -1), EPS, 1 - EPS
                )
            )
        ),
        "categorical_logits": lambda y, x: tf.nn.softmax_cross_entropy_with_logits(y, x),
        "categorical_probs": lambda y, p: (
            -tf.reduce_sum(
                y * tf.math.log(_tf_clip(tf, p / tf.reduce_sum(p, -1, keepdims=True))),
                -1,
            )
        ),
        "binary_logits": lambda z, x: tf.reduce_mean(
            tf.nn.sigmoid_cross_entropy_with_logits(z, x), -1
        ),
        "binary_probs": lambda z, p: tf.reduce_mean(
            -(
                z * tf.math.log(tf.clip_by_value(p, EPS, 1 - EPS))
                + (1 - z) * tf.math.log(1 - tf.clip_by_value(p, EPS, 1 - EPS))
            ),
            -1,
        ),
        "softmax": lambda x: tf.nn.softmax(x, -1),
        "log_softmax": lambda x: tf.nn.log_softmax(x, -1),
        "top_k": lambda k: lambda x: tuple(tf.math.top_k(x, k)),
        "sample": lambda x: tf.random.stateless_categorical(x, 1, seed=gen.make_seeds(1)[:, 0]),
    }


# --- backends ---------------------------------------------------------------------------------


@dataclass
class Framework:
    """How to convert inputs, wait for results and compile, for one backend."""

    name: str
    natives: dict[str, Callable[..., Any]]
    convert: Callable[[np.ndarray, str | None], Any]
    ready: Callable[[Any], Any]
    rng: Any
    compile: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None


def framework(name: str, device: str | None = None, guards: str = "all") -> Framework:
    """``name``'s natives, converter and timing hooks; ``device`` (``cuda``, ``gpu``, ...) puts
    the inputs of PyTorch and JAX there (the default: each library's default device);
    ``guards="tensors"`` compiles both sides of PyTorch's cells without Dynamo's guards on
    Python globals (see ``--torch-guards``)."""
    if device is not None and name not in ("torch", "jax"):
        raise ValueError(f"--device is for torch and jax; {name} runs on its default device")
    if name == "numpy":

        def to_numpy(x: np.ndarray, dtype: str | None) -> np.ndarray:
            if dtype == "bfloat16":
                raise ValueError("NumPy has no bfloat16")
            return x

        return Framework("numpy", numpy_natives(), to_numpy, lambda r: r, np.random.default_rng(0))
    if name == "torch":
        import torch

        where = torch.device(device or "cpu")

        def to_torch(x: np.ndarray, dtype: str | None) -> Any:
            t = torch.asarray(np.ascontiguousarray(x), device=where)
            return t.to(getattr(torch, dtype)) if dtype else t

        def torch_compile(fn: Callable[..., Any]) -> Callable[..., Any]:
            # Each cell compiles afresh (compilation is lazy: at the warm-up calls). The top_k
            # cases share code objects across K, shapes and dtypes, and past Dynamo's limit of
            # recompilations per code object (8) a later cell would run eagerly.
            torch._dynamo.reset()
            if guards == "tensors":
                unguarded = {"guard_filter_fn": torch.compiler.skip_guard_on_globals_unsafe}
                return torch.compile(fn, dynamic=False, options=unguarded)
            return torch.compile(fn, dynamic=False)

        def torch_ready(r: Any) -> Any:
            if where.type == "cuda":  # kernels run asynchronously: wait for them
                torch.cuda.synchronize(where)
            return r

        return Framework(
            "torch", torch_natives(where.type), to_torch, torch_ready,
            torch.Generator(where.type).manual_seed(0), torch_compile,
        )  # fmt: skip
    if name == "jax":
        import jax
        import jax.numpy as jnp

        place = jax.devices(device)[0] if device else None

        def to_jax(x: np.ndarray, dtype: str | None) -> Any:
            a = jax.device_put(x, place)
            return a.astype(getattr(jnp, dtype)) if dtype else a

        return Framework(
            "jax", jax_natives(), to_jax, jax.block_until_ready, jax.random.key(0), jax.jit
        )
    if name == "tensorflow":
        import tensorflow as tf

        def to_tf(x: np.ndarray, dtype: str | None) -> Any:
            t = tf.constant(x)
            return tf.cast(t, getattr(tf, dtype)) if dtype else t

        def tf_compile(fn: Callable[..., Any]) -> Callable[..., Any]:
            return tf.function(fn, jit_compile=False)

        return Framework(
            "tensorflow", tensorflow_natives(), to_tf, lambda r: r,
            tf.random.Generator.from_seed(0), tf_compile,
        )  # fmt: skip
    raise ValueError(f"unknown backend {name!r}")


# --- timing -----------------------------------------------------------------------------------


@dataclass
class Cell:
    backend: str
    mode: str
    case: str
    size: str
    dtype: str
    ratio: float
    native_ms: float
    xloss_ms: float


def _time(fn: Callable[[], Any], ready: Callable[[Any], Any], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat - 1):
        fn()
    ready(fn())
    return (time.perf_counter() - start) / repeat


def measure(
    ours: Callable[[], Any], theirs: Callable[[], Any], ready: Callable[[Any], Any], pairs: int
) -> tuple[float, float, float]:
    """(median ratio, median native s, median xloss s) over ``pairs`` interleaved pairs."""
    ready(ours()), ready(theirs())  # warm up: compile, allocate, fill caches
    ready(ours()), ready(theirs())
    once = _time(theirs, ready, 1)
    repeat = max(1, min(2000, int(0.02 / max(once, 1e-7))))  # each timing lasts >= ~20 ms
    ratios, native, xloss = [], [], []
    for i in range(pairs):
        if i % 2:
            b = _time(theirs, ready, repeat)
            a = _time(ours, ready, repeat)
        else:
            a = _time(ours, ready, repeat)
            b = _time(theirs, ready, repeat)
        ratios.append(a / b)
        native.append(b)
        xloss.append(a)
    return statistics.median(ratios), statistics.median(native), statistics.median(xloss)


def native_fn(fw: Framework, case: str) -> Callable[..., Any]:
    """The native side of a case; ``top_k_<K>`` for any K (the natives' ``top_k`` makes it)."""
    if case.startswith("top_k_"):
        return fw.natives["top_k"](int(case.rsplit("_", 1)[1]))
    return fw.natives[case]


def run_cell(
    fw: Framework, mode: str, case: str, data: dict[str, np.ndarray], dtype: str, pairs: int
) -> tuple[float, float, float] | None:
    if case.startswith("top_k") and int(case.rsplit("_", 1)[1]) > data["logits"].shape[-1]:
        return None
    np_args = args_for(case, data)
    cast = None if dtype == "float32" else dtype
    arrays = [
        fw.convert(a, cast if is_float_input(case, i, len(np_args)) else None)
        for i, a in enumerate(np_args)
    ]
    ours_fn = xloss_fn(case, fw.rng)
    theirs_fn = native_fn(fw, case)
    if mode != "eager":
        if case == "sample" and fw.name == "tensorflow":
            return None  # tf.random.Generator state cannot be captured by a shared tf.function
        assert fw.compile is not None
        ours_fn, theirs_fn = fw.compile(ours_fn), fw.compile(theirs_fn)
    return measure(lambda: ours_fn(*arrays), lambda: theirs_fn(*arrays), fw.ready, pairs)


def parse_size(text: str) -> tuple[int, int]:
    rows, cols = text.lower().split("x")
    return int(rows), int(cols)


# --- reporting --------------------------------------------------------------------------------


def markdown(cells: list[Cell], sizes: list[str], dtypes: list[str]) -> str:
    """One table per size and dtype: rows are cases, columns are backend/mode."""
    out = []
    for size in sizes:
        for dtype in dtypes:
            chosen = [c for c in cells if c.size == size and c.dtype == dtype]
            if not chosen:
                continue
            columns = sorted({(c.backend, c.mode) for c in chosen}, key=_column_order)
            out.append(f"**{size}, {dtype}** (xloss / native; native median ms in brackets)\n")
            out.append("| case | " + " | ".join(f"{b} {m}" for b, m in columns) + " |")
            out.append("|---" * (len(columns) + 1) + "|")
            for case in CASES:
                row = {(c.backend, c.mode): c for c in chosen if c.case == case}
                if not row:
                    continue
                entries = [
                    f"{row[col].ratio:.2f} ({_ms(row[col].native_ms)})" if col in row else "—"
                    for col in columns
                ]
                out.append(f"| {case} | " + " | ".join(entries) + " |")
            out.append("")
    return "\n".join(out)


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.1f}"


def _column_order(col: tuple[str, str]) -> tuple[int, int]:
    names = list(MODES)
    return names.index(col[0]), MODES[col[0]].index(col[1])


def plot(cells: list[Cell], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted(
        {(c.size, c.dtype) for c in cells},
        key=lambda g: (math.prod(parse_size(g[0])), ["float32", "bfloat16"].index(g[1])),
    )
    fig, axes = plt.subplots(len(groups), 1, figsize=(11, 3.6 * len(groups)), squeeze=False)
    for ax, (size, dtype) in zip(axes[:, 0], groups):
        chosen = [c for c in cells if c.size == size and c.dtype == dtype]
        columns = sorted({(c.backend, c.mode) for c in chosen}, key=_column_order)
        cases = [case for case in CASES if any(c.case == case for c in chosen)]
        width = 0.8 / len(columns)
        for j, col in enumerate(columns):
            values = [
                next((c.ratio for c in chosen if c.case == case and (c.backend, c.mode) == col),
                     math.nan)
                for case in cases
            ]  # fmt: skip
            ax.bar([i + j * width for i in range(len(cases))], values, width, label=" ".join(col))
        goal = 1.5 if math.prod(parse_size(size)) < 10_000 else 1.10  # call overhead: 1.5
        ax.axhline(goal, color="red", linewidth=0.8, linestyle="--")
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_yscale("log")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(cases))], cases, rotation=30)
        ax.set_ylabel("xloss / native (log)")
        ax.set_title(f"{size}, {dtype} (dashed: the {goal:.2f} goal)")
        ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(MODES))
    parser.add_argument("--modes", nargs="+", default=["eager", "jit", "function", "compile"])
    parser.add_argument("--cases", nargs="+", default=list(CASES))
    parser.add_argument("--sizes", nargs="+", default=["8x10", "2048x8192"])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument(
        "--device",
        help="run torch and jax on this device (torch's name, e.g. cuda; JAX's platform, e.g. "
        "gpu or cuda); the default: each library's default device",
    )
    parser.add_argument(
        "--as-if-off-host",
        action="store_true",
        help="PyTorch's eager calls take the path of arrays off the host (values unreadable: "
        "no value checks, no blocks of rows), on the CPU: what CUDA runs, without a GPU",
    )
    parser.add_argument(
        "--torch-guards",
        choices=["all", "tensors"],
        default="all",
        help="tensors: torch.compile both sides with guard_filter_fn="
        "torch.compiler.skip_guard_on_globals_unsafe, to measure what Dynamo's guards on "
        "Python globals cost a call (unsafe in general: a changed global is not noticed)",
    )
    parser.add_argument("--markdown", help="write the tables to this file")
    parser.add_argument("--plot", help="write a bar chart of the ratios to this PNG")
    parser.add_argument("--json", help="write every cell to this file")
    parser.add_argument(
        "--from-json",
        nargs="+",
        help="time nothing: read cells from these files (a later file's cell replaces an "
        "earlier one's) and write --markdown/--plot/--json from them",
    )
    args = parser.parse_args()
    if args.from_json:
        merged: dict[tuple[str, ...], Cell] = {}
        for path in args.from_json:
            with open(path) as f:
                for item in json.load(f):
                    cell = Cell(**item)
                    merged[(cell.backend, cell.mode, cell.case, cell.size, cell.dtype)] = cell
        report(list(merged.values()), args)
        return

    import torch  # noqa: F401  (torch before tensorflow in one process)

    if args.as_if_off_host:
        as_if_off_host()

    frameworks = [framework(name, args.device, args.torch_guards) for name in args.backends]
    cells: list[Cell] = []
    print(f"{'backend':<11}{'mode':<9}{'case':<19}{'size':<11}{'dtype':<9}"
          f"{'xloss/native':>12}{'native ms':>11}")  # fmt: skip
    for size in args.sizes:
        data = inputs(*parse_size(size))
        for fw in frameworks:
            for mode in (m for m in MODES[fw.name] if m in args.modes):
                for dtype in args.dtypes:
                    if fw.name == "numpy" and dtype != "float32":
                        continue
                    for case in args.cases:
                        result = run_cell(fw, mode, case, data, dtype, args.pairs)
                        if result is None:
                            continue
                        ratio, native_s, xloss_s = result
                        cell = Cell(fw.name, mode, case, size, dtype, ratio, 1e3 * native_s,
                                    1e3 * xloss_s)  # fmt: skip
                        cells.append(cell)
                        print(f"{fw.name:<11}{mode:<9}{case:<19}{size:<11}{dtype:<9}"
                              f"{ratio:>12.2f}{_ms(cell.native_ms):>11}", flush=True)  # fmt: skip
    report(cells, args)


def as_if_off_host() -> None:
    """PyTorch's adapter told that no tensor's values can be read, and its kernels that no
    input is large enough for blocks of rows: the eager path of CUDA tensors, on the CPU."""
    import xloss.adapters._torch_kernels as kernels
    import xloss.adapters.torch as adapter

    adapter.readable = lambda x: None
    kernels.BLOCKED_FROM = 1 << 62


def report(cells: list[Cell], args: argparse.Namespace) -> None:
    sizes = sorted({c.size for c in cells}, key=lambda s: math.prod(parse_size(s)))
    dtypes = sorted({c.dtype for c in cells}, key=["float32", "bfloat16"].index)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(cells, sizes, dtypes))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(c) for c in cells], f, indent=1)
    if args.plot:
        plot(cells, args.plot)


if __name__ == "__main__":
    main()
