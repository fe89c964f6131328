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


def values_readable(x: Any) -> bool:
    torch = sys.modules["torch"]
    return x.device.type == "cpu" and not torch.compiler.is_compiling()
