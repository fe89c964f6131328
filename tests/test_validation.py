"""Bad input fails at the public entry with a message naming the argument and the fix."""

from __future__ import annotations

import warnings

import data as d
import numpy as np
import pytest
from backends import FLOAT_DTYPES, need

import xloss


def _other_framework(backend, array):
    """``array`` as another library's array than ``backend``'s (torch's for NumPy)."""
    if backend.name == "numpy":
        return need("torch").asarray(array)
    return array


def _labels_with(bad: int) -> np.ndarray:
    labels = d.LABELS.copy()
    labels[0] = bad
    return labels


ROWS = {
    "shape-mismatch": (
        lambda b: xloss.categorical_crossentropy(b.asarray(d.ONE_HOT[:, :3]), b.asarray(d.PROBS)),
        ValueError,
        r"`y_true` and `y_pred` must have the same shape; received y_true.shape=\(8, 3\)",
    ),
    "sparse-batch-mismatch": (
        lambda b: xloss.sparse_categorical_crossentropy(
            b.asarray(d.LABELS[:5]), b.asarray(d.PROBS)
        ),
        ValueError,
        r"`y_true` must have the shape of `y_pred` without its class axis .* expected \(8,\)",
    ),
    "float-labels-to-sparse": (
        lambda b: xloss.sparse_categorical_crossentropy(
            b.asarray(d.LABELS.astype(np.float32)), b.asarray(d.PROBS)
        ),
        TypeError,
        r"`y_true` must hold integer class indices; received dtype .*float32.* Cast the labels",
    ),
    "integer-y_pred": (
        lambda b: xloss.categorical_crossentropy(
            b.asarray(d.ONE_HOT), b.asarray(d.LABELS[:, None])
        ),
        TypeError,
        r"`y_pred` must be a real floating-point array; received dtype .*int",
    ),
    "boolean-y_pred": (
        lambda b: xloss.binary_crossentropy(
            b.asarray(d.BINARY_TARGETS), b.asarray(d.BINARY_TARGETS.astype(bool))
        ),
        TypeError,
        r"`y_pred` must be a real floating-point array; received dtype .*bool",
    ),
    "label-out-of-range": (
        lambda b: xloss.sparse_categorical_crossentropy(
            b.asarray(_labels_with(d.C)), b.asarray(d.PROBS)
        ),
        ValueError,
        r"`y_true` holds the label 5, outside \[0, 5\)",
    ),
    "negative-label": (
        lambda b: xloss.sparse_categorical_crossentropy(
            b.asarray(_labels_with(-1)), b.asarray(d.PROBS)
        ),
        ValueError,
        r"`y_true` holds the label -1, outside \[0, 5\)",
    ),
    "two-frameworks": (
        lambda b: xloss.categorical_crossentropy(
            _other_framework(b, d.ONE_HOT), b.asarray(d.PROBS)
        ),
        TypeError,
        r"`y_pred` is a .* but `y_true` is a .*: arrays from two frameworks in one call",
    ),
    "unknown-reduction": (
        lambda b: xloss.CategoricalCrossentropy(reduction="avg"),
        ValueError,
        r"`reduction` must be one of 'sum_over_batch_size', .*; received 'avg'",
    ),
    "integer-softmax-input": (
        lambda b: xloss.softmax(b.asarray(d.LABELS)),
        TypeError,
        r"`x` must be a real floating-point array",
    ),
    "label-smoothing-out-of-range": (
        lambda b: xloss.categorical_crossentropy(
            b.asarray(d.ONE_HOT), b.asarray(d.PROBS), label_smoothing=1.5
        ),
        ValueError,
        r"`label_smoothing` must be in \[0, 1\]; received 1.5",
    ),
    "axis-out-of-range": (
        lambda b: xloss.binary_crossentropy(b.asarray(d.ONE_HOT), b.asarray(d.PROBS), axis=2),
        ValueError,
        r"`axis`=2 is out of range for `y_pred` with 2 dimension\(s\); use a value in \[-2, 1\]",
    ),
    "axis-not-int": (
        lambda b: xloss.softmax(b.asarray(d.LOGITS), axis=True),
        TypeError,
        r"`axis` must be an int; received True",
    ),
    "from-logits-not-bool": (
        lambda b: xloss.categorical_crossentropy(
            b.asarray(d.ONE_HOT), b.asarray(d.PROBS), from_logits="yes"
        ),
        TypeError,
        r"`from_logits` must be True or False; received 'yes'",
    ),
    "none-labels": (
        lambda b: xloss.sparse_categorical_crossentropy(None, b.asarray(d.PROBS)),
        TypeError,
        r"`y_true` must be an array, a Python number or a list; received None",
    ),
    "none-predictions": (
        lambda b: xloss.SparseCategoricalCrossentropy()(b.asarray(d.LABELS), None),
        TypeError,
        r"`y_pred` must be an array, a Python number or a list; received None",
    ),
    "none-top-k-input": (
        lambda b: xloss.top_k(None, 1),
        TypeError,
        r"`x` must be an array, a Python number or a list; received None",
    ),
    "label-smoothing-string": (
        lambda b: xloss.categorical_crossentropy(
            b.asarray(d.ONE_HOT), b.asarray(d.PROBS), label_smoothing="0.1"
        ),
        TypeError,
        r"`label_smoothing` must be a number in \[0, 1\]; received '0.1'",
    ),
    "keepdims-not-bool": (
        lambda b: xloss.logsumexp(b.asarray(d.LOGITS), keepdims="no"),
        TypeError,
        r"`keepdims` must be True or False; received 'no'",
    ),
    "no-classes-softmax": (
        lambda b: xloss.softmax(b.asarray(np.zeros((8, 0), np.float32))),
        ValueError,
        r"`x` has no classes: its axis 1 \(the class axis\) has size 0, in shape \(8, 0\)",
    ),
    "no-classes-loss": (
        lambda b: xloss.categorical_crossentropy(
            b.asarray(np.zeros((8, 0), np.float32)), b.asarray(np.zeros((8, 0), np.float32))
        ),
        ValueError,
        r"`y_pred` has no classes: its axis 1 \(the class axis\) has size 0",
    ),
    "no-classes-filter": (
        lambda b: xloss.top_p_filter(b.asarray(np.zeros((8, 0), np.float32)), 0.5),
        ValueError,
        r"`logits` has no classes",
    ),
    "no-classes-sample": (
        lambda b: xloss.sample(b.asarray(np.zeros((8, 0), np.float32)), 0),
        ValueError,
        r"`logits` has no classes",
    ),
    "temperature-string": (
        lambda b: xloss.apply_temperature(b.asarray(d.LOGITS), "2"),
        TypeError,
        r"`temperature` must be a number; received '2'",
    ),
    "fill-value-string": (
        lambda b: xloss.top_k_filter(b.asarray(d.LOGITS), 2, fill_value="-inf"),
        TypeError,
        r"`fill_value` must be a number; received '-inf'",
    ),
    "sample-weight-shape": (
        lambda b: xloss.CategoricalCrossentropy()(
            b.asarray(d.ONE_HOT), b.asarray(d.PROBS), b.asarray(d.SAMPLE_WEIGHT[:3])
        ),
        ValueError,
        r"`sample_weight` of shape \(3,\) does not fit the per-sample losses of shape \(8,\)",
    ),
}


READ_BY_THE_VALUE_CHECKS = ("label-out-of-range", "negative-label")


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(row, marks=pytest.mark.host_values) if row in READ_BY_THE_VALUE_CHECKS else row
        for row in ROWS
    ],
)
def test_bad_input_raises_at_the_entry(backend, row):
    call, error, message = ROWS[row]
    with pytest.raises(error, match=message):
        call(backend)


@pytest.mark.parametrize("dtype", ["datetime64[D]", "timedelta64[s]", "object", "U1", "S1"])
def test_numpy_dtypes_of_no_numeric_kind_are_refused(dtype):
    """NumPy's dtypes without a numeric kind (dates, objects, strings) are no floating, integer
    or boolean kind (a check that read them as every kind let them through)."""
    x = np.zeros((2, 3)).astype(dtype)
    with pytest.raises(TypeError, match=r"`x` must be a real floating-point array"):
        xloss.softmax(x)
    with pytest.raises(TypeError, match=r"`x` must be a real array"):
        xloss.top_k(x, 1)
    with pytest.raises(TypeError, match=r"`y_true` must be a real-valued array"):
        xloss.categorical_crossentropy(x, np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"`y_true` must hold integer class indices"):
        xloss.sparse_categorical_crossentropy(x[:, 0], np.zeros((2, 3), np.float32))


def test_switches_take_true_or_false():
    for switch in (xloss.fast_paths, xloss.value_checks):
        with pytest.raises(TypeError, match=r"`enabled` must be True or False; received 'false'"):
            switch("false")
        assert switch.is_on() is True


def test_binary_loss_over_an_empty_axis_is_nan(backend):
    """The binary losses average over their axis, which is no class axis: over no entries the
    mean is nan, as Keras gives (the class-axis check is the other losses')."""
    z = backend.asarray(np.zeros((3, 0), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "mean of empty slice"
        out = backend.to_numpy(xloss.binary_crossentropy(z, z, from_logits=True))
    assert out.shape == (3,) and np.isnan(out).all()


def test_numpy_scalars_are_values_not_a_second_framework(backend):
    """NumPy's scalars (``arr.mean()``, ``labels[0]``, ``np.float32(0.1)``) are converted like
    Python numbers, as the frameworks themselves take them; NumPy arrays are arrays."""
    x = backend.asarray(d.LOGITS)
    weighted = xloss.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    got = weighted(backend.asarray(d.LABELS), x, sample_weight=np.float32(2.0))
    want = 2.0 * weighted(backend.asarray(d.LABELS), x)
    np.testing.assert_allclose(backend.to_numpy(got), backend.to_numpy(want), rtol=1e-6)
    row = backend.asarray(d.LOGITS[0])
    one = xloss.sparse_categorical_crossentropy(np.int64(d.LABELS[0]), row, from_logits=True)
    first = xloss.sparse_categorical_crossentropy(int(d.LABELS[0]), row, from_logits=True)
    np.testing.assert_array_equal(backend.to_numpy(one), backend.to_numpy(first))
    smoothed = xloss.categorical_crossentropy(
        backend.asarray(d.ONE_HOT), x, from_logits=True, label_smoothing=np.float32(0.25)
    )
    plain = xloss.categorical_crossentropy(
        backend.asarray(d.ONE_HOT), x, from_logits=True, label_smoothing=0.25
    )
    np.testing.assert_allclose(backend.to_numpy(smoothed), backend.to_numpy(plain), rtol=1e-6)
    assert xloss.top_k(x, np.int64(2), largest=np.True_).indices.shape == (d.N, 2)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: xloss.SparseCategoricalCrossentropy(ignore_class=1.5), r"`ignore_class` must"),
        (lambda: xloss.BinaryCrossentropy(label_smoothing=-0.1), r"`label_smoothing` must be"),
    ],
    ids=["ignore_class", "label_smoothing"],
)
def test_bad_options_fail_at_construction(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def test_inputs_are_not_modified(backend):
    y_true, y_pred = backend.asarray(d.IGNORED), backend.asarray(d.PROBS)
    xloss.SparseCategoricalCrossentropy(ignore_class=-1)(y_true, y_pred)
    np.testing.assert_array_equal(backend.to_numpy(y_true), d.IGNORED)
    np.testing.assert_array_equal(backend.to_numpy(y_pred), d.PROBS)


KINDS = (
    "bool",
    "signed integer",
    "unsigned integer",
    "integral",
    "real floating",
    "complex floating",
    ("real floating", "integral", "bool"),
)


def test_dtype_kinds_agree_with_the_namespace(backend):
    """The entry reads NumPy dtypes' one-letter kind instead of calling ``isdtype``: the same
    answers as the namespace's ``isdtype`` for every dtype it has."""
    from xloss._dispatch import resolve
    from xloss._validation import is_kind

    with backend.x64():
        xp = resolve(x=backend.asarray(np.zeros(2, np.float32))).xp
        names = ("bool", "int8", "int32", "int64", "uint8", "uint64", "complex64", "float64")
        dtypes = [getattr(xp, n) for n in names + FLOAT_DTYPES[backend.name] if hasattr(xp, n)]
        for dtype in dtypes:
            # as arrays carry it (NumPy's and JAX's hold an np.dtype, not the scalar type)
            dtype = xp.astype(xp.asarray([0]), dtype).dtype
            for kind in KINDS:
                assert is_kind(xp, dtype, kind) == bool(xp.isdtype(dtype, kind)), (dtype, kind)
