"""The losses against the frameworks' own functions: torch.nn.functional, optax and tf.nn.

Each oracle runs once on the NumPy data; xloss runs on every backend. Extreme (+-1e4) and
-inf-masked logits are where naive implementations break.
"""

from __future__ import annotations

import data as d
import numpy as np
import pytest
import reference as ref
from backends import need
from checks import assert_result

import xloss

EXTREME = np.array(
    [[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, -1e4, 1e4], [0.0, 1.0, 2.0, 3.0]],
    np.float32,
)
EXTREME_LABELS = np.array([1, 3, 2, 0])
MASKED = d.LOGITS[:, :4].copy()
MASKED[:, 2] = -np.inf
MASKED[0, [0, 1]] = -np.inf
MASKED_LABELS = np.array([3, 0, 1, 3, 0, 1, 3, 0])


def _torch():
    return need("torch")


def _numpy_of(tensor) -> np.ndarray:
    return tensor.detach().numpy().astype(np.float64)


@pytest.mark.parametrize(
    ("logits", "labels"),
    [(d.LOGITS, d.LABELS), (EXTREME, EXTREME_LABELS), (MASKED, MASKED_LABELS)],
    ids=["random", "extreme-1e4", "masked-inf"],
)
def test_sparse_matches_torch_cross_entropy(backend, logits, labels):
    torch = _torch()
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits), torch.from_numpy(labels), reduction="none"
    )
    out = xloss.sparse_categorical_crossentropy(
        backend.asarray(labels), backend.asarray(logits), from_logits=True
    )
    assert_result(backend, out, _numpy_of(expected))
    assert np.isfinite(backend.to_numpy(out)).all()


def test_torch_layout_class_axis_1(backend):
    """(N, C, L) logits with (N, L) labels and ignore_index, as torch takes them."""
    torch = _torch()
    labels = d.LABELS_3D.copy()
    labels[1, 2] = -100
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(d.LOGITS_3D), torch.from_numpy(labels), reduction="none"
    )
    out = xloss.sparse_categorical_crossentropy(
        backend.asarray(labels),
        backend.asarray(d.LOGITS_3D),
        from_logits=True,
        axis=1,
        ignore_class=-100,
    )
    assert_result(backend, out, _numpy_of(expected))
    mean = xloss.SparseCategoricalCrossentropy(from_logits=True, axis=1, ignore_class=-100)
    torch_mean = torch.nn.functional.cross_entropy(
        torch.from_numpy(d.LOGITS_3D), torch.from_numpy(labels)
    )
    assert_result(
        backend, mean(backend.asarray(labels), backend.asarray(d.LOGITS_3D)), _numpy_of(torch_mean)
    )


def test_categorical_matches_torch_probability_targets(backend):
    torch = _torch()
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(d.LOGITS_3D),
        torch.from_numpy(d.SOFT_3D),
        reduction="none",
        label_smoothing=0.1,
    )
    out = xloss.categorical_crossentropy(
        backend.asarray(d.SOFT_3D),
        backend.asarray(d.LOGITS_3D),
        from_logits=True,
        axis=1,
        label_smoothing=0.1,
    )
    assert_result(backend, out, _numpy_of(expected))


def test_binary_from_logits_matches_torch(backend):
    torch = _torch()
    logits = np.concatenate([d.BINARY_LOGITS, np.array([[1e4, -1e4, 0.0]], np.float32)])
    targets = np.concatenate([d.BINARY_SOFT, np.array([[0.0, 0.0, 1.0]], np.float32)])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(logits), torch.from_numpy(targets), reduction="none"
    ).mean(-1)
    out = xloss.binary_crossentropy(
        backend.asarray(targets), backend.asarray(logits), from_logits=True
    )
    assert_result(backend, out, _numpy_of(expected))
    assert np.isfinite(backend.to_numpy(out)).all()


def test_matches_optax(backend):
    optax = need("optax")
    cases = [
        (
            xloss.categorical_crossentropy(
                backend.asarray(d.SOFT), backend.asarray(d.LOGITS), from_logits=True
            ),
            optax.softmax_cross_entropy(d.LOGITS, d.SOFT),
        ),
        (
            xloss.sparse_categorical_crossentropy(
                backend.asarray(d.LABELS), backend.asarray(d.LOGITS), from_logits=True
            ),
            optax.softmax_cross_entropy_with_integer_labels(d.LOGITS, d.LABELS),
        ),
        (
            xloss.binary_crossentropy(
                backend.asarray(d.BINARY_SOFT), backend.asarray(d.BINARY_LOGITS), from_logits=True
            ),
            optax.sigmoid_binary_cross_entropy(d.BINARY_LOGITS, d.BINARY_SOFT).mean(-1),
        ),
    ]
    for ours, theirs in cases:
        assert_result(backend, ours, np.asarray(theirs, np.float64))


def test_masked_logits_with_zero_targets_match_optax_safe(backend):
    """A -inf logit with zero target mass adds 0 (optax's safe_softmax_cross_entropy)."""
    optax = need("optax")
    targets = np.eye(4, dtype=np.float32)[MASKED_LABELS]
    targets[1] = [0.5, 0.5, 0.0, 0.0]
    out = xloss.categorical_crossentropy(
        backend.asarray(targets), backend.asarray(MASKED), from_logits=True
    )
    expected = np.asarray(optax.safe_softmax_cross_entropy(MASKED, targets), np.float64)
    assert_result(backend, out, expected)
    assert_result(backend, out, ref.categorical(targets, MASKED, from_logits=True))
    assert np.isfinite(backend.to_numpy(out)).all()


def test_positive_target_on_masked_class_is_infinite(backend):
    y_true = np.array([[0.0, 0.0, 1.0, 0.0]], np.float32)
    out = xloss.categorical_crossentropy(
        backend.asarray(y_true), backend.asarray(MASKED[:1]), from_logits=True
    )
    assert backend.to_numpy(out)[0] == np.inf


def test_matches_tf_nn(backend):
    tf = need("tensorflow")
    cases = [
        (
            xloss.categorical_crossentropy(
                backend.asarray(d.SOFT), backend.asarray(d.LOGITS), from_logits=True
            ),
            tf.nn.softmax_cross_entropy_with_logits(labels=d.SOFT, logits=d.LOGITS),
        ),
        (
            xloss.sparse_categorical_crossentropy(
                backend.asarray(EXTREME_LABELS), backend.asarray(EXTREME), from_logits=True
            ),
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=EXTREME_LABELS, logits=EXTREME),
        ),
        (
            xloss.binary_crossentropy(
                backend.asarray(d.BINARY_SOFT), backend.asarray(d.BINARY_LOGITS), from_logits=True
            ),
            tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(
                    labels=d.BINARY_SOFT, logits=d.BINARY_LOGITS
                ),
                axis=-1,
            ),
        ),
    ]
    for ours, theirs in cases:
        assert_result(backend, ours, theirs.numpy().astype(np.float64))
