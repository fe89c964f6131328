"""optax's classification losses (``optax.losses``) with optax's arguments and numbers, on any
backend.

Logits only, one loss per example, no reduction, as in optax 0.2.8. ``where=`` masks classes (an
array of ``logits``' shape) or whole examples (the batch shape): masked entries are left out of
the softmax and the sum, and an example with nothing left gives 0. The result dtype is the one
``labels * log_softmax(logits)`` has in optax: ``logits``' dtype, promoted with floating
``labels`` for the probability-target losses (float16 logits with float32 labels give float32);
half precision is computed in float32. JAX is not imported.

As in optax, whose ``jnp`` takes NumPy arrays, ``labels``, ``alpha`` and ``where`` may be NumPy
arrays or scalars whatever library ``logits`` (``labels`` for `smooth_labels`) come from: they
are converted to it, on its device, keeping their dtype (so float64 NumPy targets promote
float32 logits to float64, as JAX does with x64 on; JAX without x64 makes them float32 first).
Arrays of two other libraries raise ``TypeError``.
"""

from __future__ import annotations

import math
from typing import Any

from xloss import _fast
from xloss._activations import log_sigmoid_xp, logsumexp_xp, shift_xp
from xloss._dispatch import Namespace, as_array
from xloss._validation import compute_dtype, is_kind, to_caller_dtype
from xloss.compat import _common as c

__all__ = [
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "smooth_labels",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
]


def _logits_and_targets(ns: Namespace, logits: Any, labels: Any) -> tuple[Any, Any, Any]:
    """``(logits, labels, result dtype)``: both in the compute dtype of the result dtype, which
    is ``logits``' dtype promoted with floating ``labels`` (``labels * log_softmax(logits)``;
    a Python number is weakly typed and promotes nothing)."""
    xp = ns.xp
    x, dtype = c.floating(ns, logits, "logits")
    y = as_array(labels, ns, floating=True, name="labels", float_dtype=compute_dtype(xp, dtype))
    if is_kind(xp, y.dtype, "real floating") and y.dtype != dtype and not _weak(labels):
        dtype = xp.result_type(dtype, y.dtype)
    y = c.real(ns, y, "labels", compute_dtype(xp, dtype))
    x = c.real(ns, x, "logits", y.dtype)
    if not c.broadcastable(c.shape(y), c.shape(x)):
        raise ValueError(
            f"`labels` of shape {c.shape(y)} does not broadcast against `logits` of shape "
            f"{c.shape(x)}; give one target per logit."
        )
    return x, y, dtype


def _axis(axes: tuple[int, ...]) -> Any:
    """What the ``*_xp`` cores take: one axis as an int, several as a tuple (the standard's
    reductions accept both)."""
    return axes[0] if len(axes) == 1 else axes


def _where_mask(ns: Namespace, where: Any, x: Any, axes: tuple[int, ...]) -> Any:
    """``where`` as a boolean mask broadcasting against ``x``: a batch-shaped mask gets the class
    axes inserted, as optax does."""
    m = c.mask(ns, where, "where")
    if m.ndim != x.ndim:
        for axis in sorted(axes):
            m = ns.xp.expand_dims(m, axis=axis)
    if not c.broadcasts_to(c.shape(m), c.shape(x)):
        raise ValueError(
            f"`where` of shape {c.shape(m)} fits neither `logits`' shape {c.shape(x)} nor its "
            f"batch shape (the shape without `axis`)."
        )
    return m


def _masked_shift_and_lse(xp: Any, x: Any, m: Any, axes: tuple[int, ...]) -> tuple[Any, Any, Any]:
    """``(shift, x - shift, log sum_{unmasked} exp(x - shift))`` with dims kept; the log-sum is
    ``-inf`` where no entry is left (no ``log(0)`` evaluated), ``nan`` where a kept one is."""
    kept = xp.where(m, x, xp.full_like(x, -math.inf))
    top = shift_xp(xp, kept, _axis(axes))
    shifted = kept - top
    total = xp.sum(xp.exp(shifted), axis=axes, keepdims=True)
    none = total == 0  # not `total > 0`, which a nan total fails too: its loss is nan, not -inf
    lse = xp.where(
        none, xp.full_like(total, -math.inf), xp.log(xp.where(none, xp.ones_like(total), total))
    )
    return top, shifted, lse


def softmax_cross_entropy(logits: Any, labels: Any, axis: Any = -1, where: Any = None) -> Any:
    r"""``optax.softmax_cross_entropy``: cross-entropy of target distributions and logits.

    ``\ell = -\sum_c y_c \log\operatorname{softmax}(x)_c`` along ``axis``. As in optax, a ``-inf``
    logit with a zero target gives ``nan`` (``0 \cdot -\infty``); `safe_softmax_cross_entropy`
    or ``where=`` gives 0 there instead.

    Args:
        logits: real floating-point scores.
        labels: target distributions broadcasting against ``logits``.
        axis: the class axis, a tuple of axes, or ``None`` (all axes).
        where: entries to include: ``logits``' shape, or the shape without ``axis`` (one flag
            per example). Masked entries are left out; an example with none left gives 0.

    Returns:
        One loss per example (``axis`` removed), in the caller's array type and device.

    Raises:
        TypeError: ``logits`` is not floating point; ``where`` is not boolean or numeric.
        ValueError: shapes do not broadcast; ``axis`` is out of range.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import optax
        >>> logits = np.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
        >>> labels = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        >>> optax.softmax_cross_entropy(logits, labels).round(4)
        array([0.2761, 2.9518])
        >>> optax.softmax_cross_entropy(logits, labels, where=np.array([True, False])).round(4)
        array([ 0.2761, -0.    ])
    """
    ns, (logits, labels, where) = c.adopt(logits=logits, labels=labels, where=where)
    xp = ns.xp
    x, y, dtype = _logits_and_targets(ns, logits, labels)
    axes = c.normalize_axes(axis, x.ndim, array="logits", allow_none=True)
    c.check_class_axes(x, axes, array="logits", hint=" or pass `axis=` for other axes")
    # As optax: the softmax along `axis` of the logits, the sum along `axis` of the product,
    # whose rank is the labels' where they have more dimensions (a batch of target sets).
    summed = c.normalize_axes(axis, max(x.ndim, y.ndim), array="labels", allow_none=True)
    if where is None:
        loss = -xp.sum(y * c.log_softmax(ns, x, _axis(axes)), axis=summed)
    else:
        m = _where_mask(ns, where, x, axes)
        zero = xp.zeros_like(x)
        _, shifted, lse = _masked_shift_and_lse(xp, x, m, axes)
        log_p = xp.where(m, xp.where(m, shifted, zero) - lse, zero)
        loss = -xp.sum(xp.where(m, y * log_p, zero), axis=summed)
    return to_caller_dtype(xp, loss, dtype)


def _flat_label_logits(xp: Any, x: Any, labels: Any, axes: tuple[int, ...]) -> Any:
    """``x`` at the flat class index ``labels`` over ``axes`` (row-major in the order given),
    with JAX's indexing: ``-K <= label < 0`` counts from the end, anything else out of
    ``[0, K)`` gives ``nan``."""
    sizes = [x.shape[a] for a in axes]
    if len(axes) == 1:
        k = c.class_count(xp, x, axes[0])
    elif all(s is not None for s in sizes):
        k = math.prod(sizes)
    else:
        raise ValueError(
            f"a tuple `axis` needs the sizes of its dimensions known; `logits` has shape "
            f"{c.shape(x)}."
        )
    k_index = xp.astype(k, labels.dtype) if c.is_array(k) else k
    labels = xp.where(labels < 0, labels + k_index, labels)
    in_range = xp.logical_and(labels >= 0, labels < k_index)
    safe = xp.where(in_range, labels, xp.zeros_like(labels))
    picked = x
    stride = math.prod(s for s in sizes if s is not None) if len(axes) > 1 else 1
    for axis, size in zip(axes, sizes):
        if len(axes) > 1:
            stride //= size
            index = (safe // stride) % size
        else:
            index = safe
        for position in sorted(axes):
            index = xp.expand_dims(index, axis=position)
        picked = xp.take_along_axis(picked, index, axis=axis)
    picked = xp.squeeze(picked, axis=tuple(sorted(axes)))
    return c.nan_where(xp, xp.logical_not(in_range), picked)


def softmax_cross_entropy_with_integer_labels(
    logits: Any, labels: Any, axis: Any = -1, where: Any = None
) -> Any:
    r"""``optax.softmax_cross_entropy_with_integer_labels``: ``logsumexp(x) - x[label]``.

    No one-hot and no full log-softmax are built. Labels follow JAX's indexing, as optax does:
    ``-C <= label < 0`` counts from the end (``-1`` is the last class) and any other label
    outside ``[0, C)`` gives ``nan``, silently. With a tuple ``axis`` the label is a flat
    (row-major) index over those dimensions, in the order given.

    Args:
        logits: real floating-point scores.
        labels: integer class indices, ``logits``' shape without ``axis``.
        axis: the class axis, or a tuple of axes.
        where: entries to include in the log-sum-exp: ``logits``' shape, or the shape without
            ``axis``. An example with nothing left gives 0.

    Returns:
        One loss per example, in ``logits``' dtype, array type and device.

    Raises:
        TypeError: ``logits`` is not floating point; ``labels`` is not integer.
        ValueError: shapes do not match; ``axis`` is out of range.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import optax
        >>> logits = np.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
        >>> optax.softmax_cross_entropy_with_integer_labels(logits, np.array([0, 1])).round(4)
        array([0.2761, 2.9518])
    """
    ns, (logits, labels, where) = c.adopt(logits=logits, labels=labels, where=where)
    xp = ns.xp
    x, dtype = c.floating(ns, logits, "logits")
    if axis is None:
        raise ValueError("`axis` must be an int or a tuple of ints; received None.")
    axes = c.normalize_axes(axis, x.ndim, array="logits", allow_none=False)
    c.check_class_axes(x, axes, array="logits", hint=" or pass `axis=` for other axes")
    y = c.integers(ns, labels, "labels", " For target distributions use softmax_cross_entropy.")
    expected = tuple(d for i, d in enumerate(c.shape(x)) if i not in axes)
    if not c.fits(c.shape(y), expected):
        raise ValueError(
            f"`labels` must have the shape of `logits` without `axis`: expected {expected}, "
            f"received {c.shape(y)}."
        )
    label_logits = _flat_label_logits(xp, x, y, axes)
    if where is None:
        loss = logsumexp_xp(xp, x, _axis(axes)) - label_logits
    else:
        m = _where_mask(ns, where, x, axes)
        top, _, lse = _masked_shift_and_lse(xp, x, m, axes)
        loss = xp.squeeze(lse + top, axis=axes) - label_logits
        anything = xp.any(xp.logical_and(m, xp.ones_like(x, dtype=xp.bool)), axis=axes)
        loss = xp.where(anything, loss, xp.zeros_like(loss))
    return to_caller_dtype(xp, loss, dtype)


def safe_softmax_cross_entropy(logits: Any, labels: Any) -> Any:
    r"""``optax.safe_softmax_cross_entropy``: cross-entropy with ``0 \log 0 = 0``.

    Like `softmax_cross_entropy` along the last axis, except that an entry whose target is 0
    adds 0 whatever its logit: a class masked with a ``-inf`` logit and a zero target gives a
    finite loss (a positive target there still gives ``inf``).

    Args:
        logits: real floating-point scores, shape ``[..., C]``.
        labels: target distributions broadcasting against ``logits``.

    Returns:
        One loss per example (last axis removed), in the caller's array type and device.

    Raises:
        TypeError: ``logits`` is not floating point.
        ValueError: the shapes do not broadcast; ``logits`` is a scalar.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import optax
        >>> logits = np.array([[0.0, -np.inf, 1.0]])
        >>> optax.safe_softmax_cross_entropy(logits, np.array([[0.5, 0.0, 0.5]])).round(4)
        array([0.8133])
    """
    ns, (logits, labels) = c.adopt(logits=logits, labels=labels)
    xp = ns.xp
    x, y, dtype = _logits_and_targets(ns, logits, labels)
    if x.ndim == 0:
        raise ValueError(
            "`logits` must have at least one dimension (the classes); received a scalar."
        )
    c.check_class_axes(x, (x.ndim - 1,), array="logits")
    log_p = c.log_softmax(ns, x, x.ndim - 1)
    # optax's value: 0 wherever the label is 0. Only the entries whose log_softmax is not
    # finite are selected away: elsewhere a label's gradient is log_softmax's entry, zero
    # label or not, as optax's custom JVP gives (which gives -inf at those entries, this 0).
    kept = (y != 0) | (log_p > -math.inf)
    terms = y * xp.where(kept, log_p, 0.0)
    return to_caller_dtype(xp, -xp.sum(terms, axis=-1), dtype)


def sigmoid_binary_cross_entropy(logits: Any, labels: Any) -> Any:
    r"""``optax.sigmoid_binary_cross_entropy``: elementwise sigmoid cross-entropy.

    ``\ell = -y \log\sigma(x) - (1 - y) \log\sigma(-x)``, with the stable log-sigmoid (finite for
    any finite logit). ``labels`` are converted to ``logits``' dtype, as optax does.

    Args:
        logits: real floating-point scores.
        labels: targets in [0, 1] broadcasting against ``logits``.

    Returns:
        One loss per element (the broadcast shape), in ``logits``' dtype, array type and device.

    Raises:
        TypeError: ``logits`` is not floating point.
        ValueError: the shapes do not broadcast.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import optax
        >>> x = np.array([2.0, -1.0, 1e4])
        >>> optax.sigmoid_binary_cross_entropy(x, np.array([1.0, 1.0, 0.0])).round(4)
        array([1.2690e-01, 1.3133e+00, 1.0000e+04])
    """
    ns, (logits, labels) = c.adopt(logits=logits, labels=labels)
    xp = ns.xp
    x, dtype = c.floating(ns, logits, "logits")
    y = c.real(ns, labels, "labels", x.dtype)
    if not c.broadcastable(c.shape(y), c.shape(x)):
        raise ValueError(
            f"`labels` of shape {c.shape(y)} does not broadcast against `logits` of shape "
            f"{c.shape(x)}."
        )
    # Eager JAX runs the body as one compiled program, TensorFlow on the CPU too from 65,536
    # entries, eagerly or traced where no tape watches (`xloss._fast`): op by op, it was
    # 2.6-2.9x optax's eager call on 2048 x 8192 float32.
    loss = _fast.run(ns.backend.adapter, "sigmoid_pair", sigmoid_binary_xp, xp, y, x)
    return to_caller_dtype(xp, loss, dtype)


def sigmoid_binary_xp(xp: Any, y: Any, x: Any) -> Any:
    """``-y log sigmoid(x) - (1 - y) log sigmoid(-x)``: `sigmoid_binary_cross_entropy`'s
    body, optax's formula."""
    return -y * log_sigmoid_xp(xp, x) - (1.0 - y) * log_sigmoid_xp(xp, -x)


def _weak(value: Any) -> bool:
    """A Python number: weakly typed in JAX, so it takes the arrays' dtype (a NumPy scalar,
    ``np.float64`` included, is typed and promotes)."""
    return type(value) in (bool, int, float)


def _alpha(ns: Namespace, alpha: Any, dtype: Any) -> tuple[Any, Any]:
    """``(alpha, result dtype)``: a Python number in [0, 1] as it is, ``dtype`` unchanged; an
    array in the compute dtype of ``dtype`` promoted with its own, as optax's product does."""
    if _weak(alpha):
        return c.check_unit(alpha, "alpha"), dtype
    xp = ns.xp
    a = as_array(alpha, ns, floating=True, name="alpha")
    if is_kind(xp, a.dtype, "real floating") and a.dtype != dtype:
        dtype = xp.result_type(dtype, a.dtype)
    return c.real(ns, a, "alpha", compute_dtype(xp, dtype)), dtype


def _check_category_mask(
    mask_shape: c.Shape, labels_shape: c.Shape, axis: Any, axes: tuple[int, ...]
) -> None:
    """Raise unless ``where`` counts the categories of ``labels`` along ``axes``.

    optax computes ``K = jnp.sum(where, axis, keepdims=True)`` over ``where``'s own dimensions
    and broadcasts ``K`` against ``labels``. That is the number of included categories only
    where ``where``'s dimension ``axis`` is ``labels``' class dimension (``where`` of
    ``labels``' rank, or ``axis`` counted from the end) and has ``labels``' size there.
    Otherwise optax counts something else (the included examples of a batch-shaped mask, the
    flags of another dimension, the single flag of a size-1 dimension) or raises.
    """
    batch = tuple(d for i, d in enumerate(labels_shape) if i not in axes)
    if axes != tuple(range(len(labels_shape))) and c.fits(mask_shape, batch):
        raise ValueError(
            f"`where` of shape {mask_shape} is one flag per example (`labels`' shape without "
            f"`axis`), as the losses take it; smooth_labels needs one per category: optax sums "
            f"such a mask over its own `axis` and divides by the number of included examples "
            f"(or raises). Broadcast it over the class axes first (a `where` of `labels`' shape)."
        )
    if not c.broadcasts_to(mask_shape, labels_shape):
        raise ValueError(
            f"`where` of shape {mask_shape} does not broadcast to `labels`' shape {labels_shape}."
        )
    offset = len(labels_shape) - len(mask_shape)
    given = tuple(range(len(labels_shape))) if axis is None else axis
    given = given if isinstance(given, tuple) else (given,)
    for g, a in zip(given, axes):
        own = int(g) if int(g) >= 0 else int(g) + len(mask_shape)  # optax's axis of `where`
        if own + offset != a or own < 0:
            problem = (
                f"optax sums `where` over its own axis {g}, which lines up with `labels`' axis "
                f"{own + offset}, not with the class axis {a}"
                if 0 <= own < len(mask_shape)
                else f"`where` has no axis {g} (optax raises)"
            )
        elif mask_shape[own] == 1 and labels_shape[a] not in (1, None):
            problem = (
                f"`where` has size 1 along the class axis {a}, where `labels` has "
                f"{labels_shape[a]} categories, so optax counts 1 (or 0) categories"
            )
        else:
            continue
        raise ValueError(
            f"`where` of shape {mask_shape} cannot count the categories of `labels` of shape "
            f"{labels_shape} along `axis`={axis!r}: {problem}. optax's number there is not a "
            f"count of categories; give `where` `labels`' size along the class axes (for "
            f"example `labels`' full shape)."
        )


def smooth_labels(labels: Any, alpha: Any, *, axis: Any = -1, where: Any = None) -> Any:
    r"""``optax.smooth_labels``: ``(1 - alpha) y + alpha / K``.

    ``K`` is the number of categories along ``axis`` or, with ``where``, the number of entries
    ``where`` includes along it (the masked entries are smoothed too, as in optax; an example
    with none included gets ``alpha / 0 = inf``).

    optax computes ``K = jnp.sum(where, axis, keepdims=True)`` over ``where``'s own dimensions.
    That counts categories only when ``where``'s dimension ``axis`` is the class dimension of
    ``labels``, at its full size: ``where`` of ``labels``' rank, or of a lower rank with
    ``axis`` counted from the end (a per-class mask of shape ``(C,)`` with ``axis=-1``).
    Otherwise optax's number is a count of something else: with ``labels`` of shape ``(4, 3)``
    and ``axis=0``, ``where=[True, True, False]`` is one flag per example (the 3 columns) and
    optax divides by the 2 examples it includes; a batch-shaped ``where`` of shape ``(4,)`` with
    ``axis=-1`` divides by the included examples too; a ``(4, 1)`` mask divides by 1. Those
    shapes raise ``ValueError`` here.

    Args:
        labels: one-hot (or soft) labels, real floating point.
        alpha: the smoothing factor: a number in [0, 1], or an array.
        axis: the class axis, a tuple of axes, or ``None`` (all axes).
        where: a boolean array broadcasting to ``labels``' shape, with ``labels``' size along
            the class axes; ``K`` counts its True entries along ``axis``.

    Returns:
        The smoothed labels, in ``labels``' shape, array type and device, and in their dtype
        promoted with an array ``alpha``'s (a NumPy scalar is an array there), as optax's
        product promotes it; a Python number takes ``labels``' dtype.

    Raises:
        TypeError: ``labels`` is not floating point; ``alpha`` is not a number or an array.
        ValueError: a numeric ``alpha`` is outside [0, 1]; ``axis`` is out of range; ``where``
            does not broadcast to ``labels`` or does not cover its class axes (above).

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import optax
        >>> optax.smooth_labels(np.array([[0.0, 1.0, 0.0, 0.0]]), 0.2)
        array([[0.05, 0.85, 0.05, 0.05]])
        >>> optax.smooth_labels(np.eye(3)[:2], 0.3, where=np.array([True, True, False]))
        array([[0.85, 0.15, 0.15],
               [0.15, 0.85, 0.15]])
    """
    ns, (labels, alpha, where) = c.adopt(labels=labels, alpha=alpha, where=where)
    xp = ns.xp
    y, dtype = c.floating(ns, labels, "labels")
    axes = c.normalize_axes(axis, y.ndim, array="labels", allow_none=True)
    a, dtype = _alpha(ns, alpha, dtype)
    y = c.real(ns, y, "labels", compute_dtype(xp, dtype))
    if where is None:
        sizes = [y.shape[i] for i in axes]
        if all(s is not None for s in sizes):
            smoothed = (1.0 - a) * y + a / math.prod(sizes)
        else:
            smoothed = (1.0 - a) * y + a / xp.sum(xp.ones_like(y), axis=axes, keepdims=True)
    else:
        m = c.mask(ns, where, "where")
        _check_category_mask(c.shape(m), c.shape(y), axis, axes)
        m = xp.logical_and(m, xp.ones_like(y, dtype=xp.bool))
        categories = xp.sum(xp.astype(m, y.dtype), axis=axes, keepdims=True)
        share = c.divide(xp, a * xp.ones_like(categories), categories)
        smoothed = (1.0 - a) * y + share
    return to_caller_dtype(xp, smoothed, dtype)
