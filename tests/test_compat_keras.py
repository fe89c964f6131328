"""xloss.compat.keras: Keras 3's loss API on every backend, against Keras itself.

xloss runs on each backend; Keras runs once on the same NumPy data (its TensorFlow backend, in
float32) and a float64 NumPy reference written from Keras's formulas is the second oracle.
"""

from __future__ import annotations

import contextlib
import inspect

import data as d
import numpy as np
import pytest
import reference as ref
from backends import need
from checks import assert_result, tolerance

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


def expect_logits_warning(y_pred, kwargs):
    """xloss warns when probabilities outside [0, 1] come with from_logits=False."""
    if not kwargs.get("from_logits") and (y_pred.min() < 0 or y_pred.max() > 1):
        return pytest.warns(xloss.FromLogitsWarning, match="looks like logits")
    return contextlib.nullcontext()


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
    with expect_logits_warning(y_pred, kwargs):
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


# --- the API: names, parameters, defaults, configs ---------------------------------------------

KERAS_NAMES = [n for n in compat.__all__ if n != "Loss"]


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_parameters_and_defaults_are_keras(name):
    """Every name is Keras's, with Keras's parameters (in Keras's order) and defaults; Keras's
    ``dtype`` is left out (xloss computes in float32, float64 for float64 input)."""
    ours = inspect.signature(getattr(compat, name)).parameters
    theirs = inspect.signature(getattr(keras.losses, name)).parameters
    theirs = {k: p for k, p in theirs.items() if k != "dtype"}
    if name[0].islower() or name in {
        "BinaryCrossentropy",
        "CategoricalCrossentropy",
        "SparseCategoricalCrossentropy",
    }:
        # xloss's own signatures: the name is not an argument; options are keyword-only.
        theirs.pop("name", None)
        assert set(ours) == set(theirs), name
    else:
        assert list(ours) == list(theirs), name
    for key, parameter in theirs.items():
        assert ours[key].default == parameter.default, (name, key)


@pytest.mark.parametrize("kind", ["binary", "categorical"])
def test_config_round_trip_and_matches_keras(kind):
    ours, keras_name = CLASSES[kind]
    options = {"gamma": 3.0, "from_logits": True, "reduction": "sum", "name": "focal"}
    options["alpha"] = 0.4 if kind == "binary" else [0.5, 1.5]
    loss = ours(**options)
    config = loss.get_config()
    rebuilt = ours.from_config(config)
    assert rebuilt.get_config() == config and repr(rebuilt) == repr(loss)
    keras_config = getattr(keras.losses, keras_name)(**options).get_config()
    assert {k: keras_config[k] for k in config} == config


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
    with pytest.warns(xloss.FromLogitsWarning):
        compat.categorical_focal_crossentropy(y_true, y_pred, label_smoothing=0.2)
    np.testing.assert_array_equal(backend.to_numpy(y_true), d.SOFT)
    np.testing.assert_array_equal(backend.to_numpy(y_pred), d.UNNORMALISED)
