"""``xloss.adapters.tensorflow`` (an Array-API namespace over TF ops) against NumPy, plus
gradients, ``tf.function`` with unknown dimensions, ``tf.Variable`` and untouched global state."""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from backends import need

if importlib.util.find_spec("torch") is not None:
    import torch  # noqa: F401  - torch must be imported before tensorflow

tf = need("tensorflow")
ml_dtypes = need("ml_dtypes")

from xloss.adapters import _tensorflow_namespace as xt  # noqa: E402
from xloss.adapters import tensorflow as tf_adapter  # noqa: E402

import xloss  # noqa: E402

RNG = np.random.default_rng(20240611)
X3 = RNG.standard_normal((3, 4, 5)).astype(np.float32)
INT3 = RNG.integers(-5, 6, size=(3, 4, 5)).astype(np.int32)


def close(actual, expected, *, rtol=1e-6, atol=1e-6):
    actual = np.asarray(actual)
    assert actual.shape == np.shape(expected)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# --- reductions ---------------------------------------------------------------------------------

AXES = [None, 0, -1, (0, 2), (-1, 0)]


@pytest.mark.parametrize("keepdims", [False, True], ids=["flat", "keepdims"])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", ["sum", "prod", "mean", "max", "min", "all", "any"])
def test_reduction_matches_numpy(name, axis, keepdims):
    data = X3 > 0.3 if name in ("all", "any") else X3
    out = getattr(xt, name)(tf.constant(data), axis=axis, keepdims=keepdims)
    close(out, getattr(np, name)(data, axis=axis, keepdims=keepdims), rtol=1e-5)


@pytest.mark.parametrize("keepdims", [False, True], ids=["flat", "keepdims"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reduction_matches_numpy(name, axis, keepdims):
    out = getattr(xt, name)(tf.constant(X3), axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(out, getattr(np, name)(X3, axis=axis, keepdims=keepdims))


# --- shapes and indexing ------------------------------------------------------------------------


@pytest.mark.parametrize("data", [X3, INT3], ids=["float32", "int32"])
@pytest.mark.parametrize(
    ("axis", "index_shape"),
    [(0, (2, 4, 5)), (1, (3, 3, 5)), (-1, (3, 4, 3)), (1, (1, 6, 5)), (-1, (3, 1, 2))],
    ids=["axis0", "axis1", "axis-1", "axis1-broadcast-batch", "axis-1-broadcast-batch"],
)
@pytest.mark.parametrize("traced", [False, True], ids=["eager", "unknown-shapes"])
def test_take_along_axis_matches_numpy(data, axis, index_shape, traced):
    """Eagerly the indices' batch dimensions are broadcast to a static shape (or not at all);
    with unknown dimensions, to the runtime shape."""
    idx = np.random.default_rng(1).integers(0, data.shape[axis], size=index_shape)
    take = functools.partial(xt.take_along_axis, axis=axis)
    if traced:
        specs = [
            tf.TensorSpec([None] * 3, tf.as_dtype(data.dtype)),
            tf.TensorSpec([None] * 3, tf.int64),
        ]
        take = tf.function(take, input_signature=specs)
    out = take(tf.constant(data), tf.constant(idx))
    np.testing.assert_array_equal(out, np.take_along_axis(data, idx, axis=axis))


@pytest.mark.parametrize(
    ("source", "destination"),
    [(0, -1), (-1, 0), (-2, 1), ((0, 1), (-1, -2)), ((0, -1), (-1, 1)), ((2, 0), (0, 3))],
    ids=str,
)
def test_moveaxis_matches_numpy(source, destination):
    x = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    out = xt.moveaxis(tf.constant(x), source, destination)
    np.testing.assert_array_equal(out, np.moveaxis(x, source, destination))


def test_shapes_and_axes_are_cached_constants_eagerly_and_lists_when_traced():
    """Eager ops take shapes, permutations and axes as cached host constants (TensorFlow
    converts a Python list in 15-17 us a call), int64 where a value needs it; traced, the
    list, and a tensor as it is. The same answers either way."""
    small, large = tf_adapter.ints((2, -1)), tf_adapter.ints([2**31, 1])
    assert small is tf_adapter.ints([2, -1])  # cached
    assert small.dtype == tf.int32 and small.device.endswith("CPU:0")
    assert large.dtype == tf.int64 and large.numpy().tolist() == [2**31, 1]
    assert tf_adapter.ints(small) is small
    x = tf.constant(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    seen = []

    @tf.function(input_signature=[tf.TensorSpec([None, 3, 4], tf.float32)])
    def traced(x):
        seen.append(tf_adapter.ints((4, 6)))
        return xt.sum(xt.reshape(xt.permute_dims(x, (2, 1, 0)), (4, -1)), axis=(0, 1))

    eager = xt.sum(xt.reshape(xt.permute_dims(x, (2, 1, 0)), (4, -1)), axis=(0, 1))
    np.testing.assert_array_equal(traced(x), eager)
    assert seen == [[4, 6]]
    assert float(eager) == float(np.arange(24).sum())


# --- Python scalars, dtypes and conversion ------------------------------------------------------

SCALAR_CASES = {  # op(namespace, x): the same call on xt and on NumPy
    "where-float-false": (X3, lambda m, x: m.where(x > 0, x, 0.0)),
    "where-float-true": (X3, lambda m, x: m.where(x > 0, 1.0, x)),
    "clip-float": (X3, lambda m, x: m.clip(x, -0.5, 0.5)),
    "clip-float-min-only": (X3, lambda m, x: m.clip(x, 0.0, None)),
    "clip-float-max-only": (X3, lambda m, x: m.clip(x, None, 0.25)),
    "maximum-float-right": (X3, lambda m, x: m.maximum(x, 0.0)),
    "maximum-float-left": (X3, lambda m, x: m.maximum(0.1, x)),
    "where-int": (INT3, lambda m, x: m.where(x > 0, x, 0)),
    "clip-int": (INT3, lambda m, x: m.clip(x, -1, 3)),
    "maximum-int": (INT3, lambda m, x: m.maximum(x, 2)),
}


@pytest.mark.parametrize("case", SCALAR_CASES)
def test_python_scalar_takes_the_array_dtype(case):
    data, op = SCALAR_CASES[case]
    out = op(xt, tf.constant(data))
    assert out.dtype == tf.as_dtype(data.dtype)
    np.testing.assert_array_equal(out, op(np, data).astype(data.dtype))


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16, tf.float32, tf.float64], ids=str)
def test_finfo_matches_numpy(dtype):
    info, expected = xt.finfo(dtype), ml_dtypes.finfo(dtype.as_numpy_dtype)  # np.finfo + bfloat16
    assert (info.dtype, info.bits) == (dtype, expected.bits)
    for field in ("eps", "max", "min", "smallest_normal"):
        assert getattr(info, field) == float(getattr(expected, field)), field
    assert xt.finfo(tf.zeros(2, dtype=dtype)).eps == info.eps  # an array works as well


@pytest.mark.parametrize("dtype", [tf.int8, tf.int32, tf.int64, tf.uint8], ids=str)
def test_iinfo_matches_numpy(dtype):
    info, expected = xt.iinfo(dtype), np.iinfo(dtype.as_numpy_dtype)
    assert (info.bits, info.min, info.max) == (expected.bits, int(expected.min), int(expected.max))


@pytest.mark.parametrize(
    ("dtype", "kind", "expected"),
    [
        (tf.float32, "real floating", True),
        (tf.bfloat16, "real floating", True),
        (tf.int32, "real floating", False),
        (tf.int32, "signed integer", True),
        (tf.uint8, "signed integer", False),
        (tf.uint8, "unsigned integer", True),
        (tf.int64, "integral", True),
        (tf.bool, "bool", True),
        (tf.bool, "numeric", False),
        (tf.complex64, "complex floating", True),
        (tf.float16, ("integral", "real floating"), True),
        (tf.bool, ("integral", "real floating"), False),
        (tf.float32, tf.float32, True),
        (tf.float32, tf.float64, False),
    ],
    ids=str,
)
def test_isdtype_kinds(dtype, kind, expected):
    assert xt.isdtype(dtype, kind) is expected


@pytest.mark.parametrize(
    ("source", "target"),
    [(X3, tf.int32), (X3, tf.float16), (X3, tf.float64), (INT3, tf.float32), (X3 > 0, tf.float32)],
    ids=["f32-i32", "f32-f16", "f32-f64", "i32-f32", "bool-f32"],
)
def test_astype_matches_numpy(source, target):
    out = xt.astype(tf.constant(source), target)
    assert out.dtype == target
    np.testing.assert_array_equal(out, source.astype(target.as_numpy_dtype))


@pytest.mark.parametrize(
    ("obj", "dtype"),
    [(1.5, tf.float32), ([1.0, 2.5], tf.float32), ([[1, 2], [3, 4]], None), ([True], tf.bool)],
    ids=["float", "float-list", "int-nested-list", "bool-list"],
)
def test_asarray_python_values(obj, dtype):
    out = xt.asarray(obj)
    if dtype is not None:
        assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.asarray(obj))
    assert xt.asarray(obj, dtype=tf.float64).dtype == tf.float64


def test_asarray_python_ints_use_the_default_integral_dtype():
    default = xt.__array_namespace_info__().default_dtypes()["integral"]
    assert xt.asarray([1, 2]).dtype == default


# --- gradients ----------------------------------------------------------------------------------


def _gradient(fn, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return tape.gradient(y, x).numpy()


def test_gradient_of_take_along_axis_counts_each_index():
    x = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    idx = np.array([[0, 0, 4], [1, 2, 3], [4, 4, 4]])
    grad = _gradient(lambda t: xt.sum(xt.take_along_axis(t, tf.constant(idx), axis=1)), x)
    expected = np.zeros_like(x)
    np.add.at(expected, (np.arange(3)[:, None], idx), 1.0)
    close(grad, expected)


def test_gradient_of_clip_is_one_inside_the_bounds():
    x = np.random.default_rng(2).uniform(0.0, 1.0, size=(4, 6)).astype(np.float32)
    grad = _gradient(lambda t: xt.sum(xt.clip(t, 0.2, 0.8)), x)
    close(grad, ((x > 0.2) & (x < 0.8)).astype(np.float32))


@pytest.mark.parametrize("scale", [1.0, 1e4], ids=["unit", "large"])
def test_gradient_of_logaddexp_is_a_sigmoid(scale):
    a, b = (np.random.default_rng(3).standard_normal((2, 6)) * scale).astype(np.float32)
    b = tf.constant(b)
    close(xt.logaddexp(tf.constant(a), b), np.logaddexp(a, b.numpy()), rtol=1e-5)
    grad = _gradient(lambda t: xt.sum(xt.logaddexp(t, b)), a)
    expected = 0.5 * (1.0 + np.tanh((np.float64(a) - b.numpy()) / 2.0))  # sigmoid(a - b)
    close(grad, expected, rtol=1e-5)


# --- symbolic tensors, variables, global state --------------------------------------------------


def test_tf_function_with_unknown_dimensions():
    traced_sizes = []

    spec = [tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None, None], tf.int32)]

    @tf.function(input_signature=spec)
    def run(x, idx):
        traced_sizes.append(xt.size(x))
        return xt.take_along_axis(x, idx, axis=1), xt.moveaxis(x, 0, -1), xt.sum(x, axis=0)

    x = np.random.default_rng(2).standard_normal((3, 5)).astype(np.float32)
    idx = np.random.default_rng(2).integers(0, 5, size=(3, 2))
    gathered, moved, total = run(tf.constant(x), tf.constant(idx, tf.int32))
    assert traced_sizes == [None]
    np.testing.assert_array_equal(gathered, np.take_along_axis(x, idx, axis=1))
    np.testing.assert_array_equal(moved, x.T)
    close(total, x.sum(axis=0), rtol=1e-5)
    assert xt.size(tf.constant(x)) == 15


def test_variable_inputs_to_asarray_and_reductions():
    v = tf.Variable(X3)
    assert isinstance(xt.asarray(v), tf.Tensor)
    np.testing.assert_array_equal(xt.asarray(v), X3)
    assert xt.asarray(v, dtype=tf.float64).dtype == tf.float64
    close(xt.sum(v, axis=(0, 2), keepdims=True), X3.sum(axis=(0, 2), keepdims=True), rtol=1e-5)
    close(xt.max(v, axis=-1), X3.max(axis=-1))
    assert isinstance(tf_adapter.to_array(v), tf.Tensor)
    assert xt.size(v) == X3.size
    with tf.GradientTape() as tape:
        y = xt.mean(xt.asarray(v))
    close(tape.gradient(y, v), np.full_like(X3, 1.0 / X3.size))


def test_namespace_leaves_numpy_behaviour_disabled():
    x = tf.constant(X3)
    xt.sum(xt.moveaxis(x, 0, -1), axis=(0, 1))
    xt.take_along_axis(x, tf.zeros((3, 4, 1), tf.int32), axis=-1)
    xt.clip(xt.where(x > 0, x, 0.0), 0.0, 1.0)
    xt.logaddexp(xt.asarray([1.0]), 0.5)
    xt.finfo(tf.float32)
    assert not hasattr(tf.ones(1), "reshape")


def test_numpy_behaviour_sentinel_is_meaningful():
    """The check above means something: enabling numpy behaviour does add ``reshape``."""
    code = (
        "import tensorflow as tf\n"
        "from tensorflow.python.ops.numpy_ops import np_config\n"
        "before = hasattr(tf.ones(1), 'reshape')\n"
        "np_config.enable_numpy_behavior()\n"
        "print(before, hasattr(tf.ones(1), 'reshape'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "True"]


# --- xloss end to end ---------------------------------------------------------------------------

LOGITS = RNG.standard_normal((6, 4)).astype(np.float32)
LABELS = np.array([0, 3, 1, 2, 3, 0], np.int32)
ONE_HOT = np.eye(4, dtype=np.float32)[LABELS]
SHIFTED = LOGITS - LOGITS.max(axis=1, keepdims=True)
LOG_P = SHIFTED - np.log(np.exp(SHIFTED).sum(axis=1, keepdims=True))
SMOOTH_LOSS = xloss.CategoricalCrossentropy(label_smoothing=0.1, from_logits=True)


def _sparse(logits):
    return xloss.sparse_categorical_crossentropy(tf.constant(LABELS), logits, from_logits=True)


def test_sparse_crossentropy_eager_matches_numpy():
    close(_sparse(tf.constant(LOGITS)), -LOG_P[np.arange(6), LABELS], rtol=1e-5)


def test_sparse_crossentropy_in_tf_function_matches_eager():
    spec = [tf.TensorSpec([None], tf.int32), tf.TensorSpec([None, None], tf.float32)]
    traced = tf.function(
        lambda y, x: xloss.sparse_categorical_crossentropy(y, x, from_logits=True),
        input_signature=spec,
    )
    close(traced(tf.constant(LABELS), tf.constant(LOGITS)), _sparse(tf.constant(LOGITS)))


def test_categorical_crossentropy_class_in_tf_function_matches_eager():
    eager = SMOOTH_LOSS(tf.constant(ONE_HOT), tf.constant(LOGITS))
    assert eager.shape == ()
    spec = tf.TensorSpec([None, None], tf.float32)
    traced = tf.function(lambda y, x: SMOOTH_LOSS(y, x), input_signature=[spec, spec])
    close(traced(tf.constant(ONE_HOT), tf.constant(LOGITS)), eager)


def test_sparse_crossentropy_on_variable_logits():
    v = tf.Variable(LOGITS)
    with tf.GradientTape() as tape:
        loss = _sparse(v)
        total = tf.reduce_sum(loss)
    close(loss, _sparse(tf.constant(LOGITS)))
    close(tape.gradient(total, v), np.exp(LOG_P) - ONE_HOT, rtol=1e-5)


def test_categorical_crossentropy_class_on_variable_logits():
    eager = SMOOTH_LOSS(tf.constant(ONE_HOT), tf.constant(LOGITS))
    close(SMOOTH_LOSS(tf.constant(ONE_HOT), tf.Variable(LOGITS)), eager)
