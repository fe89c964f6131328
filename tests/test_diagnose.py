"""xloss.diagnose on every backend: the verdict for each from_logits situation, on softmax,
log_softmax and sigmoid outputs made by the frameworks themselves, and a code line that, run with
the real framework, computes the right loss."""

from __future__ import annotations

import warnings
from typing import NamedTuple

import backends
import data as d
import numpy as np
import pytest
import reference as ref
from backends import need

import xloss
from xloss import _diagnose
from xloss._diagnose import diagnose

# Under the default framework of each backend, the code line uses this API.
DEFAULT_FRAMEWORK = {"torch": "torch", "jax": "optax", "tensorflow": "keras"}


def framework_of(backend) -> str:
    return DEFAULT_FRAMEWORK.get(backend.name, "xloss")


def activation(backend, name: str, x: np.ndarray, axis: int = -1, dtype: str | None = None):
    """``name`` (softmax, log_softmax, sigmoid) of ``x``, computed by the framework itself; for
    NumPy and array-api-strict (no activations), the float64 reference rounded to float32."""
    arr = backend.asarray(x, dtype)
    if backend.name == "torch":
        torch = backend.module
        return {
            "softmax": lambda: torch.softmax(arr, dim=axis),
            "log_softmax": lambda: torch.log_softmax(arr, dim=axis),
            "sigmoid": lambda: torch.sigmoid(arr),
        }[name]()
    if backend.name == "jax":
        jax = need("jax")
        return {
            "softmax": lambda: jax.nn.softmax(arr, axis=axis),
            "log_softmax": lambda: jax.nn.log_softmax(arr, axis=axis),
            "sigmoid": lambda: jax.nn.sigmoid(arr),
        }[name]()
    if backend.name == "tensorflow":
        tf = backend.module
        return {
            "softmax": lambda: tf.nn.softmax(arr, axis=axis),
            "log_softmax": lambda: tf.nn.log_softmax(arr, axis=axis),
            "sigmoid": lambda: tf.sigmoid(arr),
        }[name]()
    reference = {
        "softmax": lambda: ref.softmax(x, axis),
        "log_softmax": lambda: ref.log_softmax(x, axis),
        "sigmoid": lambda: np.exp(ref.log_sigmoid(x)),
    }[name]()
    return backend.asarray(reference, dtype or "float32")


# (what y_pred is, from_logits, what it looks like, ok)
CATEGORICAL_SITUATIONS = {
    "logits-as-probabilities": (None, False, "logits", False),
    "logits-with-from_logits": (None, True, "logits", True),
    "softmax-as-logits": ("softmax", True, "probabilities", False),
    "softmax-as-probabilities": ("softmax", False, "probabilities", True),
    "log_softmax-as-logits": ("log_softmax", True, "log-probabilities", True),
    "log_softmax-as-probabilities": ("log_softmax", False, "log-probabilities", False),
}
BINARY_SITUATIONS = {
    "logits-as-probabilities": (None, False, "logits", False),
    "logits-with-from_logits": (None, True, "logits", True),
    "sigmoid-as-logits": ("sigmoid", True, "binary probabilities", False),
    "sigmoid-as-probabilities": ("sigmoid", False, "binary probabilities", True),
}
SITUATIONS = [
    (kind, name)
    for kind, table in (
        ("sparse", CATEGORICAL_SITUATIONS),
        ("categorical", CATEGORICAL_SITUATIONS),
        ("binary", BINARY_SITUATIONS),
    )
    for name in table
]


def inputs(backend, kind: str, made_by: str | None):
    """``(y_true, y_pred, logits)`` for ``kind``, ``y_pred`` made by the framework."""
    logits = d.BINARY_LOGITS if kind == "binary" else d.LOGITS
    y_true = {"sparse": d.LABELS, "categorical": d.ONE_HOT, "binary": d.BINARY_TARGETS}[kind]
    y_pred = backend.asarray(logits) if made_by is None else activation(backend, made_by, logits)
    return backend.asarray(y_true), y_pred, logits


def expected_loss(kind: str, logits: np.ndarray) -> float:
    """The mean loss the corrected code must compute: from the logits, in float64."""
    if kind == "sparse":
        return float(ref.sparse_categorical(d.LABELS, logits, from_logits=True).mean())
    if kind == "categorical":
        return float(ref.categorical(d.ONE_HOT, logits, from_logits=True).mean())
    return float(ref.binary(d.BINARY_TARGETS, logits, from_logits=True).mean())


@pytest.mark.parametrize(("kind", "situation"), SITUATIONS, ids=[f"{k}-{s}" for k, s in SITUATIONS])
def test_verdict(backend, kind, situation):
    table = BINARY_SITUATIONS if kind == "binary" else CATEGORICAL_SITUATIONS
    made_by, from_logits, looks_like, ok = table[situation]
    y_true, y_pred, _ = inputs(backend, kind, made_by)
    report = diagnose(y_true, y_pred, from_logits=from_logits)
    assert report.kind == kind and report.kind_reason.startswith("inferred")
    assert (report.looks_like, report.ok) == (looks_like, ok), str(report)
    assert (report.mistake is None) == ok
    assert report.backend == backend.name
    assert report.framework == framework_of(backend)
    text = str(report)
    assert text.startswith(f"xloss.diagnose: {'OK' if ok else 'MISTAKE'}: y_pred looks like")
    assert f"Fix: {report.fix}" in text and report.code in text
    if ok:
        assert report.fix.startswith("Nothing to fix")
    else:
        assert f"from_logits={from_logits}" in report.mistake
        assert f"from_logits={not from_logits}" in report.fix
    if situation == "log_softmax-as-logits":
        assert "fine numerically" in " ".join(report.notes)


@pytest.mark.parametrize(("kind", "situation"), SITUATIONS, ids=[f"{k}-{s}" for k, s in SITUATIONS])
def test_code_line_computes_the_right_loss(backend, kind, situation):
    """The report's code line, run with the framework it names, gives the loss of the logits."""
    table = BINARY_SITUATIONS if kind == "binary" else CATEGORICAL_SITUATIONS
    made_by, from_logits, _, _ = table[situation]
    y_true, y_pred, logits = inputs(backend, kind, made_by)
    report = diagnose(y_true, y_pred, from_logits=from_logits)
    assert run_code(backend, report.code, kind, logits) == pytest.approx(
        expected_loss(kind, logits), rel=1e-5
    ), report.code
    assert run_code(backend, report.xloss_code, kind, logits) == pytest.approx(
        expected_loss(kind, logits), rel=1e-5
    ), report.xloss_code


@pytest.mark.backends("tensorflow")
def test_tf_nn_code_line(backend):
    """framework='tensorflow' gives tf.nn's functions; on the torch layout, a moved axis."""
    for kind, situation in SITUATIONS:
        table = BINARY_SITUATIONS if kind == "binary" else CATEGORICAL_SITUATIONS
        made_by, from_logits, _, _ = table[situation]
        y_true, y_pred, logits = inputs(backend, kind, made_by)
        report = diagnose(y_true, y_pred, from_logits=from_logits, framework="tensorflow")
        assert report.code.startswith("tf.nn."), report.code
        got = run_code(backend, report.code, kind, logits, framework="tensorflow")
        assert got == pytest.approx(expected_loss(kind, logits), rel=1e-5), report.code
    labels = backend.asarray(d.LABELS_3D)
    report = diagnose(labels, backend.asarray(d.LOGITS_3D), axis=1, framework="tensorflow")
    assert "moveaxis(logits, 1, -1)" in report.code
    namespace = {"tf": backend.module, "labels": labels, "logits": backend.asarray(d.LOGITS_3D)}
    got = np.mean(backend.to_numpy(eval(report.code, namespace)))
    expected = ref.sparse_categorical(d.LABELS_3D, d.LOGITS_3D, from_logits=True, axis=1)
    assert got == pytest.approx(expected.mean(), rel=1e-5)


@pytest.mark.backends("torch")
def test_torch_code_line_moves_the_class_axis(backend):
    """Channels-last (N, L, C) logits: torch's cross_entropy wants classes on dim 1."""
    torch = backend.module
    last = np.moveaxis(d.LOGITS_3D, 1, -1)
    report = diagnose(backend.asarray(d.LABELS_3D), backend.asarray(last), from_logits=True)
    assert report.code == "torch.nn.functional.cross_entropy(logits.movedim(-1, 1), target)"
    namespace = {
        "torch": torch,
        "logits": backend.asarray(last),
        "target": backend.asarray(d.LABELS_3D),
    }
    expected = ref.sparse_categorical(d.LABELS_3D, d.LOGITS_3D, from_logits=True, axis=1).mean()
    assert float(eval(report.code, namespace)) == pytest.approx(expected, rel=1e-5)


def run_code(backend, code: str, kind: str, logits: np.ndarray, framework: str | None = None):
    """Evaluate a report's code line with the real framework, on the backend's arrays."""
    framework = framework or framework_of(backend)
    labels = {"sparse": d.LABELS, "categorical": d.ONE_HOT, "binary": d.BINARY_TARGETS}[kind]
    act = "sigmoid" if kind == "binary" else "softmax"
    namespace = {
        "xloss": xloss,
        "logits": backend.asarray(logits),
        "probs": activation(backend, act, logits),
        "labels": backend.asarray(labels),
        "targets": backend.asarray(labels),
        "target": backend.asarray(labels),
    }
    if kind != "binary":
        namespace["log_probs"] = activation(backend, "log_softmax", logits)
    if framework == "torch":
        namespace["torch"] = backend.module
    elif framework == "optax":
        namespace["optax"], namespace["jnp"] = need("optax"), backend.module
    elif framework in ("keras", "tensorflow"):
        namespace["keras"], namespace["tf"] = need("keras"), backend.module
    else:
        assert framework == "xloss" and code.startswith("xloss."), code
    with warnings.catch_warnings():
        warnings.simplefilter("error", xloss.FromLogitsWarning)  # the corrected call is right
        result = eval(code, namespace)
    return float(np.mean(backend.to_numpy(result)))


# --- inference of the loss kind ---------------------------------------------------------------

KIND_CASES = {
    "integer-labels": (d.LABELS, d.LOGITS, "sparse"),
    "labels-with-size-1-axis": (d.LABELS[:, None], d.LOGITS, "sparse"),
    "one-hot": (d.ONE_HOT, d.LOGITS, "categorical"),
    "soft-targets": (d.SOFT, d.LOGITS, "categorical"),
    "multi-hot": (d.BINARY_TARGETS, d.BINARY_LOGITS, "binary"),
    "one-class": (d.BINARY_TARGETS[:, :1], d.BINARY_LOGITS[:, :1], "binary"),
}


@pytest.mark.parametrize("case", KIND_CASES)
def test_kind_is_inferred_from_y_true(backend, case):
    y_true, y_pred, kind = KIND_CASES[case]
    report = diagnose(backend.asarray(y_true), backend.asarray(y_pred), from_logits=True)
    assert report.kind == kind, report.kind_reason
    given = diagnose(backend.asarray(y_true), backend.asarray(y_pred), True, kind="binary")
    assert (given.kind, given.kind_reason) == ("binary", "given")


def test_labels_from_another_library(backend):
    """NumPy labels with any backend's predictions (Keras accepts them; diagnose too)."""
    probs = activation(backend, "softmax", d.LOGITS)
    report = diagnose(d.LABELS, probs, from_logits=True)
    assert (report.kind, report.looks_like, report.ok) == ("sparse", "probabilities", False)
    assert report.backend == backend.name
    report = diagnose(d.ONE_HOT, probs)
    assert (report.kind, report.ok) == ("categorical", True)


def test_python_lists_are_numpy():
    report = diagnose([0, 1], [[0.9, 0.1], [0.2, 0.8]])
    assert (report.backend, report.looks_like, report.ok) == ("numpy", "probabilities", True)


# --- special values, axes, sampling -----------------------------------------------------------


def test_all_nan(backend):
    nan = np.full((d.N, d.C), np.nan, np.float32)
    report = diagnose(backend.asarray(d.LABELS), backend.asarray(nan), from_logits=True)
    assert (report.looks_like, report.ok) == ("not a number", False)
    assert report.evidence.nan == d.N * d.C and report.evidence.min is None
    assert "NaN" in report.mistake and "is all NaN" in str(report)
    tool = {
        "torch": "torch.autograd.set_detect_anomaly(True)",
        "optax": 'jax.config.update("jax_debug_nans", True)',
        "keras": "tf.debugging.enable_check_numerics()",
        "xloss": 'np.seterr(invalid="raise")',
    }[framework_of(backend)]
    assert report.code.startswith(tool)


def test_some_nan_and_inf(backend):
    logits = d.LOGITS.copy()
    logits[2, 1] = np.nan
    report = diagnose(backend.asarray(d.LABELS), backend.asarray(logits), from_logits=True)
    assert (report.looks_like, report.ok, report.evidence.nan) == ("logits", False, 1)
    assert "1 NaN value(s)" in report.mistake
    logits[2, 1] = np.inf
    report = diagnose(backend.asarray(d.LABELS), backend.asarray(logits), from_logits=True)
    assert (report.ok, report.evidence.posinf) == (False, 1) and "+inf" in report.mistake


def test_masked_logits_are_fine(backend):
    masked = d.LOGITS.copy()
    masked[:, 2] = -np.inf
    labels = np.where(d.LABELS == 2, 0, d.LABELS)
    report = diagnose(backend.asarray(labels), backend.asarray(masked), from_logits=True)
    assert (report.looks_like, report.ok, report.evidence.neginf) == ("logits", True, d.N)
    assert "masked classes" in " ".join(report.notes)


def test_constant_values_cannot_be_judged(backend):
    zeros = np.zeros((d.N, d.C), np.float32)
    for from_logits in (True, False):
        report = diagnose(backend.asarray(d.LABELS), backend.asarray(zeros), from_logits)
        assert (report.looks_like, report.ok) == ("constant", True)


def test_softmax_along_the_wrong_axis(backend):
    probs = activation(backend, "softmax", d.LOGITS, axis=0)  # over the batch
    for from_logits in (True, False):
        report = diagnose(backend.asarray(d.LABELS), probs, from_logits=from_logits)
        assert (report.looks_like, report.ok) == ("unnormalised probabilities", False)
        assert "wrong axis" in report.mistake
        assert "logits: the model's output without the final softmax" in report.code


def test_sigmoid_outputs_with_a_categorical_loss(backend):
    probs = activation(backend, "sigmoid", d.LOGITS)
    report = diagnose(backend.asarray(d.LABELS), probs, from_logits=True)
    assert (report.looks_like, report.ok) == ("unnormalised probabilities", False)
    report = diagnose(backend.asarray(d.LABELS), probs, from_logits=False)
    assert report.ok and "divides each row by its sum" in " ".join(report.notes)


def test_torch_layout_axis_1(backend):
    probs = activation(backend, "softmax", d.LOGITS_3D, axis=1)
    report = diagnose(backend.asarray(d.LABELS_3D), probs, from_logits=True, axis=1)
    assert (report.kind, report.looks_like, report.ok) == ("sparse", "probabilities", False)
    assert (report.evidence.rows, report.evidence.classes) == (12, d.C)
    assert report.xloss_code.startswith(
        "xloss.sparse_categorical_crossentropy(labels, logits, from_logits=True, axis=1)"
    )


def test_reads_a_bounded_number_of_rows(backend, monkeypatch):
    """Only the first MAX_VALUES values (whole rows) are read: a mistake further on is unseen."""
    logits = d.LOGITS.copy()
    logits[6] = ref.softmax(logits[6])  # rows 0-5 are logits, row 6 is probabilities
    monkeypatch.setattr(_diagnose, "MAX_VALUES", 3 * d.C + 2)
    report = diagnose(backend.asarray(d.LABELS), backend.asarray(logits), from_logits=True)
    assert (report.evidence.rows, report.evidence.rows_total) == (3, d.N)
    assert "3 of 8 rows" in str(report) and report.ok


def test_inputs_are_not_modified(backend):
    logits, labels = d.LOGITS.copy(), d.LABELS.copy()
    y_pred, y_true = backend.asarray(logits), backend.asarray(labels)
    diagnose(y_true, y_pred, axis=0, kind="categorical")
    np.testing.assert_array_equal(backend.to_numpy(y_pred), d.LOGITS)
    np.testing.assert_array_equal(backend.to_numpy(y_true), d.LABELS)


def test_half_precision_softmax_is_recognised(backend_and_dtype):
    backend, dtype = backend_and_dtype
    probs = activation(backend, "softmax", d.LOGITS, dtype=dtype)
    report = diagnose(backend.asarray(d.LABELS), probs, from_logits=True)
    assert (report.looks_like, report.ok) == ("probabilities", False), str(report)
    report = diagnose(backend.asarray(d.LABELS), backend.asarray(d.LOGITS, dtype))
    assert (report.looks_like, report.ok) == ("logits", False)


@pytest.mark.backends("array_api_strict")
def test_array_on_another_device_is_copied_to_the_host(backend):
    """array-api-strict's second device stands in for accelerator memory: diagnose was asked
    for, so it copies the rows it reads to the host."""
    xs = backend.module
    device = xs.Device("device1")
    probs = xs.asarray(ref.softmax(d.LOGITS).astype(np.float32), device=device)
    report = diagnose(xs.asarray(d.LABELS, device=device), probs, from_logits=True)
    assert (report.looks_like, report.ok) == ("probabilities", False)


@pytest.mark.backends("torch")
def test_torch_tensor_requiring_grad(backend):
    logits = backend.asarray(d.LOGITS).requires_grad_()
    report = diagnose(backend.asarray(d.LABELS), logits.softmax(-1), from_logits=True)
    assert report.looks_like == "probabilities" and logits.grad is None


# --- Keras's marker ---------------------------------------------------------------------------


@pytest.mark.backends("tensorflow")
def test_keras_softmax_marker(backend):
    keras = need("keras")
    probs = keras.activations.softmax(backend.asarray(d.LOGITS))
    assert getattr(probs, "_keras_logits", None) is not None
    report = diagnose(backend.asarray(d.LABELS), probs, from_logits=True)
    assert (report.looks_like, report.ok, report.evidence.keras_marker) == (
        "probabilities",
        False,
        True,
    )
    assert "_keras_logits" in report.mistake and "cached logits" in " ".join(report.notes)
    assert report.code.startswith(
        "keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)"
    )
    assert diagnose(backend.asarray(d.LABELS), probs).ok


@pytest.mark.backends("tensorflow")
def test_keras_sigmoid_marker_on_one_class(backend):
    """One class: the values are probabilities or logits alike; the marker tells."""
    keras = need("keras")
    probs = keras.activations.sigmoid(backend.asarray(d.BINARY_LOGITS[:, :1]))
    report = diagnose(backend.asarray(d.BINARY_TARGETS[:, :1]), probs, from_logits=True)
    assert (report.kind, report.looks_like, report.ok) == ("binary", "binary probabilities", False)
    assert report.code.startswith("keras.losses.BinaryCrossentropy(from_logits=True)")


# --- refusals and errors ----------------------------------------------------------------------


@pytest.mark.backends("jax", "tensorflow", "torch")
def test_traced_arrays_are_refused(backend):
    fn = backend.compile(lambda y, x: x * float(diagnose(y, x).ok), d.LABELS, d.LOGITS)
    expected = TypeError if backend.name != "torch" else backend.module._dynamo.exc.Unsupported
    with pytest.raises(expected, match="diagnose outside the compiled function"):
        fn(backend.asarray(d.LABELS), backend.asarray(d.LOGITS))


@pytest.mark.backends("torch")
def test_torch_func_transforms_are_refused(backend):
    torch = backend.module
    labels = backend.asarray(d.LABELS[:1])
    with pytest.raises(TypeError, match="has no values yet"):
        torch.func.vmap(lambda row: row * float(diagnose(labels, row[None]).ok))(
            backend.asarray(d.LOGITS)
        )


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"kind": "multiclass"}, ValueError, r"`kind` must be None or one of .*'multiclass'"),
        ({"framework": "flax"}, ValueError, r"`framework` must be None or one of .*'flax'"),
        ({"from_logits": 1}, TypeError, r"`from_logits` must be True or False"),
        ({"axis": 2}, ValueError, r"`axis`=2 is out of range"),
    ],
    ids=["kind", "framework", "from_logits", "axis"],
)
def test_bad_arguments(backend, arguments, error, message):
    with pytest.raises(error, match=message):
        diagnose(backend.asarray(d.LABELS), backend.asarray(d.LOGITS), **arguments)


def test_bad_arrays(backend):
    with pytest.raises(TypeError, match=r"`y_pred` must be a real floating-point array"):
        diagnose(backend.asarray(d.LABELS), backend.asarray(d.LABELS[:, None]))
    with pytest.raises(TypeError, match=r"`y_true` must be an array.*received None"):
        diagnose(None, backend.asarray(d.LOGITS))
    with pytest.raises(ValueError, match="is empty"):
        diagnose(backend.asarray(d.LABELS[:0]), backend.asarray(d.LOGITS[:0]))


@pytest.mark.host_values
def test_warning_points_to_diagnose(backend):
    with pytest.warns(xloss.FromLogitsWarning, match=r"run xloss\.diagnose\(y_true, y_pred"):
        xloss.categorical_crossentropy(backend.asarray(d.ONE_HOT), backend.asarray(d.LOGITS))
    with pytest.warns(xloss.FromLogitsWarning, match=r"from_logits=True\)\."):
        xloss.categorical_crossentropy(
            backend.asarray(d.ONE_HOT), activation(backend, "softmax", d.LOGITS), from_logits=True
        )


# --- the code line in each framework, for label shapes and dtypes beyond the usual -------------

# The array library whose arrays each framework's code line takes.
ARRAYS_OF = {
    "torch": "torch",
    "optax": "jax",
    "keras": "tensorflow",
    "tensorflow": "tensorflow",
    "xloss": "numpy",
}
FRAMEWORKS = tuple(ARRAYS_OF)


class Form(NamedTuple):
    """Targets and predictions; ``y_pred`` is ``made_by`` (an activation) of ``logits``, or
    the logits themselves. The corrected call computes from the logits when ``from_logits``,
    else from ``y_pred`` as given."""

    kind: str
    y_true: np.ndarray
    logits: np.ndarray
    made_by: str | None = None
    axis: int = -1
    from_logits: bool = True


_LABELS_N_1 = d.LABELS[:, None]  # Keras's (N, 1) label form
_LABELS_3D_N_1 = d.LABELS_3D[:, None, :]  # (N, 1, L): the size-1 class axis kept, on axis 1
_ONE_CLASS = d.BINARY_LOGITS[:, :1]  # (N, 1), with (N,) targets
_ONE_HOT_INT = d.ONE_HOT.astype(np.int64)
_BINARY_INT = d.BINARY_TARGETS.astype(np.int64)
LABEL_FORMS = {
    "sparse-axis-1-logits": Form("sparse", d.LABELS_3D, d.LOGITS_3D, axis=1),
    "sparse-axis-1-softmax": Form("sparse", d.LABELS_3D, d.LOGITS_3D, "softmax", 1, False),
    "sparse-unnormalised-probabilities": Form("sparse", d.LABELS, d.LOGITS, "sigmoid", -1, False),
    "sparse-int32-labels": Form("sparse", d.LABELS.astype(np.int32), d.LOGITS),
    "sparse-labels-N-1-logits": Form("sparse", _LABELS_N_1, d.LOGITS),
    "sparse-labels-N-1-softmax": Form("sparse", _LABELS_N_1, d.LOGITS, "softmax", -1, False),
    "sparse-labels-N-1-softmax-as-logits": Form("sparse", _LABELS_N_1, d.LOGITS, "softmax"),
    "sparse-labels-N-1-L-axis-1": Form("sparse", _LABELS_3D_N_1, d.LOGITS_3D, axis=1),
    "binary-one-class-logits": Form("binary", d.BINARY_TARGETS[:, 0], _ONE_CLASS),
    "binary-one-class-sigmoid": Form(
        "binary", d.BINARY_TARGETS[:, 0], _ONE_CLASS, "sigmoid", -1, False
    ),
    "categorical-integer-one-hot-logits": Form("categorical", _ONE_HOT_INT, d.LOGITS),
    "categorical-integer-one-hot-softmax": Form(
        "categorical", _ONE_HOT_INT, d.LOGITS, "softmax", -1, False
    ),
    "categorical-integer-one-hot-softmax-as-logits": Form(
        "categorical", _ONE_HOT_INT, d.LOGITS, "softmax"
    ),
    "binary-integer-targets-logits": Form("binary", _BINARY_INT, d.BINARY_LOGITS),
    "binary-integer-targets-sigmoid": Form(
        "binary", _BINARY_INT, d.BINARY_LOGITS, "sigmoid", -1, False
    ),
}
LABEL_FORM_CASES = [(form, framework) for form in LABEL_FORMS for framework in FRAMEWORKS]


def backend_for(framework: str):
    """The test backend whose arrays ``framework``'s code line takes (skip if absent)."""
    name = ARRAYS_OF[framework]
    if name != "numpy":
        need(name)
    if framework in ("optax", "keras"):
        need(framework)
    return backends.load(name)


@pytest.mark.parametrize(
    ("form", "framework"), LABEL_FORM_CASES, ids=[f"{f}-{w}" for f, w in LABEL_FORM_CASES]
)
def test_code_line_for_label_forms(form, framework):
    """(N, 1) labels, a class axis other than the last, one-class binary predictions with
    (N,) targets, integer one-hot or 0/1 targets, rows of probabilities that do not sum to 1:
    the report's code line, run as written with the real framework, gives xloss's loss."""
    kind, y_true, logits, made_by, axis, from_logits = LABEL_FORMS[form]
    backend = backend_for(framework)
    y_pred = (
        backend.asarray(logits)
        if made_by is None
        else activation(backend, made_by, logits, axis=axis)
    )
    labels = backend.asarray(y_true)
    report = diagnose(labels, y_pred, from_logits, axis=axis, framework=framework)
    assert report.kind == kind, report.kind_reason
    namespace = {
        "xloss": xloss,
        "logits": backend.asarray(logits),
        "probs": y_pred,
        "labels": labels,
        "targets": labels,
        "target": labels,
        "torch": backend.module if framework == "torch" else None,
        "jnp": backend.module if framework == "optax" else None,
        "tf": backend.module if framework in ("keras", "tensorflow") else None,
    }
    if framework in ("optax", "keras"):
        namespace[framework] = need(framework)
    with warnings.catch_warnings():
        warnings.simplefilter("error", xloss.FromLogitsWarning)  # the corrected call is right
        got = float(np.mean(backend.to_numpy(eval(report.code, namespace))))
    # xloss's loss, in float64 on NumPy, of what the corrected call means.
    function = {
        "sparse": xloss.sparse_categorical_crossentropy,
        "categorical": xloss.categorical_crossentropy,
        "binary": xloss.binary_crossentropy,
    }[kind]
    if from_logits:
        expected = function(y_true, logits.astype(np.float64), from_logits=True, axis=axis)
    else:
        probs = backend.to_numpy(y_pred).astype(np.float64)
        expected = function(y_true, probs, axis=axis)
    assert got == pytest.approx(float(np.mean(expected)), rel=1e-5), report.code
