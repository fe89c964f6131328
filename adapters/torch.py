"""PyTorch tensors (on any device), computed with array-api-compat's torch namespace."""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as _xp
import torch

NAME = "torch"


def owns(x: Any) -> bool:
    return isinstance(x, torch.Tensor)


def namespace(x: Any) -> Any:
    return _xp


def device(x: Any) -> Any:
    return x.device
