"""TensorFlow tensors, ``tf.Variable`` and symbolic tensors inside ``tf.function``.

They compute with :mod:`xloss.adapters._tensorflow_namespace`, an Array-API namespace over TF ops.
"""

from __future__ import annotations

import sys
from typing import Any

NAME = "tensorflow"


def owns(x: Any) -> bool:
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, (tf.Tensor, tf.Variable))


def namespace(x: Any) -> Any:
    from xloss.adapters import _tensorflow_namespace

    return _tensorflow_namespace


def device(x: Any) -> Any:
    return getattr(x, "device", None) or None


def to_array(x: Any) -> Any:
    """A ``tf.Variable``'s value as a tensor (read under any ``GradientTape`` watching it)."""
    tf = sys.modules["tensorflow"]
    return x if isinstance(x, tf.Tensor) else tf.convert_to_tensor(x)


def readable(x: Any) -> Any:
    tf = sys.modules["tensorflow"]
    if not tf.executing_eagerly() or "CPU" not in (device(x) or "CPU"):
        return None
    return x
