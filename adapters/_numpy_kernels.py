"""NumPy formulations with fewer passes over memory than the generic body, same answers.

NumPy runs one operation at a time, so each elementwise step is a pass over the array; these
kernels do the same arithmetic in fewer passes. Each returns ``None`` to decline.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from xloss._losses import EPSILON


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
    """``lse(x - m) - (x - m)[label]`` in eight NumPy calls; labels already checked."""
    if not checked:
        return None
    np = sys.modules["numpy"]
    if not from_logits:
        return _sparse_probabilities(np, labels, x, axis, ignore_class)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    lse = np.log(np.sum(np.exp(shifted), axis=axis))
    valid = None if ignore_class is None else labels != ignore_class
    index = labels if valid is None else np.where(valid, labels, 0)
    picked = np.take_along_axis(shifted, np.expand_dims(index, axis), axis=axis)
    loss = lse - np.squeeze(picked, axis=axis)
    return (loss, None) if valid is None else (np.where(valid, loss, 0.0), valid)


def _sparse_probabilities(
    np: Any, labels: Any, p: Any, axis: int, ignore_class: int | None
) -> tuple[Any, Any]:
    """The picked probability over the row total (1 for an all-zero row), clipped, as Keras:
    six calls instead of the generic body's fourteen (labels already checked)."""
    valid = None if ignore_class is None else labels != ignore_class
    index = labels if valid is None else np.where(valid, labels, 0)
    picked = np.squeeze(np.take_along_axis(p, np.expand_dims(index, axis), axis=axis), axis=axis)
    total = np.sum(p, axis=axis)
    total = np.where(total == 0, 1.0, total)
    loss = -np.log(np.clip(picked / total, EPSILON, 1.0 - EPSILON))
    return (loss, None) if valid is None else (np.where(valid, loss, 0.0), valid)


def _categorical(
    y: Any,
    x: Any,
    *,
    axis: int,
    from_logits: bool,
    label_smoothing: float,
    generic: Callable[..., Any],
    xp: Any,
    **_: Any,
) -> tuple[Any, None] | None:
    """``lse * sum(y) - y . (x - m)``: no log-softmax array, one dot product per row.

    The dot product gives nan where a ``-inf`` logit meets a zero target (``0 * -inf``), which
    the generic body defines as 0; those rows are found in the (N,)-sized result and recomputed.
    """
    if not from_logits or label_smoothing:
        return None
    np = sys.modules["numpy"]
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    lse = np.log(np.sum(e, axis=axis))
    del e  # at most two logits-sized temporaries at once
    with np.errstate(invalid="ignore"):
        loss = lse * np.sum(y, axis=axis) - np.vecdot(y, shifted, axis=axis)
    bad = np.isnan(loss)
    if bad.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            exact, _ = generic(xp, y, x, axis=axis, from_logits=True, label_smoothing=0.0)
        loss = np.where(bad, exact, loss)
    return loss, None


def _binary(
    z: Any, x: Any, *, axis: int, from_logits: bool, label_smoothing: float, **_: Any
) -> tuple[Any, None] | None:
    """``max(x, 0) + log1p(exp(-|x|)) - x z``: the generic body's arithmetic without its
    ``where``s (which keep autodiff exact at 0; NumPy has no autodiff). ``np.logaddexp`` would
    be one ufunc but is not vectorised: 4x slower than these."""
    if not from_logits or label_smoothing:
        return None
    np = sys.modules["numpy"]
    softplus = np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
    return np.mean(softplus - x * z, axis=axis), None


KERNELS: dict[str, Callable[..., Any]] = {
    "sparse": _sparse,
    "categorical": _categorical,
    "binary": _binary,
}
