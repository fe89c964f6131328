"""TensorFlow's fused kernels, used where they give the generic body's answer.

``tf.nn.softmax``/``log_softmax``, ``tf.reduce_logsumexp`` and ``tf.math.softplus`` (whose
registered gradient is ``sigmoid(x)``: exact at 0, unlike a ``max``/``abs`` formulation). Each
kernel takes the generic body's arguments and returns its result, or ``None`` to decline.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def _softmax(x: Any, *, axis: int, **_: Any) -> Any:
    return sys.modules["tensorflow"].nn.softmax(x, axis=axis)


def _log_softmax(x: Any, *, axis: int, **_: Any) -> Any:
    return sys.modules["tensorflow"].nn.log_softmax(x, axis=axis)


def _logsumexp(x: Any, *, axis: int, keepdims: bool, **_: Any) -> Any:
    return sys.modules["tensorflow"].reduce_logsumexp(x, axis=axis, keepdims=keepdims)


def _binary(
    z: Any, x: Any, *, axis: int, from_logits: bool, label_smoothing: float, **_: Any
) -> tuple[Any, None] | None:
    if not from_logits or label_smoothing:
        return None
    tf = sys.modules["tensorflow"]
    return tf.reduce_mean(tf.math.softplus(x) - x * z, axis=axis), None


KERNELS: dict[str, Callable[..., Any]] = {
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "logsumexp": _logsumexp,
    "binary": _binary,
}
