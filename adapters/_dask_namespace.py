"""array-api-compat's Dask namespace, with the ``take_along_axis`` it lacks.

``take_along_axis`` here gathers block by block and never moves a class-axis chunk: for each
chunk of ``x`` along ``axis`` (offset ``o``, size ``s``), one task per block of ``indices``
gathers ``indices - o`` from that chunk where ``o <= index < o + s`` and keeps what the earlier
chunks gave elsewhere. The result has ``indices``' shape and chunks; no task holds more than one
block of ``x``, and nothing of ``x``'s size is built (no one-hot, no concatenated row).

``clip`` with Python-number bounds is ``maximum``/``minimum`` with those numbers:
array-api-compat's broadcasts each bound to an array of the result's shape in one chunk, which
is then rechunked to match ``x``.

``max`` of an empty array whose reduced axes are not empty (an empty batch, reduced along the
classes) is that array's first entries along those axes, an empty array of the reduced shape.
Dask's replaces each empty block by a placeholder of shape ``(1, ..., 1, 0)`` (meant for empty
chunks of the reduced axis), so its result fails when computed or has the wrong shape.

``sort`` and ``argsort`` stay array-api-compat's: they rechunk ``axis`` into a single chunk
(a whole row per task), which a full sort needs.
"""

from __future__ import annotations

import builtins
import itertools
from typing import Any

import array_api_compat
import array_api_compat.dask.array as _compat
import dask.array as da
import numpy as np
from array_api_compat.dask.array._aliases import clip as _compat_clip
from xloss.adapters._reexport import namespace_names

globals().update(namespace_names(_compat))


def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:
    """The standard's ``clip``; Python-number bounds go straight into ``maximum``/``minimum``."""
    # (This module's `all`, `min`, `max`, `sum`, `abs`, ... are the namespace's, not Python's.)
    if not builtins.all(b is None or isinstance(b, (int, float)) for b in (min, max)):
        return _compat_clip(x, min, max)
    out = x if min is None else da.maximum(x, min)
    out = out if max is None else da.minimum(out, max)
    return out if out.dtype == x.dtype else out.astype(x.dtype)


def max(x: Any, /, *, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Any:
    """The standard's ``max``. An empty array whose reduced axes are not empty gives its first
    entries along them: an empty array of the reduced shape (where Dask's ``max`` fails)."""
    axes = range(x.ndim) if axis is None else axis if isinstance(axis, tuple) else (axis,)
    axes = tuple(a % x.ndim for a in axes)
    if x.size != 0 or builtins.any(x.shape[a] == 0 for a in axes):
        return da.max(x, axis=axis, keepdims=keepdims)  # (over no entries: fails, as NumPy's)
    first = x[tuple(slice(0, 1) if d in axes else slice(None) for d in range(x.ndim))]
    return first if keepdims else da.squeeze(first, axis=axes)


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
    """Values of ``x`` at ``indices`` along ``axis`` (the standard's ``take_along_axis``).

    Negative indices count from the end, as in NumPy. The other axes broadcast; ``indices`` is
    rechunked on them to ``x``'s chunks (it is the small array in every use here).
    """
    if x.ndim != indices.ndim:
        raise ValueError(
            f"take_along_axis: `x` has {x.ndim} dimensions but `indices` has {indices.ndim}."
        )
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"take_along_axis: axis {axis} is out of range for {x.ndim} dimensions.")
    axis %= x.ndim
    x, indices = _broadcast_except(x, indices, axis)
    indices = indices.rechunk(
        tuple(indices.chunks[d] if d == axis else x.chunks[d] for d in range(x.ndim))
    )
    size = x.shape[axis]
    out_ind = tuple(range(x.ndim))
    # x's chunk along `axis` gets its own (contracted) label: one chunk, so one block per task.
    chunk_ind = tuple(x.ndim if d == axis else d for d in range(x.ndim))
    result = None
    offsets = itertools.accumulate(x.chunks[axis], initial=0)
    for offset, chunk in zip(offsets, x.chunks[axis]):
        window = slice(offset, offset + chunk)
        piece = x[tuple(window if d == axis else slice(None) for d in out_ind)]
        previous = () if result is None else (result, out_ind)
        result = da.blockwise(
            _gather_block,
            out_ind,
            *previous,
            indices,
            out_ind,
            piece,
            chunk_ind,
            dtype=x.dtype,
            meta=x._meta,
            concatenate=True,
            offset=offset,
            size=size,
            axis=axis,
        )
    return result


def _broadcast_except(x: Any, indices: Any, axis: int) -> tuple[Any, Any]:
    """``x`` and ``indices`` broadcast against each other on every axis but ``axis``."""

    def without(shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape[:axis] + shape[axis + 1 :]

    common = np.broadcast_shapes(without(x.shape), without(indices.shape))

    def to(a: Any) -> Any:
        shape = (*common[:axis], a.shape[axis], *common[axis:])
        return a if a.shape == shape else da.broadcast_to(a, shape)

    return to(x), to(indices)


def _gather_block(*blocks: Any, offset: int, size: int, axis: int) -> Any:
    """``(previous, indices, chunk)`` or ``(indices, chunk)``: ``chunk``'s values where the
    index falls in it, ``previous`` elsewhere."""
    *previous, index, chunk = blocks
    xp = _block_namespace(chunk)
    index = xp.where(index < 0, index + size, index) - offset
    width = chunk.shape[axis]
    picked = xp.take_along_axis(chunk, xp.clip(index, 0, width - 1), axis=axis)
    if not previous:
        return picked
    inside = xp.logical_and(index >= 0, index < width)
    return xp.where(inside, picked, previous[0])


def _block_namespace(block: Any) -> Any:
    """The namespace of one block (NumPy, CuPy, ...), as array-api-compat wraps it."""
    return array_api_compat.array_namespace(block)
