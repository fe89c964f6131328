"""JAX arrays and tracers (under ``jit``, ``grad``, ``vmap``), computed with ``jax.numpy``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

NAME = "jax"


def owns(x: Any) -> bool:
    # Tracers are not subclasses of jax.Array, but isinstance() recognises them.
    return isinstance(x, jax.Array)


def namespace(x: Any) -> Any:
    return jnp


def device(x: Any) -> Any:
    # A tracer has no committed device; under jit, new arrays follow the computation's placement.
    if isinstance(x, jax.core.Tracer):
        return None
    return x.device
