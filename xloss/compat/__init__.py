"""Each framework's own loss API and numbers, on any backend.

``xloss.compat.torch``, ``xloss.compat.keras``, ``xloss.compat.optax`` and
``xloss.compat.tensorflow`` reproduce one framework's loss functions — argument names, defaults,
class axis, divisors and edge cases — on the caller's arrays, whatever library they come from:
torch's ``cross_entropy`` on JAX arrays gives torch's numbers. None of them imports the framework
it is named after. The submodules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_PROFILES = ("keras", "optax", "tensorflow", "torch")

__all__ = list(_PROFILES)


def __getattr__(name: str) -> Any:
    if name in _PROFILES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
