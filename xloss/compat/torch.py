"""PyTorch's losses (``torch.nn.functional``) with torch's arguments and numbers, on any backend.

The class dimension is 1 (0 for unbatched ``(C,)`` input); ``reduction`` is ``"mean"``, ``"sum"``
or ``"none"``; the means divide as torch divides (by the summed weights of the non-ignored
targets for class indices, by the number of samples for probability targets). Results have the
dtype torch gives (the input's, half precision computed in float32; promoted as torch promotes
with floating targets and weights of another dtype), and the input's array type and device.
Torch itself is not imported: ``cross_entropy`` on JAX arrays gives torch's numbers as JAX arrays.

Arguments after ``weight`` are keyword-only: torch's own positional order has the legacy
``size_average``/``reduce`` in between, so a positional call could not mean the same thing.
"""

from __future__ import annotations

from typing import Any

from xloss import _checks, _fast
from xloss._dispatch import Namespace, _is_value, as_array, device_of, resolve
from xloss._losses import categorical_xp, sparse_categorical_xp
from xloss._validation import as_int, compute_dtype, is_kind, to_caller_dtype, to_compute
from xloss.compat import _common as c

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss"]

REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"`reduction` must be 'none', 'mean' or 'sum' (torch's values); received {reduction!r}."
        )
    return reduction


def _class_dim(x: Any) -> int:
    if x.ndim == 0:
        raise ValueError(
            "`input` must have a class dimension: shape (C,), (N, C) or (N, C, d1, ...); "
            "received a scalar."
        )
    class_dim = 0 if x.ndim == 1 else 1
    c.check_class_axes(x, (class_dim,), array="input")
    return class_dim


def _promoted(ns: Namespace, x: Any, dtype: Any, *others: Any) -> tuple[Any, Any]:
    """``(x, dtype)`` with ``dtype`` promoted with the floating arrays among ``others``, as
    torch's arithmetic promotes (float16 input, float32 target: a float32 loss), and ``x`` in
    its compute dtype."""
    xp = ns.xp
    for other in others:
        if other is None or _is_value(other):
            continue
        other_dtype = as_array(other, ns).dtype
        if is_kind(xp, other_dtype, "real floating") and other_dtype != dtype:
            dtype = xp.result_type(dtype, other_dtype)
    return _in_dtype(xp, x, dtype)


def _in_dtype(xp: Any, x: Any, dtype: Any) -> tuple[Any, Any]:
    """``(x in dtype's compute dtype, dtype)``."""
    compute = compute_dtype(xp, dtype)
    return (x if x.dtype == compute else xp.astype(x, compute)), dtype


def _class_weight(ns: Namespace, weight: Any, x: Any, class_dim: int) -> Any:
    """``weight`` (one per class) as a 1-D array in ``x``'s compute dtype, or ``None``."""
    if weight is None:
        return None
    w = c.real(ns, weight, "weight", compute_dtype(ns.xp, x.dtype))
    n = x.shape[class_dim]
    if w.ndim != 1 or not c.fits(c.shape(w), (n,)):
        raise ValueError(
            f"`weight` must hold one weight per class, shape ({n},) for `input` of shape "
            f"{c.shape(x)}; received shape {c.shape(w)}."
        )
    return w


def _along(xp: Any, weight: Any, ndim: int, class_dim: int) -> Any:
    """1-D ``weight`` shaped to broadcast along ``class_dim`` of an ``ndim``-D array."""
    view = [1] * ndim
    view[class_dim] = -1
    return xp.reshape(weight, tuple(view))


def _weight_of_targets(
    xp: Any, weight: Any, labels: Any, valid: Any, logits: Any, class_dim: int, dtype: Any
) -> Any:
    """``weight[y]`` where ``valid``, 0 elsewhere (an out-of-range label reads class 0); ``valid``
    in ``dtype`` without weights. Gathered from the 1-D ``weight`` by label, or, where a
    dimension is unknown (``tf.function``), picked from ``weight`` broadcast over ``logits``."""
    if weight is None:
        return xp.astype(valid, dtype)
    if None in labels.shape or None in logits.shape:
        ones = xp.ones_like(logits, dtype=weight.dtype)
        n = c.class_count(xp, logits, class_dim)
        picked, _ = c.pick(
            xp, _along(xp, weight, logits.ndim, class_dim) * ones, labels, class_dim, n
        )
    else:
        index = xp.where(xp.logical_and(valid, labels >= 0), labels, xp.zeros_like(labels))
        index = xp.where(index < weight.shape[0], index, xp.zeros_like(index))
        picked = xp.take_along_axis(weight, xp.reshape(index, (-1,)), axis=0)
        picked = xp.reshape(picked, labels.shape)
    return xp.where(valid, picked, xp.zeros_like(picked))


def _class_indices(ns: Namespace, target: Any, x: Any, class_dim: int, ignore_index: int) -> Any:
    labels = c.integers(
        ns,
        target,
        "target",
        " Pass class indices as integers (torch wants int64; any integer dtype works here), or "
        "class probabilities with `input`'s shape.",
    )
    expected = c.shape(x)[:class_dim] + c.shape(x)[class_dim + 1 :]
    if not c.fits(c.shape(labels), expected):
        raise ValueError(
            f"`target` must have the shape of `input` without its class dimension (dim "
            f"{class_dim}): expected {expected}, received {c.shape(labels)} for input of shape "
            f"{c.shape(x)}. torch's layout: input (N, C, d1, ...), target (N, d1, ...)."
        )
    n = x.shape[class_dim]
    bad = c.bad_label(ns.backend.adapter, ns.xp, labels, n, skip=ignore_index)
    if bad is not None:
        raise ValueError(
            f"`target` holds the class index {bad}, outside [0, {n}): `input` has {n} classes "
            f"along dim {class_dim} (torch raises 'Target {bad} is out of bounds'). Give "
            f"positions to leave out the value ignore_index={ignore_index}."
        )
    return labels


def _class_index_loss(
    xp: Any,
    log_p: Any,
    labels: Any,
    weight: Any,
    *,
    ignore_index: int,
    class_dim: int,
    reduction: str,
    label_smoothing: float,
) -> Any:
    """torch's ``nll_loss`` on log-probabilities (half precision too: only the picked entries
    are widened), mixed with the smoothing term ``-sum_c w_c log p_c / C`` as ``cross_entropy``
    mixes them; both share one divisor. ``weight``: 1-D, or ``None``."""
    n = c.class_count(xp, log_p, class_dim)
    picked, in_range = c.pick(xp, log_p, labels, class_dim, n)
    picked = to_compute(xp, picked)  # half precision gathered as is (exact), then widened
    valid = labels != ignore_index
    zero = xp.zeros_like(picked)
    target_weight = _weight_of_targets(xp, weight, labels, valid, log_p, class_dim, picked.dtype)
    per_sample = -xp.where(valid, picked, zero) * target_weight
    if label_smoothing:  # (cross_entropy's: log_p is in its compute dtype)
        terms = log_p if weight is None else log_p * _along(xp, weight, log_p.ndim, class_dim)
        smooth = xp.where(valid, -xp.sum(terms, axis=class_dim), zero)
        per_sample = (1.0 - label_smoothing) * per_sample + (label_smoothing / n) * smooth
    per_sample = c.nan_where(xp, xp.logical_and(xp.logical_not(in_range), valid), per_sample)
    if reduction == "none":
        return per_sample
    total = xp.sum(per_sample)
    return total if reduction == "sum" else c.divide(xp, total, xp.sum(target_weight))


def _class_index_loss_by_kernel(
    ns: Namespace,
    labels: Any,
    x: Any,
    weight: Any,
    *,
    ignore_index: int,
    class_dim: int,
    reduction: str,
    label_smoothing: float,
) -> Any:
    """`_class_index_loss` by the losses' fused kernels (`xloss._fast`: PyTorch's
    ``F.cross_entropy`` by blocks of rows, half precision converted block by block, JAX's
    compiled body, ...), ``x`` as given (half precision too). ``-log p_y`` per position is the
    sparse loss from logits with ``ignore_index`` ignored, times ``weight[y]`` (``weight`` 1-D,
    gathered by label: no logits-sized array of weights). The smoothing term
    ``-sum_c log p_c`` (without weights only: a zero weight on a ``-inf`` logit is ``nan`` in
    torch and 0 in the categorical loss) is the categorical loss from logits with targets of
    ones, a view of one row broadcast over the others. An out-of-range label that was not
    checked gives ``nan`` there as in `_class_index_loss`."""
    xp, adapter = ns.xp, ns.backend.adapter
    readable = adapter.readable(x) is not None and adapter.readable(labels) is not None
    checked = readable and _checks.enabled()  # as `_class_indices`'s check of the labels ran
    per_sample, valid = _fast.run(
        adapter,
        "sparse",
        sparse_categorical_xp,
        xp,
        labels,
        x,
        readable=readable,
        checked=checked,
        axis=class_dim,
        from_logits=True,
        ignore_class=ignore_index,
    )
    if label_smoothing:
        # ones along the class axis, broadcast over the rest: rows of a contiguous layout
        n = x.shape[class_dim]
        view = tuple(n if d == class_dim else 1 for d in range(x.ndim))
        ones = xp.ones(view, dtype=per_sample.dtype, device=device_of(x))
        smooth, _ = _fast.run(
            adapter,
            "categorical",
            categorical_xp,
            xp,
            xp.broadcast_to(ones, x.shape),
            x,
            readable=readable,
            checked=checked,
            axis=class_dim,
            from_logits=True,
            label_smoothing=0.0,
        )
        smooth = xp.where(valid, smooth, xp.zeros_like(smooth))
        per_sample = (1.0 - label_smoothing) * per_sample + (label_smoothing / n) * smooth
    target_weight = _weight_of_targets(xp, weight, labels, valid, x, class_dim, per_sample.dtype)
    if weight is not None:
        per_sample = per_sample * target_weight
    if reduction == "none":
        return per_sample
    total = xp.sum(per_sample)
    return total if reduction == "sum" else c.divide(xp, total, xp.sum(target_weight))


def _probability_loss(
    ns: Namespace,
    target: Any,
    log_p: Any,
    weight: Any,
    *,
    class_dim: int,
    reduction: str,
    label_smoothing: float,
) -> Any:
    xp = ns.xp
    if not is_kind(xp, target.dtype, "real floating"):
        raise TypeError(
            f"`target` has `input`'s shape, so it is read as class probabilities, which must be "
            f"floating point; received dtype {target.dtype}. For class indices, give `target` "
            f"the shape of `input` without dim {class_dim}."
        )
    if not c.fits(c.shape(target), c.shape(log_p)):
        raise ValueError(
            f"probability targets must have `input`'s shape {c.shape(log_p)}; received "
            f"{c.shape(target)}."
        )
    t = target if target.dtype == log_p.dtype else xp.astype(target, log_p.dtype)
    if label_smoothing:
        n = c.class_count(xp, log_p, class_dim, keepdims=True)
        t = t * (1.0 - label_smoothing) + label_smoothing / n
    terms = t * log_p if weight is None else t * log_p * weight
    per_sample = -xp.sum(terms, axis=class_dim)
    if reduction == "none":
        return per_sample
    total = xp.sum(per_sample)
    return total if reduction == "sum" else c.divide(xp, total, c.count(xp, per_sample))


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Any:
    r"""``torch.nn.functional.cross_entropy``: softmax cross-entropy from logits, class dim 1.

    Class-index targets: ``l_n = -w_{y_n} \log p_{n, y_n}`` (0 where ``y_n == ignore_index``);
    ``"mean"`` divides by ``sum_n w_{y_n}`` over the non-ignored positions, so when every target
    is ignored the mean is ``nan``, as in torch. With ``label_smoothing`` ``s`` the loss is
    ``(1 - s) l_n + (s / C) (-\sum_c w_c \log p_{n,c})``, with the same divisor.

    Probability targets (``target`` with ``input``'s shape):
    ``l_n = -\sum_c w_c y'_{n,c} \log p_{n,c}`` with ``y' = y (1 - s) + s / C``; ``"mean"``
    divides by the number of samples ``N d_1 ...``, not by the weights.

    Args:
        input: logits, shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``; real floating point.
        target: class indices (any integer dtype), shape ``(N, d1, ...)`` (``()`` for ``(C,)``
            input), or class probabilities with ``input``'s shape.
        weight: one weight per class, shape ``(C,)``, or ``None``.
        ignore_index: a class index whose positions give 0 and are left out of the mean. With
            probability targets only negative values are allowed (as in torch).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (one loss per position).
        label_smoothing: in [0, 1]: a Python or NumPy number, or a 0-d torch tensor, as torch
            takes it (a bool is refused, which torch reads as 0 or 1).

    Returns:
        A scalar (``"mean"``, ``"sum"``) or an ``(N, d1, ...)`` array, with ``input``'s type
        and device, and torch's dtype: ``input``'s, promoted with probability targets and
        ``weight`` of a wider floating dtype (a float16 input with float32 targets: float32).

    Raises:
        TypeError: ``input`` is not floating point; class indices are not integers; probability
            targets are not floating point; ``label_smoothing`` is not a number; an argument
            is an array of another library than ``input``'s (NumPy included, as in torch).
        ValueError: shapes do not match; ``weight`` is not ``(C,)``; a class index is out of
            range (checked eagerly; under tracing that position gives ``nan``); ``ignore_index``
            is ``>= 0`` with probability targets; ``reduction`` or ``label_smoothing`` is invalid.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import torch as F
        >>> logits = np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
        >>> round(float(F.cross_entropy(logits, [0, 2, -100])), 4)
        0.1681
        >>> F.cross_entropy(logits, [0, 2, 1], reduction="none", label_smoothing=0.1).round(4)
        array([0.3913, 0.2949, 1.0986])
        >>> round(float(F.cross_entropy(logits, [0, 2, 1], label_smoothing=np.float32(0.1))), 4)
        0.5949
    """
    reduction = _check_reduction(reduction)
    ignore_index = as_int(ignore_index, "ignore_index")
    label_smoothing = c.check_unit(
        label_smoothing,
        "label_smoothing",
        hint=" torch raises above 1 and silently ignores negative values; 0 disables smoothing.",
    )
    ns = resolve(input=input, target=target, weight=weight)
    xp = ns.xp
    given, dtype = c.floating(ns, input, "input", upcast=False)
    class_dim = _class_dim(given)
    # Python floats (a list of probabilities) straight into the dtype computed in: through
    # torch's default float32 a float64 input's targets would lose digits on the way.
    target_array = as_array(target, ns, name="target", float_dtype=compute_dtype(xp, dtype))
    by_kernel = weight is None or not label_smoothing  # see `_class_index_loss_by_kernel`
    if target_array.ndim != given.ndim and by_kernel and None not in given.shape:
        labels = _class_indices(ns, target_array, given, class_dim, ignore_index)
        loss = _class_index_loss_by_kernel(
            ns,
            labels,
            given,
            _class_weight(ns, weight, given, class_dim),
            ignore_index=ignore_index,
            class_dim=class_dim,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )
        return to_caller_dtype(xp, loss, dtype)
    x = to_compute(xp, given)
    if target_array.ndim == x.ndim:  # probabilities: torch promotes with them and the weights
        x, dtype = _promoted(ns, x, dtype, target_array, weight)
    w = _class_weight(ns, weight, x, class_dim)
    log_p = c.log_softmax(ns, x, class_dim)
    if target_array.ndim == x.ndim:
        if ignore_index >= 0:
            raise ValueError(
                f"`ignore_index`={ignore_index} cannot be used with probability targets (torch "
                f"raises 'ignore_index is not supported for floating point target'); leave it "
                f"at its default, or pass class indices."
            )
        loss = _probability_loss(
            ns,
            target_array,
            log_p,
            None if w is None else _along(xp, w, x.ndim, class_dim),
            class_dim=class_dim,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )
    else:
        labels = _class_indices(ns, target_array, x, class_dim, ignore_index)
        loss = _class_index_loss(
            xp,
            log_p,
            labels,
            w,
            ignore_index=ignore_index,
            class_dim=class_dim,
            reduction=reduction,
            label_smoothing=label_smoothing,
        )
    return to_caller_dtype(xp, loss, dtype)


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Any:
    r"""``torch.nn.functional.nll_loss``: negative log-likelihood of log-probabilities.

    ``l_n = -w_{y_n} x_{n, y_n}``, 0 where ``y_n == ignore_index``; ``"mean"`` divides by the
    summed weights of the non-ignored targets (``nan`` when all are ignored).
    ``cross_entropy(x, y) == nll_loss(log_softmax(x, axis=1), y)``.

    Args:
        input: log-probabilities, shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``.
        target: class indices (any integer dtype), ``input``'s shape without dim 1.
        weight: one weight per class, shape ``(C,)``, or ``None``.
        ignore_index: a class index whose positions give 0 and are left out of the mean.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Returns:
        A scalar or an ``(N, d1, ...)`` array, with ``input``'s type, dtype and device.

    Raises:
        TypeError: ``input`` is not floating point; ``target`` is not integer.
        ValueError: shapes do not match; ``weight`` is not ``(C,)``; a class index is out of
            range (eagerly; under tracing that position gives ``nan``); bad ``reduction``.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import torch as F
        >>> log_p = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
        >>> F.nll_loss(log_p, [0, 2], weight=[1.0, 1.0, 3.0], reduction="none").round(4)
        array([0.3567, 0.6694])
    """
    reduction = _check_reduction(reduction)
    ignore_index = as_int(ignore_index, "ignore_index")
    ns = resolve(input=input, target=target, weight=weight)
    xp = ns.xp
    x, dtype = c.floating(ns, input, "input", upcast=False)  # only the picks are widened
    class_dim = _class_dim(x)
    w = _class_weight(ns, weight, x, class_dim)
    labels = _class_indices(ns, target, x, class_dim, ignore_index)
    loss = _class_index_loss(
        xp,
        x,
        labels,
        w,
        ignore_index=ignore_index,
        class_dim=class_dim,
        reduction=reduction,
        label_smoothing=0.0,
    )
    return to_caller_dtype(xp, loss, dtype)


def _same_shape(x: Any, target: Any) -> None:
    if not c.fits(c.shape(target), c.shape(x)):
        raise ValueError(
            f"`target` must have `input`'s shape {c.shape(x)}; received {c.shape(target)} "
            f"(torch refuses to broadcast them)."
        )


def _elementwise_weight(ns: Namespace, value: Any, name: str, x: Any) -> Any:
    if value is None:
        return None
    w = c.real(ns, value, name, x.dtype)
    if not c.broadcasts_to(c.shape(w), c.shape(x)):
        raise ValueError(
            f"`{name}` of shape {c.shape(w)} does not broadcast to `input`'s shape {c.shape(x)}."
        )
    return w


def _mean(xp: Any, loss: Any, x: Any, reduction: str) -> Any:
    """``loss`` (summed where ``reduction`` is not ``"none"``) divided by the number of
    ``x``'s elements for ``"mean"``."""
    return c.divide(xp, loss, c.count(xp, x)) if reduction == "mean" else loss


def _check_probabilities(ns: Namespace, x: Any, name: str) -> tuple[float, float] | None:
    """Raise unless ``x`` holds probabilities; their range, or ``None`` where it cannot be
    read."""
    found = c.value_range(ns.backend.adapter, x)
    if found is None:
        return None
    if not 0.0 <= found[0] <= found[1] <= 1.0:
        low, high = found
        received = "nan" if low != low else f"values from {low:.4g} to {high:.4g}"
        hint = " For logits use binary_cross_entropy_with_logits." if name == "input" else ""
        raise ValueError(
            f"`{name}` must hold probabilities in [0, 1] (torch raises 'all elements of {name} "
            f"should be between 0 and 1'); received {received}.{hint}"
        )
    return found


_INTERIOR = 2e-12
"""Probabilities within this of 0 or 1 take the generic body's derivatives (see
`binary_cross_entropy`)."""


def clamped_binary_xp(xp: Any, t: Any, weight: Any, p: Any, *, total: bool) -> Any:
    """``-w (t max(log p, -100) + (1 - t) max(log(1 - p), -100))``, summed where ``total``:
    `binary_cross_entropy`'s generic body (``"clamped_binary"``, see `xloss._fast`)."""
    loss = -(t * c.log_clamped(xp, p) + (1.0 - t) * c.log_clamped(xp, p, complement=True))
    if weight is not None:
        loss = loss * weight
    return xp.sum(loss) if total else loss


def binary_cross_entropy(
    input: Any, target: Any, weight: Any = None, *, reduction: str = "mean"
) -> Any:
    r"""``torch.nn.functional.binary_cross_entropy``: binary cross-entropy of probabilities.

    ``l = -w (y \max(\log p, -100) + (1 - y) \max(\log(1 - p), -100))``: torch clamps each log
    at -100, so one element's loss never exceeds 100 (Keras clips ``p`` instead, capping it at
    16.118). ``"mean"`` averages over every element.

    Args:
        input: probabilities in [0, 1], any shape.
        target: targets in [0, 1] with ``input``'s shape.
        weight: rescales each element; broadcast to ``input``'s shape.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Returns:
        A scalar or an array of ``input``'s shape, with ``input``'s type, dtype and device.

    Raises:
        TypeError: ``input`` is not floating point.
        ValueError: the shapes differ; ``input`` or ``target`` holds values outside [0, 1] or
            ``nan`` (checked eagerly, as torch does on CPU; under tracing, where values cannot
            be read, such inputs give ``nan`` and targets are not checked); bad ``reduction``.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import torch as F
        >>> p = np.array([0.9, 0.2, 0.0])
        >>> F.binary_cross_entropy(p, np.array([1.0, 0.0, 1.0]), reduction="none").round(4)
        array([  0.1054,   0.2231, 100.    ])
    """
    reduction = _check_reduction(reduction)
    ns = resolve(input=input, target=target, weight=weight)
    xp = ns.xp
    p, dtype = c.floating(ns, input, "input")
    t = c.real(ns, target, "target", p.dtype)
    _same_shape(p, t)
    found = _check_probabilities(ns, p, "input")
    # A kernel may take torch's derivatives where they are the generic body's: targets in
    # [0, 1], and p where neither the logs' clamp nor torch's of p (1 - p) at 1e-12 acts.
    targets = _check_probabilities(ns, t, "target")
    low, high = (0.0, 1.0) if found is None or targets is None else found
    checked = low >= _INTERIOR and high <= 1.0 - _INTERIOR
    w = _elementwise_weight(ns, weight, "weight", p)
    total = reduction != "none"
    adapter = ns.backend.adapter
    loss = _fast.run(
        adapter, "clamped_binary", clamped_binary_xp, xp, t, w, p, checked=checked, total=total
    )
    return to_caller_dtype(xp, _mean(xp, loss, p, reduction), dtype)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Any:
    r"""``torch.nn.functional.binary_cross_entropy_with_logits``: sigmoid cross-entropy.

    ``l = w ((1 - y) x - (1 + (q - 1) y) \log \sigma(x))``, torch's stable form (finite for any
    finite logit), with ``q = pos_weight`` weighting the positive term.

    Args:
        input: logits, any shape; real floating point.
        target: targets in [0, 1] with ``input``'s shape.
        weight: rescales each element; broadcast to ``input``'s shape.
        reduction: ``"mean"`` (default, over every element), ``"sum"`` or ``"none"``.
        pos_weight: weight of positive examples, broadcast along the trailing dimensions
            (one per class: shape ``(C,)`` for ``(N, C)`` input).

    Returns:
        A scalar or an array of ``input``'s shape, with ``input``'s type and device, and the
        dtype torch gives: it computes in place on ``1 - target``, so a floating ``target``
        of another dtype gives the target's (float16 targets with a float32 input: float16),
        whatever the dtypes of ``weight`` and ``pos_weight``.

    Raises:
        TypeError: ``input`` is not floating point.
        ValueError: the shapes differ; ``weight`` or ``pos_weight`` does not broadcast to
            ``input``; bad ``reduction``.

    Examples:
        >>> import numpy as np
        >>> from xloss.compat import torch as F
        >>> x = np.array([[2.0, -1.0], [0.0, 3.0]])
        >>> y = np.array([[1.0, 0.0], [1.0, 1.0]])
        >>> F.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=[2.0, 1.0])
        array([[0.25385602, 0.31326169],
               [1.38629436, 0.04858735]])
    """
    reduction = _check_reduction(reduction)
    ns = resolve(input=input, target=target, weight=weight, pos_weight=pos_weight)
    xp = ns.xp
    x, dtype = c.floating(ns, input, "input")
    # torch's loss is (1 - target) * input - ..., its products in place: the target's floating
    # dtype, whatever the input's, weight's and pos_weight's.
    target_dtype = None if _is_value(target) else as_array(target, ns).dtype
    if target_dtype is not None and is_kind(xp, target_dtype, "real floating"):
        x, dtype = _in_dtype(xp, x, target_dtype)
    t = c.real(ns, target, "target", x.dtype)
    _same_shape(x, t)
    w = _elementwise_weight(ns, weight, "weight", x)
    q = _elementwise_weight(ns, pos_weight, "pos_weight", x)
    loss = c.logistic(ns, t, x, q, w, total=reduction != "none")
    return to_caller_dtype(xp, _mean(xp, loss, x, reduction), dtype)
