"""Top-K accuracy per sample, with Keras 3's semantics, ties included.

``sparse_top_k_categorical_accuracy`` and ``top_k_categorical_accuracy`` give, per sample, 1.0
when the true class is among the ``k`` highest predictions and 0.0 otherwise, in float32, as
``keras.metrics`` does.

**The tie rule** (TensorFlow's ``InTopKV2`` kernel, which Keras's TF backend calls): the true
class is in the top ``k`` iff fewer than ``k`` classes score *strictly* higher. Every class tied
with the k-th largest score is therefore inside: with scores ``[0.9, 0.5, 0.5, 0.1]`` and
``k=2``, classes 1 and 2 both count. Keras's NumPy and torch backends (``target >= k-th largest
of top_k``) and its JAX backend (``1 + #greater <= k``) agree on finite scores. The rule is a
count, computed without sorting: ``sum(y_pred > y_pred[label]) < k`` along the class axis,
``O(N * C)``, with no ``top_k``.

Where Keras's backends disagree, xloss follows Keras on TensorFlow (the default backend):

- **Non-finite scores**: a row holding NaN or +-inf *anywhere* gives 0.0 (TF's kernel "cannot
  say"). Keras-JAX treats a NaN at the label as ``-inf`` and ignores NaN elsewhere;
  Keras-NumPy/torch rank NaN first in ``top_k``; neither treats infinities specially.
- **Labels outside** ``[0, C)`` give 0.0 (JAX and NumPy wrap negative labels; NumPy raises for
  labels ``>= C``).
- **k larger than C** is allowed: every finite row scores 1.0 (torch's ``topk`` raises).
- **Dtypes**: Keras-TF accepts float32 predictions only; xloss takes any real dtype and compares
  in it exactly (no upcast), so ties in float16 are the float16 ties.

``k < 1`` is a ``ValueError`` here; Keras returns zeros (TF) or raises (torch).
"""

from __future__ import annotations

from typing import Any

from xloss._dispatch import Namespace, as_array, resolve
from xloss._dtypes import finfo
from xloss._topk import check_k
from xloss._validation import (
    _same,
    _shape,
    check_classes,
    check_flag,
    index_dtype,
    is_half,
    is_kind,
)

# --- the core (Array API only) ----------------------------------------------------------------


def _num_classes(xp: Any, y_pred: Any, dtype: Any) -> Any:
    """``C`` as a Python int, or (a dimension unknown under tracing) counted, in ``dtype``."""
    n = y_pred.shape[-1]
    if n is None:
        n = xp.sum(xp.ones_like(y_pred, dtype=dtype), axis=-1)
    return n


def _trunc(xp: Any, x: Any) -> Any:
    """Round toward zero (what a cast to int32 does) with ``floor``/``ceil`` only."""
    return xp.where(x < 0, xp.ceil(x), xp.floor(x))


def _label_index(xp: Any, labels: Any, y_pred: Any) -> tuple[Any, Any]:
    """``(index, in_range)``: labels as gatherable indices (0 where out of range) and the mask.

    Floating labels are truncated toward zero first, as Keras's cast to int32 does (``1.7`` is
    class 1); NaN and infinities are out of range.
    """
    indexing = index_dtype(xp)
    if is_kind(xp, labels.dtype, "real floating"):
        labels = _trunc(xp, labels)
        num_classes = _num_classes(xp, y_pred, labels.dtype)
        in_range = xp.logical_and(labels >= 0, labels < num_classes)  # False for NaN
        safe = xp.where(in_range, labels, xp.zeros_like(labels))
        return xp.astype(safe, indexing), in_range
    # In the indexing dtype first, as the losses take labels: uint8 would wrap a counted C, and
    # torch compares no uint16-64. Unsigned labels past its maximum wrap negative: out of range.
    index = labels if labels.dtype == indexing else xp.astype(labels, indexing)
    num_classes = _num_classes(xp, y_pred, indexing)
    in_range = xp.logical_and(index >= 0, index < num_classes)
    return xp.where(in_range, index, xp.zeros_like(index)), in_range


def in_top_k_xp(xp: Any, labels: Any, y_pred: Any, k: int) -> Any:
    """Boolean, shaped like ``labels``: fewer than ``k`` classes score strictly above the label's,
    the label is in ``[0, C)`` and the row is finite (TensorFlow's ``in_top_k``). Class axis -1.
    """
    index, in_range = _label_index(xp, labels, y_pred)
    picked = xp.take_along_axis(y_pred, xp.expand_dims(index, axis=-1), axis=-1)
    above = xp.sum(xp.astype(xp.greater(y_pred, picked), xp.int32), axis=-1)
    hit = xp.logical_and(above < k, in_range)
    if is_kind(xp, y_pred.dtype, "real floating"):
        hit = xp.logical_and(hit, xp.all(xp.isfinite(y_pred), axis=-1))
    return hit


def in_sorted_ids_xp(xp: Any, labels: Any, ids: Any, k: int) -> Any:
    """Boolean, shaped like ``labels``: the label is one of the first ``k`` ids of its row.

    Labels take the ids' dtype first, as Keras converts them (float labels meeting integer ids
    are truncated; NaN, infinities and values the integer dtype cannot hold match nothing).
    """
    valid = None
    if labels.dtype != ids.dtype:
        if is_kind(xp, ids.dtype, "integral") and is_kind(xp, labels.dtype, "real floating"):
            info = xp.iinfo(ids.dtype)
            labels = _trunc(xp, labels)
            valid = xp.logical_and(labels >= info.min, labels <= info.max)  # False for NaN
            labels = xp.where(valid, labels, xp.zeros_like(labels))
        labels = xp.astype(labels, ids.dtype)
    width = ids.shape[-1]
    first = ids[..., : k if width is None else min(k, width)]
    hit = xp.any(xp.expand_dims(labels, axis=-1) == first, axis=-1)
    return hit if valid is None else xp.logical_and(hit, valid)


def _argmax_like_tensorflow(xp: Any, y_true: Any) -> Any:
    """``argmax`` over the last axis as Keras's ``ops.argmax`` on TensorFlow: first index on
    ties, NaN never the maximum (``tf.argmax`` skips NaN; an all-NaN row gives 0), and ``-0.0``
    below ``0.0`` (Keras replaces it by minus the smallest normal number, half precision in
    float32)."""
    if is_kind(xp, y_true.dtype, "real floating"):
        if is_half(xp, y_true):
            y_true = xp.astype(y_true, xp.float32)
        below_zero = -float(finfo(xp, y_true.dtype).smallest_normal)
        y_true = xp.where(xp.logical_and(y_true == 0, xp.signbit(y_true)), below_zero, y_true)
        y_true = xp.where(xp.isnan(y_true), -float("inf"), y_true)
    return xp.argmax(y_true, axis=-1)


# --- validation --------------------------------------------------------------------------------


def _predictions(y_pred: Any, ns: Namespace, name: str, what: str) -> Any:
    xp = ns.xp
    y_pred = as_array(y_pred, ns, floating=True, name="y_pred")
    if not is_kind(xp, y_pred.dtype, ("real floating", "integral")):
        raise TypeError(
            f"`{name}` must be a real array of {what} (floating point or integer); received "
            f"dtype {y_pred.dtype}."
        )
    if y_pred.ndim == 0:
        raise ValueError(
            f"`{name}` must have at least one dimension (the class axis, last); received a "
            f"scalar. Reshape it, e.g. to shape (1, C)."
        )
    if what == "scores":  # sorted ids may be none (k = 0 of them): no hit
        check_classes(y_pred, y_pred.ndim - 1, array=name)
    return y_pred


def _sparse_labels(xp: Any, y_true: Any, y_pred: Any) -> tuple[Any, bool]:
    """``(labels, restore)``: labels shaped like ``y_pred`` without its last axis; ``restore``
    says a trailing size-1 axis (Keras's ``(N, 1)`` form) was dropped and goes back on."""
    if not is_kind(xp, y_true.dtype, ("integral", "real floating")):
        raise TypeError(
            f"`y_true` must hold class indices (an integer array, or whole numbers in a "
            f"floating array); received dtype {y_true.dtype}."
        )
    t, p = _shape(y_true), _shape(y_pred)
    expected = p[:-1]
    if _same(t, expected):
        return y_true, False
    if _same(t, (*expected, 1)):
        return xp.squeeze(y_true, axis=-1), True
    raise ValueError(
        f"`y_true` must have the shape of `y_pred` without its last (class) axis, "
        f"{expected}, or that shape with a trailing 1; received y_true.shape={t} for "
        f"y_pred.shape={p}."
    )


def _as_float32(xp: Any, hit: Any, restore: bool) -> Any:
    result = xp.astype(hit, xp.float32)
    return xp.expand_dims(result, axis=-1) if restore else result


# --- public functions ---------------------------------------------------------------------------


def sparse_top_k_categorical_accuracy(
    y_true: Any, y_pred: Any, k: int = 5, from_sorted_ids: bool = False
) -> Any:
    """Whether each integer label is among the ``k`` highest scores: 1.0 or 0.0 per sample.

    Keras 3's ``keras.metrics.sparse_top_k_categorical_accuracy``, on every backend. **Ties
    count as inside**: the label is in the top ``k`` iff fewer than ``k`` classes score strictly
    higher, so every class tied with the k-th largest score gets 1.0 (TensorFlow's
    ``in_top_k`` rule; Keras's other backends agree on finite scores). A row with any NaN or
    infinite score gives 0.0, and so does a label outside ``[0, C)``, as on Keras's TensorFlow
    backend. Computed as a count, ``sum(y_pred > y_pred[label]) < k``, without sorting.

    Args:
        y_true: class indices shaped like ``y_pred`` without its last axis, e.g. ``(N,)``;
            Keras's ``(N, 1)`` form is accepted too. Integers, or floats truncated toward zero
            as Keras's cast to int32 does. With ``from_sorted_ids``, ids of ``y_pred``'s kind.
        y_pred: scores with the classes on the last axis, e.g. ``(N, C)``: logits or
            probabilities, any real dtype (compared exactly, never upcast). With
            ``from_sorted_ids``, the class ids of each row sorted from best to worst, ``(N, M)``.
        k: how many top classes count; at least 1. ``k >= C`` puts every class of a finite row
            in the top ``k``, as in Keras.
        from_sorted_ids: ``y_pred`` holds sorted class ids rather than scores; a sample counts
            when its label is among the first ``k`` ids (Keras's option of that name).

    Returns:
        float32 array of ``y_pred``'s library and device with ``y_true``'s shape (``(N, 1)``
        labels give an ``(N, 1)`` result, as in Keras): 1.0 where the label is in the top
        ``k``, else 0.0. The mean over samples is the top-k accuracy.

    Raises:
        TypeError: ``k`` is not an int; ``y_pred`` or ``y_true`` is boolean or complex;
            ``from_sorted_ids`` is not a bool; arrays of two frameworks are mixed.
        ValueError: ``k < 1``; ``y_pred`` is a scalar; ``y_true``'s shape is not ``y_pred``'s
            without its last axis (or that with a trailing 1).

    Examples:
        >>> import numpy as np, xloss
        >>> y_pred = np.array([[0.1, 0.5, 0.5, 0.5, 0.2], [0.4, 0.3, 0.2, 0.1, 0.0]])
        >>> xloss.sparse_top_k_categorical_accuracy([3, 2], y_pred, k=1)  # 3 ties with the top
        array([1., 0.], dtype=float32)
        >>> xloss.sparse_top_k_categorical_accuracy([[3], [2]], y_pred, k=3)
        array([[1.],
               [1.]], dtype=float32)
    """
    from_sorted_ids = check_flag(from_sorted_ids, "from_sorted_ids")
    k = check_k(k, None)
    ns = resolve(y_pred=y_pred, y_true=y_true)
    xp = ns.xp
    what = "sorted class ids" if from_sorted_ids else "scores"
    y_pred = _predictions(y_pred, ns, "y_pred", what)
    labels, restore = _sparse_labels(xp, as_array(y_true, ns, name="y_true"), y_pred)
    if from_sorted_ids:
        hit = in_sorted_ids_xp(xp, labels, y_pred, k)
    else:
        hit = in_top_k_xp(xp, labels, y_pred, k)
    return _as_float32(xp, hit, restore)


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> Any:
    """Whether each one-hot target's class is among the ``k`` highest scores: 1.0 or 0.0.

    Keras 3's ``keras.metrics.top_k_categorical_accuracy``, on every backend: the target class
    is ``argmax(y_true)`` over the last axis (the first on ties, NaN skipped, ``-0.0`` below
    ``0.0``, as Keras's ``ops.argmax`` on TensorFlow; soft labels work the same way), then the
    rule of
    `sparse_top_k_categorical_accuracy` applies: **ties with the k-th largest score count
    as inside**, and a row holding NaN or an infinite score gives 0.0.

    Args:
        y_true: one-hot (or soft) targets with ``y_pred``'s shape, e.g. ``(N, C)``; floating,
            integer or boolean. Like Keras, they are cast to ``y_pred``'s floating dtype before
            the argmax.
        y_pred: scores with the classes on the last axis; any real dtype, compared exactly.
        k: how many top classes count; at least 1; ``k >= C`` is allowed.

    Returns:
        float32 array of ``y_pred``'s library and device, shaped like ``y_pred`` without its
        last axis: 1.0 where the target class is in the top ``k``, else 0.0.

    Raises:
        TypeError: ``k`` is not an int; ``y_pred`` is boolean or complex, ``y_true`` complex;
            arrays of two frameworks are mixed.
        ValueError: ``k < 1``; ``y_pred`` is a scalar; the shapes differ (Keras would silently
            take the argmax of a mismatched ``y_true``).

    Examples:
        >>> import numpy as np, xloss
        >>> y_true = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        >>> y_pred = np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0.0]])
        >>> xloss.top_k_categorical_accuracy(y_true, y_pred, k=1)
        array([0., 1.], dtype=float32)
    """
    k = check_k(k, None)
    ns = resolve(y_pred=y_pred, y_true=y_true)
    xp = ns.xp
    y_pred = _predictions(y_pred, ns, "y_pred", "scores")
    y_true = as_array(y_true, ns, name="y_true")
    if not is_kind(xp, y_true.dtype, ("real floating", "integral", "bool")):
        raise TypeError(
            f"`y_true` must be a real array of one-hot or soft targets; received dtype "
            f"{y_true.dtype}."
        )
    if not _same(_shape(y_true), _shape(y_pred)):
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape; received "
            f"y_true.shape={_shape(y_true)} and y_pred.shape={_shape(y_pred)}. For integer "
            f"class labels use sparse_top_k_categorical_accuracy."
        )
    if is_kind(xp, y_pred.dtype, "real floating"):
        y_true = y_true if y_true.dtype == y_pred.dtype else xp.astype(y_true, y_pred.dtype)
    elif is_kind(xp, y_true.dtype, "bool"):
        y_true = xp.astype(y_true, xp.int8)
    labels = _argmax_like_tensorflow(xp, y_true)
    return _as_float32(xp, in_top_k_xp(xp, labels, y_pred, k), False)
