"""Every public function under each framework's compiler equals its eager result.

torch.compile(fullgraph=True) with static and dynamic shapes (no graph break from dispatch or
validation), jax.jit / vmap / jit(vmap(grad)), and tf.function with every dimension unknown.
Each compiled function is called on two batch sizes.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import warnings

import data as d
import numpy as np
import pytest
import reference as ref
from backends import need
from checks import JaxCompilations, tolerance

import xloss

# name: (function of (y_true, y_pred), y_true, y_pred)
CALLS = {
    "softmax": (lambda t, x: xloss.softmax(x), d.ONE_HOT, d.LOGITS),
    "log_softmax": (lambda t, x: xloss.log_softmax(x, axis=0), d.ONE_HOT, d.LOGITS),
    "logsumexp": (lambda t, x: xloss.logsumexp(x, keepdims=True), d.ONE_HOT, d.LOGITS),
    "log_sigmoid": (lambda t, x: xloss.log_sigmoid(x), d.ONE_HOT, d.LOGITS),
    "categorical": (
        lambda t, x: xloss.categorical_crossentropy(t, x, from_logits=True, label_smoothing=0.1),
        d.SOFT,
        d.LOGITS,
    ),
    "categorical-probabilities": (
        lambda t, x: xloss.categorical_crossentropy(t, x),
        d.ONE_HOT,
        d.PROBS,
    ),
    "sparse": (
        lambda t, x: xloss.sparse_categorical_crossentropy(t, x, from_logits=True, ignore_class=-1),
        d.IGNORED,
        d.LOGITS,
    ),
    "sparse-probabilities": (
        lambda t, x: xloss.sparse_categorical_crossentropy(t, x),
        d.LABELS,
        d.PROBS,
    ),
    "binary": (
        lambda t, x: xloss.binary_crossentropy(t, x, from_logits=True, label_smoothing=0.1),
        d.BINARY_TARGETS,
        d.BINARY_LOGITS,
    ),
    "CategoricalCrossentropy": (
        lambda t, x: xloss.CategoricalCrossentropy(from_logits=True, reduction="sum")(t, x),
        d.SOFT,
        d.LOGITS,
    ),
    "SparseCategoricalCrossentropy-axis1": (
        lambda t, x: xloss.SparseCategoricalCrossentropy(axis=1, ignore_class=7)(t, x),
        d.IGNORED_3D,
        d.PROBS_3D,
    ),
    "BinaryCrossentropy": (
        lambda t, x: xloss.BinaryCrossentropy()(t, x),
        d.BINARY_TARGETS,
        d.BINARY_PROBS,
    ),
}
TOL = tolerance("float32")


def _check_two_batch_sizes(backend, compiled, call):
    fn, y_true, y_pred = CALLS[call]
    for rows in (slice(None), slice(0, 3)):
        t, x = backend.asarray(y_true[rows]), backend.asarray(y_pred[rows])
        np.testing.assert_allclose(
            backend.to_numpy(compiled(t, x)), backend.to_numpy(fn(t, x)), rtol=TOL, atol=TOL
        )


@pytest.mark.backends("torch")
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("call", CALLS)
def test_torch_compile_fullgraph(backend, call, dynamic):
    torch = need("torch")
    torch._dynamo.reset()
    compiled = torch.compile(CALLS[call][0], fullgraph=True, dynamic=dynamic)
    _check_two_batch_sizes(backend, compiled, call)


def _jit_trace(fn, *example):
    torch = need("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13's, for jit.trace
        return torch.jit.trace(fn, example, check_trace=False)


@pytest.mark.backends("torch")
@pytest.mark.parametrize("call", CALLS)
def test_torch_jit_trace(backend, call):
    """``torch.jit.trace`` records the eager ops: traced on one batch size, replayed on two
    (the label check compared NumPy labels with the traced class count and raised)."""
    fn, y_true, y_pred = CALLS[call]
    traced = _jit_trace(fn, backend.asarray(y_true[:5]), backend.asarray(y_pred[:5]))
    _check_two_batch_sizes(backend, traced, call)


@pytest.mark.backends("torch")
def test_torch_jit_trace_bakes_no_branch_on_values_or_sizes(backend, monkeypatch):
    """What a trace replays must not depend on the example's values or size: the re-sort of
    tied rows in ``top_k``, the blocks of rows of large inputs (forced small here) and the
    value checks are eager decisions, skipped under ``torch.jit.trace`` as under
    ``torch.compile``; traced on untied values, ``top_k`` replays exactly on ties."""
    torch = need("torch")
    kernels = importlib.import_module("xloss.adapters._torch_kernels")
    monkeypatch.setattr(kernels, "BLOCKED_FROM", 0)
    monkeypatch.setattr(kernels, "BLOCK_BYTES", 64)
    rng = np.random.default_rng(0)
    untied = rng.permutation(np.arange(4 * 40, dtype=np.float32)).reshape(4, 40)
    tied = np.round(rng.normal(size=(9, 40)), 0).astype(np.float32)
    for k, largest in ((1, False), (3, True), (3, False)):
        traced = _jit_trace(
            lambda x, k=k, largest=largest: tuple(xloss.top_k(x, k, largest=largest)),
            torch.tensor(untied),
        )
        values, indices = traced(torch.tensor(tied))
        want_values, want_indices = ref.top_k(tied, k, -1, largest)
        np.testing.assert_array_equal(indices.numpy(), want_indices, err_msg=f"k={k}")
        np.testing.assert_array_equal(values.numpy(), want_values, err_msg=f"k={k}")

    def loss(y, x):
        return xloss.sparse_categorical_crossentropy(y, x, from_logits=True, ignore_class=-1)

    labels, logits = rng.integers(-1, 40, size=9), rng.normal(size=(9, 40))
    traced = _jit_trace(
        loss, torch.tensor(labels[:4]), torch.tensor(logits[:4], dtype=torch.bfloat16)
    )
    for rows in (slice(None), slice(0, 2)):
        y, x = torch.tensor(labels[rows]), torch.tensor(logits[rows], dtype=torch.bfloat16)
        np.testing.assert_array_equal(traced(y, x).numpy(), loss(y, x).numpy())


@pytest.mark.backends("torch")
def test_torch_compile_makes_no_graph_per_batch_size(backend):
    """``top_k`` and what gathers along the class axis compile to as many graphs as
    ``torch.topk`` over five batch sizes (``torch.take_along_dim`` made one graph per size,
    until the recompile limit, then ran eagerly)."""
    torch = need("torch")
    counters = torch._dynamo.utils.counters
    calls = {
        "top_k": (lambda y, x: xloss.top_k(x, 5).values, lambda y, x: torch.topk(x, 5).values),
        "accuracy": (
            lambda y, x: xloss.sparse_top_k_categorical_accuracy(y, x, k=5),
            lambda y, x: (x > x.gather(1, y[:, None])).sum(1) < 5,
        ),
    }
    for name, pair in calls.items():
        graphs = []
        for fn in pair:
            torch._dynamo.reset()
            counters.clear()
            compiled = torch.compile(fn, backend="eager")
            for rows in (8, 45, 82, 119, 156):
                x = torch.randn(rows, 100)
                compiled(torch.randint(0, 100, (rows,)), x)
            graphs.append(counters["stats"]["unique_graphs"])
        assert graphs[0] <= graphs[1], f"{name}: xloss {graphs[0]} graphs, torch {graphs[1]}"


@pytest.mark.backends("torch")
def test_torch_compile_takes_int_options_that_change(backend):
    """An int argument of a compiled function that changes between calls becomes a symbolic int
    (Dynamo's automatic dynamic): ``k``, ``axis`` and ``ignore_class`` compile with
    ``fullgraph=True`` (the validation's ``hasattr`` of a symbolic int was a graph break) to the
    eager results, and ``top_k`` (by its candidates and custom operator on 64 x 1024) to no
    more graphs than ``torch.topk`` over five values of ``k``."""
    torch = need("torch")
    counters = torch._dynamo.utils.counters
    x = torch.from_numpy(np.random.default_rng(3).normal(size=(64, 1024)).astype(np.float32))
    labels = torch.from_numpy(np.random.default_rng(4).integers(0, 1024, size=64))
    calls = {
        "top_k": (lambda x, k: xloss.top_k(x, k).indices, (5, 7, 9, 11, 13)),
        "top_k_filter": (lambda x, k: xloss.top_k_filter(x, k), (5, 7, 200)),
        "softmax": (lambda x, axis: xloss.softmax(x, axis=axis), (0, 1, -1)),
        "sparse": (
            lambda x, c: xloss.sparse_categorical_crossentropy(
                labels, x, from_logits=True, ignore_class=c
            ),
            (3, 5, 7),
        ),
    }
    graphs = {}
    for name, (fn, values) in calls.items():
        torch._dynamo.reset()
        counters.clear()
        compiled = torch.compile(fn, backend="eager", fullgraph=True)
        for value in values:
            np.testing.assert_allclose(
                compiled(x, value).numpy(), fn(x, value).numpy(), rtol=TOL, err_msg=name
            )
        graphs[name] = counters["stats"]["unique_graphs"]
    torch._dynamo.reset()
    counters.clear()
    native = torch.compile(lambda x, k: torch.topk(x, k).indices, backend="eager", fullgraph=True)
    for k in calls["top_k"][1]:
        native(x, k)
    assert graphs["top_k"] <= counters["stats"]["unique_graphs"], graphs


@pytest.mark.backends("torch")
def test_torch_compile_takes_float_options_that_change(backend):
    """A float argument of a compiled function that changes between calls becomes a symbolic
    float (Dynamo's automatic dynamic): every float option compiles with ``fullgraph=True`` to
    the eager results, in two graphs (the first value, then any), as ``x / t`` does.
    ``math.isinf``/``math.isfinite`` of ``temperature`` and the focal losses' ``gamma``, and
    ``hasattr`` of the categorical focal loss's ``alpha``, were graph breaks: errors with
    ``fullgraph=True``, and without it a new graph for every value."""
    torch = need("torch")
    from xloss.compat import keras as xk
    from xloss.compat import optax as xo
    from xloss.compat import torch as xt

    counters = torch._dynamo.utils.counters
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(size=(8, 10)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 10, size=8))
    onehot, binary = torch.nn.functional.one_hot(labels, 10).float(), (x > 0).float()
    calls = {
        "apply_temperature": lambda x, v: xloss.apply_temperature(x, v),
        "top_k_softmax": lambda x, v: xloss.top_k_softmax(x, 3, temperature=v)[0],
        "top_k_filter": lambda x, v: xloss.top_k_filter(x, 3, fill_value=-v),
        "top_p_filter": lambda x, v: xloss.top_p_filter(x, v, fill_value=-v),
        "min_p_filter": lambda x, v: xloss.min_p_filter(x, v, fill_value=-v),
        "categorical": lambda x, v: xloss.categorical_crossentropy(
            onehot, x, from_logits=True, label_smoothing=v
        ),
        "BinaryCrossentropy": lambda x, v: xloss.BinaryCrossentropy(label_smoothing=v)(
            binary, x.sigmoid()
        ),
        "torch.cross_entropy": lambda x, v: xt.cross_entropy(x, labels, label_smoothing=v),
        "optax.smooth_labels": lambda x, v: xo.smooth_labels(onehot, v),
        "BinaryFocalCrossentropy": lambda x, v: xk.BinaryFocalCrossentropy(
            apply_class_balancing=True, alpha=v, gamma=4 * v, label_smoothing=v, from_logits=True
        )(binary, x),
        "CategoricalFocalCrossentropy": lambda x, v: xk.CategoricalFocalCrossentropy(
            alpha=v, gamma=4 * v, label_smoothing=v, from_logits=True
        )(onehot, x),
    }
    graphs = {}
    for name, fn in calls.items():
        torch._dynamo.reset()
        counters.clear()
        compiled = torch.compile(fn, backend="eager", fullgraph=True)
        for value in (0.3, 0.35, 0.4, 0.45):
            np.testing.assert_allclose(
                compiled(x, value).numpy(), fn(x, value).numpy(), rtol=TOL, err_msg=name
            )
        graphs[name] = counters["stats"]["unique_graphs"]
    assert all(count <= 2 for count in graphs.values()), graphs


_COMPILED_ONCE = """
import importlib.util
import numpy as np
import torch
import xloss

x, labels = torch.randn(8, 10), torch.randint(0, 10, (8,))
calls = [
    lambda x, y: xloss.sparse_categorical_crossentropy(y, x, from_logits=True),
    lambda x, y: xloss.categorical_crossentropy(x.softmax(-1), x, label_smoothing=0.1),
    lambda x, y: xloss.binary_crossentropy(x.sigmoid(), x, from_logits=True),
    lambda x, y: xloss.SparseCategoricalCrossentropy(from_logits=True)(y, x),
    lambda x, y: xloss.log_softmax(x),
    lambda x, y: xloss.top_k(x, 3).values,
    lambda x, y: xloss.top_k_filter(x, 3),
    lambda x, y: xloss.top_p_filter(x, 0.9),
]
compiled = [torch.compile(f, backend="eager", fullgraph=True) for f in calls]
for _ in range(2):  # the first call in a process is compiled: xloss meets torch's types there
    [f(x, labels) for f in compiled]
xloss.softmax(np.zeros(3).view(type("Reference", (np.ndarray,), {})))  # a new array type
if importlib.util.find_spec("jax"):
    import jax.numpy as jnp

    xloss.softmax(jnp.zeros(3))
[f(x, labels) for f in compiled]
print(torch._dynamo.utils.counters["stats"]["unique_graphs"], len(calls))
"""


@pytest.mark.backends("torch")
def test_torch_compile_compiles_once_whatever_else_the_process_does(backend):
    """A compiled function calling xloss compiles once: not again on its second call (the
    first had filled xloss's cache of array types, which Dynamo guarded on), nor when xloss
    meets a new array type elsewhere (a NumPy reference beside a compiled model), nor when JAX
    is imported later (an adapter's lookup of JAX in ``sys.modules`` was a guard). Each was a
    recompilation of the caller, a whole training step where xloss is inside one, and counted
    towards Dynamo's limit of 8, past which it runs eagerly. In a fresh process: the first
    call of xloss there is the compiled one."""
    need("torch")
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_COMPILED_ONCE)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    graphs, calls = run.stdout.split()
    assert graphs == calls, f"{graphs} graphs for {calls} compiled functions"


@pytest.mark.backends("jax")
@pytest.mark.parametrize("call", CALLS)
def test_jax_jit(backend, call):
    jax = need("jax")
    _check_two_batch_sizes(backend, jax.jit(CALLS[call][0]), call)


@pytest.mark.backends("tensorflow")
@pytest.mark.parametrize("call", CALLS)
def test_tf_function_with_unknown_shapes(backend, call):
    fn, y_true, y_pred = CALLS[call]
    _check_two_batch_sizes(backend, backend.compile(fn, y_true, y_pred), call)


LOSSES = [
    name for name in CALLS if name not in ("softmax", "log_softmax", "logsumexp", "log_sigmoid")
]


@pytest.mark.backends("jax", "torch", "tensorflow")
@pytest.mark.parametrize("call", LOSSES)
def test_transformed_over_the_targets_alone(backend, call):
    """Compiled and vectorised over the targets alone, with the predictions captured: concrete
    predictions beside traced targets. The value checks read neither (under ``jax.jit`` even
    operations on concrete arrays are traced; ``torch.func.vmap`` wraps only the targets): they
    raised from NumPy's conversion of a tracer, or from data-dependent control flow."""
    fn, y_true, y_pred = CALLS[call]
    t, x = backend.asarray(y_true), backend.asarray(y_pred)
    expected = backend.to_numpy(fn(t, x))
    of_targets = lambda targets: fn(targets, x)  # noqa: E731
    compiled = backend.compile(of_targets, y_true)(t)
    np.testing.assert_allclose(backend.to_numpy(compiled), expected, rtol=TOL, atol=TOL)
    if backend.name == "tensorflow":
        return
    vmap = need("jax").vmap if backend.name == "jax" else need("torch").func.vmap
    stacked = backend.asarray(np.stack([y_true, y_true]))
    for row in backend.to_numpy(vmap(of_targets)(stacked)):
        np.testing.assert_allclose(row, expected, rtol=TOL, atol=TOL)


@pytest.mark.backends("jax")
@pytest.mark.parametrize(
    ("loss", "targets"),
    [
        (lambda t, x: xloss.sparse_categorical_crossentropy(t, x, from_logits=True), d.LABELS),
        (lambda t, x: xloss.categorical_crossentropy(t, x, from_logits=True), d.ONE_HOT),
    ],
    ids=["sparse", "categorical"],
)
def test_jax_vmap_and_jit_vmap_grad(backend, loss, targets):
    """Per-example losses and per-example gradients (softmax - one-hot) through vmap."""
    jax = need("jax")
    t, x = backend.asarray(targets), backend.asarray(d.LOGITS)
    per_example = jax.vmap(loss)(t, x)
    np.testing.assert_allclose(
        backend.to_numpy(per_example), backend.to_numpy(loss(t, x)), rtol=TOL, atol=TOL
    )
    grads = jax.jit(jax.vmap(jax.grad(loss, argnums=1)))(t, x)
    expected = ref.softmax(d.LOGITS) - np.eye(d.C)[d.LABELS]
    np.testing.assert_allclose(backend.to_numpy(grads), expected, rtol=TOL, atol=TOL)


@pytest.mark.backends("torch")
def test_torch_func_vmap_and_grad(backend):
    """torch.func transforms wrap tensors whose values cannot be read: value checks step aside."""
    torch = need("torch")
    t, x = backend.asarray(d.LABELS), backend.asarray(d.LOGITS)

    def loss(y, logits):
        return xloss.sparse_categorical_crossentropy(y, logits, from_logits=True)

    per_example = torch.func.vmap(loss)(t, x)
    np.testing.assert_allclose(
        backend.to_numpy(per_example), backend.to_numpy(loss(t, x)), rtol=TOL, atol=TOL
    )
    grads = torch.func.vmap(torch.func.grad(loss, argnums=1))(t, x)
    expected = ref.softmax(d.LOGITS) - np.eye(d.C)[d.LABELS]
    np.testing.assert_allclose(backend.to_numpy(grads), expected, rtol=TOL, atol=TOL)


# name: function of (logits, labels, one-hot targets) for one (4, 50) slice of a batch
SLICED = {
    "top_k": lambda x, t, y: xloss.top_k(x, 5),
    "top_k-smallest": lambda x, t, y: xloss.top_k(x, 1, largest=False),
    "top_k_softmax": lambda x, t, y: xloss.top_k_softmax(x, 5),
    "top_k_filter": lambda x, t, y: xloss.top_k_filter(x, 5),
    "top_p_filter": lambda x, t, y: xloss.top_p_filter(x, 0.9),
    "min_p_filter": lambda x, t, y: xloss.min_p_filter(x, 0.1),
    "apply_temperature": lambda x, t, y: xloss.apply_temperature(x, 0.7),
    "top_k_categorical_accuracy": lambda x, t, y: xloss.top_k_categorical_accuracy(y, x, k=5),
    "sparse_top_k_categorical_accuracy": lambda x, t, y: xloss.sparse_top_k_categorical_accuracy(
        t, x, k=5
    ),
}


@pytest.mark.backends("jax", "torch")
@pytest.mark.parametrize("call", SLICED)
def test_vmap_of_the_other_functions(backend, call):
    """``jax.vmap`` and ``torch.func.vmap`` over a batch of slices give each slice's eager
    result, without warnings (which the suite makes errors: PyTorch's nucleus filter wrote its
    decision with ``scatter_``, which has no batching rule and warned of a slow fallback)."""
    rng = np.random.default_rng(4)
    logits = (rng.standard_normal((3, 4, 50)) * 3).astype(np.float32)
    labels = rng.integers(0, 50, (3, 4))
    x, t, y = (backend.asarray(a) for a in (logits, labels, np.eye(50, dtype=np.float32)[labels]))
    vmap = need("jax").vmap if backend.name == "jax" else need("torch").func.vmap
    batched = vmap(SLICED[call])(x, t, y)
    for i in range(3):
        one = SLICED[call](x[i], t[i], y[i])
        for got, want in zip(_parts(batched), _parts(one), strict=True):
            np.testing.assert_array_equal(backend.to_numpy(got)[i], backend.to_numpy(want))


@pytest.mark.backends("torch")
@pytest.mark.parametrize("call", ["top_k", "top_k-smallest", "top_k_softmax", "top_k_filter"])
def test_vmap_of_top_k_where_the_keys_have_no_batching_rule(backend, call, monkeypatch):
    """torch 2.11's vmap has no batching rule for the bit view that PyTorch's exact top-k
    keys are made with (torch 2.13's has): it raised there. It raises that error here, as
    torch 2.11 did, and the same calls take the generic stable sort: each slice's answer."""
    from xloss.adapters import torch as adapter

    keys = adapter._sortable_key

    def no_rule(torch, x):
        if not adapter.functorch_wrapped(x):
            return keys(torch, x)
        raise RuntimeError(
            "Batching rule not implemented for aten::view.dtype; the fallback path doesn't "
            "work on out= or view ops."
        )

    monkeypatch.setattr(adapter, "_sortable_key", no_rule)
    rng = np.random.default_rng(5)
    logits = rng.integers(-3, 4, (3, 4, 50)).astype(np.float32)  # ties: the order matters
    logits[0, 1, ::7] = np.nan
    x = backend.asarray(logits)
    batched = need("torch").func.vmap(lambda a: SLICED[call](a, None, None))(x)
    for i in range(3):
        want = SLICED[call](backend.asarray(logits[i]), None, None)
        for got, one in zip(_parts(batched), _parts(want), strict=True):
            np.testing.assert_array_equal(backend.to_numpy(got)[i], backend.to_numpy(one))


def _parts(result):
    return tuple(result) if isinstance(result, tuple) else (result,)


_STREAM_X = np.random.default_rng(8).normal(scale=3.0, size=(6, 13)).astype(np.float32)
_STREAM_PROBS = np.exp(_STREAM_X) / np.exp(_STREAM_X).sum(-1, keepdims=True)
_STREAM_ONE_HOT = np.eye(13, dtype=np.float32)[[0, 3, 5, 7, 12, 2]]
_STREAM_BITS = (_STREAM_X > 1.0).astype(np.float32)
_P = (0.51, 0.62, 0.73, 0.84, 0.95)
_GAMMA = (0.3, 1.7, 2.2, 2.7, 4.9)  # multiples of 0.5 are constants: see adapters/jax.py
_SMOOTHING = (0.01, 0.05, 0.1, 0.2, 0.3)
# name: (function of (logits or probabilities, value), a first value, the values, the input)
OPTION_STREAMS = {
    "top_p_filter-p": (lambda x, v: xloss.top_p_filter(x, v), 0.4, _P, _STREAM_X),
    "top_p_filter-fill_value": (
        lambda x, v: xloss.top_p_filter(x, 0.8, fill_value=v),
        -1.5,
        (-1e4, -7.25, 0.0, 3.1, -1e30),
        _STREAM_X,
    ),
    "min_p_filter-p": (
        lambda x, v: xloss.min_p_filter(x, v, min_keep=2),
        0.3,
        (0.01, 0.05, 0.1, 0.25, 0.5),
        _STREAM_X,
    ),
    "sample-top_p": (
        lambda x, v: xloss.sample(x, 3, top_p=v, num_samples=4),
        0.4,
        _P,
        _STREAM_X,
    ),
    "categorical_focal-gamma": (
        lambda x, v: _keras().categorical_focal_crossentropy(
            _STREAM_ONE_HOT, x, gamma=v, from_logits=True
        ),
        1.1,
        _GAMMA,
        _STREAM_X,
    ),
    "categorical_focal-alpha": (
        lambda x, v: _keras().categorical_focal_crossentropy(_STREAM_ONE_HOT, x, alpha=v),
        0.15,
        (0.1, 0.25, 0.3, 0.5, 0.99),
        _STREAM_PROBS,
    ),
    "categorical_focal-alpha-per-class": (
        lambda x, v: _keras().categorical_focal_crossentropy(
            _STREAM_ONE_HOT, x, alpha=[v, 1.0 - v, *[0.5] * 11]
        ),
        0.15,
        (0.1, 0.25, 0.3, 0.5, 0.99),
        _STREAM_PROBS,
    ),
    "binary_focal-gamma": (
        lambda x, v: _keras().binary_focal_crossentropy(_STREAM_BITS, x, gamma=v),
        1.1,
        _GAMMA,
        _STREAM_PROBS,
    ),
    "BinaryFocalCrossentropy-gamma": (
        lambda x, v: _keras().BinaryFocalCrossentropy(
            gamma=v, apply_class_balancing=True, from_logits=True
        )(_STREAM_BITS, x),
        1.1,
        _GAMMA,
        _STREAM_X,
    ),
    "binary_focal-label_smoothing": (
        lambda x, v: _keras().binary_focal_crossentropy(_STREAM_BITS, x, label_smoothing=v),
        0.15,
        _SMOOTHING,
        _STREAM_PROBS,
    ),
    "categorical_focal-label_smoothing": (
        lambda x, v: _keras().categorical_focal_crossentropy(
            _STREAM_ONE_HOT, x, label_smoothing=v, from_logits=True
        ),
        0.15,
        _SMOOTHING,
        _STREAM_X,
    ),
}
_LOSS_DTYPE = {"float32": "float32", "bfloat16": "float32", "float64": "float64"}


def _keras():
    return importlib.import_module("xloss.compat.keras")


@pytest.mark.backends("jax")
@pytest.mark.parametrize(
    ("dtype", "x64"),
    [("float32", False), ("bfloat16", False), ("float32", True), ("float64", True)],
    ids=["float32", "bfloat16", "float32-x64", "float64-x64"],
)
@pytest.mark.parametrize("call", OPTION_STREAMS)
def test_jax_option_values_share_one_program(backend, call, dtype, x64):
    """Eagerly, each distinct value of a float option ran a new XLA program, compiled for it
    and kept (top-p: 390 ms a call, +280 MiB over 100 values of ``p``): options that only meet
    arrays are arguments of the program. The values and dtypes (x64 on or off) are the
    generic body's: bit for bit for the filters and the draws."""
    import contextlib

    jax = need("jax")
    jax.clear_caches()  # the tests before may have compiled these shapes and values
    fn, first, values, inputs = OPTION_STREAMS[call]
    with backend.x64() if x64 else contextlib.nullcontext():
        x = jax.numpy.asarray(inputs).astype(dtype)
        fn(x, first)  # compiles the programs for this shape
        with JaxCompilations() as compiled:
            got = [fn(x, v) for v in values]
        with xloss.fast_paths(False):
            want = [fn(x, v) for v in values]
    assert not compiled, f"{len(compiled)} XLA programs compiled for {len(values)} new values"
    focal = "focal" in call.lower()
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        if focal or "filter" in call:
            assert g.dtype == (_LOSS_DTYPE[dtype] if focal else dtype)
        g, w = backend.to_numpy(g), backend.to_numpy(w)
        if focal:
            np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL)
        else:
            np.testing.assert_array_equal(g, w)
