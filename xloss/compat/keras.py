"""Keras 3's loss API on any backend's arrays, without importing Keras.

The names, arguments, defaults and numbers of ``keras.losses``: probabilities renormalised and
clipped to ``[1e-7, 1 - 1e-7]``, the binary loss averaged over the last axis, label smoothing
towards ``1/C`` (categorical) or ``0.5`` (binary), and the reductions ``"sum_over_batch_size"``,
``"sum"``, ``"mean"``, ``"mean_with_sample_weight"`` and ``None``. The cross-entropies are
xloss's own (xloss follows Keras by default); the focal losses are Keras's formulas step by step.

Examples:
    >>> import numpy as np
    >>> from xloss.compat import keras
    >>> y_true = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> y_pred = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    >>> round(float(keras.CategoricalCrossentropy()(y_true, y_pred)), 4)
    1.1769
"""

from __future__ import annotations

from xloss._focal import (
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    binary_focal_crossentropy,
    categorical_focal_crossentropy,
)
from xloss._loss_classes import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    SparseCategoricalCrossentropy,
)
from xloss._losses import (
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)

__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "Loss",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
]
