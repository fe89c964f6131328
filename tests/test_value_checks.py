"""Checks that read values: label range errors, and the FromLogitsWarning for the seed mistake.

Eager calls on host arrays are checked; traced calls (jit, tf.function, torch.compile) are not,
and there an out-of-range label gives nan for its sample on every backend.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import warnings

import data as d
import numpy as np
import pytest
import reference as ref
from backends import FLOAT_DTYPES, need

import xloss

SOFTMAX_OUTPUT = ref.softmax(d.LOGITS).astype(np.float32)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (5, r"`y_true` holds the label 5, outside \[0, 5\): `y_pred` has 5 classes along axis 1"),
        (-1, r"`y_true` holds the label -1, outside \[0, 5\).*pass ignore_class=<their label>"),
    ],
    ids=["too-large", "negative"],
)
@pytest.mark.host_values
def test_label_out_of_range_raises(backend, bad, message):
    labels = d.LABELS.copy()
    labels[3] = bad
    with pytest.raises(ValueError, match=message):
        xloss.sparse_categorical_crossentropy(
            backend.asarray(labels), backend.asarray(d.LOGITS), from_logits=True
        )


@pytest.mark.host_values
def test_ignored_label_may_be_out_of_range_but_others_may_not(backend):
    labels = d.LABELS.copy()
    labels[[2, 3]] = [-100, 9]
    loss = xloss.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-100)
    with pytest.raises(ValueError, match=r"holds the label 9.*\(or ignore_class=-100\)"):
        loss(backend.asarray(labels), backend.asarray(d.LOGITS))
    labels[3] = 0
    loss(backend.asarray(labels), backend.asarray(d.LOGITS))  # no error


@pytest.mark.host_values
def test_checks_can_be_switched_off(backend):
    labels = d.LABELS.copy()
    labels[0] = 7
    with xloss.value_checks(False):
        out = xloss.sparse_categorical_crossentropy(
            backend.asarray(labels), backend.asarray(d.LOGITS), from_logits=True
        )
    values = backend.to_numpy(out)
    assert np.isnan(values[0]) and np.isfinite(values[1:]).all()
    with pytest.raises(ValueError):  # back on after the block
        xloss.sparse_categorical_crossentropy(
            backend.asarray(labels), backend.asarray(d.LOGITS), from_logits=True
        )


@pytest.mark.host_values
def test_switches_are_the_calling_threads(backend):
    """A ``with xloss.value_checks(False)`` block in one thread leaves the others checked, and
    two threads' blocks, entered and left interleaved, leave the checks on (one process-wide
    flag let the second block restore the first's ``False`` for everyone)."""
    labels = d.LABELS.copy()
    labels[0] = 7
    y, x = backend.asarray(labels), backend.asarray(d.LOGITS)

    def loss():
        return xloss.sparse_categorical_crossentropy(y, x, from_logits=True)

    entered, left = threading.Barrier(2, timeout=60), threading.Barrier(2, timeout=60)
    seen: dict[str, object] = {}

    def first():
        with xloss.value_checks(False), xloss.fast_paths(False):
            entered.wait()  # the second thread looks while this block is open
            left.wait()  # and enters its own; this block is left first
            seen["first, in its block"] = backend.to_numpy(loss())

    def second():
        entered.wait()
        try:
            loss()
        except ValueError as error:
            seen["second, beside the block"] = error
        seen["fast paths beside the block"] = xloss.fast_paths.is_on()
        with xloss.value_checks(False):
            left.wait()
        with contextlib.suppress(ValueError):
            loss()
            seen["second, after its block"] = "no error"

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(seen["second, beside the block"], ValueError)
    assert seen["fast paths beside the block"] is True
    assert np.isnan(seen["first, in its block"][0])
    assert "second, after its block" not in seen
    assert xloss.value_checks.is_on() and xloss.fast_paths.is_on()
    with pytest.raises(ValueError, match="holds the label 7"):
        loss()


@pytest.mark.backends("jax", "tensorflow", "torch")
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probabilities"])
def test_traced_out_of_range_label_gives_nan(backend, from_logits):
    labels = d.LABELS.copy()
    labels[[1, 4]] = [d.C, -3]
    x = d.LOGITS if from_logits else d.PROBS
    fn = backend.compile(
        lambda y, p: xloss.sparse_categorical_crossentropy(y, p, from_logits=from_logits),
        labels,
        x,
    )
    values = backend.to_numpy(fn(backend.asarray(labels), backend.asarray(x)))
    assert np.isnan(values[[1, 4]]).all()
    keep = np.setdiff1d(np.arange(d.N), [1, 4])
    expected = ref.sparse_categorical(d.LABELS[keep], x[keep], from_logits=from_logits)
    np.testing.assert_allclose(values[keep], expected, rtol=1e-5)


def test_arrays_off_the_host_are_not_read(backend):
    """The eager checks read host memory only: an out-of-range label raises for host arrays;
    on an accelerator (``XLOSS_TEST_DEVICE``) nothing is read back, the label's sample is nan
    as under tracing, and PyTorch's CUDA calls never wait for the device."""
    labels = d.LABELS.copy()
    labels[[1, 4]] = [d.C, -3]
    y, x = backend.asarray(labels), backend.asarray(d.LOGITS)
    if backend.on_host:
        with pytest.raises(ValueError, match=r"holds the label -3, outside \[0, 5\)"):
            xloss.sparse_categorical_crossentropy(y, x, from_logits=True)
        return
    waits = contextlib.nullcontext()
    if backend.name == "torch" and x.device.type == "cuda":
        waits = _cuda_syncs_raise(backend.module)
    with waits:
        loss = xloss.sparse_categorical_crossentropy(y, x, from_logits=True)
        mistake = xloss.sparse_categorical_crossentropy(y, x)  # logits as probabilities
    values = backend.to_numpy(loss)
    assert np.isnan(values[[1, 4]]).all()
    keep = np.setdiff1d(np.arange(d.N), [1, 4])
    expected = ref.sparse_categorical(d.LABELS[keep], d.LOGITS[keep], from_logits=True)
    np.testing.assert_allclose(values[keep], expected, rtol=1e-5)
    assert backend.to_numpy(mistake).shape == (d.N,)


@contextlib.contextmanager
def _cuda_syncs_raise(torch):
    torch.cuda.synchronize()
    try:
        with warnings.catch_warnings():  # "a prototype feature": a UserWarning at each setting
            warnings.simplefilter("ignore", UserWarning)
            torch.cuda.set_sync_debug_mode("error")
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            torch.cuda.set_sync_debug_mode(0)


# --- the from_logits mistake ------------------------------------------------------------------

MISTAKES = {
    "softmax-output-as-logits-categorical": (
        lambda b: xloss.categorical_crossentropy(
            b.asarray(d.ONE_HOT), b.asarray(SOFTMAX_OUTPUT), from_logits=True
        ),
        r"looks like probabilities .* but from_logits=True",
    ),
    "softmax-output-as-logits-sparse-class": (
        lambda b: xloss.SparseCategoricalCrossentropy(from_logits=True)(
            b.asarray(d.LABELS), b.asarray(SOFTMAX_OUTPUT)
        ),
        r"looks like probabilities .* but from_logits=True",
    ),
    "logits-as-probabilities-categorical": (
        lambda b: xloss.categorical_crossentropy(b.asarray(d.ONE_HOT), b.asarray(d.LOGITS)),
        r"values outside \[0, 1\] \(from -?\d.* to \d.*\), so it looks like logits",
    ),
    "logits-as-probabilities-sparse": (
        lambda b: xloss.sparse_categorical_crossentropy(b.asarray(d.LABELS), b.asarray(d.LOGITS)),
        r"looks like logits, but from_logits=False",
    ),
    "logits-as-probabilities-binary-class": (
        lambda b: xloss.BinaryCrossentropy()(
            b.asarray(d.BINARY_TARGETS), b.asarray(d.BINARY_LOGITS)
        ),
        r"looks like logits, but from_logits=False",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES)
@pytest.mark.host_values
def test_mistake_warns_with_the_fix(backend, mistake):
    call, message = MISTAKES[mistake]
    with pytest.warns(xloss.FromLogitsWarning, match=message) as record:
        call(backend)
    text = str(record[0].message)
    assert "Logits are the raw" in text or "must hold probabilities" in text
    assert "Fix:" in text and "xloss.value_checks(False)" in text
    assert record[0].filename == __file__  # points at the caller, not into xloss


@pytest.mark.host_values
def test_mistakes_warn_in_every_float_dtype(backend):
    """The sample rows are read in each dtype's own way (NumPy views, slices widened from half
    precision by NumPy or by the framework, JAX's compiled slice)."""
    from xloss import _checks

    for dtype in FLOAT_DTYPES[backend.name]:
        with backend.x64() if dtype == "float64" else contextlib.nullcontext():
            _checks._warned.clear()
            probabilities = backend.asarray(SOFTMAX_OUTPUT, dtype)
            with pytest.warns(xloss.FromLogitsWarning, match="looks like probabilities"):
                xloss.categorical_crossentropy(
                    backend.asarray(d.ONE_HOT), probabilities, from_logits=True
                )
            with pytest.warns(xloss.FromLogitsWarning, match="looks like logits"):
                xloss.sparse_categorical_crossentropy(
                    backend.asarray(d.LABELS), backend.asarray(d.LOGITS, dtype)
                )


def test_right_usage_does_not_warn(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xloss.categorical_crossentropy(backend.asarray(d.ONE_HOT), backend.asarray(SOFTMAX_OUTPUT))
        xloss.categorical_crossentropy(
            backend.asarray(d.ONE_HOT), backend.asarray(d.LOGITS), from_logits=True
        )
        xloss.binary_crossentropy(
            backend.asarray(d.BINARY_TARGETS), backend.asarray(d.BINARY_PROBS), from_logits=False
        )


@pytest.mark.host_values
def test_warns_once_per_call_site(backend):
    """Once per line under Python's default action, whatever the values (the evidence quoted
    changes with every batch of a loop, which Python's own registry would count anew)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")
        for scale in (1.0, 2.0, 3.0):
            xloss.categorical_crossentropy(
                backend.asarray(d.ONE_HOT), backend.asarray(d.LOGITS * scale)
            )
        xloss.categorical_crossentropy(backend.asarray(d.ONE_HOT), backend.asarray(d.LOGITS))
    assert [w.category for w in record] == [xloss.FromLogitsWarning] * 2  # two call sites


@pytest.mark.host_values
def test_warnings_filters_decide_what_a_site_uses_up(backend):
    """A call under an ``"ignore"`` filter does not use up its line's one warning (a silenced
    call silenced that line for good); ``"always"`` shows every one; ``"error"`` raises at
    every call (the retry of a failed call passed silently)."""
    y, x = backend.asarray(d.ONE_HOT), backend.asarray(d.LOGITS)

    def mistaken():
        return xloss.categorical_crossentropy(y, x)  # one line: one site

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mistaken()
    with warnings.catch_warnings():
        warnings.simplefilter("error", xloss.FromLogitsWarning)
        for _ in range(2):
            with pytest.raises(xloss.FromLogitsWarning):
                mistaken()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        mistaken()
        mistaken()
    assert [w.category for w in record] == [xloss.FromLogitsWarning] * 2
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")
        mistaken()
        mistaken()
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("default")
        mistaken()
    assert len(record) == 1 and not later  # shown once: the line's warning is used up
    with warnings.catch_warnings(record=True) as record:  # pytest.warns after it: shown
        warnings.simplefilter("always")
        mistaken()
    assert [w.category for w in record] == [xloss.FromLogitsWarning]
    with warnings.catch_warnings(), pytest.raises(xloss.FromLogitsWarning):
        warnings.simplefilter("error", xloss.FromLogitsWarning)
        mistaken()


def test_warning_can_be_silenced(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=xloss.FromLogitsWarning)
        xloss.categorical_crossentropy(backend.asarray(d.ONE_HOT), backend.asarray(d.LOGITS))
    with warnings.catch_warnings(), xloss.value_checks(False):
        warnings.simplefilter("error")
        xloss.categorical_crossentropy(backend.asarray(d.ONE_HOT), backend.asarray(d.LOGITS))


@pytest.mark.backends("jax", "tensorflow", "torch")
def test_no_value_checks_under_tracing(backend):
    fn = backend.compile(lambda y, x: xloss.categorical_crossentropy(y, x), d.ONE_HOT, d.LOGITS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", xloss.FromLogitsWarning)
        fn(backend.asarray(d.ONE_HOT), backend.asarray(d.LOGITS))


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("values", ["readable", "unreadable", "traced"])
def test_keras_softmax_marker_is_recognised(backend, values, monkeypatch):
    """Keras's TF backend tags softmax output with ``_keras_logits`` (eagerly and inside
    ``tf.function``); it is warned about even when the values alone would not tell (here:
    one class, so no row-sum evidence), where they cannot be read (a GPU's tensors: the marker
    is an attribute, not a value), and while tracing (once, at trace time)."""
    keras = need("keras")
    if values == "unreadable":
        adapter = importlib.import_module("xloss.adapters.tensorflow")
        monkeypatch.setattr(adapter, "readable", lambda x: None)

    def loss(logits):
        probs = keras.activations.softmax(logits)
        assert getattr(probs, "_keras_logits", None) is not None
        return xloss.categorical_crossentropy(backend.asarray(d.ONE_HOT), probs, from_logits=True)

    call = backend.module.function(loss) if values == "traced" else loss
    with pytest.warns(xloss.FromLogitsWarning, match="Keras softmax/sigmoid activation"):
        call(backend.asarray(d.LOGITS))


@pytest.mark.parametrize(
    ("shape", "axis"),
    [
        ((40, 5), 1),
        ((5, 40), 0),
        ((3, 40, 5), 2),
        ((2, 5, 6, 30), 1),
        ((2, 0, 5), 2),
        ((16, 5000), 1),
        ((4, 40000), 1),
    ],
    ids=["rows", "columns", "sequences", "images", "empty-sequences", "wide", "wider"],
)
def test_heuristics_read_a_few_rows_of_any_shape(shape, axis):
    """At most SAMPLE_ROWS slices along the class axis, whatever the rank (8 sequences of a
    (B, T, C) batch would be a second read of it), and no more rows than hold SAMPLE_VALUES
    values, one at least (wide vocabularies)."""
    from xloss._checks import SAMPLE_ROWS, SAMPLE_VALUES, _sample_index

    x = np.zeros(shape, np.float32)
    rows = x[_sample_index(x, axis)]
    longest = max(n for dim, n in enumerate(shape) if dim != axis)
    count = min(SAMPLE_ROWS, longest, max(1, SAMPLE_VALUES // shape[axis]))
    expected = 0 if 0 in shape else count * shape[axis]
    assert rows.shape[axis] == shape[axis] and rows.size == expected


@pytest.mark.host_values
def test_mistakes_in_sequences_and_images_warn(backend):
    """(B, T, C) from logits, (N, C, H, W) along axis 1: the heuristics' rows are slices along
    the class axis."""
    sequences = np.stack([SOFTMAX_OUTPUT, SOFTMAX_OUTPUT[::-1]])  # (2, N, C)
    labels = np.stack([d.LABELS, d.LABELS])
    with pytest.warns(xloss.FromLogitsWarning, match="looks like probabilities"):
        xloss.sparse_categorical_crossentropy(
            backend.asarray(labels), backend.asarray(sequences), from_logits=True
        )
    images = np.moveaxis(d.LOGITS.reshape(2, 4, -1), -1, 1)[..., None]  # (2, C, 4, 1)
    with pytest.warns(xloss.FromLogitsWarning, match="looks like logits"):
        xloss.sparse_categorical_crossentropy(
            backend.asarray(d.LABELS.reshape(2, 4, 1)), backend.asarray(images), axis=1
        )


def test_empty_batches_give_empty_losses(backend):
    """An empty batch has nothing to check: the losses per sample come back empty, as Keras's
    functions return them, and the loss classes reduce them to 0 (docs/numerics.md)."""
    keras = need("keras")
    empty, labels = np.zeros((0, 5), np.float32), np.zeros(0, np.int64)
    native = keras.losses.categorical_crossentropy(empty, empty)
    calls = {
        "categorical": lambda: xloss.categorical_crossentropy(
            backend.asarray(empty), backend.asarray(empty)
        ),
        "sparse": lambda: xloss.sparse_categorical_crossentropy(
            backend.asarray(labels), backend.asarray(empty), from_logits=True
        ),
        "binary": lambda: xloss.binary_crossentropy(backend.asarray(empty), backend.asarray(empty)),
    }
    for kind, call in calls.items():
        loss = call()
        assert isinstance(loss, backend.array_types), kind
        assert tuple(loss.shape) == tuple(native.shape), kind
    sequences = xloss.sparse_categorical_crossentropy(
        backend.asarray(np.zeros((2, 0), np.int64)),
        backend.asarray(np.zeros((2, 0, 5), np.float32)),
        from_logits=True,
    )
    assert tuple(sequences.shape) == (2, 0)
    reduced = xloss.CategoricalCrossentropy()(backend.asarray(empty), backend.asarray(empty))
    assert float(backend.to_numpy(reduced)) == 0.0


class _OnlyDLPack:
    """An array of a library NumPy does not know: DLPack (the standard's way in), no
    ``__array__`` and no buffer."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_values_are_read_through_dlpack_where_numpy_does_not_know_the_array():
    """``np.asarray`` of such an array is a 0-d object array, not an error: the checks read
    it through DLPack instead (they compared an object array and raised)."""
    from xloss import _checks

    labels = np.array([0, 3, 1])
    host = _checks._host(_OnlyDLPack(labels))
    assert host.dtype == labels.dtype and (host == labels).all()
    with pytest.raises(ValueError, match="holds the label 3"):
        _checks.check_label_range(np, _OnlyDLPack(labels), 3, 1, None)
