"""Find the adapter and Array-API namespace for the arrays a public function receives.

Detection reads ``sys.modules`` and never imports a framework the caller has not imported (the
adapters look frameworks up there). Each array type is looked up once and cached, but not
while ``torch.compile`` traces (`_traced_by_dynamo`). Nothing here calls ``importlib`` per call,
so dispatch traces cleanly under ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType
from typing import Any, NamedTuple

from xloss._dtypes import is_kind

_PYTHON_VALUES = (bool, int, float, list, tuple)


def _is_value(value: Any) -> bool:
    """Whether ``value`` is converted into the arrays' library rather than being an array of
    one: Python numbers and sequences, and NumPy's scalars (``np.float32(0.1)``,
    ``arr.mean()``, ``labels[0]``), which NumPy arrays are not: those decide the framework."""
    if isinstance(value, _PYTHON_VALUES):
        return True
    np = sys.modules.get("numpy")
    # Booleans and numbers; a NumPy scalar of another kind (bfloat16, str, datetime64) is not
    # one every library converts: it counts as NumPy's.
    return np is not None and isinstance(value, np.generic) and value.dtype.kind in "biuf"


def _load_adapters() -> tuple[tuple[ModuleType, ...], ModuleType]:
    """Every adapter module (they import no framework), framework adapters first, with the
    optional attributes each leaves out set to their defaults (``xloss.adapters.OPTIONAL``)."""
    package = importlib.import_module("xloss.adapters")
    names = [i.name for i in pkgutil.iter_modules(package.__path__) if not i.name.startswith("_")]
    names.sort(key=lambda name: name != "torch")  # torch's first: see `_find_backend`
    modules = {n: importlib.import_module(f"xloss.adapters.{n}") for n in names}
    for module in modules.values():
        for attribute, default in package.OPTIONAL.items():
            if not hasattr(module, attribute):
                setattr(module, attribute, default)
    generic = modules.pop("generic")
    return tuple(modules.values()), generic


_FRAMEWORK_ADAPTERS, _GENERIC_ADAPTER = _load_adapters()


class Backend(NamedTuple):
    """The adapter serving one array library, that library's name and, for a framework's
    adapter, its namespace (one for every array of the type: looked up once, not per call);
    ``None`` for the generic adapter, which asks each array."""

    name: str
    adapter: ModuleType
    xp: Any = None


_by_type: dict[type, Backend] = {}

BY_TYPE_LIMIT = 256
"""The most array types `backend_of` remembers: a program that makes array subclasses on the
fly (one per call) kept every one alive in the cache; past this many, new types are looked up
at each call (the usual handful of types stays cached)."""


def device_of(x: Any) -> Any:
    """Where to create arrays that meet ``x``: its adapter's ``device(x)`` (``None`` for a
    JAX array over several devices or a tracer: JAX places those), for the generic bodies,
    which see the namespace but not the adapter."""
    backend = backend_of(x)
    return None if backend is None else backend.adapter.device(x)


def backend_of(x: Any) -> Backend | None:
    """The backend whose array ``x`` is, or ``None`` if ``x`` is not an array."""
    return _find_backend(x) if _traced_by_dynamo() else _cached_backend(x)


def _cached_backend(x: Any) -> Backend | None:
    cls = type(x)
    backend = _by_type.get(cls)
    if backend is None:
        backend = _find_backend(x)
        if backend is not None and len(_by_type) < BY_TYPE_LIMIT:
            _by_type[cls] = backend
    return backend


def _traced_by_dynamo() -> bool:
    """Whether ``torch.compile`` is tracing this call. Dynamo guards on every global the traced
    code reads and compiles the caller again when one changes, and the type cache changes as a
    process goes on (the first call fills it; a call that meets a new array type, such as
    NumPy's reference beside a compiled model, adds to it), so while tracing, the backend is
    found without it."""
    torch = sys.modules.get("torch")
    return torch is not None and torch.compiler.is_compiling()


def _find_backend(x: Any) -> Backend | None:
    """The adapter that owns ``x``, asking PyTorch's first: under ``torch.compile`` an adapter
    that looks its framework up in ``sys.modules`` and finds none makes that a guard, so
    importing JAX or TensorFlow later would compile the caller again."""
    for adapter in _FRAMEWORK_ADAPTERS:
        if adapter.owns(x):
            return Backend(adapter.NAME, adapter, adapter.namespace(x))
    if _GENERIC_ADAPTER.owns(x):
        return Backend(type(x).__module__.partition(".")[0], _GENERIC_ADAPTER)
    return None


def _describe(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


class Namespace(NamedTuple):
    """What a public function computes with: the namespace, its backend, and a reference array."""

    xp: Any
    backend: Backend
    like: Any


def resolve(**arguments: Any) -> Namespace:
    """The one namespace shared by the array arguments (named as the caller named them).

    Python numbers and lists are skipped here and converted later with `as_array`. If no
    argument is an array, NumPy is used. Arrays from two libraries raise ``TypeError``.
    """
    found: tuple[str, Any, Backend] | None = None
    find = _find_backend if _traced_by_dynamo() else _cached_backend  # as `backend_of`, once
    for name, value in arguments.items():
        if value is None or _is_value(value):
            continue
        backend = find(value)
        if backend is None:
            raise TypeError(
                f"`{name}` must be an array (NumPy, JAX, PyTorch, TensorFlow or any Array-API "
                f"library), a Python number or a list; received {_describe(value)}."
            )
        if found is None:
            found = (name, value, backend)
        elif backend.name != found[2].name:
            first_name, first_value, _ = found
            raise TypeError(
                f"`{first_name}` is a {_describe(first_value)} ({found[2].name}) but `{name}` is "
                f"a {_describe(value)} ({backend.name}): arrays from two frameworks in one call. "
                f"Convert `{name}` to the framework of `{first_name}` first."
            )
    if found is None:
        import numpy as np

        like = np.asarray(0.0)
        backend = backend_of(like)
        assert backend is not None
    else:
        _, like, backend = found
    return Namespace(backend.xp or backend.adapter.namespace(like), backend, like)


def as_array(
    value: Any, ns: Namespace, *, floating: bool = False, name: str = "", float_dtype: Any = None
) -> Any:
    """``value`` as an array of ``ns``'s library, on the device of ``ns.like``.

    With ``floating``, Python numbers and lists become the namespace's default floating dtype
    (``[1, 2, 3]`` as logits means ``[1.0, 2.0, 3.0]``); arrays keep their dtype. Python
    numbers and lists that hold floats become ``float_dtype`` where it is given (the dtype the
    caller computes in), straight from their float64 values: through torch's or TensorFlow's
    default float32 they would be rounded on the way to float64. ``None`` (which `resolve`
    skips, for optional arguments) is a ``TypeError`` naming ``name``.
    """
    if value is None:
        raise TypeError(
            f"`{name or 'an array argument'}` must be an array, a Python number or a list; "
            f"received None."
        )
    xp = ns.xp
    if _is_value(value):
        device = ns.backend.adapter.device(ns.like)
        try:
            array = xp.asarray(value, device=device)
        except (OverflowError, TypeError, ValueError) as error:  # 2**40 for int32, ragged lists
            raise type(error)(
                f"`{name or 'an array argument'}` cannot be made a {ns.backend.name} array: {error}"
            ) from None
        if is_kind(xp, array.dtype, "real floating"):
            if float_dtype is not None and array.dtype != float_dtype:
                array = xp.asarray(value, dtype=float_dtype, device=device)
        elif floating:
            default = xp.__array_namespace_info__().default_dtypes()["real floating"]
            array = xp.astype(array, default)
        return array
    to_array = ns.backend.adapter.to_array
    if to_array is None:
        return value
    try:
        return to_array(value)
    except (TypeError, ValueError) as error:  # the adapter's message follows the argument's name
        raise type(error)(f"`{name or 'an array argument'}` {error}") from None
