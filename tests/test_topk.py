"""top_k: one semantics on every backend, on both the native fast path and the generic body."""

from __future__ import annotations

import contextlib
import importlib
import itertools
import subprocess
import sys

import numpy as np
import pytest
import reference as ref
from backends import DEVICE, FLOAT_DTYPES, need
from checks import finfo

import xloss
from xloss._dispatch import backend_of
from xloss._topk import top_k_xp

RNG = np.random.default_rng(7)
DISTINCT = RNG.permutation(4 * 6 * 9).reshape(4, 6, 9).astype(np.float32) / 7 - 15
TIES = np.array(
    [
        [1.0, np.nan, 3.0, 3.0, np.nan, -np.inf, np.inf, 3.0, -0.0, 0.0],
        [2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        [0.0, -0.0, 0.0, -0.0, 5.0, 5.0, np.inf, np.inf, -np.inf, -np.inf],
    ],
    np.float32,
)
INTEGERS = RNG.integers(-3, 4, size=(5, 12))


def _both_paths(backend, x, k, axis, largest):
    """(fast path result, generic body result), as NumPy arrays."""
    array = backend.asarray(x) if isinstance(x, np.ndarray) else x
    fast = xloss.top_k(array, k, axis=axis, largest=largest)
    found = backend_of(array)
    generic = top_k_xp(found.adapter.namespace(array), array, k, axis % array.ndim, largest)
    return [tuple(backend.to_numpy(a) for a in r) for r in (fast, generic)]


def _assert_topk(backend, x, k, axis=-1, largest=True):
    expected_values, expected_indices = ref.top_k(x, k, axis, largest)
    for values, indices in _both_paths(backend, x, k, axis, largest):
        np.testing.assert_array_equal(indices, expected_indices)
        np.testing.assert_array_equal(values, expected_values)  # NaN == NaN here


@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("k", [1, 3])
def test_distinct_values_any_axis(backend, k, axis, largest, monkeypatch):
    for _ in _eager_paths(backend, monkeypatch):
        _assert_topk(backend, DISTINCT, k, axis, largest)


def _large_k(monkeypatch):
    """Force torch's path for large k (K + EXTRA candidates; unsorted and re-sorted under
    torch.compile), with few extra candidates (2 for float32, 8 for 16-bit floats) so that test
    rows hold both ties at the K-th place with the last candidate and candidates that are every
    entry."""
    module = importlib.import_module("xloss.adapters.torch")
    monkeypatch.setattr(module, "SORTED_CANDIDATES", 0)
    monkeypatch.setattr(module, "EXTRA", 2)


def _force_argmax(backend, monkeypatch):
    """TensorFlow's k = 1 as ``tf.math.argmax`` for any input size (from 8M entries otherwise)."""
    if backend.name == "tensorflow":
        module = importlib.import_module("xloss.adapters.tensorflow")
        monkeypatch.setattr(module, "FIRST_BEST_FROM", 0)


def _and_generic(paths):
    """``paths``, then the generic body (``xloss.fast_paths(False)``)."""
    yield from paths
    with xloss.fast_paths(False):
        yield "generic body"


def _eager_paths(backend, monkeypatch):
    """The eager paths to run: the default for test-sized inputs (checks read through NumPy),
    then the checks large inputs take (TensorFlow's NaN check as a TF reduction, torch's tie
    checks as torch ops, torch's k = 1 through ``torch.topk`` as on other devices, NumPy's k = 1
    through its candidates) and torch's large-k paths (forced): its candidates ordered by a
    NumPy sort of keys (on the CPU), and in ``torch.topk``'s order (on other devices)."""
    yield "default"
    if backend.name == "numpy":
        module = importlib.import_module("xloss.adapters.numpy")
        monkeypatch.setattr(module, "first_best", lambda *args: None)
        yield "np.argpartition at k = 1"
    if backend.name == "tensorflow":
        module = importlib.import_module("xloss.adapters.tensorflow")
        monkeypatch.setattr(module, "HOST_NAN_CHECK", 0)
        yield "tf.reduce_sum"
        _force_argmax(backend, monkeypatch)
        yield "tf.math.argmax at k = 1"
    if backend.name == "torch":
        module = importlib.import_module("xloss.adapters.torch")
        monkeypatch.setattr(module, "_first_best_exact", lambda torch, x: False)
        yield "torch.topk at k = 1"
        monkeypatch.setattr(module, "HOST_CHECK", 0)
        yield "torch ops (16-bit: a NumPy sort of keys)"
        _large_k(monkeypatch)
        yield "large k (a NumPy sort of keys)"
        monkeypatch.setattr(module, "_by_sorted_keys", lambda *args: False)
        yield "large k, in torch.topk's order (other devices)"
        monkeypatch.setattr(module, "SORTED_CANDIDATES", 128)
        yield "torch ops, in torch.topk's order (other devices)"


def _sorted_keys(monkeypatch):
    """Force torch's sort of unique keys on the host (`_sorted_keys_top_k`) for every k and
    size, with 2 extra candidates (so that test rows tie at the K-th place with the last
    candidate); returns the list its calls go to."""
    module = importlib.import_module("xloss.adapters.torch")
    monkeypatch.setattr(module, "HOST_CHECK", 0)
    monkeypatch.setattr(module, "SORTED_CANDIDATES", 0)
    monkeypatch.setattr(module, "EXTRA", 2)
    calls = []
    sorted_keys = module._sorted_keys_top_k
    monkeypatch.setattr(module, "_sorted_keys_top_k", lambda *a: calls.append(1) or sorted_keys(*a))
    return calls


@pytest.mark.backends("torch")
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
def test_sorted_keys(backend, dtype, largest, monkeypatch):
    """PyTorch's candidates ordered by a NumPy sort of unique keys: rows full of ties, NaN of
    either sign, +-inf, +-0 and subnormals, along either axis of 2-D and the middle axis of
    3-D input, K from 1 to the whole row, rows redone exactly where the K-th place ties with
    the last candidate; the values' gradient is 1 at the chosen entries (they are gathered
    from the input)."""
    torch = backend.module
    calls = _sorted_keys(monkeypatch)
    x = RNG.integers(-6, 7, (13, 40)).astype(np.float32) / 2
    x[0, ::3], x[1, 1::4], x[2, ::5] = np.nan, np.inf, -np.inf
    x[3, ::2], x[4, 1::2] = -0.0, 0.0
    x[5] = -np.nan  # a NaN with its sign bit set
    x[6, :7] = float(np.finfo(np.float16).smallest_subnormal) * np.arange(-3, 4)
    layouts = ((x, -1), (x.T.copy(), 0), (x[:12].reshape(3, 4, 40).transpose(0, 2, 1), 1))
    for array, axis in layouts:
        half = backend.asarray(np.ascontiguousarray(array), dtype)
        held = backend.to_numpy(half).astype(np.float64)
        for k in (1, 2, 17, 40):
            values, indices = xloss.top_k(half, k, axis=axis, largest=largest)
            expected_values, expected_indices = ref.top_k(held, k, axis, largest)
            np.testing.assert_array_equal(backend.to_numpy(indices), expected_indices)
            np.testing.assert_array_equal(
                backend.to_numpy(values).astype(np.float64), expected_values
            )
    # k = 1 takes torch.max / torch.min where they decide; the NumPy sort is the CPU's
    assert len(calls) >= 9 if backend.on_host else not calls
    # wide rows: indices past 8 and 16 bits (16-bit values' keys are int32 up to 65,536
    # entries), over many octaves so that few rows need redoing
    span = 10.0 if dtype == "float16" else 40.0
    for classes in (3000, 70000):
        wide = np.exp(RNG.uniform(-span, span, (3, classes))) * RNG.choice([-1, 1], (3, classes))
        half = backend.asarray(wide, dtype)
        held = backend.to_numpy(half).astype(np.float64)
        for k in (5, 1000):
            _, indices = xloss.top_k(half, k, largest=largest)
            np.testing.assert_array_equal(
                backend.to_numpy(indices), ref.top_k(held, k, -1, largest)[1]
            )
    leaf = torch.tensor(x[6:], dtype=getattr(torch, dtype), requires_grad=True, device=DEVICE)
    xloss.top_k(leaf, 9, largest=largest).values.float().sum().backward()
    _, chosen = ref.top_k(backend.to_numpy(leaf.detach()).astype(np.float64), 9, -1, largest)
    expected = np.zeros(leaf.shape)
    np.put_along_axis(expected, chosen, 1.0, axis=-1)
    np.testing.assert_array_equal(backend.to_numpy(leaf.grad), expected)


@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("k", [1, 4, 10])
@pytest.mark.parametrize("nan", [True, False], ids=["with-nan", "without-nan"])
def test_ties_nan_infinities_and_signed_zeros(backend, k, largest, nan, monkeypatch):
    """Lower index first on ties, NaN above +inf, -0.0 ties with 0.0, on every backend; with a
    NaN anywhere (the native ops misplace it) and without (ties and zeros among the K best)."""
    x = TIES if nan else TIES[1:]
    for _ in _eager_paths(backend, monkeypatch):
        _assert_topk(backend, x, k, -1, largest)
        _assert_topk(backend, x.T.copy(), k, 0, largest)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "int64"])
def test_integer_dtypes(backend, dtype, monkeypatch):
    """Ties and the dtype's extremes (PyTorch packs 8- and 16-bit values with their index into
    int32 keys, wider ones into int64)."""
    info = np.iinfo(dtype)
    x = (INTEGERS + 3 if dtype == "uint8" else INTEGERS).astype(dtype)
    x[0, :3], x[1, 4:7] = info.min, info.max
    with backend.x64() if dtype == "int64" else contextlib.nullcontext():  # JAX needs x64
        for _ in _eager_paths(backend, monkeypatch):
            _assert_topk(backend, x, 4, -1, True)
            _assert_topk(backend, x, 4, 0, False)


def test_every_float_dtype(backend, monkeypatch):
    for path in _eager_paths(backend, monkeypatch):
        for dtype in FLOAT_DTYPES[backend.name]:
            with backend.x64() if dtype == "float64" else contextlib.nullcontext():
                array = backend.asarray(TIES, dtype)
                held = backend.to_numpy(array).astype(np.float64)
                for k, largest in itertools.product((1, 5), (True, False)):
                    expected_values, expected_indices = ref.top_k(held, k, -1, largest)
                    for values, indices in _both_paths(backend, array, k, -1, largest):
                        message = f"{dtype}, k={k}, largest={largest}, {path}"
                        np.testing.assert_array_equal(indices, expected_indices, err_msg=message)
                        np.testing.assert_array_equal(values.astype(np.float64), expected_values)


RUNS = np.array([[0.5] * 12, [-1.0, 2.0] * 6, np.arange(12.0) / 4, [-0.0, 0.0, 1.0] * 4])


@pytest.mark.parametrize("k", [1, 3, 7])
def test_long_runs_of_ties(backend, k, monkeypatch):
    """Rows whose ties run past every candidate the fast paths take (they need the exact path)
    next to rows that do not, in every float dtype (16-bit floats take more candidates)."""
    for path in _eager_paths(backend, monkeypatch):
        for dtype in FLOAT_DTYPES[backend.name]:
            with backend.x64() if dtype == "float64" else contextlib.nullcontext():
                for largest in (True, False):
                    expected_values, expected_indices = ref.top_k(RUNS, k, -1, largest)
                    array = backend.asarray(RUNS, dtype)
                    for values, indices in _both_paths(backend, array, k, -1, largest):
                        message = f"{dtype}, largest={largest}, {path}"
                        np.testing.assert_array_equal(indices, expected_indices, err_msg=message)
                        np.testing.assert_array_equal(values.astype(np.float64), expected_values)


def _extremes(dtype, largest):
    """Rows whose best entry is the dtype's finite extreme or an infinity, not at index 0: a
    reduction that starts from the extreme at index 0 (TensorFlow's argmax, behind its k = 1)
    would report index 0 there. One sign of infinity only: +inf and -inf together sum to NaN,
    which sends TensorFlow's traced top_k to its NaN-safe path instead."""
    big, inf = float(finfo(dtype).max), np.inf
    rows = np.array(
        [
            [-inf, -inf, -big, -big, -inf],
            [-inf, -inf, -inf, -inf, -inf],
            [-big, 1.0, -big, 2.0, 0.0],
        ]
    )
    return rows if largest else -rows


@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
def test_k1_rows_at_the_dtype_extremes(backend, largest, monkeypatch):
    for path in _eager_paths(backend, monkeypatch):
        for dtype in FLOAT_DTYPES[backend.name]:
            with backend.x64() if dtype == "float64" else contextlib.nullcontext():
                x = _extremes(dtype, largest)
                expected_values, expected_indices = ref.top_k(x, 1, -1, largest)
                for values, indices in _both_paths(
                    backend, backend.asarray(x, dtype), 1, -1, largest
                ):
                    message = f"{dtype}, {path}"
                    np.testing.assert_array_equal(indices, expected_indices, err_msg=message)
                    np.testing.assert_array_equal(values.astype(np.float64), expected_values)


def test_k1_integer_extremes(backend):
    for dtype in ("int8", "int32"):
        low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
        x = np.array([[low, low, low], [low, 5, 5], [high, high, 0], [high, high, high]], dtype)
        for largest in (True, False):
            _assert_topk(backend, x, 1, -1, largest)


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
def test_wide_unsigned_dtypes(backend, dtype, monkeypatch):
    """uint16-64, which ``torch.topk`` does not take: the values in their own dtype, exactly,
    with ties, the dtype's maximum and the top bit alone (uint64's keys flip it); the generic
    body too (torch's gather has no uint16-64 kernel: the namespace gathers their bits)."""
    info = np.iinfo(dtype)
    x = (INTEGERS + 3).astype(dtype)
    x[0, :3], x[1, 4:7] = info.max, info.max - 1
    x[2, ::2], x[2, 1::2] = 1 << (info.bits - 1), (1 << (info.bits - 1)) - 1
    with backend.x64() if dtype == "uint64" else contextlib.nullcontext():  # JAX needs x64
        for path in _and_generic(_eager_paths(backend, monkeypatch)):
            for k, axis, largest in itertools.product((1, 4), (-1, 0), (True, False)):
                expected_values, expected_indices = ref.top_k(x, k, axis, largest)
                result = xloss.top_k(backend.asarray(x), k, axis=axis, largest=largest)
                values, indices = (backend.to_numpy(a) for a in result)
                message = f"k={k}, axis={axis}, largest={largest}, {path}"
                assert values.dtype == x.dtype, message
                np.testing.assert_array_equal(indices, expected_indices, err_msg=message)
                np.testing.assert_array_equal(values, expected_values, err_msg=message)


@pytest.mark.backends("numpy")
@pytest.mark.parametrize("dtype", [">f2", ">f4", ">f8", ">i2", ">i4", ">i8"])
def test_big_endian_numpy_arrays(backend, dtype, monkeypatch):
    """Arrays in non-native byte order (files written on another machine) rank by their values,
    and come back in native order."""
    x = np.concatenate([TIES, RUNS[:, :10]]) if dtype[1] == "f" else INTEGERS
    data = x.astype(dtype)
    for path in _eager_paths(backend, monkeypatch):
        for k, largest in itertools.product((1, 4, 9), (True, False)):
            expected_values, expected_indices = ref.top_k(x.astype(dtype[1:]), k, -1, largest)
            values, indices = xloss.top_k(data, k, largest=largest)
            message = f"k={k}, largest={largest}, {path}"
            assert values.dtype == np.dtype(dtype[1:]) and values.dtype.isnative, message
            np.testing.assert_array_equal(indices, expected_indices, err_msg=message)
            np.testing.assert_array_equal(values, expected_values, err_msg=message)


META_CALLS = {
    "top_k": lambda x: xloss.top_k(x, 2),
    "top_k-k1": lambda x: xloss.top_k(x, 1),
    "top_k-smallest-k1": lambda x: xloss.top_k(x, 1, largest=False),
    "top_k-axis0": lambda x: xloss.top_k(x, 2, axis=0),
    "top_k-uint16": lambda x: xloss.top_k(x.to(need("torch").uint16), 2),
    "top_k_filter": lambda x: xloss.top_k_filter(x, 2),
    "top_k_softmax": lambda x: xloss.top_k_softmax(x, 2),
    "greedy-sample": lambda x: xloss.sample(x, 0, temperature=0),
}


@pytest.mark.backends("torch")
@pytest.mark.parametrize("call", META_CALLS)
def test_meta_tensors(backend, call):
    """On 'meta' tensors (shapes and dtypes, no values: model tracing and memory planning)
    the result is a meta tensor shaped and typed as the same call on the CPU gives."""
    torch = backend.module
    x = torch.asarray(TIES[:, :9].copy())
    expected = META_CALLS[call](x)
    got = META_CALLS[call](x.to("meta"))
    expected, got = (r if isinstance(r, tuple) else (r,) for r in (expected, got))
    for a, b in zip(got, expected, strict=True):
        assert a.device.type == "meta"
        assert (a.shape, a.dtype) == (b.shape, b.dtype)


def test_k1_ties_in_long_rows(backend, monkeypatch):
    """Ties everywhere in rows long enough for multithreaded reductions: the first occurrence
    still wins (TensorFlow's k = 1 on large inputs is an argmax on the CPU: forced here)."""
    _force_argmax(backend, monkeypatch)
    x = RNG.integers(0, 4, (8, 1 << 16)).astype(np.float32)
    x[x == 0] = -0.0
    x[:, -5:] = 4.0  # the best value, first seen near the end
    x[3, 1000] = 4.0
    for largest in (True, False):
        expected_values, expected_indices = ref.top_k(x, 1, -1, largest)
        values, indices = xloss.top_k(backend.asarray(x), 1, largest=largest)
        np.testing.assert_array_equal(backend.to_numpy(indices), expected_indices)
        np.testing.assert_array_equal(backend.to_numpy(values), expected_values)


@pytest.mark.backends("jax", "tensorflow", "torch")
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
def test_compiled_k1(backend, largest, monkeypatch):
    """Under tf.function with static shapes, TensorFlow's k = 1 takes its argmax (forced here
    for small inputs)."""
    _force_argmax(backend, monkeypatch)
    for x in (_extremes("float32", largest).astype(np.float32), TIES):
        for _ in _compiled_paths(backend, monkeypatch):
            fn = backend.compile(lambda a: tuple(xloss.top_k(a, 1, largest=largest)))
            values, indices = fn(backend.asarray(x))
            expected_values, expected_indices = ref.top_k(x, 1, -1, largest)
            np.testing.assert_array_equal(backend.to_numpy(indices), expected_indices)
            np.testing.assert_array_equal(backend.to_numpy(values), expected_values)


@pytest.mark.backends("jax", "torch", "tensorflow")
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_values_gradient(backend, k, largest, monkeypatch):
    """d sum(values) / dx is 1 at the chosen entries and 0 elsewhere, with ties among the K
    best and at the K-th place (paths that re-sort or redo rows must keep autodiff working)."""
    from checks import grad_of

    for x in (RUNS.astype(np.float32), TIES):
        _, chosen = ref.top_k(x, k, -1, largest)
        expected = np.zeros_like(x)
        np.put_along_axis(expected, chosen, 1.0, axis=-1)
        for path in _eager_paths(backend, monkeypatch):
            got = grad_of(backend, lambda a: xloss.top_k(a, k, largest=largest).values, x)
            np.testing.assert_array_equal(got, expected, err_msg=path)


@pytest.mark.backends("jax", "tensorflow", "torch")
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("k", [1, 2])
def test_compiled_values_gradient(backend, k, largest, monkeypatch):
    """Compiled, the gradient flows too (under torch.compile through the ``torch.cond`` path:
    torch 2.13 cannot differentiate a ``cond`` with an integer output)."""
    from checks import compiled_grad_of

    x = RUNS.astype(np.float32)
    _, chosen = ref.top_k(x, k, -1, largest)
    expected = np.zeros_like(x)
    np.put_along_axis(expected, chosen, 1.0, axis=-1)
    _force_argmax(backend, monkeypatch)
    for path in _compiled_paths(backend, monkeypatch):
        got = compiled_grad_of(backend, lambda a: xloss.top_k(a, k, largest=largest).values, x)
        np.testing.assert_array_equal(got, expected, err_msg=path)


def test_result_types(backend):
    values, indices = xloss.top_k(backend.asarray(DISTINCT), 2)
    assert isinstance(values, backend.array_types) and isinstance(indices, backend.array_types)
    assert values.dtype == backend.dtype_of("float32")
    assert tuple(values.shape) == tuple(indices.shape) == (4, 6, 2)


def test_matches_the_native_ops_on_distinct_values(backend):
    x = DISTINCT.reshape(-1, 9)
    values, indices = (backend.to_numpy(a) for a in xloss.top_k(backend.asarray(x), 4))
    torch, jax, tf = need("torch"), need("jax"), need("tensorflow")
    natives = [
        torch.topk(torch.from_numpy(x), 4),
        jax.lax.top_k(x, 4),
        tf.math.top_k(x, 4),
    ]
    for native_values, native_indices in natives:
        np.testing.assert_array_equal(values, np.asarray(native_values))
        np.testing.assert_array_equal(indices, np.asarray(native_indices))


@pytest.mark.parametrize(
    ("k", "error", "message"),
    [
        (
            0,
            ValueError,
            r"`k`=0 is out of range: the axis has 9 entries, so `k` must be in \[1, 9\]",
        ),
        (10, ValueError, r"`k`=10 is out of range"),
        (2.0, TypeError, r"`k` must be an int; received 2.0"),
        (True, TypeError, r"`k` must be an int"),
    ],
    ids=["zero", "too-large", "float", "bool"],
)
def test_bad_k(backend, k, error, message):
    with pytest.raises(error, match=message):
        xloss.top_k(backend.asarray(DISTINCT), k)


def test_boolean_input_is_rejected(backend):
    with pytest.raises(TypeError, match=r"`x` must be a real array .*bool"):
        xloss.top_k(backend.asarray(DISTINCT > 0), 1)


def _compiled_paths(backend, monkeypatch):
    """The compiled paths to run: the default (torch at k = 1: ``torch.max``; above, its
    small-input exact path for test-sized inputs), then torch's ``torch.topk`` paths at k = 1
    too, its candidates' path for large inputs, small and large k (forced), ordered on the host
    by its custom operator (the CPU's) and by ``torch.sort`` and ``torch.cond`` (other devices,
    ``torch.export``)."""
    yield "default"
    if backend.name == "torch":
        module = importlib.import_module("xloss.adapters.torch")
        monkeypatch.setattr(module, "_first_best_exact", lambda torch, x: False)
        yield "exact path"
        monkeypatch.setattr(module, "SMALL", 0)
        yield "candidates, the host's operator"
        _large_k(monkeypatch)
        yield "candidates, the host's operator, large k"
        operators = importlib.import_module("xloss.adapters._torch_operators")
        monkeypatch.setattr(operators, "compiled_best_of_candidates", lambda x: None)
        yield "candidates, torch.cond, large k"
        monkeypatch.setattr(module, "SORTED_CANDIDATES", 128)
        yield "candidates, torch.cond"


@pytest.mark.backends("jax", "tensorflow", "torch")
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled(backend, largest, dtype, monkeypatch):
    x = TIES.T.astype(dtype)  # float32: torch's compiled kernel; float64: the generic body
    for _ in _compiled_paths(backend, monkeypatch):
        fn = backend.compile(lambda a: tuple(xloss.top_k(a, 4, axis=0, largest=largest)), x)
        values, indices = fn(backend.asarray(x))
        expected_values, expected_indices = ref.top_k(x, 4, 0, largest)
        np.testing.assert_array_equal(backend.to_numpy(indices), expected_indices)
        np.testing.assert_array_equal(backend.to_numpy(values), expected_values)


INNER_TIES = np.array(
    [
        [2.0, np.nan, 7.0, 7.0, 1.0, -1.0, 8.0, 0.5, -3.0, 6.0],
        [0.0, -0.0, 5.0, -0.0, 4.0, 9.0, np.inf, 9.0, -np.inf, -np.inf],
        [0.0, -0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0],
    ]
)


@pytest.mark.backends("jax", "tensorflow", "torch")
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_ties_among_the_k_best(backend, largest, dtype, monkeypatch):
    """Ties (NaN, infinities, -0.0 and 0.0) inside the K best but none at the K-th place: under
    torch.compile the candidates' re-sort alone orders them (no exact path)."""
    k = 4
    x = (INNER_TIES if largest else -INNER_TIES).astype(dtype)
    wider, _ = ref.top_k(x, k + 1, -1, largest)
    assert not (wider[:, k - 1] == wider[:, k]).any()  # the premise: no tie at the K-th place
    for _ in _compiled_paths(backend, monkeypatch):
        for rows in (x, x[:1], x[2]):  # a batch, a batch of one, one unbatched row
            fn = backend.compile(lambda a: tuple(xloss.top_k(a, k, largest=largest)), rows)
            values, indices = fn(backend.asarray(rows))
            expected_values, expected_indices = ref.top_k(rows, k, -1, largest)
            np.testing.assert_array_equal(backend.to_numpy(indices), expected_indices)
            np.testing.assert_array_equal(backend.to_numpy(values), expected_values)


@pytest.mark.backends("torch")
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_compiled_candidates_ordered_by_the_custom_operator(backend, dtype, dynamic, monkeypatch):
    """Under torch.compile on the CPU the candidates' keys are ordered, and the rows whose K-th
    place ties with their last candidate redone, by the custom operator
    ``xloss::best_of_candidates`` (the eager path's, called as it is at every call): the graph
    holds the operator and neither a traced sort nor a ``torch.cond`` (which sent the whole
    input to the exact path when any row tied: 3-4.7x ``torch.topk`` on bfloat16 rows of
    32,000). The answer is the reference's, on rows that tie at the K-th place with the last
    candidate and rows that do not."""
    import torch

    module = importlib.import_module("xloss.adapters.torch")
    monkeypatch.setattr(module, "SMALL", 0)
    _large_k(monkeypatch)
    targets = []

    def capture(graph, example_inputs):
        targets.extend(str(node.target) for node in graph.graph.nodes if node.op == "call_function")
        return graph.forward

    fn = torch.compile(
        lambda a: tuple(xloss.top_k(a, 4)), backend=capture, fullgraph=True, dynamic=dynamic
    )
    k = 4
    for rows in (RUNS, DISTINCT.reshape(-1, 9)):
        x = backend.to_numpy(backend.asarray(rows, dtype=dtype))
        values, indices = fn(backend.asarray(rows, dtype=dtype))
        expected_values, expected_indices = ref.top_k(x, k, -1, True)
        np.testing.assert_array_equal(backend.to_numpy(indices), expected_indices)
        np.testing.assert_array_equal(backend.to_numpy(values), expected_values)
    assert any("xloss.best_of_candidates" in target for target in targets), targets
    assert not any("sort" in target or "cond" in target for target in targets), targets


@pytest.mark.backends("torch")
def test_compiled_first_call_registers_the_custom_operator(backend):
    """In a fresh process whose first ``top_k`` is a compiled one (``fullgraph=True``), the
    custom operator is registered while Dynamo traces: it runs the import that registers it."""
    code = (
        "import numpy as np, torch, xloss\n"
        "import xloss.adapters.torch as adapter\n"
        "adapter.SMALL = 0\n"
        "x = torch.from_numpy(np.random.default_rng(0).normal(size=(64, 300)).astype('float32'))\n"
        "fn = torch.compile(lambda a: tuple(xloss.top_k(a, 200)), fullgraph=True)\n"
        "values, indices = fn(x)\n"
        "with xloss.fast_paths(False):\n"
        "    expected = xloss.top_k(x, 200)\n"
        "assert torch.equal(indices, expected.indices) and torch.equal(values, expected.values)\n"
        "assert hasattr(torch.ops.xloss, 'best_of_candidates')\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "ok"


@pytest.mark.backends("torch")
def test_candidates_stay_within_torch_topks_partial_sort(backend):
    """On the CPU ``torch.topk`` partially sorts where ``k * 64 <= n`` and is half as slow again
    above: 32-bit values take no more candidates than that allows where K itself is within it;
    16-bit values (whose ties need their extra candidates), K at the limit and other devices
    keep K + extra."""
    import torch

    module = importlib.import_module("xloss.adapters.torch")
    float32, bfloat16 = torch.empty(0), torch.empty(0, dtype=torch.bfloat16)
    elsewhere = torch.empty(0, device="meta")
    assert module._candidates(495, 32000, float32) == 500  # K + 8 = 503 would cross 500
    assert module._candidates(492, 32000, float32) == 500
    assert module._candidates(500, 32000, float32) == 508  # K at the limit: crossed anyway
    assert module._candidates(100, 8192, float32) == 101
    assert module._candidates(495, 32000, elsewhere) == 503
    assert module._candidates(121, 8192, bfloat16) == 129


@pytest.mark.backends("torch")
def test_exported_top_k_needs_no_xloss_to_load(backend, tmp_path):
    """``torch.export``'s programs are saved to be loaded where xloss may not be imported: its
    ``top_k`` sorts the candidates' keys with ``torch.sort`` (no ``xloss::`` operator), and the
    saved program loads and runs in a process that never imports xloss."""
    import torch

    class TopK(torch.nn.Module):
        def forward(self, x):
            return tuple(xloss.top_k(x, 50))

    x = np.random.default_rng(5).normal(size=(64, 1024)).astype(np.float32)  # > SMALL entries
    program = torch.export.export(TopK(), (torch.from_numpy(x),))
    targets = [str(node.target) for node in program.graph.nodes if node.op == "call_function"]
    assert not any("xloss" in target for target in targets), targets
    torch.export.save(program, tmp_path / "top_k.pt2")
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np, torch\n"
        f"program = torch.export.load({str(tmp_path / 'top_k.pt2')!r})\n"
        f"x = torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "values, indices = program.module()(x)\n"
        f"np.save({str(tmp_path / 'indices.npy')!r}, indices.numpy())\n"
        "assert 'xloss' not in sys.modules\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    _, expected = ref.top_k(x, 50, -1, True)
    np.testing.assert_array_equal(np.load(tmp_path / "indices.npy"), expected)


@pytest.mark.backends("jax")
def test_jax_export_of_top_k_as_documented(backend):
    """docs/topk.md: ``jax.export`` serializes ``tuple(xloss.top_k(...))`` as it is, and
    ``TopK`` itself once registered with the documented call."""
    jax = need("jax")
    from jax import export

    x = backend.asarray(DISTINCT.reshape(-1, 9))
    _, expected = ref.top_k(DISTINCT.reshape(-1, 9), 3, -1, True)
    as_tuple = export.export(jax.jit(lambda a: tuple(xloss.top_k(a, 3))))(x)
    np.testing.assert_array_equal(export.deserialize(as_tuple.serialize()).call(x)[1], expected)
    with pytest.raises(ValueError, match="unregistered type"):
        export.export(jax.jit(lambda a: xloss.top_k(a, 3)))(x).serialize()
    export.register_namedtuple_serialization(xloss.TopK, serialized_name="xloss.TopK")
    named = export.export(jax.jit(lambda a: xloss.top_k(a, 3)))(x)
    result = export.deserialize(named.serialize()).call(x)
    assert isinstance(result, xloss.TopK)
    np.testing.assert_array_equal(result.indices, expected)


# Each function, and its expression in tf.math.top_k (which TensorFlow differentiates under
# every transformation): (xloss, native), both of (tf, x, k).
UNDER_TRANSFORMATIONS = {
    "top_k": (
        lambda tf, x, k: xloss.top_k(x, k).values,
        lambda tf, x, k: tf.math.top_k(x, k).values,
    ),
    "top_k_smallest": (
        lambda tf, x, k: xloss.top_k(x, k, largest=False).values,
        lambda tf, x, k: -tf.math.top_k(-x, k).values,
    ),
    "top_k_softmax": (
        lambda tf, x, k: xloss.top_k_softmax(x, k, temperature=0.7)[0],
        lambda tf, x, k: tf.nn.softmax(tf.math.top_k(x, k).values / 0.7),
    ),
    "top_k_filter": (
        lambda tf, x, k: xloss.top_k_filter(x, k, fill_value=-30.0),
        lambda tf, x, k: tf.where(x >= tf.math.top_k(x, k).values[..., -1:], x, -30.0),
    ),
}


def _weighted(tf, out):
    """The sum of ``out`` (or of its first part) weighted 1 to 2 along the last axis."""
    first = out[0] if isinstance(out, tuple) else out
    return tf.reduce_sum(first * tf.linspace(1.0, 2.0, first.shape[-1]))


def _forward_mode_inside(tf, f):
    """``f(x)`` and its JVP along ``v``, by a ``ForwardAccumulator`` inside ``tf.function``."""

    @tf.function
    def run(x, v):
        with tf.autodiff.ForwardAccumulator(x, v) as accumulator:
            out = f(x)
        return out, accumulator.jvp(out[0] if isinstance(out, tuple) else out)

    return run


def _per_example(tf, f):
    """``f`` of each row of ``x`` and the gradient of `_weighted`, by a ``GradientTape`` inside
    ``tf.vectorized_map``."""

    def row(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = f(x)
            total = _weighted(tf, out)
        return out, tape.gradient(total, x)

    return lambda x, v: tf.vectorized_map(row, x)


def _around(tf, f):
    """``f(x)`` and the gradient of `_weighted`, by a ``GradientTape`` around a ``tf.function``
    traced before with no tape: TensorFlow differentiates the traced graph, ``tf.cond``s and
    all."""
    compiled = tf.function(f)

    def run(x, v):
        compiled(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = compiled(x)
            total = _weighted(tf, out)
        return out, tape.gradient(total, x)

    return run


TRANSFORMATIONS = (_forward_mode_inside, _per_example, _around)


def _transformed_paths(backend, monkeypatch, k):
    """The default traced path, then at k = 1 ``tf.math.argmax``'s (forced)."""
    yield "default"
    if k == 1:
        _force_argmax(backend, monkeypatch)
        yield "tf.math.argmax at k = 1"


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("name", sorted(UNDER_TRANSFORMATIONS))
def test_tensorflow_forward_mode_and_per_example_gradients(backend, name, k, monkeypatch):
    """Forward mode (a ``tf.autodiff.ForwardAccumulator`` inside ``tf.function``) and
    per-example gradients (a ``GradientTape`` inside ``tf.vectorized_map``) give what they give
    for ``tf.math.top_k``: TensorFlow differentiates neither nested ``tf.cond``s under an
    accumulator inside ``tf.function`` nor a ``tf.cond``'s gradient under ``pfor``, so where a
    tape or an accumulator watches the input the traced ``tf.cond``s see it behind
    ``tf.stop_gradient``. So does a tape around a ``tf.function`` traced with none (the
    ``tf.cond``s differentiated). Distinct values, then a row with a zero among the K best
    (its indices chosen again)."""
    tf = backend.module
    ours, native = (lambda a, f=f: f(tf, a, k) for f in UNDER_TRANSFORMATIONS[name])
    distinct = RNG.permutation(5 * 12).reshape(5, 12).astype(np.float32) / 8 - 3.0625
    zero = distinct.copy()
    zero[1] = -np.abs(zero[1]) - 1
    zero[1, 4] = 0.0  # the best of its row
    tangent = tf.constant(RNG.standard_normal(distinct.shape).astype(np.float32))
    for path in _transformed_paths(backend, monkeypatch, k):
        for data in (distinct, zero):
            for transform in TRANSFORMATIONS:
                got, expected = (
                    transform(tf, f)(tf.constant(data), tangent) for f in (ours, native)
                )
                message = f"{path}, {transform.__name__}, zero={data is zero}"
                for a, b in zip(got, expected):
                    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=message)


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("k", [1, 4])
def test_tensorflow_transformations_with_nan_and_ties(backend, k, largest, monkeypatch):
    """The same transformations on rows with NaN, infinities, ties and -0.0 beside 0.0, where
    ``tf.math.top_k`` is no reference: the values and indices are `top_k`'s, the JVP is the
    tangent at those indices and the gradients are the weights put back there."""
    tf = backend.module
    weights = tf.linspace(1.0, 2.0, k).numpy()  # as _weighted weighs
    for path in _transformed_paths(backend, monkeypatch, k):
        for x in (TIES, TIES[1:]):  # a NaN in the batch (or in a row), and none
            tangent = RNG.standard_normal(x.shape).astype(np.float32)
            expected_values, chosen = ref.top_k(x, k, -1, largest)
            gradient = np.zeros_like(x)
            np.put_along_axis(gradient, chosen, np.broadcast_to(weights, chosen.shape), -1)
            for transform in TRANSFORMATIONS:
                run = transform(tf, lambda a: tuple(xloss.top_k(a, k, largest=largest)))
                (values, indices), got = run(tf.constant(x), tf.constant(tangent))
                message = f"{path}, {transform.__name__}, rows={len(x)}"
                np.testing.assert_array_equal(indices, chosen, err_msg=message)
                np.testing.assert_array_equal(values, expected_values, err_msg=message)
                if transform is _forward_mode_inside:
                    expected = np.take_along_axis(tangent, chosen, -1)
                else:
                    expected = gradient
                np.testing.assert_array_equal(got, expected, err_msg=message)
