"""TensorFlow's cross-entropy ops (``tf.nn``, v2 signatures) with TF's numbers, on any backend.

Logits only, one loss per example or element, no reduction. ``labels=`` and ``logits=`` are
named as in TF (pass them by keyword, as TF's documentation asks). ``name=`` is accepted and
unused. Results have ``logits``' dtype (half precision is computed in float32), array type and
device. TensorFlow is not imported.

Where TF is stricter about dtypes (labels of exactly ``logits``' dtype, int32/int64 class
indices), any real labels and any integer class indices are accepted here and converted.

As TF converts NumPy arguments to tensors, ``labels`` and ``pos_weight`` may be NumPy arrays or
scalars whatever library ``logits`` come from: they are converted to it, on its device. Arrays
of two other libraries raise ``TypeError``, which asks to convert ``labels`` (``logits`` is the
reference: the result has its type), although ``labels`` comes first in the signature.
"""

from __future__ import annotations

from typing import Any

from xloss import _fast
from xloss._activations import binary_logits_xp
from xloss._losses import sparse_categorical_xp
from xloss._validation import normalize_axis, to_caller_dtype
from xloss.compat import _common as c

__all__ = [
    "sigmoid_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
]


def softmax_cross_entropy_with_logits(
    labels: Any, logits: Any, axis: int = -1, name: str | None = None
) -> Any:
    r"""``tf.nn.softmax_cross_entropy_with_logits``: ``-\sum_c y_c \log \mathrm{softmax}(x)_c``.

    As in TF, a ``-inf`` logit with a zero label gives ``nan`` (``0 \cdot -\infty``).

    Args:
        labels: target distributions, broadcasting against ``logits`` (normally its shape).
        logits: real floating-point scores.
        axis: the class axis (default: the last).
        name: accepted for compatibility; unused.

    Returns:
        One loss per example (``axis`` removed), in ``logits``' dtype, array type and device.

    Raises:
        TypeError: ``logits`` is not floating point.
        ValueError: the shapes do not broadcast; ``axis`` is out of range.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import tensorflow as tf
        >>> logits = np.array([[4.0, 2.0, 1.0], [0.0, 5.0, 1.0]])
        >>> labels = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, 0.2]])
        >>> tf.softmax_cross_entropy_with_logits(labels=labels, logits=logits).round(4)
        array([0.1698, 0.8247])
    """
    c.optional_name(name)
    ns, (logits, labels) = c.adopt(logits=logits, labels=labels)
    xp = ns.xp
    x, dtype = c.floating(ns, logits, "logits")
    y = c.real(ns, labels, "labels", x.dtype)
    if not c.broadcasts_to(c.shape(y), c.shape(x)):  # tf.nn raises for more dimensions too
        raise ValueError(
            f"`labels` of shape {c.shape(y)} does not broadcast to `logits`' shape "
            f"{c.shape(x)}; give them the same shape."
        )
    axis = normalize_axis(axis, x.ndim, array="logits")
    c.check_class_axes(x, (axis,), array="logits", hint=" or pass `axis=` for another axis")
    loss = -xp.sum(y * c.log_softmax(ns, x, axis), axis=axis)
    return to_caller_dtype(xp, loss, dtype)


def sparse_softmax_cross_entropy_with_logits(
    labels: Any, logits: Any, name: str | None = None
) -> Any:
    r"""``tf.nn.sparse_softmax_cross_entropy_with_logits``: ``logsumexp(x) - x[label]``.

    The class axis is the last one. A label outside ``[0, C)`` raises, as TF does on CPU
    (checked eagerly on host memory); under tracing, where values cannot be read, that example
    gives ``nan`` (TF on GPU gives ``nan`` too).

    Args:
        labels: integer class indices (any integer dtype), ``logits``' shape without its last
            dimension.
        logits: real floating-point scores, shape ``[..., C]``.
        name: accepted for compatibility; unused.

    Returns:
        One loss per example, shape ``labels.shape``, in ``logits``' dtype, array type and
        device.

    Raises:
        TypeError: ``labels`` is not integer; ``logits`` is not floating point.
        ValueError: the shapes do not match; a label is out of range.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import tensorflow as tf
        >>> logits = np.array([[4.0, 2.0, 1.0], [0.0, 5.0, 1.0]])
        >>> tf.sparse_softmax_cross_entropy_with_logits(labels=[0, 2], logits=logits).round(4)
        array([0.1698, 4.0247])
    """
    c.optional_name(name)
    ns, (logits, labels) = c.adopt(logits=logits, labels=labels)
    xp = ns.xp
    x, dtype = c.floating(ns, logits, "logits")
    if x.ndim == 0:
        raise ValueError(
            "`logits` must have at least one dimension (the classes); received a scalar."
        )
    y = c.integers(
        ns, labels, "labels", " For target distributions use softmax_cross_entropy_with_logits."
    )
    if not c.fits(c.shape(y), c.shape(x)[:-1]):
        raise ValueError(
            f"`labels` must have `logits`' shape without its last dimension: expected "
            f"{c.shape(x)[:-1]}, received {c.shape(y)}."
        )
    axis = x.ndim - 1
    c.check_class_axes(x, (axis,), array="logits")
    n = x.shape[axis]
    bad = c.bad_label(ns.backend.adapter, xp, y, n)
    if bad is not None:
        raise ValueError(
            f"`labels` holds the value {bad}, outside the valid range [0, {n}) for `logits` "
            f"with {n} classes (TensorFlow raises InvalidArgumentError on CPU)."
        )
    loss, _ = sparse_categorical_xp(xp, y, x, axis=axis, from_logits=True, ignore_class=None)
    return to_caller_dtype(xp, loss, dtype)


def _same_shape(labels: Any, logits: Any) -> None:
    if not c.fits(c.shape(labels), c.shape(logits)):
        raise ValueError(
            f"`logits` and `labels` must have the same shape; received {c.shape(logits)} and "
            f"{c.shape(labels)}."
        )


def sigmoid_cross_entropy_with_logits(
    labels: Any = None, logits: Any = None, name: str | None = None
) -> Any:
    r"""``tf.nn.sigmoid_cross_entropy_with_logits``: ``max(x, 0) - x z + log(1 + exp(-|x|))``.

    Elementwise; finite for every finite logit.

    Args:
        labels: targets in [0, 1] with ``logits``' shape.
        logits: real floating-point scores.
        name: accepted for compatibility; unused.

    Returns:
        One loss per element, in ``logits``' shape, dtype, array type and device.

    Raises:
        TypeError: ``logits`` is not floating point.
        ValueError: ``labels`` or ``logits`` is missing; the shapes differ.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import tensorflow as tf
        >>> x = np.array([2.0, -1.0, 1e4])
        >>> tf.sigmoid_cross_entropy_with_logits(labels=[1.0, 1.0, 0.0], logits=x).round(4)
        array([1.2690e-01, 1.3133e+00, 1.0000e+04])
    """
    c.optional_name(name)
    if labels is None or logits is None:
        raise ValueError(
            "Both `labels` and `logits` must be given to sigmoid_cross_entropy_with_logits; "
            f"received labels={'None' if labels is None else '...'} and "
            f"logits={'None' if logits is None else '...'}."
        )
    ns, (logits, labels) = c.adopt(logits=logits, labels=labels)
    xp = ns.xp
    x, dtype = c.floating(ns, logits, "logits")
    z = c.real(ns, labels, "labels", x.dtype)
    _same_shape(z, x)
    # TensorFlow's form, max(x, 0) - x z + log1p(exp(-|x|)): its infinite logits' answers
    # (a -inf logit with a positive label is inf; torch's form gives nan there).
    # (one compiled pass on large CPU inputs, eager or traced where no tape watches: see
    # `xloss._fast`)
    loss = _fast.run(ns.backend.adapter, "sigmoid_cross_entropy", binary_logits_xp, xp, z, x)
    return to_caller_dtype(xp, loss, dtype)


def weighted_cross_entropy_with_logits(
    labels: Any, logits: Any, pos_weight: Any, name: str | None = None
) -> Any:
    r"""``tf.nn.weighted_cross_entropy_with_logits``: sigmoid cross-entropy with the positive
    term weighted by ``pos_weight``.

    ``(1 - z) x + (1 + (q - 1) z) (\log(1 + e^{-|x|}) + \max(-x, 0))`` with ``q = pos_weight``.

    Args:
        labels: targets in [0, 1] with ``logits``' shape.
        logits: real floating-point scores.
        pos_weight: a number or an array broadcasting to ``logits``' shape (e.g. one per class).
        name: accepted for compatibility; unused.

    Returns:
        One loss per element, in ``logits``' shape, dtype, array type and device.

    Raises:
        TypeError: ``logits`` is not floating point.
        ValueError: the shapes differ; ``pos_weight`` does not broadcast to ``logits``.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import tensorflow as tf
        >>> x = np.array([2.0, -1.0, 0.0])
        >>> tf.weighted_cross_entropy_with_logits([1.0, 0.0, 1.0], x, pos_weight=3.0).round(4)
        array([0.3808, 0.3133, 2.0794])
    """
    c.optional_name(name)
    ns, (logits, labels, pos_weight) = c.adopt(logits=logits, labels=labels, pos_weight=pos_weight)
    xp = ns.xp
    x, dtype = c.floating(ns, logits, "logits")
    z = c.real(ns, labels, "labels", x.dtype)
    _same_shape(z, x)
    q = c.real(ns, pos_weight, "pos_weight", x.dtype)
    if not c.broadcasts_to(c.shape(q), c.shape(x)):
        raise ValueError(
            f"`pos_weight` of shape {c.shape(q)} does not broadcast to `logits`' shape "
            f"{c.shape(x)}."
        )
    return to_caller_dtype(xp, c.logistic(ns, z, x, q, total=False), dtype)
