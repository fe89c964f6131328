"""Any other array that implements the Array API (array-api-strict, CuPy, Dask, ...)."""

from __future__ import annotations

from typing import Any

NAME = "array_api"
_DLPACK_CPU = 1


def owns(x: Any) -> bool:
    return hasattr(x, "__array_namespace__")


def namespace(x: Any) -> Any:
    return x.__array_namespace__()


def device(x: Any) -> Any:
    return getattr(x, "device", None)


def readable(x: Any) -> Any:
    # Host memory, by DLPack's device type; lazy arrays (Dask) have no __dlpack_device__.
    dlpack_device = getattr(x, "__dlpack_device__", None)
    return x if dlpack_device is not None and dlpack_device()[0] == _DLPACK_CPU else None
