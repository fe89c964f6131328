"""Properties that hold for any input, checked with hypothesis on every backend."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
from checks import tolerance
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import xloss

# Arbitrary numbers sometimes look like probabilities (a row [0.5, 0.5] passed as logits): the
# from_logits heuristics are tested in test_value_checks.py, not here.
pytestmark = pytest.mark.filterwarnings("ignore::xloss.FromLogitsWarning")
TOL = tolerance("float32")
LOGITS = arrays(
    np.float32,
    st.tuples(st.integers(1, 6), st.integers(2, 7)),
    elements=st.floats(-30, 30, width=32),
)
SETTINGS = settings(max_examples=25, deadline=None)


@SETTINGS
@given(x=LOGITS)
def test_softmax_rows_sum_to_one(backend, x):
    p = backend.to_numpy(xloss.softmax(backend.asarray(x)))
    assert (p >= 0).all() and (p <= 1).all()
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=TOL, atol=TOL * x.shape[-1])


@SETTINGS
@given(x=LOGITS, shift=st.floats(-100, 100, width=32))
def test_shift_invariance(backend, x, shift):
    moved = (x + np.float32(shift)).astype(np.float32)
    a = backend.to_numpy(xloss.log_softmax(backend.asarray(x)))
    b = backend.to_numpy(xloss.log_softmax(backend.asarray(moved)))
    # x + shift is rounded in float32: allow the rounding of the shifted inputs.
    slack = TOL + 2 * np.finfo(np.float32).eps * (abs(shift) + np.abs(x).max())
    np.testing.assert_allclose(a, b, rtol=TOL, atol=slack)


@SETTINGS
@given(x=LOGITS, data=st.data())
def test_logits_and_softmax_output_give_the_same_loss(backend, x, data):
    """CE(from_logits=True, x) == CE(from_logits=False, softmax(x)) away from the 1e-7 clip."""
    y = data.draw(arrays(np.float32, x.shape, elements=st.floats(0, 1, width=32)))
    probs = ref.softmax(x)
    if not ((probs > 1e-6) & (probs < 1 - 1e-6)).all():
        return  # inside the clip region the probability form is capped by design
    from_logits = xloss.categorical_crossentropy(
        backend.asarray(y), backend.asarray(x), from_logits=True
    )
    from_probs = xloss.categorical_crossentropy(
        backend.asarray(y), xloss.softmax(backend.asarray(x))
    )
    scale = 1 + np.abs(backend.to_numpy(from_logits)).max()
    np.testing.assert_allclose(
        backend.to_numpy(from_probs),
        backend.to_numpy(from_logits),
        rtol=8 * TOL,
        atol=8 * TOL * scale,
    )


@SETTINGS
@given(x=LOGITS, data=st.data())
def test_losses_are_non_negative(backend, x, data):
    labels = data.draw(arrays(np.int64, x.shape[:-1], elements=st.integers(0, x.shape[-1] - 1)))
    targets = data.draw(arrays(np.float32, x.shape, elements=st.floats(0, 1, width=32)))
    b = backend.asarray(x)
    losses = [
        xloss.sparse_categorical_crossentropy(backend.asarray(labels), b, from_logits=True),
        xloss.categorical_crossentropy(backend.asarray(targets), b, from_logits=True),
        xloss.binary_crossentropy(backend.asarray(targets), b, from_logits=True),
    ]
    for loss in losses:
        values = backend.to_numpy(loss)
        assert np.isfinite(values).all()
        assert (values >= -TOL).all()


@SETTINGS
@given(x=LOGITS, data=st.data())
def test_backends_agree_with_numpy(backend, x, data):
    labels = data.draw(arrays(np.int64, x.shape[:-1], elements=st.integers(0, x.shape[-1] - 1)))
    ours = xloss.sparse_categorical_crossentropy(
        backend.asarray(labels), backend.asarray(x), from_logits=True
    )
    numpy_result = xloss.sparse_categorical_crossentropy(labels, x, from_logits=True)
    np.testing.assert_allclose(backend.to_numpy(ours), numpy_result, rtol=TOL, atol=TOL)


WIDE = arrays(
    np.float32,
    st.tuples(st.integers(1, 5), st.integers(2, 6)),
    elements=st.floats(-1e4, 1e4, width=32),
)


@SETTINGS
@given(x=WIDE, data=st.data())
def test_no_valid_finite_input_gives_nan(backend, x, data):
    """Finite logits up to +-1e4, and probabilities with exact zeros and ones: never nan."""
    labels = data.draw(arrays(np.int64, x.shape[:-1], elements=st.integers(0, x.shape[-1] - 1)))
    targets = data.draw(arrays(np.float32, x.shape, elements=st.sampled_from([0.0, 0.3, 1.0])))
    probs = data.draw(arrays(np.float32, x.shape, elements=st.sampled_from([0.0, 0.25, 1.0])))
    b, p, t = backend.asarray(x), backend.asarray(probs), backend.asarray(targets)
    losses = [
        xloss.sparse_categorical_crossentropy(backend.asarray(labels), b, from_logits=True),
        xloss.categorical_crossentropy(t, b, from_logits=True, label_smoothing=0.1),
        xloss.binary_crossentropy(t, b, from_logits=True),
        xloss.sparse_categorical_crossentropy(backend.asarray(labels), p),
        xloss.categorical_crossentropy(t, p),
        xloss.binary_crossentropy(t, p),
        xloss.softmax(b),
        xloss.log_softmax(b),
    ]
    for loss in losses:
        assert not np.isnan(backend.to_numpy(loss)).any()
