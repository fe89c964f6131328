"""Argument checks and conversions, done once at each public entry.

Messages name the argument, say what was received and what to do. Checks here look at types,
dtypes and static shapes only, so they cost nothing per element and work under tracing (an
unknown dimension, ``None``, is never judged).
"""

from __future__ import annotations

import math
import operator
import sys
from typing import Any, NamedTuple

from xloss._dispatch import Namespace, as_array, resolve
from xloss._dtypes import is_kind

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def as_int(value: Any, name: str, *, what: str = "an int") -> int:
    """``value`` as a Python int; bools and floats are refused (``True`` is no axis). A traced
    JAX value is refused with the way out: an int option sets shapes or indices, which must be
    known while tracing. An int is returned as it is: under ``torch.compile`` an int argument
    that changed between calls is a symbolic int (a ``SymInt``, an ``int`` to Dynamo), which
    ``operator.index`` would fix to this call's value, compiling again for every new one (as
    ``torch.topk``'s ``k`` does not)."""
    if is_jax_tracer(value):
        raise TypeError(
            f"`{name}` must be {what} known while tracing; received a traced JAX value "
            f"({_describe_tracer(value)}). It decides shapes or indices, which `jax.jit` cannot "
            f"trace: {_STATIC}"
        )
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"`{name}` must be {what}; received {value!r} ({type(value).__name__}).")
    return operator.index(value)


_STATIC = (
    "pass a Python number, or make that argument of your jitted function static "
    "(`jax.jit(f, static_argnums=...)` or `static_argnames=...`)."
)


def is_jax_tracer(value: Any) -> bool:
    """Whether ``value`` is a JAX tracer (under ``jax.jit``, ``grad``, ``vmap``, ...): an array
    whose value Python cannot read. JAX is not imported for it, nor looked up for a Python
    number (see `_dispatch._find_backend`)."""
    if isinstance(value, (int, float)):
        return False
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.core.Tracer)


def _describe_tracer(value: Any) -> str:
    return f"{type(value).__name__} of dtype {value.dtype} and shape {tuple(value.shape)}"


def traced(value: Any) -> bool:
    """Whether a checked float option is a traced JAX scalar (see `as_number`'s ``traceable``)
    rather than a Python number: bodies never test its value in Python, and take the branch
    that is right for every value (a traced 0 is not assumed to be 0)."""
    return not isinstance(value, (int, float))


def option_like(xp: Any, value: Any, like: Any) -> Any:
    """An option (a number, or a scalar computed from one) where it meets the array ``like``:
    a Python number as it is, which takes ``like``'s dtype (as JAX's weakly typed scalars do,
    and the arguments JAX's kernels make of them); a traced scalar converted to ``like``'s
    dtype, rounded as the Python number would be, so that a float64 one neither promotes a
    float32 computation nor compares in another precision."""
    if isinstance(value, (int, float)):
        return value
    return value if value.dtype == like.dtype else xp.astype(value, like.dtype)


def as_number(
    value: Any,
    name: str,
    *,
    what: str = "a number",
    hint: str = "",
    traceable: bool = False,
) -> Any:
    """``value`` as a float: a number, not a string (which ``float`` would read) or a bool.

    With ``traceable``, a 0-d traced JAX value of a real dtype (a hyperparameter passed as an
    argument of ``jax.jit``, or differentiated by ``jax.grad``) is returned as it is: its value
    is unknown, so no range check can run on it (the callers check only Python numbers). A
    concrete JAX, NumPy or torch scalar is read as a Python float, as before."""
    if is_jax_tracer(value):
        if traceable:
            return _traced_scalar(value, name, what=what, hint=hint)
        raise TypeError(
            f"`{name}` must be {what} known while tracing; received a traced JAX value "
            f"({_describe_tracer(value)}). This option cannot be traced: {_STATIC}{hint}"
        )
    try:
        if isinstance(value, (str, bytes, bool)):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        advice = _number_advice(value, traceable=traceable)
        raise TypeError(f"`{name}` must be {what}; received {value!r}.{hint}{advice}") from None


def _traced_scalar(value: Any, name: str, *, what: str, hint: str) -> Any:
    """A traced JAX option: one number (0-d) of a real dtype, returned as it is."""
    jnp = sys.modules["jax"].numpy
    if value.ndim != 0:
        raise TypeError(
            f"`{name}` must be {what}: one number; received a traced JAX array "
            f"({_describe_tracer(value)}). Pass a 0-d value (e.g. `p[i]`), one call per value, "
            f"or `jax.vmap` over the calls.{hint}"
        )
    if not (jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer)):
        raise TypeError(
            f"`{name}` must be {what}; received a traced JAX value ({_describe_tracer(value)}). "
            f"Pass a floating-point (or integer) value.{hint}"
        )
    return value


def _number_advice(value: Any, *, traceable: bool) -> str:
    """What to do instead, for an array that cannot be read as one number."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return ""
    tf = sys.modules.get("tensorflow")
    eager = getattr(getattr(tf, "__internal__", None), "EagerTensor", ())
    if tf is not None and isinstance(value, tf.Tensor) and not isinstance(value, eager):
        also = " (JAX's traced values are taken as they are; TensorFlow's are not)"
        return (
            f" A TensorFlow tensor inside `tf.function` has no value to read: pass a Python "
            f"number{also if traceable else ''}."
        )
    if len(tuple(shape)) != 0:
        return f" Pass one number, not an array of shape {tuple(shape)}."
    return ""


def in_unit_interval(value: Any, name: str, *, hint: str = "", traceable: bool = False) -> Any:
    """``value`` as a float in [0, 1]; with ``traceable``, a traced JAX scalar as it is,
    unchecked (see `as_number`)."""
    number = as_number(value, name, what="a number in [0, 1]", traceable=traceable)
    if traced(number):
        return number
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]; received {value!r}.{hint}")
    return number


def check_traced(backend: str, array: str, **options: Any) -> None:
    """A ``TypeError`` where a traced JAX option (or a tuple holding one) meets arrays of
    another library (``backend``, the name of ``array``'s): only JAX computes with it. On
    every loss call: Python numbers pass at once, and JAX is looked up for other values only."""
    if backend == "jax":
        return
    for name, value in options.items():
        if isinstance(value, (bool, int, float, str)) or value is None:
            continue
        values = value if isinstance(value, tuple) else (value,)
        if any(is_jax_tracer(v) for v in values):
            raise TypeError(
                f"`{name}` is a traced JAX value but `{array}` is not a JAX array ({backend}): "
                f"a traced option computes only with JAX arrays. Convert `{array}` to JAX "
                f"(`jnp.asarray`), or pass `{name}` as a Python number."
            )


def check_axis(axis: Any, *, name: str = "axis") -> int:
    return as_int(axis, name)


def normalize_axis(axis: Any, ndim: int, *, name: str = "axis", array: str = "y_pred") -> int:
    """``axis`` as a non-negative index into ``ndim`` dimensions."""
    axis = check_axis(axis, name=name)
    if ndim == 0:
        raise ValueError(
            f"`{array}` must have at least one dimension (the class axis); received a scalar. "
            f"Reshape it, e.g. to shape (1,)."
        )
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"`{name}`={axis} is out of range for `{array}` with {ndim} dimension(s); "
            f"use a value in [{-ndim}, {ndim - 1}] (-1 is the last axis)."
        )
    return axis % ndim


def check_classes(
    x: Any, axis: int, *, array: str = "y_pred", hint: str = " or pass `axis=` for another axis"
) -> None:
    """A ``ValueError`` where ``x`` has no entries along its class ``axis`` (a normalised
    index), where a softmax or a class sum has nothing to work on; an unknown size (traced)
    passes. ``hint`` ends the message's advice (for functions whose class axis is fixed)."""
    if x.shape[axis] == 0:
        raise ValueError(
            f"`{array}` has no classes: its axis {axis} (the class axis) has size 0, in shape "
            f"{tuple(x.shape)}. Give at least one class{hint}."
        )


def check_label_smoothing(label_smoothing: Any) -> Any:
    """``label_smoothing`` as a float in [0, 1], or a traced JAX scalar as it is (unchecked)."""
    hint = " 0 disables smoothing; 0.1 is a common choice."
    return in_unit_interval(label_smoothing, "label_smoothing", hint=hint, traceable=True)


def check_flag(value: Any, name: str, *, hint: str = "") -> bool:
    """``value`` as a bool: True or False (NumPy's too); anything else, which ``if`` would
    read as true or false (``"no"`` is true), is a ``TypeError``."""
    np = sys.modules.get("numpy")
    if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
        return bool(value)
    if is_jax_tracer(value):
        hint += f" It cannot be traced: {_STATIC.replace('a Python number', 'True or False')}"
    raise TypeError(f"`{name}` must be True or False; received {value!r}.{hint}")


def check_from_logits(from_logits: Any) -> bool:
    hint = " Use True when `y_pred` holds raw scores (logits), False when it holds probabilities."
    return check_flag(from_logits, "from_logits", hint=hint)


def check_reduction(reduction: Any) -> str | None:
    if reduction not in REDUCTIONS:
        allowed = ", ".join(repr(r) for r in REDUCTIONS)
        raise ValueError(f"`reduction` must be one of {allowed}; received {reduction!r}.")
    return None if reduction == "none" else reduction


def check_ignore_class(ignore_class: Any) -> int | None:
    if ignore_class is None:
        return None
    return as_int(ignore_class, "ignore_class", what="an int or None")


# Dtype tests try identity first: PyTorch's and TensorFlow's dtypes are singletons, and `is`
# costs a tenth of TensorFlow's `==` (0.5 us); NumPy's dtype objects never match a scalar type
# by identity, and go on to `==`.

INTERNED_DTYPES: set[type] = set()
"""Dtype classes whose instances (as arrays report them and namespaces name them) are one
object per dtype: two different objects of such a class are two dtypes, and `same_dtype` needs
no ``==``. TensorFlow's namespace registers its ``DType`` (tensors' dtypes come from its intern
table); its ``==`` is Python, 0.5 us, and an eager loss call makes half a dozen."""


def _is_wide_float(xp: Any, dtype: Any) -> bool:
    return dtype is xp.float32 or dtype is xp.float64


def _is_float(xp: Any, dtype: Any) -> bool:
    return _is_wide_float(xp, dtype) or is_kind(xp, dtype, "real floating")


def same_dtype(a: Any, b: Any) -> bool:
    """``a == b`` for dtypes, by identity where that decides (`INTERNED_DTYPES`)."""
    if a is b:
        return True
    cls = type(a)
    return not (cls is type(b) and cls in INTERNED_DTYPES) and a == b


def index_dtype(xp: Any) -> Any:
    """The namespace's default indexing dtype (int64; int32 for JAX without x64)."""
    return xp.__array_namespace_info__().default_dtypes()["indexing"]


def compute_dtype(xp: Any, dtype: Any) -> Any:
    """float64 stays float64; float32, float16 and bfloat16 are computed in float32."""
    return xp.float64 if same_dtype(dtype, xp.float64) else xp.float32


class FloatInput(NamedTuple):
    """A floating-point argument, converted to the dtype the core computes in."""

    ns: Namespace
    x: Any
    dtype: Any  # the caller's dtype: results are returned in it


def float_input(x: Any, *, name: str = "x", upcast: bool = True) -> FloatInput:
    """Resolve ``x``'s namespace, check it is real floating point and upcast half precision
    (with ``upcast=False`` the caller upcasts later, inside a fused body: see `_fast.run`)."""
    ns = resolve(**{name: x})
    x = as_array(x, ns, floating=True, name=name)
    x, dtype = _to_compute(ns.xp, x, name, upcast=upcast)
    return FloatInput(ns, x, dtype)


def is_half(xp: Any, x: Any) -> bool:
    """Whether ``x`` is an array of 16-bit floats (float16, bfloat16)."""
    dtype = getattr(x, "dtype", None)
    return getattr(dtype, "itemsize", 0) == 2 and is_kind(xp, dtype, "real floating")


def to_compute(xp: Any, x: Any) -> Any:
    """``x`` in its compute dtype: float64 stays, everything else becomes float32."""
    dtype = x.dtype
    if _is_wide_float(xp, dtype):
        return x
    target = compute_dtype(xp, dtype)
    return x if same_dtype(dtype, target) else xp.astype(x, target)


def _to_compute(xp: Any, x: Any, name: str, *, upcast: bool = True) -> tuple[Any, Any]:
    if not _is_float(xp, x.dtype):
        raise TypeError(
            f"`{name}` must be a real floating-point array; received dtype {x.dtype}. "
            f"Cast it first (e.g. `.astype(float32)`): scores and probabilities are real numbers."
        )
    return (to_compute(xp, x) if upcast else x), x.dtype


def to_caller_dtype(xp: Any, result: Any, dtype: Any) -> Any:
    return result if same_dtype(result.dtype, dtype) else xp.astype(result, dtype)


class LossInputs(NamedTuple):
    """The arrays of one loss call, in one namespace, in the compute dtype (``y_pred``, and
    large dense targets on JAX, may keep a half-precision dtype: see `loss_inputs`)."""

    xp: Any
    adapter: Any
    y_true: Any
    y_pred: Any
    sample_weight: Any
    axis: int


def loss_inputs(
    y_true: Any,
    y_pred: Any,
    sample_weight: Any = None,
    *,
    axis: Any,
    sparse: bool,
    upcast: bool = True,
) -> LossInputs:
    """Validate and convert the arguments shared by every loss.

    Targets and weights are converted to the compute dtype; ``y_pred`` too, unless ``upcast``
    is False (then the body computing the loss upcasts it, fused: see `_fast.run`), and so are
    large half-precision targets where the adapter's kernels upcast them too
    (``HALF_TARGETS_FROM``, a number of entries: JAX's, under ``jit``, where an eager
    conversion would be a dispatch and a written copy; PyTorch's, block by block in cache,
    where it would be a written copy).
    """
    ns = resolve(y_pred=y_pred, y_true=y_true, sample_weight=sample_weight)
    xp = ns.xp
    y_pred = as_array(y_pred, ns, floating=True, name="y_pred")
    y_pred, dtype = _to_compute(xp, y_pred, "y_pred", upcast=upcast)
    compute = compute_dtype(xp, dtype)
    y_true = as_array(y_true, ns, name="y_true", float_dtype=None if sparse else compute)
    if sparse:
        axis = normalize_axis(axis, y_pred.ndim)
        y_true = _sparse_labels(xp, y_true, y_pred, axis)
    else:
        _check_real(xp, y_true, "y_true")
        given = _shape(y_pred)
        y_true, y_pred = _same_rank(xp, y_true, y_pred)
        try:  # as Keras's loss classes: `axis` indexes the aligned arrays
            axis = normalize_axis(axis, y_pred.ndim)
        except ValueError as error:
            if len(given) == y_pred.ndim:
                raise
            raise ValueError(
                f"{error} (`y_pred` of shape {given} was brought to shape {_shape(y_pred)} to "
                f"match `y_true` of shape {_shape(y_true)}, as Keras's loss classes do; `axis` "
                f"indexes that shape.)"
            ) from None
        half_from = None if upcast else ns.backend.adapter.HALF_TARGETS_FROM
        y_true = _dense_targets(xp, y_true, y_pred, compute, half_from=half_from)
    if sample_weight is not None:
        sample_weight = as_array(sample_weight, ns, name="sample_weight", float_dtype=compute)
        _check_real(xp, sample_weight, "sample_weight")
        sample_weight = xp.astype(sample_weight, compute)
    return LossInputs(xp, ns.backend.adapter, y_true, y_pred, sample_weight, axis)


def _check_real(xp: Any, x: Any, name: str) -> None:
    if not is_kind(xp, x.dtype, ("real floating", "integral", "bool")):
        raise TypeError(f"`{name}` must be a real-valued array; received dtype {x.dtype}.")


def _shape(x: Any) -> tuple[Any, ...]:
    return tuple(x.shape)


def _size(x: Any) -> int:
    """The number of entries; 0 where a dimension is unknown (traced)."""
    shape = _shape(x)
    return 0 if None in shape else math.prod(shape)


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(m is None or n is None or m == n for m, n in zip(a, b))


def same_rank(xp: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """``(a, b)`` brought to one rank where they differ by a trailing size-1 dimension, by
    Keras's rule (``squeeze_or_expand_to_same_rank``): the rank-1 side gains the dimension,
    else the other side loses it. ``(N, 1)`` against ``(N,)`` is ``(N, 1)`` against
    ``(N, 1)``; ``(N, T, 1)`` against ``(N, T)`` is ``(N, T)`` against ``(N, T)``."""
    if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
        if b.ndim == 1:
            return a, xp.expand_dims(b, axis=-1)
        return xp.squeeze(a, axis=-1), b
    if b.ndim == a.ndim + 1 and b.shape[-1] == 1:
        if a.ndim == 1:
            return xp.expand_dims(a, axis=-1), b
        return a, xp.squeeze(b, axis=-1)
    return a, b


def _same_rank(xp: Any, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Dense targets and predictions aligned as Keras's loss classes align them (`same_rank`),
    never broadcast into an ``(N, N)`` loss; shapes that still differ are an error."""
    t, p = _shape(y_true), _shape(y_pred)
    y_true, y_pred = same_rank(xp, y_true, y_pred)
    if not _same(_shape(y_true), _shape(y_pred)):
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape; received y_true.shape={t} and "
            f"y_pred.shape={p}. For integer class labels use the sparse loss."
        )
    return y_true, y_pred


def _dense_targets(
    xp: Any, y_true: Any, y_pred: Any, dtype: Any, *, half_from: int | None = None
) -> Any:
    """Targets (of ``y_pred``'s shape) in the compute dtype ``dtype``, or in half precision as
    given, from ``half_from`` entries."""
    if same_dtype(y_true.dtype, dtype):
        return y_true
    if half_from is not None and is_half(xp, y_true) and _size(y_true) >= half_from:
        return y_true
    return xp.astype(y_true, dtype)


def _sparse_labels(xp: Any, y_true: Any, y_pred: Any, axis: int) -> Any:
    """Integer labels with ``y_pred``'s shape minus the class axis, in the indexing dtype."""
    if not is_kind(xp, y_true.dtype, "integral"):
        raise TypeError(
            f"`y_true` must hold integer class indices; received dtype {y_true.dtype}. "
            f"Cast the labels to an integer dtype, or pass one-hot or soft targets to "
            f"categorical_crossentropy instead."
        )
    t, p = _shape(y_true), _shape(y_pred)
    expected, given = p[:axis] + p[axis + 1 :], t
    if len(t) == len(p) and t[axis] == 1:  # Keras's (N, 1) label form
        y_true = xp.squeeze(y_true, axis=axis)
        given = t[:axis] + t[axis + 1 :]
    if not _same(given, expected):
        raise ValueError(
            f"`y_true` must have the shape of `y_pred` without its class axis (axis={axis}): "
            f"expected {expected}, received y_true.shape={t} for y_pred.shape={p}."
        )
    index = index_dtype(xp)
    return y_true if same_dtype(y_true.dtype, index) else xp.astype(y_true, index)
