"""xloss: softmax and the cross-entropy family, once, for every array library.

One Array-API implementation with Keras 3's ``from_logits`` semantics that runs on the caller's
arrays (NumPy, JAX, PyTorch, TensorFlow, or any Array-API library) and returns the caller's
array type, dtype and device. Importing xloss imports no framework.
"""

from xloss import compat
from xloss._activations import log_sigmoid, log_softmax, logsumexp, softmax
from xloss._checks import FromLogitsWarning, value_checks
from xloss._diagnose import Diagnosis, diagnose
from xloss._fast import fast_paths
from xloss._filters import (
    apply_temperature,
    min_p_filter,
    top_k_filter,
    top_k_softmax,
    top_p_filter,
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
from xloss._metrics import sparse_top_k_categorical_accuracy, top_k_categorical_accuracy
from xloss._sampling import sample
from xloss._topk import TopK, top_k
from xloss.adapters import (  # noqa: F401  (last: they use the cores; see adapters/_kernel_table)
    _numpy_kernels,
    _tensorflow_kernels,
    _torch_kernels,
)

__version__ = "0.1.0"

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Diagnosis",
    "FromLogitsWarning",
    "Loss",
    "SparseCategoricalCrossentropy",
    "TopK",
    "__version__",
    "apply_temperature",
    "binary_crossentropy",
    "categorical_crossentropy",
    "compat",
    "diagnose",
    "fast_paths",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "min_p_filter",
    "sample",
    "softmax",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "top_k",
    "top_k_categorical_accuracy",
    "top_k_filter",
    "top_k_softmax",
    "top_p_filter",
    "value_checks",
]
