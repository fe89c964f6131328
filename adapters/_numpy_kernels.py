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
    """``lse(x - m) - (x[label] - m)`` with one logits-sized buffer, exponentiated in place;
    labels already checked."""
    if not checked:
        return None
    np = sys.modules["numpy"]
    if not from_logits:
        return _sparse_probabilities(np, labels, x, axis, ignore_class)
    m = np.maximum.reduce(x, axis=axis, keepdims=True)
    e = np.subtract(x, m)
    np.exp(e, out=e)
    lse = np.log(np.add.reduce(e, axis=axis))
    del e
    valid = None if ignore_class is None else labels != ignore_class
    index = labels if valid is None else np.where(valid, labels, 0)
    loss = lse - (_pick(np, x, index, axis) - np.squeeze(m, axis=axis))
    return (loss, None) if valid is None else (np.where(valid, loss, 0.0), valid)


def _pick(np: Any, x: Any, index: Any, axis: int) -> Any:
    """``x``'s entries at ``index`` along ``axis`` (that axis removed): plain indexing for the
    common (N, C) case, which costs less per call than ``take_along_axis``."""
    if x.ndim == 2 and axis == 1:
        return x[np.arange(x.shape[0]), index]
    picked = np.take_along_axis(x, np.expand_dims(index, axis), axis=axis)
    return np.squeeze(picked, axis=axis)


def _sparse_probabilities(
    np: Any, labels: Any, p: Any, axis: int, ignore_class: int | None
) -> tuple[Any, Any]:
    """The picked probability over the row total (1 for an all-zero row), clipped, as Keras:
    six calls instead of the generic body's fourteen (labels already checked)."""
    valid = None if ignore_class is None else labels != ignore_class
    index = labels if valid is None else np.where(valid, labels, 0)
    picked = _pick(np, p, index, axis)
    total = np.add.reduce(p, axis=axis)
    total = np.where(total == 0, 1.0, total)
    loss = -np.log(np.clip(picked / total, EPSILON, 1.0 - EPSILON))
    return (loss, None) if valid is None else (np.where(valid, loss, 0.0), valid)


def _softmax(x: Any, *, axis: int, **_: Any) -> Any:
    """``exp(x - max) / sum``, the generic body's arithmetic in one buffer."""
    np = sys.modules["numpy"]
    e = np.subtract(x, np.maximum.reduce(x, axis=axis, keepdims=True))
    np.exp(e, out=e)
    e /= np.add.reduce(e, axis=axis, keepdims=True)
    return e


def _log_softmax(x: Any, *, axis: int, **_: Any) -> Any:
    """``(x - max) - log(sum(exp(x - max)))``, the generic body's arithmetic in two buffers."""
    np = sys.modules["numpy"]
    shifted = np.subtract(x, np.maximum.reduce(x, axis=axis, keepdims=True))
    e = np.exp(shifted)
    shifted -= np.log(np.add.reduce(e, axis=axis, keepdims=True))
    return shifted


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
    """``lse * sum(y) - y . (x - m)``: no log-softmax array, one dot product per row, and one
    logits-sized buffer (``x - m``, dotted with ``y`` and then exponentiated in place).

    The dot product gives nan where a ``-inf`` logit meets a zero target (``0 * -inf``), which
    the generic body defines as 0; those rows are found in the (N,)-sized result and recomputed.
    From probabilities: see `_categorical_probabilities`.
    """
    if label_smoothing:
        return None
    np = sys.modules["numpy"]
    if not from_logits:
        return _categorical_probabilities(np, y, x, axis), None
    shifted = np.subtract(x, np.maximum.reduce(x, axis=axis, keepdims=True))
    with np.errstate(invalid="ignore"):  # 0 * -inf, here and in the total
        dot = np.vecdot(y, shifted, axis=axis)
        np.exp(shifted, out=shifted)
        lse = np.log(np.add.reduce(shifted, axis=axis))
        del shifted
        loss = lse * np.add.reduce(y, axis=axis) - dot
    bad = np.isnan(loss)
    if bad.any():
        with np.errstate(invalid="ignore", divide="ignore"):
            exact, _ = generic(xp, y, x, axis=axis, from_logits=True, label_smoothing=0.0)
        loss = np.where(bad, exact, loss)
    return loss, None


def _categorical_probabilities(np: Any, y: Any, p: Any, axis: int) -> Any:
    """``-sum(y log(clip(p / total)))``, the generic body's operations in its order (the same
    answer, bit for bit) in one buffer written in place, where the generic body makes four."""
    total = np.add.reduce(p, axis=axis, keepdims=True)
    terms = np.divide(p, np.where(total == 0, 1.0, total))
    np.clip(terms, EPSILON, 1.0 - EPSILON, out=terms)
    np.log(terms, out=terms)
    np.multiply(y, terms, out=terms)
    return -np.add.reduce(terms, axis=axis)


def _binary_probabilities(np: Any, z: Any, p: Any, axis: int) -> Any:
    """``-(z log(p) + (1 - z) log(1 - p))`` of ``p`` clipped, averaged: the generic body's
    operations in its order (bit for bit) in three buffers, where it makes seven."""
    p = np.clip(p, EPSILON, 1.0 - EPSILON)
    other = np.subtract(1.0, p)
    np.log(other, out=other)
    np.log(p, out=p)
    np.multiply(z, p, out=p)
    np.multiply(np.subtract(1.0, z), other, out=other)
    p += other
    np.negative(p, out=p)
    return _mean(np, p, axis)


def _binary(
    z: Any, x: Any, *, axis: int, from_logits: bool, label_smoothing: float, **_: Any
) -> tuple[Any, None] | None:
    """``(max(x, 0) - x z) + log1p(exp(-|x|))``: the generic body's arithmetic in its order
    (`xloss._activations.binary_logits_xp`) without its ``where``s (which keep autodiff exact
    at 0; NumPy has no autodiff), in two logits-sized buffers written in place (fresh large
    arrays cost page faults). ``np.logaddexp`` would be one ufunc but is not vectorised: 4x
    slower than these. From probabilities: see `_binary_probabilities`."""
    if label_smoothing:
        return None
    np = sys.modules["numpy"]
    if not from_logits:
        return _binary_probabilities(np, z, x, axis), None
    out = np.multiply(x, z)
    other = np.maximum(x, 0.0)
    np.subtract(other, out, out=other)
    np.abs(x, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += other
    return _mean(np, out, axis), None


# NumPy's `ndarray.sum`/`max` and `np.mean` are Python functions around ufuncs' `reduce` (0.3-5
# us a call, a large share of these kernels' cost at 8 x 10); the kernels call the ufuncs
# those call, with the same arguments: the same bits. (`np.clip` stays: its ufunc is one pass,
# where `np.maximum` and `np.minimum` with a scalar are two, each several times slower on
# large arrays: 1M float32 77 us against 618 us.)


def _mean(np: Any, a: Any, axis: int) -> Any:
    """``np.mean(a, axis=axis)`` of float32/float64 ``a``: its sum, and its division by the
    count as an ``intp``, written back in ``a``'s dtype (5 us of a binary loss's 12 us at
    8 x 10). An empty axis goes to ``np.mean`` (its warning, its nan)."""
    count = a.shape[axis]
    if count == 0:
        return np.mean(a, axis=axis)
    total = np.add.reduce(a, axis=axis)
    if isinstance(total, np.ndarray):
        return np.true_divide(total, np.intp(count), out=total, casting="unsafe")
    return total.dtype.type(total / np.intp(count))


KERNELS: dict[str, Callable[..., Any]] = {
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "sparse": _sparse,
    "categorical": _categorical,
    "binary": _binary,
}
