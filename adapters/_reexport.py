"""What a namespace module built on array-api-compat's takes over from it."""

from __future__ import annotations

from types import ModuleType
from typing import Any


def namespace_names(module: ModuleType) -> dict[str, Any]:
    """``module``'s public names and the two dunders that make it an Array-API namespace, to be
    put into a namespace module's globals (which then replaces what it must)."""
    return {
        name: getattr(module, name)
        for name in dir(module)
        if not name.startswith("__")
        or name in ("__array_namespace_info__", "__array_api_version__")
    }
