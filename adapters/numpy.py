"""NumPy arrays and NumPy scalars, computed with array-api-compat's NumPy namespace."""

from __future__ import annotations

import sys
from typing import Any

NAME = "numpy"


def owns(x: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, (np.ndarray, np.generic))


def namespace(x: Any) -> Any:
    import array_api_compat.numpy as xp

    return xp


def device(x: Any) -> Any:
    return "cpu"


def readable(x: Any) -> Any:
    return x
