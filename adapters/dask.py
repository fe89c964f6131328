"""Dask arrays: lazy and chunked, computed with array-api-compat's Dask namespace plus the
``take_along_axis`` it lacks (see :mod:`xloss.adapters._dask_namespace`).

Nothing here computes: every function returns a Dask array whose graph works block by block.
Reductions along the class axis (``max``, ``sum``, ``argmax``) are Dask's tree reductions, so
softmax, logsumexp and the losses never gather a row into one chunk. Values are never read for
a check (`readable` is ``None``): an out-of-range label gives ``nan`` for its sample, as under
``jax.jit``, and no `FromLogitsWarning` is raised.
"""

from __future__ import annotations

import itertools
import math
import sys
from typing import Any

NAME = "dask"
ONE_LEVEL_SAMPLES = True  # `sample` draws in one level: two would reshape chunks of classes


def owns(x: Any) -> bool:
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


def namespace(x: Any) -> Any:
    from xloss.adapters import _dask_namespace

    return _dask_namespace


def device(x: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(x)


def readable(x: Any) -> Any:
    # Reading a value would compute the graph: never for a check.
    return None


def to_array(x: Any) -> Any:
    """``x`` itself, unless its blocks are masked arrays or its shape is unknown.

    Blocks of ``numpy.ma.MaskedArray`` (``da.ma.masked_array``) are refused as NumPy's are: their
    mask would be honoured by some operations and not by others. A length that is not known
    (``nan`` in ``.shape``, after boolean indexing) is refused: the shape checks, ``k``'s range
    and the random draw of ``sample`` all need it.
    """
    np = sys.modules["numpy"]
    if isinstance(x._meta, np.ma.MaskedArray):
        raise TypeError(
            "is a Dask array of numpy.ma.MaskedArray blocks, whose mask xloss would honour in "
            "some operations and ignore in others. "
            "Fill the masked entries first (logits: `da.ma.filled(x, -np.inf)`, which gives "
            "them probability 0), or drop the mask with `da.ma.getdata(x)`."
        )
    if any(math.isnan(size) for size in x.shape):
        raise ValueError(
            f"has unknown chunk sizes (shape {x.shape}), as after boolean indexing; call its "
            f"`.compute_chunk_sizes()` first (which computes them), or keep all rows and leave "
            f"some out with `ignore_class` or a zero `sample_weight`."
        )
    return x


def top_k(x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any] | None:
    """Per chunk along ``axis``, the exact top ``min(k, chunk)`` (NumPy's fast path, with
    xloss's tie, NaN and zero rules); then one exact top ``k`` of those candidates.

    The global top ``k`` is among the chunks' candidates. Candidates are concatenated in chunk
    order and each chunk's are ordered lower index first on ties, so position order among equal
    values is index order and the merge keeps the rule. A row of candidates holds at most
    ``k`` per chunk; the class axis itself is never rechunked. Declines (``None``) for arrays
    whose blocks are not NumPy arrays: the generic body (two stable sorts) runs instead.
    """
    np = sys.modules["numpy"]
    if type(x._meta) is not np.ndarray:
        return None
    values, positions = _top_k_per_chunk(x, k, axis, largest)
    if x.numblocks[axis] == 1:
        return values, positions
    offsets = tuple(itertools.accumulate(x.chunks[axis], initial=0))[:-1]
    candidates = positions.map_blocks(
        _add_offset, offsets=offsets, axis=axis, dtype=positions.dtype, meta=positions._meta
    )
    values = values.rechunk({axis: -1})
    candidates = candidates.rechunk({axis: -1})
    values, chosen = _top_k_per_chunk(values, k, axis, largest)
    return values, _take_per_chunk(candidates, chosen, axis)


def _top_k_per_chunk(x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any]:
    """``(values, positions)`` of each chunk's top ``min(k, chunk)`` along ``axis``."""
    np = sys.modules["numpy"]
    chunks = list(x.chunks)
    chunks[axis] = tuple(min(k, size) for size in x.chunks[axis])
    positions = x.map_blocks(
        _block_top_k,
        k=k,
        axis=axis,
        largest=largest,
        chunks=tuple(chunks),
        dtype=np.intp,
        meta=np.empty((0,) * x.ndim, dtype=np.intp),
    )
    return _take_per_chunk(x, positions, axis), positions


def _take_per_chunk(x: Any, positions: Any, axis: int) -> Any:
    """``x``'s values at ``positions``, block ``i`` of ``positions`` indexing block ``i`` of
    ``x`` (same number of blocks on every axis; chunk sizes differ along the selected one)."""
    da = sys.modules["dask.array"]
    index = tuple(range(x.ndim))
    return da.blockwise(
        _block_take,
        index,
        positions,
        index,
        x,
        index,
        align_arrays=False,
        dtype=x.dtype,
        meta=x._meta,
        axis=axis,
    )


def _block_top_k(block: Any, *, k: int, axis: int, largest: bool) -> Any:
    from xloss.adapters import numpy as host

    np = sys.modules["numpy"]
    count = min(k, block.shape[axis])
    if count == 0 or block.size == 0:
        shape = list(block.shape)
        shape[axis] = count
        return np.empty(shape, dtype=np.intp)
    _, positions = host.top_k(block, count, axis, largest)
    return positions.astype(np.intp, copy=False)


def _block_take(positions: Any, block: Any, *, axis: int) -> Any:
    return sys.modules["numpy"].take_along_axis(block, positions, axis=axis)


def _add_offset(block: Any, *, offsets: tuple[int, ...], axis: int, block_info: Any = None) -> Any:
    return block + offsets[block_info[0]["chunk-location"][axis]]


def check_rng(rng: Any, like: Any) -> None:
    """``rng`` (not an int seed) must be a ``dask.array.random.Generator`` or a
    ``numpy.random.Generator`` (whose bit generator Dask then draws from)."""
    da, np = sys.modules["dask.array"], sys.modules["numpy"]
    if not isinstance(rng, (da.random.Generator, np.random.Generator)):
        raise TypeError(
            f"`rng` must be an int seed, a dask.array.random.Generator "
            f"(da.random.default_rng(seed)) or a numpy.random.Generator for Dask logits; "
            f"received {type(rng).__module__}.{type(rng).__qualname__}."
        )


def random_uniform(rng: Any, shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """Lazy uniforms from ``da.random.default_rng(rng)``, chunked like ``like`` on its axes.

    The same seed and the same chunks give the same draw; other chunks give another draw.
    """
    da = sys.modules["dask.array"]
    leading = tuple((size,) for size in shape[: len(shape) - like.ndim])
    u = da.random.default_rng(rng).random(shape, chunks=(*leading, *like.chunks))  # float64
    return u if u.dtype == dtype else u.astype(dtype)
