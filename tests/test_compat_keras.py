"""xloss.compat.keras: Keras 3's loss API on every backend, against Keras itself.

xloss runs on each backend; Keras runs once on the same NumPy data (its TensorFlow backend, in
float32) and a float64 NumPy reference written from Keras's formulas is the second oracle.
"""

from __future__ import annotations

import inspect
import warnings

import backends
import data as d
import ml_dtypes
import numpy as np
import pytest
import reference as ref
from backends import need
from checks import assert_result, expect_logits_warning, tolerance

import xloss
from xloss.compat import keras as compat

keras = need("keras")

# Keras clips to [1e-7, 1 - 1e-7] in float32, where 1 - 1e-7 rounds to 0.99999988.
LOW, HIGH = np.array([ref.EPS, 1 - ref.EPS], np.float32).astype(np.float64)


def ref_binary_focal(
    y_true,
    y_pred,
    *,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
    axis=-1,
):
    z, x = ref.f64(y_true), ref.f64(y_pred)
    if label_smoothing:
        z = z * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        bce = -(z * ref.log_sigmoid(x) + (1 - z) * ref.log_sigmoid(-x))
        p, not_p = np.exp(ref.log_sigmoid(x)), np.exp(ref.log_sigmoid(-x))
    else:
        clipped = np.clip(x, LOW, HIGH)
        bce = -(z * np.log(clipped) + (1 - z) * np.log(1 - clipped))
        p, not_p = x, 1 - x
    loss = (z * not_p + (1 - z) * p) ** gamma * bce
    if apply_class_balancing:
        loss = (z * alpha + (1 - z) * (1 - alpha)) * loss
    return loss.mean(axis=axis)


def ref_categorical_focal(
    y_true, y_pred, *, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1
):
    y, x = ref.f64(y_true), ref.f64(y_pred)
    if label_smoothing:
        y = y * (1 - label_smoothing) + label_smoothing / x.shape[axis]
    p = ref.softmax(x, axis) if from_logits else x
    p = np.clip(p / p.sum(axis=axis, keepdims=True), LOW, HIGH)
    weights = np.asarray(alpha, np.float64)
    if weights.ndim:
        weights = weights.reshape([-1 if i == axis % x.ndim else 1 for i in range(x.ndim)])
    return (weights * (1 - p) ** gamma * -y * np.log(p)).sum(axis=axis)


REFERENCES = {"binary": ref_binary_focal, "categorical": ref_categorical_focal}
FUNCTIONS = {
    "binary": (compat.binary_focal_crossentropy, "binary_focal_crossentropy"),
    "categorical": (compat.categorical_focal_crossentropy, "categorical_focal_crossentropy"),
}
CLASSES = {
    "binary": (compat.BinaryFocalCrossentropy, "BinaryFocalCrossentropy"),
    "categorical": (compat.CategoricalFocalCrossentropy, "CategoricalFocalCrossentropy"),
}


def keras_function(kind, y_true, y_pred, **kwargs):
    """Keras's function on float32 NumPy data. The categorical class axis is moved last first:
    Keras smooths with ``y_true.shape[-1]`` as the class count and lays a per-class ``alpha``
    along the last axis, whatever ``axis`` says."""
    axis = kwargs.get("axis", -1)
    if kind == "categorical" and axis != -1:
        y_true, y_pred = np.moveaxis(y_true, axis, -1), np.moveaxis(y_pred, axis, -1)
        kwargs = {**kwargs, "axis": -1}
    fn = getattr(keras.losses, FUNCTIONS[kind][1])
    return np.asarray(fn(y_true, y_pred, **kwargs), np.float64)


LARGE_BINARY_LOGITS = d.BINARY_LOGITS * 12  # up to |x| ~ 100: sigmoid saturates in float32
LARGE_LOGITS = d.LOGITS * 20

CASES = {
    "binary-logits": ("binary", d.BINARY_TARGETS, d.BINARY_LOGITS, {"from_logits": True}),
    "binary-probabilities": ("binary", d.BINARY_TARGETS, d.BINARY_PROBS, {}),
    "binary-probabilities-0-and-1": ("binary", d.BINARY_TARGETS, d.BINARY_PROBS_EDGES, {}),
    "binary-large-logits": (
        "binary",
        d.BINARY_TARGETS,
        LARGE_BINARY_LOGITS,
        {"from_logits": True, "apply_class_balancing": True},
    ),
    "binary-gamma0-balanced": (
        "binary",
        d.BINARY_TARGETS,
        d.BINARY_PROBS,
        {"gamma": 0.0, "apply_class_balancing": True, "alpha": 0.4},
    ),
    "binary-soft-smoothed-logits": (
        "binary",
        d.BINARY_SOFT,
        d.BINARY_LOGITS,
        {"from_logits": True, "label_smoothing": 0.2, "gamma": 1.5},
    ),
    "binary-smoothed-probabilities-balanced": (
        "binary",
        d.BINARY_TARGETS,
        d.BINARY_PROBS,
        {"label_smoothing": 0.1, "apply_class_balancing": True, "alpha": 0.7},
    ),
    "binary-axis1": (
        "binary",
        d.BINARY_TARGETS_3D,
        d.BINARY_LOGITS_3D,
        {"from_logits": True, "axis": 1, "gamma": 3.0},
    ),
    "categorical-logits": ("categorical", d.ONE_HOT, d.LOGITS, {"from_logits": True}),
    "categorical-probabilities": ("categorical", d.ONE_HOT, d.PROBS, {}),
    "categorical-unnormalised": ("categorical", d.SOFT, d.UNNORMALISED, {"gamma": 1.0}),
    "categorical-exact-zeros": ("categorical", d.ONE_HOT, d.PROBS_WITH_ZEROS, {}),
    "categorical-large-logits": ("categorical", d.ONE_HOT, LARGE_LOGITS, {"from_logits": True}),
    "categorical-gamma0-alpha1": ("categorical", d.SOFT, d.PROBS, {"gamma": 0.0, "alpha": 1.0}),
    "categorical-soft-smoothed-logits": (
        "categorical",
        d.SOFT,
        d.LOGITS,
        {"from_logits": True, "label_smoothing": 0.1, "alpha": 0.5},
    ),
    "categorical-alpha-per-class": (
        "categorical",
        d.ONE_HOT,
        d.PROBS,
        {"alpha": [0.1, 0.2, 0.3, 0.15, 0.25], "label_smoothing": 0.05},
    ),
    "categorical-axis1-logits": (
        "categorical",
        d.SOFT_3D,
        d.LOGITS_3D,
        {"from_logits": True, "axis": 1, "label_smoothing": 0.1, "alpha": [1, 2, 3, 4, 5]},
    ),
    "categorical-axis1-probabilities": (
        "categorical",
        d.SOFT_3D,
        d.PROBS_3D,
        {"axis": 1, "gamma": 0.5},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_focal_function_matches_keras(backend, case):
    kind, y_true, y_pred, kwargs = CASES[case]
    with expect_logits_warning(backend, y_pred, kwargs):
        result = FUNCTIONS[kind][0](backend.asarray(y_true), backend.asarray(y_pred), **kwargs)
    assert_result(backend, result, REFERENCES[kind](y_true, y_pred, **kwargs))
    assert_result(backend, result, keras_function(kind, y_true, y_pred, **kwargs))


CLASS_CASES = {
    "binary": ("binary", d.BINARY_TARGETS, d.BINARY_LOGITS, {"from_logits": True}),
    "binary-balanced-smoothed": (
        "binary",
        d.BINARY_TARGETS,
        d.BINARY_PROBS,
        {"apply_class_balancing": True, "alpha": 0.6, "gamma": 1.0, "label_smoothing": 0.1},
    ),
    "binary-3d": ("binary", d.BINARY_TARGETS_3D, d.BINARY_LOGITS_3D, {"from_logits": True}),
    "categorical": ("categorical", d.SOFT, d.LOGITS, {"from_logits": True, "gamma": 1.0}),
    "categorical-alpha-per-class": (
        "categorical",
        d.ONE_HOT,
        d.PROBS,
        {"alpha": [0.5, 1.0, 1.5, 2.0, 2.5], "label_smoothing": 0.1},
    ),
}
REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("reduction", REDUCTIONS, ids=str)
@pytest.mark.parametrize("case", CLASS_CASES)
def test_focal_class_matches_keras(backend, case, reduction, weighted):
    kind, y_true, y_pred, kwargs = CLASS_CASES[case]
    sample_weight = None
    if weighted:
        sample_weight = d.SAMPLE_WEIGHT_3D if y_pred.ndim == 3 else d.SAMPLE_WEIGHT
    ours, keras_name = CLASSES[kind]
    result = ours(reduction=reduction, **kwargs)(
        backend.asarray(y_true),
        backend.asarray(y_pred),
        None if sample_weight is None else backend.asarray(sample_weight),
    )
    keras_loss = getattr(keras.losses, keras_name)(reduction=reduction, **kwargs)
    expected = np.asarray(keras_loss(y_true, y_pred, sample_weight=sample_weight), np.float64)
    assert_result(backend, result, expected)
    values = REFERENCES[kind](y_true, y_pred, **kwargs)
    assert_result(backend, result, ref.reduce(values, sample_weight, None, reduction))


def test_gamma_zero_is_the_cross_entropy(backend):
    """gamma = 0 (and alpha = 1) turns the focal factor off: the plain Keras cross-entropies."""
    binary = compat.binary_focal_crossentropy(
        backend.asarray(d.BINARY_SOFT), backend.asarray(d.BINARY_LOGITS), gamma=0, from_logits=True
    )
    expected = keras.losses.binary_crossentropy(d.BINARY_SOFT, d.BINARY_LOGITS, from_logits=True)
    assert_result(backend, binary, np.asarray(expected, np.float64))
    categorical = compat.categorical_focal_crossentropy(
        backend.asarray(d.SOFT), backend.asarray(d.PROBS), gamma=0, alpha=1
    )
    expected = keras.losses.categorical_crossentropy(d.SOFT, d.PROBS)
    assert_result(backend, categorical, np.asarray(expected, np.float64))


@pytest.mark.backends("numpy", "jax", "torch", "tensorflow")
@pytest.mark.parametrize("kind", ["binary", "categorical"])
def test_half_precision_is_computed_in_float32(backend, kind):
    """float16 predictions give Keras's float32 numbers (on the float16-rounded inputs)."""
    y_true, y_pred = (d.BINARY_TARGETS, d.BINARY_LOGITS) if kind == "binary" else (d.SOFT, d.LOGITS)
    result = FUNCTIONS[kind][0](
        backend.asarray(y_true, "float16"), backend.asarray(y_pred, "float16"), from_logits=True
    )
    half_true, half_pred = (a.astype(np.float16).astype(np.float32) for a in (y_true, y_pred))
    assert_result(backend, result, keras_function(kind, half_true, half_pred, from_logits=True))


@pytest.mark.backends("jax", "torch", "tensorflow")
def test_focal_losses_compile(backend):
    """Under jax.jit, torch.compile(fullgraph=True) and tf.function (unknown dimensions) the
    focal losses, a per-class alpha included, give their eager values."""

    def both(y_true, logits, binary_true, binary_logits):
        loss = compat.CategoricalFocalCrossentropy(alpha=[0.1, 0.2, 0.3, 0.15, 0.25], gamma=1.0)
        binary = compat.BinaryFocalCrossentropy(from_logits=True, apply_class_balancing=True)
        return loss(y_true, logits), binary(binary_true, binary_logits, [1.0] * 8)

    examples = (d.SOFT, d.PROBS, d.BINARY_TARGETS, d.BINARY_LOGITS)
    compiled = backend.compile(both, *examples)
    out = compiled(*(backend.asarray(a) for a in examples))
    eager = both(*(backend.asarray(a) for a in examples))
    for got, want in zip(out, eager):
        np.testing.assert_allclose(
            backend.to_numpy(got), backend.to_numpy(want), rtol=tolerance("float32")
        )


# --- the API: signatures, positional calls, names, dtypes, configs ---------------------------

KERAS_NAMES = [n for n in compat.__all__ if n != "Loss"]
CLASS_NAMES = [n for n in KERAS_NAMES if n[0].isupper()]


def parameters(obj):
    """``(name, kind, default)`` of each parameter, in order (annotations left out)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_signatures_are_keras(name):
    """Every name is Keras's, with Keras's parameter names, kinds, order and defaults."""
    assert parameters(getattr(compat, name)) == parameters(getattr(keras.losses, name))


def test_ten_keras_names_and_xloss_keeps_its_own_signatures():
    """The wrappers are subclasses of xloss's classes, which keep xloss's signatures."""
    assert len(KERAS_NAMES) == 10
    for name in ("CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy"):
        ours, top = getattr(compat, name), getattr(xloss, name)
        assert issubclass(ours, top) and ours is not top, name
        assert not {"name", "dtype"} & set(inspect.signature(top).parameters), name
    sparse = [name for name, *_ in parameters(xloss.SparseCategoricalCrossentropy)]
    assert sparse == ["from_logits", "ignore_class", "axis", "reduction"]
    for name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        option = inspect.signature(getattr(xloss, name)).parameters["from_logits"]
        assert option.kind is inspect.Parameter.KEYWORD_ONLY, name


# Exact in float32: Keras converts a per-class alpha list to a float32 tensor, also when it
# computes in float64 (0.1 would differ from xloss's float64 0.1 by 1.5e-8).
ALPHAS = [0.125, 0.25, 0.5, 0.375, 0.75]
# name -> (every option after (y_true, y_pred), or of the constructor, in order; the arrays).
# No option is at its default, so a parameter out of place changes the result or fails.
POSITIONAL = {
    "CategoricalCrossentropy": (
        (True, 0.1, -1, "sum", "cce", None),
        (d.SOFT, d.LOGITS, d.SAMPLE_WEIGHT),
    ),
    "SparseCategoricalCrossentropy": (
        (True, -1, "sum", -1, "scce", None),
        (d.IGNORED, d.LOGITS, d.SAMPLE_WEIGHT),
    ),
    "BinaryCrossentropy": (
        (True, 0.2, -1, "mean", "bce", None),
        (d.BINARY_SOFT, d.BINARY_LOGITS, d.SAMPLE_WEIGHT),
    ),
    "BinaryFocalCrossentropy": (
        (True, 0.4, 1.5, True, 0.1, -1, "sum", "bfce", None),
        (d.BINARY_TARGETS, d.BINARY_LOGITS, d.SAMPLE_WEIGHT),
    ),
    "CategoricalFocalCrossentropy": (
        (ALPHAS, 1.0, True, 0.1, -1, "mean_with_sample_weight", "cfce", None),
        (d.SOFT, d.LOGITS, d.SAMPLE_WEIGHT),
    ),
    "categorical_crossentropy": ((True, 0.1, -1), (d.SOFT, d.LOGITS)),
    "sparse_categorical_crossentropy": ((True, -1, -1), (d.IGNORED, d.LOGITS)),
    "binary_crossentropy": ((True, 0.2, -1), (d.BINARY_SOFT, d.BINARY_LOGITS)),
    "binary_focal_crossentropy": (
        (True, 0.4, 1.5, True, 0.1, -1),
        (d.BINARY_TARGETS, d.BINARY_LOGITS),
    ),
    "categorical_focal_crossentropy": ((ALPHAS, 1.0, True, 0.1, -1), (d.SOFT, d.LOGITS)),
}


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_positional_call_matches_keras(backend, name):
    """The same positional call on xloss and on Keras gives Keras's numbers."""
    options, arrays = POSITIONAL[name]
    ours, theirs = getattr(compat, name), getattr(keras.losses, name)
    if name in CLASS_NAMES:
        ours, theirs, options = ours(*options), theirs(*options), ()
    result = ours(*(backend.asarray(a) for a in arrays), *options)
    assert_result(backend, result, np.asarray(theirs(*arrays, *options), np.float64))


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_names(name):
    """``name`` is kept as ``loss.name`` and in the config; the default is Keras's."""
    ours, theirs = getattr(compat, name), getattr(keras.losses, name)
    assert ours().name == theirs().name == ours().get_config()["name"]
    assert ours(name=None).name == theirs().name  # Keras's appends a global counter: "_1"
    assert ours(name="mine").name == ours(name="mine").get_config()["name"] == "mine"
    with pytest.raises(TypeError, match="`name` must be a string or None; received 3"):
        ours(name=3)


def rounded(array, dtype):
    """A floating ``array``'s values in ``dtype`` (round to nearest), as float64."""
    if array.dtype.kind != "f":
        return array
    return array.astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype).astype(np.float64)


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_dtype(backend_and_dtype, name):
    """``dtype=None`` keeps xloss's rule (float32 for half inputs, float64 for float64); a float
    ``dtype`` converts float32 inputs to it and returns the loss in it. Keras computes half
    precision in half precision and xloss in float32, so the expected numbers are Keras's in
    float32 (float64) on the targets and predictions rounded to ``dtype``."""
    backend, dtype = backend_and_dtype
    options, arrays = POSITIONAL[name]
    compute = "float64" if dtype == "float64" else "float32"
    targets, predictions, weights = arrays
    keras_loss = getattr(keras.losses, name)(*options[:-1], compute)
    expected = keras_loss(rounded(targets, dtype), rounded(predictions, dtype), weights)
    expected = np.asarray(expected, np.float64)
    converting = getattr(compat, name)(*options[:-1], dtype)
    keeping = getattr(compat, name)(*options)
    with backend.x64():
        result = converting(*(backend.asarray(a) for a in arrays))
        assert_result(backend, result, expected, dtype)
        inputs = [backend.asarray(a, dtype if a.dtype.kind == "f" else None) for a in arrays[:2]]
        result = keeping(*inputs, backend.asarray(weights))
        assert_result(backend, result, expected, compute)


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_dtype_names_and_policies_are_keras(name):
    """``loss.dtype`` is the name of the dtype computed in, as Keras's, for dtype names, Keras's
    mixed-precision policy names and ``keras.DTypePolicy`` objects."""
    ours, theirs = getattr(compat, name), getattr(keras.losses, name)
    assert ours().dtype is None and theirs().dtype == "float32"  # None: the inputs' dtype
    given = [*backends.FLOAT_DTYPES["jax"], "mixed_float16", "mixed_bfloat16"]
    for dtype in [*given, keras.DTypePolicy("mixed_bfloat16"), keras.DTypePolicy("float64")]:
        assert ours(dtype=dtype).dtype == theirs(dtype=dtype).dtype, dtype


@pytest.mark.parametrize("dtype", ["int32", "float8", 3, "float"])
def test_bad_dtype(dtype):
    with pytest.raises(ValueError, match=f"`dtype` must be None or one of .*; received {dtype!r}"):
        compat.CategoricalCrossentropy(dtype=dtype)


@pytest.mark.backends("numpy", "array_api_strict")
def test_a_dtype_the_library_lacks(backend):
    """NumPy has no bfloat16, array-api-strict no float16: the call says so."""
    missing = [
        n for n in backends.FLOAT_DTYPES["jax"] if n not in backends.FLOAT_DTYPES[backend.name]
    ]
    for dtype in missing:
        loss = compat.BinaryCrossentropy(dtype=dtype)
        message = f"`dtype='{dtype}'`: {backend.name} arrays have no {dtype} dtype"
        with pytest.raises(TypeError, match=message):
            loss(backend.asarray(d.BINARY_TARGETS), backend.asarray(d.BINARY_PROBS))


@pytest.mark.backends("jax", "torch", "tensorflow")
def test_dtype_compiles(backend):
    """Under jax.jit, torch.compile(fullgraph=True) and tf.function, the dtype conversion gives
    the eager result, in the dtype."""
    loss = compat.SparseCategoricalCrossentropy(True, -1, "sum", -1, "scce", "float16")
    examples = (d.IGNORED, d.LOGITS, d.SAMPLE_WEIGHT)
    compiled = backend.compile(loss.__call__, *examples)
    out = compiled(*(backend.asarray(a) for a in examples))
    eager = loss(*(backend.asarray(a) for a in examples))
    assert out.dtype == eager.dtype == backend.dtype_of("float16")
    np.testing.assert_allclose(
        backend.to_numpy(out), backend.to_numpy(eager), rtol=tolerance("float16")
    )


CONFIGS = {
    "CategoricalCrossentropy": {"from_logits": True, "label_smoothing": 0.1, "axis": 1},
    "SparseCategoricalCrossentropy": {"from_logits": True, "ignore_class": -1, "axis": 1},
    "BinaryCrossentropy": {"label_smoothing": 0.2, "axis": 0},
    "BinaryFocalCrossentropy": {"apply_class_balancing": True, "alpha": 0.4, "gamma": 3.0},
    "CategoricalFocalCrossentropy": {"alpha": [0.5, 1.5], "gamma": 3.0, "from_logits": True},
}


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_config_round_trip_and_matches_keras(name):
    """``from_config(get_config())`` rebuilds the loss; the config has Keras's keys and values,
    plus ``dtype`` (and the sparse loss's ``axis``), which Keras's leaves out; Keras's
    ``from_config`` takes it."""
    ours, theirs = getattr(compat, name), getattr(keras.losses, name)
    options = {**CONFIGS[name], "reduction": "sum", "name": "mine", "dtype": "float64"}
    loss = ours(**options)
    config = loss.get_config()
    rebuilt = ours.from_config(config)
    assert type(rebuilt) is ours and rebuilt.get_config() == config and repr(rebuilt) == repr(loss)
    assert (rebuilt.name, rebuilt.dtype) == ("mine", "float64")
    assert config == {**config, **options}
    keras_config = theirs(**options).get_config()
    assert {k: config[k] for k in keras_config} == keras_config
    assert set(config) - set(keras_config) <= {"dtype", "axis"}
    assert theirs.from_config(config).get_config() == keras_config


def _another_framework(backend):
    """An array maker of a framework other than the backend's, and other than NumPy."""
    return need("torch").from_numpy if backend.name == "jax" else need("jax.numpy").asarray


@pytest.mark.backends("array_api_strict", "jax", "torch", "tensorflow")
@pytest.mark.parametrize("name", KERAS_NAMES)
def test_numpy_targets_and_weights_with_other_arrays_match_keras(backend, name):
    """Keras converts its inputs with ``ops.convert_to_tensor``: NumPy targets and sample
    weights go with any backend's predictions. Targets of another framework still raise."""
    options, (y_true, y_pred, *weight) = POSITIONAL[name]
    ours, theirs = getattr(compat, name), getattr(keras.losses, name)
    if name in CLASS_NAMES:
        ours, theirs, options = ours(*options), theirs(*options), ()
    expected = np.asarray(theirs(y_true, y_pred, *weight, *options), np.float64)
    assert_result(backend, ours(y_true, backend.asarray(y_pred), *weight, *options), expected)
    other = _another_framework(backend)(y_true)
    with pytest.raises(TypeError, match="Convert `y_true` to the framework of `y_pred`"):
        ours(other, backend.asarray(y_pred), *weight, *options)


# Keras casts floating-point labels to integers (tf.cast, jnp.array, np.array, torch.long):
# truncated toward zero. ignore_class is compared before the cast.
FLOAT_LABELS = np.array([0.7, 2.9, -0.5, 4.99, 1.0, 3.2, 2.0, 0.0], np.float32)
FLOAT_IGNORED = np.where(d.IGNORED == -1, -1.0, FLOAT_LABELS).astype(np.float32)
FLOAT_CASES = {
    "logits": (FLOAT_LABELS, d.LOGITS, {"from_logits": True}),
    "probabilities": (FLOAT_LABELS, d.PROBS, {}),
    "float64-ignore-class": (
        FLOAT_IGNORED.astype(np.float64),
        d.LOGITS,
        {"from_logits": True, "ignore_class": -1},
    ),
    "ignore-class-in-range": (FLOAT_LABELS, d.LOGITS, {"from_logits": True, "ignore_class": 1}),
}


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", None], ids=str)
@pytest.mark.parametrize("case", FLOAT_CASES)
def test_float_labels_are_truncated_as_keras_does(backend, case, reduction):
    labels, y_pred, options = FLOAT_CASES[case]
    loss = compat.SparseCategoricalCrossentropy(reduction=reduction, **options)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(reduction=reduction, **options)
    expected = np.asarray(keras_loss(labels, y_pred, d.SAMPLE_WEIGHT), np.float64)
    out = loss(backend.asarray(labels), backend.asarray(y_pred), backend.asarray(d.SAMPLE_WEIGHT))
    assert_result(backend, out, expected)
    function = np.asarray(keras.losses.sparse_categorical_crossentropy(labels, y_pred, **options))
    out = compat.sparse_categorical_crossentropy(
        backend.asarray(labels), backend.asarray(y_pred), **options
    )
    assert_result(backend, out, function.astype(np.float64))


# (labels, ignore_class, the message): labels Keras's cast gives no class index for, or gives
# ignore_class without ignoring them
UNREADABLE = {
    "nan": (np.nan, None, "holds nan: Keras casts floating-point labels to integers"),
    "inf": (-np.inf, None, "holds -inf"),
    "beyond-int32": (3e9, None, "holds 3000000000.0: Keras casts"),
    "truncates-to-ignore-class": (-1.5, -1, "casts it to -1, the ignore_class, without ignoring"),
    "truncates-to-ignore-class-in-range": (0.5, 0, "casts it to 0, the ignore_class"),
}


@pytest.mark.host_values
@pytest.mark.parametrize("case", UNREADABLE)
def test_float_labels_keras_cannot_cast_are_errors_or_nan(backend, case):
    """Eagerly a ValueError that names the label; with the value checks off (as under
    tracing) that position gives nan."""
    value, ignore_class, message = UNREADABLE[case]
    labels = d.LABELS.astype(np.float32)
    labels[3] = value
    x = backend.asarray(d.LOGITS)
    with pytest.raises(ValueError, match=message):
        compat.sparse_categorical_crossentropy(backend.asarray(labels), x, True, ignore_class)
    loss = compat.SparseCategoricalCrossentropy(True, ignore_class, None)
    with pytest.raises(ValueError, match=message):
        loss(backend.asarray(labels), x)
    with xloss.value_checks(False):
        out = backend.to_numpy(loss(backend.asarray(labels), x))
    assert np.isnan(out[3]) and np.isfinite(np.delete(out, 3)).all()


@pytest.mark.backends("jax", "torch", "tensorflow")
def test_float_labels_compile(backend):
    """Truncation and the nan of an unreadable label under jax.jit, torch.compile and
    tf.function with unknown dimensions."""
    labels = FLOAT_LABELS.copy()
    labels[3] = np.nan

    def loss(y_true, y_pred):
        return compat.sparse_categorical_crossentropy(y_true, y_pred, True)

    compiled = backend.compile(loss, labels, d.LOGITS)
    out = backend.to_numpy(compiled(backend.asarray(labels), backend.asarray(d.LOGITS)))
    expected = keras.losses.sparse_categorical_crossentropy(FLOAT_LABELS, d.LOGITS, True)
    expected = np.asarray(expected)
    assert np.isnan(out[3])
    np.testing.assert_allclose(np.delete(out, 3), np.delete(expected, 3), rtol=tolerance("float32"))


BAD = [
    (compat.BinaryFocalCrossentropy, {"gamma": -1.0}, ValueError, "`gamma` must be a finite"),
    (compat.BinaryFocalCrossentropy, {"gamma": "2"}, TypeError, "`gamma` must be a number"),
    (compat.BinaryFocalCrossentropy, {"gamma": None}, TypeError, "`gamma` must be a number"),
    (compat.BinaryFocalCrossentropy, {"gamma": True}, TypeError, "`gamma` must be a number"),
    (compat.BinaryFocalCrossentropy, {"alpha": 1.5}, ValueError, "`alpha` must be in"),
    (compat.BinaryFocalCrossentropy, {"alpha": [0.5]}, TypeError, "`alpha` must be a number"),
    (
        compat.BinaryFocalCrossentropy,
        {"apply_class_balancing": 1},
        TypeError,
        "`apply_class_balancing` must be True or False",
    ),
    (compat.BinaryFocalCrossentropy, {"from_logits": "yes"}, TypeError, "`from_logits`"),
    (compat.BinaryFocalCrossentropy, {"label_smoothing": 2}, ValueError, "`label_smoothing`"),
    (compat.BinaryFocalCrossentropy, {"reduction": "avg"}, ValueError, "`reduction`"),
    (compat.BinaryFocalCrossentropy, {"name": 3}, TypeError, "`name` must be a string"),
    (compat.CategoricalFocalCrossentropy, {"alpha": -0.1}, ValueError, "`alpha` must be a fin"),
    (compat.CategoricalFocalCrossentropy, {"alpha": []}, ValueError, "`alpha` must not be empty"),
    (
        compat.CategoricalFocalCrossentropy,
        {"alpha": [1, "a"]},
        TypeError,
        "`alpha` must be a number",
    ),
    (compat.CategoricalFocalCrossentropy, {"axis": 1.0}, TypeError, "`axis` must be an int"),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "error", "message"), BAD, ids=[f"{c.__name__}-{k}" for c, k, *_ in BAD]
)
def test_bad_arguments(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls(**kwargs)
    function = FUNCTIONS["binary" if cls is compat.BinaryFocalCrossentropy else "categorical"][0]
    call_kwargs = {k: v for k, v in kwargs.items() if k not in ("reduction", "name")}
    if call_kwargs:
        with pytest.raises(error, match=message):
            function(d.BINARY_TARGETS, d.BINARY_PROBS, **call_kwargs)


def test_alpha_with_the_wrong_number_of_classes(backend):
    loss = compat.CategoricalFocalCrossentropy(alpha=[0.5, 0.5])
    with pytest.raises(ValueError, match="`alpha` has 2 weights but `y_pred` has 5 classes"):
        loss(backend.asarray(d.ONE_HOT), backend.asarray(d.PROBS))


def test_bad_inputs_name_the_argument(backend):
    with pytest.raises(ValueError, match="`y_true` and `y_pred` must have the same shape"):
        compat.binary_focal_crossentropy(
            backend.asarray(d.BINARY_TARGETS[:, :2]), backend.asarray(d.BINARY_PROBS)
        )
    with pytest.raises(TypeError, match="`y_pred` must be a real floating-point array"):
        compat.categorical_focal_crossentropy(backend.asarray(d.ONE_HOT), backend.asarray(d.LABELS))


def test_inputs_are_not_modified(backend):
    y_true, y_pred = backend.asarray(d.SOFT), backend.asarray(d.UNNORMALISED)
    with expect_logits_warning(backend, d.UNNORMALISED, {}):
        compat.categorical_focal_crossentropy(y_true, y_pred, label_smoothing=0.2)
    np.testing.assert_array_equal(backend.to_numpy(y_true), d.SOFT)
    np.testing.assert_array_equal(backend.to_numpy(y_pred), d.UNNORMALISED)


MASK = np.array([[True, True, False], [True, False, False]])  # (batch, time), as Masking gives


@pytest.mark.backends("tensorflow", "torch")  # arrays Keras's backends set `_keras_mask` on
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
@pytest.mark.parametrize("ignore_class", [None, 2])
def test_keras_mask_on_predictions_leaves_positions_out(backend, ignore_class, reduction, weighted):
    """A ``_keras_mask`` on ``y_pred`` (Keras's Masking and ``mask_zero`` embeddings set it)
    leaves its positions out of the loss and of the mean, with ``ignore_class`` too."""
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 3, 4)).astype(np.float32)
    labels = np.array([[0, 3, 1], [2, 2, 0]])
    sample_weight = rng.uniform(0.5, 2.0, size=(2, 3)).astype(np.float32) if weighted else None
    options = {"from_logits": True, "ignore_class": ignore_class, "reduction": reduction}
    tf = need("tensorflow")
    keras_logits = tf.constant(logits)
    keras_logits._keras_mask = tf.constant(MASK)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(**options)
    expected = np.asarray(keras_loss(labels, keras_logits, sample_weight=sample_weight), np.float64)

    ours = backend.asarray(logits)
    ours._keras_mask = backend.asarray(MASK)
    weight = None if sample_weight is None else backend.asarray(sample_weight)
    result = compat.SparseCategoricalCrossentropy(**options)(backend.asarray(labels), ours, weight)
    assert_result(backend, result, expected)
    unmasked = compat.SparseCategoricalCrossentropy(**options)(
        backend.asarray(labels), backend.asarray(logits), weight
    )
    assert not np.allclose(backend.to_numpy(unmasked), expected)


# --- Keras's TensorFlow backend: the logits behind a softmax/sigmoid output -------------------
#
# Keras's TensorFlow losses compute from the logits a Keras softmax/sigmoid attached to its
# output (`_keras_logits`), or, in a graph, from the input of the Softmax/Sigmoid op that made
# `y_pred`: no 1e-7 clip, so a saturated prediction keeps its loss (60, not 16.118) and its
# gradient. xloss.compat.keras does the same for TensorFlow tensors, where Keras does.

SATURATED = np.array([[30.0, 0.0, -30.0], [0.0, 30.0, -30.0], [1.0, 2.0, 0.5]], np.float32)
SATURATED_LABELS = np.array([2, 0, 1])
SATURATED_BINARY = np.array([[-60.0, 50.0], [3.0, -2.0], [0.5, 80.0]], np.float32)
BINARY_LABELS = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
ONE_HOT_LABELS = np.eye(3, dtype=np.float32)[SATURATED_LABELS]

MARKED = {  # case: (Keras's function and class, y_true, logits, activation, options, reads them)
    "categorical": (
        ("categorical_crossentropy", "CategoricalCrossentropy"),
        ONE_HOT_LABELS,
        SATURATED,
        "softmax",
        {"label_smoothing": 0.1},
        True,
    ),
    "sparse": (
        ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
        SATURATED_LABELS,
        SATURATED,
        "softmax",
        {},
        True,
    ),
    "sparse-ignore_class": (  # Keras masks y_pred with ops.where first: no logits
        ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
        np.array([2, 0, -1]),
        SATURATED,
        "softmax",
        {"ignore_class": -1},
        False,
    ),
    "binary": (
        ("binary_crossentropy", "BinaryCrossentropy"),
        BINARY_LABELS,
        SATURATED_BINARY,
        "sigmoid",
        {"label_smoothing": 0.1},
        True,
    ),
    "binary_focal": (  # the cross-entropy term from the logits
        ("binary_focal_crossentropy", "BinaryFocalCrossentropy"),
        BINARY_LABELS,
        SATURATED_BINARY,
        "sigmoid",
        {"apply_class_balancing": True, "gamma": 1.0},
        True,
    ),
    "categorical_focal": (  # Keras computes its own clipped log
        ("categorical_focal_crossentropy", "CategoricalFocalCrossentropy"),
        ONE_HOT_LABELS,
        SATURATED,
        "softmax",
        {},
        False,
    ),
}


def keras_on_tensorflow():
    """TensorFlow, with Keras on its TensorFlow backend in this process (the marker is set and
    read there only)."""
    tf = need("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip(f"Keras runs on {keras.backend.backend()} in this process")
    return tf


def keras_quietly(fn, *args, **kwargs):
    """Keras's number, its own warnings (from_logits=True on softmax output) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fn(*args, **kwargs), np.float64)


def quietly(fn, *args, **kwargs):
    """``fn``'s result as float64 NumPy, every warning silenced (Keras's and xloss's: from
    from_logits=True on softmax output; `test_from_logits_true_on_keras_activation_output_warns`
    checks xloss's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fn(*args, **kwargs), np.float64)


def marked_loss(case, api, from_logits):
    """``(ours, Keras's, y_true, y_pred)`` for a MARKED case: two callables of
    ``(y_true, y_pred)`` (the loss classes with ``reduction=None``), and Keras's activation
    output (eager, carrying the marker)."""
    tf = keras_on_tensorflow()
    (function, cls), y_true, logits, activation, options, _ = MARKED[case]
    y_pred = getattr(keras.activations, activation)(tf.constant(logits))
    assert hasattr(y_pred, "_keras_logits")
    options = {**options, "from_logits": from_logits}
    if api == "class":  # per sample: the numbers above the cap
        options["reduction"] = None
        ours, theirs = getattr(compat, cls)(**options), getattr(keras.losses, cls)(**options)
        return ours, theirs, y_true, y_pred
    ours, theirs = getattr(compat, function), getattr(keras.losses, function)
    return (
        lambda t, p: ours(t, p, **options),
        lambda t, p: theirs(t, p, **options),
        y_true,
        y_pred,
    )


@pytest.mark.parametrize("api", ["function", "class"])
@pytest.mark.parametrize("from_logits", [False, True], ids=["probabilities", "from_logits"])
@pytest.mark.parametrize("case", MARKED)
def test_keras_activation_output_gives_keras_tensorflow_numbers(case, from_logits, api):
    """The output of ``keras.activations.softmax``/``sigmoid`` (eager, marked): Keras's number,
    from the logits where Keras reads them (no cap at 16.118), else from the probabilities."""
    ours, theirs, y_true, y_pred = marked_loss(case, api, from_logits)
    expected = quietly(theirs, y_true, y_pred)
    result = quietly(ours, y_true, y_pred)
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6)
    # The data tell the two apart: from the logits, a loss above the clip's cap.
    reads = MARKED[case][-1] and not (from_logits and case == "binary_focal")
    assert (np.max(expected) > 20.0) == reads


@pytest.mark.parametrize("api", ["function", "class"])
@pytest.mark.parametrize("case", ["categorical", "sparse", "binary"])
def test_from_logits_true_on_keras_activation_output_warns(case, api):
    """With ``from_logits=True`` Keras warns and computes from the logits: a FromLogitsWarning
    saying so (none under ``value_checks(False)``)."""
    ours, _, y_true, y_pred = marked_loss(case, api, True)
    with pytest.warns(xloss.FromLogitsWarning, match="computes `.*` from the logits behind it"):
        ours(y_true, y_pred)
    with warnings.catch_warnings(), xloss.value_checks(False):
        warnings.simplefilter("error")
        ours(y_true, y_pred)


def test_binary_focal_from_saturated_logits_is_keras_tensorflow():
    """From logits, Keras's TensorFlow backend takes the focal loss's cross-entropy term from
    the logits (its ``ops.sigmoid`` marks the output it then reads): 27.5 for ``[30, -25]``,
    where its other backends clip (16.03). xloss computes the TensorFlow form everywhere."""
    tf = keras_on_tensorflow()
    y_true, logits = np.array([[0.0, 1.0]], np.float32), np.array([[30.0, -25.0]], np.float32)
    expected = np.asarray(
        keras.losses.binary_focal_crossentropy(y_true, tf.constant(logits), from_logits=True)
    )
    np.testing.assert_allclose(expected, [27.5], rtol=1e-6)
    for y_pred in (tf.constant(logits), logits):
        result = compat.binary_focal_crossentropy(y_true, y_pred, from_logits=True)
        np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-6)


def test_binary_focal_from_logits_on_sigmoid_output_is_keras():
    """Keras's binary focal loss with ``from_logits=True`` applies sigmoid itself and reads no
    marker on its input: no warning from Keras; xloss's core warns about the marker."""
    ours, theirs, y_true, y_pred = marked_loss("binary_focal", "function", True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = np.asarray(theirs(y_true, y_pred))
    with pytest.warns(xloss.FromLogitsWarning, match="_keras_logits"):
        result = ours(y_true, y_pred)
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("case", "activation"),
    [
        ("categorical", "softmax"),
        ("sparse", "softmax"),
        ("binary", "sigmoid"),
        ("binary_focal", "sigmoid"),
    ],
)
@pytest.mark.parametrize("dtype", [None, "float64"])
def test_softmax_op_in_a_graph_gives_keras_tensorflow_numbers_and_gradients(
    case, activation, dtype
):
    """In ``tf.function`` a ``tf.nn.softmax``/``sigmoid`` output has no marker, but Keras knows
    the op: its input is used, for the loss and the gradient. A loss dtype that differs from
    ``y_pred``'s (float64 here) makes Keras cast ``y_pred``: a Cast op, so the clip again."""
    tf = keras_on_tensorflow()
    (function, cls), y_true, logits, _, options, _ = MARKED[case]
    op = getattr(tf.nn, activation)

    @tf.function
    def losses(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y_pred = op(x)
            values = [
                getattr(keras.losses, cls)(**options, dtype=dtype)(y_true, y_pred),
                getattr(compat, cls)(**options, dtype=dtype)(y_true, y_pred),
                getattr(keras.losses, function)(y_true, y_pred, **options),
                getattr(compat, function)(y_true, y_pred, **options),
            ]
        return values, [tape.gradient(v, x) for v in values]

    (keras_class, ours_class, keras_fn, ours_fn), grads = losses(tf.constant(logits))
    np.testing.assert_allclose(ours_class, keras_class, rtol=1e-6)
    np.testing.assert_allclose(ours_fn, keras_fn, rtol=1e-6)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grads[3], grads[2], rtol=1e-5, atol=1e-7)
    assert np.max(np.asarray(keras_fn)) > 20.0  # the function converts nothing: the logits
    assert (float(keras_class) > 16.2) == (dtype is None)  # cast: clipped, no gradient
    assert (np.abs(np.asarray(grads[0])[0]).max() > 1e-3) == (dtype is None)


def test_a_cast_or_reshape_by_keras_drops_the_marker():
    """Keras's loss classes convert ``y_pred`` to their dtype (``floatx()`` for None) and
    align the ranks of ``y_true`` and ``y_pred`` before the function: either makes a new
    tensor, without the marker, and Keras clips. So does xloss, in the same cases."""
    tf = keras_on_tensorflow()
    marked = keras.activations.softmax(tf.constant(SATURATED, tf.float64))
    for dtype in (None, "float64"):  # None: Keras casts to float32
        expected = float(keras.losses.CategoricalCrossentropy(dtype=dtype)(ONE_HOT_LABELS, marked))
        ours = float(compat.CategoricalCrossentropy(dtype=dtype)(ONE_HOT_LABELS, marked))
        np.testing.assert_allclose(ours, expected, rtol=1e-6)
        assert (expected > 20.0) == (dtype == "float64")
    column = keras.activations.sigmoid(tf.constant(SATURATED_BINARY[..., None]))  # (3, 2, 1)
    expected = float(keras.losses.BinaryCrossentropy()(BINARY_LABELS, column))
    assert expected < 16.2
    np.testing.assert_allclose(
        float(compat.BinaryCrossentropy()(BINARY_LABELS, column)), expected, rtol=1e-6
    )
    assert float(compat.binary_crossentropy(BINARY_LABELS[..., None], column)[0, 0]) > 20


def test_the_marker_on_other_arrays_is_not_read():
    """Keras's other backends never read the marker, though ``keras.activations.softmax`` sets
    it on a torch tensor too: xloss clips there, as they do."""
    torch = need("torch")
    probabilities = torch.softmax(torch.tensor(SATURATED), dim=-1)
    probabilities._keras_logits = torch.tensor(SATURATED)
    result = compat.categorical_crossentropy(torch.tensor(ONE_HOT_LABELS), probabilities)
    np.testing.assert_allclose(result[0].item(), 16.118095, rtol=1e-6)
