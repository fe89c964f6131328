"""NumPy arrays and NumPy scalars, computed with array-api-compat's NumPy namespace."""

from __future__ import annotations

import sys
from typing import Any

from xloss.adapters import _kernel_table

NAME = "numpy"
HOST_VIEW = True  # np.asarray of a readable array is a view, no copy


def owns(x: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, (np.ndarray, np.generic))


def namespace(x: Any) -> Any:
    import array_api_compat.numpy as xp

    return xp


def device(x: Any) -> Any:
    return "cpu"


def readable(x: Any) -> Any:
    return x


def to_array(x: Any) -> Any:
    """``x`` as a plain ``np.ndarray`` in native byte order.

    Subclasses override the operations the namespace and the kernels use (``np.matrix`` stays
    two-dimensional, its ``*`` is a matrix product): they become their data's ndarray, a view
    (``np.memmap`` too). A ``MaskedArray`` is refused: its mask would be ignored by some
    operations and not by others. Big-endian arrays (files written on another machine) are
    copied in native order: the exact top-k keys read the values' bytes as integers.
    """
    np = sys.modules["numpy"]
    if type(x) is not np.ndarray and isinstance(x, np.ndarray):
        if isinstance(x, np.ma.MaskedArray):
            raise TypeError(
                "is a numpy.ma.MaskedArray, whose mask xloss would ignore. Fill the masked "
                "entries first (logits: `x.filled(-np.inf)`, which gives them probability 0), "
                "or drop the mask with `np.asarray(x)`."
            )
        x = np.asarray(x)
    return x if x.dtype.isnative else x.astype(x.dtype.newbyteorder("="))


kernel = _kernel_table.hook("xloss.adapters._numpy_kernels")
"""The fused kernel for a computation (see `_numpy_kernels`), or ``None``."""


def top_k(x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any] | None:
    """``np.argpartition`` for K + 1 candidates, a sort of those, and checks for ties (k = 1:
    `first_best`).

    The partition puts NaN above +inf, as xloss does; ties are the only doubt. Rows whose sorted
    candidates hold a tie or a NaN are re-sorted by (NaN, value, index); rows where the K-th and
    the (K+1)-th candidates tie (common with integers) take the exact path: unique integer keys,
    ``(value key << 32) | reversed index``. Other rows cost what the native recipe costs.
    """
    np = sys.modules["numpy"]
    if x.dtype.type.__module__ == "ml_dtypes":  # bfloat16: ranked as float32 (exact)
        ranked = top_k(x.astype(np.float32), k, axis, largest)
        return None if ranked is None else (np.take_along_axis(x, ranked[1], axis=axis), ranked[1])
    if k == 1:
        best = first_best(np, x, axis, largest)
        if best is not None:
            return best
    n = x.shape[axis]
    rows = np.moveaxis(x, axis, -1).reshape(-1, n)
    count = min(k + 1, n)
    candidates = np.argpartition(rows, n - count if largest else count - 1, axis=-1)
    candidates = candidates[:, n - count :] if largest else candidates[:, :count]
    values = np.take_along_axis(rows, candidates, axis=-1)
    order = np.argsort(-values if largest and values.dtype.kind == "f" else values, axis=-1)
    if largest and values.dtype.kind != "f":
        order = order[:, ::-1]
    values = np.take_along_axis(values, order, axis=-1)
    candidates = np.take_along_axis(candidates, order, axis=-1)
    doubtful = tied(np, values[:, 1:], values[:, :-1]).any(axis=-1)
    if values.dtype.kind == "f":
        doubtful |= np.isnan(values).any(axis=-1)
    if doubtful.any():
        exact = _exact_order(np, values[doubtful], candidates[doubtful], n, largest)
        values[doubtful] = np.take_along_axis(values[doubtful], exact, axis=-1)
        candidates[doubtful] = np.take_along_axis(candidates[doubtful], exact, axis=-1)
    if count > k:
        boundary = tied(np, values[:, k - 1], values[:, k])
        if boundary.any():
            exact_values, exact_indices = _exact_top_k(np, rows[boundary], k, largest)
            values[boundary, :k], candidates[boundary, :k] = exact_values, exact_indices
    shape = (*np.moveaxis(x, axis, -1).shape[:-1], k)
    values, candidates = values[:, :k].reshape(shape), candidates[:, :k].reshape(shape)
    return np.moveaxis(values, -1, axis), np.moveaxis(candidates, -1, axis)


def first_best(np: Any, x: Any, axis: int, largest: bool) -> tuple[Any, Any] | None:
    """k = 1 by ``np.argmax``/``np.argmin``, which return the first occurrence of the best value
    (documented), take a NaN as the best (its first occurrence) and tie -0.0 with 0.0: xloss's
    ranking, except that for the smallest a NaN must come last (``None`` then: such rows need
    the candidates). 13x faster than ``np.argpartition`` on 2048 x 8192 float32 (2.3 ms against
    30 ms): greedy decoding is this call. Standard float and integer dtypes only."""
    if x.dtype.kind not in "fiu":
        return None
    indices = (np.argmax if largest else np.argmin)(x, axis=axis, keepdims=True)
    values = np.take_along_axis(x, indices, axis=axis)
    if not largest and x.dtype.kind == "f" and np.isnan(values).any():
        return None
    return values, indices


def order_keys(np: Any, values: Any, index: Any, largest: bool) -> tuple[Any, ...]:
    """np.lexsort keys (last one first): NaN-ness, then the value, then the index."""
    if values.dtype.kind != "f":
        return (index, ~values if largest else values)
    nan = np.isnan(values)
    filled = np.where(nan, 0, values)
    return (index, -filled, ~nan) if largest else (index, filled, nan)


def tied(np: Any, a: Any, b: Any) -> Any:
    same = a == b
    return same | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else same


def _has_keys(np: Any, x: Any) -> bool:
    """Whether ``x``'s dtype has unique packed keys (`_packed`): up to 32 bits, not uint32."""
    return bool(x.dtype.itemsize <= 4 and x.dtype != np.uint32)


def _packed(np: Any, x: Any, index: Any, n: int, largest: bool) -> Any:
    """Unique int64 keys ``(value key << 32) | (n - 1 - index)``: the largest key is the best
    entry (the largest value, or the smallest; ties to the lower index)."""
    key = _sortable_key(np, x)
    key = key if largest else ~key
    return (key.astype(np.int64) << 32) | (n - 1 - index)


def _exact_order(np: Any, values: Any, index: Any, n: int, largest: bool) -> Any:
    """The order of 2-D ``values`` (at ``index`` in rows of ``n``) by (NaN, value, index): one
    sort of unique keys (8x faster than a three-key ``np.lexsort``), a lexsort for 64-bit."""
    if not _has_keys(np, values):
        return np.lexsort(order_keys(np, values, index, largest), axis=-1)
    return np.argsort(_packed(np, values, index, n, largest), axis=-1)[:, ::-1]


def _exact_top_k(np: Any, rows: Any, k: int, largest: bool) -> tuple[Any, Any]:
    """Top K of 2-D ``rows`` along the last axis, exactly: a stable sort for 64-bit dtypes,
    else a partition on unique keys ``(value key << 32) | reversed index``."""
    n = rows.shape[-1]
    if not _has_keys(np, rows):
        index = np.broadcast_to(np.arange(n), rows.shape)
        order = np.lexsort(order_keys(np, rows, index, largest), axis=-1)[:, :k]
        return np.take_along_axis(rows, order, axis=-1), order
    packed = _packed(np, rows, np.arange(n, dtype=np.int64), n, largest)
    chosen = np.argpartition(packed, n - k, axis=-1)[:, n - k :] if k < n else None
    chosen = np.broadcast_to(np.arange(n), rows.shape) if chosen is None else chosen
    order = np.argsort(np.take_along_axis(packed, chosen, axis=-1), axis=-1)[:, ::-1]
    indices = np.take_along_axis(chosen, order, axis=-1)
    return np.take_along_axis(rows, indices, axis=-1), indices


def _sortable_key(np: Any, x: Any) -> Any:
    """int32 keys ordered like ``x``'s values: NaN above +inf (all NaNs equal), -0.0 == 0.0."""
    if x.dtype.kind != "f":
        return x.astype(np.int32)
    int_type = np.dtype(f"int{x.dtype.itemsize * 8}")
    top = np.iinfo(int_type).max
    bits = np.where(x == 0, 0, x).astype(x.dtype, copy=False).view(int_type)  # -0.0 -> 0.0
    key = np.where(bits < 0, bits ^ top, bits)
    return np.where(np.isnan(x), top, key).astype(np.int32)


def check_rng(rng: Any, like: Any) -> None:
    """``rng`` (not an int seed) must be a ``np.random.Generator``."""
    np = sys.modules["numpy"]
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"`rng` must be an int seed or a numpy.random.Generator (np.random.default_rng(seed)) "
            f"for NumPy logits; received {type(rng).__module__}.{type(rng).__qualname__}."
        )


def random_uniform(rng: Any, shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """Uniforms in [0, 1) from ``np.random.default_rng(seed)`` or the given Generator, drawn
    in float64 (see `xloss.adapters`: NumPy's float32 draws hold 24 bits)."""
    np = sys.modules["numpy"]
    generator = np.random.default_rng(rng) if isinstance(rng, int) else rng
    u = generator.random(shape)
    return u if np.dtype(dtype) == u.dtype else u.astype(dtype)
