"""Every loss against Keras 3 (the semantics xloss matches) and a float64 reference.

xloss runs on each backend; Keras runs once on the same NumPy data (its own backend, TensorFlow).
Keras computes in float32, as xloss does for float32 inputs.
"""

from __future__ import annotations

import data as d
import numpy as np
import pytest
import reference as ref
from backends import need
from checks import assert_result, expect_logits_warning, tolerance

import xloss

keras = need("keras")

FUNCTIONS = {
    "categorical": (xloss.categorical_crossentropy, ref.categorical),
    "sparse": (xloss.sparse_categorical_crossentropy, ref.sparse_categorical),
    "binary": (xloss.binary_crossentropy, ref.binary),
}


def keras_function(kind: str, y_true, y_pred, axis=-1, **kwargs):
    """Keras's function; other class axes are moved last first (Keras's TF backend refuses
    ``axis != -1`` for the sparse loss and smooths with ``shape[-1]`` as the class count)."""
    if axis != -1 and kind != "binary":
        y_pred = np.moveaxis(y_pred, axis, -1)
        if kind == "categorical":
            y_true = np.moveaxis(y_true, axis, -1)
    fn = {
        "categorical": keras.losses.categorical_crossentropy,
        "sparse": keras.losses.sparse_categorical_crossentropy,
        "binary": keras.losses.binary_crossentropy,
    }[kind]
    if kind == "binary":
        kwargs["axis"] = axis
    if kind == "sparse" and not kwargs.get("from_logits") and "ignore_class" not in kwargs:
        # Keras's TensorFlow backend clips probabilities *before* renormalising them in the
        # sparse loss; its NumPy, JAX and torch backends one-hot the labels and apply the
        # categorical rule (renormalise, then clip), which is the rule xloss follows.
        fn = keras.losses.categorical_crossentropy
        y_true = np.eye(y_pred.shape[-1], dtype=np.float32)[y_true]
    return np.asarray(fn(y_true, y_pred, **kwargs), dtype=np.float64)


CASES = {
    "categorical-logits": ("categorical", d.ONE_HOT, d.LOGITS, {"from_logits": True}),
    "categorical-probabilities": ("categorical", d.ONE_HOT, d.PROBS, {}),
    "categorical-unnormalised": ("categorical", d.SOFT, d.UNNORMALISED, {}),
    "categorical-exact-zeros": ("categorical", d.ONE_HOT, d.PROBS_WITH_ZEROS, {}),
    "categorical-soft-smoothed-logits": (
        "categorical",
        d.SOFT,
        d.LOGITS,
        {"from_logits": True, "label_smoothing": 0.1},
    ),
    "categorical-soft-smoothed-probabilities": (
        "categorical",
        d.SOFT,
        d.PROBS,
        {"label_smoothing": 0.25},
    ),
    "categorical-axis1-logits": (
        "categorical",
        d.SOFT_3D,
        d.LOGITS_3D,
        {"from_logits": True, "axis": 1, "label_smoothing": 0.1},
    ),
    "categorical-axis1-probabilities": ("categorical", d.SOFT_3D, d.PROBS_3D, {"axis": 1}),
    "sparse-logits": ("sparse", d.LABELS, d.LOGITS, {"from_logits": True}),
    "sparse-probabilities": ("sparse", d.LABELS, d.PROBS, {}),
    "sparse-unnormalised": ("sparse", d.LABELS, d.UNNORMALISED, {}),
    "sparse-exact-zeros": ("sparse", d.LABELS, d.PROBS_WITH_ZEROS, {}),
    "sparse-labels-n-by-1": ("sparse", d.LABELS[:, None], d.LOGITS, {"from_logits": True}),
    "sparse-ignore-class": (
        "sparse",
        d.IGNORED,
        d.LOGITS,
        {"from_logits": True, "ignore_class": -1},
    ),
    "sparse-axis1-logits": ("sparse", d.LABELS_3D, d.LOGITS_3D, {"from_logits": True, "axis": 1}),
    "sparse-axis1-probabilities-ignore": (
        "sparse",
        d.IGNORED_3D,
        d.PROBS_3D,
        {"axis": 1, "ignore_class": 7},
    ),
    "binary-logits": ("binary", d.BINARY_TARGETS, d.BINARY_LOGITS, {"from_logits": True}),
    "binary-probabilities": ("binary", d.BINARY_TARGETS, d.BINARY_PROBS, {}),
    "binary-probabilities-0-and-1": ("binary", d.BINARY_TARGETS, d.BINARY_PROBS_EDGES, {}),
    "binary-soft-smoothed-logits": (
        "binary",
        d.BINARY_SOFT,
        d.BINARY_LOGITS,
        {"from_logits": True, "label_smoothing": 0.2},
    ),
    "binary-smoothed-probabilities": (
        "binary",
        d.BINARY_TARGETS,
        d.BINARY_PROBS,
        {"label_smoothing": 0.1},
    ),
    "binary-axis1": (
        "binary",
        d.BINARY_TARGETS_3D,
        d.BINARY_LOGITS_3D,
        {"from_logits": True, "axis": 1},
    ),
}


def _keras_kwargs(kind, kwargs):
    """Keras's sparse function has no ignore-aware axis; everything else passes through."""
    return {k: v for k, v in kwargs.items() if k != "axis"}


@pytest.mark.parametrize("case", CASES)
def test_function_matches_keras(backend, case):
    kind, y_true, y_pred, kwargs = CASES[case]
    ours_fn, ref_fn = FUNCTIONS[kind]
    with expect_logits_warning(backend, y_pred, kwargs):
        result = ours_fn(backend.asarray(y_true), backend.asarray(y_pred), **kwargs)
    labels = y_true[:, 0] if case == "sparse-labels-n-by-1" else y_true
    assert_result(backend, result, ref_fn(labels, y_pred, **kwargs))
    keras_result = keras_function(
        kind, labels, y_pred, axis=kwargs.get("axis", -1), **_keras_kwargs(kind, kwargs)
    )
    assert_result(backend, result, keras_result)


def test_probability_loss_is_capped_like_keras(backend):
    """From probabilities, a zero on the target class costs -log(1e-7) = 16.118, not inf."""
    y_pred = np.array([[0.0, 1.0]], np.float32)
    out = xloss.categorical_crossentropy(backend.asarray([[1.0, 0.0]]), backend.asarray(y_pred))
    keras_out = keras.losses.categorical_crossentropy(np.array([[1.0, 0.0]]), y_pred)
    assert_result(backend, out, np.asarray(keras_out, np.float64))
    np.testing.assert_allclose(backend.to_numpy(out), -np.log(1e-7), rtol=tolerance("float32"))


CLASSES = {
    "categorical": (
        xloss.CategoricalCrossentropy,
        "CategoricalCrossentropy",
        d.SOFT,
        d.LOGITS,
        {"from_logits": True, "label_smoothing": 0.1},
    ),
    "categorical-probabilities": (
        xloss.CategoricalCrossentropy,
        "CategoricalCrossentropy",
        d.ONE_HOT,
        d.UNNORMALISED,
        {},
    ),
    "sparse": (
        xloss.SparseCategoricalCrossentropy,
        "SparseCategoricalCrossentropy",
        d.LABELS,
        d.LOGITS,
        {"from_logits": True},
    ),
    "sparse-ignore-class": (
        xloss.SparseCategoricalCrossentropy,
        "SparseCategoricalCrossentropy",
        d.IGNORED,
        d.PROBS,
        {"ignore_class": -1},
    ),
    "binary": (
        xloss.BinaryCrossentropy,
        "BinaryCrossentropy",
        d.BINARY_TARGETS,
        d.BINARY_LOGITS,
        {"from_logits": True, "label_smoothing": 0.05},
    ),
    "binary-3d": (
        xloss.BinaryCrossentropy,
        "BinaryCrossentropy",
        d.BINARY_TARGETS_3D,
        d.BINARY_LOGITS_3D,
        {"from_logits": True},
    ),
}
REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS, ids=str)
@pytest.mark.parametrize("case", CLASSES)
def test_class_matches_keras(backend, case, reduction, weighted):
    ours_cls, keras_name, y_true, y_pred, kwargs = CLASSES[case]
    sample_weight = None
    if weighted:
        sample_weight = d.SAMPLE_WEIGHT_3D if y_pred.ndim == 3 else d.SAMPLE_WEIGHT
    loss = ours_cls(reduction=reduction, **kwargs)
    with expect_logits_warning(backend, y_pred, kwargs):
        result = loss(
            backend.asarray(y_true),
            backend.asarray(y_pred),
            None if sample_weight is None else backend.asarray(sample_weight),
        )
    keras_loss = getattr(keras.losses, keras_name)(reduction=reduction, **kwargs)
    expected_keras = np.asarray(keras_loss(y_true, y_pred, sample_weight=sample_weight), np.float64)
    assert_result(backend, result, expected_keras)

    kind = "sparse" if "Sparse" in keras_name else keras_name.replace("Crossentropy", "").lower()
    values = FUNCTIONS[kind][1](y_true, y_pred, **kwargs)
    valid = (y_true != kwargs["ignore_class"]) if "ignore_class" in kwargs else None
    assert_result(backend, result, ref.reduce(values, sample_weight, valid, reduction))


def test_ignore_class_divides_by_valid_count(backend):
    """Keras's rule: with 1 of 4 positions ignored, the mean is the sum of the other 3 over 3."""
    labels = np.array([0, 1, 2, -100])
    y_pred = d.LOGITS[:4, :3]
    per_sample = ref.sparse_categorical(labels, y_pred, from_logits=True, ignore_class=-100)
    loss = xloss.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)
    assert_result(
        backend, loss(backend.asarray(labels), backend.asarray(y_pred)), per_sample.sum() / 3
    )


RANK_PAIRS = {  # targets and predictions whose ranks differ by a trailing size-1 dimension
    "binary-targets-n1-predictions-n": (
        "BinaryCrossentropy",
        d.BINARY_TARGETS[:, :1],
        d.BINARY_LOGITS[:, 0],
    ),
    "binary-targets-n-predictions-n1": (
        "BinaryCrossentropy",
        d.BINARY_TARGETS[:, 0],
        d.BINARY_LOGITS[:, :1],
    ),
    "binary-targets-nt-predictions-nt1": (
        "BinaryCrossentropy",
        d.BINARY_TARGETS,
        d.BINARY_LOGITS[..., None],
    ),
    "binary-targets-nt1-predictions-nt": (
        "BinaryCrossentropy",
        d.BINARY_TARGETS[..., None],
        d.BINARY_LOGITS,
    ),
    "categorical-predictions-nc1": ("CategoricalCrossentropy", d.SOFT, d.LOGITS[..., None]),
}


@pytest.mark.parametrize("weight", [None, "n", "n1"])
@pytest.mark.parametrize(
    "reduction", [None, "sum", "sum_over_batch_size", "mean_with_sample_weight"], ids=str
)
@pytest.mark.parametrize("case", RANK_PAIRS)
def test_class_aligns_ranks_like_keras(backend, case, reduction, weight):
    """Keras's loss classes bring targets and predictions to one rank (``(N, 1)`` against
    ``(N,)`` is one loss per sample; ``(N, T)`` against ``(N, T, 1)`` drops the 1), and a
    ``(N, 1)`` weight on ``(N,)`` losses gives ``(N, 1)`` values: the same shapes and values."""
    name, y_true, y_pred = RANK_PAIRS[case]
    sample_weight = {None: None, "n": d.SAMPLE_WEIGHT, "n1": d.SAMPLE_WEIGHT[:, None]}[weight]
    keras_loss = getattr(keras.losses, name)(from_logits=True, reduction=reduction)
    expected = np.asarray(keras_loss(y_true, y_pred, sample_weight=sample_weight), np.float64)
    loss = getattr(xloss, name)(from_logits=True, reduction=reduction)
    result = loss(
        backend.asarray(y_true),
        backend.asarray(y_pred),
        None if sample_weight is None else backend.asarray(sample_weight),
    )
    assert tuple(result.shape) == expected.shape
    assert_result(backend, result, expected)


def test_axis_out_of_range_after_alignment_says_so(backend):
    """``axis`` indexes the aligned arrays (Keras's loss classes align first): the error for a
    positive axis that named the dropped trailing 1 explains the alignment."""
    y_true, y_pred = d.BINARY_TARGETS, d.BINARY_LOGITS[..., None]
    with pytest.raises(ValueError, match=r"was brought to shape \(8, 3\) to match `y_true`"):
        xloss.binary_crossentropy(backend.asarray(y_true), backend.asarray(y_pred), axis=2)
