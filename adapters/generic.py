"""Any other array that implements the Array API (array-api-strict, ndonnx, ...) through its
``__array_namespace__``, or that array-api-compat gives a namespace for (CuPy's arrays have no
``__array_namespace__``; array-api-compat wraps CuPy's functions)."""

from __future__ import annotations

from typing import Any

NAME = "array_api"
_DLPACK_CPU = 1


def owns(x: Any) -> bool:
    if hasattr(x, "__array_namespace__"):
        return True
    import array_api_compat  # here: `import xloss` stays 3 ms lighter

    return bool(array_api_compat.is_array_api_obj(x))


def namespace(x: Any) -> Any:
    if hasattr(x, "__array_namespace__"):
        return x.__array_namespace__()
    import array_api_compat

    return array_api_compat.array_namespace(x)


def device(x: Any) -> Any:
    return getattr(x, "device", None)


def readable(x: Any) -> Any:
    # Host memory, by DLPack's device type; lazy arrays (Dask) have no __dlpack_device__.
    dlpack_device = getattr(x, "__dlpack_device__", None)
    return x if dlpack_device is not None and dlpack_device()[0] == _DLPACK_CPU else None


def check_rng(rng: Any, like: Any) -> None:
    """``rng`` (not an int seed) must be a ``np.random.Generator``: the Array API standard has
    no random numbers, so this adapter draws them with NumPy."""
    import numpy as np

    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"`rng` must be an int seed or a numpy.random.Generator for "
            f"{type(like).__module__.partition('.')[0]} arrays (the Array API has no random "
            f"numbers: they are drawn with NumPy); received "
            f"{type(rng).__module__}.{type(rng).__qualname__}."
        )


def random_uniform(rng: Any, shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """Uniforms drawn on the host with NumPy (``np.random.default_rng(seed)`` or the given
    Generator), then ``xp.asarray(..., device=...)`` onto ``like``'s device."""
    import numpy as np

    xp = namespace(like)
    generator = np.random.default_rng(rng) if isinstance(rng, int) else rng
    host = generator.random(shape)  # float64: see `xloss.adapters`
    if dtype != xp.float64:
        host = host.astype(np.float32)
    return xp.asarray(host, dtype=dtype, device=device(like))
