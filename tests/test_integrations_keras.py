"""xloss.integrations.keras in real Keras training, on each Keras backend.

For each backend (TensorFlow, JAX, PyTorch) this file runs itself as a script in a fresh
process with ``KERAS_BACKEND`` set (Keras picks its backend once, at import): it trains a small
model with each xloss loss, evaluates it with the xloss loss and with Keras's own loss class,
saves and reloads it, and prints the numbers; the tests here judge them.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

KERAS_BACKENDS = ("tensorflow", "jax", "torch")
LOSSES = ("categorical", "sparse", "binary", "categorical_focal", "binary_focal")
TRAINED = ("categorical", "sparse", "binary")  # trained from scratch; the focal ones evaluated
MARKER = "XLOSS-RESULT "
ROOT = Path(__file__).resolve().parent.parent


# --- the script, run in a subprocess per Keras backend -----------------------------------------


def _losses(keras, xloss_keras):
    """Each loss as ``(xloss's, Keras's own)``, with the same arguments."""
    pairs = {
        "categorical": ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.1}),
        "sparse": ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": -1}),
        "binary": ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.05}),
        "categorical_focal": ("CategoricalFocalCrossentropy", {"from_logits": True, "gamma": 1.0}),
        "binary_focal": (
            "BinaryFocalCrossentropy",
            {"from_logits": True, "apply_class_balancing": True},
        ),
    }
    return {
        name: (getattr(xloss_keras, cls)(**kwargs), getattr(keras.losses, cls)(**kwargs))
        for name, (cls, kwargs) in pairs.items()
    }


def _data(n=256, features=8, classes=4):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, features)).astype(np.float32)
    scores = x @ rng.normal(size=(features, classes))
    labels = scores.argmax(axis=-1)
    one_hot = np.eye(classes, dtype=np.float32)[labels]
    ignored = labels.copy()
    ignored[::7] = -1  # padding positions, left out by ignore_class=-1
    multi_label = (scores > 0).astype(np.float32)
    targets = {
        "categorical": one_hot,
        "sparse": ignored,
        "binary": multi_label,
        "categorical_focal": one_hot,
        "binary_focal": multi_label,
    }
    weights = rng.uniform(0.5, 1.5, size=n).astype(np.float32)
    return x, targets, weights


def model_of(loss: str) -> str:
    """The trained model whose predictions a loss is compared on (the focal losses have none)."""
    return loss if loss in TRAINED else ("binary" if "binary" in loss else "categorical")


def _model(keras, features=8, classes=4):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((features,)), keras.layers.Dense(classes)])


# A softmax/sigmoid output layer whose predictions saturate: the true class's probability is
# e**-60, below the 1e-7 clip. Keras's TensorFlow losses compute from the logits behind such an
# output (the `_keras_logits` marker, or the Softmax/Sigmoid op in a graph), where Keras's other
# backends clip; xloss's loss must do what Keras's own does on each backend.
SATURATED_INPUTS = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], np.float32)
SATURATED_CASES = {  # case: (class, options, activation, kernel, targets, Keras reads the logits)
    "categorical": (
        "CategoricalCrossentropy",
        {},
        "softmax",
        [[30.0, 0.0, -30.0], [0.0, 30.0, -30.0]],
        np.eye(3, dtype=np.float32)[[2, 0, 1]],
        True,
    ),
    "categorical-from_logits": (  # softmax output passed as logits: Keras on TF repairs it
        "CategoricalCrossentropy",
        {"from_logits": True},
        "softmax",
        [[30.0, 0.0, -30.0], [0.0, 30.0, -30.0]],
        np.eye(3, dtype=np.float32)[[2, 0, 1]],
        True,
    ),
    "categorical-float64": (  # Keras casts y_pred to the loss's dtype: a new tensor, clipped
        "CategoricalCrossentropy",
        {"dtype": "float64"},
        "softmax",
        [[30.0, 0.0, -30.0], [0.0, 30.0, -30.0]],
        np.eye(3, dtype=np.float32)[[2, 0, 1]],
        False,
    ),
    "sparse": (
        "SparseCategoricalCrossentropy",
        {},
        "softmax",
        [[30.0, 0.0, -30.0], [0.0, 30.0, -30.0]],
        np.array([2, 0, 1]),
        True,
    ),
    "sparse-ignore_class": (  # Keras masks y_pred first: a new tensor, clipped
        "SparseCategoricalCrossentropy",
        {"ignore_class": -1},
        "softmax",
        [[30.0, 0.0, -30.0], [0.0, 30.0, -30.0]],
        np.array([2, 0, -1]),
        False,
    ),
    "binary": (
        "BinaryCrossentropy",
        {},
        "sigmoid",
        [[-60.0, 50.0], [3.0, -2.0]],
        np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32),
        True,
    ),
    "binary_focal": (  # the cross-entropy term from the logits
        "BinaryFocalCrossentropy",
        {"gamma": 1.0},
        "sigmoid",
        [[-60.0, 50.0], [3.0, -2.0]],
        np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32),
        True,
    ),
    "categorical_focal": (  # Keras computes its own clipped log on every backend
        "CategoricalFocalCrossentropy",
        {"alpha": 1.0},
        "softmax",
        [[30.0, 0.0, -30.0], [0.0, 30.0, -30.0]],
        np.eye(3, dtype=np.float32)[[2, 0, 1]],
        False,
    ),
}


def _saturated(keras, xloss_keras) -> dict:
    """Per case and per loss (xloss's, Keras's): ``model.evaluate``'s loss, and the kernel
    after one SGD step of ``model.fit`` on the same three samples."""
    results = {}
    for case, (cls, options, activation, kernel, targets, _) in SATURATED_CASES.items():
        entry = results[case] = {}
        for who, module in (("xloss", xloss_keras), ("keras", keras.losses)):
            dense = keras.layers.Dense(
                len(kernel[0]),
                activation=activation,
                use_bias=False,
                kernel_initializer=keras.initializers.Constant(kernel),
            )
            inputs = keras.Input((2,))
            model = keras.Model(inputs, dense(inputs))
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss=getattr(module, cls)(**options))
            loss = model.evaluate(SATURATED_INPUTS, targets, batch_size=3, verbose=0)
            model.fit(SATURATED_INPUTS, targets, batch_size=3, epochs=1, shuffle=False, verbose=0)
            entry[who] = {"loss": float(loss), "kernel": np.asarray(dense.kernel).tolist()}
    return results


def main() -> None:
    if os.environ["KERAS_BACKEND"] == "torch":
        import torch  # noqa: F401  (keras imports it anyway; torch before tensorflow)
    import keras

    from xloss.integrations import keras as xloss_keras

    x, targets, weights = _data()
    n = len(x)
    losses = _losses(keras, xloss_keras)
    result: dict = {"backend": keras.backend.backend(), "losses": {}}
    trained, predictions = {}, {}
    for name in TRAINED:
        model = _model(keras)
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss=losses[name][0])
        history = model.fit(x, targets[name], epochs=5, batch_size=64, shuffle=False, verbose=0)
        result["losses"][name] = {"history": [float(v) for v in history.history["loss"]]}
        trained[name] = model
        predictions[name] = np.asarray(model.predict(x, batch_size=n, verbose=0))

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        trained["sparse"].save(path)
        loaded = keras.models.load_model(path)
    result["reloaded"] = {
        "loss_class": f"{type(loaded.loss).__module__}.{type(loaded.loss).__qualname__}",
        "config": loaded.loss.get_config(),
        "original_config": trained["sparse"].loss.get_config(),
        "evaluate": float(loaded.evaluate(x, targets["sparse"], batch_size=n, verbose=0)),
    }

    for name, (ours, theirs) in losses.items():
        y, entry = targets[name], result["losses"].setdefault(name, {})
        if name in TRAINED:
            model = trained[name]
            entry["evaluate"] = float(model.evaluate(x, y, batch_size=n, verbose=0))
            model.compile(loss=theirs)
            entry["keras_evaluate"] = float(model.evaluate(x, y, batch_size=n, verbose=0))
        y_pred = predictions[model_of(name)]
        entry["call"] = float(ours(y, y_pred))
        entry["keras_call"] = float(theirs(y, y_pred))
        entry["weighted"] = float(ours(y, y_pred, sample_weight=weights))
        entry["keras_weighted"] = float(theirs(y, y_pred, sample_weight=weights))
        per_sample = type(ours)(**{**ours.get_config(), "reduction": None})
        keras_per_sample = type(theirs)(**{**theirs.get_config(), "reduction": None})
        entry["none"] = np.asarray(per_sample(y, y_pred)).tolist()
        entry["keras_none"] = np.asarray(keras_per_sample(y, y_pred)).tolist()
    result["saturated"] = _saturated(keras, xloss_keras)
    print(MARKER + json.dumps(result))


if __name__ == "__main__":
    main()
    sys.exit(0)


# --- the tests ---------------------------------------------------------------------------------

import pytest  # noqa: E402
from backends import need  # noqa: E402
from checks import tolerance  # noqa: E402

import xloss  # noqa: E402

TOL = tolerance("float32")


def _require(module: str) -> None:
    """Skip when ``module`` is absent, but fail where the run requires every backend."""
    if importlib.util.find_spec(module) is None:
        if os.environ.get("XLOSS_REQUIRE_BACKENDS"):
            pytest.fail(f"{module} is required but not installed")
        pytest.skip(f"{module} is not installed")


@pytest.fixture(scope="module", params=KERAS_BACKENDS)
def trained(request) -> dict:
    """The script's numbers for one Keras backend (one subprocess per backend)."""
    _require("keras")
    _require(request.param)
    env = {**os.environ, "KERAS_BACKEND": request.param, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, __file__],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    assert done.returncode == 0 and lines, (
        f"KERAS_BACKEND={request.param}: the script failed\n{done.stdout[-3000:]}\n"
        f"{done.stderr[-6000:]}"
    )
    result = json.loads(lines[-1][len(MARKER) :])
    assert result["backend"] == request.param
    return result


@pytest.mark.parametrize("loss", TRAINED)
def test_training_reduces_the_loss(trained, loss):
    history = trained["losses"][loss]["history"]
    assert len(history) == 5 and all(np.isfinite(history)), history
    assert history[-1] < 0.8 * history[0], history


@pytest.mark.parametrize("loss", LOSSES)
def test_evaluate_equals_keras_own_loss(trained, loss):
    """``model.evaluate`` with the xloss loss equals it with Keras's loss class (for the three
    trained losses), and both loss objects agree on a model's predictions: reduced, weighted and
    per sample (all five)."""
    numbers = trained["losses"][loss]
    if loss in TRAINED:
        np.testing.assert_allclose(numbers["evaluate"], numbers["keras_evaluate"], rtol=TOL)
        np.testing.assert_allclose(numbers["evaluate"], numbers["call"], rtol=TOL)
    np.testing.assert_allclose(numbers["call"], numbers["keras_call"], rtol=TOL, atol=TOL)
    np.testing.assert_allclose(numbers["weighted"], numbers["keras_weighted"], rtol=TOL, atol=TOL)
    np.testing.assert_allclose(numbers["none"], numbers["keras_none"], rtol=TOL, atol=TOL)


def test_saved_model_reloads_with_the_xloss_loss(trained):
    reloaded = trained["reloaded"]
    assert reloaded["loss_class"] == "xloss.integrations.keras.SparseCategoricalCrossentropy"
    assert reloaded["config"] == reloaded["original_config"]
    assert reloaded["config"]["ignore_class"] == -1
    np.testing.assert_allclose(
        reloaded["evaluate"], trained["losses"]["sparse"]["evaluate"], rtol=TOL
    )


@pytest.mark.parametrize("case", SATURATED_CASES)
def test_saturated_softmax_output_trains_as_keras_own_loss(trained, case):
    """A softmax/sigmoid output layer whose predictions saturate: the same loss and the same
    weights after one SGD step as Keras's own loss. On TensorFlow, where Keras reads the
    logits behind the output, the loss is not capped at 16.118 and the kernel moves; on JAX
    and PyTorch (and on TensorFlow where Keras makes a new tensor first) both clip."""
    numbers = trained["saturated"][case]
    ours, keras_own = numbers["xloss"], numbers["keras"]
    np.testing.assert_allclose(ours["loss"], keras_own["loss"], rtol=TOL)
    np.testing.assert_allclose(ours["kernel"], keras_own["kernel"], rtol=TOL, atol=1e-6)
    reads = SATURATED_CASES[case][-1] and trained["backend"] == "tensorflow"
    assert (keras_own["loss"] > 16.2) == reads, keras_own["loss"]


# --- in this process (Keras on its default backend) -------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "BinaryCrossentropy",
        "BinaryFocalCrossentropy",
        "CategoricalCrossentropy",
        "CategoricalFocalCrossentropy",
        "SparseCategoricalCrossentropy",
    ],
)
def test_same_arguments_and_config_as_keras(name):
    keras = need("keras")
    xloss_keras = pytest.importorskip("xloss.integrations.keras")
    ours, theirs = getattr(xloss_keras, name), getattr(keras.losses, name)
    assert issubclass(ours, keras.losses.Loss)
    parameters = [(p.name, p.default) for p in inspect.signature(ours).parameters.values()]
    keras_parameters = [(p.name, p.default) for p in inspect.signature(theirs).parameters.values()]
    assert parameters == keras_parameters
    config, keras_config = ours().get_config(), theirs().get_config()
    assert {k: config[k] for k in keras_config} == keras_config
    assert ours.from_config(config).get_config() == config
    registered = keras.saving.get_registered_object(f"xloss>{name}")
    assert registered is ours


def test_bad_arguments_fail_at_construction():
    need("keras")
    xloss_keras = pytest.importorskip("xloss.integrations.keras")
    with pytest.raises(ValueError, match="`label_smoothing` must be in"):
        xloss_keras.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(TypeError, match="`from_logits` must be True or False"):
        xloss_keras.BinaryCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match="`gamma` must be a finite number"):
        xloss_keras.BinaryFocalCrossentropy(gamma=-2)
    with pytest.raises(ValueError, match="reduction"):
        xloss_keras.SparseCategoricalCrossentropy(reduction="avg")


def test_mistaken_from_logits_warns_once_per_line_of_the_caller():
    """The warning's call site is the caller's line, not Keras's ``Loss.__call__``: two lines,
    two warnings, each attributed to this file."""
    need("keras")
    xloss_keras = pytest.importorskip("xloss.integrations.keras")
    loss = xloss_keras.SparseCategoricalCrossentropy(from_logits=True)
    probabilities = np.full((4, 3), 1 / 3, np.float32)
    labels = np.array([0, 1, 2, 0])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loss(labels, probabilities)
        loss(labels, probabilities)
    caught = [w for w in record if w.category is xloss.FromLogitsWarning]
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name] * 2


def keras_on_tensorflow():
    """Keras, running on TensorFlow in this process (where the `_keras_logits` marker is set
    and read), and TensorFlow."""
    keras = need("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip(f"Keras runs on {keras.backend.backend()} in this process")
    return keras, need("tensorflow")


SATURATED = np.array([[30.0, 0.0, -30.0], [0.0, 30.0, -30.0], [1.0, 2.0, 0.5]], np.float32)
SATURATED_BINARY = np.array([[-60.0, 50.0], [3.0, -2.0], [0.5, 80.0]], np.float32)
ONE_HOT = np.eye(3, dtype=np.float32)[[2, 0, 1]]
BINARY_TARGETS = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]], np.float32)
MARKED = {  # class: (y_true, logits, activation, options)
    "CategoricalCrossentropy": (ONE_HOT, SATURATED, "softmax", {"label_smoothing": 0.1}),
    "SparseCategoricalCrossentropy": (np.array([2, 0, 1]), SATURATED, "softmax", {}),
    "BinaryCrossentropy": (BINARY_TARGETS, SATURATED_BINARY, "sigmoid", {}),
    "BinaryFocalCrossentropy": (BINARY_TARGETS, SATURATED_BINARY, "sigmoid", {"gamma": 1.0}),
    "CategoricalFocalCrossentropy": (ONE_HOT, SATURATED, "softmax", {}),
}


def quietly(fn, *args):
    """``fn(*args)`` as float64 NumPy, with Keras's own warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fn(*args), np.float64)


@pytest.mark.parametrize("graph", [False, True], ids=["eager-marker", "tf.function-op"])
@pytest.mark.parametrize("name", MARKED)
def test_softmax_output_gives_keras_tensorflow_numbers(name, graph):
    """Called directly on a softmax/sigmoid output, eagerly (``keras.activations``: the
    marker) or in ``tf.function`` (``tf.nn``: the op), the loss and its gradient are Keras's
    own on TensorFlow: from the logits (no cap at 16.118) for all but the categorical focal
    loss, which Keras computes from the clipped probabilities."""
    keras, tf = keras_on_tensorflow()
    from xloss.integrations import keras as xloss_keras

    y_true, logits, activation, options = MARKED[name]
    ours = getattr(xloss_keras, name)(**options, reduction=None)
    theirs = getattr(keras.losses, name)(**options, reduction=None)
    if not graph:
        y_pred = getattr(keras.activations, activation)(tf.constant(logits))
        expected, result = quietly(theirs, y_true, y_pred), quietly(ours, y_true, y_pred)
    else:

        @tf.function
        def losses(x):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                y_pred = getattr(tf.nn, activation)(x)
                values = theirs(y_true, y_pred), ours(y_true, y_pred)
            return values, [tape.gradient(v, x) for v in values]

        (expected, result), (keras_grad, grad) = losses(tf.constant(logits))
        np.testing.assert_allclose(grad, keras_grad, rtol=TOL, atol=1e-7)
    np.testing.assert_allclose(result, expected, rtol=TOL, atol=1e-6)
    assert (np.max(expected) > 16.2) == (name != "CategoricalFocalCrossentropy")


def test_from_logits_true_on_softmax_output_warns_and_uses_the_logits():
    """With ``from_logits=True`` on a softmax output Keras warns and computes from the logits
    behind it: the same number, and a FromLogitsWarning saying so."""
    keras, tf = keras_on_tensorflow()
    from xloss.integrations import keras as xloss_keras

    y_pred = keras.activations.softmax(tf.constant(SATURATED))
    expected = quietly(keras.losses.CategoricalCrossentropy(from_logits=True), ONE_HOT, y_pred)
    loss = xloss_keras.CategoricalCrossentropy(from_logits=True)
    with pytest.warns(xloss.FromLogitsWarning, match="from the logits behind it") as record:
        result = loss(ONE_HOT, y_pred)
    assert [Path(w.filename).name for w in record] == [Path(__file__).name]
    np.testing.assert_allclose(float(result), expected, rtol=TOL)


CALL_CASES = {  # class: (options, y_true)
    "CategoricalCrossentropy": ({"label_smoothing": 0.1}, ONE_HOT),
    "SparseCategoricalCrossentropy": ({}, np.array([2, 0, 1])),
    "SparseCategoricalCrossentropy-ignore_class": ({"ignore_class": 1}, np.array([2, 0, 1])),
    "BinaryCrossentropy": ({}, ONE_HOT),
    "BinaryFocalCrossentropy": ({"apply_class_balancing": True}, ONE_HOT),
    "CategoricalFocalCrossentropy": ({"alpha": [0.2, 0.3, 0.5]}, ONE_HOT),
}


@pytest.mark.parametrize("case", CALL_CASES)
def test_call_takes_numpy_as_keras_call_does(case):
    """``loss.call(y_true, y_pred)`` (custom training loops, subclasses) on NumPy arrays: the
    per-sample losses as a backend tensor, as Keras's own ``call`` gives them."""
    keras = need("keras")
    from xloss.integrations import keras as xloss_keras

    name = case.split("-")[0]
    options, y_true = CALL_CASES[case]
    logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0], [1.0, 2.0, 0.0]], np.float32)
    options = {**options, "from_logits": True}
    expected = getattr(keras.losses, name)(**options).call(y_true, logits)
    result = getattr(xloss_keras, name)(**options).call(y_true, logits)
    assert type(result) is type(expected)
    np.testing.assert_allclose(np.asarray(result), np.asarray(expected), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_array_options_save_and_reload(tmp_path, library):
    """Options given as arrays (a per-class ``alpha``, a 0-d ``label_smoothing``) are kept in
    the config as Python numbers, so a saved model reloads with the same loss."""
    keras = need("keras")
    from xloss.integrations import keras as xloss_keras

    make = np.asarray if library == "numpy" else need("torch").tensor
    loss = xloss_keras.CategoricalFocalCrossentropy(
        alpha=make([0.25, 0.5, 1.0]), label_smoothing=make(0.125)
    )
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss=loss)
    x, y = np.random.default_rng(0).normal(size=(8, 4)), np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]]
    model.fit(x, y, epochs=1, verbose=0)  # the optimizer built, as the saved one is
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.loss) is xloss_keras.CategoricalFocalCrossentropy
    config = loaded.loss.get_config()
    assert config == loss.get_config()
    assert config["alpha"] == [0.25, 0.5, 1.0] and config["label_smoothing"] == 0.125
    np.testing.assert_allclose(
        loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=TOL
    )
