"""NumPy arrays and NumPy scalars, computed with array-api-compat's NumPy namespace."""

from __future__ import annotations

import sys
from typing import Any

NAME = "numpy"


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


def top_k(x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any] | None:
    """``np.argpartition`` on unique integer keys, then a sort of the K.

    Keys are (value key << 32) | reversed index: unique, so the partition picks the same set a
    stable sort would. 64-bit dtypes leave no room for the index: they decline (``None``) and
    take the generic stable-sort path.
    """
    np = sys.modules["numpy"]
    if x.dtype.itemsize > 4 or x.dtype == np.uint32:
        return None
    key = _sortable_key(np, x)
    key = key if largest else ~key
    n = x.shape[axis]
    shape = [1] * x.ndim
    shape[axis] = n
    packed = (key.astype(np.int64) << 32) | np.arange(n - 1, -1, -1, dtype=np.int64).reshape(shape)
    if k < n:
        chosen = np.argpartition(packed, n - k, axis=axis)
        chosen = np.take(chosen, np.arange(n - k, n), axis=axis)
    else:
        chosen = np.broadcast_to(np.arange(n).reshape(shape), packed.shape)
    order = np.argsort(np.take_along_axis(packed, chosen, axis=axis), axis=axis)
    indices = np.take_along_axis(chosen, np.flip(order, axis=axis), axis=axis)
    return np.take_along_axis(x, indices, axis=axis), indices


def _sortable_key(np: Any, x: Any) -> Any:
    """int32 keys ordered like ``x``'s values: NaN above +inf (all NaNs equal), -0.0 == 0.0."""
    if x.dtype.kind != "f":
        return x.astype(np.int32)
    int_type = np.dtype(f"int{x.dtype.itemsize * 8}")
    top = np.iinfo(int_type).max
    bits = np.where(x == 0, 0, x).astype(x.dtype, copy=False).view(int_type)  # -0.0 -> 0.0
    key = np.where(bits < 0, bits ^ top, bits)
    return np.where(np.isnan(x), top, key).astype(np.int32)
