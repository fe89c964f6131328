"""What the conformance runner needs of each backend: arrays from NumPy and back, and versions.

Unlike the adapters, these import their framework: running the case library is an explicit
request to use every installed backend. torch is always imported before tensorflow.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

BACKENDS = ("numpy", "jax", "torch", "tensorflow", "array_api_strict")
DISTRIBUTIONS = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow", "numpy": "numpy",
                 "array_api_strict": "array-api-strict"}  # fmt: skip
INSTALL_HINT = {
    "jax": 'pip install "xloss[jax]"',
    "torch": 'pip install "xloss[torch]"',
    "tensorflow": 'pip install "xloss[tensorflow]"',
    "array_api_strict": "pip install array-api-strict",
    "numpy": "pip install numpy",
}


@dataclass(frozen=True)
class Framework:
    name: str
    version: str
    from_numpy: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]
    cast: Callable[[Any, str], Any]


def installed(name: str) -> bool:
    if name in sys.modules and sys.modules[name] is None:  # an import blocked on purpose
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def version(name: str) -> str:
    """The installed version (``tensorflow`` may be installed as ``tensorflow-cpu``)."""
    for distribution in (DISTRIBUTIONS.get(name, name), f"{name}-cpu"):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return str(getattr(importlib.import_module(name), "__version__", "?"))


def load(name: str) -> Framework:
    """Import ``name`` (torch first if tensorflow is asked for and torch is installed)."""
    if name == "tensorflow" and installed("torch"):
        importlib.import_module("torch")
    module = importlib.import_module(name)
    return {
        "numpy": _numpy,
        "jax": _jax,
        "torch": _torch,
        "tensorflow": _tensorflow,
        "array_api_strict": _array_api_strict,
    }[name](module)


def _numpy(np_: Any) -> Framework:
    return Framework("numpy", version("numpy"), np.asarray, np.asarray, lambda x, d: x.astype(d))


def _jax(jax: Any) -> Framework:
    jnp = importlib.import_module("jax.numpy")

    def to_numpy(x: Any) -> np.ndarray:
        return np.asarray(x.astype(jnp.float32) if x.dtype == jnp.bfloat16 else x)

    return Framework("jax", version("jax"), jnp.asarray, to_numpy, lambda x, d: x.astype(d))


def _torch(torch: Any) -> Framework:
    def to_numpy(x: Any) -> np.ndarray:
        x = x.detach().cpu()
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()

    return Framework(
        "torch", version("torch"), torch.asarray, to_numpy, lambda x, d: x.to(getattr(torch, d))
    )


def _tensorflow(tf: Any) -> Framework:
    def to_numpy(x: Any) -> np.ndarray:
        return (tf.cast(x, tf.float32) if x.dtype == tf.bfloat16 else x).numpy()

    return Framework(
        "tensorflow",
        version("tensorflow"),
        tf.convert_to_tensor,
        to_numpy,
        lambda x, d: tf.cast(x, getattr(tf, d)),
    )


def _array_api_strict(xs: Any) -> Framework:
    return Framework(
        "array_api_strict",
        version("array_api_strict"),
        xs.asarray,
        lambda x: np.from_dlpack(x),
        lambda x, d: xs.astype(x, getattr(xs, d)),
    )


def dtypes(name: str) -> tuple[str, ...]:
    """The floating dtypes ``name`` has."""
    return {
        "numpy": ("float16", "float32", "float64"),
        "array_api_strict": ("float32", "float64"),
    }.get(name, ("float16", "bfloat16", "float32", "float64"))
