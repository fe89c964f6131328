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
