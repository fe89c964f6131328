"""xloss.compat.torch against torch.nn.functional itself, on every backend.

Each case builds float32 NumPy inputs, runs the real torch function on them as the oracle, and
runs the profile on the backend's arrays: the numbers, the dtype and the array type must match.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys

import data as d
import numpy as np
import pytest
from backends import FLOAT_DTYPES, need
from checks import assert_result, grad_of, tolerance

import xloss
import xloss.compat.torch as tc

NO_CLASSES = np.zeros((3, 0), np.float32)  # a class axis of size 0

RNG = np.random.default_rng(5)
LOGITS_4D = RNG.normal(scale=2.0, size=(2, d.C, 3, 2)).astype(np.float32)
LABELS_4D = RNG.integers(0, d.C, size=(2, 3, 2))
LABELS_4D[0, 1, 1] = -100
SOFT_4D = np.moveaxis(RNG.dirichlet(np.ones(d.C), size=(2, 3, 2)), -1, 1).astype(np.float32)
WEIGHT = RNG.uniform(0.2, 2.0, size=d.C).astype(np.float32)
ALL_IGNORED = np.full(d.N, -100)
EXTREME = np.array(
    [[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -1e4, 1e4], [0.0, 1.0, 2.0, 3.0]],
    np.float32,
)
EXTREME_LABELS = np.array([1, 3, 2, 0])
MASKED = d.LOGITS[:, :4].copy()
MASKED[:, 2] = -np.inf
MASKED[0, [0, 1]] = -np.inf
MASKED_LABELS = np.array([3, 0, 1, 3, 0, 1, 3, 0])
LOG_P = (d.LOGITS - np.log(np.exp(d.LOGITS).sum(-1, keepdims=True))).astype(np.float32)
LOG_P_3D = (d.LOGITS_3D - np.log(np.exp(d.LOGITS_3D).sum(1, keepdims=True))).astype(np.float32)


def _torch():
    return need("torch")


def _run(fn, convert, args, kwargs):
    """``fn`` with its NumPy arrays converted by ``convert`` (other values pass as they are)."""
    conv = [convert(a) if isinstance(a, np.ndarray) else a for a in args]
    kw = {k: convert(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    return fn(*conv, **kw)


_ORACLE: dict[tuple[str, str], np.ndarray] = {}


def _compare(backend, name, case, args, kwargs):
    """The profile on ``backend`` against torch, which runs once per case (not per backend)."""
    if (name, case) not in _ORACLE:
        torch = _torch()
        oracle = _run(getattr(torch.nn.functional, name), torch.from_numpy, args, kwargs)
        _ORACLE[name, case] = oracle.double().numpy()
    out = _run(getattr(tc, name), backend.asarray, args, kwargs)
    assert_result(backend, out, _ORACLE[name, case])
    return out


CROSS_ENTROPY = {
    "indices-mean": ((d.LOGITS, d.LABELS), {}),
    "indices-weight-sum": ((d.LOGITS, d.LABELS), {"weight": WEIGHT, "reduction": "sum"}),
    "indices-ignore-none": ((d.LOGITS, d.IGNORED), {"ignore_index": -1, "reduction": "none"}),
    "indices-weight-ignore-mean": ((d.LOGITS, d.IGNORED), {"weight": WEIGHT, "ignore_index": -1}),
    "indices-ignore-in-range": ((d.LOGITS, d.LABELS), {"weight": WEIGHT, "ignore_index": 2}),
    "smoothing-mean": ((d.LOGITS, d.LABELS), {"label_smoothing": 0.2}),
    "smoothing-weight-ignore-mean": (
        (d.LOGITS, d.IGNORED),
        {"weight": WEIGHT, "ignore_index": -1, "label_smoothing": 0.3},
    ),
    "smoothing-weight-ignore-none": (
        (d.LOGITS, d.IGNORED),
        {"weight": WEIGHT, "ignore_index": -1, "label_smoothing": 0.3, "reduction": "none"},
    ),
    "smoothing-weight-ignore-sum": (
        (d.LOGITS, d.IGNORED),
        {"weight": WEIGHT, "ignore_index": -1, "label_smoothing": 1.0, "reduction": "sum"},
    ),
    "3d-indices": (
        (d.LOGITS_3D, d.IGNORED_3D),
        {"weight": WEIGHT, "ignore_index": 7, "label_smoothing": 0.1},
    ),
    "4d-indices-none": ((LOGITS_4D, LABELS_4D), {"reduction": "none", "label_smoothing": 0.1}),
    "4d-indices-weight": ((LOGITS_4D, LABELS_4D), {"weight": WEIGHT}),
    "unbatched-index": ((d.LOGITS[0], np.asarray(d.LABELS[0])), {"label_smoothing": 0.1}),
    # without weights or smoothing: the sparse loss's kernels
    "unbatched-index-plain": ((d.LOGITS[0], np.asarray(d.LABELS[0])), {}),
    "indices-ignore-in-range-plain": ((d.LOGITS, d.LABELS), {"ignore_index": 2}),
    "3d-indices-plain-sum": ((d.LOGITS_3D, d.IGNORED_3D), {"ignore_index": 7, "reduction": "sum"}),
    "4d-indices-plain-none": ((LOGITS_4D, LABELS_4D), {"reduction": "none"}),
    "unbatched-probabilities": ((d.LOGITS[0], d.SOFT[0]), {"weight": WEIGHT}),
    "all-ignored-mean": ((d.LOGITS, ALL_IGNORED), {}),
    "all-ignored-smoothing-weight": (
        (d.LOGITS, ALL_IGNORED),
        {"weight": WEIGHT, "label_smoothing": 0.2},
    ),
    "all-ignored-sum": ((d.LOGITS, ALL_IGNORED), {"reduction": "sum"}),
    "probabilities-mean": ((d.LOGITS, d.SOFT), {}),
    "probabilities-weight-mean": ((d.LOGITS, d.SOFT), {"weight": WEIGHT}),
    "probabilities-weight-smoothing-sum": (
        (d.LOGITS, d.SOFT),
        {"weight": WEIGHT, "label_smoothing": 0.25, "reduction": "sum"},
    ),
    "probabilities-3d-none": ((d.LOGITS_3D, d.SOFT_3D), {"reduction": "none"}),
    "probabilities-4d-weight-smoothing": (
        (LOGITS_4D, SOFT_4D),
        {"weight": WEIGHT, "label_smoothing": 0.1, "ignore_index": -1},
    ),
    "extreme-1e4": ((EXTREME, EXTREME_LABELS), {"reduction": "none"}),
    "extreme-1e4-smoothing": ((EXTREME, EXTREME_LABELS), {"label_smoothing": 0.1}),
    "masked-inf": ((MASKED, MASKED_LABELS), {"reduction": "none"}),
    "masked-inf-smoothing": ((MASKED, MASKED_LABELS), {"label_smoothing": 0.1}),
}


@pytest.mark.parametrize("case", CROSS_ENTROPY)
def test_cross_entropy_matches_torch(backend, case):
    args, kwargs = CROSS_ENTROPY[case]
    _compare(backend, "cross_entropy", case, args, kwargs)


def test_all_ignored_mean_is_nan(backend):
    """torch's mean over no targets is 0/0 (pytorch#70348); the sum is 0."""
    out = tc.cross_entropy(backend.asarray(d.LOGITS), backend.asarray(ALL_IGNORED))
    assert np.isnan(backend.to_numpy(out))
    out = tc.cross_entropy(backend.asarray(d.LOGITS), backend.asarray(ALL_IGNORED), reduction="sum")
    assert backend.to_numpy(out) == 0.0


def test_masked_class_with_probability_targets(backend):
    """Probability targets put 0 * log(0) on a -inf logit: nan in torch, and here."""
    targets = np.eye(4, dtype=np.float32)[MASKED_LABELS]
    # NumPy-based backends report the 0 * -inf; the value is what torch gives.
    with np.errstate(invalid="ignore"):
        _compare(
            backend,
            "cross_entropy",
            "masked-probabilities",
            (MASKED, targets),
            {"reduction": "none"},
        )


NLL = {
    "mean": ((LOG_P, d.LABELS), {}),
    "weight-ignore-mean": ((LOG_P, d.IGNORED), {"weight": WEIGHT, "ignore_index": -1}),
    "weight-sum": ((LOG_P, d.LABELS), {"weight": WEIGHT, "reduction": "sum"}),
    "3d-none": ((LOG_P_3D, d.IGNORED_3D), {"ignore_index": 7, "reduction": "none"}),
    "unbatched": ((LOG_P[0], np.asarray(d.LABELS[0])), {"weight": WEIGHT}),
    "all-ignored": ((LOG_P, ALL_IGNORED), {"weight": WEIGHT}),
}


@pytest.mark.parametrize("case", NLL)
def test_nll_loss_matches_torch(backend, case):
    args, kwargs = NLL[case]
    _compare(backend, "nll_loss", case, args, kwargs)


BINARY = {
    "hard-mean": ((d.BINARY_PROBS_EDGES, d.BINARY_TARGETS), {}),
    "soft-none": ((d.BINARY_PROBS_EDGES, d.BINARY_SOFT), {"reduction": "none"}),
    "weight-per-class-sum": (
        (d.BINARY_PROBS_EDGES, d.BINARY_TARGETS),
        {"weight": np.array([0.5, 1.0, 2.0], np.float32), "reduction": "sum"},
    ),
    "weight-per-sample": (
        (d.BINARY_PROBS, d.BINARY_SOFT),
        {"weight": d.SAMPLE_WEIGHT[:, None], "reduction": "none"},
    ),
    "exact-0-and-1": (
        (np.array([0.0, 1.0, 0.0, 1.0], np.float32), np.array([1.0, 0.0, 0.0, 1.0], np.float32)),
        {"reduction": "none"},
    ),
}


@pytest.mark.parametrize("case", BINARY)
def test_binary_cross_entropy_matches_torch(backend, case):
    args, kwargs = BINARY[case]
    _compare(backend, "binary_cross_entropy", case, args, kwargs)


EXTREME_BINARY = np.concatenate([d.BINARY_LOGITS, np.array([[1e4, -1e4, 0.0]], np.float32)])
EXTREME_BINARY_TARGETS = np.concatenate([d.BINARY_SOFT, np.array([[0.0, 1.0, 1.0]], np.float32)])
WITH_LOGITS = {
    "mean": ((EXTREME_BINARY, EXTREME_BINARY_TARGETS), {}),
    "extreme-none": ((EXTREME_BINARY, EXTREME_BINARY_TARGETS), {"reduction": "none"}),
    "pos-weight-none": (
        (EXTREME_BINARY, EXTREME_BINARY_TARGETS),
        {"pos_weight": np.array([1.0, 3.0, 0.5], np.float32), "reduction": "none"},
    ),
    "pos-weight-weight-sum": (
        (d.BINARY_LOGITS, d.BINARY_TARGETS),
        {
            "pos_weight": np.array([2.0, 1.0, 0.25], np.float32),
            "weight": d.SAMPLE_WEIGHT[:, None],
            "reduction": "sum",
        },
    ),
    "3d-pos-weight": (
        (d.BINARY_LOGITS_3D, d.BINARY_TARGETS_3D),
        {"pos_weight": np.linspace(0.5, 2.5, 5, dtype=np.float32)},
    ),
}


@pytest.mark.parametrize("case", WITH_LOGITS)
def test_binary_cross_entropy_with_logits_matches_torch(backend, case):
    args, kwargs = WITH_LOGITS[case]
    _compare(backend, "binary_cross_entropy_with_logits", case, args, kwargs)


# case: (function, the floating input, the other positional arguments, keyword arguments)
DTYPE_CASES = {
    "cross_entropy-indices": (
        "cross_entropy",
        d.LOGITS_3D,
        (d.IGNORED_3D,),
        {"ignore_index": 7, "label_smoothing": 0.1},
    ),
    "cross_entropy-indices-plain": (
        "cross_entropy",
        d.LOGITS_3D,
        (d.IGNORED_3D,),
        {"ignore_index": 7, "reduction": "none"},
    ),
    "cross_entropy-probabilities": ("cross_entropy", d.LOGITS, (d.SOFT,), {"weight": WEIGHT}),
    "nll_loss": ("nll_loss", LOG_P, (d.IGNORED,), {"weight": WEIGHT, "ignore_index": -1}),
    "binary_cross_entropy": ("binary_cross_entropy", d.BINARY_PROBS, (d.BINARY_SOFT,), {}),
    "binary_cross_entropy_with_logits": (
        "binary_cross_entropy_with_logits",
        d.BINARY_LOGITS,
        (d.BINARY_SOFT,),
        {"pos_weight": np.array([2.0, 1.0, 0.5], np.float32), "reduction": "none"},
    ),
}


def _float64_tensor(a: np.ndarray):
    return _torch().from_numpy(a.astype(np.float64) if a.dtype.kind == "f" else a)


@pytest.mark.parametrize("case", DTYPE_CASES)
def test_returns_the_input_dtype(backend_and_dtype, case):
    """torch returns the input's dtype (floating targets and weights in it too); half precision
    is computed in float32 and rounded once."""
    backend, dtype = backend_and_dtype
    torch = _torch()
    name, source, rest, kwargs = DTYPE_CASES[case]
    with backend.x64() if dtype == "float64" else contextlib.nullcontext():
        # Floating targets and weights in the input's dtype too (wider ones widen the result).
        def held(a):
            return backend.to_numpy(backend.asarray(a, dtype)).astype(np.float64)

        rest = tuple(held(a) if a.dtype.kind == "f" else a for a in rest)
        kwargs = {k: held(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        x = backend.asarray(source, dtype)

        def convert(a):
            return backend.asarray(a, dtype) if a.dtype.kind == "f" else backend.asarray(a)

        out = _run(getattr(tc, name), convert, (x, *rest), kwargs)
        source = backend.to_numpy(x).astype(np.float64)
    expected = _run(getattr(torch.nn.functional, name), _float64_tensor, (source, *rest), kwargs)
    assert_result(backend, out, expected.numpy(), dtype)


PROMOTIONS = {  # (function, input dtype, target dtype, weight dtype or None, kwargs)
    "probabilities-f32-target-f64": ("cross_entropy", "float32", "float64", None, {}),
    "probabilities-bf16-target-f32": ("cross_entropy", "bfloat16", "float32", None, {}),
    "probabilities-f16-weight-f32": ("cross_entropy", "float16", "float16", "float32", {}),
    "logits-f32-target-f64": ("binary_cross_entropy_with_logits", "float32", "float64", None, {}),
    "logits-f16-target-f32": ("binary_cross_entropy_with_logits", "float16", "float32", None, {}),
    # torch's binary loss is computed in place on (1 - target): the target's dtype, not wider
    "logits-f32-target-f16": ("binary_cross_entropy_with_logits", "float32", "float16", None, {}),
    "logits-f32-weight-f64": (
        "binary_cross_entropy_with_logits",
        "float32",
        "float32",
        "float64",
        {},
    ),
    "logits-f16-pos-weight-f32": (
        "binary_cross_entropy_with_logits",
        "float16",
        "float16",
        None,
        {"pos_weight": "float32"},
    ),
}


@pytest.mark.backends("torch")
@pytest.mark.parametrize("case", PROMOTIONS)
def test_result_dtype_is_torchs_promotion_of_the_arguments(backend, case):
    """A wider floating target or weight widens the result, as torch's arithmetic does."""
    torch = _torch()
    name, input_dtype, target_dtype, weight_dtype, kwargs = PROMOTIONS[case]
    binary = name.startswith("binary")
    source, target = (d.BINARY_LOGITS, d.BINARY_SOFT) if binary else (d.LOGITS, d.SOFT)
    args = [torch.tensor(source).to(getattr(torch, input_dtype))]
    args.append(torch.tensor(target).to(getattr(torch, target_dtype)))
    weights = np.linspace(0.5, 2.0, source.shape[1], dtype=np.float32)
    kwargs = {k: torch.tensor(weights).to(getattr(torch, v)) for k, v in kwargs.items()}
    if weight_dtype is not None:
        kwargs["weight"] = torch.tensor(weights).to(getattr(torch, weight_dtype))
    expected = getattr(torch.nn.functional, name)(*args, **kwargs)
    out = getattr(tc, name)(*args, **kwargs)
    assert out.dtype == expected.dtype
    wide = [a.double() for a in args]
    reference = getattr(torch.nn.functional, name)(
        *wide, **{k: v.double() for k, v in kwargs.items()}
    )
    np.testing.assert_allclose(out.double().numpy(), reference.numpy(), rtol=tolerance("float16"))


@pytest.mark.backends("jax", "torch", "tensorflow")
def test_under_the_compiler(backend):
    """jax.jit, torch.compile(fullgraph=True) and tf.function with unknown dimensions, called
    on two batch sizes (torch recompiles the second with dynamic shapes)."""

    def loss(logits, labels, weight, targets):
        return (
            tc.cross_entropy(logits, labels, weight, ignore_index=7, label_smoothing=0.1)
            + tc.cross_entropy(logits, targets, weight, label_smoothing=0.2)
            + tc.cross_entropy(logits, labels, ignore_index=7)
        )

    args = (d.LOGITS_3D, d.IGNORED_3D, WEIGHT, d.SOFT_3D)
    compiled = backend.compile(loss, *args)
    for rows in (slice(None), slice(0, 2)):
        arrays = [backend.asarray(a if a is WEIGHT else a[rows]) for a in args]
        eager = backend.to_numpy(loss(*arrays)).astype(np.float64)
        assert_result(backend, compiled(*arrays), eager)


@pytest.mark.backends("jax", "torch", "tensorflow")
def test_out_of_range_target_under_tracing_gives_nan(backend):
    labels = d.LABELS.copy()
    labels[3] = d.C
    compiled = backend.compile(
        lambda x, y: tc.cross_entropy(x, y, reduction="none"), d.LOGITS, labels
    )
    out = backend.to_numpy(compiled(backend.asarray(d.LOGITS), backend.asarray(labels)))
    assert np.isnan(out[3]) and np.isfinite(np.delete(out, 3)).all()


@pytest.mark.backends("jax", "tensorflow")
def test_probabilities_outside_unit_interval_under_tracing_give_nan(backend):
    p = np.array([1.5, -0.1, np.nan, 0.0, 1.0, 0.5], np.float32)
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0], np.float32)
    compiled = backend.compile(lambda p, t: tc.binary_cross_entropy(p, t, reduction="none"), p, t)
    out = backend.to_numpy(compiled(backend.asarray(p), backend.asarray(t)))
    assert np.isnan(out[:3]).all()
    np.testing.assert_allclose(out[3:], [100.0, 100.0, np.log(2.0)], rtol=1e-6)


def test_class_indices_by_the_sparse_kernels_on_large_inputs(backend):
    """Class indices take the sparse loss's kernels (on PyTorch, ``F.cross_entropy`` by blocks
    of rows from 8 MiB: 2048 x 1100 float32; half precision converted block by block) times the
    gathered weights, and for ``label_smoothing`` without weights the categorical loss's with
    targets of ones: torch's numbers (float64 torch on the same values), with ignored rows and
    masked classes, in float32 and bfloat16 where the backend has it, with and without
    weights (smoothing with weights: the generic body), for every reduction."""
    torch = _torch()
    rng = np.random.default_rng(11)
    x = rng.normal(scale=3.0, size=(2048, 1100)).astype(np.float32)
    x[5, 3:] = -np.inf  # masked classes
    y = rng.integers(0, 1100, size=2048)
    y[5] = 4
    y[::7] = -100
    w = rng.uniform(0.5, 2.0, size=1100).astype(np.float32)
    for dtype in ("float32", "bfloat16"):
        if dtype not in FLOAT_DTYPES[backend.name]:
            continue
        logits = backend.asarray(x, dtype)
        held = backend.to_numpy(logits).astype(np.float64)  # the values after rounding
        weight = backend.asarray(w, dtype)
        held_w = backend.to_numpy(weight).astype(np.float64)
        for reduction, smoothing in (("none", 0.0), ("mean", 0.1), ("sum", 0.0), ("none", 0.2)):
            for given, oracle_w in ((None, None), (weight, torch.from_numpy(held_w))):
                kwargs = {"reduction": reduction, "label_smoothing": smoothing}
                out = tc.cross_entropy(logits, backend.asarray(y), given, **kwargs)
                expected = torch.nn.functional.cross_entropy(
                    torch.from_numpy(held), torch.from_numpy(y), oracle_w, **kwargs
                )
                assert_result(backend, out, expected.numpy(), dtype)


def _binary_logits_inputs(rng, rows, cols):
    """Logits with nan, +-1e4 and 0.0 entries, soft and hard targets, per-class ``pos_weight``
    and per-row ``weight``."""
    x = rng.normal(scale=4.0, size=(rows, cols)).astype(np.float32)
    x[3, :2] = [1e4, -1e4]
    x[4, :3] = [0.0, -0.0, np.nan]
    x[5, :2] = [17.0, -17.0]  # where (1 - z) x cancels max(-x, 0)
    z = rng.uniform(size=(rows, cols)).astype(np.float32)
    z[::3] = np.round(z[::3])
    q = rng.uniform(0.0, 3.0, size=cols).astype(np.float32)
    w = rng.uniform(0.5, 2.0, size=(rows, 1)).astype(np.float32)
    return x, z, q, w


def test_binary_with_logits_by_blocks_on_large_inputs(backend):
    """``binary_cross_entropy_with_logits`` on PyTorch computes large eager inputs by blocks of
    rows from 8 MiB (2048 x 1100 float32), summing by rows where reduced: torch's numbers
    (float64 torch on the same values, nan where torch has it), and the generic
    body's (``xloss.fast_paths(False)``): the same bits without reduction, but for eager JAX
    and TensorFlow, which run it compiled by XLA; with and without ``pos_weight`` (per class:
    a broadcast view) and ``weight`` (per row), for every reduction."""
    torch = _torch()
    x, z, q, w = _binary_logits_inputs(np.random.default_rng(12), 2048, 1100)
    finite = np.isfinite(x).all(-1)
    for reduction in ("none", "mean", "sum"):
        for extra in ({}, {"pos_weight": q}, {"pos_weight": q, "weight": w}, {"weight": q}):
            rows = slice(None) if reduction == "none" else finite  # a nan row makes the sum nan
            args = (x[rows], z[rows])
            kwargs = {k: v[rows] if v is w else v for k, v in extra.items()}
            kwargs["reduction"] = reduction
            out = _run(tc.binary_cross_entropy_with_logits, backend.asarray, args, kwargs)
            expected = _run(
                torch.nn.functional.binary_cross_entropy_with_logits,
                _float64_tensor,
                args,
                kwargs,
            )
            assert_result(backend, out, expected.numpy())
            with xloss.fast_paths(False):
                generic = _run(tc.binary_cross_entropy_with_logits, backend.asarray, args, kwargs)
            if reduction == "none" and backend.name not in ("jax", "tensorflow"):  # XLA's way
                np.testing.assert_array_equal(backend.to_numpy(out), backend.to_numpy(generic))
            else:
                assert_result(backend, out, backend.to_numpy(generic).astype(np.float64))


def _sigmoid(x):
    """float32 probabilities from logits, nan as 0.5 (no overflow at -1e4)."""
    return np.exp(-np.logaddexp(0.0, -np.nan_to_num(x, nan=0.0))).astype(np.float32)


def test_binary_of_probabilities_by_blocks_on_large_inputs(backend):
    """``binary_cross_entropy`` likewise (on PyTorch by blocks of rows from 8 MiB): torch's
    numbers, with probabilities of exactly 0 and 1 and below ``exp(-100)`` (the logs' clamp)
    and soft and hard targets, and the generic body's bits without reduction."""
    torch = _torch()
    x, z, _, w = _binary_logits_inputs(np.random.default_rng(14), 2048, 1100)
    p = _sigmoid(x)
    p[6, :5] = [0.0, 1.0, 1e-45, 1e-30, np.float32(1.0) - np.float32(6e-8)]
    for reduction in ("none", "mean", "sum"):
        for extra in ({}, {"weight": w}):
            kwargs = {**extra, "reduction": reduction}
            out = _run(tc.binary_cross_entropy, backend.asarray, (p, z), kwargs)
            expected = _run(
                torch.nn.functional.binary_cross_entropy, _float64_tensor, (p, z), kwargs
            )
            assert_result(backend, out, expected.numpy())
            with xloss.fast_paths(False):
                generic = _run(tc.binary_cross_entropy, backend.asarray, (p, z), kwargs)
            if reduction == "none" and backend.name != "jax":
                np.testing.assert_array_equal(backend.to_numpy(out), backend.to_numpy(generic))
            else:
                assert_result(backend, out, backend.to_numpy(generic).astype(np.float64))


@pytest.mark.backends("jax", "torch", "tensorflow")
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("size", [(8, 300), (2048, 1100)])
def test_binary_of_probabilities_gradient_matches_torch(backend, reduction, size):
    """The gradient with respect to the probabilities against torch's autograd of
    ``F.binary_cross_entropy`` (on PyTorch, torch's own derivatives for large inputs), with
    ``weight``, probabilities from 1e-6 to 1 - 1e-6."""
    torch = _torch()
    x, z, _, w = _binary_logits_inputs(np.random.default_rng(15), *size)
    p = np.clip(_sigmoid(x), 1e-6, 1.0 - 1e-6)
    got = grad_of(
        backend, lambda a, t, v: tc.binary_cross_entropy(a, t, v, reduction=reduction), p, z, w
    )
    tensor = torch.from_numpy(p).requires_grad_(True)
    oracle = torch.nn.functional.binary_cross_entropy(
        tensor, torch.from_numpy(z), torch.from_numpy(w), reduction=reduction
    )
    oracle.sum().backward()
    expected = tensor.grad.numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


@pytest.mark.backends("jax", "torch", "tensorflow")
def test_binary_of_probabilities_gradient_at_0_and_1_whatever_the_size(backend):
    """At probabilities of 0 and 1 (and below the logs' clamp) the derivative is the generic
    body's, on small inputs and large ones alike: torch's own (its clamp of ``p (1 - p)`` at
    1e-12, -1e12 at ``p = 0``) is taken only where no probability comes near them."""
    x, z, _, _ = _binary_logits_inputs(np.random.default_rng(16), 2048, 1100)
    p = _sigmoid(x)
    p[6, :4] = [0.0, 1.0, 1e-45, 1e-13]
    z[6, :4] = [1.0, 0.0, 1.0, 1.0]

    def loss(a, t):
        return tc.binary_cross_entropy(a, t, reduction="sum")

    large = grad_of(backend, loss, p, z)[6:8]
    small = grad_of(backend, loss, p[6:8], z[6:8])
    np.testing.assert_allclose(large, small, rtol=1e-6)


@pytest.mark.backends("jax", "torch", "tensorflow")
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("size", [(8, 300), (2048, 1100)])
def test_binary_with_logits_gradient_matches_torch(backend, reduction, size):
    """The gradient with respect to the logits (1e4 among them), by the backend's autodiff,
    against torch's autograd of ``F.binary_cross_entropy_with_logits``, with ``pos_weight``
    and ``weight``;
    small inputs and large ones (computed by blocks on PyTorch where no derivative is taken)."""
    torch = _torch()
    x, z, q, w = _binary_logits_inputs(np.random.default_rng(13), *size)
    x[4, 2] = 0.0
    got = grad_of(
        backend,
        lambda a, t, v, p: tc.binary_cross_entropy_with_logits(
            a, t, v, reduction=reduction, pos_weight=p
        ),
        x,
        z,
        w,
        q,
    )
    tensor = torch.from_numpy(x).requires_grad_(True)
    oracle = torch.nn.functional.binary_cross_entropy_with_logits(
        tensor,
        torch.from_numpy(z),
        torch.from_numpy(w),
        reduction=reduction,
        pos_weight=torch.from_numpy(q),
    )
    oracle.sum().backward()
    expected = tensor.grad.numpy()  # (1 - z) - (1 + (q - 1) z) sigmoid(-x) cancels: ulps of 1
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


GRADIENT_CASES = {
    "mean": {},
    "ignore-smoothing": {"ignore_index": -100, "label_smoothing": 0.1},
    "weight": {"weight": True},
    "weight-smoothing-sum": {"weight": True, "label_smoothing": 0.2, "reduction": "sum"},
    "none": {"reduction": "none"},
    "probabilities": {"targets": True},
}


@pytest.mark.backends("jax", "torch", "tensorflow")
@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_cross_entropy_gradient_matches_torch(backend, case):
    """The gradient with respect to the logits, by the backend's autodiff (the kernels' too),
    against torch's autograd of ``F.cross_entropy``: ignored rows and a row with classes masked
    by ``-inf`` (its loss is finite without smoothing, ``inf`` with it)."""
    torch = _torch()
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(64, 300)) * 3).astype(np.float32)
    x[3, 5:] = -np.inf
    y = rng.integers(0, 300, size=64)
    y[3] = 2
    y[::5] = -100
    options = dict(GRADIENT_CASES[case])
    weight = (
        rng.uniform(0.5, 2.0, size=300).astype(np.float32) if options.pop("weight", 0) else None
    )
    if options.pop("targets", False):
        x[3] = 0.0  # torch gives nan at a masked class with probability targets
        y = np.exp(rng.normal(size=(64, 300))).astype(np.float32)
        y /= y.sum(-1, keepdims=True)
    extra = () if weight is None else (weight,)
    got = grad_of(backend, lambda a, t, *w: tc.cross_entropy(a, t, *w, **options), x, y, *extra)
    tensor = torch.from_numpy(x).requires_grad_(True)
    oracle = torch.nn.functional.cross_entropy(
        tensor, torch.from_numpy(y), None if weight is None else torch.from_numpy(weight), **options
    )
    oracle.sum().backward()
    np.testing.assert_allclose(got, tensor.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.host_values
@pytest.mark.backends("torch")
def test_out_of_range_target_without_value_checks_gives_nan(backend):
    """With ``xloss.value_checks(False)`` the label is not read: the kernel gives nan for it
    (``F.cross_entropy`` would raise for it, or read out of bounds on a GPU)."""
    labels = d.LABELS.copy()
    labels[3] = d.C
    with xloss.value_checks(False):
        out = backend.to_numpy(
            tc.cross_entropy(backend.asarray(d.LOGITS), backend.asarray(labels), reduction="none")
        )
    assert np.isnan(out[3]) and np.isfinite(np.delete(out, 3)).all()


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.host_values
def test_out_of_range_target_is_an_error_like_torch(backend):
    torch = _torch()
    labels = d.LABELS.copy()
    labels[2] = d.C
    with pytest.raises(IndexError, match="out of bounds"):
        torch.nn.functional.cross_entropy(torch.from_numpy(d.LOGITS), torch.from_numpy(labels))
    with pytest.raises(ValueError, match=r"`target` holds the class index 5, outside \[0, 5\)"):
        tc.cross_entropy(backend.asarray(d.LOGITS), backend.asarray(labels))
    labels[2] = -3
    with pytest.raises(ValueError, match="class index -3"):
        tc.nll_loss(backend.asarray(LOG_P), backend.asarray(labels), ignore_index=-1)


@pytest.mark.host_values
def test_probabilities_outside_unit_interval_are_an_error_like_torch(backend):
    torch = _torch()
    for bad in (1.5, -0.1, np.nan):
        p = d.BINARY_PROBS.copy()
        p[1, 1] = bad
        with pytest.raises(RuntimeError, match="between 0 and 1"):
            torch.nn.functional.binary_cross_entropy(
                torch.from_numpy(p), torch.from_numpy(d.BINARY_TARGETS)
            )
        with pytest.raises(ValueError, match=r"`input` must hold probabilities in \[0, 1\]"):
            tc.binary_cross_entropy(backend.asarray(p), backend.asarray(d.BINARY_TARGETS))
    with pytest.raises(ValueError, match=r"`target` must hold probabilities"):
        tc.binary_cross_entropy(
            backend.asarray(d.BINARY_PROBS), backend.asarray(d.BINARY_TARGETS * 2.0)
        )


def test_value_checks_off_gives_nan_instead(backend):
    labels = d.LABELS.copy()
    labels[0] = -5
    with xloss.value_checks(False):
        out = tc.cross_entropy(backend.asarray(d.LOGITS), backend.asarray(labels), reduction="none")
    assert np.isnan(backend.to_numpy(out)[0])


# What torch's float arguments take: Python numbers, NumPy scalars and 0-d tensors.
SMOOTHING_NUMBERS = {
    "numpy-float32": lambda: np.float32(0.1),
    "numpy-float64": lambda: np.float64(0.3),
    "numpy-float16": lambda: np.float16(0.25),
    "numpy-int64": lambda: np.int64(1),
    "torch-0d-float": lambda: _torch().tensor(0.2),
    "torch-0d-int": lambda: _torch().tensor(0, dtype=_torch().int32),
}


@pytest.mark.parametrize("kind", SMOOTHING_NUMBERS)
def test_label_smoothing_takes_what_torch_takes(backend, kind):
    value = SMOOTHING_NUMBERS[kind]()
    _compare(backend, "cross_entropy", kind, (d.LOGITS, d.LABELS), {"label_smoothing": value})


# torch refuses the first three (a NumPy array, 0-d or not; a 1-element tensor; a string) and
# reads True as 1.0: a bool is refused here as the slip it likely is.
NOT_SMOOTHING = {
    "numpy-0d-array": (lambda: np.array(0.1), "received a numpy.ndarray of shape ()"),
    "torch-1-element": (lambda: _torch().tensor([0.1]), "received a torch.Tensor of shape (1,)"),
    "string": (lambda: "0.1", "received '0.1'"),
    "bool": (lambda: True, "received True"),
    "numpy-bool": (lambda: np.True_, "received np.True_"),
    "torch-0d-bool": (lambda: _torch().tensor(True), "received tensor(True)"),
}


@pytest.mark.parametrize("kind", NOT_SMOOTHING)
def test_label_smoothing_refuses_other_values(backend, kind):
    make, received = NOT_SMOOTHING[kind]
    value = make()
    x, y = backend.asarray(d.LOGITS), backend.asarray(d.LABELS)
    if kind in ("numpy-0d-array", "torch-1-element", "string"):
        with pytest.raises(TypeError, match="must be float"):
            _torch().nn.functional.cross_entropy(
                _torch().from_numpy(d.LOGITS), _torch().from_numpy(d.LABELS), label_smoothing=value
            )
    message = r"must be a float in \[0, 1\] \(a Python or NumPy number, or a 0-d torch tensor\)"
    with pytest.raises(TypeError, match=f"{message}; {re.escape(received)}"):
        tc.cross_entropy(x, y, label_smoothing=value)


@pytest.mark.backends("array_api_strict", "jax", "torch", "tensorflow")
def test_numpy_targets_are_refused_as_torch_refuses_them(backend):
    """F.cross_entropy takes tensors only (TypeError for a NumPy target or weight); so does
    compat.torch for any backend's logits, unlike compat.optax, .tensorflow and .keras."""
    F = _torch().nn.functional
    with pytest.raises(TypeError, match=r"must be Tensor, not numpy\.ndarray"):
        F.cross_entropy(_torch().from_numpy(d.LOGITS), d.LABELS)
    with pytest.raises(TypeError, match="Convert `target` to the framework of `input`"):
        tc.cross_entropy(backend.asarray(d.LOGITS), d.LABELS)
    with pytest.raises(TypeError, match="Convert `weight` to the framework of `input`"):
        tc.cross_entropy(backend.asarray(d.LOGITS), backend.asarray(d.LABELS), WEIGHT)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda b: tc.cross_entropy(b.asarray(d.LOGITS), b.asarray(d.LABELS), reduction="avg"),
            ValueError,
            r"`reduction` must be 'none', 'mean' or 'sum'.*received 'avg'",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(d.LOGITS), b.asarray(d.LABELS), reduction=None),
            ValueError,
            "`reduction`",
        ),
        (
            lambda b: tc.cross_entropy(
                b.asarray(d.LOGITS), b.asarray(d.LABELS), label_smoothing=1.5
            ),
            ValueError,
            r"`label_smoothing` must be in \[0, 1\]",
        ),
        (
            lambda b: tc.cross_entropy(
                b.asarray(d.LOGITS), b.asarray(d.LABELS), label_smoothing=-0.1
            ),
            ValueError,
            "`label_smoothing`",
        ),
        (
            lambda b: tc.cross_entropy(
                b.asarray(d.LOGITS), b.asarray(d.LABELS), b.asarray(WEIGHT[:4])
            ),
            ValueError,
            r"`weight` must hold one weight per class, shape \(5,\)",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(d.LOGITS), b.asarray(d.LABELS.astype(np.float32))),
            TypeError,
            "`target` must hold integer class indices",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(d.LOGITS), b.asarray(d.ONE_HOT.astype(np.int32))),
            TypeError,
            "read as class probabilities, which must be floating point",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(d.LOGITS), b.asarray(d.SOFT), ignore_index=0),
            ValueError,
            "`ignore_index`=0 cannot be used with probability targets",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(d.LOGITS), b.asarray(d.LABELS[:5])),
            ValueError,
            r"expected \(8,\), received \(5,\)",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(d.LOGITS_3D), b.asarray(d.SOFT_3D[:, :, :2])),
            ValueError,
            "probability targets must have `input`'s shape",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(np.float32(1.0)), b.asarray(np.int64(0))),
            ValueError,
            "`input` must have a class dimension",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(d.LABELS), b.asarray(d.LABELS)),
            TypeError,
            "`input` must be a real floating-point array",
        ),
        (
            lambda b: tc.nll_loss(b.asarray(LOG_P), b.asarray(d.ONE_HOT)),
            TypeError,
            "`target` must hold integer class indices",
        ),
        (
            lambda b: tc.binary_cross_entropy(
                b.asarray(d.BINARY_PROBS), b.asarray(d.BINARY_TARGETS[:, 0])
            ),
            ValueError,
            r"`target` must have `input`'s shape \(8, 3\); received \(8,\)",
        ),
        (
            lambda b: tc.binary_cross_entropy_with_logits(
                b.asarray(d.BINARY_LOGITS),
                b.asarray(d.BINARY_TARGETS),
                pos_weight=b.asarray(WEIGHT),
            ),
            ValueError,
            r"`pos_weight` of shape \(5,\) does not broadcast",
        ),
        (
            lambda b: tc.binary_cross_entropy_with_logits(
                b.asarray(d.BINARY_LOGITS), b.asarray(d.BINARY_TARGETS), reduction="batchmean"
            ),
            ValueError,
            "`reduction`",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(NO_CLASSES), b.asarray(np.zeros(3, np.int64))),
            ValueError,
            r"`input` has no classes: its axis 1 \(the class axis\) has size 0",
        ),
        (
            lambda b: tc.cross_entropy(b.asarray(NO_CLASSES), b.asarray(NO_CLASSES)),
            ValueError,
            "`input` has no classes",
        ),
        (
            lambda b: tc.nll_loss(b.asarray(np.zeros(0, np.float32)), b.asarray(np.int64(0))),
            ValueError,
            r"`input` has no classes: its axis 0",
        ),
    ],
    ids=[
        "reduction-avg",
        "reduction-None",
        "smoothing-above-1",
        "smoothing-negative",
        "weight-shape",
        "float-indices",
        "integer-probabilities",
        "ignore-index-probabilities",
        "target-shape",
        "probability-shape",
        "scalar-input",
        "integer-input",
        "nll-probabilities",
        "bce-shape",
        "pos-weight-shape",
        "bce-logits-reduction",
        "no-classes-indices",
        "no-classes-probabilities",
        "no-classes-nll",
    ],
)
def test_bad_arguments(backend, call, error, match):
    with pytest.raises(error, match=match):
        call(backend)


def test_positional_reduction_is_refused():
    """torch's positional order has size_average/reduce after weight: keyword-only here."""
    with pytest.raises(TypeError):
        tc.cross_entropy(d.LOGITS, d.LABELS, None, -100)  # type: ignore[misc]


def test_importing_the_profile_imports_no_framework():
    code = (
        "import sys, xloss.compat.torch as tc, numpy as np; "
        "tc.cross_entropy(np.ones((2, 3)), [0, 1]); "
        "print([m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
