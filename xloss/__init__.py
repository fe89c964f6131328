"""xloss: softmax and the cross-entropy family, once, for every array library.

One Array-API implementation with Keras 3's ``from_logits`` semantics that runs on the caller's
arrays (NumPy, JAX, PyTorch, TensorFlow, or any Array-API library) and returns the caller's
array type, dtype and device. Importing xloss imports no framework.
"""

from xloss._activations import log_sigmoid, log_softmax, logsumexp, softmax
from xloss._checks import FromLogitsWarning, value_checks
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
from xloss._topk import TopK, top_k

__version__ = "0.1.0"

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "FromLogitsWarning",
    "Loss",
    "SparseCategoricalCrossentropy",
    "TopK",
    "__version__",
    "binary_crossentropy",
    "categorical_crossentropy",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "softmax",
    "sparse_categorical_crossentropy",
    "top_k",
    "value_checks",
]
