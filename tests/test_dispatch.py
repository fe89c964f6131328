"""Dispatch: the caller's array type back, one framework per call, no framework imported."""

from __future__ import annotations

import subprocess
import sys
import warnings

import data as d
import numpy as np
import pytest
import reference as ref
from backends import need
from checks import assert_result, tolerance

import xloss
from xloss._dispatch import backend_of
from xloss._validation import same_dtype

PUBLIC_CALLS = {
    "softmax": lambda b: xloss.softmax(b.asarray(d.LOGITS)),
    "log_softmax": lambda b: xloss.log_softmax(b.asarray(d.LOGITS)),
    "logsumexp": lambda b: xloss.logsumexp(b.asarray(d.LOGITS)),
    "log_sigmoid": lambda b: xloss.log_sigmoid(b.asarray(d.LOGITS)),
    "categorical_crossentropy": lambda b: xloss.categorical_crossentropy(
        b.asarray(d.ONE_HOT), b.asarray(d.PROBS)
    ),
    "sparse_categorical_crossentropy": lambda b: xloss.sparse_categorical_crossentropy(
        b.asarray(d.LABELS), b.asarray(d.LOGITS), from_logits=True
    ),
    "binary_crossentropy": lambda b: xloss.binary_crossentropy(
        b.asarray(d.BINARY_TARGETS), b.asarray(d.BINARY_PROBS)
    ),
    "CategoricalCrossentropy": lambda b: xloss.CategoricalCrossentropy()(
        b.asarray(d.ONE_HOT), b.asarray(d.PROBS)
    ),
    "SparseCategoricalCrossentropy": lambda b: xloss.SparseCategoricalCrossentropy()(
        b.asarray(d.LABELS), b.asarray(d.PROBS)
    ),
    "BinaryCrossentropy": lambda b: xloss.BinaryCrossentropy()(
        b.asarray(d.BINARY_TARGETS), b.asarray(d.BINARY_PROBS)
    ),
}


@pytest.mark.parametrize("call", PUBLIC_CALLS)
def test_result_is_the_callers_array_type(backend, call):
    out = PUBLIC_CALLS[call](backend)
    assert isinstance(out, backend.array_types), type(out)
    assert out.dtype == backend.dtype_of("float32")


def test_backend_detected_for_the_callers_arrays(backend):
    found = backend_of(backend.asarray(d.LOGITS))
    assert found is not None
    expected = "array_api_strict" if backend.name == "array_api_strict" else backend.name
    assert found.name == expected


def test_python_lists_become_the_logits_namespace(backend):
    logits = backend.asarray(d.LOGITS)
    out = xloss.sparse_categorical_crossentropy(d.LABELS.tolist(), logits, from_logits=True)
    assert_result(
        backend, out, xloss.sparse_categorical_crossentropy(d.LABELS, d.LOGITS, from_logits=True)
    )
    weighted = xloss.SparseCategoricalCrossentropy(from_logits=True)(
        d.LABELS.tolist(), logits, sample_weight=d.SAMPLE_WEIGHT.tolist()
    )
    assert isinstance(weighted, backend.array_types)


def test_python_list_predictions_take_the_default_float_dtype(backend):
    """Integer logits typed as a Python list are numbers, not an integer-dtype mistake."""
    out = xloss.categorical_crossentropy(
        backend.asarray(np.eye(3)[[0, 2]]), [[3, 1, 0], [0, 1, 3]], from_logits=True
    )
    expected = ref.categorical(np.eye(3)[[0, 2]], [[3, 1, 0], [0, 1, 3]], from_logits=True)
    assert isinstance(out, backend.array_types)
    np.testing.assert_allclose(backend.to_numpy(out), expected, rtol=tolerance("float32"))


def test_mixing_two_frameworks_names_both(backend):
    if backend.name == "numpy":
        torch = need("torch")

        other, other_name = torch.asarray(d.LABELS), "torch"
    else:
        other, other_name = d.LABELS, "numpy"
    with pytest.raises(TypeError) as info:
        xloss.sparse_categorical_crossentropy(other, backend.asarray(d.LOGITS), from_logits=True)
    message = str(info.value)
    assert "`y_pred`" in message and "`y_true`" in message
    assert other_name in message and "two frameworks" in message


def test_non_array_argument_is_rejected():
    with pytest.raises(TypeError, match=r"`x` must be an array .* received builtins\.str"):
        xloss.softmax("logits")


def _python(code: str, cwd: str | None = None) -> str:
    """What ``python -c code`` prints, in a fresh interpreter."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


FRAMEWORKS_LOADED = (
    "print([m for m in ('torch', 'jax', 'tensorflow', 'keras') if m in sys.modules])"
)


def test_importing_xloss_imports_no_framework():
    assert _python("import xloss, sys; " + FRAMEWORKS_LOADED) == "[]"


def test_numpy_call_imports_no_other_framework():
    call = "xloss.sparse_categorical_crossentropy([0, 1], np.ones((2, 3)), from_logits=True); "
    assert _python("import sys, numpy as np, xloss; " + call + FRAMEWORKS_LOADED) == "[]"


def test_adapters_are_not_a_top_level_package():
    code = "import importlib.util, xloss.adapters; print(importlib.util.find_spec('adapters'))"
    assert _python(code, cwd="/") == "None"


def test_adapters_get_the_optional_attributes_they_leave_out(backend):
    """The core reads optional adapter attributes directly: each adapter has every one, its
    own where it defines it (the generic adapter has no kernels; the others keep theirs)."""
    import xloss.adapters

    adapter = backend_of(backend.asarray(d.LOGITS)).adapter
    for attribute in xloss.adapters.OPTIONAL:
        assert hasattr(adapter, attribute), attribute
    assert (adapter.kernel is None) == (backend.name == "array_api_strict")
    assert adapter.check_rng is not None and adapter.random_uniform is not None


@pytest.mark.backends("jax", "tensorflow")
def test_traced_arrays_are_recognised(backend):
    """JAX tracers under jit and TF symbolic tensors inside tf.function dispatch like arrays."""
    loss = xloss.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    labels, logits = backend.asarray(d.IGNORED), backend.asarray(d.LOGITS)
    compiled = backend.compile(loss, d.IGNORED, d.LOGITS)
    assert_result(backend, compiled(labels, logits), backend.to_numpy(loss(labels, logits)))


DTYPE_NAMES = ("bool", "int8", "int32", "int64", "uint8", "float16", "float32", "float64")


def test_same_dtype_agrees_with_equality(backend):
    """`same_dtype` decides by identity for interned dtype classes (TensorFlow's); it must
    agree with ``==`` on the namespace's dtypes and on arrays' dtypes, eager and traced."""
    xp = backend_of(backend.asarray(d.LOGITS)).xp or backend.asarray(d.LOGITS).__array_namespace__()
    names = [n for n in (*DTYPE_NAMES, "bfloat16") if hasattr(xp, n)]
    with backend.x64():
        arrays = {n: xp.asarray(d.LABELS[:2] > 0, dtype=getattr(xp, n)) for n in names}
    for a in names:
        for b in names:
            expected = a == b
            assert same_dtype(getattr(xp, a), getattr(xp, b)) is expected, (a, b)
            assert same_dtype(arrays[a].dtype, getattr(xp, b)) is expected, (a, b)
            assert same_dtype(arrays[a].dtype, arrays[b].dtype) is expected, (a, b)
    if backend.name == "tensorflow":  # symbolic tensors' dtypes, inside tf.function
        tf = backend.module

        @tf.function
        def check(x):
            return same_dtype(x.dtype, xp.float32), same_dtype(x.dtype, xp.float64)

        assert check(arrays["float32"]) == (True, False)
        assert check(arrays["float64"]) == (False, True)


TIED = np.floor(d.LOGITS)  # ties at every rank, for the top-k calls
NUMPY_CALLS = {
    "softmax": lambda f: xloss.softmax(f(d.LOGITS)),
    "logsumexp": lambda f: xloss.logsumexp(f(d.LOGITS)),
    "top_k": lambda f: xloss.top_k(f(TIED), 3),
    "top_k_filter": lambda f: xloss.top_k_filter(f(TIED), 2),
    "top_p_filter": lambda f: xloss.top_p_filter(f(d.LOGITS), 0.5),
    "min_p_filter": lambda f: xloss.min_p_filter(f(d.LOGITS), 0.2),
    "sample": lambda f: xloss.sample(f(d.LOGITS), 0, top_k=3),
    "categorical_crossentropy": lambda f: xloss.categorical_crossentropy(
        f(d.ONE_HOT), f(d.LOGITS), from_logits=True
    ),
    "sparse_categorical_crossentropy": lambda f: xloss.sparse_categorical_crossentropy(
        f(d.LABELS), f(d.LOGITS), from_logits=True
    ),
    "binary_crossentropy": lambda f: xloss.binary_crossentropy(
        f(d.BINARY_TARGETS), f(d.BINARY_LOGITS), from_logits=True
    ),
    "sparse_top_k_categorical_accuracy": lambda f: xloss.sparse_top_k_categorical_accuracy(
        f(d.LABELS), f(TIED), k=2
    ),
}


def _memmap(directory):
    count = iter(range(1000))

    def to_memmap(a):
        m = np.memmap(directory / f"{next(count)}.bin", a.dtype, "w+", shape=a.shape)
        m[...] = a
        return m

    return to_memmap


NUMPY_FORMS = {
    "matrix": lambda tmp_path: lambda a: np.asmatrix(a) if a.ndim == 2 else a,
    "memmap": _memmap,
    "big-endian": lambda tmp_path: lambda a: a.astype(a.dtype.newbyteorder(">")),
}


@pytest.mark.backends("numpy")
@pytest.mark.parametrize("call", NUMPY_CALLS)
@pytest.mark.parametrize("form", NUMPY_FORMS)
def test_numpy_arrays_of_other_forms_compute_as_their_data(backend, form, call, tmp_path):
    """ndarray subclasses (``np.matrix``, ``np.memmap``) and big-endian arrays give what their
    data as a plain, native-order ndarray gives, as plain native-order ndarrays."""
    expected = NUMPY_CALLS[call](np.asarray)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix is deprecated
        got = NUMPY_CALLS[call](NUMPY_FORMS[form](tmp_path))
    expected, got = (r if isinstance(r, tuple) else (r,) for r in (expected, got))
    for a, b in zip(got, expected, strict=True):
        assert type(a) is np.ndarray and a.dtype.isnative and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.backends("numpy")
@pytest.mark.parametrize("call", ["softmax", "top_k_filter", "sparse_categorical_crossentropy"])
def test_numpy_masked_arrays_are_refused(backend, call):
    """A MaskedArray's mask would be ignored by some operations and not by others."""

    def masked(a):
        return np.ma.masked_array(a, mask=np.zeros(a.shape, bool))

    with pytest.raises(
        TypeError, match=r"^`\w+` is a numpy\.ma\.MaskedArray.*x\.filled\(-np\.inf\)"
    ):
        NUMPY_CALLS[call](masked)


@pytest.mark.backends("numpy", "torch")
def test_array_types_made_on_the_fly_are_not_kept_alive(backend):
    """`backend_of` caches the backend per array type; a program making a subclass per call
    (20,000 of them: +95 MiB) kept every one alive. At most `BY_TYPE_LIMIT` are cached, the
    rest are looked up and released; the answers are the same."""
    import gc
    import weakref

    from xloss import _dispatch

    base = np.ndarray if backend.name == "numpy" else need("torch").Tensor
    x = backend.asarray(d.LOGITS)
    expected = backend.to_numpy(xloss.softmax(x))
    made, cached = [], dict(_dispatch._by_type)
    try:
        for i in range(_dispatch.BY_TYPE_LIMIT + 50):
            cls = type(f"Made{i}", (base,), {})
            value = x.view(cls) if backend.name == "numpy" else x.as_subclass(cls)
            got = backend.to_numpy(xloss.softmax(value))
            np.testing.assert_allclose(got, expected, rtol=tolerance("float32"))
            made.append(weakref.ref(cls))
            del cls, value
        gc.collect()
        assert len(_dispatch._by_type) <= _dispatch.BY_TYPE_LIMIT
        assert sum(ref() is not None for ref in made) <= _dispatch.BY_TYPE_LIMIT
    finally:  # the other tests' types cached again, these dropped
        _dispatch._by_type.clear()
        _dispatch._by_type.update(cached)
