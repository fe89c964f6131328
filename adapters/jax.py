"""JAX arrays and tracers (under ``jit``, ``grad``, ``vmap``), computed with ``jax.numpy``."""

from __future__ import annotations

import sys
from typing import Any

NAME = "jax"


def owns(x: Any) -> bool:
    # Tracers are not subclasses of jax.Array, but isinstance() recognises them.
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.Array)


def namespace(x: Any) -> Any:
    import jax.numpy as jnp

    return jnp


def device(x: Any) -> Any:
    # A tracer has no committed device; under jit, new arrays follow the computation's placement.
    return None if _is_tracer(x) else x.device


def readable(x: Any) -> Any:
    if _is_tracer(x) or any(d.platform != "cpu" for d in x.devices()):
        return None
    return x


def _is_tracer(x: Any) -> bool:
    return isinstance(x, sys.modules["jax"].core.Tracer)


def top_k(x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any]:
    """``jax.lax.top_k`` (stable: lower index first on ties) on order-preserving integer keys."""
    jax = sys.modules["jax"]
    jnp, lax = jax.numpy, jax.lax
    key = _sortable_key(jax, x)
    key = key if largest else ~key
    last = x.ndim - 1
    _, indices = lax.top_k(jnp.moveaxis(key, axis, last) if axis != last else key, k)
    indices = jnp.moveaxis(indices, last, axis) if axis != last else indices
    indices = indices.astype(jnp.__array_namespace_info__().default_dtypes()["indexing"])
    return jnp.take_along_axis(x, indices, axis=axis), indices


def _sortable_key(jax: Any, x: Any) -> Any:
    """Integers ordered like ``x``'s values: NaN above +inf (all NaNs equal), -0.0 == 0.0."""
    jnp = jax.numpy
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return x
    int_type = jnp.dtype(f"int{x.dtype.itemsize * 8}")
    top = jnp.iinfo(int_type).max
    # -0.0 becomes 0.0 (not with x + 0: compilers fold that away)
    bits = jax.lax.bitcast_convert_type(jnp.where(x == 0, jnp.zeros_like(x), x), int_type)
    key = jnp.where(bits < 0, bits ^ top, bits)
    return jnp.where(jnp.isnan(x), top, key)
