"""Shared assertions: tolerances from ``finfo``, and the result's type, dtype and values."""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from backends import DEVICE, TestBackend, need

# Relative error allowed per unit roundoff of the compute dtype: reductions over a few hundred
# terms and a log/exp chain stay well inside 64 ulps.
ULPS = 64


def finfo(dtype: str) -> Any:
    """NumPy's ``finfo`` for ``dtype``, bfloat16 included (ml_dtypes')."""
    return ml_dtypes.finfo(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.finfo(dtype)


def eps(dtype: str) -> float:
    return float(finfo(dtype).eps)


def tolerance(dtype: str) -> float:
    """Half precision is computed in float32 and rounded once to the caller's dtype."""
    compute = "float64" if dtype == "float64" else "float32"
    return max(ULPS * eps(compute), 2 * eps(dtype))


def assert_result(
    backend: TestBackend, result: Any, expected: Any, dtype: str = "float32", *, rtol=None
) -> None:
    """``result`` is the backend's array type, in ``dtype``, and equals ``expected``."""
    assert isinstance(result, backend.array_types), (
        f"{backend.name}: result is {type(result).__module__}.{type(result).__qualname__}"
    )
    assert result.dtype == backend.dtype_of(dtype), f"{backend.name}: dtype {result.dtype}"
    tol = tolerance(dtype) if rtol is None else rtol
    np.testing.assert_allclose(
        backend.to_numpy(result).astype(np.float64), expected, rtol=tol, atol=tol
    )


def grad_of(backend, fn, *arrays: np.ndarray, wrt: int = 0) -> np.ndarray:
    """d sum(fn(*arrays)) / d arrays[wrt], with the backend's own autodiff."""
    if backend.name == "torch":
        torch = need("torch")
        tensors = [torch.tensor(a, device=DEVICE) for a in arrays]
        tensors[wrt].requires_grad_(True)
        fn(*tensors).sum().backward()
        return tensors[wrt].grad.cpu().numpy()
    if backend.name == "jax":
        jax = need("jax")
        jnp = need("jax.numpy")

        def total(target, *others):
            args = list(others)
            args.insert(wrt, target)
            return jnp.sum(fn(*args))

        rest = [jnp.asarray(a) for i, a in enumerate(arrays) if i != wrt]
        return np.asarray(jax.grad(total)(jnp.asarray(arrays[wrt]), *rest))
    tf = need("tensorflow")
    tensors = [tf.constant(a) for a in arrays]
    tensors[wrt] = tf.Variable(arrays[wrt])
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(fn(*tensors))
    return tape.gradient(out, tensors[wrt]).numpy()


def compiled_grad_of(backend, fn, x: np.ndarray) -> np.ndarray:
    """d sum(fn(x)) / dx with ``fn`` under the backend's compiler (``torch.compile`` with
    ``fullgraph=True``, ``jax.jit``, ``tf.function``) and the backend's own autodiff."""
    if backend.name == "torch":
        torch = need("torch")
        tensor = torch.tensor(x, requires_grad=True, device=DEVICE)
        backend.compile(fn)(tensor).sum().backward()
        return tensor.grad.cpu().numpy()
    if backend.name == "jax":
        jax, jnp = need("jax"), need("jax.numpy")
        return np.asarray(jax.jit(jax.grad(lambda a: jnp.sum(fn(a))))(jnp.asarray(x)))
    tf = need("tensorflow")

    @tf.function
    def gradient(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            out = tf.reduce_sum(fn(a))
        return tape.gradient(out, a)

    return gradient(tf.constant(x)).numpy()


class JaxCompilations(list):
    """Inside its ``with`` block, collects an entry for each XLA program JAX compiles."""

    _EVENT = "/jax/core/compile/backend_compile_duration"

    def _listen(self, event, duration, **kwargs):
        if event == self._EVENT:
            self.append(event)

    def __enter__(self):
        importlib.import_module("jax.monitoring").register_event_duration_secs_listener(
            self._listen
        )
        return self

    def __exit__(self, *exc):
        importlib.import_module("jax.monitoring").unregister_event_duration_listener(self._listen)


def expect_logits_warning(backend, y_pred: np.ndarray, kwargs: dict[str, Any]) -> Any:
    """``pytest.warns`` the `FromLogitsWarning` xloss gives "probabilities" outside [0, 1] with
    from_logits=False (Keras accepts them, and so does xloss, but they look like logits), or a
    null context. A value check: expected on host arrays only."""
    import xloss

    if not backend.on_host:
        return contextlib.nullcontext()
    if not kwargs.get("from_logits") and (y_pred.min() < 0 or y_pred.max() > 1):
        return pytest.warns(xloss.FromLogitsWarning, match="looks like logits")
    return contextlib.nullcontext()
