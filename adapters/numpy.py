"""NumPy arrays and NumPy scalars, computed with array-api-compat's NumPy namespace."""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as _xp
import numpy as np

NAME = "numpy"


def owns(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic))


def namespace(x: Any) -> Any:
    return _xp


def device(x: Any) -> Any:
    return "cpu"
