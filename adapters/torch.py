"""PyTorch tensors (on any device), computed with array-api-compat's torch namespace (see
:mod:`xloss.adapters._torch_namespace` for what is replaced there)."""

from __future__ import annotations

import sys
from typing import Any

NAME = "torch"


def owns(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def namespace(x: Any) -> Any:
    from xloss.adapters import _torch_namespace

    return _torch_namespace


def device(x: Any) -> Any:
    return x.device


def readable(x: Any) -> Any:
    torch = sys.modules["torch"]
    if x.device.type != "cpu" or torch.compiler.is_compiling() or _functorch_wrapped(x):
        return None
    return x.detach()


def _functorch_wrapped(x: Any) -> bool:
    """Inside torch.func.vmap/grad, tensors are wrapped and their values cannot be read."""
    check = getattr(sys.modules["torch"]._C._functorch, "is_functorch_wrapped_tensor", None)
    return check is not None and check(x)
