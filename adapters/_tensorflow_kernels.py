"""TensorFlow's fused kernels, used where they give the generic body's answer.

``tf.nn.softmax``/``log_softmax``, ``tf.reduce_logsumexp`` and ``tf.math.softplus`` (whose
registered gradient is ``sigmoid(x)``: exact at 0, unlike a ``max``/``abs`` formulation). Each
kernel takes the generic body's arguments and returns its result, or ``None`` to decline.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from xloss._losses import EPSILON


def _softmax(x: Any, *, axis: int, **_: Any) -> Any:
    """Takes bfloat16 as is on the CPU: TensorFlow's kernel computes it in float32 and rounds
    once, bit for bit what upcasting first gives (checked, -inf masks included), without two
    conversion passes. Its float16 path rounds differently, so float16 is upcast."""
    tf = sys.modules["tensorflow"]
    if x.dtype == tf.float16 or (x.dtype == tf.bfloat16 and not _on_cpu(tf, x)):
        x = tf.cast(x, tf.float32)
    return tf.nn.softmax(x, axis=axis)


def _on_cpu(tf: Any, x: Any) -> bool:
    """Whether ``x`` is computed on the CPU: its device, or (a symbolic tensor, placed later)
    whether TensorFlow sees no GPU at all. Under ``tf.function`` this runs at trace time."""
    device = getattr(x, "device", "") or ""
    return "CPU" in device if device else not tf.config.list_logical_devices("GPU")


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


SMALL = 1 << 16
"""Below this many logits ``tf.nn.sparse_softmax_cross_entropy_with_logits`` (one op) beats
the gather form on call overhead; above, the gather form wins (the native op also computes
and writes the gradient, a second logits-sized array)."""


def _sparse(
    labels: Any,
    x: Any,
    *,
    axis: int,
    from_logits: bool,
    ignore_class: int | None,
    checked: bool,
    **_: Any,
) -> tuple[Any, Any] | None:
    """``lse(x - m) - (x - m)[label]`` with one batched ``tf.gather``, class axis last."""
    tf = sys.modules["tensorflow"]
    last = x.shape.rank - 1
    if axis != last:
        return None
    valid = None if ignore_class is None else tf.not_equal(labels, ignore_class)
    if not from_logits:
        return _sparse_probabilities(tf, labels, x, last, valid) if checked else None
    size = x.shape.num_elements()
    small = size is not None and size <= SMALL
    if checked and valid is None and small:
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, x), None
    num_classes = x.shape[-1]
    if num_classes is None:  # unknown while tracing (a static size needs no slicing op)
        num_classes = tf.shape(x, out_type=labels.dtype)[-1]
    in_range = tf.logical_and(labels >= 0, labels < num_classes)
    index = tf.where(in_range, labels, tf.zeros_like(labels))
    if small:  # the native op raises on a label outside [0, C): it gets 0 there
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(index, x)
    else:
        shifted = x - tf.reduce_max(x, axis=-1, keepdims=True)
        lse = tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=-1))
        loss = lse - tf.gather(shifted, index, axis=last, batch_dims=last)
    if not checked:  # a label outside [0, C) gives nan, as in the generic body
        wrong = tf.logical_not(in_range) if valid is None else ~in_range & valid
        loss = tf.where(wrong, tf.constant(float("nan"), loss.dtype), loss)
    if valid is not None:
        loss = tf.where(valid, loss, tf.zeros_like(loss))
    return loss, valid


def _sparse_probabilities(tf: Any, labels: Any, p: Any, last: int, valid: Any) -> tuple[Any, Any]:
    """The picked probability over the row total (1 for an all-zero row), clipped, as Keras;
    labels already checked."""
    index = labels if valid is None else tf.where(valid, labels, tf.zeros_like(labels))
    picked = tf.gather(p, index, axis=last, batch_dims=last)
    total = tf.reduce_sum(p, axis=-1)
    total = tf.where(tf.equal(total, 0.0), tf.constant(1.0, total.dtype), total)
    loss = -tf.math.log(tf.clip_by_value(picked / total, EPSILON, 1.0 - EPSILON))
    return (loss, None) if valid is None else (tf.where(valid, loss, tf.zeros_like(loss)), valid)


KERNELS: dict[str, Callable[..., Any]] = {
    "sparse": _sparse,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "logsumexp": _logsumexp,
    "binary": _binary,
}
