"""Native kernels against the generic Array-API bodies they stand in for.

Every backend runs each public computation twice: as it ships (with the backend's kernel:
``F.cross_entropy``, ``tf.nn.softmax``, NumPy's ``logaddexp``, the body under ``jax.jit``, ...)
and with ``xloss.fast_paths(False)`` (the generic body). Values must agree to a few ulp, with
nan and inf in the same places, on random and edge-case inputs; gradients must agree too.
"""

from __future__ import annotations

import functools
import importlib
import itertools
import os
import platform
import re
import subprocess
import sys
import warnings

import data as d
import numpy as np
import pytest
import reference as ref
from backends import FLOAT_DTYPES
from checks import finfo, grad_of, need, tolerance

import xloss

RNG = np.random.default_rng(7)
INF = np.inf
TOL = tolerance("float32")
AUTODIFF = pytest.mark.backends("jax", "torch", "tensorflow")


def _logits(shape, scale=3.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def _masked():
    """-inf masks in some rows, an all -inf row, and +-1e4 logits."""
    x = _logits((6, 7))
    x[0, [1, 4]] = -INF
    x[1] = -INF
    x[2, 0], x[2, 3] = 1e4, -1e4
    x[3, :] = [-1e4, 1e4, 0, 0, 1e4, -1e4, 3]
    return x


def _soft_targets(shape, zero_at=None):
    y = RNG.random(shape).astype(np.float32)
    if zero_at is not None:
        y[zero_at] = 0.0
    return y / y.sum(-1, keepdims=True)


def _both(fn, *arrays):
    """``(with kernels, generic)`` results of ``fn`` as NumPy arrays."""
    fast = fn(*arrays)
    with xloss.fast_paths(False):
        generic = fn(*arrays)
    return fast, generic


def assert_agree(backend, fn, *arrays, tol=TOL):
    with np.errstate(all="ignore"):
        fast, generic = (backend.to_numpy(r) for r in _both(fn, *arrays))
    assert_same(fast, generic, tol)


def assert_same(fast, generic, tol=TOL):
    """Two NumPy results alike: dtype, shape, nan and +-inf places, finite values within tol."""
    assert fast.dtype == generic.dtype and fast.shape == generic.shape
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(generic))
    np.testing.assert_array_equal(np.isposinf(fast), np.isposinf(generic))
    np.testing.assert_array_equal(np.isneginf(fast), np.isneginf(generic))
    finite = np.isfinite(generic)
    np.testing.assert_allclose(fast[finite], generic[finite], rtol=tol, atol=tol)


def _on(backend, *arrays):
    return [backend.asarray(a) for a in arrays]


ACTIVATIONS = {
    "softmax": lambda x, axis: xloss.softmax(x, axis=axis),
    "log_softmax": lambda x, axis: xloss.log_softmax(x, axis=axis),
    "logsumexp": lambda x, axis: xloss.logsumexp(x, axis=axis),
    "logsumexp_keepdims": lambda x, axis: xloss.logsumexp(x, axis=axis, keepdims=True),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("axis", [-1, 0])
def test_activations_agree(backend, name, axis):
    fn = ACTIVATIONS[name]
    for x in (_logits((5, 9)), _masked(), _logits((3, 4, 5))):
        assert_agree(backend, lambda a, fn=fn: fn(a, axis), *_on(backend, x))


def _non_finite():
    """Rows holding +inf (once, twice), nan, only -inf, and a finite row."""
    x = _logits((5, 6))
    x[0, 2] = INF
    x[1, [0, 3]] = INF
    x[2, 4] = np.nan
    x[3] = -INF
    return x


def _activation_of(fn, x, on):
    return fn(x, -1)


_SOFT = _soft_targets((5, 6))
_BITS = (np.arange(30).reshape(5, 6) % 2).astype(np.float32)
_SOFT7 = _soft_targets((6, 7))  # for _masked()
_BITS7 = (np.arange(42).reshape(6, 7) % 3 == 0).astype(np.float32)
NON_FINITE = {
    **{name: functools.partial(_activation_of, fn) for name, fn in ACTIVATIONS.items()},
    "sparse": lambda x, on: xloss.sparse_categorical_crossentropy(
        on(np.array([1, 0, 2, 5, 3])), x, from_logits=True
    ),
    "categorical": lambda x, on: xloss.categorical_crossentropy(on(_SOFT), x, from_logits=True),
    "binary": lambda x, on: xloss.binary_crossentropy(on(_BITS), x, from_logits=True),
}


@pytest.mark.parametrize("name", sorted(NON_FINITE))
def test_non_finite_logits_agree(backend, name):
    """A row holding +inf or nan is nan throughout in softmax, log_softmax and the losses from
    logits (as PyTorch's, JAX's and TensorFlow's log_softmax give); logsumexp keeps +inf.
    The one exception, documented: TensorFlow's softmax kernel leaves the finite entries of
    such a row at 0 on some CPUs (and gives nan throughout on others: an AMD EPYC)."""
    x = _non_finite()
    fn = NON_FINITE[name]

    def call(a):
        return fn(backend.asarray(a), backend.asarray)

    if backend.name == "tensorflow" and name == "softmax":
        with np.errstate(all="ignore"):
            fast, generic = (backend.to_numpy(r) for r in _both(call, x))
        bad_rows = ~np.isfinite(x[:3]).all(axis=-1)
        assert bad_rows.all() and np.isnan(generic[:4]).all()
        if not np.isnan(fast[:3]).all():  # the kernel's way on some CPUs
            np.testing.assert_array_equal(np.isnan(fast[:3]), ~np.isfinite(x[:3]))
            np.testing.assert_array_equal(fast[:3][np.isfinite(x[:3])], 0.0)
        np.testing.assert_allclose(fast[3:], generic[3:], rtol=TOL, atol=TOL, equal_nan=True)
        return
    assert_agree(backend, call, x)
    with np.errstate(all="ignore"):
        out = backend.to_numpy(call(x))
    if name in ("softmax", "log_softmax"):
        assert np.isnan(out[:4]).all() and np.isfinite(out[4]).all()
    elif name.startswith("logsumexp"):
        np.testing.assert_array_equal(out.ravel()[:4], [INF, INF, np.nan, -INF])
    elif name in ("sparse", "categorical"):
        assert np.isnan(out[:4]).all() and np.isfinite(out[4])


@pytest.mark.parametrize("ignore_class", [None, -100, 2])
def test_sparse_from_logits_agrees(backend, ignore_class):
    x = _masked()
    labels = np.array([0, 2, 1, 4, 2, 6])  # label 1 of row 0 and row 1's labels hit -inf
    if ignore_class == -100:
        labels[5] = -100

    def fn(y, p):
        return xloss.sparse_categorical_crossentropy(
            y, p, from_logits=True, ignore_class=ignore_class
        )

    assert_agree(backend, fn, *_on(backend, labels, x))
    loss = xloss.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore_class)
    assert_agree(backend, loss, *_on(backend, labels, x))


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_sparse_any_class_axis_agrees(backend, axis):
    x = _logits((4, 6, 5))
    shape = list(x.shape)
    num_classes = shape.pop(axis)
    labels = RNG.integers(0, num_classes, shape)

    def fn(y, p):
        return xloss.sparse_categorical_crossentropy(y, p, from_logits=True, axis=axis)

    assert_agree(backend, fn, *_on(backend, labels, x))


def test_sparse_unbatched_and_float64_agree(backend):
    x = _logits((9,))
    assert_agree(
        backend,
        lambda y, p: xloss.sparse_categorical_crossentropy(y, p, from_logits=True),
        *_on(backend, np.array(3), x),
    )
    with backend.x64():
        x64 = _logits((4, 6)).astype(np.float64)
        labels = np.array([0, 5, 2, 1])
        assert_agree(
            backend,
            lambda y, p: xloss.sparse_categorical_crossentropy(y, p, from_logits=True),
            *_on(backend, labels, x64),
            tol=tolerance("float64"),
        )


def test_sparse_unchecked_labels_agree(backend, monkeypatch):
    """With value checks off (as under tracing), out-of-range labels give nan on both paths:
    on TensorFlow, in the native op (small inputs; it gets label 0 there) and the gather form.
    From logits and from probabilities."""
    x = _logits((5, 4))
    labels = np.array([0, 7, -1, 3, -100])
    for size in ("small", "large") if backend.name == "tensorflow" else ("any",):
        if size == "large":  # forced
            module = importlib.import_module("xloss.adapters._tensorflow_kernels")
            monkeypatch.setattr(module, "SMALL", 0)
        with xloss.value_checks(False):
            for ignore_class, logits in itertools.product((None, -100, 3), (True, False)):

                def fn(y, p, ic=ignore_class, logits=logits):
                    return xloss.sparse_categorical_crossentropy(
                        y, p, from_logits=logits, ignore_class=ic
                    )

                values = x if logits else _probabilities()[:5, :4]
                assert_agree(backend, fn, *_on(backend, labels, values))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_categorical_from_logits_agrees(backend, smoothing):
    x = _masked()
    y = _soft_targets(x.shape, zero_at=(slice(0, 3), [1, 4]))
    y[1] = 0.0  # the all--inf row with zero targets
    y[5] = [0, 0, 1, 0, 0, 0, 0]

    def fn(t, p):
        return xloss.categorical_crossentropy(t, p, from_logits=True, label_smoothing=smoothing)

    assert_agree(backend, fn, *_on(backend, y, x))
    y_inf = y.copy()
    y_inf[0] = 1 / 7  # a positive target on a -inf logit: +inf
    assert_agree(backend, fn, *_on(backend, y_inf, x))


@pytest.mark.parametrize("axis", [1, 0])
def test_categorical_any_class_axis_agrees(backend, axis):
    x = _logits((3, 5, 4))
    y = np.moveaxis(_soft_targets(np.moveaxis(x, axis, -1).shape), -1, axis)

    def fn(t, p):
        return xloss.categorical_crossentropy(t, p, from_logits=True, axis=axis)

    assert_agree(backend, fn, *_on(backend, np.ascontiguousarray(y), x))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_binary_from_logits_agrees(backend, smoothing):
    x = _logits((6, 5))
    x[0] = [0.0, -0.0, 1e4, -1e4, 30.0]
    z = (RNG.random(x.shape) < 0.5).astype(np.float32)
    z[1] = 0.3  # soft targets

    def fn(t, p):
        return xloss.binary_crossentropy(t, p, from_logits=True, label_smoothing=smoothing)

    assert_agree(backend, fn, *_on(backend, z, x))
    assert_agree(backend, xloss.BinaryCrossentropy(from_logits=True), *_on(backend, z, x))


# --- gradients ------------------------------------------------------------------------------


def _grad_both(backend, fn, *arrays, wrt=0):
    fast = grad_of(backend, fn, *arrays, wrt=wrt)
    with xloss.fast_paths(False):
        generic = grad_of(backend, fn, *arrays, wrt=wrt)
    return fast, generic


GRADIENT_CASES = {
    "softmax": lambda x, y, z, labels: xloss.softmax(x) * y,
    "log_softmax": lambda x, y, z, labels: xloss.log_softmax(x) * y,
    "logsumexp": lambda x, y, z, labels: xloss.logsumexp(x),
    "sparse": lambda x, y, z, labels: xloss.sparse_categorical_crossentropy(
        labels, x, from_logits=True
    ),
    "sparse_ignore": lambda x, y, z, labels: xloss.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=0
    )(labels, x),
    "categorical": lambda x, y, z, labels: xloss.categorical_crossentropy(y, x, from_logits=True),
    "binary": lambda x, y, z, labels: xloss.binary_crossentropy(z, x, from_logits=True),
    # from probabilities: softmax(x) * 0.9, unnormalised
    "sparse_probs": lambda x, y, z, labels: xloss.sparse_categorical_crossentropy(
        labels, _positive(x)
    ),
    "categorical_probs": lambda x, y, z, labels: xloss.categorical_crossentropy(y, _positive(x)),
    "binary_probs": lambda x, y, z, labels: xloss.binary_crossentropy(z, _positive(x)),
}


def _positive(x):
    """Unnormalised probabilities from logits, differentiable: rows sum to 0.9."""
    return xloss.softmax(x) * 0.9


@AUTODIFF
@pytest.mark.parametrize("case", sorted(GRADIENT_CASES))
def test_gradients_agree(backend, case):
    x = _logits((6, 5))
    x[0, 0] = 0.0  # the binary loss's kink point
    y = _soft_targets(x.shape)
    z = (RNG.random(x.shape) < 0.5).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 4, 0])
    fn = GRADIENT_CASES[case]
    fast, generic = _grad_both(backend, lambda p: fn(p, *_on(backend, y, z, labels)), x)
    np.testing.assert_allclose(fast, generic, rtol=TOL, atol=TOL)


@AUTODIFF
def test_masked_gradients_agree(backend):
    """-inf masked classes: exactly zero gradient on both paths."""
    x = _logits((4, 6))
    x[:, [1, 3]] = -INF
    labels = np.array([0, 2, 4, 5])
    fn = GRADIENT_CASES["sparse"]
    fast, generic = _grad_both(backend, lambda p: fn(p, None, None, backend.asarray(labels)), x)
    np.testing.assert_array_equal(fast[:, [1, 3]], 0.0)
    np.testing.assert_allclose(fast, generic, rtol=TOL, atol=TOL)


@AUTODIFF
@pytest.mark.parametrize("wrt", [0, 1], ids=["logits", "targets"])
@pytest.mark.parametrize("rows", [4, 260], ids=["small", "large"])
def test_categorical_masked_gradients_agree(backend, wrt, rows):
    """-inf masked classes with zero targets: the loss is finite, and its gradients for the
    logits and for the targets are 0 there (not nan: 0 * -inf), on both paths. Large: above
    the size where JAX's kernel takes its fused form (`FUSED_TERMS_FROM`)."""
    x = _logits((rows, 256))
    x[:, [1, 3]] = -INF
    y = _soft_targets(x.shape, zero_at=(slice(None), [1, 3]))

    def fn(logits, targets):
        return xloss.categorical_crossentropy(targets, logits, from_logits=True)

    fast, generic = _grad_both(backend, fn, x, y, wrt=wrt)
    np.testing.assert_array_equal(fast[:, [1, 3]], 0.0)
    np.testing.assert_allclose(fast, generic, rtol=TOL, atol=TOL)


def _grad_at(backend, fn, x):
    """d sum(fn(x)) / dx for the backend array ``x`` (any dtype), by the backend's autodiff,
    as float32 NumPy."""
    if backend.name == "torch":
        x = x.detach().clone().requires_grad_(True)
        fn(x).float().sum().backward()
        grad = x.grad
    elif backend.name == "jax":
        jax, jnp = importlib.import_module("jax"), backend.module
        grad = jax.grad(lambda a: jnp.sum(fn(a).astype(jnp.float32)))(x)
    else:
        tf = backend.module
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(tf.cast(fn(x), tf.float32))
        grad = tape.gradient(total, x)
    assert grad.dtype == x.dtype
    return backend.to_numpy(grad).astype(np.float32)


HALF_GRADIENT_CASES = {
    # (fn(x, weights in x's dtype, labels, soft targets, binary targets), x holds probabilities)
    "softmax": (lambda x, w, lab, y, z: xloss.softmax(x) * w, False),
    "log_softmax": (lambda x, w, lab, y, z: xloss.log_softmax(x) * w, False),
    "logsumexp": (lambda x, w, lab, y, z: xloss.logsumexp(x), False),
    "sparse": (
        lambda x, w, lab, y, z: xloss.sparse_categorical_crossentropy(lab, x, from_logits=True),
        False,
    ),
    "categorical": (
        lambda x, w, lab, y, z: xloss.categorical_crossentropy(y, x, from_logits=True),
        False,
    ),
    "binary": (lambda x, w, lab, y, z: xloss.binary_crossentropy(z, x, from_logits=True), False),
    "sparse_probs": (lambda x, w, lab, y, z: xloss.sparse_categorical_crossentropy(lab, x), True),
    "categorical_probs": (lambda x, w, lab, y, z: xloss.categorical_crossentropy(y, x), True),
    "binary_probs": (lambda x, w, lab, y, z: xloss.binary_crossentropy(z, x), True),
    "log_sigmoid": (lambda x, w, lab, y, z: xloss.log_sigmoid(x) * w, False),
    "top_k": (lambda x, w, lab, y, z: xloss.top_k(x, 3).values * w[..., :3], False),
    "top_k_softmax": (lambda x, w, lab, y, z: xloss.top_k_softmax(x, 3)[0] * w[..., :3], False),
    "sparse_class": (
        lambda x, w, lab, y, z: xloss.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=0
        )(lab, x),
        False,
    ),
    # x as the targets, of float32 predictions (y: rows of probabilities)
    "categorical_targets": (lambda x, w, lab, y, z: xloss.categorical_crossentropy(x, y), True),
    "categorical_targets_logits": (
        lambda x, w, lab, y, z: xloss.categorical_crossentropy(x, y * 3.0, from_logits=True),
        True,
    ),
    "binary_targets": (lambda x, w, lab, y, z: xloss.binary_crossentropy(x, y), True),
}


@AUTODIFF
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(6, 5), (300, 256)], ids=["small", "large"])
@pytest.mark.parametrize("case", sorted(HALF_GRADIENT_CASES))
def test_half_precision_gradients_are_the_float32_ones(backend, case, shape, dtype):
    """Half precision is computed in float32: the gradient for a half-precision input is the
    gradient of the same call on it widened to float32, rounded to half precision once (up to
    an ulp of the largest term where kernels add their terms in half precision). A gather
    that reads 16-bit floats through their bits (JAX's) had no gradient: 0 for the picked
    probability. Large: past the sizes where kernels switch forms. With respect to
    half-precision targets too (of float32 predictions)."""
    fn, probabilities = HALF_GRADIENT_CASES[case]
    x = _logits(shape, scale=1.0 if probabilities else 3.0)  # float16 gradients < 65504
    if probabilities:
        x = (np.exp(x) / np.exp(x).sum(-1, keepdims=True) * 0.9).astype(np.float32)
    half = backend.asarray(x, dtype)
    weights = backend.asarray(RNG.standard_normal(shape), dtype)
    labels = backend.asarray(RNG.integers(0, shape[-1], shape[0]))
    y = backend.asarray(_soft_targets(shape))
    z = backend.asarray((RNG.random(shape) < 0.5).astype(np.float32))
    got = _grad_at(backend, lambda a: fn(a, weights, labels, y, z), half)
    wide = backend.cast(weights, "float32")
    want = _grad_at(backend, lambda a: fn(backend.cast(a, "float32"), wide, labels, y, z), half)
    eps = float(np.finfo(np.float16).eps) if dtype == "float16" else 2.0**-7
    assert np.abs(want).max() > 0
    np.testing.assert_allclose(got, want, rtol=eps, atol=eps * np.abs(want).max())


def _jvp_at(backend, fn, x, v, compiled=False):
    """The forward-mode derivative of ``fn`` at ``x`` along ``v`` (backend arrays, any dtype),
    by the backend's forward mode (``compiled``: inside the backend's compiler), as float32
    NumPy."""
    if backend.name == "torch":
        torch = backend.module
        jvp = lambda a, t: torch.func.jvp(fn, (a,), (t,))[1]  # noqa: E731
    elif backend.name == "jax":
        jax = importlib.import_module("jax")
        jvp = lambda a, t: jax.jvp(fn, (a,), (t,))[1]  # noqa: E731
    else:
        tf = backend.module

        def jvp(a, t):
            with tf.autodiff.ForwardAccumulator(a, t) as accumulator:
                y = fn(a)
            return accumulator.jvp(y)

    out = (backend.compile(jvp) if compiled else jvp)(x, v)
    assert out.dtype == x.dtype
    return backend.to_numpy(out).astype(np.float32)


@AUTODIFF
@pytest.mark.parametrize("mode", ["reverse", "forward", "forward-compiled"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(6, 5), (300, 256)], ids=["small", "large"])
@pytest.mark.parametrize("fn", [xloss.softmax, xloss.log_softmax], ids=["softmax", "log_softmax"])
def test_half_precision_activation_derivatives_cancel_as_float32(backend, fn, shape, dtype, mode):
    """The derivatives of softmax, ``p (v - sum(v p))``, cancel where the cotangent or tangent
    ``v`` has a large common part: from float32 and rounded once they are within an ulp of
    their own size; computed from the rounded half-precision output (torch's bfloat16
    backward, TensorFlow's bfloat16 JVP) they were 1.8% and 29% off."""
    x = backend.asarray(_logits(shape), dtype)
    v = backend.asarray(10.0 + 0.1 * RNG.standard_normal(shape), dtype)
    wide = backend.cast(v, "float32")
    if mode == "reverse":
        got = _grad_at(backend, lambda a: fn(a) * v, x)
        want = _grad_at(backend, lambda a: fn(backend.cast(a, "float32")) * wide, x)
    else:
        compiled = mode == "forward-compiled"
        got = _jvp_at(backend, fn, x, v, compiled)
        to_half = lambda a: backend.cast(fn(backend.cast(a, "float32")), dtype)  # noqa: E731
        want = _jvp_at(backend, to_half, x, v, compiled)
    eps = float(np.finfo(np.float16).eps) if dtype == "float16" else 2.0**-7
    np.testing.assert_allclose(got, want, rtol=eps, atol=eps * np.abs(want).max())


def test_categorical_large_agrees(backend):
    """Above the size where JAX's kernel takes its fused form: -inf masks with zero targets,
    an all -inf row, a row holding +inf."""
    x = _logits((300, 256))
    x[0, :10] = -INF
    x[1] = -INF
    x[2, 5] = INF
    y = _soft_targets(x.shape, zero_at=(slice(0, 3), slice(0, 10)))
    fn = functools.partial(xloss.categorical_crossentropy, from_logits=True)
    assert_agree(backend, fn, *_on(backend, y, x))


def test_sparse_large_agrees(backend):
    """Above the size where a backend switches kernels (TensorFlow's native op is for small
    inputs; its gather form for large ones)."""
    x = _logits((300, 256))
    x[0, :10] = -INF
    labels = RNG.integers(0, 256, 300)

    def fn(y, p):
        return xloss.sparse_categorical_crossentropy(y, p, from_logits=True)

    assert_agree(backend, fn, *_on(backend, labels, x))


def _probabilities():
    p = RNG.random((6, 5)).astype(np.float32)
    p /= p.sum(-1, keepdims=True)
    p[0] = [0.0, 1.0, 0.0, 0.0, 0.0]  # exact 0 and 1
    p[1] = 0.0  # an all-zero row: the capped loss, not 0/0
    p[2] *= 0.5  # unnormalised
    return p


@pytest.mark.parametrize("ignore_class", [None, 4])
def test_sparse_from_probabilities_agrees(backend, ignore_class):
    labels = np.array([0, 2, 1, 4, 3, 4])

    def fn(y, p):
        return xloss.sparse_categorical_crossentropy(y, p, ignore_class=ignore_class)

    assert_agree(backend, fn, *_on(backend, labels, _probabilities()))
    assert_agree(backend, fn, *_on(backend, np.array(2), _probabilities()[3]))  # unbatched

    def classes_first(y, p):
        return xloss.sparse_categorical_crossentropy(y, p, ignore_class=ignore_class, axis=0)

    assert_agree(backend, classes_first, *_on(backend, labels, _probabilities().T))
    p_nan = _probabilities()
    p_nan[3, 0] = np.nan  # not the label's entry: nan through the row total
    p_nan[4, 3] = np.nan  # the label's entry
    assert_agree(backend, fn, *_on(backend, labels, p_nan))


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_tensorflow_sparse_logits_by_slices(backend, monkeypatch, dtype):
    """TensorFlow's large sparse loss from logits takes the maximum and the sum of exponentials
    by slices of rows where its allocator gives each array fresh pages (slices of 2 rows and a
    large path forced here): the generic body's losses, 2-D and 3-D, with masked, all -inf,
    +-1e4 and nan rows, ignored and (traced) out-of-range labels, eagerly and traced."""
    import tensorflow as tf

    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    monkeypatch.setattr(module, "SMALL", 0)
    monkeypatch.setattr(module, "SLICE_BYTES", 2 * 7 * max(np.dtype(dtype).itemsize, 4))
    monkeypatch.setattr(module, "_fresh_pages", lambda: True)
    x = _masked()
    x[4, 2] = np.nan
    labels = np.array([0, 3, 2, 4, 6, 5])
    for ignore_class in (None, 6):

        def fn(y, p, ic=ignore_class):
            return xloss.sparse_categorical_crossentropy(y, p, from_logits=True, ignore_class=ic)

        for y, q in [(labels, x), (labels.reshape(2, 3), x.reshape(2, 3, 7))]:
            y, q = backend.asarray(y), backend.asarray(q, dtype)
            assert_agree(backend, fn, y, q, tol=tolerance(dtype))
            wrong = tf.tensor_scatter_nd_update(y if y.shape.rank == 1 else tf.reshape(y, [-1]),
                                                [[1]], tf.constant([9], y.dtype))  # fmt: skip
            wrong = tf.reshape(wrong, y.shape)
            with np.errstate(all="ignore"):
                traced = backend.to_numpy(tf.function(fn)(wrong, q))
                with xloss.fast_paths(False):
                    generic = backend.to_numpy(tf.function(fn)(wrong, q))
            assert_same(traced, generic, tolerance(dtype))


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("ignore_class", [None, 4])
def test_tensorflow_half_row_totals_by_slices(backend, monkeypatch, dtype, ignore_class):
    """TensorFlow's sparse loss from half-precision probabilities sums the rows in float32 by
    slices of rows where its allocator gives each array fresh pages (`_fresh_pages`; slices
    of 2 rows forced here), else whole: the generic body's losses either way, 2-D and 3-D,
    eagerly and traced; under a tape (converted whole) its gradients too, bit for bit."""
    import tensorflow as tf

    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    monkeypatch.setattr(module, "SLICE_BYTES", 2 * 5 * 4)
    labels = np.array([0, 2, 1, 4, 3, 4])
    p = _probabilities()
    p[3, 0], p[4, 3] = np.nan, np.nan

    def fn(y, q):
        return xloss.sparse_categorical_crossentropy(y, q, ignore_class=ignore_class)

    for fresh_pages in (True, False):
        monkeypatch.setattr(module, "_fresh_pages", lambda: fresh_pages)  # noqa: B023
        for y, q in [(labels, p), (labels.reshape(2, 3), p.reshape(2, 3, 5))]:
            y, q = backend.asarray(y), backend.asarray(q, dtype)
            assert_agree(backend, fn, y, q)
            with np.errstate(all="ignore"):
                traced = backend.to_numpy(tf.function(fn)(y, q))
                with xloss.fast_paths(False):
                    assert_same(traced, backend.to_numpy(fn(y, q)))
            gradients = []
            for fast in (True, False):
                with xloss.fast_paths(fast), tf.GradientTape() as tape:
                    tape.watch(q)
                    total = tf.reduce_sum(fn(y, q))
                gradients.append(backend.to_numpy(tape.gradient(total, q)))
            np.testing.assert_array_equal(*gradients)


def test_categorical_from_probabilities_agrees(backend):
    y = _soft_targets((6, 5), zero_at=(slice(0, 2), [0, 2]))
    p = _probabilities()
    assert_agree(backend, xloss.categorical_crossentropy, *_on(backend, y, p))
    y_inf = y.copy()
    y_inf[0, 0] = np.nan  # a nan target; and below, nan probabilities
    p_nan = p.copy()
    p_nan[3, 1] = np.nan
    assert_agree(backend, xloss.categorical_crossentropy, *_on(backend, y_inf, p_nan))
    fn = functools.partial(xloss.categorical_crossentropy, axis=0)
    assert_agree(backend, fn, *_on(backend, np.ascontiguousarray(y.T), np.ascontiguousarray(p.T)))


def test_binary_from_probabilities_agrees(backend):
    z = (RNG.random((6, 5)) < 0.5).astype(np.float32)
    z[3] = [0.3, 0.0, 1.0, 0.5, 0.9]
    assert_agree(backend, xloss.binary_crossentropy, *_on(backend, z, _probabilities()))


@pytest.mark.backends("numpy")
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_numpy_losses_from_probabilities_bit_for_bit(backend, dtype):
    """NumPy's kernels for the losses from probabilities do the generic body's operations in
    its order, in fewer buffers: the same bits, nan included, along either axis."""
    p = _probabilities()
    p[3, 1] = np.nan
    y = _soft_targets((6, 5), zero_at=(slice(0, 2), [0, 2]))
    y[4, 0] = np.nan
    z = (RNG.random((6, 5)) < 0.5).astype(np.float32)
    z[5] = [0.3, 0.0, 1.0, 0.5, 0.9]
    for fn, targets in ((xloss.categorical_crossentropy, y), (xloss.binary_crossentropy, z)):
        for axis in (-1, 0):
            arrays = [backend.asarray(a, dtype) for a in (targets, p)]
            with np.errstate(all="ignore"):
                fast, generic = _both(functools.partial(fn, axis=axis), *arrays)
            assert fast.dtype == generic.dtype
            np.testing.assert_array_equal(fast, generic)


@pytest.mark.backends("numpy")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("shape", "axis"), [((8, 10), 1), ((8, 10), 0), ((10,), 0), ((3, 4, 5), 1), ((4, 70001), 1)]
)
def test_numpy_kernels_mean_is_np_mean(backend, dtype, shape, axis):
    """The binary kernels' mean is ``np.mean``'s, bit for bit and type for type (a NumPy
    scalar for a 1-D input); an empty axis is ``np.mean``'s own nan and warning."""
    from xloss.adapters._numpy_kernels import _mean

    a = (RNG.standard_normal(shape) * 37.0).astype(dtype)
    expected, got = np.mean(a, axis=axis), _mean(np, a.copy(), axis)
    assert type(got) is type(expected) and got.dtype == expected.dtype
    assert np.asarray(got).tobytes() == np.asarray(expected).tobytes()
    messages = []
    for mean in (np.mean, functools.partial(_mean, np)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            empty = mean(np.zeros((3, 0), dtype), 1)
        assert empty.shape == (3,) and np.isnan(empty).all()
        messages.append([str(w.message) for w in caught])
    assert messages[0] == messages[1] and "Mean of empty slice" in messages[0][0]


@pytest.mark.backends("numpy", "jax", "torch", "tensorflow")  # array-api-strict has no half
def test_half_precision_agrees(backend):
    """Half precision reaches some kernels as is (they upcast inside): same answers."""
    for dtype in ("float16", "bfloat16"):
        if dtype in FLOAT_DTYPES[backend.name]:
            _half_precision_agrees(backend, dtype)


@pytest.mark.backends("jax", "torch")
def test_half_precision_targets_in_kernels_agree(backend, monkeypatch):
    """JAX converts large half-precision targets inside its compiled body, PyTorch's kernels
    themselves (by blocks where large: see `test_row_blocks_bit_for_bit`), forced here for
    small ones: the same answers as the generic body's, which gets them converted."""
    adapter = importlib.import_module(f"xloss.adapters.{backend.name}")
    monkeypatch.setattr(adapter, "HALF_TARGETS_FROM", 0)
    for dtype in ("float16", "bfloat16"):
        _half_precision_agrees(backend, dtype)


def _compat():
    return importlib.import_module("xloss.compat.keras")


def _smoothed(loss, targets, logits, smoothing):
    return loss(targets, logits, from_logits=True, label_smoothing=smoothing)


def _half_precision_agrees(backend, dtype):
    x = _masked()
    labels = np.array([0, 2, 1, 4, 2, 6])
    probs = _probabilities()
    cases = [
        (xloss.softmax, (x,)),
        (xloss.log_softmax, (x,)),
        (lambda y, p: xloss.sparse_categorical_crossentropy(y, p, from_logits=True), (labels, x)),
        (xloss.sparse_categorical_crossentropy, (labels[:6] % 5, probs)),
        (lambda y, p: xloss.categorical_crossentropy(y, p, from_logits=True), (_SOFT7, x)),
        (xloss.categorical_crossentropy, (_SOFT[:, :5], probs[:5])),
        (lambda z, p: xloss.binary_crossentropy(z, p, from_logits=True), (_BITS7, x)),
        (xloss.binary_crossentropy, (_BITS[:, :5], probs[:5])),
        # half-precision targets too, smoothed (in float32) and through the focal losses
        (lambda y, p: _smoothed(xloss.categorical_crossentropy, y, p, 0.1), (_SOFT7, x)),
        (lambda z, p: _smoothed(xloss.binary_crossentropy, z, p, 0.2), (_BITS7, x)),
        (lambda y, p: _compat().categorical_focal_crossentropy(y, p), (_SOFT[:, :5], probs[:5])),
        (lambda z, p: _compat().binary_focal_crossentropy(z, p, from_logits=True), (_BITS7, x)),
    ]
    for fn, arrays in cases:
        converted = [backend.asarray(a, dtype if a.dtype.kind == "f" else None) for a in arrays]
        assert_agree(backend, fn, *converted, tol=tolerance(dtype))


@pytest.mark.backends("numpy", "jax", "torch", "tensorflow")  # array-api-strict has no half
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_half_precision_activations_round_once(backend, name):
    """Half-precision activations are computed in float32 and rounded once to the input's
    dtype: bit for bit the float32 result of the upcast input, rounded, on whichever path
    (JAX's compiled body converts back inside itself). PyTorch's bfloat16 softmax is
    `test_bfloat16_softmax_computed_in_float32`'s."""
    fn = ACTIVATIONS[name]
    rng = np.random.default_rng(8)
    wide = (rng.standard_normal((40, 300)) * rng.choice([1.0, 30.0, 3000.0], (40, 1))).astype(
        np.float32
    )
    for dtype in ("float16", "bfloat16"):
        if dtype not in FLOAT_DTYPES[backend.name]:
            continue
        if backend.name == "torch" and dtype == "bfloat16" and name == "softmax":
            continue
        for x in (_non_finite(), _masked(), wide):
            for axis in (-1, 0):
                half = backend.asarray(x, dtype)
                with np.errstate(all="ignore"):  # NumPy's softmax of the non-finite rows
                    got = fn(half, axis)
                    upcast = backend.cast(fn(backend.cast(half, "float32"), axis), dtype)
                assert got.dtype == half.dtype
                np.testing.assert_array_equal(
                    backend.to_numpy(got).astype(np.float32),
                    backend.to_numpy(upcast).astype(np.float32),
                )


@pytest.mark.backends("torch", "tensorflow")
def test_bfloat16_softmax_computed_in_float32(backend):
    """PyTorch's and TensorFlow's softmax kernels take bfloat16 as is (no conversion passes)
    because on the CPU they compute in float32 and round once, as upcasting to float32 first
    and rounding the result does: TensorFlow's bit for bit (on the CPUs where its kernel does,
    checked once per process; on others, AVX2 ones, xloss upcasts, large eager inputs in one
    program compiled by XLA, whose float32 operations differ a little from the eager float32
    kernel's); PyTorch's float32 operations differ a little from its float32 kernel's, and 2
    entries of the 256,000 here round to the neighbouring bfloat16 value (one ulp apart at
    most, and rare: 1 in 20,000 is allowed)."""
    exact = False
    if backend.name == "tensorflow":
        module = importlib.import_module("xloss.adapters._tensorflow_kernels")
        exact = module._bfloat16_softmax_rounds_once()
    rng = np.random.default_rng(6)
    for x in (_masked(), (rng.standard_normal((256, 1000)) * 10.0).astype(np.float32)):
        half = backend.asarray(x, "bfloat16")
        as_is = backend.to_numpy(xloss.softmax(half)).astype(np.float32)
        upcast = backend.cast(xloss.softmax(backend.cast(half, "float32")), "bfloat16")
        upcast = backend.to_numpy(upcast).astype(np.float32)
        if exact:
            np.testing.assert_array_equal(as_is, upcast)
            continue
        _assert_rounded_as_upcast(as_is, upcast)


def _assert_rounded_as_upcast(as_is, upcast, one_in=20_000):
    """bfloat16 results (as float32 NumPy arrays) one ulp apart at most, in 1 in ``one_in``."""
    nan = np.isnan(upcast)  # an all -inf row
    np.testing.assert_array_equal(np.isnan(as_is), nan)
    as_is[nan] = upcast[nan] = 0.0
    apart = np.abs(as_is.view(np.int32) - upcast.view(np.int32)) >> 16  # bfloat16 ulps
    assert apart.max() <= 1 and np.count_nonzero(apart) <= as_is.size // one_in


@pytest.mark.backends("torch")
@pytest.mark.parametrize(
    ("layout", "axis"),
    [("transposed", -1), ("transposed", 0), ("channels_last", 1), ("every_other", -1)],
)
def test_torch_bfloat16_softmax_any_layout_rounds_once(backend, layout, axis):
    """PyTorch's CPU softmax kernel rounds bfloat16 once only along the last axis of its
    contiguous copy of the input. An axis innermost in memory (a transposed view's first axis,
    a channels-last image's class axis) is taken as the last axis of a contiguous view, as is;
    along any other, whatever the strides, xloss upcasts."""
    import torch

    rng = np.random.default_rng(11)
    x = backend.asarray((rng.standard_normal((256, 300)) * 10.0).astype(np.float32), "bfloat16")
    views = {
        "transposed": lambda: x.mT,
        "channels_last": lambda: x.reshape(16, 16, 15, 20).to(memory_format=torch.channels_last),
        "every_other": lambda: x[:, ::2],
    }
    half = views[layout]()
    as_is = backend.to_numpy(xloss.softmax(half, axis=axis))
    upcast = backend.to_numpy(torch.softmax(half.float(), axis).to(torch.bfloat16))
    # Along an axis innermost in memory, rows of 20 or 256: the as-is kernel's float32 steps
    # round otherwise than the upcast reference's middle-axis ones in 0-6 of these 76,800
    # entries over 60 draws of such data (measured), one ulp apart; rounding as it goes would
    # put a quarter of them off.
    _assert_rounded_as_upcast(as_is, upcast, one_in=10_000)


def _top_p_rows():
    """Ties at every cut-off (integer logits), -inf masks, signed zeros, a NaN row and a +inf
    row, and plain random logits, along a vocabulary of 24."""
    rng = np.random.default_rng(3)
    ties = rng.integers(-2, 3, (6, 24)).astype(np.float32)
    ties[0, :5] = -INF
    ties[1, ::3] = -0.0
    ties[2, 4], ties[3, 7] = np.nan, INF
    return np.concatenate([ties, (rng.standard_normal((6, 24)) * 2).astype(np.float32)])


@pytest.mark.parametrize("min_keep", [1, 3])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
def test_top_p_agrees(backend, p, min_keep):
    """The nucleus filter's kernels (PyTorch's sort and scatter; JAX's compiled body) keep
    the generic body's tokens, also along axis 0 and inside `sample`'s filter."""
    x = _top_p_rows()
    with np.errstate(all="ignore"):  # NumPy's softmax of the NaN and +inf rows
        for array, axis in ((x, -1), (x.T.copy(), 0)):
            fast, generic = _both(
                functools.partial(xloss.top_p_filter, p=p, axis=axis, min_keep=min_keep),
                backend.asarray(array),
            )
            np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(generic))
        if p > 0:  # sample's top_p is in (0, 1]
            draws = _both(lambda a: xloss.sample(a, 5, top_p=p, num_samples=4), backend.asarray(x))
            np.testing.assert_array_equal(*(backend.to_numpy(d) for d in draws))


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("offset", [0.0, 1e6])
def test_sample_agrees(backend, temperature, dtype, offset):
    """The same seed draws the same uniforms; the one-level Gumbel argmax (jitted on JAX, in
    raw ops on TensorFlow, also inside ``tf.function``) picks alike, bit for bit: shifted by
    the row maximum itself at ``T = 1`` (large logits: the noise's digits), or already."""
    if dtype not in FLOAT_DTYPES[backend.name]:
        pytest.skip(f"{backend.name} has no {dtype}")
    x = _masked()[[0, 2, 3, 4, 5]] + offset  # no all--inf row: it has nothing to draw
    kwargs = {"num_samples": 40, "temperature": temperature}
    fast, generic = _both(lambda a: xloss.sample(a, 3, **kwargs), backend.asarray(x, dtype))
    np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(generic))
    if backend.name == "tensorflow":
        import tensorflow as tf

        traced = tf.function(lambda a: xloss.sample(a, 3, **kwargs))(backend.asarray(x, dtype))
        np.testing.assert_array_equal(backend.to_numpy(traced), backend.to_numpy(generic))


def test_two_level_sample_agrees(backend):
    """Draws of 2048 classes take two levels (TensorFlow's kernel, the body jitted on JAX):
    the same draws as the generic body, with blocks all -inf under top-k. TensorFlow's totals
    come from its softmax op, so two blocks whose noisy masses agree to rounding could differ;
    none do here."""
    x = _logits((3, 2048))
    kwargs = {"num_samples": 64, "temperature": 0.8, "top_k": 200}
    fast, generic = _both(lambda a: xloss.sample(a, 5, **kwargs), backend.asarray(x))
    np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(generic))


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("fresh_pages", [True, False], ids=["fresh-pages", "pooled"])
def test_tensorflow_block_totals_by_slices(backend, monkeypatch, fresh_pages):
    """TensorFlow's two-level draw takes the blocks' totals by slices of rows where its
    allocator gives each array fresh pages (`_fresh_pages`), else in one softmax: slices of 3
    of 11 rows (the last of 2), with a +inf, a nan and an all -inf row among them (the generic
    body's totals for those), give the generic body's draws, eagerly and traced."""
    import tensorflow as tf

    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    monkeypatch.setattr(module, "SLICE_BYTES", 3 * 2048 * 4)
    monkeypatch.setattr(module, "_fresh_pages", lambda: fresh_pages)
    softmaxes = []
    softmax = tf.raw_ops.Softmax
    monkeypatch.setattr(tf.raw_ops, "Softmax", lambda **k: softmaxes.append(1) or softmax(**k))
    x = _logits((11, 2048))
    x[1, 100], x[4, 7], x[7], x[9, :3] = INF, np.nan, -INF, [1e4, -1e4, 1e4]
    drawable = [0, 1, 2, 3, 5, 6, 8, 9, 10]  # rows with a distribution

    def draw(a):
        return xloss.sample(a, 5, num_samples=16, temperature=0.9)

    fast, generic = _both(draw, backend.asarray(x))
    assert len(softmaxes) == (4 if fresh_pages else 1)
    traced = tf.function(draw)(backend.asarray(x))
    assert len(softmaxes) == (8 if fresh_pages else 2)
    generic = backend.to_numpy(generic)[drawable]
    np.testing.assert_array_equal(backend.to_numpy(fast)[drawable], generic)
    np.testing.assert_array_equal(backend.to_numpy(traced)[drawable], generic)
    assert (generic[1] == 100).all()  # the +inf logit takes all the probability


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_tensorflow_half_activations_by_slices(backend, monkeypatch, dtype, name):
    """TensorFlow's half-precision ``softmax``/``log_softmax``, where upcast (forced for
    bfloat16 ``softmax``) and its allocator gives each array fresh pages, convert, compute and
    round slices of rows apart (slices of 4 of 30 rows forced here, the last of 2): the
    float32 kernel's result rounded, bit for bit, and the generic body's, 2-D and 3-D, with
    masked, all -inf, +-1e4 and nan rows; eager (a graph traced once per shape), past
    `XLA_SHAPES` shapes (the eager slices) and traced; along another axis not sliced; under a
    tape, the generic body's gradient."""
    import tensorflow as tf

    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    monkeypatch.setattr(module, "SLICE_BYTES", 4 * 7 * 4)
    monkeypatch.setattr(module, "_fresh_pages", lambda: True)
    # bfloat16 softmax upcast, as on the CPUs whose kernel rounds along the way
    monkeypatch.setattr(module, "_bfloat16_softmax_rounds_once", lambda: False)
    kernel = "Softmax" if name == "softmax" else "LogSoftmax"
    calls = []
    original = getattr(tf.raw_ops, kernel)
    monkeypatch.setattr(tf.raw_ops, kernel, lambda **k: calls.append(1) or original(**k))
    module._sliced_graph.cache_clear()  # no graph traced before, whatever ran first
    fn = getattr(xloss, name)
    x = np.concatenate([_masked()] * 5)
    x[5, 2] = np.nan
    half = backend.asarray(x, dtype)
    wide = original(logits=backend.cast(half, "float32"))
    upcast = backend.to_numpy(backend.cast(wide, dtype))
    for shape in [(30, 7), (5, 6, 7)]:
        shaped = tf.reshape(half, shape)
        calls.clear()
        for run in (fn, fn, tf.function(fn)):
            got = run(shaped)
            assert got.dtype == half.dtype
            np.testing.assert_array_equal(backend.to_numpy(got).reshape(upcast.shape), upcast)
        assert len(calls) == 16  # 8 slices each: the eager calls' graph, the caller's graph
        assert_agree(backend, fn, shaped, tol=tolerance(dtype))
    monkeypatch.setattr(module, "XLA_SHAPES", 0)
    calls.clear()
    got = backend.to_numpy(fn(tf.reshape(half, (3, 10, 7))))
    np.testing.assert_array_equal(got.reshape(upcast.shape), upcast)
    assert len(calls) == 8
    calls.clear()
    assert_agree(backend, lambda a: fn(a, axis=0), half, tol=tolerance(dtype))
    assert not calls
    weights = np.arange(7.0, dtype=np.float32)
    gradients = []
    for fast in (True, False):
        with xloss.fast_paths(fast), tf.GradientTape() as tape:
            tape.watch(half)
            out = tf.cast(fn(half), tf.float32)
            total = tf.reduce_sum(tf.where(tf.math.is_finite(out), out, 0.0) * weights)
        gradients.append(backend.to_numpy(tape.gradient(total, half)).astype(np.float32))
    assert_same(*gradients, tolerance(dtype))


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("onednn", ["0", "1"])
def test_tensorflow_fresh_pages_follows_onednn(backend, onednn):
    """`_fresh_pages` reads TensorFlow's own answer: with oneDNN (and its pool allocator) on,
    arrays reuse freed memory. Fails, rather than falling back, if that answer is gone."""
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("TensorFlow's oneDNN builds are Linux x86-64's")
    code = (
        "import tensorflow; from xloss.adapters import _tensorflow_kernels as k; "
        "print(k._fresh_pages())"
    )
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(onednn == "0")


@pytest.mark.backends("torch")
def test_binary_compiled_kernel_agrees(backend):
    """Under torch.compile (values unreadable) binary logits take `_binary_logits` alone (no
    recomputation of non-finite samples): the generic body's values on finite, +-1e4 and
    non-finite logits, and its gradients on the finite ones."""
    extra = np.array([[1e4, -1e4, 20.5, -20.5, 0.0, 1.0], [0.0, 7.5, -3.0, 2.0, -0.5, 4.0]])
    x = np.concatenate([_non_finite(), extra.astype(np.float32)])
    z = np.concatenate([_BITS, _BITS[:2]])

    def loss(t, p):
        return xloss.binary_crossentropy(t, p, from_logits=True)

    compiled = backend.compile(loss, z, x)
    with np.errstate(all="ignore"):
        fast = backend.to_numpy(compiled(*_on(backend, z, x)))
        with xloss.fast_paths(False):
            generic = backend.to_numpy(loss(*_on(backend, z, x)))
    assert_same(fast, generic)
    rows = x[4:]  # finite logits: gradients of the compiled kernel and the generic body
    fast_grad = grad_of(backend, compiled, z[4:], rows, wrt=1)
    with xloss.fast_paths(False):
        generic_grad = grad_of(backend, loss, z[4:], rows, wrt=1)
    np.testing.assert_allclose(fast_grad, generic_grad, rtol=TOL, atol=TOL)


# --- PyTorch's kernels by blocks of rows -------------------------------------------------------


def _force_row_blocks(monkeypatch, rows, classes):
    """PyTorch's large eager CPU kernels work by blocks of rows (`_each_block`): forced on
    test-sized inputs, ``rows`` rows a block, with half-precision targets left to them to
    convert (``HALF_TARGETS_FROM``); returns the list the blocks' calls go to."""
    module = importlib.import_module("xloss.adapters._torch_kernels")
    monkeypatch.setattr(module, "BLOCKED_FROM", 0)
    monkeypatch.setattr(importlib.import_module("xloss.adapters.torch"), "HALF_TARGETS_FROM", 0)
    monkeypatch.setattr(module, "BLOCK_BYTES", rows * classes * 4)
    monkeypatch.setattr(module, "SUM_BLOCK_BYTES", rows * classes * 4)
    calls = []
    blocks = module._each_block
    monkeypatch.setattr(module, "_each_block", lambda *a, **k: calls.append(1) or blocks(*a, **k))
    return calls


def _blocks_cases():
    x = np.concatenate([_masked(), _logits((5, 7))])  # 11 rows: blocks of 3 leave 2
    x[5, 2] = np.nan
    y = _soft_targets(x.shape, zero_at=(0, 1))  # 0 * -inf where row 0 is masked
    p = RNG.random(x.shape).astype(np.float32)
    p[4] = 0.0
    p[6, 3] = np.nan
    labels = RNG.integers(0, 7, 11)
    z = (RNG.random(x.shape) < 0.5).astype(np.float32)
    z[7] = RNG.random(7)  # soft binary targets
    sparse = functools.partial(xloss.sparse_categorical_crossentropy, from_logits=True)
    cases = {
        "sparse": (sparse, (labels, x)),
        "sparse_ignore": (functools.partial(sparse, ignore_class=2), (labels, x)),
        "sparse_3d": (sparse, (labels[:10].reshape(2, 5), x[:10].reshape(2, 5, 7))),
        "categorical": (
            functools.partial(xloss.categorical_crossentropy, from_logits=True),
            (y, x),
        ),
        "sparse_probs": (xloss.sparse_categorical_crossentropy, (labels, p)),
        "categorical_probs": (xloss.categorical_crossentropy, (y, p)),
        "binary": (functools.partial(xloss.binary_crossentropy, from_logits=True), (z, x)),
        "binary_probs": (xloss.binary_crossentropy, (z, p)),
        "log_softmax": (xloss.log_softmax, (x,)),
        "softmax": (xloss.softmax, (x,)),
        "log_softmax_3d": (xloss.log_softmax, (x[:10].reshape(2, 5, 7),)),
        # leading axes swapped: rows copied to be blocked, the result laid out afresh
        "log_softmax_strided": (xloss.log_softmax, (x[:10].reshape(2, 5, 7).transpose(1, 0, 2),)),
    }

    # The classes on axis 1 (PyTorch's layout): (2, 7, 150) takes blocks of 64 + 64 + 22
    # columns of each of its 2 slabs, (11, 7, 3) whole slabs. The same rows, laid out so.
    def on_1(fn):
        return functools.partial(fn, axis=1)

    for name, (samples, after) in {"axis1": (300, 150), "axis1_slabs": (33, 3)}.items():
        take = np.arange(samples) % len(x)

        def classes_on_1(a, take=take, after=after):
            return np.ascontiguousarray(np.moveaxis(a[take].reshape(-1, after, 7), -1, 1))

        sparse_labels = labels[take].reshape(-1, after)
        xs, ys, ps, zs = (classes_on_1(a) for a in (x, y, p, z))
        cases |= {
            f"sparse_{name}": (on_1(sparse), (sparse_labels, xs)),
            f"sparse_ignore_{name}": (
                on_1(functools.partial(sparse, ignore_class=2)),
                (sparse_labels, xs),
            ),
            f"categorical_{name}": (on_1(cases["categorical"][0]), (ys, xs)),
            f"sparse_probs_{name}": (
                on_1(xloss.sparse_categorical_crossentropy),
                (sparse_labels, ps),
            ),
            f"categorical_probs_{name}": (on_1(xloss.categorical_crossentropy), (ys, ps)),
            f"binary_{name}": (on_1(cases["binary"][0]), (zs, xs)),
            f"binary_probs_{name}": (on_1(xloss.binary_crossentropy), (zs, ps)),
            f"log_softmax_{name}": (on_1(xloss.log_softmax), (xs,)),
            f"softmax_{name}": (on_1(xloss.softmax), (xs,)),
        }
    # The classes on axis 1 but innermost in memory (torch.channels_last): taken as rows along
    # the last axis, by blocks of rows (targets laid out alike, or contiguous).
    take = np.arange(300) % len(x)

    def innermost(a):
        return np.moveaxis(a[take].reshape(-1, 150, 7), -1, 1)

    xs, ys, ps, zs = (innermost(a) for a in (x, y, p, z))
    sparse_labels = labels[take].reshape(-1, 150)
    cases |= {
        "sparse_axis1_innermost": (on_1(sparse), (sparse_labels, xs)),
        "sparse_ignore_axis1_innermost": (
            on_1(functools.partial(sparse, ignore_class=2)),
            (sparse_labels, xs),
        ),
        "sparse_probs_axis1_innermost": (
            on_1(xloss.sparse_categorical_crossentropy),
            (sparse_labels, ps),
        ),
        "categorical_axis1_innermost": (on_1(cases["categorical"][0]), (ys, xs)),
        "categorical_axis1_innermost_targets_contiguous": (
            on_1(cases["categorical"][0]),
            (np.ascontiguousarray(ys), xs),
        ),
        "categorical_probs_axis1_innermost": (on_1(xloss.categorical_crossentropy), (ys, ps)),
        "binary_axis1_innermost": (on_1(cases["binary"][0]), (zs, xs)),
        "binary_probs_axis1_innermost": (on_1(xloss.binary_crossentropy), (zs, ps)),
        "log_softmax_axis1_innermost": (on_1(xloss.log_softmax), (xs,)),
        "softmax_axis1_innermost": (on_1(xloss.softmax), (xs,)),
    }
    return cases


@pytest.mark.backends("torch")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "float64"])
@pytest.mark.parametrize("case", sorted(_blocks_cases()))
def test_row_blocks_bit_for_bit(backend, case, dtype, monkeypatch):
    """By blocks of rows (or of slabs and columns, the classes on axis 1), each sample's result
    comes from the same kernel: bit for bit the whole-array answer, in every float dtype (half
    precision converted block by block), with masked, non-finite and ignored rows; and within
    tolerance of the generic body."""
    fn, arrays = _blocks_cases()[case]
    converted = [backend.asarray(a, dtype if a.dtype.kind == "f" else None) for a in arrays]
    whole = backend.to_numpy(fn(*converted))
    calls = _force_row_blocks(monkeypatch, 3, 7)
    with np.errstate(all="ignore"):
        blocked = backend.to_numpy(fn(*converted))
    # float32 and float64 probabilities' row sums and (log_)softmax have no temporary to save,
    # nor bfloat16 softmax along the last axis in memory (taken as is): those go whole; blocks
    # are for the CPU's caches (on CUDA every call goes whole)
    whole_anyway = (
        dtype in ("float32", "float64") and case.startswith(("sparse_probs", "log", "softmax"))
    ) or (dtype == "bfloat16" and case in ("softmax", "softmax_axis1_innermost"))
    assert bool(calls) != (whole_anyway or not backend.on_host)
    assert blocked.dtype == whole.dtype
    np.testing.assert_array_equal(blocked, whole)
    if dtype == "float32":
        assert_agree(backend, fn, *converted)


@pytest.mark.backends("torch")
@pytest.mark.parametrize(
    "case", ["sparse", "categorical", "categorical_probs", "binary", "log_softmax"]
)
def test_row_blocks_leave_autograd_alone(backend, case, monkeypatch):
    """An input that needs gradients takes the whole-array kernels (the blocks write into
    buffers, which autograd cannot follow): gradients as the generic body's. (The binary loss
    from logits computes its value from the inputs detached, by blocks, and takes its
    derivatives from ``F.binary_cross_entropy_with_logits``.)"""
    x = np.concatenate([_masked(), _logits((5, 7))])
    y = _soft_targets(x.shape)
    labels = RNG.integers(0, 7, 11)
    fn = GRADIENT_CASES[case]
    calls = _force_row_blocks(monkeypatch, 3, 7)
    z = np.zeros_like(x)
    fast, generic = _grad_both(backend, lambda p: fn(p, *_on(backend, y, z, labels)), x)
    np.testing.assert_allclose(fast, generic, rtol=TOL, atol=TOL)
    assert bool(calls) == (case == "binary" and backend.on_host)


def _binary_derivatives(torch, x, z):
    """The binary loss from logits, and its first and second derivatives (a backward pass for
    ``x`` and ``z``, a Hessian-vector product for ``x``, a forward-mode tangent): float64."""
    x, z = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, z))
    loss = xloss.binary_crossentropy(z, x, from_logits=True)
    weights = torch.linspace(-1.0, 2.0, loss.numel(), dtype=torch.float64).reshape(loss.shape)
    dx, dz = torch.autograd.grad(loss, (x, z), weights, create_graph=True)
    (hessian_v,) = torch.autograd.grad((dx * torch.ones_like(dx)).sum(), x)
    forward = importlib.import_module("torch.autograd.forward_ad")
    with forward.dual_level():
        dual = forward.make_dual(x.detach(), torch.ones_like(x))
        tangent = forward.unpack_dual(xloss.binary_crossentropy(z.detach(), dual, from_logits=True))
    outs = (loss, dx, dz, hessian_v, tangent.tangent)
    return [a.detach().numpy() for a in outs]


@pytest.mark.backends("torch")
@pytest.mark.parametrize("finite", [True, False])
def test_binary_logits_derivatives_fused(backend, finite, monkeypatch):
    """Where autograd records the binary loss from logits, its value is the kernel's (by blocks
    when large) and its derivatives ``F.binary_cross_entropy_with_logits``'s: first and second
    derivatives for the logits and the targets (soft, and outside [0, 1]) and forward-mode
    tangents as the generic body's. An infinite logit sends the call to the generic body: the
    derivative for its target is -inf or inf there, which a select of rows would make nan."""
    torch = backend.module
    module = importlib.import_module("xloss.adapters._torch_kernels")
    calls = []
    fused = module._with_fused_derivatives
    monkeypatch.setattr(module, "_with_fused_derivatives", lambda *a: calls.append(1) or fused(*a))
    x = _logits((6, 9)).astype(np.float64) * 3
    x[0, 1] = -17.0  # where the native value cancels; the derivatives do not
    z = RNG.random(x.shape)
    z[1, 2], z[2, 3] = 1.5, -0.25
    if not finite:
        x[3, 4], x[4, 5] = np.inf, -np.inf
    fast = _binary_derivatives(torch, x, z)
    with xloss.fast_paths(False):
        generic = _binary_derivatives(torch, x, z)
    assert calls
    for name, a, b in zip(("loss", "dx", "dz", "Hv", "tangent"), fast, generic):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=name)
    if not finite:
        assert np.isinf(fast[2][3, 4]) and np.isinf(fast[2][4, 5])


@pytest.mark.backends("torch")
def test_row_blocks_leave_vmap_alone(backend, monkeypatch):
    """Under ``torch.func.vmap`` the kernels do not work by blocks (vmap cannot follow writes
    into buffers): the same answers as sample by sample."""
    torch = backend.module
    x = np.stack([np.concatenate([_masked(), _logits((5, 7))])] * 3)
    labels = RNG.integers(0, 7, (3, 11))
    calls = _force_row_blocks(monkeypatch, 3, 7)
    half = backend.asarray(x, "bfloat16")
    mapped = torch.func.vmap(xloss.log_softmax)(half)
    loss = torch.func.vmap(
        lambda y, a: xloss.sparse_categorical_crossentropy(y, a, from_logits=True)
    )(backend.asarray(labels), backend.asarray(x))
    assert not calls
    one_by_one = torch.stack([xloss.log_softmax(row) for row in half])
    assert bool(calls) == backend.on_host  # outside vmap, the same calls take blocks (CPU)
    np.testing.assert_array_equal(backend.to_numpy(mapped), backend.to_numpy(one_by_one))
    assert tuple(loss.shape) == (3, 11)


# --- PyTorch's kernels where values cannot be read ----------------------------------------

UNREADABLE_KERNELS = (
    "_categorical_logits",
    "_categorical_probabilities",
    "_binary_probabilities",
    "_sparse_probabilities",
)

UNREADABLE_CASES = {
    # (the agreement tests, the kernels they must reach)
    "categorical_logits": (
        lambda b: [test_categorical_from_logits_agrees(b, s) for s in (0.0, 0.1)],
        {"_categorical_logits"},
    ),
    "categorical_axes": (
        lambda b: [test_categorical_any_class_axis_agrees(b, a) for a in (1, 0)],
        {"_categorical_logits"},
    ),
    "categorical_probs": (
        test_categorical_from_probabilities_agrees,
        {"_categorical_probabilities"},
    ),
    "binary_probs": (test_binary_from_probabilities_agrees, {"_binary_probabilities"}),
    "sparse_probs": (
        lambda b: [test_sparse_from_probabilities_agrees(b, c) for c in (None, 4)],
        {"_sparse_probabilities"},
    ),
    "non_finite": (
        lambda b: test_non_finite_logits_agree(b, "categorical"),
        {"_categorical_logits"},
    ),
    "half": (
        lambda b: [_half_precision_agrees(b, dtype) for dtype in ("float16", "bfloat16")],
        set(UNREADABLE_KERNELS),
    ),
    "gradients": (
        lambda b: [
            test_gradients_agree(b, c)
            for c in ("categorical", "categorical_probs", "binary_probs", "sparse_probs")
        ],
        set(UNREADABLE_KERNELS),
    ),
    "masked_gradients": (
        lambda b: [test_categorical_masked_gradients_agree(b, wrt, 4) for wrt in (0, 1)],
        {"_categorical_logits"},
    ),
    "half_gradients": (
        lambda b: [
            test_half_precision_gradients_are_the_float32_ones(b, case, (6, 5), dtype)
            for case in (
                "categorical",
                "categorical_probs",
                "binary_probs",
                "sparse_probs",
                "categorical_targets",
                "categorical_targets_logits",
            )
            for dtype in ("float16", "bfloat16")
        ],
        set(UNREADABLE_KERNELS),
    ),
}


@pytest.mark.backends("torch")
@pytest.mark.parametrize("case", sorted(UNREADABLE_CASES))
def test_torch_kernels_for_unreadable_values_agree(backend, case, monkeypatch):
    """Where values cannot be read (an accelerator, ``torch.func``) PyTorch's losses take
    kernels that do not branch on values (no check of the result for nan rows, labels not
    checked): forced on host arrays here, the same agreement tests, values and gradients."""
    monkeypatch.setattr(importlib.import_module("xloss.adapters.torch"), "readable", _unread)
    module = importlib.import_module("xloss.adapters._torch_kernels")
    ran = set()
    for name in UNREADABLE_KERNELS:
        kernel = getattr(module, name)
        monkeypatch.setattr(module, name, _noting(ran, name, kernel))
    run, reached = UNREADABLE_CASES[case]
    run(backend)
    assert ran == reached


def _unread(x):
    return None


def _noting(ran, name, kernel):
    def noted(*args):
        ran.add(name)
        return kernel(*args)

    return noted


# --- TensorFlow: the generic body compiled by XLA ------------------------------------------

XLA_CASES = {
    "categorical_logits": lambda b: [test_categorical_from_logits_agrees(b, s) for s in (0, 0.1)],
    "categorical_axes": lambda b: [test_categorical_any_class_axis_agrees(b, a) for a in (1, 0)],
    "categorical_probs": test_categorical_from_probabilities_agrees,
    "binary_logits": lambda b: [test_binary_from_logits_agrees(b, s) for s in (0.0, 0.2)],
    "binary_probs": test_binary_from_probabilities_agrees,
    "non_finite": lambda b: [test_non_finite_logits_agree(b, n) for n in ("categorical", "binary")],
    "half": lambda b: [_half_precision_agrees(b, dtype) for dtype in ("float16", "bfloat16")],
    "sparse_probs": lambda b: [test_sparse_from_probabilities_agrees(b, i) for i in (None, 4)],
    "gradients": lambda b: [
        test_gradients_agree(b, c)
        for c in ("categorical", "binary", "categorical_probs", "sparse_probs")
    ],
    "masked_gradients": lambda b: [
        test_categorical_masked_gradients_agree(b, wrt, 4) for wrt in (0, 1)
    ],
}


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("case", sorted(XLA_CASES))
def test_tensorflow_xla_bodies_agree(backend, case, monkeypatch):
    """Eager CPU calls from `XLA_FROM` entries run the categorical and binary losses and the
    sparse loss from probabilities as the generic body compiled by XLA: forced here on small
    inputs, and on a shape's first call (`_worth_compiling`), the same agreement tests."""
    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    monkeypatch.setattr(module, "XLA_FROM", 0)
    ran = []
    monkeypatch.setattr(module, "_worth_compiling", lambda key, shapes: ran.append(key) or True)
    XLA_CASES[case](backend)
    assert ran  # the compiled body ran


# Half precision computed in float32 and rounded once lies between the float64 result's
# roundings after moving it by float32's error either way (see test_activations.py).
_FLOAT32_ERROR = 4 * float(np.finfo(np.float32).eps)
# TensorFlow's CPU kernels, eager and XLA's alike, flush float32 subnormal results to 0: a
# softmax entry below 2**-126 is 0 where bfloat16, with float32's exponents, could hold it.
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)
_HALF_ORACLES = {
    "softmax": (ref.softmax, lambda p: _FLOAT32_ERROR * p),
    "log_softmax": (ref.log_softmax, lambda v: _FLOAT32_ERROR * (1.0 - v)),
}


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(_HALF_ORACLES))
def test_tensorflow_xla_half_activations_round_once(backend, name, dtype, monkeypatch):
    """Half-precision ``softmax`` and ``log_softmax``, where upcast, run large eager CPU
    inputs as the generic body compiled by XLA with both conversions: on a large input as it
    comes, then forced on small ones. The float32 result rounded once: each entry the float64
    result rounded to the dtype, or its neighbour where float32's error reaches the midpoint
    (XLA's float32 operations differ a little from the eager kernels', so neither is bit for
    bit the other); rows holding ``+inf`` or ``nan`` as the generic body's (the eager
    ``Softmax`` leaves 0 at the finite entries of such a row on some CPUs)."""
    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    fn, (oracle, error) = ACTIVATIONS[name], _HALF_ORACLES[name]
    half_type = finfo(dtype).dtype
    ran = []
    worth = module._worth_compiling
    monkeypatch.setattr(module, "_worth_compiling", lambda *a: ran.append(a[0]) or worth(*a))
    rng = np.random.default_rng(9)
    large = rng.standard_normal((300, 256)).astype(np.float32)
    large[0, :10] = -INF
    wide = (rng.standard_normal((40, 300)) * 30.0).astype(np.float32)
    for x in (large, _masked(), wide):
        for axis in (-1, 0):
            half = backend.asarray(x, dtype)
            got = fn(half, axis)
            assert got.dtype == half.dtype
            got = backend.to_numpy(got).astype(half_type)
            with np.errstate(all="ignore"):
                exact = oracle(backend.to_numpy(half).astype(np.float64), axis)
                low, high = ((exact + s * error(exact)).astype(half_type) for s in (-1.0, 1.0))
                ok = ((low <= got) & (got <= high)) | (got == exact) | np.isnan(exact)
                ok |= (got == 0) & (np.abs(exact) < _FLOAT32_TINY)  # flushed, see below
            np.testing.assert_array_equal(np.isnan(got), np.isnan(exact))
            assert ok.all(), f"{np.count_nonzero(~ok)} of {ok.size} entries not rounded once"
        monkeypatch.setattr(module, "XLA_FROM", 0)
    half = backend.asarray(_non_finite(), dtype)
    with np.errstate(all="ignore"):
        got, generic = (backend.to_numpy(r) for r in _both(lambda a: fn(a, -1), half))
    assert_same(got, generic, tolerance(dtype))
    upcast = name == "log_softmax" or dtype == "float16"
    upcast = upcast or not module._bfloat16_softmax_rounds_once()
    assert len(ran) == (7 if upcast else 0)  # 3 inputs x 2 axes, and the non-finite rows


@pytest.mark.backends("tensorflow")
def test_tensorflow_xla_compiles_few_shapes_each_one_way(backend, monkeypatch):
    """XLA compiles a program per shape and keeps it: a stream of inputs of new lengths
    compiled each (100 ms a call) and grew without bound. At most `XLA_SHAPES` shapes are
    compiled per body, the others run the eager kernels; a shape takes one path at every call,
    so repeated calls give the same bits."""
    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    monkeypatch.setattr(module, "XLA_FROM", 0)
    monkeypatch.setattr(module, "XLA_SHAPES", 3)
    ran = _count_compiled_calls(module, monkeypatch)
    compiled = module._compiled.__wrapped__
    compiled.cache_clear()  # fresh sets of compiled shapes
    rng = np.random.default_rng(3)
    inputs = {
        rows: (
            rng.dirichlet(np.ones(d.C), size=rows).astype(np.float32),
            rng.normal(size=(rows, d.C)).astype(np.float32),
        )
        for rows in range(2, 8)
    }
    first = {}
    for repeat in range(2):
        for rows, (y, x) in inputs.items():  # six shapes: the first three compiled
            got = xloss.categorical_crossentropy(
                backend.asarray(y), backend.asarray(x), from_logits=True
            )
            got = backend.to_numpy(got)
            want = ref.categorical(y, x, from_logits=True)
            np.testing.assert_allclose(got, want, rtol=TOL)
            if repeat:
                np.testing.assert_array_equal(got, first[rows])  # the same bits
            first[rows] = got
        assert len(ran) == 3 * (repeat + 1)
    compiled.cache_clear()


TRACED_XLA_CASES = {
    "categorical_logits": lambda y, z, x: xloss.categorical_crossentropy(y, x, from_logits=True),
    "categorical_probs": lambda y, z, x: xloss.categorical_crossentropy(y, xloss.softmax(x)),
    "binary_logits": lambda y, z, x: xloss.binary_crossentropy(z, x, from_logits=True),
    "binary_probs": lambda y, z, x: xloss.binary_crossentropy(z, xloss.softmax(x)),
    "sparse_probs": lambda y, z, x: xloss.sparse_categorical_crossentropy(
        need("tensorflow").argmax(y, -1), xloss.softmax(x)
    ),
    "compat_logistic": lambda y, z, x: xloss.compat.torch.binary_cross_entropy_with_logits(
        x, z, reduction="none"
    ),
}


def _count_compiled_calls(module, monkeypatch):
    """A list to which each call of a compiled body (`_compiled`'s functions) appends."""
    ran = []
    compiled = module._compiled

    def counted(*args):
        function, shapes = compiled(*args)
        return (lambda *arrays: ran.append(len(arrays)) or function(*arrays)), shapes

    counted.__wrapped__ = compiled
    monkeypatch.setattr(module, "_compiled", counted)
    return ran


def _traced_xla_case(backend, case, monkeypatch):
    """With `XLA_FROM` at 0: the list of the compiled bodies' calls, the case's loss per
    sample, its arrays, and their value and gradient by the generic body."""
    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    monkeypatch.setattr(module, "XLA_FROM", 0)
    ran = _count_compiled_calls(module, monkeypatch)
    arrays = _on(backend, _SOFT7, _BITS7, _masked())

    def loss(y, z, a):
        return TRACED_XLA_CASES[case](y, z, a)

    with xloss.fast_paths(False):
        want, grad = (r.numpy() for r in _value_and_grad(backend.module, loss, arrays))
    ran.clear()
    return ran, loss, arrays, want, grad


def _value_and_grad(tf, loss, arrays):
    """``loss(*arrays)`` and the gradient of its sum with respect to the last array."""
    with tf.GradientTape() as tape:
        tape.watch(arrays[-1])
        value = loss(*arrays)
    return value, tape.gradient(value, arrays[-1])


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("case", sorted(TRACED_XLA_CASES))
def test_tensorflow_xla_bodies_in_traced_calls(backend, case, monkeypatch):
    """Traced for the CPU with shapes known, the losses' compiled body is a function call in
    the caller's graph, which XLA compiles when the graph runs: forward, differentiated from
    outside the caller's function (a tape, a forward-mode accumulator) and under
    ``tf.vectorized_map``, the generic body's values and derivatives."""
    tf = backend.module
    ran, loss, arrays, want, grad = _traced_xla_case(backend, case, monkeypatch)
    np.testing.assert_allclose(tf.function(loss)(*arrays).numpy(), want, rtol=TOL)
    assert ran  # the compiled body ran
    got, got_grad = (r.numpy() for r in _value_and_grad(tf, tf.function(loss), arrays))
    np.testing.assert_allclose(got, want, rtol=TOL)
    np.testing.assert_allclose(got_grad, grad, rtol=TOL, atol=TOL)
    # a tangent of ones would give 0 through softmax but for rounding, amplified by the loss
    tangent = tf.constant(np.random.default_rng(8).standard_normal((6, 7)), tf.float32)
    jvps = []
    for function, on in ((loss, False), (tf.function(loss), True)):
        with (
            xloss.fast_paths(on),
            tf.autodiff.ForwardAccumulator(arrays[-1], tangent) as accumulator,
        ):
            jvps.append(accumulator.jvp(function(*arrays)).numpy())
    # nan where -inf logits give it; 0 where the clip saturates, but for rounding
    scale = np.nanmax(np.abs(jvps[0]))
    np.testing.assert_allclose(jvps[1], jvps[0], rtol=TOL, atol=TOL * scale)
    stacked = [tf.stack([a, a]) for a in arrays]
    mapped = tf.vectorized_map(lambda a: loss(*a), stacked).numpy()
    np.testing.assert_allclose(mapped, [want, want], rtol=TOL)


@pytest.mark.backends("tensorflow")
def test_tensorflow_xla_bodies_stay_out_of_differentiated_traces(backend, monkeypatch):
    """Where a tape may differentiate the inputs while the caller's function is traced, and
    where the shapes are unknown then, the kernels stay ops of the caller's graph."""
    tf = backend.module
    ran, loss, arrays, want, grad = _traced_xla_case(backend, "categorical_logits", monkeypatch)

    @tf.function
    def step(*arrays):
        return _value_and_grad(tf, loss, arrays)

    got, got_grad = (r.numpy() for r in step(*arrays))
    np.testing.assert_allclose(got, want, rtol=TOL)
    np.testing.assert_allclose(got_grad, grad, rtol=TOL, atol=TOL)
    unknown = backend.compile(loss, _SOFT7, _BITS7, _masked())
    np.testing.assert_allclose(unknown(*arrays).numpy(), want, rtol=TOL)
    assert not ran


def _tensorflow_program(module, generic, options, *arrays):
    """The optimized HLO of the program `_compiled` makes of ``generic`` for ``arrays``: the
    lines of its entry computation that are not parameters."""
    xp = xloss._dispatch.resolve(x=arrays[-1]).xp
    ranks = tuple(a.shape.rank for a in arrays)
    function, _ = module._compiled(generic, xp, options, True, ranks)
    hlo = function.experimental_get_compiler_ir(*arrays)(stage="optimized_hlo")
    entry = hlo.split("ENTRY", 1)[1]
    return [line.strip() for line in entry.splitlines()[1:] if "parameter(" not in line]


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("loss", ["categorical", "sparse"])
def test_tensorflow_xla_reductions_read_apart(backend, loss, dtype):
    """TensorFlow's XLA CPU compiler split a row reduction its YNNPACK fusion did not take (a
    conversion of half precision, a select) into a ``reduce-window`` over a written
    logits-sized operand: the compiled bodies read their reductions' operands through a
    barrier (`_reductions_apart`), and the losses from probabilities then read the inputs
    and write only per-sample results (2048 x 8192 bfloat16: the sparse loss 4.6x the native
    expression -> 0.9x, the categorical loss's program 4.5x faster). Not a timing: the
    compiled program's operations, looked at. The values are the generic body's (the tests
    above, with the compiled path forced)."""
    tf = backend.module
    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    shape = (64, 1024)
    p = tf.cast(tf.constant(_clip_edges(shape)), dtype)
    options = (("axis", 1), ("from_logits", False))
    if loss == "sparse":
        generic, options = xloss._losses.sparse_categorical_xp, (*options, ("ignore_class", None))
        targets = tf.constant(RNG.integers(0, shape[1], shape[0]))
    else:
        generic, options = xloss._losses.categorical_xp, (*options, ("label_smoothing", 0.0))
        targets = tf.constant(RNG.dirichlet(np.ones(shape[1]), shape[0]).astype(np.float32))
    program = _tensorflow_program(module, generic, options, targets, p)
    assert not [line for line in program if "reduce-window" in line], program
    written = [line for line in program if re.search(r"\[64,1024\]", line.split("=", 1)[-1][:40])]
    assert not written, written


# --- gradients of the sparse loss from logits in one pass --------------------------------


@pytest.mark.backends("jax")
def test_jax_sparse_gradient_takes_no_derivative_through_the_maximum(backend):
    """The sparse loss from logits does not depend on the maximum it is shifted by: its
    derivative through the maximum is 0 in exact arithmetic, and computed it costs XLA an
    equality mask over the logits and its count (``jit(grad)`` 2.03x optax's time). The kernel
    shifts by a constant maximum, as ``jax.nn.logsumexp`` does: the gradient program compares
    no logits-sized array, and the gradient is ``softmax - one_hot`` as the generic body's."""
    jax, jnp = need("jax"), need("jax.numpy")
    x = _logits((11, 7))
    labels = RNG.integers(0, 7, 11)
    on_jax = jnp.asarray(labels)

    def loss(a):
        return jnp.sum(xloss.sparse_categorical_crossentropy(on_jax, a, from_logits=True))

    program = jax.make_jaxpr(jax.grad(loss))(jnp.asarray(x))
    compared = [
        eqn
        for eqn in _equations(program.jaxpr)
        if eqn.primitive.name in ("eq", "ne") and eqn.invars[0].aval.shape == x.shape
    ]
    assert not compared
    fast, generic = _grad_both(backend, loss, x)
    np.testing.assert_allclose(fast, generic, rtol=TOL, atol=TOL)
    want = _softmax64(x) - np.eye(7)[labels]
    np.testing.assert_allclose(fast, want, rtol=TOL, atol=TOL)


def _equations(jaxpr):
    """Every equation of ``jaxpr``, those of the programs it calls (``pjit``, ...) too."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                yield from _equations(inner)


def _softmax64(x):
    e = np.exp(x - x.max(-1, keepdims=True), dtype=np.float64)
    return e / e.sum(-1, keepdims=True)


# --- JAX: the clip of probabilities, fused ----------------------------------------------------


def _clip_edges(shape):
    """Probabilities with nan, +-inf, 0, 1, -0.0, the bounds 1e-7 and 1 - 1e-7 (in float32) and
    entries beyond them, one kind per row."""
    p = RNG.random(shape).astype(np.float32) * 0.9 + 0.05
    p[0, 3], p[1, 5], p[2, 7] = np.nan, INF, -INF
    p[3, :8] = [0.0, 1.0, -0.0, 1e-7, 1 - 1e-7, 1e-9, 0.99999999, 0.9999999]
    p[4, :8] = p[3, :8]  # the bounds also where the target is 0
    return p


JAX_CLIPPED = {
    "categorical": lambda y, p: xloss.categorical_crossentropy(y, p),
    "binary": lambda y, p: xloss.binary_crossentropy(y, p),
    "categorical_focal": lambda y, p: _compat().categorical_focal_crossentropy(y, p),
    "binary_focal": lambda y, p: _compat().binary_focal_crossentropy(y, p),
}


@pytest.mark.backends("jax")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("loss", sorted(JAX_CLIPPED))
def test_jax_clip_kept_apart_is_the_where_clip(backend, loss, dtype):
    """JAX's kernels clip probabilities by a maximum and a minimum whose bounds XLA does not see
    as constants (`_clip_kept_apart`), which XLA's CPU fusions take where they took neither the
    generic body's selects nor a clamp. Inside those fusions a maximum or minimum drops nan:
    it is put back. On inputs large enough for those fusions, with nan, infinities, the bounds
    and entries beyond them: the values are the generic body's bit for bit, and so are the
    gradients, the whole of it at a bound (a plain ``jnp.clip`` gives half there)."""
    jax, jnp = need("jax"), need("jax.numpy")
    p = _clip_edges((64, 1024))
    targets = (RNG.random(p.shape) < 0.5).astype(np.float32)
    targets[4, :8] = 0.0
    if "categorical" in loss:
        targets = targets / np.maximum(targets.sum(-1, keepdims=True), 1.0)
    y, q = jnp.asarray(targets, dtype), jnp.asarray(p, dtype)
    fn = JAX_CLIPPED[loss]

    def total(a):
        return jnp.sum(fn(y, a))

    results = {}
    for fast_paths in (True, False):  # compiled alike: the clip is all that differs
        with xloss.fast_paths(fast_paths), np.errstate(all="ignore"):
            values = np.asarray(jax.jit(fn)(y, q))
            grads = np.asarray(jax.jit(jax.grad(total))(q), np.float32)
            forward = jax.jit(lambda a, t: jax.jvp(lambda b: fn(y, b), (a,), (t,))[1])
            tangents = np.asarray(forward(q, jnp.ones_like(q)))
        results[fast_paths] = values, grads, tangents
    for fast, generic in zip(results[True], results[False]):
        np.testing.assert_array_equal(fast, generic)
    values, grads, _ = results[True]
    # rows 1 and 2 hold +inf and -inf: clipped (binary), or inf / inf = nan once normalised
    assert np.isnan(values[0]) and np.isfinite(values[3:]).all()
    if loss == "binary" and dtype == "float32":  # at the bounds, the whole 1 / (1 - p) / C
        bounds = np.asarray(q[4, 3:5], np.float64)
        np.testing.assert_allclose(grads[4, 3:5], 1 / (1 - bounds) / p.shape[1], rtol=1e-6)
    # and the eager calls, the kernel's program against the generic body op by op
    with np.errstate(all="ignore"):
        assert_same(*(np.asarray(r) for r in _both(fn, y, q)))
        assert_same(*_grad_both(backend, total, q))


@pytest.mark.backends("jax")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("loss", ["categorical", "binary"])
def test_jax_losses_from_probabilities_write_no_logits_sized_array(backend, loss, dtype):
    """On the CPU the compiled categorical and binary losses from probabilities read the inputs
    and write only per-sample results (and the categorical one its row totals): with the
    generic body's clip, XLA wrote the clipped probabilities out as a logits-sized array and
    read them back (2048 x 8192 bfloat16 under ``jit``: the binary loss 2.05x the native
    expression), and a widened copy of half-precision probabilities for the categorical
    loss's two readers. Not a timing: the compiled program's arrays, counted."""
    jax, jnp = need("jax"), need("jax.numpy")
    if jax.default_backend() != "cpu":
        pytest.skip("XLA's CPU fusions")
    shape = (256, 1024)
    z = jnp.asarray((RNG.random(shape) < 0.5).astype(np.float32), dtype)
    p = jnp.asarray(_clip_edges(shape), dtype)
    program = jax.jit(JAX_CLIPPED[loss]).lower(z, p).compile()
    entry = program.as_text().split("ENTRY", 1)[1]
    written = [
        line.strip()
        for line in entry.splitlines()[1:]
        if "parameter(" not in line and re.search(r"\[256,1024\]", line.split("=", 1)[-1][:60])
    ]
    assert not written, written


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("traced", [False, True])
def test_tensorflow_sparse_takes_the_fused_op_where_a_tape_watches(backend, traced, monkeypatch):
    """Large logits take the gather form (`SMALL`, forced to 0 here), but where a tape may take
    the gradient, the fused op, whose gradient comes with its loss: the gather form's backward
    is a reduction's mask and a scatter (2.8x the native's time). Values and gradients as the
    generic body's, eagerly and inside ``tf.function``; without a tape, the gather form."""
    tf = backend.module
    module = importlib.import_module("xloss.adapters._tensorflow_kernels")
    monkeypatch.setattr(module, "SMALL", 0)
    fused = []
    native = module._native_sparse
    monkeypatch.setattr(module, "_native_sparse", lambda *a: fused.append(1) or native(*a))
    labels, x = tf.constant(RNG.integers(0, 7, 11)), _logits((11, 7))

    def loss_and_grad(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = xloss.sparse_categorical_crossentropy(labels, a, from_logits=True)
        return loss, tape.gradient(loss, a)

    run = tf.function(loss_and_grad) if traced else loss_and_grad
    value, grad = (a.numpy() for a in run(tf.constant(x)))
    assert fused
    with xloss.fast_paths(False):
        want_value, want_grad = (a.numpy() for a in loss_and_grad(tf.constant(x)))
    np.testing.assert_allclose(value, want_value, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(grad, want_grad, rtol=TOL, atol=TOL)
    fused.clear()
    forward = xloss.sparse_categorical_crossentropy(labels, tf.constant(x), from_logits=True)
    np.testing.assert_allclose(forward.numpy(), want_value, rtol=TOL, atol=TOL)
    assert not fused


@pytest.mark.backends("tensorflow")
def test_tensorflow_categorical_from_logits_differentiates_no_maximum(backend):
    """The categorical loss from logits takes TensorFlow's ``LogSoftmax`` op, whose gradient is
    one fused op, with the generic body's select: traced with a tape, the graph holds no
    ``Max`` (the generic ``log_softmax``'s, whose derivative is a mask over the logits: 1.3x
    the native's time inside ``tf.function``). Values and gradients, with ``-inf`` masks, an
    all ``-inf`` row and zero targets at masked classes, as the generic body's."""
    tf = backend.module
    y, x = _on(backend, _SOFT7, _masked())

    def loss_and_grad(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            loss = xloss.categorical_crossentropy(y, a, from_logits=True)
        return loss, tape.gradient(loss, a)

    traced = tf.function(loss_and_grad)
    ops = {op.type for op in traced.get_concrete_function(x).graph.get_operations()}
    assert "LogSoftmax" in ops and "Max" not in ops
    with xloss.fast_paths(False):
        want = [a.numpy() for a in loss_and_grad(x)]
    for got in (traced(x), loss_and_grad(x)):
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.numpy(), b, rtol=TOL, atol=TOL)
