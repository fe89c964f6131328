"""Dask arrays, chunked along the batch and the class axis, on a loopback LocalCluster.

Every public function of xloss takes Dask arrays, builds its graph without computing anything
(the scheduler is replaced by one that fails while xloss is called), and, computed on the
cluster, gives what xloss gives for the same NumPy arrays and what the float64 reference gives.
The graphs are checked to work block by block: no task result is larger than one block of the
logits (no one-hot, no row gathered into one chunk), for the losses, softmax and top_k.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from typing import Any, NamedTuple

import numpy as np
import pytest
import reference as ref
from backends import need
from checks import tolerance

import xloss

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
pytest.importorskip("dask.callbacks")
distributed = pytest.importorskip("distributed")

TOL = tolerance("float32")
N, C = 37, 53
CHUNKS = (10, 11)  # 4 chunks along the batch, 5 along the classes
RNG = np.random.default_rng(20260808)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


LOGITS = RNG.normal(scale=2.0, size=(N, C)).astype(np.float32)
PROBS = _softmax(LOGITS).astype(np.float32)
LABELS = RNG.integers(0, C, size=N)
IGNORED = LABELS.copy()
IGNORED[[3, 17, 30]] = -1
SOFT = RNG.dirichlet(np.ones(C), size=N).astype(np.float32)
BINARY_TARGETS = RNG.integers(0, 2, size=(N, C)).astype(np.float32)
BINARY_PROBS = (1 / (1 + np.exp(-LOGITS))).astype(np.float32)
WEIGHTS = RNG.uniform(0.0, 2.0, size=N).astype(np.float32)
# torch's layout: (batch, classes, length), class axis 1
LOGITS_3D = RNG.normal(scale=2.0, size=(6, C, 7)).astype(np.float32)
LABELS_3D = RNG.integers(0, C, size=(6, 7))

# top_k's hard cases spread over chunks: ties across chunk borders, NaN, +-inf, -0.0 and 0.0
TIES = np.round(RNG.normal(size=(N, C)), 1).astype(np.float32)
TIES[0, [4, 15, 26, 37, 48]] = 9.0
TIES[1, [2, 30]] = np.nan
TIES[1, 40] = np.inf
TIES[2, :] = 0.0
TIES[2, [5, 12, 23, 50]] = -0.0
TIES[3, [0, 52]] = -np.inf
INTEGERS = RNG.integers(-3, 4, size=(N, C)).astype(np.int32)


@pytest.fixture(scope="module", autouse=True)
def client():
    """Two workers (threads of this process) talking TCP on loopback: the default scheduler of
    every test here."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@contextlib.contextmanager
def never_computed():
    """Fail if anything computes (``compute``, ``persist``, ``bool``, ``float``, ``np.asarray``)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a Dask graph was computed while xloss was building it")

    with dask.config.set(scheduler=refuse):
        yield


def lazy(a: np.ndarray, chunks: tuple[int, ...] = CHUNKS) -> da.Array:
    return da.from_array(a, chunks=chunks[: a.ndim])


class Expect(NamedTuple):
    """What one Dask result must equal once computed."""

    result: Any  # the Dask array xloss returned
    numpy: Any  # xloss's result for the NumPy arrays
    reference: Any = None  # the float64 reference, where there is one
    exact: bool = False  # selections are exact; arithmetic equals to float32 rounding


def check(cases: dict[str, Expect]) -> None:
    """Every result is a lazy Dask array of the NumPy result's dtype and shape; all of them are
    computed together, in one round trip to the cluster, and compared (shapes too)."""
    for name, case in cases.items():
        assert isinstance(case.result, da.Array), f"{name}: {type(case.result)}"
        expected = np.asarray(case.numpy)
        assert case.result.dtype == expected.dtype, f"{name}: dtype {case.result.dtype}"
        assert case.result.shape == expected.shape, f"{name}: shape {case.result.shape}"
    computed = dask.compute(*(case.result for case in cases.values()))
    for (name, case), got in zip(cases.items(), computed):
        assert np.shape(got) == np.shape(case.numpy), f"{name}: computed shape {np.shape(got)}"
        if case.exact:
            np.testing.assert_array_equal(got, case.numpy, err_msg=name)
        else:
            np.testing.assert_allclose(got, case.numpy, rtol=TOL, atol=TOL, err_msg=name)
        if case.reference is not None:
            np.testing.assert_allclose(got, case.reference, rtol=TOL, atol=TOL, err_msg=name)


# --- activations ------------------------------------------------------------------------------


def test_activations():
    x = lazy(LOGITS)
    calls = {
        f"{name}-axis={axis}": (getattr(xloss, name), getattr(ref, name), {"axis": axis})
        for name in ("softmax", "log_softmax")
        for axis in (-1, 0)
    }
    calls |= {
        f"logsumexp-axis={axis}-keepdims={keep}": (
            xloss.logsumexp,
            lambda a, axis, keepdims: ref.logsumexp(a, axis, keepdims),
            {"axis": axis, "keepdims": keep},
        )
        for axis in (-1, 0)
        for keep in (False, True)
    }
    calls["log_sigmoid"] = (xloss.log_sigmoid, ref.log_sigmoid, {})
    with never_computed():
        results = {name: function(x, **kw) for name, (function, _, kw) in calls.items()}
    for name in calls:
        if name.startswith(("softmax", "log_softmax")):
            assert results[name].chunks == x.chunks, name  # the class axis keeps its chunks
    cases = {
        name: Expect(results[name], function(LOGITS, **kw), reference(LOGITS, **kw))
        for name, (function, reference, kw) in calls.items()
    }
    check(cases)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # NumPy's log(0), in tasks too
def test_logsumexp_of_infinite_rows():
    x = LOGITS.copy()
    x[0] = -np.inf
    x[1, 20] = np.inf
    with never_computed():
        result = xloss.logsumexp(lazy(x))
    check({"logsumexp": Expect(result, xloss.logsumexp(x))})


def test_float64_stays_float64():
    x = LOGITS.astype(np.float64)
    with never_computed():
        result = xloss.log_softmax(lazy(x))
    assert result.dtype == np.float64
    np.testing.assert_allclose(result.compute(), ref.log_softmax(x), rtol=tolerance("float64"))


# --- losses -----------------------------------------------------------------------------------

LOSS_CASES = {
    "categorical-logits": ("categorical", SOFT, LOGITS, {"from_logits": True}),
    "categorical-probs": ("categorical", SOFT, PROBS, {"from_logits": False}),
    "categorical-smoothing": (
        "categorical",
        SOFT,
        LOGITS,
        {"from_logits": True, "label_smoothing": 0.1},
    ),
    "sparse-logits": ("sparse", LABELS, LOGITS, {"from_logits": True}),
    "sparse-probs": ("sparse", LABELS, PROBS, {"from_logits": False}),
    "sparse-ignore": ("sparse", IGNORED, LOGITS, {"from_logits": True, "ignore_class": -1}),
    "binary-logits": ("binary", BINARY_TARGETS, LOGITS, {"from_logits": True}),
    "binary-probs": ("binary", BINARY_TARGETS, BINARY_PROBS, {"from_logits": False}),
    "binary-smoothing": (
        "binary",
        BINARY_TARGETS,
        LOGITS,
        {"from_logits": True, "label_smoothing": 0.2},
    ),
}
FUNCTIONS = {
    "categorical": (xloss.categorical_crossentropy, ref.categorical),
    "sparse": (xloss.sparse_categorical_crossentropy, ref.sparse_categorical),
    "binary": (xloss.binary_crossentropy, ref.binary),
}
CLASSES = {
    "categorical": xloss.CategoricalCrossentropy,
    "sparse": xloss.SparseCategoricalCrossentropy,
    "binary": xloss.BinaryCrossentropy,
}
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None)


@pytest.mark.parametrize(
    ("kind", "y_true", "y_pred", "options"), LOSS_CASES.values(), ids=LOSS_CASES
)
def test_losses(kind, y_true, y_pred, options):
    """The function, and its class with every reduction, with and without sample weights."""
    function, reference = FUNCTIONS[kind]
    per_sample = reference(y_true, y_pred, compute_dtype="float32", **options)
    valid = y_true != options["ignore_class"] if "ignore_class" in options else None
    # Sparse labels chunked unlike the logits' batch: xloss aligns them.
    true_chunks = (8,) if kind == "sparse" else CHUNKS
    targets, predictions, weights = lazy(y_true, true_chunks), lazy(y_pred), lazy(WEIGHTS)
    with never_computed():
        lazy_results = {"function": function(targets, predictions, **options)}
        for reduction in REDUCTIONS:
            loss = CLASSES[kind](reduction=reduction, **options)
            lazy_results[f"{reduction}"] = loss(targets, predictions)
            lazy_results[f"{reduction}-weighted"] = loss(targets, predictions, weights)
    cases = {
        "function": Expect(
            lazy_results["function"], function(y_true, y_pred, **options), per_sample
        )
    }
    for reduction in REDUCTIONS:
        loss = CLASSES[kind](reduction=reduction, **options)
        for w, suffix in ((None, ""), (WEIGHTS, "-weighted")):
            name = f"{reduction}{suffix}"
            expected = ref.reduce(per_sample, w, valid, reduction)
            cases[name] = Expect(lazy_results[name], loss(y_true, y_pred, w), expected)
    check(cases)


def test_sparse_loss_with_the_class_axis_in_the_middle():
    with never_computed():
        result = xloss.sparse_categorical_crossentropy(
            lazy(LABELS_3D, (4, 3)), lazy(LOGITS_3D, (4, 11, 3)), from_logits=True, axis=1
        )
    expected = xloss.sparse_categorical_crossentropy(LABELS_3D, LOGITS_3D, from_logits=True, axis=1)
    reference = ref.sparse_categorical(LABELS_3D, LOGITS_3D, from_logits=True, axis=1)
    check({"axis-1": Expect(result, expected, reference)})


def test_out_of_range_labels_give_nan_without_computing():
    """Values are never read for a check: like a traced call, a label outside [0, C) gives nan
    for its sample (NumPy input raises a ValueError instead), and probabilities passed with
    from_logits=True raise no FromLogitsWarning (warnings are errors in this suite)."""
    labels = LABELS.copy()
    labels[[4, 9]] = [C, -3]
    with never_computed():
        result = xloss.sparse_categorical_crossentropy(lazy(labels), lazy(PROBS), from_logits=True)
    got = result.compute()
    assert np.isnan(got[[4, 9]]).all()
    keep = np.ones(N, bool)
    keep[[4, 9]] = False
    expected = ref.sparse_categorical(labels[keep], PROBS[keep], from_logits=True)
    np.testing.assert_allclose(got[keep], expected, rtol=TOL, atol=TOL)
    with pytest.raises(ValueError, match="holds the label -3"):
        xloss.sparse_categorical_crossentropy(labels, LOGITS, from_logits=True)


def test_numpy_labels_with_dask_logits_name_both():
    with pytest.raises(TypeError, match=r"`y_true` is a numpy.ndarray .* Convert `y_true`"):
        xloss.sparse_categorical_crossentropy(LABELS, lazy(LOGITS), from_logits=True)


# --- top_k, filters, metrics ------------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("data", [TIES, INTEGERS], ids=["float-ties-nan-zeros", "int32"])
def test_top_k_matches_numpy_exactly(data, axis):
    """Ties across chunk borders, NaN, +-inf, -0.0 against 0.0; k below, at and above a chunk."""
    settings = [(k, largest) for k in (1, 7, 30, data.shape[axis]) for largest in (True, False)]
    with never_computed():
        lazy_results = {s: xloss.top_k(lazy(data), s[0], axis=axis, largest=s[1]) for s in settings}
    cases = {}
    for (k, largest), (values, indices) in lazy_results.items():
        expected = xloss.top_k(data, k, axis=axis, largest=largest)
        _, ref_indices = ref.top_k(data, k, axis=axis, largest=largest)
        np.testing.assert_array_equal(expected.indices, ref_indices)
        name = f"k={k}-largest={largest}"
        cases[f"{name}-indices"] = Expect(indices, expected.indices, exact=True)
        cases[f"{name}-values"] = Expect(values, expected.values, exact=True)
    check(cases)


def test_filters_and_temperature():
    x, finite = lazy(TIES), TIES[4:]  # HuggingFace's reference has no NaN rule
    with never_computed():
        lazy_results = {
            "temperature": xloss.apply_temperature(x, 0.7),
            "top_k": xloss.top_k_filter(x, 5),
            "top_k-fill": xloss.top_k_filter(x, 3, fill_value=-100.0),
            "top_k-axis0": xloss.top_k_filter(x, 4, axis=0),
            "top_k-finite": xloss.top_k_filter(lazy(finite), 5),
        }
        for p in (0.3, 0.9):
            for min_keep in (1, 3):
                for name in ("top_p", "min_p"):
                    function = getattr(xloss, f"{name}_filter")
                    lazy_results[f"{name}-{p}-{min_keep}"] = function(
                        lazy(LOGITS), p, min_keep=min_keep
                    )
    cases = {
        "temperature": Expect(lazy_results["temperature"], xloss.apply_temperature(TIES, 0.7)),
        "top_k": Expect(lazy_results["top_k"], xloss.top_k_filter(TIES, 5), exact=True),
        "top_k-fill": Expect(
            lazy_results["top_k-fill"], xloss.top_k_filter(TIES, 3, fill_value=-100.0), exact=True
        ),
        "top_k-axis0": Expect(
            lazy_results["top_k-axis0"], xloss.top_k_filter(TIES, 4, axis=0), exact=True
        ),
        "top_k-finite": Expect(
            lazy_results["top_k-finite"], xloss.top_k_filter(finite, 5), ref.hf_top_k(finite, 5)
        ),
    }
    for p in (0.3, 0.9):
        for min_keep in (1, 3):
            for name in ("top_p", "min_p"):
                function = getattr(xloss, f"{name}_filter")
                key = f"{name}-{p}-{min_keep}"
                expected = function(LOGITS, p, min_keep=min_keep)
                reference = getattr(ref, f"hf_{name}")(LOGITS, p, min_tokens_to_keep=min_keep)
                np.testing.assert_array_equal(np.isfinite(expected), np.isfinite(reference))
                cases[key] = Expect(lazy_results[key], expected, exact=True)
    check(cases)


def test_top_k_softmax():
    with never_computed():
        probs, indices = xloss.top_k_softmax(lazy(LOGITS), 6, temperature=0.8)
    expected_probs, expected_indices = xloss.top_k_softmax(LOGITS, 6, temperature=0.8)
    ref_values, _ = ref.top_k(LOGITS, 6)
    check(
        {
            "indices": Expect(indices, expected_indices, exact=True),
            "probs": Expect(probs, expected_probs, ref.softmax(ref.f64(ref_values) / 0.8)),
        }
    )


def test_top_k_accuracy_metrics():
    scores = TIES[4:]  # finite rows (non-finite rows are checked in test_metrics)
    labels = LABELS[4:]
    one_hot = np.eye(C, dtype=np.float32)[labels]
    ids = np.argsort(-scores, axis=-1, kind="stable")
    cases = {}
    for k in (1, 5):
        with never_computed():
            sparse = xloss.sparse_top_k_categorical_accuracy(lazy(labels), lazy(scores), k=k)
            dense = xloss.top_k_categorical_accuracy(lazy(one_hot), lazy(scores), k=k)
            sorted_ids = xloss.sparse_top_k_categorical_accuracy(
                lazy(labels), lazy(ids), k=k, from_sorted_ids=True
            )
        expected = xloss.sparse_top_k_categorical_accuracy(labels, scores, k=k)
        # the tie rule, counted: fewer than k classes score strictly higher
        above = (scores > np.take_along_axis(scores, labels[:, None], axis=-1)).sum(axis=-1)
        rule = (above < k).astype(np.float32)
        cases[f"sparse-{k}"] = Expect(sparse, expected, rule, exact=True)
        dense_expected = xloss.top_k_categorical_accuracy(one_hot, scores, k=k)
        cases[f"dense-{k}"] = Expect(dense, dense_expected, rule, exact=True)
        ids_expected = xloss.sparse_top_k_categorical_accuracy(
            labels, ids, k=k, from_sorted_ids=True
        )
        cases[f"sorted-ids-{k}"] = Expect(sorted_ids, ids_expected, exact=True)
    check(cases)


# --- sample -----------------------------------------------------------------------------------


def test_greedy_sample_is_numpys():
    x = lazy(TIES[4:])
    with never_computed():
        result = xloss.sample(x, 0, temperature=0, num_samples=3)
    expected = xloss.sample(TIES[4:], 0, temperature=0, num_samples=3)
    check({"greedy": Expect(result, expected, exact=True)})


def test_sample_is_lazy_seeded_and_in_the_support():
    x = lazy(LOGITS)
    with never_computed():
        first = xloss.sample(x, 7, top_k=4, num_samples=50)
        again = xloss.sample(x, 7, top_k=4, num_samples=50)
        other = xloss.sample(x, 8, top_k=4, num_samples=50)
        from_dask = xloss.sample(x, da.random.default_rng(3), num_samples=2)
        from_numpy = xloss.sample(x, np.random.default_rng(3), num_samples=2)
    assert isinstance(first, da.Array) and first.shape == (N, 50) and first.dtype == np.int64
    draws = first.compute()
    np.testing.assert_array_equal(again.compute(), draws)  # the same seed, the same draw
    assert (other.compute() != draws).any()
    support = np.isfinite(xloss.top_k_filter(LOGITS, 4))
    assert np.take_along_axis(support, draws, axis=-1).all()
    assert from_dask.compute().shape == from_numpy.compute().shape == (N, 2)
    with pytest.raises(TypeError, match=r"`rng` must be an int seed, a dask.array.random"):
        xloss.sample(x, "seed")


def test_sample_of_a_large_vocabulary_draws_in_one_level():
    """Vocabularies other backends draw in two levels (8 x 2048, 100 draws a row) are drawn in
    one by Dask, chunks of classes untouched: lazily, and only from the top-k support."""
    logits = np.random.default_rng(5).normal(size=(8, 2048)).astype(np.float32)
    x = lazy(logits, (4, 500))
    with never_computed():
        drawn = xloss.sample(x, 3, top_k=3, num_samples=100)
    draws = drawn.compute()
    assert draws.shape == (8, 100)
    support = np.isfinite(xloss.top_k_filter(logits, 3))
    assert np.take_along_axis(support, draws, axis=-1).all()


def test_sample_frequencies_match_softmax_chi_square():
    """Pearson's chi-square on 20000 draws from two 8-class distributions chunked 3 by 3 (fixed
    seed, alpha 1e-3), as test_sampling does for the other backends."""
    stats = need("scipy.stats")
    probs = np.array([0.30, 0.20, 0.15, 0.12, 0.10, 0.07, 0.04, 0.02])
    logits = np.log(np.stack([probs, probs[::-1]])).astype(np.float32)
    draws = xloss.sample(lazy(logits, (1, 3)), 2024, top_p=0.9, num_samples=20_000).compute()
    expected = ref.softmax(ref.hf_top_p(logits, 0.9))
    for row in range(2):
        counts = np.bincount(draws[row], minlength=8)
        support = expected[row] > 0
        assert counts[~support].sum() == 0
        p = expected[row][support]
        result = stats.chisquare(counts[support], 20_000 * p / p.sum())
        assert result.pvalue > 1e-3, f"row {row}: counts {counts}, p-value {result.pvalue:.2g}"


# --- empty batches, unknown lengths, masked arrays --------------------------------------------


def _empty_calls(axis: int) -> dict[str, Any]:
    """Every function on logits ``x`` whose class axis is ``axis``, labels, one-hot targets and
    weights: ``call(x, labels, one_hot, weights)``."""
    calls = {
        "softmax": lambda x, *_: xloss.softmax(x, axis=axis),
        "log_softmax": lambda x, *_: xloss.log_softmax(x, axis=axis),
        "logsumexp": lambda x, *_: xloss.logsumexp(x, axis=axis),
        "log_sigmoid": lambda x, *_: xloss.log_sigmoid(x),
        "top_k": lambda x, *_: xloss.top_k(x, 3, axis=axis),
        "top_k_softmax": lambda x, *_: xloss.top_k_softmax(x, 3, axis=axis),
        "top_k_filter": lambda x, *_: xloss.top_k_filter(x, 3, axis=axis),
        "top_p_filter": lambda x, *_: xloss.top_p_filter(x, 0.9, axis=axis),
        "min_p_filter": lambda x, *_: xloss.min_p_filter(x, 0.1, axis=axis),
        "sample": lambda x, *_: xloss.sample(x, 0, top_k=4, num_samples=2, axis=axis),
        "sparse": lambda x, labels, *_: xloss.sparse_categorical_crossentropy(
            labels, x, from_logits=True, axis=axis
        ),
        "categorical": lambda x, _, one_hot, __: xloss.categorical_crossentropy(
            one_hot, x, from_logits=True, axis=axis
        ),
        "binary": lambda x, _, one_hot, __: xloss.binary_crossentropy(
            one_hot, x, from_logits=True, axis=axis
        ),
    }
    for reduction in REDUCTIONS:
        sparse = xloss.SparseCategoricalCrossentropy(True, axis=axis, reduction=reduction)
        categorical = xloss.CategoricalCrossentropy(True, axis=axis, reduction=reduction)
        calls[f"sparse-{reduction}"] = lambda x, labels, _, w, loss=sparse: loss(labels, x, w)
        calls[f"categorical-{reduction}"] = lambda x, _, t, w, loss=categorical: loss(t, x, w)
    if axis == -1:
        calls["sparse-accuracy"] = lambda x, labels, *_: xloss.sparse_top_k_categorical_accuracy(
            labels, x, k=3
        )
        calls["accuracy"] = lambda x, _, one_hot, __: xloss.top_k_categorical_accuracy(
            one_hot, x, k=3
        )
    return calls


@pytest.mark.parametrize(
    ("shape", "axis", "chunks"),
    [((0, C), -1, CHUNKS), ((0, C, 7), 1, (1, 11, 3)), ((3, 0, C), -1, (2, 1, 11))],
    ids=["batch-0", "batch-0-classes-in-the-middle", "length-0"],
)
def test_empty_batches_give_numpys_empty_results(shape, axis, chunks):
    """A batch of size 0 is fine (the class axis is not empty): NumPy's empty results, and
    NumPy's numbers for the reduced losses. Dask's own ``max`` of such an array fails when
    computed."""

    def without_the_class_axis(t: tuple[int, ...]) -> tuple[int, ...]:
        return t[: axis % len(t)] + t[axis % len(t) + 1 :]

    x = np.zeros(shape, np.float32)
    labels = np.zeros(without_the_class_axis(shape), np.int64)
    one_hot, weights = np.zeros(shape, np.float32), np.ones(labels.shape, np.float32)
    arrays = (x, labels, one_hot, weights)
    lazy_arrays = [lazy(x, chunks), lazy(labels, without_the_class_axis(chunks))]
    lazy_arrays += [lazy(one_hot, chunks), lazy(weights, without_the_class_axis(chunks))]
    calls = _empty_calls(axis)
    with never_computed():
        results = {name: call(*lazy_arrays) for name, call in calls.items()}
    cases = {}
    for name, call in calls.items():
        expected = call(*arrays)
        if isinstance(expected, tuple):  # top_k, top_k_softmax
            for i, (got, want) in enumerate(zip(results[name], expected)):
                cases[f"{name}-{i}"] = Expect(got, want, exact=True)
        else:
            cases[name] = Expect(results[name], expected, exact=True)
    check(cases)


KEPT = np.arange(N) % 3 != 0  # a boolean index of the batch: Dask does not know what it keeps


class Rows(NamedTuple):
    x: Any
    labels: Any
    soft: Any
    weights: Any


def kept_rows(unknown: str | None = None) -> Rows:
    """The rows of ``KEPT``, boolean-indexed lazily: ``unknown``'s length is unknown (``nan`` in
    its shape), the others' are known (computed with ``compute_chunk_sizes``)."""
    keep = lazy(KEPT)
    rows = {name: lazy(a)[keep] for name, a in zip(Rows._fields, (LOGITS, LABELS, SOFT, WEIGHTS))}
    return Rows(**{k: a if k == unknown else a.compute_chunk_sizes() for k, a in rows.items()})


NUMPY_ROWS = Rows(LOGITS[KEPT], LABELS[KEPT], SOFT[KEPT], WEIGHTS[KEPT])
UNKNOWN_LENGTHS = {  # (the argument of unknown length, its name, the call)
    "softmax": ("x", "x", lambda r: xloss.softmax(r.x)),
    "log_softmax": ("x", "x", lambda r: xloss.log_softmax(r.x)),
    "logsumexp": ("x", "x", lambda r: xloss.logsumexp(r.x)),
    "log_sigmoid": ("x", "x", lambda r: xloss.log_sigmoid(r.x)),
    "top_k": ("x", "x", lambda r: xloss.top_k(r.x, 3)),
    "top_k-axis0": ("x", "x", lambda r: xloss.top_k(r.x, 3, axis=0)),
    "top_k_softmax": ("x", "logits", lambda r: xloss.top_k_softmax(r.x, 3)),
    "apply_temperature": ("x", "logits", lambda r: xloss.apply_temperature(r.x, 0.7)),
    "top_k_filter": ("x", "logits", lambda r: xloss.top_k_filter(r.x, 3)),
    "top_p_filter": ("x", "logits", lambda r: xloss.top_p_filter(r.x, 0.9)),
    "min_p_filter": ("x", "logits", lambda r: xloss.min_p_filter(r.x, 0.1)),
    "sample": ("x", "logits", lambda r: xloss.sample(r.x, 0, top_k=1, num_samples=2)),
    "sparse": (
        "x",
        "y_pred",
        lambda r: xloss.sparse_categorical_crossentropy(r.labels, r.x, from_logits=True),
    ),
    "sparse-labels": (
        "labels",
        "y_true",
        lambda r: xloss.sparse_categorical_crossentropy(r.labels, r.x, from_logits=True),
    ),
    "categorical": (
        "x",
        "y_pred",
        lambda r: xloss.categorical_crossentropy(r.soft, r.x, from_logits=True),
    ),
    "categorical-targets": (
        "soft",
        "y_true",
        lambda r: xloss.categorical_crossentropy(r.soft, r.x, from_logits=True),
    ),
    "binary": ("x", "y_pred", lambda r: xloss.binary_crossentropy(r.soft, r.x, from_logits=True)),
    "loss-class": (
        "x",
        "y_pred",
        lambda r: xloss.SparseCategoricalCrossentropy(True, reduction="sum")(r.labels, r.x),
    ),
    "loss-class-weights": (
        "weights",
        "sample_weight",
        lambda r: xloss.SparseCategoricalCrossentropy(True)(r.labels, r.x, r.weights),
    ),
    "sparse-accuracy": (
        "x",
        "y_pred",
        lambda r: xloss.sparse_top_k_categorical_accuracy(r.labels, r.x, k=3),
    ),
    "accuracy": ("x", "y_pred", lambda r: xloss.top_k_categorical_accuracy(r.soft, r.x, k=3)),
}


@pytest.mark.parametrize(
    ("unknown", "argument", "call"), UNKNOWN_LENGTHS.values(), ids=UNKNOWN_LENGTHS
)
def test_unknown_lengths_are_refused_when_called(unknown, argument, call):
    """An array of unknown length (``nan`` in its shape, after boolean indexing) is refused when
    the function is called, naming the argument; once ``compute_chunk_sizes`` has run, the
    result is lazy again and NumPy's for the same rows."""
    rows = kept_rows(unknown)
    shape = re.escape(str(getattr(rows, unknown).shape))
    message = (
        rf"^`{argument}` has unknown chunk sizes \(shape {shape}\).*`\.compute_chunk_sizes\(\)`"
    )
    with never_computed(), pytest.raises(ValueError, match=message):
        call(rows)
    known = kept_rows()
    with never_computed():
        result = call(known)
    expected = call(NUMPY_ROWS)
    pairs = zip(result, expected) if isinstance(expected, tuple) else [(result, expected)]
    check({f"{argument}-{i}": Expect(got, want) for i, (got, want) in enumerate(pairs)})


def test_diagnose_refuses_unknown_lengths():
    for unknown, argument in (("x", "y_pred"), ("labels", "y_true")):
        rows = kept_rows(unknown)
        with never_computed(), pytest.raises(ValueError, match=rf"^`{argument}` has unknown"):
            xloss.diagnose(rows.labels, rows.x)


def test_masked_arrays_are_refused():
    """Dask arrays of ``numpy.ma.MaskedArray`` blocks are refused, as NumPy's are: softmax
    honoured their mask, top_k and the label gather did not (a negative cross-entropy). Filled,
    they give NumPy's results for the filled array."""
    mask = np.zeros((N, C), bool)
    mask[:, ::4] = True
    masked = da.ma.masked_array(lazy(LOGITS), mask=lazy(mask))
    masked_labels = da.ma.masked_array(lazy(LABELS), mask=lazy(LABELS == 0))
    calls = {
        "x": [lambda: xloss.softmax(masked), lambda: xloss.top_k(masked, 3)],
        "logits": [lambda: xloss.sample(masked, 0), lambda: xloss.top_p_filter(masked, 0.9)],
        "y_pred": [
            lambda: xloss.sparse_categorical_crossentropy(lazy(LABELS), masked, from_logits=True),
            lambda: xloss.sparse_top_k_categorical_accuracy(lazy(LABELS), masked),
        ],
        "y_true": [
            lambda: xloss.sparse_categorical_crossentropy(masked_labels, lazy(LOGITS)),
        ],
    }
    for argument, refused in calls.items():
        for call in refused:
            message = rf"^`{argument}` is a Dask array of numpy.ma.MaskedArray blocks"
            with never_computed(), pytest.raises(TypeError, match=message):
                call()
    filled = np.ma.masked_array(LOGITS, mask).filled(-np.inf)
    with never_computed():
        result = xloss.softmax(da.ma.filled(masked, -np.inf))
    check({"filled": Expect(result, xloss.softmax(filled), ref.softmax(filled))})


# --- the graphs work block by block -----------------------------------------------------------


class LargestResult(dask.callbacks.Callback):
    """Records the largest array a task of ``graph`` returns in a (local, synchronous)
    computation; the final concatenation of the result's blocks is not part of ``graph``."""

    def __init__(self, graph):
        super().__init__()
        self.graph = graph
        self.largest = (0, None)

    def _posttask(self, key, result, dsk, state, worker_id):
        if key not in self.graph:
            return
        for array in result if isinstance(result, tuple) else (result,):
            if isinstance(array, np.ndarray) and array.size > self.largest[0]:
                self.largest = (array.size, (array.shape, array.dtype))


BLOCK = CHUNKS[0] * CHUNKS[1]
GRAPHS = {
    "sparse-logits": lambda x: xloss.sparse_categorical_crossentropy(
        lazy(LABELS), x, from_logits=True
    ),
    "sparse-probs": lambda x: xloss.sparse_categorical_crossentropy(lazy(LABELS), x),
    "sparse-class": lambda x: xloss.SparseCategoricalCrossentropy(from_logits=True)(
        lazy(LABELS), x
    ),
    "categorical": lambda x: xloss.categorical_crossentropy(lazy(SOFT), x, from_logits=True),
    "logsumexp": xloss.logsumexp,
    "softmax": xloss.softmax,
    "top_k": lambda x: xloss.top_k(x, 2)[1],  # merges (10, 2 x 5) candidates: rechunked
    "accuracy": lambda x: xloss.sparse_top_k_categorical_accuracy(lazy(LABELS), x),
}


@pytest.mark.parametrize("build", GRAPHS.values(), ids=GRAPHS)
def test_no_task_holds_more_than_one_block(build):
    """No one-hot, no row gathered: every intermediate is at most one (10, 11) block of the
    logits. Computed with the synchronous local scheduler, whose callbacks see every result."""
    result = build(lazy(LOGITS))
    rechunked = [name for name in result.dask.layers if name.startswith("rechunk")]
    assert not rechunked or build is GRAPHS["top_k"]
    recorder = LargestResult(result.dask)
    with recorder:
        result.compute(scheduler="sync")
    size, what = recorder.largest
    assert 0 < size <= BLOCK, f"a task returned {what}, more than one {CHUNKS} block"


def test_import_xloss_imports_no_dask():
    code = "import sys, xloss; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
