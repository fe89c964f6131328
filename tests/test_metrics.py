"""Top-K accuracy against Keras 3 (ties included) and a float64 NumPy reference, on every backend.

xloss runs on each backend; Keras runs on the same NumPy data on its TensorFlow backend, which
accepts float32 predictions only. The reference below is written from TensorFlow's ``in_top_k``
rule: the label is in the top k iff fewer than k classes score strictly higher; a row with a
non-finite score, or a label outside [0, C), is not.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from backends import FLOAT_DTYPES, need

from xloss._metrics import sparse_top_k_categorical_accuracy, top_k_categorical_accuracy

RNG = np.random.default_rng(20260311)
C = 8

RANDOM_SCORES = RNG.normal(size=(24, C)).astype(np.float32)
RANDOM_LABELS = RNG.integers(0, C, size=24)
# Integer-valued scores from a small set: ties at every rank, the k-th place included.
TIED_SCORES = RNG.integers(0, 4, size=(64, C)).astype(np.float32)
TIED_LABELS = RNG.integers(0, C, size=64)
CRAFTED_SCORES = np.array(
    [
        [0.9, 0.5, 0.5, 0.1, 0.0, 0.0, 0.0, 0.0],  # classes 1 and 2 tie at 2nd place
        [0.9, 0.5, 0.5, 0.1, 0.0, 0.0, 0.0, 0.0],
        [0.1, 0.5, 0.5, 0.5, 0.2, 0.0, 0.0, 0.0],  # three-way tie at the top
        [0.1, 0.5, 0.5, 0.5, 0.2, 0.0, 0.0, 0.0],
        [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3],  # all tied: in the top 1
        [0.0, -0.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0],  # -0.0 ties with 0.0
        [-0.0, 0.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0],
        [1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 4.0],  # label 7 ties at 4th place
    ],
    np.float32,
)
CRAFTED_LABELS = np.array([2, 1, 3, 4, 7, 1, 0, 7])
NONFINITE_SCORES = np.array(
    [
        [0.1, np.nan, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],  # NaN at the label
        [np.nan, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],  # NaN elsewhere
        [0.1, np.inf, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],  # +inf at the label
        [np.inf, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],  # +inf elsewhere
        [0.1, -np.inf, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],  # -inf at the label
        [-np.inf, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],  # -inf elsewhere
        [0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],  # finite
    ],
    np.float32,
)
NONFINITE_LABELS = np.ones(7, np.int64)
OUT_OF_RANGE_LABELS = np.array([-1, C, C + 5, -100, 0, 3, 2, 1])
FLOAT_LABELS = np.array([1.7, 2.7, -0.5, 0.0, np.nan, np.inf, 3e9, 7.0], np.float32)

SPARSE_CASES = {
    "random": (RANDOM_LABELS, RANDOM_SCORES),
    "ties": (TIED_LABELS, TIED_SCORES),
    "crafted-ties": (CRAFTED_LABELS, CRAFTED_SCORES),
    "labels-n-by-1": (TIED_LABELS[:, None], TIED_SCORES),
    "3d": (TIED_LABELS.reshape(8, 8), TIED_SCORES.reshape(8, 8, C)),
    "non-finite-scores": (NONFINITE_LABELS, NONFINITE_SCORES),
    "labels-out-of-range": (OUT_OF_RANGE_LABELS, CRAFTED_SCORES),
    "float-labels": (FLOAT_LABELS, CRAFTED_SCORES),
    "int32-labels": (TIED_LABELS.astype(np.int32), TIED_SCORES),
}
# k = 1, the tie-rich middle, k = C and k > C (allowed, as in Keras).
KS = [1, 2, 3, 5, C, C + 3]


def _one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(C, dtype=np.float32)[labels]


SOFT_TIED = np.array(
    [
        [0.0, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0],  # the first of the tied maxima: class 1
        [0.2, 0.0, 0.2, 0.0, 0.2, 0.0, 0.2, 0.2],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # all zero: class 0
        [0.0, np.nan, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # NaN is skipped: class 2
        [np.nan, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # NaN first, zeros after: class 1
        [np.nan] * C,  # all NaN: class 0
        [-1.0, -2.0, -3.0, -1.0, -5.0, -6.0, -7.0, -8.0],
        [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.3],
    ],
    np.float32,
)
# Class 0 scores highest, class 7 lowest: which class the argmax of a target picks shows.
DESCENDING_SCORES = np.tile(np.arange(C, 0, -1), (len(SOFT_TIED), 1)).astype(np.float32)
CATEGORICAL_CASES = {
    "random-one-hot": (_one_hot(RANDOM_LABELS), RANDOM_SCORES),
    "ties-one-hot": (_one_hot(TIED_LABELS), TIED_SCORES),
    "crafted-ties-one-hot": (_one_hot(CRAFTED_LABELS), CRAFTED_SCORES),
    "soft-and-tied-targets": (SOFT_TIED, DESCENDING_SCORES),
    "3d-one-hot": (_one_hot(TIED_LABELS).reshape(8, 8, C), TIED_SCORES.reshape(8, 8, C)),
    "non-finite-scores": (_one_hot(NONFINITE_LABELS), NONFINITE_SCORES),
    "integer-one-hot": (_one_hot(TIED_LABELS).astype(np.int64), TIED_SCORES),
    "boolean-one-hot": (_one_hot(TIED_LABELS).astype(bool), TIED_SCORES),
}


# --- float64 references -----------------------------------------------------------------------


def ref_sparse(labels: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """TensorFlow's ``in_top_k``, one row at a time, in float64; shaped like ``labels``."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, np.float64)
    rows = scores.reshape(-1, scores.shape[-1])
    out = []
    for row, label in zip(rows, labels.reshape(-1)):
        label = float(label)  # floats are truncated toward zero, as a cast to int32 does
        c = int(np.trunc(label)) if np.isfinite(label) else -1
        inside = 0 <= c < row.size and bool(np.isfinite(row).all())
        out.append(float(inside and np.count_nonzero(row > row[c]) < k))
    return np.array(out, np.float64).reshape(labels.shape)


def ref_target_class(y_true: np.ndarray) -> np.ndarray:
    """``tf.argmax``: the first maximum, NaN skipped (an all-NaN row gives 0)."""
    y = np.asarray(y_true, np.float64)
    return np.argmax(np.where(np.isnan(y), -np.inf, y), axis=-1)


def ref_categorical(y_true: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    return ref_sparse(ref_target_class(y_true), scores, k)


def ref_sorted_ids(labels: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Whether the label is among the first k ids; labels take the ids' dtype first (float
    labels meeting integer ids are truncated toward zero; NaN and inf match nothing)."""
    labels = np.asarray(labels)
    flat = ids.reshape(-1, ids.shape[-1])[:, :k]
    out = []
    for label, row in zip(labels.reshape(-1).tolist(), flat.tolist()):
        if isinstance(label, float) and np.issubdtype(ids.dtype, np.integer):
            label = int(np.trunc(label)) if np.isfinite(label) else None
        out.append(float(label in row))
    return np.array(out, np.float64).reshape(labels.shape)


# --- helpers -----------------------------------------------------------------------------------


def assert_accuracy(backend, result, expected) -> None:
    """The backend's array type, float32 (as Keras returns), ``expected``'s shape and values."""
    assert isinstance(result, backend.array_types), type(result)
    assert result.dtype == backend.dtype_of("float32"), result.dtype
    held = backend.to_numpy(result)
    assert held.shape == np.shape(expected)
    np.testing.assert_array_equal(held, expected)


def keras_sparse(labels, scores, k, **kwargs) -> np.ndarray:
    keras = need("keras")
    return np.asarray(keras.metrics.sparse_top_k_categorical_accuracy(labels, scores, k, **kwargs))


def keras_categorical(y_true, scores, k) -> np.ndarray:
    keras = need("keras")
    return np.asarray(keras.metrics.top_k_categorical_accuracy(y_true, scores, k))


# --- against Keras and the reference -----------------------------------------------------------


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("case", SPARSE_CASES)
def test_sparse_matches_keras(backend, case, k):
    labels, scores = SPARSE_CASES[case]
    result = sparse_top_k_categorical_accuracy(backend.asarray(labels), backend.asarray(scores), k)
    expected = ref_sparse(labels, scores, k)
    assert_accuracy(backend, result, expected)
    keras_result = keras_sparse(labels, scores, k)
    assert keras_result.dtype == np.float32
    assert_accuracy(backend, result, keras_result)


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("case", CATEGORICAL_CASES)
def test_categorical_matches_keras(backend, case, k):
    y_true, scores = CATEGORICAL_CASES[case]
    result = top_k_categorical_accuracy(backend.asarray(y_true), backend.asarray(scores), k)
    assert_accuracy(backend, result, ref_categorical(y_true, scores, k))
    assert_accuracy(backend, result, keras_categorical(y_true, scores, k))


def test_negative_zero_target_ranks_below_zero_as_in_keras(backend):
    """Keras's ``argmax`` of the targets puts ``-0.0`` below ``0.0`` (it replaces it by minus
    the smallest normal number): ``[-0.0, 0.0, 0.0]`` targets class 1, not class 0."""
    y_true = np.array([[-0.0, 0.0, 0.0], [0.0, -0.0, -0.0], [-0.0, -0.0, -1e-3]])
    scores = np.array([[0.9, 0.05, 0.05], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]], np.float32)
    expected = keras_categorical(y_true.astype(np.float32), scores, 1)
    np.testing.assert_array_equal(expected, [0.0, 0.0, 0.0])
    for dtype in FLOAT_DTYPES[backend.name]:
        with backend.x64() if dtype == "float64" else contextlib.nullcontext():
            targets = backend.asarray(y_true, dtype)
            result = top_k_categorical_accuracy(targets, backend.asarray(scores), 1)
        assert_accuracy(backend, result, expected)


def test_the_tie_rule_by_hand(backend):
    """Every class tied with the k-th largest score is inside the top k."""
    scores = backend.asarray(np.array([[0.9, 0.5, 0.5, 0.1]] * 4, np.float32))
    labels = backend.asarray(np.array([0, 1, 2, 3]))
    for k, expected in [(1, [1, 0, 0, 0]), (2, [1, 1, 1, 0]), (3, [1, 1, 1, 0]), (4, [1] * 4)]:
        result = sparse_top_k_categorical_accuracy(labels, scores, k=k)
        assert_accuracy(backend, result, np.array(expected, np.float32))


SORTED_IDS = RNG.permuted(np.tile(np.arange(C), (24, 1)), axis=1)[:, :5]
SORTED_ID_CASES: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "integer-ids": (RANDOM_LABELS, SORTED_IDS),
    "labels-n-by-1": (RANDOM_LABELS[:, None], SORTED_IDS),
    "float-ids": (RANDOM_LABELS, SORTED_IDS.astype(np.float32)),
    "float-labels-integer-ids": (FLOAT_LABELS, SORTED_IDS[:8]),
    "repeated-ids": (np.array([2, 2, 3]), np.array([[2, 2, 1], [1, 1, 2], [0, 0, 0]])),
}


@pytest.mark.parametrize("k", [1, 3, 5, 9])
@pytest.mark.parametrize("case", SORTED_ID_CASES)
def test_sorted_ids_match_keras(backend, case, k):
    labels, ids = SORTED_ID_CASES[case]
    result = sparse_top_k_categorical_accuracy(
        backend.asarray(labels), backend.asarray(ids), k, from_sorted_ids=True
    )
    assert_accuracy(backend, result, ref_sorted_ids(labels, ids, k))
    assert_accuracy(backend, result, keras_sparse(labels, ids, k, from_sorted_ids=True))


def test_keras_backends_agree_on_finite_ties():
    """The tie rule matched here is Keras's on all of its backends, not TensorFlow's alone:
    each backend's ``in_top_k`` (called directly) agrees with xloss on finite, tie-rich scores.
    (On non-finite scores and out-of-range labels they disagree; xloss follows TensorFlow.)"""
    need("keras")
    torch = need("torch")
    import keras.src.backend as active

    # Importing a backend package sets it as an attribute of keras.src.backend, hiding the
    # active backend's module of the same name (`numpy`) from every later Keras call.
    saved = {name: getattr(active, name) for name in ("jax", "numpy", "tensorflow", "torch")
             if hasattr(active, name)}  # fmt: skip
    from keras.src.backend.jax import math as jax_math
    from keras.src.backend.numpy import math as numpy_math
    from keras.src.backend.tensorflow import math as tf_math
    from keras.src.backend.torch import math as torch_math

    for name in ("jax", "numpy", "tensorflow", "torch"):
        if name in saved:
            setattr(active, name, saved[name])
        else:
            delattr(active, name)

    scores = np.concatenate([TIED_SCORES, CRAFTED_SCORES])
    labels = np.concatenate([TIED_LABELS, CRAFTED_LABELS]).astype(np.int32)
    for k in KS[:-1]:  # torch.topk refuses k > C
        ours = sparse_top_k_categorical_accuracy(labels, scores, k)
        theirs = {
            "tensorflow": tf_math.in_top_k(labels, scores, k),
            "jax": jax_math.in_top_k(labels, scores, k),
            "numpy": numpy_math.in_top_k(labels, scores, k),
            "torch": torch_math.in_top_k(torch.from_numpy(labels), torch.from_numpy(scores), k),
        }
        for name, result in theirs.items():
            np.testing.assert_array_equal(ours, np.asarray(result, np.float32), err_msg=name)


# --- dtypes, types and shapes ------------------------------------------------------------------


def test_every_dtype_is_compared_exactly(backend):
    """Scores are compared in their own dtype: ties created by rounding to float16 are ties."""
    dtypes = [*FLOAT_DTYPES[backend.name], "int32", "int64"]
    for dtype in dtypes:
        wide = dtype in ("float64", "int64")
        with backend.x64() if wide else contextlib.nullcontext():
            source = TIED_SCORES * 3 if dtype.startswith("int") else RANDOM_SCORES * 1e-3 + 1
            scores = backend.asarray(source, dtype)
            held = backend.to_numpy(scores).astype(np.float64)
            labels = RANDOM_LABELS if len(source) == len(RANDOM_LABELS) else TIED_LABELS
            for k in (1, 3):
                sparse = sparse_top_k_categorical_accuracy(backend.asarray(labels), scores, k)
                assert_accuracy(backend, sparse, ref_sparse(labels, held, k))
                one_hot = backend.asarray(_one_hot(labels))
                categorical = top_k_categorical_accuracy(one_hot, scores, k)
                assert_accuracy(backend, categorical, ref_sparse(labels, held, k))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64"])
def test_unsigned_labels(backend, dtype):
    """Unsigned labels (torch compares no uint16-64) are class indices like any other; labels
    past the classes, the dtype's maximum included, are outside."""
    outside = np.array([C, np.iinfo(dtype).max], dtype)
    labels = np.concatenate([CRAFTED_LABELS.astype(dtype), outside])
    scores = np.concatenate([CRAFTED_SCORES, CRAFTED_SCORES[:2]])
    with backend.x64() if dtype == "uint64" else contextlib.nullcontext():  # JAX needs x64
        for k in (1, 2, C):
            result = sparse_top_k_categorical_accuracy(
                backend.asarray(labels), backend.asarray(scores), k
            )
            assert_accuracy(backend, result, ref_sparse(labels, scores, k))


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64"])
def test_unsigned_scores_and_targets(backend, dtype):
    """Unsigned scores and one-hot targets (torch has no comparison and no ``argmax`` for
    uint16-64) are ranked by value, ties counted, the top bit included (values from
    ``2**(bits - 1)`` up, which a signed view would put below the others)."""
    top = 1 << (np.iinfo(dtype).bits - 1)
    base = TIED_SCORES.astype(np.int64) * 3
    scores = (base + (top - 8 if dtype != "uint8" else 100)).astype(dtype)
    scores[::3, 0] = top + 1  # past the top bit, above the rest
    held = np.unique(scores, return_inverse=True)[1].reshape(scores.shape)  # ranks, exact
    labels = TIED_LABELS
    with backend.x64() if dtype == "uint64" else contextlib.nullcontext():  # JAX needs x64
        for k in (1, 2, 3):
            sparse = sparse_top_k_categorical_accuracy(
                backend.asarray(labels), backend.asarray(scores), k
            )
            assert_accuracy(backend, sparse, ref_sparse(labels, held, k))
            one_hot = backend.asarray(_one_hot(labels).astype(dtype))
            categorical = top_k_categorical_accuracy(one_hot, backend.asarray(scores), k)
            assert_accuracy(backend, categorical, ref_sparse(labels, held, k))


def test_result_shapes(backend):
    scores = backend.asarray(TIED_SCORES)
    assert tuple(sparse_top_k_categorical_accuracy(backend.asarray(TIED_LABELS), scores).shape) == (
        64,
    )
    n_by_1 = sparse_top_k_categorical_accuracy(backend.asarray(TIED_LABELS[:, None]), scores)
    assert tuple(n_by_1.shape) == (64, 1)
    one_hot = backend.asarray(_one_hot(TIED_LABELS))
    assert tuple(top_k_categorical_accuracy(one_hot, scores).shape) == (64,)


def test_python_lists():
    """Lists are accepted (NumPy results), as Keras accepts them."""
    scores = [[0.1, 0.5, 0.5, 0.5, 0.2], [0.4, 0.3, 0.2, 0.1, 0.0]]
    result = sparse_top_k_categorical_accuracy([3, 2], scores, k=1)
    assert isinstance(result, np.ndarray) and result.dtype == np.float32
    np.testing.assert_array_equal(result, [1.0, 0.0])
    result = top_k_categorical_accuracy([[0, 0, 0, 1, 0], [0, 0, 1, 0, 0]], scores, k=3)
    np.testing.assert_array_equal(result, [1.0, 1.0])


# --- bad input ---------------------------------------------------------------------------------

BOTH = {
    "sparse": lambda b, k: sparse_top_k_categorical_accuracy(
        b.asarray(TIED_LABELS), b.asarray(TIED_SCORES), k
    ),
    "categorical": lambda b, k: top_k_categorical_accuracy(
        b.asarray(_one_hot(TIED_LABELS)), b.asarray(TIED_SCORES), k
    ),
}


@pytest.mark.parametrize(
    ("k", "error", "message"),
    [
        (0, ValueError, r"`k`=0 is out of range: it must be at least 1"),
        (-2, ValueError, r"`k`=-2 is out of range"),
        (2.0, TypeError, r"`k` must be an int; received 2.0"),
        (True, TypeError, r"`k` must be an int"),
        (None, TypeError, r"`k` must be an int; received None"),
    ],
    ids=["zero", "negative", "float", "bool", "none"],
)
@pytest.mark.parametrize("function", BOTH)
def test_bad_k(backend, function, k, error, message):
    with pytest.raises(error, match=message):
        BOTH[function](backend, k)


@pytest.mark.parametrize(
    ("labels", "scores"),
    [
        (TIED_LABELS[:10], TIED_SCORES),
        (TIED_LABELS[:, None, None], TIED_SCORES),
        (TIED_LABELS.reshape(8, 8), TIED_SCORES),
        (TIED_LABELS, TIED_SCORES.reshape(8, 8, C)),
    ],
    ids=["fewer-labels", "n-by-1-by-1", "2d-labels", "3d-scores"],
)
def test_sparse_shape_mismatch(backend, labels, scores):
    with pytest.raises(ValueError, match=r"`y_true` must have the shape of `y_pred` without its"):
        sparse_top_k_categorical_accuracy(backend.asarray(labels), backend.asarray(scores))


@pytest.mark.parametrize(
    "y_true",
    [_one_hot(TIED_LABELS)[:, :-1], _one_hot(TIED_LABELS)[:10], TIED_LABELS.astype(np.float32)],
    ids=["fewer-classes", "fewer-rows", "sparse-labels"],
)
def test_categorical_shape_mismatch(backend, y_true):
    """Keras silently takes the argmax of a mismatched ``y_true``; xloss refuses it."""
    with pytest.raises(ValueError, match=r"`y_true` and `y_pred` must have the same shape"):
        top_k_categorical_accuracy(backend.asarray(y_true), backend.asarray(TIED_SCORES))


def test_bad_dtypes_and_ranks(backend):
    scores, labels = backend.asarray(TIED_SCORES), backend.asarray(TIED_LABELS)
    with pytest.raises(TypeError, match=r"`y_pred` must be a real array of scores .*bool"):
        sparse_top_k_categorical_accuracy(labels, backend.asarray(TIED_SCORES > 1))
    with pytest.raises(TypeError, match=r"`y_true` must hold class indices .*bool"):
        sparse_top_k_categorical_accuracy(backend.asarray(TIED_LABELS > 1), scores)
    with pytest.raises(TypeError, match=r"`y_pred` must be a real array of scores .*bool"):
        top_k_categorical_accuracy(
            backend.asarray(_one_hot(TIED_LABELS)), backend.asarray(TIED_SCORES > 1)
        )
    with pytest.raises(ValueError, match=r"`y_pred` must have at least one dimension"):
        sparse_top_k_categorical_accuracy(backend.asarray(0), backend.asarray(np.float32(1.0)))
    with pytest.raises(TypeError, match=r"`from_sorted_ids` must be True or False"):
        sparse_top_k_categorical_accuracy(labels, scores, 5, 1)  # type: ignore[arg-type]


def test_mixed_frameworks_are_refused():
    torch = need("torch")
    with pytest.raises(TypeError, match=r"arrays from two frameworks"):
        sparse_top_k_categorical_accuracy(torch.asarray(TIED_LABELS), TIED_SCORES)


# --- compiled ----------------------------------------------------------------------------------


@pytest.mark.backends("jax", "tensorflow", "torch")
@pytest.mark.parametrize(
    "case", ["crafted-ties", "labels-n-by-1", "non-finite-scores", "labels-out-of-range"]
)
def test_sparse_compiled(backend, case):
    labels, scores = SPARSE_CASES[case]
    fn = backend.compile(lambda t, x: sparse_top_k_categorical_accuracy(t, x, 2), labels, scores)
    for rows in (slice(None), slice(0, 3)):  # a second batch size: torch recompiles dynamic
        t, x = labels[rows], scores[rows]
        result = fn(backend.asarray(t), backend.asarray(x))
        assert_accuracy(backend, result, ref_sparse(t, x, 2))


@pytest.mark.backends("jax", "tensorflow", "torch")
@pytest.mark.parametrize("case", ["crafted-ties-one-hot", "soft-and-tied-targets"])
def test_categorical_compiled(backend, case):
    y_true, scores = CATEGORICAL_CASES[case]
    fn = backend.compile(lambda t, x: top_k_categorical_accuracy(t, x, 2), y_true, scores)
    for rows in (slice(None), slice(0, 3)):
        t, x = y_true[rows], scores[rows]
        result = fn(backend.asarray(t), backend.asarray(x))
        assert_accuracy(backend, result, ref_categorical(t, x, 2))


@pytest.mark.backends("jax", "tensorflow", "torch")
def test_sorted_ids_compiled(backend):
    labels, ids = SORTED_ID_CASES["labels-n-by-1"]

    def fn(t, x):
        return sparse_top_k_categorical_accuracy(t, x, 3, from_sorted_ids=True)

    compiled = backend.compile(fn, labels, ids)
    for rows in (slice(None), slice(0, 3)):
        t, x = labels[rows], ids[rows]
        result = compiled(backend.asarray(t), backend.asarray(x))
        assert_accuracy(backend, result, ref_sorted_ids(t, x, 3))
