"""What the compat profiles share: argument conversion, label gathering and exact division.

The profiles return what their framework returns: the input's dtype (half precision computed in
float32 and rounded once at the end), the caller's array type and device. Checks that read
values (label ranges, probability ranges) run only where `xloss._checks.readable` allows them:
eagerly, on host memory, with ``xloss.value_checks`` on. Elsewhere the bad entries give ``nan``.
"""

from __future__ import annotations

import math
from typing import Any

from xloss import _checks, _fast
from xloss._activations import log_softmax_xp, softplus_parts
from xloss._dispatch import Namespace, _is_value, as_array, backend_of, resolve
from xloss._validation import (
    _check_real,
    _to_compute,
    as_int,
    check_classes,
    index_dtype,
    is_jax_tracer,
    is_kind,
)

Shape = tuple[Any, ...]


# --- conversion -------------------------------------------------------------------------------


def adopt(**arguments: Any) -> tuple[Namespace, tuple[Any, ...]]:
    """``(namespace, arguments)``: the namespace of the arguments, the first one (``logits``,
    ``y_pred``) being the reference, and the arguments in the order given, with NumPy arrays and
    NumPy scalars among the others converted into the reference's framework, on its device.

    optax, ``tf.nn`` and Keras take NumPy labels, weights and masks with their own arrays (optax
    computes with ``jnp``; TensorFlow and Keras call ``convert_to_tensor``), so
    `xloss.compat.optax`, `xloss.compat.tensorflow` and `xloss.compat.keras` do too, through
    this function. torch does not (``F.cross_entropy`` raises ``TypeError`` for a NumPy
    target), and neither do `xloss.compat.torch` and xloss's own functions, which call
    `xloss._dispatch.resolve` directly. Any other mix raises ``TypeError`` naming both
    frameworks and asking to convert the non-reference argument: arrays of two frameworks
    neither of which is NumPy, and NumPy logits with another framework's labels (the result
    has the reference's type, so nothing is converted into NumPy).

    Raises:
        TypeError: the mixes above; an argument is not an array, a number or a list; a NumPy
            array the reference's framework cannot hold (strings, objects).
    """
    first, reference = next(iter(arguments.items()))
    target = None
    if reference is not None and not _is_value(reference):
        target = backend_of(reference)
    if target is not None and target.name != "numpy":
        xp = target.xp or target.adapter.namespace(reference)
        device = target.adapter.device(reference)
        for name, value in arguments.items():
            if name == first or value is None or _is_value(value):
                continue
            backend = backend_of(value)
            if backend is None or backend.name != "numpy":
                continue
            try:
                converted = xp.asarray(value, device=device)
            except (TypeError, ValueError, RuntimeError) as error:
                raise TypeError(
                    f"`{name}` is a NumPy array of dtype {value.dtype}, which cannot be converted "
                    f"to {target.name} for `{first}`: {error}"
                ) from error
            _check_held(value, converted, name, target.name)
            arguments[name] = converted
    return resolve(**arguments), tuple(arguments.values())


def _check_held(value: Any, converted: Any, name: str, framework: str) -> None:
    """A NumPy integer array converted to a narrower integer dtype (int64 labels into JAX's
    int32, without x64) must hold the same values: wrapped, ``2**32 + 1`` would be class 1."""
    import numpy as np

    if value.dtype.kind not in "iu" or not value.size:
        return
    dtype = converted.dtype
    name_of = getattr(dtype, "name", None)  # NumPy's and TensorFlow's dtypes; torch's str()
    try:
        info = np.iinfo(name_of if isinstance(name_of, str) else str(dtype).rsplit(".", 1)[-1])
    except (TypeError, ValueError):  # not an integer dtype NumPy knows: nothing narrowed
        return
    if info.bits >= value.dtype.itemsize * 8 and (value.dtype.kind == "i" or info.min == 0):
        return
    low, high = value.min(), value.max()
    if low < info.min or high > info.max:
        bad = low if low < info.min else high
        raise ValueError(
            f"`{name}` holds {bad}, which {framework}'s {info.dtype} cannot hold (NumPy's "
            f"{value.dtype} arrays become {info.dtype} there): it would wrap to another value. "
            f"Check the values (JAX keeps int64 with jax_enable_x64)."
        )


def floating(ns: Namespace, value: Any, name: str, *, upcast: bool = True) -> tuple[Any, Any]:
    """``(array in the compute dtype, the caller's dtype)`` for a real floating-point argument
    (``upcast=False``: the array as given, half precision too)."""
    return _to_compute(ns.xp, as_array(value, ns, floating=True, name=name), name, upcast=upcast)


def real(ns: Namespace, value: Any, name: str, dtype: Any) -> Any:
    """A real-valued argument (floating, integer or bool) as an array in ``dtype``."""
    x = as_array(value, ns, floating=True, name=name, float_dtype=dtype)
    _check_real(ns.xp, x, name)
    return x if x.dtype == dtype else ns.xp.astype(x, dtype)


def integers(ns: Namespace, value: Any, name: str, hint: str) -> Any:
    """Integer class indices, in the namespace's indexing dtype."""
    xp = ns.xp
    labels = as_array(value, ns, name=name)
    if not is_kind(xp, labels.dtype, "integral"):
        raise TypeError(
            f"`{name}` must hold integer class indices; received dtype {labels.dtype}.{hint}"
        )
    index = index_dtype(xp)
    return labels if labels.dtype == index else xp.astype(labels, index)


def mask(ns: Namespace, value: Any, name: str) -> Any:
    """A boolean mask (nonzero entries of a numeric array count as True)."""
    xp = ns.xp
    m = as_array(value, ns, name=name)
    if is_kind(xp, m.dtype, "bool"):
        return m
    if not is_kind(xp, m.dtype, ("integral", "real floating")):
        raise TypeError(f"`{name}` must be a boolean array; received dtype {m.dtype}.")
    return m != 0


def optional_name(name: Any) -> None:
    """The ``name=`` that TensorFlow's functions take: a string or None, accepted and unused."""
    if name is not None and not isinstance(name, str):
        raise TypeError(f"`name` must be a string or None; received {name!r}.")


def check_unit(value: Any, name: str, *, hint: str = "") -> float:
    """A number in [0, 1], as a Python float.

    What torch's float arguments take, bools left out: a Python int or float, a NumPy integer
    or floating-point scalar (``np.float32(0.1)``), or a 0-d integer or floating-point torch
    tensor (its value is read). torch refuses a NumPy array, 0-d or not, and so does this; it
    reads ``True`` as 1, which this refuses as the likely slip it is.
    """
    number = _real_number(value)
    if number is None:
        advice = ""
        if is_jax_tracer(value):  # torch's float arguments are numbers: no traced value
            advice = (
                " A traced JAX value cannot be taken here: pass a Python number, or make that "
                "argument of your jitted function static (`jax.jit(f, static_argnums=...)`)."
            )
        raise TypeError(
            f"`{name}` must be a float in [0, 1] (a Python or NumPy number, or a 0-d torch "
            f"tensor); received {_describe(value)}.{advice}"
        )
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]; received {value!r}.{hint}")
    return number


def _real_number(value: Any) -> float | None:
    """``value`` as a float if it is a real number `check_unit` takes, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    backend = backend_of(value)
    if backend is None or backend.name not in ("numpy", "torch") or value.ndim != 0:
        return None
    if backend.name == "numpy":
        import numpy as np  # imported already: ``value`` is a NumPy array

        if not isinstance(value, np.generic):
            return None
    xp = backend.xp or backend.adapter.namespace(value)
    if not is_kind(xp, value.dtype, ("integral", "real floating")):
        return None
    return float(value)


def _describe(value: Any) -> str:
    """``value``'s repr for a Python, NumPy or torch scalar; type and shape for an array."""
    kind = type(value)
    scalar = kind.__module__ == "numpy" and kind.__name__ != "ndarray"  # a NumPy scalar
    if isinstance(value, (bool, int, float, str)) or scalar:
        return repr(value)
    backend = backend_of(value)
    if backend is not None and backend.name == "torch" and value.ndim == 0:
        return repr(value)
    shape = getattr(value, "shape", None)
    suffix = "" if shape is None else f" of shape {tuple(shape)}"
    return f"a {kind.__module__}.{kind.__qualname__}{suffix}"


# --- shapes -----------------------------------------------------------------------------------


def shape(x: Any) -> Shape:
    return tuple(x.shape)


def fits(a: Shape, b: Shape) -> bool:
    """Whether ``a`` equals ``b``, unknown (``None``) dimensions matching anything."""
    return len(a) == len(b) and all(m is None or n is None or m == n for m, n in zip(a, b))


def broadcastable(a: Shape, b: Shape) -> bool:
    """Whether ``a`` and ``b`` broadcast together (unknown dimensions match anything)."""
    return all(
        m is None or n is None or m == n or 1 in (m, n) for m, n in zip(reversed(a), reversed(b))
    )


def broadcasts_to(a: Shape, target: Shape) -> bool:
    """Whether ``a`` broadcasts to ``target`` without enlarging it."""
    return len(a) <= len(target) and all(
        m is None or n is None or m in (1, n) for m, n in zip(reversed(a), reversed(target))
    )


def normalize_axes(axis: Any, ndim: int, *, array: str, allow_none: bool) -> tuple[int, ...]:
    """``axis`` (an int, a tuple of ints, or ``None`` for every axis) as non-negative axes, in
    the order given."""
    if axis is None and allow_none:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    what = "an int, a tuple of ints or None" if allow_none else "an int or a tuple of ints"
    result = []
    for a in axes:
        a = as_int(a, "axis", what=what)
        if not -ndim <= a < ndim:
            raise ValueError(
                f"`axis`={a} is out of range for `{array}` with {ndim} dimension(s); use a value "
                f"in [{-ndim}, {ndim - 1}]."
            )
        result.append(a % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"`axis` names a dimension twice: {axis!r}.")
    if not result:
        raise ValueError("`axis` must name at least one dimension; received ().")
    return tuple(result)


def check_class_axes(x: Any, axes: tuple[int, ...], *, array: str, hint: str = "") -> None:
    """The `ValueError` of xloss's own functions where a class axis of ``x`` has size 0. The
    frameworks disagree there (torch raises for class indices and gives ``nan`` for
    probabilities, TensorFlow raises for labels and gives 0 for distributions, optax gives
    ``-inf`` or 0), and there is no distribution over no classes: every profile refuses it.
    ``hint``: how to choose another class axis, where the function takes one."""
    for axis in axes:
        check_classes(x, axis, array=array, hint=hint)


def is_array(value: Any) -> bool:
    """Whether ``value`` is an array rather than a Python number (or a ``torch.SymInt``, the
    number a dimension is under ``torch.compile(dynamic=True)``)."""
    return not isinstance(value, (int, float))


def class_count(xp: Any, x: Any, axis: int, *, keepdims: bool = False) -> Any:
    """``x.shape[axis]``: a Python int, or (dimension unknown under tracing) a float array
    counting along ``axis``, shaped like ``x`` without it (or with it as size 1)."""
    n = x.shape[axis]
    return n if n is not None else xp.sum(xp.ones_like(x), axis=axis, keepdims=keepdims)


def count(xp: Any, x: Any) -> Any:
    """Number of elements of ``x``: a Python int, or a float array if a dimension is unknown."""
    if all(d is not None for d in x.shape):
        return math.prod(x.shape)
    return xp.sum(xp.ones_like(x))


# --- labels -----------------------------------------------------------------------------------


def pick(xp: Any, values: Any, labels: Any, axis: int, num_classes: Any) -> tuple[Any, Any]:
    """``(values[..., label, ...] along axis (removed), label in [0, num_classes))``.

    Out-of-range labels gather index 0 (a valid position, so nothing is read out of bounds);
    callers put ``nan`` (or 0 for ignored positions) there.
    """
    if is_array(num_classes):
        num_classes = xp.astype(num_classes, labels.dtype)
    in_range = xp.logical_and(labels >= 0, labels < num_classes)
    index = xp.expand_dims(xp.where(in_range, labels, xp.zeros_like(labels)), axis=axis)
    picked = xp.squeeze(xp.take_along_axis(values, index, axis=axis), axis=axis)
    return picked, in_range


def nan_where(xp: Any, condition: Any, x: Any) -> Any:
    return xp.where(condition, xp.full_like(x, math.nan), x)


def bad_label(
    adapter: Any, xp: Any, labels: Any, num_classes: Any, *, skip: int | None = None
) -> int | None:
    """The first label outside ``[0, num_classes)`` (other than ``skip``), read eagerly; ``None``
    if all are in range, or if the values cannot be read (tracing, accelerator memory,
    ``xloss.value_checks(False)``) or the number of classes is unknown."""
    if num_classes is None or is_array(num_classes):
        return None
    readable = _checks.readable(adapter, labels)
    if readable is None:
        return None
    invalid = xp.logical_or(readable < 0, readable >= num_classes)
    if skip is not None:
        invalid = xp.logical_and(invalid, readable != skip)
    if not bool(xp.any(invalid)):
        return None
    zero = xp.zeros_like(readable)
    low = int(xp.min(xp.where(invalid, readable, zero)))
    return low if low < 0 else int(xp.max(xp.where(invalid, readable, zero)))


def value_range(adapter: Any, x: Any) -> tuple[float, float] | None:
    """``(min, max)`` of ``x``, ``nan`` if it holds one; ``None`` where values cannot be read.
    Read through NumPy (`xloss._checks._host`, a view), whose ``min`` and ``max`` propagate
    ``nan``: two passes, where the backend's ``isnan``, ``any``, ``min`` and ``max`` made four
    and a mask (PyTorch, float32: 2048 x 8192 22 ms -> 9.8 ms, 8 x 10 14 us -> 5.6 us)."""
    readable = _checks.readable(adapter, x)
    if readable is None or 0 in shape(readable):
        return None
    host = _checks._host(readable)
    low, high = float(host.min()), float(host.max())
    return (math.nan, math.nan) if math.isnan(low) or math.isnan(high) else (low, high)


# --- arithmetic -------------------------------------------------------------------------------


def divide(xp: Any, total: Any, divisor: Any) -> Any:
    """``total / divisor`` as IEEE floats give it (``x / 0 = +-inf``, ``0 / 0 = nan``), without
    the warning NumPy raises for a zero divisor. ``divisor`` may be a Python int (a count, where
    0 means no elements: ``nan``)."""
    if not is_array(divisor):
        return total / divisor if divisor else xp.full_like(total, math.nan)
    zero = divisor == 0
    quotient = total / xp.where(zero, xp.ones_like(divisor), divisor)
    inf = xp.full_like(total, math.inf)
    fill = xp.where(total > 0, inf, xp.where(total < 0, -inf, xp.full_like(total, math.nan)))
    return xp.where(zero, fill, quotient)


def log_softmax(ns: Namespace, x: Any, axis: Any) -> Any:
    """``log_softmax_xp`` along ``axis`` (an int, or a tuple of axes), by the backend's fused
    kernel where it has one (`xloss._fast`, the kernel `xloss.log_softmax` takes: the same
    values, tested there): one operation instead of five on PyTorch, one compiled program on
    eager JAX."""
    if not isinstance(axis, int):
        return log_softmax_xp(ns.xp, x, axis)
    return _fast.run(ns.backend.adapter, "log_softmax", log_softmax_xp, ns.xp, x, axis=axis)


def log_clamped(xp: Any, p: Any, *, complement: bool = False) -> Any:
    """``max(log(p), -100)`` (or ``max(log(1 - p), -100)``), torch's clamp, without evaluating
    ``log(0)`` (NumPy would warn) and with a finite gradient at the clamp. ``p`` outside [0, 1]
    (or ``nan``) gives ``nan``."""
    edge = p == (1 if complement else 0)
    safe = xp.where(edge, xp.full_like(p, 0.0 if complement else 1.0), p)
    log = xp.log1p(-safe) if complement else xp.log(safe)
    return xp.where(edge, xp.full_like(p, -100.0), xp.clip(log, -100.0, None))


def logistic(
    ns: Namespace, z: Any, x: Any, pos_weight: Any = None, weight: Any = None, *, total: bool
) -> Any:
    """`logistic_xp` times ``weight`` (``None``: 1), summed to a scalar where ``total``: by the
    backend's kernel where it has one (`xloss._fast`: on PyTorch, large eager inputs by blocks
    of rows in reused buffers, the same operations; on eager JAX, one compiled program), else
    the generic body, `logistic_loss_xp`. The arrays share ``x``'s dtype; ``pos_weight`` and
    ``weight`` broadcast to ``x``'s shape, ``z`` has it."""
    args = (z, pos_weight, weight, x)
    return _fast.run(ns.backend.adapter, "logistic", logistic_loss_xp, ns.xp, *args, total=total)


def logistic_loss_xp(
    xp: Any, z: Any, pos_weight: Any, weight: Any, x: Any, *, total: bool = False
) -> Any:
    """`logistic`'s generic body."""
    loss = logistic_xp(xp, z, x, pos_weight)
    if weight is not None:
        loss = loss * weight
    return xp.sum(loss) if total else loss


def logistic_xp(xp: Any, z: Any, x: Any, pos_weight: Any = None) -> Any:
    """``(1 - z) x + (1 + (q - 1) z) softplus(-x)``: binary cross-entropy from logits with the
    positive term weighted by ``q`` (torch's and TensorFlow's ``pos_weight``), finite for every
    finite logit."""
    # softplus(-x)'s large part first, its small part last (`softplus_parts`): exact where
    # (1 - z) x cancels max(-x, 0), at x = -17, z = 0 (torch and tf.nn's weighted loss give 0).
    # A subtraction, then an addition: TensorFlow's graph optimiser turns a chain of additions
    # into one AddN, which adds in another order.
    large, small = softplus_parts(xp, -x)
    if pos_weight is None:
        return (large - (z - 1.0) * x) + small
    log_weight = 1.0 + (pos_weight - 1.0) * z
    return (log_weight * large - (z - 1.0) * x) + log_weight * small
