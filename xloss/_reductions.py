"""Keras 3's loss reductions, with ``sample_weight`` and a valid-position mask.

``"sum_over_batch_size"`` and ``"mean"``: ``sum(w * l) / n``, where ``n`` counts the loss values
(the valid ones when positions are ignored); ``"mean_with_sample_weight"``: ``sum(w * l) / sum(w)``;
``"sum"``; ``None``/``"none"``: the weighted values themselves. A zero divisor gives 0, not ``nan``.
"""

from __future__ import annotations

import math
from typing import Any

from xloss._validation import same_rank


def _count(xp: Any, x: Any) -> Any:
    """Number of elements of ``x``: a Python int, or an array if a dimension is unknown."""
    if all(d is not None for d in x.shape):
        return math.prod(x.shape)
    return xp.sum(xp.ones_like(x))


def _divide_no_nan(xp: Any, total: Any, divisor: Any) -> Any:
    if isinstance(divisor, int):
        return total / divisor if divisor else xp.zeros_like(total)
    zero = divisor == 0
    safe = xp.where(zero, xp.ones_like(divisor), divisor)
    return xp.where(zero, xp.zeros_like(total), total / safe)


def align_sample_weight(xp: Any, sample_weight: Any, values: Any) -> tuple[Any, Any]:
    """``(values, sample_weight)`` shaped to broadcast against each other.

    A trailing size-1 dimension on one side is Keras's rule (`same_rank`): an ``(N, 1)``
    weight on ``(N,)`` losses makes them ``(N, 1)``, as Keras's reductions do; on ``(N, T)``
    losses it is dropped. A weight of fewer dimensions is aligned from the left (one weight per
    sample weighs all of that sample's values).
    """
    values, w = same_rank(xp, values, sample_weight)
    while w.ndim < values.ndim:
        w = xp.expand_dims(w, axis=-1)
    fits = w.ndim == values.ndim and all(
        a is None or b is None or a in (1, b) for a, b in zip(w.shape, values.shape)
    )
    if not fits and values.ndim == 0:
        raise ValueError(
            f"`sample_weight` of shape {tuple(sample_weight.shape)} does not fit a loss that is "
            f"one value: the binary losses average `y_pred`'s last axis, so a 1-D `y_pred` is "
            f"one sample. Give `y_pred` (and `y_true`) the shape (N, 1) for one loss per "
            f"sample, or a scalar weight."
        )
    if not fits:
        raise ValueError(
            f"`sample_weight` of shape {tuple(sample_weight.shape)} does not fit the per-sample "
            f"losses of shape {tuple(values.shape)}; give one weight per sample (shape "
            f"{tuple(values.shape[:1])}) or one per loss value (shape {tuple(values.shape)})."
        )
    return values, w


def reduce_xp(xp: Any, values: Any, sample_weight: Any, valid: Any, reduction: str | None) -> Any:
    """Weight ``values``, leave out the positions where ``valid`` is False, and reduce."""
    weights = None
    mask = None if valid is None else xp.astype(valid, values.dtype)
    if sample_weight is not None:
        values, weights = align_sample_weight(xp, sample_weight, values)
        if mask is not None and values.ndim > mask.ndim:
            mask = xp.expand_dims(mask, axis=-1)
    if mask is not None:
        weights = mask if weights is None else weights * mask
    weighted = values if weights is None else values * weights
    if reduction is None:
        return weighted
    total = xp.sum(weighted)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = xp.sum(weights * xp.ones_like(values))
    elif mask is not None:
        divisor = xp.sum(mask)
    else:
        divisor = _count(xp, values)
    return _divide_no_nan(xp, total, divisor)
