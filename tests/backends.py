"""Test-only hooks per backend: build arrays from NumPy, read results back, know the array type.

The adapters never need these; they live with the suite. Each backend is imported lazily, when a
test first asks for it, so an absent backend shows as a visible skip (or a failure when it is
listed in ``XLOSS_REQUIRE_BACKENDS``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

KNOWN = ("numpy", "array_api_strict", "jax", "torch", "tensorflow")
# Any other Array-API library (CuPy, ndonnx, ...) joins the suite by its import name (Dask has
# its adapter and tests/test_dask.py):
#     XLOSS_EXTRA_BACKENDS=cupy python -m pytest
EXTRA = tuple(n.strip() for n in os.environ.get("XLOSS_EXTRA_BACKENDS", "").split(",") if n.strip())
NAMES = KNOWN + tuple(n for n in EXTRA if n not in KNOWN)
# Where the suite builds PyTorch and JAX arrays: a torch device name that JAX also knows as a
# platform (``XLOSS_TEST_DEVICE=cuda python -m pytest`` on a GPU machine). Unset, each library's
# default device. Arrays a test builds itself stay where that library puts them.
DEVICE = os.environ.get("XLOSS_TEST_DEVICE") or None

# The floating dtypes each library has (array-api-strict has only the standard's two).
# NumPy's bfloat16 is ml_dtypes' (what np.asarray of a JAX or TensorFlow bfloat16 array holds);
# ml_dtypes comes with JAX and TensorFlow.
_ML_DTYPES = importlib.util.find_spec("ml_dtypes") is not None
FLOAT_DTYPES = {
    "numpy": ("float16", "bfloat16", "float32", "float64")
    if _ML_DTYPES
    else ("float16", "float32", "float64"),
    "array_api_strict": ("float32", "float64"),
    "jax": ("float16", "bfloat16", "float32", "float64"),
    "torch": ("float16", "bfloat16", "float32", "float64"),
    "tensorflow": ("float16", "bfloat16", "float32", "float64"),
    **{name: ("float32", "float64") for name in EXTRA},
}


@dataclass(frozen=True)
class TestBackend:
    name: str
    module: Any
    array_types: tuple[type, ...]
    from_numpy: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]

    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        """A backend array holding ``x`` (a NumPy array or nested list), in ``dtype``."""
        a = np.asarray(x)
        if dtype is None:
            return self.from_numpy(a)
        if dtype in ("float16", "bfloat16"):
            return self.cast(self.from_numpy(a.astype(np.float32)), dtype)
        return self.from_numpy(a.astype(dtype))

    def cast(self, x: Any, dtype: str) -> Any:
        if self.name == "tensorflow":
            return self.module.cast(x, getattr(self.module, dtype))
        if self.name == "torch":
            return x.to(getattr(self.module, dtype))
        return self.module.astype(x, self.dtype_of(dtype))

    @property
    def on_host(self) -> bool:
        """Whether this backend's test arrays are in host memory (DLPack's device type 1), where
        xloss's value checks read them; on an accelerator they read nothing."""
        dlpack_device = getattr(self.from_numpy(np.zeros(1)), "__dlpack_device__", None)
        if dlpack_device is None:
            return True
        try:
            return bool(dlpack_device()[0] == 1)
        except (ValueError, BufferError, RuntimeError):  # no DLPack device (torch's 'meta')
            return False

    def dtype_of(self, name: str) -> Any:
        if self.name == "numpy" and name == "bfloat16":
            return importlib.import_module("ml_dtypes").bfloat16
        return getattr(self.module, name)

    def compile(self, fn: Callable[..., Any], *examples: np.ndarray) -> Callable[..., Any]:
        """``fn`` under this backend's compiler: ``jax.jit``, ``torch.compile(fullgraph=True)``,
        or ``tf.function`` with every dimension unknown for arguments shaped and typed like the
        NumPy ``examples`` (no signature without them)."""
        if self.name == "jax":
            return importlib.import_module("jax").jit(fn)
        if self.name == "tensorflow":
            tf = self.module
            signature = [tf.TensorSpec([None] * a.ndim, self.asarray(a).dtype) for a in examples]
            return tf.function(fn, input_signature=signature or None)
        if self.name == "torch":
            self.module._dynamo.reset()
            return self.module.compile(fn, fullgraph=True)
        raise AssertionError(f"{self.name} has no compiler")

    def x64(self) -> contextlib.AbstractContextManager[Any]:
        """A context in which this backend computes in float64 (JAX needs x64 switched on)."""
        if self.name == "jax":
            import jax

            return jax.enable_x64(True)
        return contextlib.nullcontext()


def _numpy() -> TestBackend:
    return TestBackend("numpy", np, (np.ndarray, np.generic), np.asarray, np.asarray)


def _array_api_strict() -> TestBackend:
    xs = importlib.import_module("array_api_strict")
    return TestBackend(
        "array_api_strict", xs, (type(xs.asarray(0)),), xs.asarray, lambda x: np.from_dlpack(x)
    )


def _jax() -> TestBackend:
    jax = importlib.import_module("jax")
    jnp = importlib.import_module("jax.numpy")

    def to_numpy(x: Any) -> np.ndarray:
        return np.asarray(x.astype(jnp.float32) if x.dtype == jnp.bfloat16 else x)

    place = jax.devices(DEVICE)[0] if DEVICE else None
    return TestBackend("jax", jnp, (jax.Array,), lambda a: jnp.asarray(a, device=place), to_numpy)


def _torch() -> TestBackend:
    torch = importlib.import_module("torch")

    def to_numpy(x: Any) -> np.ndarray:
        x = x.detach().cpu()
        return (x.float() if x.dtype == torch.bfloat16 else x).numpy()

    return TestBackend(
        "torch", torch, (torch.Tensor,), lambda a: torch.asarray(a, device=DEVICE), to_numpy
    )


def _tensorflow() -> TestBackend:
    tf = importlib.import_module("tensorflow")

    def to_numpy(x: Any) -> np.ndarray:
        return (tf.cast(x, tf.float32) if x.dtype == tf.bfloat16 else x).numpy()

    return TestBackend("tensorflow", tf, (tf.Tensor,), tf.convert_to_tensor, to_numpy)


LOADERS: dict[str, Callable[[], TestBackend]] = {
    "numpy": _numpy,
    "array_api_strict": _array_api_strict,
    "jax": _jax,
    "torch": _torch,
    "tensorflow": _tensorflow,
}


def _any_array_api_library(name: str) -> TestBackend:
    """A library known only by its Array-API namespace (its arrays' ``__array_namespace__``,
    or array-api-compat's for CuPy): arrays via ``asarray``, back via DLPack."""
    library = importlib.import_module(name)
    xp = importlib.import_module("array_api_compat").array_namespace(library.asarray(0))

    def to_numpy(x: Any) -> np.ndarray:
        try:
            return np.from_dlpack(x)
        except (TypeError, BufferError, RuntimeError):
            pass
        try:  # on another device (CuPy's GPU arrays): a copy to the host, DLPack 1.0's way
            return np.from_dlpack(x, device="cpu", copy=True)
        except (TypeError, BufferError, RuntimeError, ValueError):
            return np.asarray(x.get() if hasattr(x, "get") else x)  # CuPy's copy to the host

    return TestBackend(name, xp, (type(xp.asarray(0)),), xp.asarray, to_numpy)


def load(name: str) -> TestBackend:
    loader = LOADERS.get(name)
    return loader() if loader else _any_array_api_library(name)


def need(module: str) -> Any:
    """Import an oracle (keras, optax, a framework): skip if absent, but fail when the run
    requires backends (``XLOSS_REQUIRE_BACKENDS`` set, as in CI), so no skip hides a break."""
    import os

    import pytest

    if os.environ.get("XLOSS_REQUIRE_BACKENDS"):
        return importlib.import_module(module)
    return pytest.importorskip(module)
