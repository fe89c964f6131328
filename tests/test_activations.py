"""softmax, log_softmax, logsumexp, log_sigmoid on every backend, against float64 and natives."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from backends import FLOAT_DTYPES
from checks import assert_result, eps, finfo

import xloss

RNG = np.random.default_rng(0)
X3 = RNG.normal(scale=3.0, size=(4, 5, 6)).astype(np.float32)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
@pytest.mark.parametrize(
    ("fn", "oracle"),
    [
        (xloss.softmax, ref.softmax),
        (xloss.log_softmax, ref.log_softmax),
        (xloss.logsumexp, ref.logsumexp),
    ],
    ids=["softmax", "log_softmax", "logsumexp"],
)
def test_normalisers_any_axis(backend, fn, oracle, axis):
    assert_result(backend, fn(backend.asarray(X3), axis=axis), oracle(X3, axis))


# Half precision computed in float32 and rounded once lies between the float64 result's
# roundings after moving it by float32's error either way: 4 ulps of the result, and for
# log_softmax 4 ulps of 1 too (the log of a row sum near 1 is only as exact as that sum). The two
# are the float64 result rounded, except near the midpoint of two half-precision values.
FLOAT32_ERROR = 4 * eps("float32")


@pytest.mark.backends("numpy", "jax", "torch", "tensorflow")  # array-api-strict has no half
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize(
    ("fn", "oracle", "error"),
    [
        (xloss.softmax, ref.softmax, lambda p: FLOAT32_ERROR * p),
        (xloss.log_softmax, ref.log_softmax, lambda v: FLOAT32_ERROR * (1.0 - v)),
    ],
    ids=["softmax", "log_softmax"],
)
def test_half_precision_normalisers_round_once_any_axis(backend, fn, oracle, error, dtype, axis):
    """Half precision is computed in float32 and rounded once, along any axis (PyTorch's
    ``(N, C, T)`` layout too): each entry is the float64 result rounded to the dtype, or its
    neighbour where float32's error reaches the midpoint between the two."""
    if dtype not in FLOAT_DTYPES[backend.name]:
        pytest.skip(f"{backend.name} has no {dtype}")
    half = finfo(dtype).dtype
    x = (np.random.default_rng(4).standard_normal((8, 100, 3)) * 3.0).astype(half)
    out = fn(backend.asarray(x.astype(np.float32), dtype), axis=axis)
    assert out.dtype == backend.dtype_of(dtype)
    got = backend.to_numpy(out).astype(half)
    exact = oracle(x, axis)
    low, high = ((exact + s * error(exact)).astype(half) for s in (-1.0, 1.0))
    ok = (low <= got) & (got <= high)
    assert ok.all(), f"{np.count_nonzero(~ok)} of {ok.size} entries not rounded once"


def test_logsumexp_keepdims(backend):
    out = xloss.logsumexp(backend.asarray(X3), axis=1, keepdims=True)
    assert tuple(out.shape) == (4, 1, 6)
    assert_result(backend, out, ref.logsumexp(X3, 1, keepdims=True))


def test_log_sigmoid(backend):
    x = np.array([-1e4, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 1e4], np.float32)
    assert_result(backend, xloss.log_sigmoid(backend.asarray(x)), ref.log_sigmoid(x))


def test_extreme_logits_stay_finite(backend):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e38, 1e38, -1e38]], np.float32)
    b = backend.asarray(x)
    assert_result(backend, xloss.softmax(b), ref.softmax(x))
    assert_result(backend, xloss.log_softmax(b), ref.log_softmax(x))
    assert_result(backend, xloss.logsumexp(b), ref.logsumexp(x), rtol=1e-6)


def test_minus_inf_entries(backend):
    """-inf entries get probability 0; an all--inf row: logsumexp -inf, softmax nan."""
    inf = np.inf
    x = np.array([[0.0, -inf, 1.0], [-inf, -inf, -inf], [-inf, 2.0, -inf]], np.float32)
    b = backend.asarray(x)
    # NumPy-based backends report the log of the all--inf row's empty sum; the value is -inf.
    with np.errstate(divide="ignore", invalid="ignore"):
        lse = backend.to_numpy(xloss.logsumexp(b))
        sm = backend.to_numpy(xloss.softmax(b))
        ls = backend.to_numpy(xloss.log_softmax(b))
    np.testing.assert_allclose(lse[[0, 2]], ref.logsumexp(x)[[0, 2]], rtol=1e-6)
    assert lse[1] == -inf
    np.testing.assert_allclose(sm[[0, 2]], ref.softmax(x[[0, 2]]), rtol=1e-6, atol=1e-7)
    assert np.isnan(sm[1]).all()
    assert ls[0, 1] == -inf and ls[2, 0] == -inf and ls[2, 1] == 0.0
    assert np.isnan(ls[1]).all()


def test_plus_inf_and_nan_propagate(backend):
    x = np.array([[0.0, np.inf, 1.0], [0.0, np.nan, 1.0]], np.float32)
    lse = backend.to_numpy(xloss.logsumexp(backend.asarray(x)))
    assert lse[0] == np.inf and np.isnan(lse[1])


def test_matches_native_softmax(backend):
    """The framework's own softmax/log_softmax/logsumexp, where it has one."""
    b = backend.asarray(X3)
    name = backend.name
    if name == "torch":
        import torch

        natives = (torch.softmax(b, 1), torch.log_softmax(b, 1), torch.logsumexp(b, 1))
    elif name == "jax":
        import jax

        natives = (
            jax.nn.softmax(b, axis=1),
            jax.nn.log_softmax(b, axis=1),
            jax.nn.logsumexp(b, axis=1),
        )
    elif name == "tensorflow":
        import tensorflow as tf

        natives = (
            tf.nn.softmax(b, axis=1),
            tf.nn.log_softmax(b, axis=1),
            tf.reduce_logsumexp(b, axis=1),
        )
    else:
        import scipy.special

        natives = (
            scipy.special.softmax(X3, axis=1),
            scipy.special.log_softmax(X3, axis=1),
            scipy.special.logsumexp(X3, axis=1),
        )
        natives = tuple(backend.asarray(n) for n in natives)
    ours = (xloss.softmax(b, axis=1), xloss.log_softmax(b, axis=1), xloss.logsumexp(b, axis=1))
    for mine, theirs in zip(ours, natives):
        assert_result(backend, mine, backend.to_numpy(theirs).astype(np.float64))


def test_input_not_modified(backend):
    b = backend.asarray(X3)
    for fn in (xloss.softmax, xloss.log_softmax, xloss.logsumexp, xloss.log_sigmoid):
        fn(b)
    np.testing.assert_array_equal(backend.to_numpy(b), X3)


@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0], [1, 2, 3]], ids=["floats", "ints"])
def test_python_list_computes_with_numpy(values):
    out = xloss.softmax(values)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref.softmax([1.0, 2.0, 3.0]))
