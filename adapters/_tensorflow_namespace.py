"""An Array-API namespace over TensorFlow ops (array-api-compat has none): this module is it.

It holds the Array-API functions the xloss core uses, written with plain TF ops. They are
differentiable under ``tf.GradientTape``, work on symbolic tensors with unknown dimensions, and
never change global TF state (no ``enable_numpy_behavior()``).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import tensorflow as tf
from xloss.adapters.tensorflow import ints

from xloss._validation import INTERNED_DTYPES

__array_api_version__ = "2024.12"


# --- data types -------------------------------------------------------------------------------

bool = tf.bool
int8, int16, int32, int64 = tf.int8, tf.int16, tf.int32, tf.int64
uint8, uint16, uint32, uint64 = tf.uint8, tf.uint16, tf.uint32, tf.uint64
float16, bfloat16, float32, float64 = tf.float16, tf.bfloat16, tf.float32, tf.float64
complex64, complex128 = tf.complex64, tf.complex128

INTERNED_DTYPES.add(tf.DType)  # a tensor's dtype is its intern table's: `is` decides

_KINDS = {
    "bool": lambda d: d == tf.bool,
    "signed integer": lambda d: d.is_integer and not d.is_unsigned,
    "unsigned integer": lambda d: d.is_integer and d.is_unsigned,
    "integral": lambda d: d.is_integer,
    "real floating": lambda d: d.is_floating,
    "complex floating": lambda d: d.is_complex,
    "numeric": lambda d: d.is_integer or d.is_floating or d.is_complex,
}


def isdtype(dtype: Any, kind: Any) -> builtins.bool:
    dtype = tf.as_dtype(dtype)
    if isinstance(kind, tuple):
        return builtins.any(isdtype(dtype, k) for k in kind)
    if isinstance(kind, str):
        return builtins.bool(_KINDS[kind](dtype))
    return dtype == tf.as_dtype(kind)


def finfo(type: Any) -> Any:
    dtype = tf.as_dtype(getattr(type, "dtype", type))
    info = np.finfo(dtype.as_numpy_dtype) if dtype != tf.bfloat16 else _bfloat16_finfo()
    return SimpleNamespace(
        bits=info.bits,
        eps=float(info.eps),
        max=float(info.max),
        min=float(info.min),
        smallest_normal=float(info.smallest_normal),
        dtype=dtype,
    )


def _bfloat16_finfo() -> Any:
    import ml_dtypes  # shipped with TensorFlow

    return ml_dtypes.finfo(ml_dtypes.bfloat16)


def iinfo(type: Any) -> Any:
    dtype = tf.as_dtype(getattr(type, "dtype", type))
    info = np.iinfo(dtype.as_numpy_dtype)
    return SimpleNamespace(bits=info.bits, max=int(info.max), min=int(info.min), dtype=dtype)


def result_type(*arrays_and_dtypes: Any) -> Any:
    dtypes = [tf.as_dtype(getattr(a, "dtype", a)) for a in arrays_and_dtypes]
    return tf.as_dtype(np.result_type(*[d.as_numpy_dtype for d in dtypes]))


class _Info:
    def default_dtypes(self, *, device: Any = None) -> dict[str, Any]:
        return {
            "real floating": tf.float32,
            "complex floating": tf.complex64,
            "integral": tf.int64,
            "indexing": tf.int64,
        }

    def capabilities(self) -> dict[str, Any]:
        return {"boolean indexing": True, "data-dependent shapes": True}

    def default_device(self) -> Any:
        return None


def __array_namespace_info__() -> _Info:
    return _Info()


# --- creation and conversion ------------------------------------------------------------------


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: Any = None) -> Any:
    if device:
        with tf.device(device):
            return _asarray(obj, dtype)
    return _asarray(obj, dtype)


def _asarray(obj: Any, dtype: Any) -> Any:
    if isinstance(obj, tf.Variable):
        obj = obj.read_value() if dtype is None else tf.cast(obj, dtype)
        return obj
    if isinstance(obj, tf.Tensor):
        return obj if dtype is None or obj.dtype == dtype else tf.cast(obj, dtype)
    tensor = tf.convert_to_tensor(obj, dtype=dtype)
    if dtype is None and tensor.dtype == tf.int32:
        # Python ints get the default integer dtype, int64 (TF itself would pick int32).
        tensor = tf.cast(tensor, tf.int64)
    return tensor


def astype(x: Any, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> Any:
    """``tf.cast``: for a real tensor its ``Cast`` op without its Python, which costs 5-10 us
    an eager call (the same op and gradient); ``x`` itself when the dtype is already right
    (tensors are immutable), as ``tf.cast`` does."""
    if x.dtype is dtype:
        return x
    if isinstance(x, tf.Tensor) and not x.dtype.is_complex:
        return tf.raw_ops.Cast(x=x, DstT=dtype)
    return tf.cast(x, dtype)


def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.zeros_like(x, dtype=dtype)


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    return tf.ones_like(x, dtype=dtype)


def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    if device:
        with tf.device(device):
            return tf.ones(shape, dtype=dtype or tf.float32)
    return tf.ones(shape, dtype=dtype or tf.float32)


def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
    dtype = dtype or x.dtype
    return tf.fill(tf.shape(x), tf.constant(fill_value, dtype=dtype))


def broadcast_to(x: Any, /, shape: Any) -> Any:
    return tf.broadcast_to(x, shape)


# --- elementwise ------------------------------------------------------------------------------


def _pair(x1: Any, x2: Any) -> tuple[Any, Any]:
    """Python scalars take the dtype of the array they meet, as the standard says."""
    if not isinstance(x1, (tf.Tensor, tf.Variable)):
        x1 = tf.constant(x1, dtype=x2.dtype)
    elif not isinstance(x2, (tf.Tensor, tf.Variable)):
        x2 = tf.constant(x2, dtype=x1.dtype)
    return x1, x2


def _binary(op: Any) -> Any:
    def f(x1: Any, x2: Any, /) -> Any:
        return op(*_pair(x1, x2))

    f.__name__ = op.__name__
    return f


add = _binary(tf.add)
subtract = _binary(tf.subtract)
multiply = _binary(tf.multiply)
divide = _binary(tf.truediv)
maximum = _binary(tf.maximum)
minimum = _binary(tf.minimum)
pow = _binary(tf.pow)
equal = _binary(tf.equal)
not_equal = _binary(tf.not_equal)
less = _binary(tf.less)
less_equal = _binary(tf.less_equal)
greater = _binary(tf.greater)
greater_equal = _binary(tf.greater_equal)
logical_and = _binary(tf.logical_and)
logical_or = _binary(tf.logical_or)

abs = tf.abs
negative = tf.negative
exp = tf.exp
expm1 = tf.math.expm1
log = tf.math.log
log1p = tf.math.log1p
sqrt = tf.sqrt
square = tf.square
sign = tf.sign
floor = tf.floor
ceil = tf.math.ceil
isfinite = tf.math.is_finite
isinf = tf.math.is_inf
isnan = tf.math.is_nan


def signbit(x: Any) -> Any:
    """Whether the sign bit is set (``-0.0`` included), from the bits of floating ``x``."""
    if x.dtype.is_floating:
        return tf.bitcast(x, {2: tf.int16, 4: tf.int32, 8: tf.int64}[x.dtype.size]) < 0
    return x < 0


logical_not = tf.logical_not


def logaddexp(x1: Any, x2: Any, /) -> Any:
    x1, x2 = _pair(x1, x2)
    m = tf.maximum(x1, x2)
    m = tf.where(tf.math.is_finite(m), m, tf.zeros_like(m))
    return m + tf.math.log(tf.exp(x1 - m) + tf.exp(x2 - m))


def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:
    if min is not None:
        x = tf.maximum(*_pair(x, min))
    if max is not None:
        x = tf.minimum(*_pair(x, max))
    return x


def where(condition: Any, x1: Any, x2: Any, /) -> Any:
    if not isinstance(x1, (tf.Tensor, tf.Variable)) and not isinstance(
        x2, (tf.Tensor, tf.Variable)
    ):
        x1, x2 = _asarray(x1, None), _asarray(x2, None)
        if x1.dtype != x2.dtype:  # an int and a float: the default float dtype
            x1, x2 = tf.cast(x1, tf.float32), tf.cast(x2, tf.float32)
    x1, x2 = _pair(x1, x2)
    return tf.where(condition, x1, x2)


# --- reductions -------------------------------------------------------------------------------


def _reduction(op: Any) -> Any:
    def f(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False, **kw: Any) -> Any:
        if "dtype" in kw and kw["dtype"] is not None:
            x = tf.cast(x, kw["dtype"])
        return op(x, axis=_axes(axis), keepdims=keepdims)

    f.__name__ = op.__name__
    return f


def _axes(axis: Any) -> Any:
    return ints(axis) if isinstance(axis, tuple) else axis


sum = _reduction(tf.reduce_sum)
prod = _reduction(tf.reduce_prod)
mean = _reduction(tf.reduce_mean)
max = _reduction(tf.reduce_max)
min = _reduction(tf.reduce_min)
all = _reduction(tf.reduce_all)
any = _reduction(tf.reduce_any)


def argmax(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
    return _arg(tf.argmax, x, axis, keepdims)


def argmin(x: Any, /, *, axis: Any = None, keepdims: builtins.bool = False) -> Any:
    return _arg(tf.argmin, x, axis, keepdims)


def _arg(op: Any, x: Any, axis: Any, keepdims: builtins.bool) -> Any:
    if axis is None:
        out = op(tf.reshape(x, [-1]), axis=0)
        return tf.reshape(out, [1] * x.shape.rank) if keepdims else out
    out = op(x, axis=axis)
    return tf.expand_dims(out, axis) if keepdims else out


# --- shapes and indexing ----------------------------------------------------------------------


def reshape(x: Any, /, shape: Sequence[int], *, copy: Any = None) -> Any:
    return tf.reshape(x, ints(shape))


def expand_dims(x: Any, /, *, axis: int = 0) -> Any:
    return tf.expand_dims(x, axis)


def squeeze(x: Any, /, axis: Any) -> Any:
    return tf.squeeze(x, axis=list(axis) if isinstance(axis, tuple) else axis)  # an attribute


def permute_dims(x: Any, /, axes: Sequence[int]) -> Any:
    return tf.transpose(x, perm=ints(axes))


def moveaxis(x: Any, source: Any, destination: Any, /) -> Any:
    ndim = x.shape.rank
    src = [s % ndim for s in (source if isinstance(source, tuple) else (source,))]
    dst = [d % ndim for d in (destination if isinstance(destination, tuple) else (destination,))]
    order = [n for n in range(ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return tf.transpose(x, perm=ints(order))


def stack(arrays: Sequence[Any], /, *, axis: int = 0) -> Any:
    return tf.stack(arrays, axis=axis)


def concat(arrays: Sequence[Any], /, *, axis: int = 0) -> Any:
    return tf.concat(arrays, axis=axis)


def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
    """``x[..., indices[...], ...]`` along ``axis``, as ``tf.gather`` with batch dimensions."""
    ndim = x.shape.rank
    axis = axis % ndim
    last = ndim - 1
    if axis != last:
        x, indices = moveaxis(x, axis, last), moveaxis(indices, axis, last)
    indices = _batched_like(x, indices)
    out = tf.raw_ops.GatherV2(params=x, indices=indices, axis=last, batch_dims=last)
    return moveaxis(out, last, axis) if axis != last else out


def _batched_like(x: Any, indices: Any) -> Any:
    """``indices`` broadcast to ``x``'s leading (batch) dimensions, as ``GatherV2`` takes them:
    as they are where the static shapes already agree, to a static shape where both are known
    (eagerly the runtime shapes' slicing and concatenation cost 140 us of a 160 us call on
    8 x 10), else to the runtime shape."""
    batch, given = x.shape[:-1], indices.shape
    if batch.is_fully_defined() and given.is_fully_defined():
        if batch == given[:-1]:
            return indices
        return tf.broadcast_to(indices, ints((*batch.as_list(), given[-1])))
    return tf.broadcast_to(indices, tf.concat([tf.shape(x)[:-1], tf.shape(indices)[-1:]], axis=0))


def argsort(
    x: Any, /, *, axis: int = -1, descending: builtins.bool = False, stable: builtins.bool = True
) -> Any:
    direction = "DESCENDING" if descending else "ASCENDING"
    indices = tf.argsort(x, axis=axis, direction=direction, stable=stable)
    return tf.cast(indices, tf.int64)


def sort(
    x: Any, /, *, axis: int = -1, descending: builtins.bool = False, stable: builtins.bool = True
) -> Any:
    return tf.sort(x, axis=axis, direction="DESCENDING" if descending else "ASCENDING")


def cumulative_sum(
    x: Any, /, *, axis: Any = None, dtype: Any = None, include_initial: builtins.bool = False
) -> Any:
    if dtype is not None:
        x = tf.cast(x, dtype)
    out = tf.math.cumsum(x, axis=0 if axis is None else axis)
    if include_initial:
        axis = 0 if axis is None else axis
        out = tf.concat([tf.zeros_like(tf.gather(out, [0], axis=axis)), out], axis=axis)
    return out


def arange(
    start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None
) -> Any:
    if stop is None:
        start, stop = 0, start
    return tf.range(start, stop, step, dtype=dtype or tf.int64)


def size(x: Any) -> Any:
    """Number of elements; ``None`` if a dimension is unknown (standard ``size`` semantics)."""
    shape = x.shape
    return None if builtins.any(d is None for d in shape) else math.prod(shape)
