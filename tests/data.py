"""Deterministic float32 inputs for the loss cases (the same arrays on every backend)."""

from __future__ import annotations

import numpy as np

RNG = np.random.default_rng(20261126)
N, C = 8, 5


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


LOGITS = RNG.normal(scale=2.0, size=(N, C)).astype(np.float32)
PROBS = _softmax(LOGITS).astype(np.float32)
UNNORMALISED = RNG.uniform(0.1, 3.0, size=(N, C)).astype(np.float32)
PROBS_WITH_ZEROS = PROBS.copy()
PROBS_WITH_ZEROS[::2, 1] = 0.0
PROBS_WITH_ZEROS[1, :] = np.array([1.0, 0.0, 0.0, 0.0, 0.0], np.float32)
LABELS = RNG.integers(0, C, size=N)
LABELS[1] = 1  # a sample whose predicted probability for its label is exactly 0
ONE_HOT = np.eye(C, dtype=np.float32)[LABELS]
SOFT = RNG.dirichlet(np.ones(C), size=N).astype(np.float32)
IGNORED = LABELS.copy()
IGNORED[[2, 5]] = -1

# torch layout: (batch, classes, length), class axis 1
LOGITS_3D = RNG.normal(scale=2.0, size=(3, C, 4)).astype(np.float32)
PROBS_3D = _softmax(LOGITS_3D, axis=1).astype(np.float32)
LABELS_3D = RNG.integers(0, C, size=(3, 4))
IGNORED_3D = LABELS_3D.copy()
IGNORED_3D[0, 1] = IGNORED_3D[2, 3] = 7
SOFT_3D = np.moveaxis(RNG.dirichlet(np.ones(C), size=(3, 4)), -1, 1).astype(np.float32)

BINARY_LOGITS = RNG.normal(scale=3.0, size=(N, 3)).astype(np.float32)
BINARY_PROBS = (1 / (1 + np.exp(-BINARY_LOGITS))).astype(np.float32)
BINARY_PROBS_EDGES = BINARY_PROBS.copy()
BINARY_PROBS_EDGES[0] = [0.0, 1.0, 0.5]
BINARY_TARGETS = RNG.integers(0, 2, size=(N, 3)).astype(np.float32)
BINARY_SOFT = RNG.uniform(size=(N, 3)).astype(np.float32)
BINARY_LOGITS_3D = RNG.normal(scale=3.0, size=(3, 4, 5)).astype(np.float32)
BINARY_TARGETS_3D = RNG.integers(0, 2, size=(3, 4, 5)).astype(np.float32)

SAMPLE_WEIGHT = RNG.uniform(0.0, 2.0, size=N).astype(np.float32)
SAMPLE_WEIGHT_3D = RNG.uniform(0.0, 2.0, size=(3, 4)).astype(np.float32)
