"""array-api-compat's torch namespace, with the functions ``torch.compile`` cannot trace replaced.

array-api-compat's ``clip`` branches on its bounds with ``math.isnan``, and its binary functions
turn Python scalars into tensors through ``torch.result_type``: under
``torch.compile(dynamic=True)`` both are graph breaks. ``torch.clamp`` takes Python bounds as
they are. Its ``cumulative_sum`` looks the namespace up through an ``lru_cache``, which
``torch.compile`` warns about; ``torch.cumsum`` does not. torch has no gather and no
comparison kernels for uint16/32/64, and no CUDA sort: ``take_along_axis`` gathers their bits
through the signed view of their width, and ``greater``, ``argmax`` and ``argsort`` read
signed keys that order like the values. ``take_along_axis`` is ``torch.gather`` where the
shapes agree off the axis: ``torch.take_along_dim`` broadcasts, and ``torch.compile``
specialises it on the batch size (one graph per size, until its recompile limit).
"""

from __future__ import annotations

import builtins
from typing import Any

import array_api_compat.torch as _compat
import torch
from xloss.adapters._reexport import namespace_names

globals().update(namespace_names(_compat))


_SIGNED_VIEW = {torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
    signed = _SIGNED_VIEW.get(x.dtype)
    values = x if signed is None else x.view(signed)
    dim = axis % x.ndim if x.ndim else axis
    same = x.ndim == indices.ndim and builtins.all(  # this module's `all` is the namespace's
        d == dim or m == n for d, (m, n) in builtins.enumerate(zip(x.shape, indices.shape))
    )
    # torch.gather where the shapes agree off the axis (xloss's do): torch.take_along_dim's
    # broadcasting makes torch.compile specialise on the batch size, one graph per size.
    if same:
        taken = torch.gather(values, dim, indices)
    else:
        taken = _compat.take_along_axis(values, indices, axis=axis)
    return taken if signed is None else taken.view(x.dtype)


def _signed_keys(x: Any) -> Any:
    """uint16/32/64 as signed keys in their order: widened, or uint64's bits with the top one
    flipped (``u - 2**63``)."""
    if x.dtype == torch.uint64:
        return x.view(torch.int64) ^ torch.iinfo(torch.int64).min
    return x.to(torch.int32 if x.dtype == torch.uint16 else torch.int64)


def greater(x1: Any, x2: Any, /) -> Any:
    unsigned = isinstance(x1, torch.Tensor) and x1.dtype in _SIGNED_VIEW
    if unsigned and isinstance(x2, torch.Tensor) and x2.dtype == x1.dtype:
        return _compat.greater(_signed_keys(x1), _signed_keys(x2))
    return _compat.greater(x1, x2)


def argmax(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
    keys = _signed_keys(x) if x.dtype in _SIGNED_VIEW else x
    return torch.argmax(keys, dim=axis, keepdim=keepdims)


def argsort(x: Any, /, *, axis: int = -1, descending: bool = False, stable: bool = True) -> Any:
    keys = _signed_keys(x) if x.dtype in _SIGNED_VIEW else x
    return _compat.argsort(keys, axis=axis, descending=descending, stable=stable)


def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:
    return torch.clamp(x, min, max)


def cumulative_sum(
    x: Any, /, *, axis: Any = None, dtype: Any = None, include_initial: bool = False
) -> Any:
    if axis is None:
        if x.ndim > 1:
            raise ValueError("axis must be given to cumulative_sum for more than 1 dimension")
        axis = 0
    out = torch.cumsum(x, dim=axis, dtype=dtype)
    if include_initial:
        out = torch.cat([torch.zeros_like(out.narrow(axis, 0, 1)), out], dim=axis)
    return out
