"""``top_k``: the K largest (or smallest) entries along an axis, one semantics on every backend.

Sorted; ties broken lower index first; NaN ranks above ``+inf``; ``-0.0`` and ``0.0`` tie. The
core below is the pure-standard body (two stable sorts); adapters may offer a native fast path
(``adapter.top_k``), which the conformance suite proves equal to it, and which
``xloss.fast_paths(False)`` switches off with the other kernels.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from xloss._dispatch import as_array, resolve
from xloss._fast import fast_paths
from xloss._validation import as_int, check_flag, is_kind, normalize_axis


class TopK(NamedTuple):
    """The result of `top_k`: ``values`` and their ``indices`` along the axis."""

    values: Any
    indices: Any


def check_k(k: Any, size: int | None, *, name: str = "k") -> int:
    k = as_int(k, name)
    if size is not None and not 1 <= k <= size:
        raise ValueError(
            f"`{name}`={k} is out of range: the axis has {size} entries, so `{name}` must be "
            f"in [1, {size}]."
        )
    if size is None and k < 1:
        raise ValueError(f"`{name}`={k} is out of range: it must be at least 1.")
    return k


def _take_first(xp: Any, x: Any, k: int, axis: int) -> Any:
    index = tuple(slice(0, k) if d == axis else slice(None) for d in range(x.ndim))
    return x[index]


def top_k_xp(xp: Any, x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any]:
    """The pure-standard body: a stable sort by value, then a stable sort by NaN-ness."""
    if is_kind(xp, x.dtype, "real floating"):
        nan = xp.isnan(x)
        order = xp.argsort(
            xp.where(nan, xp.zeros_like(x), x), axis=axis, descending=largest, stable=True
        )
        # NaN ranks above +inf: first when largest, last otherwise; among NaNs, index order.
        nan_in_order = xp.astype(xp.take_along_axis(nan, order, axis=axis), xp.int8)
        regroup = xp.argsort(nan_in_order, axis=axis, descending=largest, stable=True)
        order = xp.take_along_axis(order, regroup, axis=axis)
    else:
        order = xp.argsort(x, axis=axis, descending=largest, stable=True)
    indices = _take_first(xp, order, k, axis)
    return xp.take_along_axis(x, indices, axis=axis), indices


def top_k(x: Any, k: int, /, axis: int = -1, *, largest: bool = True) -> TopK:
    """The ``k`` largest (or smallest) entries of ``x`` along ``axis``, sorted, with indices.

    One semantics on every backend, whatever the native op does: values sorted (descending for
    ``largest=True``), **ties broken lower index first** (``torch.topk`` is not stable),
    **NaN ranks above +inf** (first when ``largest``, last otherwise; ``tf.math.top_k`` misplaces
    it), ``-0.0`` ties with ``0.0``, any axis (``tf.math.top_k`` and ``jax.lax.top_k`` work on
    the last one only), integer dtypes too.

    Fast paths: ``np.argpartition`` then a sort of the K, ``torch.topk``, ``jax.lax.top_k`` and
    ``tf.math.top_k``, run on integer keys that order like the values with the ties and NaN
    rules built in; other Array-API libraries use two stable ``argsort`` passes. For 64-bit
    dtypes NumPy and torch use a stable full sort.

    Args:
        x: real array (floating or integer), of any Array-API library.
        k: how many entries to keep, in ``[1, x.shape[axis]]``.
        axis: the axis to select along (default: the last).
        largest: the largest entries (default), or the smallest.

    Returns:
        ``TopK(values, indices)``: arrays of ``x``'s type with ``axis`` of size ``k``; values in
        ``x``'s dtype, indices in the library's default index dtype.

    Raises:
        TypeError: ``x`` is boolean or complex; ``k`` is not an int.
        ValueError: ``k`` is outside ``[1, x.shape[axis]]``; ``axis`` is out of range.

    Examples:
        >>> import numpy as np, xloss
        >>> values, indices = xloss.top_k(np.array([1.0, 3.0, np.nan, 3.0, 2.0]), 3)
        >>> values.tolist(), indices.tolist()
        ([nan, 3.0, 3.0], [2, 1, 3])
    """
    ns = resolve(x=x)
    xp = ns.xp
    x = as_array(x, ns, name="x")
    if not is_kind(xp, x.dtype, ("real floating", "integral")):
        raise TypeError(
            f"`x` must be a real array (floating point or integer); received dtype {x.dtype}."
        )
    axis = normalize_axis(axis, x.ndim, array="x")
    k = check_k(k, x.shape[axis])
    largest = check_flag(largest, "largest")
    native = ns.backend.adapter.top_k if fast_paths.is_on() else None
    result = None if native is None else native(x, k, axis, largest)
    if result is None:
        result = top_k_xp(xp, x, k, axis, largest)
    return TopK(*result)
