"""xloss.compat.tensorflow against tf.nn itself, on every backend.

TensorFlow runs once per case on the float32 NumPy inputs as the oracle; the profile runs on the
backend's arrays.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys

import data as d
import numpy as np
import pytest
from backends import need
from checks import assert_result

import xloss.compat.tensorflow as tfc

NO_CLASSES = np.zeros((3, 0), np.float32)  # a class axis of size 0

EXTREME = np.array(
    [[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -1e4, 1e4], [0.0, 1.0, 2.0, 3.0]],
    np.float32,
)
EXTREME_LABELS = np.array([1, 3, 2, 0])
MASKED = d.LOGITS[:, :4].copy()
MASKED[:, 2] = -np.inf
MASKED[0, [0, 1]] = -np.inf
MASKED_LABELS = np.array([3, 0, 1, 3, 0, 1, 3, 0])
LOGITS_3D_LAST = np.moveaxis(d.LOGITS_3D, 1, -1).copy()
SOFT_3D_LAST = np.moveaxis(d.SOFT_3D, 1, -1).copy()
EXTREME_BINARY = np.concatenate([d.BINARY_LOGITS, np.array([[1e4, -1e4, 0.0]], np.float32)])
EXTREME_BINARY_TARGETS = np.concatenate([d.BINARY_SOFT, np.array([[0.0, 1.0, 0.5]], np.float32)])
POS_WEIGHT = np.array([0.5, 1.0, 3.0], np.float32)


def _tf():
    return need("tensorflow")


_ORACLE: dict[tuple[str, str], np.ndarray] = {}


def _compare(backend, name, case, kwargs):
    """The profile on ``backend`` against tf.nn, which runs once per case (not per backend).
    ``kwargs`` are passed by keyword, as TF's documentation asks."""
    if (name, case) not in _ORACLE:
        oracle = getattr(_tf().nn, name)(**kwargs)
        _ORACLE[name, case] = oracle.numpy().astype(np.float64)
    ours = {k: backend.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    out = getattr(tfc, name)(**ours)
    assert_result(backend, out, _ORACLE[name, case])
    return backend.to_numpy(out)


SOFTMAX = {
    "random": {"labels": d.SOFT, "logits": d.LOGITS},
    "axis-0": {"labels": d.SOFT.T, "logits": d.LOGITS.T, "axis": 0},
    "3d": {"labels": SOFT_3D_LAST, "logits": LOGITS_3D_LAST},
    "3d-axis-1": {"labels": d.SOFT_3D, "logits": d.LOGITS_3D, "axis": 1},
    "unbatched": {"labels": d.SOFT[0], "logits": d.LOGITS[0]},
    "labels-broadcast": {"labels": d.SOFT[:1], "logits": d.LOGITS},
    "extreme-1e4": {"labels": np.eye(4, dtype=np.float32)[EXTREME_LABELS], "logits": EXTREME},
    "positive-target-on-inf": {"labels": np.eye(4, dtype=np.float32)[[2]], "logits": MASKED[1:2]},
}


@pytest.mark.parametrize("case", SOFTMAX)
def test_softmax_cross_entropy_matches_tf(backend, case):
    _compare(backend, "softmax_cross_entropy_with_logits", case, SOFTMAX[case])


def test_masked_logits_give_nan_as_in_tf(backend):
    """A -inf logit with a zero label is 0 * inf = nan in TF's kernel, and here."""
    kwargs = {"labels": np.eye(4, dtype=np.float32)[MASKED_LABELS], "logits": MASKED}
    with np.errstate(invalid="ignore"):  # NumPy-based backends report the 0 * -inf
        out = _compare(backend, "softmax_cross_entropy_with_logits", "masked", kwargs)
    assert np.isnan(out).all()


SPARSE = {
    "random": {"labels": d.LABELS, "logits": d.LOGITS},
    "int32-labels": {"labels": d.LABELS.astype(np.int32), "logits": d.LOGITS},
    "3d": {"labels": d.LABELS_3D, "logits": LOGITS_3D_LAST},
    "unbatched": {"labels": np.asarray(d.LABELS[0]), "logits": d.LOGITS[0]},
    "extreme-1e4": {"labels": EXTREME_LABELS, "logits": EXTREME},
    "masked-inf": {"labels": MASKED_LABELS, "logits": MASKED},
}


@pytest.mark.parametrize("case", SPARSE)
def test_sparse_softmax_cross_entropy_matches_tf(backend, case):
    out = _compare(backend, "sparse_softmax_cross_entropy_with_logits", case, SPARSE[case])
    assert np.isfinite(out).all()


SIGMOID = {
    "soft": {"labels": d.BINARY_SOFT, "logits": d.BINARY_LOGITS},
    "extreme-1e4": {"labels": EXTREME_BINARY_TARGETS, "logits": EXTREME_BINARY},
    "3d": {"labels": d.BINARY_TARGETS_3D, "logits": d.BINARY_LOGITS_3D},
    # TensorFlow's answers at infinite logits: inf for a -inf logit with a positive label.
    "infinite-logits": {
        "labels": np.array([[1.0, 0.5, 0.0, 1.0, 0.5, 0.0]], np.float32),
        "logits": np.array([[-np.inf] * 3 + [np.inf] * 3], np.float32),
    },
}


# From 65,536 entries eager TensorFlow on the CPU runs the profiles' elementwise losses
# compiled by XLA: a large case of each, infinite logits among them.
LARGE_LOGITS = np.random.default_rng(9).normal(scale=4.0, size=(512, 256)).astype(np.float32)
LARGE_LOGITS[0, :4] = [1e4, -1e4, np.inf, -np.inf]
LARGE_LABELS = np.random.default_rng(10).uniform(size=(512, 256)).astype(np.float32)
SIGMOID["large-infinite-logits"] = {"labels": LARGE_LABELS, "logits": LARGE_LOGITS}


@pytest.mark.parametrize("case", SIGMOID)
def test_sigmoid_cross_entropy_matches_tf(backend, case):
    infinite = "infinite" in case  # NumPy warns of the nans it makes (inf * 0), as TF's
    with np.errstate(invalid="ignore") if infinite else contextlib.nullcontext():
        out = _compare(backend, "sigmoid_cross_entropy_with_logits", case, SIGMOID[case])
    assert np.isfinite(out).all() or infinite


WEIGHTED = {
    "scalar-pos-weight": {"labels": d.BINARY_SOFT, "logits": d.BINARY_LOGITS, "pos_weight": 2.5},
    "per-class-pos-weight": {
        "labels": EXTREME_BINARY_TARGETS,
        "logits": EXTREME_BINARY,
        "pos_weight": POS_WEIGHT,
    },
    "3d": {
        "labels": d.BINARY_TARGETS_3D,
        "logits": d.BINARY_LOGITS_3D,
        "pos_weight": np.linspace(0.5, 2.5, 5, dtype=np.float32),
    },
}


WEIGHTED["large"] = {
    "labels": LARGE_LABELS,
    "logits": np.clip(LARGE_LOGITS, -1e4, 1e4),
    "pos_weight": np.linspace(0.0, 3.0, 256, dtype=np.float32),
}


@pytest.mark.parametrize("case", WEIGHTED)
def test_weighted_cross_entropy_matches_tf(backend, case):
    _compare(backend, "weighted_cross_entropy_with_logits", case, WEIGHTED[case])


# case: (function, keyword arguments; "logits" is cast to the dtype under test)
DTYPE_CASES = {
    "softmax": ("softmax_cross_entropy_with_logits", {"labels": d.SOFT, "logits": d.LOGITS}),
    "sparse": (
        "sparse_softmax_cross_entropy_with_logits",
        {"labels": d.LABELS, "logits": d.LOGITS},
    ),
    "weighted": (
        "weighted_cross_entropy_with_logits",
        {"labels": d.BINARY_SOFT, "logits": d.BINARY_LOGITS, "pos_weight": POS_WEIGHT},
    ),
}


@pytest.mark.parametrize("case", DTYPE_CASES)
def test_returns_the_logits_dtype(backend_and_dtype, case):
    """TF returns the logits' dtype; half precision is computed in float32 and rounded once."""
    backend, dtype = backend_and_dtype
    tf = _tf()
    name, kwargs = DTYPE_CASES[case]
    with backend.x64() if dtype == "float64" else contextlib.nullcontext():
        ours = {k: backend.asarray(v) for k, v in kwargs.items()}
        ours["logits"] = backend.asarray(kwargs["logits"], dtype)
        out = getattr(tfc, name)(**ours)
        held = backend.to_numpy(ours["logits"]).astype(np.float64)
    theirs = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in kwargs.items()}
    expected = getattr(tf.nn, name)(**{**theirs, "logits": held}).numpy()
    assert_result(backend, out, expected, dtype)


@pytest.mark.backends("jax", "torch", "tensorflow")
def test_under_the_compiler(backend):
    """jax.jit, torch.compile(fullgraph=True) and tf.function with unknown dimensions."""

    def loss(labels, logits, targets):
        return tfc.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits
        ) + tfc.softmax_cross_entropy_with_logits(labels=targets, logits=logits)

    args = (d.LABELS, d.LOGITS, d.SOFT)
    compiled = backend.compile(loss, *args)
    arrays = [backend.asarray(a) for a in args]
    assert_result(backend, compiled(*arrays), backend.to_numpy(loss(*arrays)).astype(np.float64))


@pytest.mark.backends("jax", "tensorflow")
def test_out_of_range_label_under_tracing_gives_nan(backend):
    """TF on CPU raises even inside tf.function; traced code cannot read values, so the
    profile gives that example nan there (as TF does on GPU)."""
    labels = d.LABELS.copy()
    labels[2] = -1
    compiled = backend.compile(
        lambda y, x: tfc.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x),
        labels,
        d.LOGITS,
    )
    out = backend.to_numpy(compiled(backend.asarray(labels), backend.asarray(d.LOGITS)))
    assert np.isnan(out[2]) and np.isfinite(np.delete(out, 2)).all()


# tf.nn converts NumPy labels (and pos_weight) to tensors: they go with any backend's logits
NUMPY_MIXED = {
    **DTYPE_CASES,
    "sigmoid": (
        "sigmoid_cross_entropy_with_logits",
        {"labels": d.BINARY_SOFT, "logits": d.BINARY_LOGITS},
    ),
    "weighted-numpy-scalar": (
        "weighted_cross_entropy_with_logits",
        {"labels": d.BINARY_SOFT, "logits": d.BINARY_LOGITS, "pos_weight": np.float32(2.5)},
    ),
}


@pytest.mark.backends("array_api_strict", "jax", "torch", "tensorflow")
@pytest.mark.parametrize("case", NUMPY_MIXED)
def test_numpy_labels_with_other_arrays_match_tf(backend, case):
    """The oracle is tf.nn on a tensor of logits with the NumPy labels as they are."""
    tf = _tf()
    name, kwargs = NUMPY_MIXED[case]
    expected = getattr(tf.nn, name)(**{**kwargs, "logits": tf.constant(kwargs["logits"])})
    out = getattr(tfc, name)(**{**kwargs, "logits": backend.asarray(kwargs["logits"])})
    assert_result(backend, out, expected.numpy().astype(np.float64))


def _another_framework(backend):
    """An array maker of a framework other than the backend's, and other than NumPy."""
    return need("torch").from_numpy if backend.name == "jax" else need("jax.numpy").asarray


def test_two_frameworks_ask_to_convert_the_labels(backend):
    """`logits` is the reference (the result's array type): the message asks to convert the
    labels, whichever argument comes first in TF's signature."""
    other = _another_framework(backend)
    with pytest.raises(TypeError, match=r"`logits` is .* but `labels` is .*Convert `labels` to"):
        tfc.sparse_softmax_cross_entropy_with_logits(
            labels=other(d.LABELS), logits=backend.asarray(d.LOGITS)
        )
    with pytest.raises(TypeError, match=r"Convert `pos_weight` to the framework of `logits`"):
        tfc.weighted_cross_entropy_with_logits(
            backend.asarray(d.BINARY_SOFT), backend.asarray(d.BINARY_LOGITS), other(POS_WEIGHT)
        )


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.host_values
def test_out_of_range_label_is_an_error_like_tf(backend):
    tf = _tf()
    labels = d.LABELS.copy()
    labels[2] = d.C
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside the valid range"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=d.LOGITS)
    with pytest.raises(ValueError, match=r"`labels` holds the value 5, outside the valid range"):
        tfc.sparse_softmax_cross_entropy_with_logits(
            labels=backend.asarray(labels), logits=backend.asarray(d.LOGITS)
        )


def test_missing_or_mismatched_arguments_are_errors_like_tf(backend):
    tf = _tf()
    with pytest.raises(ValueError, match="Both `labels` and `logits`"):
        tf.nn.sigmoid_cross_entropy_with_logits(logits=d.BINARY_LOGITS)
    with pytest.raises(ValueError, match="Both `labels` and `logits` must be given"):
        tfc.sigmoid_cross_entropy_with_logits(logits=backend.asarray(d.BINARY_LOGITS))
    short = d.BINARY_TARGETS[:, 0]
    with pytest.raises(ValueError, match="must have the same shape"):
        tf.nn.sigmoid_cross_entropy_with_logits(labels=short, logits=d.BINARY_LOGITS)
    with pytest.raises(ValueError, match=r"must have the same shape; received \(8, 3\) and \(8,\)"):
        tfc.sigmoid_cross_entropy_with_logits(
            labels=backend.asarray(short), logits=backend.asarray(d.BINARY_LOGITS)
        )
    with pytest.raises(ValueError, match=r"`labels\.shape` must equal `logits\.shape`"):
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=d.LABELS[:3], logits=d.LOGITS)
    with pytest.raises(ValueError, match=r"expected \(8,\), received \(3,\)"):
        tfc.sparse_softmax_cross_entropy_with_logits(
            labels=backend.asarray(d.LABELS[:3]), logits=backend.asarray(d.LOGITS)
        )


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda b: tfc.sparse_softmax_cross_entropy_with_logits(
                labels=b.asarray(d.LABELS.astype(np.float32)), logits=b.asarray(d.LOGITS)
            ),
            TypeError,
            "`labels` must hold integer class indices",
        ),
        (
            lambda b: tfc.softmax_cross_entropy_with_logits(
                labels=b.asarray(d.SOFT), logits=b.asarray(d.LABELS)
            ),
            TypeError,
            "`logits` must be a real floating-point array",
        ),
        (
            lambda b: tfc.softmax_cross_entropy_with_logits(
                labels=b.asarray(d.SOFT), logits=b.asarray(d.LOGITS), axis=3
            ),
            ValueError,
            r"`axis`=3 is out of range",
        ),
        (
            lambda b: tfc.softmax_cross_entropy_with_logits(
                labels=b.asarray(d.SOFT[:, :2]), logits=b.asarray(d.LOGITS)
            ),
            ValueError,
            "does not broadcast to `logits`' shape",
        ),
        (
            lambda b: tfc.weighted_cross_entropy_with_logits(
                b.asarray(d.BINARY_SOFT), b.asarray(d.BINARY_LOGITS), b.asarray(d.SAMPLE_WEIGHT)
            ),
            ValueError,
            r"`pos_weight` of shape \(8,\) does not broadcast",
        ),
        (
            lambda b: tfc.sigmoid_cross_entropy_with_logits(
                labels=b.asarray(d.BINARY_SOFT), logits=b.asarray(d.BINARY_LOGITS), name=3
            ),
            TypeError,
            "`name` must be a string or None",
        ),
        (
            lambda b: tfc.sparse_softmax_cross_entropy_with_logits(
                labels=b.asarray(np.int64(0)), logits=b.asarray(np.float32(1.0))
            ),
            ValueError,
            "`logits` must have at least one dimension",
        ),
        (
            lambda b: tfc.softmax_cross_entropy_with_logits(
                labels=b.asarray(NO_CLASSES), logits=b.asarray(NO_CLASSES)
            ),
            ValueError,
            r"`logits` has no classes: its axis 1 \(the class axis\) has size 0",
        ),
        (
            lambda b: tfc.sparse_softmax_cross_entropy_with_logits(
                labels=b.asarray(np.zeros(3, np.int32)), logits=b.asarray(NO_CLASSES)
            ),
            ValueError,
            "`logits` has no classes",
        ),
        (
            lambda b: tfc.softmax_cross_entropy_with_logits(
                labels=b.asarray(np.stack([d.SOFT, d.SOFT])), logits=b.asarray(d.LOGITS)
            ),
            ValueError,
            r"`labels` of shape \(2, 8, 5\) does not broadcast to `logits`' shape \(8, 5\)",
        ),
    ],
    ids=[
        "float-sparse-labels",
        "integer-logits",
        "axis",
        "labels-shape",
        "pos-weight-shape",
        "name",
        "scalar-logits",
        "no-classes",
        "no-classes-sparse",
        "labels-more-dimensions",
    ],
)
def test_bad_arguments(backend, call, error, match):
    with pytest.raises(error, match=match):
        call(backend)


def test_importing_the_profile_imports_no_framework():
    code = (
        "import sys, xloss.compat.tensorflow as tfc, numpy as np; "
        "tfc.sparse_softmax_cross_entropy_with_logits(labels=[0, 1], logits=np.ones((2, 3))); "
        "print([m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules])"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
