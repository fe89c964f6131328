"""Any other array that implements the Array API (array-api-strict, CuPy, Dask, ...)."""

from __future__ import annotations

from typing import Any

NAME = "array_api"


def owns(x: Any) -> bool:
    return hasattr(x, "__array_namespace__")


def namespace(x: Any) -> Any:
    return x.__array_namespace__()


def device(x: Any) -> Any:
    return getattr(x, "device", None)
