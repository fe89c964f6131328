"""xloss.compat.optax against optax itself, on every backend.

optax runs once on the float32 NumPy inputs (as JAX arrays) as the oracle; the profile runs on the
backend's arrays. ``where=`` masks, ``-inf`` logits, JAX's label indexing and label smoothing are
the cases where a port most easily differs.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import re
import subprocess
import sys

import data as d
import numpy as np
import pytest
from backends import need
from checks import assert_result, grad_of

import xloss
import xloss.compat.optax as oc

NO_CLASSES = np.zeros((3, 0), np.float32)  # a class axis of size 0

RNG = np.random.default_rng(7)
LOGITS_3D = RNG.normal(scale=2.0, size=(2, 3, 4)).astype(np.float32)
SOFT_FLAT = RNG.dirichlet(np.ones(12), size=2).astype(np.float32)
SOFT_3D = SOFT_FLAT.reshape(2, 3, 4)
FLAT_LABELS = np.array([5, 11])
EXTREME = np.array(
    [[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -1e4, 1e4], [0.0, 1.0, 2.0, 3.0]],
    np.float32,
)
EXTREME_LABELS = np.array([1, 3, 2, 0])
MASKED = d.LOGITS[:, :4].copy()
MASKED[:, 2] = -np.inf
MASKED[0, [0, 1]] = -np.inf
MASKED_LABELS = np.array([3, 0, 1, 3, 0, 1, 3, 0])
MASKED_TARGETS = np.eye(4, dtype=np.float32)[MASKED_LABELS]
MASKED_TARGETS[1] = [0.5, 0.5, 0.0, 0.0]
FINITE = np.isfinite(MASKED)
EXAMPLES = np.array([True, False, True, True, False, True, True, True])
ELEMENTS = RNG.uniform(size=d.LOGITS.shape) > 0.3
ELEMENTS[3] = False  # an example with nothing left
WRAPPED = d.LABELS.copy()
WRAPPED[[0, 3]] = [-1, -d.C]  # JAX's indexing: from the end
OUT_OF_RANGE = d.LABELS.copy()
OUT_OF_RANGE[[1, 4]] = [d.C, -d.C - 1]


def _optax():
    return need("optax")


def _run(fn, convert, args, kwargs):
    conv = [convert(a) if isinstance(a, np.ndarray) else a for a in args]
    kw = {k: convert(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    return fn(*conv, **kw)


SOFT_STACK = np.stack([d.SOFT, d.SOFT[::-1]])  # two target sets for the same logits
NAN_LOGITS = d.LOGITS.copy()
NAN_LOGITS[2, 1] = np.nan  # its example's loss is nan, as optax gives (not -inf)

_ORACLE: dict[tuple[str, str], np.ndarray] = {}


def _compare(backend, name, case, args, kwargs):
    """The profile on ``backend`` against optax, which runs once per case (not per backend)."""
    if (name, case) not in _ORACLE:
        oracle = _run(getattr(_optax(), name), np.asarray, args, kwargs)
        _ORACLE[name, case] = np.asarray(oracle, np.float64)
    expected = _ORACLE[name, case]
    out = _run(getattr(oc, name), backend.asarray, args, kwargs)
    assert_result(backend, out, expected)
    return backend.to_numpy(out)


SOFTMAX = {
    "random": ((d.LOGITS, d.SOFT), {}),
    "axis-0": ((d.LOGITS.T, d.SOFT.T), {"axis": 0}),
    "3d-axis-1": ((d.LOGITS_3D, d.SOFT_3D), {"axis": 1}),
    "axis-tuple": ((LOGITS_3D, SOFT_3D), {"axis": (1, 2)}),
    "axis-none": ((d.LOGITS, d.SOFT / d.N), {"axis": None}),
    "labels-broadcast": ((d.LOGITS, d.SOFT[0]), {}),
    "extreme-1e4": ((EXTREME, np.eye(4, dtype=np.float32)[EXTREME_LABELS]), {}),
    "where-examples": ((d.LOGITS, d.SOFT), {"where": EXAMPLES}),
    "where-elements": ((d.LOGITS, d.SOFT), {"where": ELEMENTS}),
    "where-masks-inf": ((MASKED, MASKED_TARGETS), {"where": FINITE}),
    "where-axis-0": ((d.LOGITS.T, d.SOFT.T), {"axis": 0, "where": EXAMPLES}),
    # Labels with more dimensions than the logits: optax sums the product's class axis.
    "labels-batch-one-logit-row": ((d.LOGITS[0], d.SOFT), {}),
    "labels-more-dimensions": ((d.LOGITS, SOFT_STACK), {}),
    "labels-more-dimensions-where": ((d.LOGITS, SOFT_STACK), {"where": ELEMENTS}),
}


@pytest.mark.parametrize("case", SOFTMAX)
def test_softmax_cross_entropy_matches_optax(backend, case):
    args, kwargs = SOFTMAX[case]
    _compare(backend, "softmax_cross_entropy", case, args, kwargs)


INTEGER = {
    "random": ((d.LOGITS, d.LABELS), {}),
    "axis-0": ((d.LOGITS.T, d.LABELS), {"axis": 0}),
    "3d-axis-1": ((d.LOGITS_3D, d.LABELS_3D), {"axis": 1}),
    "axis-tuple": ((LOGITS_3D, FLAT_LABELS), {"axis": (1, 2)}),
    "axis-tuple-reversed": ((LOGITS_3D, FLAT_LABELS), {"axis": (2, 1)}),
    "extreme-1e4": ((EXTREME, EXTREME_LABELS), {}),
    "masked-inf": ((MASKED, MASKED_LABELS), {}),
    "negative-labels-wrap": ((d.LOGITS, WRAPPED), {}),
    "out-of-range-nan": ((d.LOGITS, OUT_OF_RANGE), {}),
    "where-examples": ((d.LOGITS, d.LABELS), {"where": EXAMPLES}),
    "where-elements": ((d.LOGITS, d.LABELS), {"where": ELEMENTS}),
    "where-masks-inf": ((MASKED, MASKED_LABELS), {"where": FINITE}),
    "where-nan-logit": ((NAN_LOGITS, d.LABELS), {"where": np.ones(d.LOGITS.shape, bool)}),
}


@pytest.mark.parametrize("case", INTEGER)
def test_integer_labels_match_optax(backend, case):
    args, kwargs = INTEGER[case]
    out = _compare(backend, "softmax_cross_entropy_with_integer_labels", case, args, kwargs)
    if case == "out-of-range-nan":
        assert np.isnan(out[[1, 4]]).all() and np.isfinite(np.delete(out, [1, 4])).all()


SAFE = {
    "random": ((d.LOGITS, d.SOFT), {}),
    "masked-inf": ((MASKED, MASKED_TARGETS), {}),
    "positive-target-on-inf": ((MASKED[:2], np.full((2, 4), 0.25, np.float32)), {}),
    "labels-broadcast": ((d.LOGITS, d.SOFT[0]), {}),
    "extreme-1e4": ((EXTREME, np.eye(4, dtype=np.float32)[EXTREME_LABELS]), {}),
}


@pytest.mark.parametrize("case", SAFE)
def test_safe_softmax_cross_entropy_matches_optax(backend, case):
    args, kwargs = SAFE[case]
    out = _compare(backend, "safe_softmax_cross_entropy", case, args, kwargs)
    if case == "masked-inf":
        assert np.isfinite(out).all()


def test_masked_logits_without_where_give_nan_as_in_optax(backend):
    """softmax_cross_entropy has 0 * log(0) = nan at a -inf logit with a zero target."""
    with np.errstate(invalid="ignore"):  # NumPy-based backends report the 0 * -inf
        out = _compare(backend, "softmax_cross_entropy", "masked", (MASKED, MASKED_TARGETS), {})
    assert np.isnan(out).all()


EXTREME_BINARY = np.concatenate([d.BINARY_LOGITS, np.array([[1e4, -1e4, 0.0]], np.float32)])
EXTREME_BINARY_TARGETS = np.concatenate([d.BINARY_SOFT, np.array([[0.0, 1.0, 0.5]], np.float32)])
SIGMOID = {
    "soft": ((d.BINARY_LOGITS, d.BINARY_SOFT), {}),
    "extreme-1e4": ((EXTREME_BINARY, EXTREME_BINARY_TARGETS), {}),
    "labels-broadcast": ((d.BINARY_LOGITS, d.BINARY_SOFT[0]), {}),
    "integer-labels": ((d.BINARY_LOGITS_3D, d.BINARY_TARGETS_3D.astype(np.int32)), {}),
    "large": (  # eager JAX and TensorFlow compile it from 65,536 entries
        (RNG.normal(scale=4.0, size=(512, 256)).astype(np.float32), RNG.uniform(size=256)),
        {},
    ),
}


@pytest.mark.parametrize("case", SIGMOID)
def test_sigmoid_binary_cross_entropy_matches_optax(backend, case):
    args, kwargs = SIGMOID[case]
    _compare(backend, "sigmoid_binary_cross_entropy", case, args, kwargs)


@pytest.mark.backends("jax", "torch", "tensorflow")
@pytest.mark.parametrize("size", [(8, 3), (2048, 600)])
def test_sigmoid_binary_cross_entropy_gradient_matches_optax(backend, size):
    """The gradient with respect to the logits (1e4 among them), by the backend's autodiff
    (eager JAX: through the compiled body), against ``jax.grad`` of optax's own function."""
    jax = need("jax")
    rng = np.random.default_rng(17)
    x = rng.normal(scale=4.0, size=size).astype(np.float32)
    x[0, :2] = [1e4, -1e4]
    y = rng.uniform(size=size).astype(np.float32)
    got = grad_of(backend, oc.sigmoid_binary_cross_entropy, x, y)
    optax = _optax()
    expected = jax.grad(lambda a: optax.sigmoid_binary_cross_entropy(a, y).sum())(x)
    np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-5, atol=1e-7)


SMOOTH = {
    "one-hot": ((d.ONE_HOT, 0.1), {}),
    "axis-0": ((d.ONE_HOT.T, 0.2), {"axis": 0}),
    "axis-none": ((d.SOFT, 0.3), {"axis": None}),
    "axis-tuple": ((SOFT_3D, 0.1), {"axis": (1, 2)}),
    "where": ((d.ONE_HOT, 0.1), {"where": ELEMENTS | np.eye(d.C, dtype=bool)[d.LABELS]}),
    "alpha-array": ((d.ONE_HOT, np.float32(0.25)), {}),
    # where of a lower rank counts categories when its `axis` (counted from the end) is the
    # class axis at full size: a per-class mask, or one with size-1 leading dimensions
    "where-per-class": ((d.ONE_HOT, 0.1), {"where": np.arange(d.C) != 2}),
    "where-row": ((d.ONE_HOT, 0.1), {"where": (np.arange(d.C) != 2)[None]}),
    "where-3d-axis-tuple": ((SOFT_3D, 0.1), {"axis": (-2, -1), "where": SOFT_3D[0] > 0.05}),
}


@pytest.mark.parametrize("case", SMOOTH)
def test_smooth_labels_matches_optax(backend, case):
    optax = _optax()
    (labels, alpha), kwargs = SMOOTH[case]
    expected = optax.smooth_labels(labels, alpha, **kwargs)
    theirs = {k: backend.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    ours_alpha = backend.asarray(alpha) if isinstance(alpha, np.generic) else alpha
    out = oc.smooth_labels(backend.asarray(labels), ours_alpha, **theirs)
    assert_result(backend, out, np.asarray(expected, np.float64))


# optax computes with jnp, which takes NumPy arrays: labels, alpha and where= may be NumPy
# whatever the logits are (the first argument: `labels` for smooth_labels)
NUMPY_MIXED = {
    "integer-labels": ("softmax_cross_entropy_with_integer_labels", (d.LOGITS, d.LABELS), {}),
    "integer-labels-where": (
        "softmax_cross_entropy_with_integer_labels",
        (d.LOGITS, d.LABELS),
        {"where": ELEMENTS},
    ),
    "softmax-where": ("softmax_cross_entropy", (d.LOGITS, d.SOFT), {"where": EXAMPLES}),
    "safe": ("safe_softmax_cross_entropy", (MASKED, MASKED_TARGETS), {}),
    "sigmoid": ("sigmoid_binary_cross_entropy", (d.BINARY_LOGITS, d.BINARY_SOFT), {}),
    "smooth-labels": (
        "smooth_labels",
        (d.ONE_HOT, np.float32(0.2)),
        {"where": ELEMENTS | np.eye(d.C, dtype=bool)[d.LABELS]},
    ),
}


def _another_framework(backend):
    """An array maker of a framework other than the backend's, and other than NumPy."""
    return need("torch").from_numpy if backend.name == "jax" else need("jax.numpy").asarray


@pytest.mark.backends("array_api_strict", "jax", "torch", "tensorflow")
@pytest.mark.parametrize("case", NUMPY_MIXED)
def test_numpy_arguments_with_other_arrays_match_optax(backend, case):
    """NumPy labels, alpha and where= go with any backend's logits, as they go with JAX's in
    optax (the oracle runs that mix); labels of another framework still raise."""
    jnp = need("jax.numpy")
    name, (first, second), kwargs = NUMPY_MIXED[case]
    expected = getattr(_optax(), name)(jnp.asarray(first), second, **kwargs)
    out = getattr(oc, name)(backend.asarray(first), second, **kwargs)
    assert_result(backend, out, np.asarray(expected, np.float64))
    if isinstance(second, np.ndarray):
        other = _another_framework(backend)(second)
        with pytest.raises(TypeError, match="Convert `labels` to the framework of `logits`"):
            getattr(oc, name)(backend.asarray(first), other, **kwargs)


# where= shapes whose optax number is no count of categories (jnp.sum over `where`'s own axes)
NOT_CATEGORIES = {
    # the review's case: optax gives [0.95, 0.05, 0.05] (2 = the included examples)
    "batch-flags-axis-0": ((4, 3), 0, np.array([True, True, False]), "one flag per example"),
    "batch-flags-axis-last": ((4, 3), -1, np.array([True, False, True, True]), "per example"),
    "size-1-class-axis": ((4, 3), -1, np.ones((4, 1), bool), "size 1 along the class axis"),
    "size-1-axis-0": ((4, 3), 0, np.ones((1, 3), bool), "size 1 along the class axis 0"),
    "axis-none-lower-rank": ((4, 3), None, np.ones(3, bool), "lines up with `labels`' axis 1"),
    "non-negative-axis-lower-rank": ((2, 3, 4), 1, np.ones((3, 4), bool), "its own axis 1"),
}


@pytest.mark.parametrize("case", NOT_CATEGORIES)
def test_smooth_labels_where_that_counts_no_categories_is_an_error(backend, case):
    """optax's K = jnp.sum(where, axis) over `where`'s own axes counts categories only where
    `where`'s axis is the class axis of `labels` at full size; elsewhere optax gives a number
    that counts something else (the examples, one flag) and xloss raises."""
    optax = _optax()
    shape, axis, where, match = NOT_CATEGORIES[case]
    labels = np.eye(shape[-1], dtype=np.float32)[np.arange(math.prod(shape[:-1])) % shape[-1]]
    labels = labels.reshape(shape)
    if case != "non-negative-axis-lower-rank":  # there optax raises (`where` has no axis 1)
        theirs = np.asarray(optax.smooth_labels(labels, 0.1, axis=axis, where=where))
        if case != "batch-flags-axis-last":  # (4,) against (4, 3): no mask of the entries
            counted = np.broadcast_to(where, shape).sum(axis=axis, keepdims=True)
            share = np.where(counted > 0, 0.1 / np.maximum(counted, 1), np.inf)
            assert not np.allclose(theirs, 0.9 * labels + share), "optax counts categories"
    with pytest.raises(ValueError, match=re.escape(match)):
        oc.smooth_labels(backend.asarray(labels), 0.1, axis=axis, where=backend.asarray(where))


# case: (function, the floating logits, the targets, the result dtype for half precision)
DTYPE_CASES = {
    "softmax_cross_entropy": ("softmax_cross_entropy", d.LOGITS, d.SOFT, "float32"),
    "integer_labels": ("softmax_cross_entropy_with_integer_labels", d.LOGITS, d.LABELS, None),
    "sigmoid_binary_cross_entropy": (
        "sigmoid_binary_cross_entropy",
        d.BINARY_LOGITS,
        d.BINARY_SOFT,
        None,
    ),
}


@pytest.mark.parametrize("case", DTYPE_CASES)
def test_result_dtype_follows_jax_promotion(backend_and_dtype, case):
    """float32 labels promote half-precision logits to float32, as in JAX; integer labels and
    sigmoid (labels cast to the logits' dtype) keep the logits' dtype."""
    backend, dtype = backend_and_dtype
    jax = need("jax")
    name, logits, targets, promoted = DTYPE_CASES[case]
    returned = dtype if dtype == "float64" or promoted is None else promoted
    with backend.x64() if dtype == "float64" else contextlib.nullcontext():
        x = backend.asarray(logits, dtype)
        out = getattr(oc, name)(x, backend.asarray(targets))
        held = backend.to_numpy(x).astype(np.float64)
    with jax.enable_x64(True):
        expected = np.asarray(getattr(_optax(), name)(held, targets), np.float64)
    assert_result(backend, out, expected, returned)


def test_python_numbers_are_weakly_typed_and_arrays_promote(backend_and_dtype):
    """A Python number for ``labels`` or ``alpha`` takes the arrays' dtype (JAX's weak types:
    optax keeps half-precision logits half, and float32 float32 with x64 on); an ``alpha``
    array of a wider dtype promotes ``smooth_labels``' result, as optax's product does."""
    backend, dtype = backend_and_dtype
    jax, jnp = need("jax"), need("jax.numpy")
    optax = _optax()
    with backend.x64():  # Python floats become float64 arrays first: they must not promote
        x = backend.asarray(d.LOGITS, dtype)
        held = backend.to_numpy(x).astype(np.float64)
        with jax.enable_x64(True):
            held = jnp.asarray(held)
            for name in ("softmax_cross_entropy", "safe_softmax_cross_entropy"):
                expected = np.asarray(getattr(optax, name)(held, 0.5), np.float64)
                assert_result(backend, getattr(oc, name)(x, 0.5), expected, dtype)
        labels = backend.asarray(d.ONE_HOT, dtype)
        wide = "float64" if dtype == "float64" else "float32"
        alpha = backend.asarray(np.full((len(d.ONE_HOT), 1), 0.1), wide)
        with jax.enable_x64(True):
            expected = np.asarray(optax.smooth_labels(jnp.asarray(d.ONE_HOT, np.float64), 0.1))
        assert_result(backend, oc.smooth_labels(labels, 0.1), expected, dtype)
        assert_result(backend, oc.smooth_labels(labels, alpha), expected, wide)


@pytest.mark.backends("jax", "torch", "tensorflow")
def test_under_the_compiler(backend):
    """jax.jit, torch.compile(fullgraph=True) and tf.function with unknown dimensions."""

    def loss(logits, labels, targets, where):
        return (
            oc.softmax_cross_entropy_with_integer_labels(logits, labels, where=where)
            + oc.softmax_cross_entropy(logits, oc.smooth_labels(targets, 0.1), where=where)
            + oc.safe_softmax_cross_entropy(logits, targets)
        )

    args = (d.LOGITS, OUT_OF_RANGE, d.SOFT, EXAMPLES)
    compiled = backend.compile(loss, *args)
    arrays = [backend.asarray(a) for a in args]
    assert_result(backend, compiled(*arrays), backend.to_numpy(loss(*arrays)).astype(np.float64))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda b: oc.softmax_cross_entropy_with_integer_labels(
                b.asarray(d.LOGITS), b.asarray(d.LABELS.astype(np.float32))
            ),
            TypeError,
            "`labels` must hold integer class indices",
        ),
        (
            lambda b: oc.softmax_cross_entropy(b.asarray(d.LABELS), b.asarray(d.SOFT)),
            TypeError,
            "`logits` must be a real floating-point array",
        ),
        (
            lambda b: oc.smooth_labels(b.asarray(d.LABELS), 0.1),
            TypeError,
            "`labels` must be a real floating-point array",
        ),
        (
            lambda b: oc.smooth_labels(b.asarray(d.ONE_HOT), 1.5),
            ValueError,
            r"`alpha` must be in \[0, 1\]",
        ),
        (
            lambda b: oc.softmax_cross_entropy(b.asarray(d.LOGITS), b.asarray(d.SOFT), axis=2),
            ValueError,
            r"`axis`=2 is out of range for `logits` with 2 dimension\(s\)",
        ),
        (
            lambda b: oc.softmax_cross_entropy(
                b.asarray(d.LOGITS), b.asarray(d.SOFT), axis=(1, -1)
            ),
            ValueError,
            "names a dimension twice",
        ),
        (
            lambda b: oc.softmax_cross_entropy_with_integer_labels(
                b.asarray(d.LOGITS), b.asarray(d.LABELS), axis=None
            ),
            ValueError,
            "`axis` must be an int or a tuple of ints",
        ),
        (
            lambda b: oc.softmax_cross_entropy_with_integer_labels(
                b.asarray(d.LOGITS), b.asarray(d.LABELS[:3])
            ),
            ValueError,
            r"expected \(8,\), received \(3,\)",
        ),
        (
            lambda b: oc.softmax_cross_entropy(b.asarray(d.LOGITS), b.asarray(d.SOFT[:, :3])),
            ValueError,
            r"`labels` of shape \(8, 3\) does not broadcast against `logits` of shape \(8, 5\)",
        ),
        (
            lambda b: oc.softmax_cross_entropy(
                b.asarray(d.LOGITS), b.asarray(d.SOFT), where=b.asarray(EXAMPLES[:3])
            ),
            ValueError,
            "`where` of shape",
        ),
        (
            lambda b: oc.softmax_cross_entropy(b.asarray(NO_CLASSES), b.asarray(NO_CLASSES)),
            ValueError,
            r"`logits` has no classes: its axis 1 \(the class axis\) has size 0",
        ),
        (
            lambda b: oc.softmax_cross_entropy_with_integer_labels(
                b.asarray(NO_CLASSES), b.asarray(np.zeros(3, np.int32))
            ),
            ValueError,
            "`logits` has no classes",
        ),
        (
            lambda b: oc.safe_softmax_cross_entropy(b.asarray(NO_CLASSES), b.asarray(NO_CLASSES)),
            ValueError,
            "`logits` has no classes",
        ),
    ],
    ids=[
        "float-integer-labels",
        "integer-logits",
        "integer-smooth-labels",
        "alpha-above-1",
        "axis-out-of-range",
        "axis-twice",
        "axis-none-integer",
        "labels-shape",
        "labels-broadcast",
        "where-shape",
        "no-classes",
        "no-classes-integer-labels",
        "no-classes-safe",
    ],
)
def test_bad_arguments(backend, call, error, match):
    with pytest.raises(error, match=match):
        call(backend)


def test_importing_the_profile_imports_no_framework():
    code = (
        "import sys, xloss.compat.optax as oc, numpy as np; "
        "oc.softmax_cross_entropy(np.ones((2, 3)), np.ones((2, 3)) / 3); "
        "print([m for m in ('torch', 'jax', 'tensorflow', 'keras', 'optax') if m in sys.modules])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


@pytest.mark.backends("jax")
def test_numpy_labels_jax_cannot_hold_are_refused(backend):
    """NumPy int64 labels past int32 with JAX arrays (x64 off, where they become int32) would
    wrap into a class (``2**32 + 1`` is class 1, optax's silent answer): a ``ValueError`` naming
    the argument, in the profiles that take NumPy labels; a Python list's overflow names it too.
    """
    keras = importlib.import_module("xloss.compat.keras")
    x = backend.asarray(d.LOGITS)
    for bad in (2**32 + 1, 2**31 + 1, -(2**31) - 1):
        labels = d.LABELS.astype(np.int64)
        labels[2] = bad
        message = rf"`labels` holds {bad}, which jax's int32 cannot hold"
        with pytest.raises(ValueError, match=message):
            oc.softmax_cross_entropy_with_integer_labels(x, labels)
        with pytest.raises(ValueError, match=message.replace("labels", "y_true")):
            keras.sparse_categorical_crossentropy(labels, x, from_logits=True)
    with pytest.raises(OverflowError, match=r"`y_true` cannot be made a jax array"):
        xloss.sparse_categorical_crossentropy([0, 2**32 + 1] * 4, x, from_logits=True)
