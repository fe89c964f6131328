"""Every floating dtype each backend has, against float64 references of the same inputs.

float16 and bfloat16 are computed in float32. Activations round the result once to the caller's
dtype (tolerance: two of its ulps, see ``checks.tolerance``); losses return float32, since loss
values and their sums overflow float16.
"""

from __future__ import annotations

import contextlib
import importlib

import data as d
import numpy as np
import pytest
import reference as ref
from backends import FLOAT_DTYPES
from checks import assert_result

import xloss


def _rounded(backend, x: np.ndarray, dtype: str) -> np.ndarray:
    """The values the backend actually holds after casting ``x`` to ``dtype``."""
    return backend.to_numpy(backend.asarray(x, dtype)).astype(np.float64)


# name: (xloss call on backend b in dtype t, the floating input, float64 oracle of that input)
CALLS = {
    "softmax": (lambda b, t: xloss.softmax(b.asarray(d.LOGITS, t)), d.LOGITS, ref.softmax),
    "log_softmax": (
        lambda b, t: xloss.log_softmax(b.asarray(d.LOGITS, t)),
        d.LOGITS,
        ref.log_softmax,
    ),
    "logsumexp": (lambda b, t: xloss.logsumexp(b.asarray(d.LOGITS, t)), d.LOGITS, ref.logsumexp),
    "log_sigmoid": (
        lambda b, t: xloss.log_sigmoid(b.asarray(d.LOGITS, t)),
        d.LOGITS,
        ref.log_sigmoid,
    ),
    "categorical": (
        lambda b, t: xloss.categorical_crossentropy(
            b.asarray(d.ONE_HOT, t), b.asarray(d.LOGITS, t), from_logits=True
        ),
        d.LOGITS,
        lambda x: ref.categorical(d.ONE_HOT, x, from_logits=True),
    ),
    "sparse": (
        lambda b, t: xloss.sparse_categorical_crossentropy(
            b.asarray(d.LABELS), b.asarray(d.LOGITS, t), from_logits=True
        ),
        d.LOGITS,
        lambda x: ref.sparse_categorical(d.LABELS, x, from_logits=True),
    ),
    "binary": (
        lambda b, t: xloss.binary_crossentropy(
            b.asarray(d.BINARY_TARGETS, t), b.asarray(d.BINARY_LOGITS, t), from_logits=True
        ),
        d.BINARY_LOGITS,
        lambda x: ref.binary(d.BINARY_TARGETS, x, from_logits=True),
    ),
    "CategoricalCrossentropy": (
        lambda b, t: xloss.CategoricalCrossentropy()(
            b.asarray(d.ONE_HOT, t), b.asarray(d.PROBS, t)
        ),
        d.PROBS,
        lambda x: ref.reduce(ref.categorical(d.ONE_HOT, x)),
    ),
}


ACTIVATIONS = ("softmax", "log_softmax", "logsumexp", "log_sigmoid")


@pytest.mark.parametrize("call", CALLS)
def test_dtype_round_trip(backend_and_dtype, call):
    backend, dtype = backend_and_dtype
    ours, source, oracle = CALLS[call]
    with backend.x64() if dtype == "float64" else contextlib.nullcontext():
        out = ours(backend, dtype)
        expected = oracle(_rounded(backend, source, dtype))
    returned = dtype if call in ACTIVATIONS or dtype == "float64" else "float32"
    assert_result(backend, out, expected, returned)


def test_half_precision_extremes_stay_finite(backend):
    """+-60000 logits (near float16's largest) in the backend's narrowest float dtype."""
    dtype = FLOAT_DTYPES[backend.name][0]
    logits = np.array([[60000.0, -60000.0, 0.0], [-60000.0, -60000.0, 60000.0]], np.float32)
    targets = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]], np.float32)
    x, t = backend.asarray(logits, dtype), backend.asarray(targets, dtype)
    cases = [
        (
            xloss.sparse_categorical_crossentropy(backend.asarray([1, 2]), x, from_logits=True),
            ref.sparse_categorical([1, 2], logits, from_logits=True),
        ),
        (
            xloss.categorical_crossentropy(t, x, from_logits=True),
            ref.categorical(targets, logits, from_logits=True),
        ),
        (
            xloss.binary_crossentropy(t, x, from_logits=True),
            ref.binary(targets, logits, from_logits=True),
        ),
    ]
    for out, expected in cases:
        assert_result(backend, out, expected)  # float32 comes back, finite
    assert_result(backend, xloss.softmax(x), ref.softmax(logits), dtype)


# name: (xloss call on (targets, predictions), its float64 oracle, targets, predictions)
SOFT_TARGET_CALLS = {
    "binary_logits": (
        lambda z, x: xloss.binary_crossentropy(z, x, from_logits=True),
        lambda z, x: ref.binary(z, x, from_logits=True),
        d.BINARY_SOFT,
        d.BINARY_LOGITS,
    ),
    "binary_probs_smoothed": (
        lambda z, p: xloss.binary_crossentropy(z, p, label_smoothing=0.1),
        lambda z, p: ref.binary(z, p, label_smoothing=0.1, compute_dtype="float32"),
        d.BINARY_SOFT,
        d.BINARY_PROBS,
    ),
    "categorical_logits_smoothed": (
        lambda y, x: xloss.categorical_crossentropy(y, x, from_logits=True, label_smoothing=0.1),
        lambda y, x: ref.categorical(y, x, from_logits=True, label_smoothing=0.1),
        d.SOFT,
        d.LOGITS,
    ),
    "categorical_probs": (
        xloss.categorical_crossentropy,
        lambda y, p: ref.categorical(y, p, compute_dtype="float32"),
        d.SOFT,
        d.PROBS,
    ),
}


@pytest.mark.parametrize("call", SOFT_TARGET_CALLS)
def test_half_precision_targets_are_computed_in_float32(backend_and_dtype, call, monkeypatch):
    """Soft targets in the predictions' dtype: the loss is that of their values, computed in
    float32 (as the float64 reference of the rounded inputs, to float32's tolerance), however
    the backend fuses their conversion (JAX converts large half-precision targets inside
    ``jit``, PyTorch's kernels themselves: forced here for any size)."""
    backend, dtype = backend_and_dtype
    if backend.name in ("jax", "torch"):
        adapter = importlib.import_module(f"xloss.adapters.{backend.name}")
        monkeypatch.setattr(adapter, "HALF_TARGETS_FROM", 0)
    ours, oracle, targets, predictions = SOFT_TARGET_CALLS[call]
    with backend.x64() if dtype == "float64" else contextlib.nullcontext():
        out = ours(backend.asarray(targets, dtype), backend.asarray(predictions, dtype))
        expected = oracle(_rounded(backend, targets, dtype), _rounded(backend, predictions, dtype))
    assert_result(backend, out, expected, "float64" if dtype == "float64" else "float32")


def test_python_floats_are_not_rounded_to_float32_on_the_way(backend):
    """Python lists of targets and weights with float64 predictions are computed from their
    float64 values: torch and TensorFlow make float32 arrays of Python floats by default, and
    a list rounded through one lost digits past the eighth (3e-8 relative) in every loss
    class, function and profile that took one (`compat.torch`'s and `compat.optax`'s too)."""
    rng = np.random.default_rng(7)
    soft = rng.dirichlet(np.ones(d.C), size=d.N)  # float64 values float32 cannot hold
    binary, weights = rng.uniform(size=(d.N, 3)), rng.uniform(size=d.N)
    with backend.x64():
        x, z = backend.asarray(d.LOGITS, "float64"), backend.asarray(d.BINARY_LOGITS, "float64")
        held, held_z = _rounded(backend, d.LOGITS, "float64"), d.BINARY_LOGITS.astype(np.float64)
        per_sample = ref.categorical(soft, held, from_logits=True)
        loss = xloss.categorical_crossentropy(soft.tolist(), x, from_logits=True)
        assert_result(backend, loss, per_sample, "float64")
        weighted = xloss.CategoricalCrossentropy(from_logits=True, reduction="sum")
        got = weighted(soft.tolist(), x, sample_weight=weights.tolist())
        assert_result(backend, got, np.sum(weights * per_sample), "float64")
        binary_loss = xloss.binary_crossentropy(binary.tolist(), z, from_logits=True)
        assert_result(backend, binary_loss, ref.binary(binary, held_z, from_logits=True), "float64")
        keras = importlib.import_module("xloss.compat.keras")
        profile = keras.CategoricalCrossentropy(from_logits=True, dtype="float64")
        assert_result(backend, profile(soft.tolist(), x), np.mean(per_sample), "float64")
        torch_profile = importlib.import_module("xloss.compat.torch")
        got = torch_profile.cross_entropy(x, soft.tolist(), reduction="none")
        assert_result(backend, got, per_sample, "float64")
        optax_profile = importlib.import_module("xloss.compat.optax")
        assert_result(
            backend, optax_profile.softmax_cross_entropy(x, soft.tolist()), per_sample, "float64"
        )
