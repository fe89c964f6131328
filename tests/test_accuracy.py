"""Accuracy where a naive formula cancels or overflows, against exact references.

Each case has a closed-form answer computed in float64 (or exactly) here, and each backend must
come within a few ulps of it in the input's dtype, with native kernels and with the generic
bodies (``xloss.fast_paths(False)``), eagerly and compiled: a formula that subtracts two large
numbers to get a small one gives 0, or a value off in its first digits, long before the result
leaves the dtype's range.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest

import xloss
from xloss.compat import keras as compat_keras
from xloss.compat import optax as compat_optax
from xloss.compat import tensorflow as compat_tf
from xloss.compat import torch as compat_torch

ULPS = 4  # how far from the correctly rounded answer a result may be, in ulps of its dtype

# Confident predictions, right (x > 0 for z = 1, x < 0 for z = 0: the loss is log1p(exp(-|x|)),
# tiny) and wrong (the loss is about |x|), where the dtype still holds exp(-|x|).
CONFIDENT = {
    "float32": [5.0, 10.0, 17.0, 40.0, 80.0],
    "float64": [5.0, 17.0, 40.0, 80.0, 600.0],
}


def _binary_cases(dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(targets, logits, exact losses)``, shape ``(n, 1)``, ``(n, 1)`` and ``(n,)``."""
    rows = []
    for magnitude in CONFIDENT[dtype]:
        for x, z in [(magnitude, 1.0), (-magnitude, 0.0), (magnitude, 0.0), (-magnitude, 1.0)]:
            wrong = (x > 0) != (z == 1.0)
            rows.append((z, x, math.log1p(math.exp(-abs(x))) + (abs(x) if wrong else 0.0)))
    z, x, loss = (np.array(column, np.float64) for column in zip(*rows))
    return z[:, None].astype(dtype), x[:, None].astype(dtype), loss


def _close_in_ulps(result: np.ndarray, exact: np.ndarray, dtype: str) -> None:
    spacing = np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
    np.testing.assert_array_less(np.abs(result.astype(np.float64) - exact), ULPS * spacing)


def _modes(backend):
    yield "eager", lambda fn: fn
    if backend.name in ("jax", "tensorflow", "torch"):
        yield "compiled", lambda fn: backend.compile(fn)


BINARY = {
    "binary_crossentropy": lambda z, x: xloss.binary_crossentropy(z, x, from_logits=True),
    "BinaryCrossentropy-none": lambda z, x: xloss.BinaryCrossentropy(
        from_logits=True, reduction=None
    )(z, x),
    "binary_focal-gamma-0": lambda z, x: compat_keras.binary_focal_crossentropy(
        z, x, gamma=0.0, from_logits=True
    ),
    "torch-bce-with-logits": lambda z, x: compat_torch.binary_cross_entropy_with_logits(
        x, z, reduction="none"
    )[:, 0],
    "torch-bce-with-logits-pos-weight-1": lambda z, x: (
        compat_torch.binary_cross_entropy_with_logits(x, z, reduction="none", pos_weight=z * 0 + 1)[
            :, 0
        ]
    ),
    "tf-sigmoid": lambda z, x: compat_tf.sigmoid_cross_entropy_with_logits(labels=z, logits=x)[
        :, 0
    ],
    "tf-weighted-1": lambda z, x: compat_tf.weighted_cross_entropy_with_logits(z, x, 1.0)[:, 0],
    "optax-sigmoid": lambda z, x: compat_optax.sigmoid_binary_cross_entropy(x, z)[:, 0],
}


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "generic"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", BINARY)
def test_binary_from_logits_of_confident_predictions(backend, name, dtype, fast):
    """``softplus(x) - x z`` cancels for a confident right prediction (``x = 17``, ``z = 1``: 0
    where the loss is 4.1e-8); ``(max(x, 0) - x z) + log1p(exp(-|x|))`` is exact there."""
    z, x, exact = _binary_cases(dtype)
    for mode, compile_ in _modes(backend):
        wide = backend.x64() if dtype == "float64" else contextlib.nullcontext()
        with wide, xloss.fast_paths(fast):
            result = backend.to_numpy(
                compile_(BINARY[name])(backend.asarray(z), backend.asarray(x))
            )
        try:
            _close_in_ulps(result.reshape(-1), exact, dtype)
        except AssertionError as error:
            raise AssertionError(f"{mode}: {error}") from None


def _softmax_of_shifted(values: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(values / temperature) in long double, shifted before the division."""
    v = values.astype(np.longdouble)
    e = np.exp((v - v.max(axis=-1, keepdims=True)) / np.longdouble(temperature))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float64)


def _tiny_spread() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (1e4 * (1 + 1e-7 * rng.standard_normal((2, 50)))).astype(np.float32)


TOP_K_SOFTMAX = {  # (logits, k, temperature)
    "overflowing-division": (np.array([[1e30, 3e29, -1e30]], np.float32), 2, 1e-9),
    "largest-float": (np.array([[3e38, 1.0]], np.float32), 1, 0.5),
    "tiny-spread-cold": (_tiny_spread(), 5, 0.01),
    "hot": (_tiny_spread(), 5, 1e6),
}


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "generic"])
@pytest.mark.parametrize("case", TOP_K_SOFTMAX)
def test_top_k_softmax_with_extreme_temperatures(backend, case, fast):
    """``softmax(values / T)`` overflows (``nan``) for finite logits and a small ``T``, and
    rounds away the differences between large logits; shifted first, neither happens."""
    x, k, temperature = TOP_K_SOFTMAX[case]
    top = -np.sort(-x.astype(np.float64), axis=-1)[:, :k]
    exact = _softmax_of_shifted(top, temperature)
    for mode, compile_ in _modes(backend):
        with xloss.fast_paths(fast):
            fn = compile_(lambda logits: xloss.top_k_softmax(logits, k, temperature=temperature))
            probs, _ = fn(backend.asarray(x))
        try:
            _close_in_ulps(backend.to_numpy(probs), exact, "float32")
        except AssertionError as error:
            raise AssertionError(f"{mode}: {error}") from None


def test_sample_with_a_small_temperature_draws_the_largest_logit(backend):
    """``x / T`` overflows (``1e30 / 1e-9``: every token ``inf``, a tie drawn as the lowest
    index); shifted by the maximum first, the largest logit takes all the probability."""
    x = np.array([[1e30, 2e30, -5.0], [-5.0, 3e38, 3e38 * 0.999]], np.float32)
    drawn = backend.to_numpy(xloss.sample(backend.asarray(x), 0, temperature=1e-9, num_samples=16))
    np.testing.assert_array_equal(drawn, np.repeat([[1], [1]], 16, axis=1))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_top_k_softmax_of_a_row_of_minus_inf_is_nan_at_any_temperature(backend, temperature):
    """The shift before the temperature keeps ``softmax``'s rule for a row with nothing to
    normalise (only ``-inf``): ``nan``, not a uniform distribution."""
    x = np.array([[-np.inf] * 4, [0.0, 1.0, 2.0, 3.0]], np.float32)
    with np.errstate(invalid="ignore"):  # NumPy's warning for -inf - -inf, the nan made
        probs, _ = xloss.top_k_softmax(backend.asarray(x), 3, temperature=temperature)
    probs = backend.to_numpy(probs)
    assert np.isnan(probs[0]).all()
    np.testing.assert_allclose(
        probs[1], _softmax_of_shifted(np.array([3.0, 2.0, 1.0]), temperature), rtol=1e-6
    )
