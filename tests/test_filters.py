"""Logit filters against a float64 rendering of HuggingFace's warpers, on every backend."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from checks import assert_result, tolerance

import xloss

RNG = np.random.default_rng(11)
LOGITS = RNG.normal(scale=2.0, size=(6, 50)).astype(np.float32)
TIED = np.array([[1.0, 3.0, 2.0, 3.0, 3.0, -1.0], [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]], np.float32)


def _assert_filtered(backend, out, expected):
    """Same removed positions, and kept logits unchanged."""
    got = backend.to_numpy(out).astype(np.float64)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(expected))
    np.testing.assert_allclose(got, expected, rtol=tolerance("float32"))


@pytest.mark.parametrize("k", [1, 5, 50])
def test_top_k_filter_matches_hf(backend, k):
    _assert_filtered(
        backend, xloss.top_k_filter(backend.asarray(LOGITS), k), ref.hf_top_k(LOGITS, k)
    )


def test_top_k_filter_ties_at_the_threshold_survive(backend):
    for k in (1, 2, 3):
        out = xloss.top_k_filter(backend.asarray(TIED), k)
        _assert_filtered(backend, out, ref.hf_top_k(TIED, k))
    assert np.isfinite(backend.to_numpy(xloss.top_k_filter(backend.asarray(TIED), 1))[0]).sum() == 3


def test_top_k_filter_with_nan_matches_hf(backend):
    """HuggingFace removes what is below the K-th largest (NaN ranking first, as torch.topk
    ranks it): a NaN is never below it, and a NaN threshold removes nothing. Keeping what is at
    or above it instead removed the NaN, or, with K NaNs, the whole row."""
    x = np.array(
        [[np.nan, 1.0, 2.0, 0.5], [np.nan, np.nan, 1.0, 0.0], [3.0, np.nan, -1.0, 2.0]],
        np.float32,
    )
    for k in (1, 2, 3):
        _assert_filtered(backend, xloss.top_k_filter(backend.asarray(x), k), ref.hf_top_k(x, k))


@pytest.mark.parametrize("min_keep", [1, 3])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.9, 0.999])
def test_top_p_filter_matches_hf(backend, p, min_keep):
    out = xloss.top_p_filter(backend.asarray(LOGITS), p, min_keep=min_keep)
    _assert_filtered(backend, out, ref.hf_top_p(LOGITS, p, min_tokens_to_keep=min_keep))


def test_top_p_of_one_keeps_everything(backend):
    """Also behind a dominant token, where the mass above the others rounds to 1 in float32."""
    dominant = np.zeros((1, 50), np.float32)
    dominant[0, 7] = 40.0
    for x in (LOGITS, dominant):
        out = xloss.top_p_filter(backend.asarray(x), 1.0)
        np.testing.assert_array_equal(backend.to_numpy(out), x)


INF = np.inf
# TIED's softmax: row 0, 0.284 for each 3, 0.104, 0.038, 0.005; row 1, 0.288 for each 1 and
# 0.106 for each 0. Ranked best first, equal logits by index, the mass above each token is
# 0, 0.284, 0.568, ... (row 0: indices 1, 3, 4, 2, 0, 5) and 0, 0.288, 0.576, 0.682, 0.788,
# 0.894 (row 1: indices 4, 5, 0, 1, 2, 3).
TIED_TOP_P = {
    0.5: [[-INF, 3, -INF, 3, -INF, -INF], [-INF, -INF, -INF, -INF, 1, 1]],
    0.7: [[-INF, 3, -INF, 3, 3, -INF], [0, 0, -INF, -INF, 1, 1]],
}


@pytest.mark.parametrize("p", sorted(TIED_TOP_P))
def test_top_p_splits_ties_at_the_cutoff_by_index(backend, p):
    """The nucleus ends inside a run of equal logits: the lower indices stay (the rank order
    of `xloss.top_k`), eagerly and compiled; min-p's ``min_keep`` protects by the same
    order."""
    expected = np.array(TIED_TOP_P[p], np.float32)
    _assert_filtered(backend, xloss.top_p_filter(backend.asarray(TIED), p), expected)
    if backend.name in ("jax", "tensorflow", "torch"):  # TensorFlow: the row length unknown
        fn = backend.compile(lambda x: xloss.top_p_filter(x, p), TIED)
        _assert_filtered(backend, fn(backend.asarray(TIED)), expected)
    protected = xloss.min_p_filter(backend.asarray(TIED[1:]), 1.0, min_keep=3)
    _assert_filtered(backend, protected, np.array([[0, -INF, -INF, -INF, 1, 1]], np.float32))


@pytest.mark.parametrize("min_keep", [1, 4])
@pytest.mark.parametrize("p", [0.0, 0.05, 0.5, 1.0])
def test_min_p_filter_matches_hf(backend, p, min_keep):
    out = xloss.min_p_filter(backend.asarray(LOGITS), p, min_keep=min_keep)
    _assert_filtered(backend, out, ref.hf_min_p(LOGITS, p, min_tokens_to_keep=min_keep))


def test_filters_on_another_axis_and_fill_value(backend):
    x3 = np.stack([LOGITS[:3], LOGITS[3:]], axis=0).transpose(0, 2, 1).copy()  # (2, 50, 3)
    moved = np.moveaxis(x3, 1, -1)
    cases = [
        (xloss.top_k_filter(backend.asarray(x3), 4, axis=1), ref.hf_top_k(moved, 4)),
        (xloss.top_p_filter(backend.asarray(x3), 0.8, axis=1), ref.hf_top_p(moved, 0.8)),
        (xloss.min_p_filter(backend.asarray(x3), 0.1, axis=1), ref.hf_min_p(moved, 0.1)),
    ]
    for out, expected in cases:
        _assert_filtered(backend, out, np.moveaxis(expected, -1, 1))
    filled = xloss.top_k_filter(backend.asarray(LOGITS), 3, fill_value=-1e9)
    assert (backend.to_numpy(filled) == -1e9).sum() == LOGITS.size - 3 * len(LOGITS)


def test_composition_in_hf_order(backend):
    """temperature, then top-k, then top-p: as HuggingFace's generate applies them."""
    x = backend.asarray(LOGITS)
    ours = xloss.top_p_filter(xloss.top_k_filter(xloss.apply_temperature(x, 0.7), 10), 0.8)
    expected = ref.hf_top_p(ref.hf_top_k(LOGITS / np.float32(0.7), 10), 0.8)
    _assert_filtered(backend, ours, expected)


def test_top_k_softmax(backend):
    probs, indices = xloss.top_k_softmax(backend.asarray(LOGITS), 5, temperature=0.5)
    expected_values, expected_indices = ref.top_k(LOGITS, 5)
    np.testing.assert_array_equal(backend.to_numpy(indices), expected_indices)
    assert_result(backend, probs, ref.softmax(expected_values / 0.5))


def test_filters_keep_the_callers_type_and_dtype(backend):
    for out in (
        xloss.top_k_filter(backend.asarray(LOGITS), 3),
        xloss.top_p_filter(backend.asarray(LOGITS), 0.5),
        xloss.min_p_filter(backend.asarray(LOGITS), 0.5),
        xloss.apply_temperature(backend.asarray(LOGITS), 2.0),
    ):
        assert isinstance(out, backend.array_types) and out.dtype == backend.dtype_of("float32")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda x: xloss.top_p_filter(x, 1.5),
            ValueError,
            r"`p` must be in \[0, 1\]; received 1.5",
        ),
        (lambda x: xloss.min_p_filter(x, -0.1), ValueError, r"`p` must be in \[0, 1\]"),
        (lambda x: xloss.top_p_filter(x, 0.5, min_keep=0), ValueError, r"`min_keep`=0 is out"),
        (lambda x: xloss.top_k_filter(x, 51), ValueError, r"`k`=51 is out of range"),
        (lambda x: xloss.apply_temperature(x, 0.0), ValueError, r"`temperature` must be finite"),
        (lambda x: xloss.top_k_softmax(x, 2, temperature=-1), ValueError, r"`temperature`"),
    ],
    ids=["top_p", "min_p", "min_keep", "k", "temperature", "top_k_softmax-temperature"],
)
def test_bad_arguments(backend, call, error, message):
    with pytest.raises(error, match=message):
        call(backend.asarray(LOGITS))


@pytest.mark.backends("jax", "tensorflow", "torch")
def test_filters_compile(backend):
    fn = backend.compile(
        lambda x: xloss.min_p_filter(xloss.top_p_filter(xloss.top_k_filter(x, 10), 0.8), 0.05),
        LOGITS,
    )
    expected = ref.hf_min_p(ref.hf_top_p(ref.hf_top_k(LOGITS, 10), 0.8), 0.05)
    _assert_filtered(backend, fn(backend.asarray(LOGITS)), expected)


@pytest.mark.parametrize("vocabulary", [32000, 152064])
def test_top_p_running_total_does_not_drift_on_long_rows(backend, vocabulary):
    """Equal logits: the token count is the rule's exactly (the float64 reference's). A
    float32 running total drifts over a long row: NumPy, TensorFlow and array-api-strict kept
    136,992 of 152,064 at p = 0.9, 134 more than the rule, PyTorch and JAX; the total is
    accumulated in float64 now, as PyTorch's float32 ``cumsum`` does. JAX has float64 with x64
    on only (without, it can be a token off at an exact tie: documented in `_running_total`)."""
    import contextlib

    flat = np.zeros((2, vocabulary), np.float32)
    with backend.x64() if backend.name == "jax" else contextlib.nullcontext():
        for p in (0.5, 0.9):
            kept = np.isfinite(backend.to_numpy(xloss.top_p_filter(backend.asarray(flat), p)))
            expected = np.isfinite(ref.hf_top_p(flat, p)).sum(axis=-1)
            np.testing.assert_array_equal(kept.sum(axis=-1), expected)
