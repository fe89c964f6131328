"""TensorFlow tensors, ``tf.Variable`` and symbolic tensors inside ``tf.function``.

They compute with :mod:`xloss.adapters._tensorflow_namespace`, an Array-API namespace over TF ops.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

from xloss.adapters import _kernel_table

NAME = "tensorflow"
HOST_VIEW = True  # np.asarray of a readable array is a view, no copy
# see _tensorflow_kernels: they upcast
TAKES_HALF = ("softmax", "log_softmax", "sparse", "categorical", "binary")


def owns(x: Any) -> bool:
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, (tf.Tensor, tf.Variable))


def namespace(x: Any) -> Any:
    from xloss.adapters import _tensorflow_namespace

    return _tensorflow_namespace


def ints(values: Sequence[Any]) -> Any:
    """A shape, permutation or tuple of axes as an op's input takes it. Eagerly, a cached
    constant: TensorFlow converts a Python list or tuple given as an op's input in 15-17 us a
    call (a ``tf.transpose`` of 1 x 8 took 25 us, 5 us with a constant); while tracing (or
    with an unknown size in it), the list, which the graph folds into a constant of its own."""
    if not isinstance(values, (tuple, list)):  # a tensor already
        return values
    values = tuple(values)
    if sys.modules["tensorflow"].executing_eagerly() and all(type(v) is int for v in values):
        return _int_constant(values)
    return list(values)


@functools.lru_cache(maxsize=256)
def _int_constant(values: tuple[int, ...]) -> Any:
    """In host memory, where TensorFlow keeps shapes and axes for every device's kernels."""
    tf = sys.modules["tensorflow"]
    wide = any(not -(2**31) <= v < 2**31 for v in values)
    with tf.device("CPU:0"):
        return tf.constant(values, dtype=tf.int64 if wide else tf.int32)


def device(x: Any) -> Any:
    return getattr(x, "device", None) or None


def to_array(x: Any) -> Any:
    """A ``tf.Variable``'s value as a tensor (read under any ``GradientTape`` watching it)."""
    tf = sys.modules["tensorflow"]
    return x if isinstance(x, tf.Tensor) else tf.convert_to_tensor(x)


def on_cpu(tf: Any, x: Any) -> bool:
    """Whether ``x`` is computed on the CPU: its device, or (a symbolic tensor, placed later)
    whether TensorFlow sees no GPU at all. Under ``tf.function`` this runs at trace time."""
    device = getattr(x, "device", "") or ""
    return "CPU" in device if device else not tf.config.list_logical_devices("GPU")


def readable(x: Any) -> Any:
    tf = sys.modules["tensorflow"]
    if not tf.executing_eagerly() or "CPU" not in (device(x) or "CPU"):
        return None
    return x


def host_rows(x: Any, index: tuple[slice, ...]) -> Any:
    """``x[index]`` as float32 NumPy, for the value checks on half precision: sliced and widened
    by NumPy on a view (bfloat16 as ml_dtypes'), 1.5 us, where a TF slice and cast take 70 us."""
    import numpy as np

    return _host(x)[index].astype(np.float32)


kernel = _kernel_table.hook("xloss.adapters._tensorflow_kernels")
"""The fused kernel for a computation (see `_tensorflow_kernels`), or ``None``."""


def top_k(x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any]:
    """``tf.math.top_k`` (stable on ties), on the values when they hold no NaN; with NaN (which
    it misplaces), on order-preserving integer keys. k = 1 on the CPU: ``tf.math.argmax``
    (`_first_best`). Any axis, by moving it last.

    Eager on the CPU the choices are made in Python on values read through NumPy (a few ops
    instead of ``tf.cond``s); traced, ``tf.cond`` makes them. Traced where a tape or a
    forward-mode accumulator may differentiate ``x`` (`watched`), they are made on ``x``
    behind ``tf.stop_gradient`` and the values are then gathered from ``x`` (`_gather_last`):
    TensorFlow cannot differentiate the ``tf.cond``s under every transformation (nested ones
    under a ``tf.autodiff.ForwardAccumulator`` inside ``tf.function`` fail with an
    AssertionError, and ``tf.vectorized_map`` cannot vectorise a ``tf.cond``'s gradient).
    """
    tf = sys.modules["tensorflow"]
    last = x.shape.rank - 1
    perm = [d for d in range(last + 1) if d != axis] + [axis]
    moved = tf.transpose(x, ints(perm)) if axis != last else x
    eager = readable(moved) is not None
    size = moved.shape.num_elements()  # None while tracing with unknown dimensions
    first = k == 1 and size is not None and size >= FIRST_BEST_FROM
    first = first and (eager or on_cpu(tf, moved))
    differentiated = not eager and watched(moved)
    held = tf.stop_gradient(moved) if differentiated else moved  # what the choices see

    def select(key: Any) -> Any:
        return _native_top_k(tf, key, k)[1]

    def gathered(indices: Any) -> tuple[Any, Any]:
        return tf.gather(held, indices, axis=last, batch_dims=last), indices

    def first_or(fallback: Any) -> tuple[Any, Any]:
        """k = 1 by `_first_best`, or ``fallback()`` if a row's best is at the dtype's extreme."""
        values, indices = _first_best(tf, held, largest)
        if eager:
            extreme = _at_extreme(_host(values), x.dtype, largest).any()
            return fallback() if extreme else (values, indices)
        extreme = tf.reduce_any(_at_extreme(values, x.dtype, largest))
        return tf.cond(extreme, fallback, lambda: (values, indices))

    if not x.dtype.is_floating:

        def by_op() -> tuple[Any, Any]:
            return gathered(select(held if largest else tf.bitwise.invert(held)))

        values, indices = first_or(by_op) if first else by_op()
    else:
        signed = held if largest else -held

        def exact() -> tuple[Any, Any]:
            key = _sortable_key(tf, held)
            return gathered(select(key if largest else tf.bitwise.invert(key)))

        # tf.math.top_k is stable but may order -0.0 and 0.0 apart: that matters only when a
        # zero is among the K best (zeros tie with nothing else), and only then are the zeros
        # made one. Otherwise the op's values are the entries (negated back for the smallest:
        # exactly), with no gather (5% of a top_k at k = 50 on 2048 x 8192).
        def without_zeros() -> tuple[Any, Any]:
            return gathered(select(tf.where(signed == 0, tf.zeros_like(signed), signed)))

        def by_value(best: Any, indices: Any) -> tuple[Any, Any]:
            return (best if largest else -best), indices

        if eager:

            def by_op() -> tuple[Any, Any]:
                best, indices = _native_top_k(tf, signed, k)
                zero = (_host(best) == 0).any()
                return without_zeros() if zero else by_value(best, indices)

            if _holds_nan(tf, held):
                values, indices = exact()
            else:
                values, indices = first_or(by_op) if first else by_op()
        else:

            def by_op() -> tuple[Any, Any]:
                best, fast = _native_top_k(tf, signed, k)
                zero = tf.reduce_any(best == 0)
                return tf.cond(zero, without_zeros, lambda: by_value(best, fast))

            def no_nan() -> tuple[Any, Any]:
                return first_or(by_op) if first else by_op()

            # A NaN anywhere makes the sum NaN: one reduction, no boolean temporary (inf - inf
            # also gives NaN: the exact path then runs needlessly, still exactly).
            values, indices = tf.cond(tf.math.is_nan(tf.reduce_sum(held)), exact, no_nan)
    if differentiated:
        values = _gather_last(tf, moved, indices)
    if axis != last:
        back = ints([perm.index(d) for d in range(last + 1)])
        values, indices = tf.transpose(values, back), tf.transpose(indices, back)
    return values, indices


def watched(x: Any, *, forward: bool = False) -> bool:
    """Whether a tape or a forward-mode accumulator (with ``forward``: an accumulator) may
    differentiate ``x`` through the ops run or traced next, eagerly or while tracing:
    TensorFlow's count of the derivative orders they may take of it (a private check, 1 us;
    where it is missing, always). An accumulator may when the count is 2, or 1 with no tape
    watching ``x``."""
    tfe = sys.modules.get("tensorflow.python.pywrap_tfe")
    if tfe is None or not hasattr(tfe, "TFE_Py_TapeSetPossibleGradientTypes"):
        return True
    orders = tfe.TFE_Py_TapeSetPossibleGradientTypes([x])
    if not forward:
        return orders > 0
    return orders > 1 or (orders == 1 and not tfe.TFE_Py_TapeSetShouldRecordBackprop([x]))


def _gather_last(tf: Any, x: Any, indices: Any) -> Any:
    """``x``'s entries at ``indices`` along its last axis, by one ``tf.gather_nd`` of the
    flattened ``x``: its gradient is one ``ScatterNd``, as ``tf.math.top_k``'s is, where a
    batched ``tf.gather``'s is an ``UnsortedSegmentSum``, slower on the CPU (2048 x 8192 at
    k = 50: 80 ms against 30). One row is gathered as a batch of one: its indices as a matrix
    would make the gradient ``IndexedSlices``, which forward mode under ``tf.vectorized_map``
    cannot take."""
    if x.shape.rank == 1:
        return tf.gather_nd(x, indices[None, :, None])[0]
    shape = tf.shape(x, out_type=indices.dtype)
    starts = tf.range(tf.reduce_prod(shape[:-1]), dtype=indices.dtype) * shape[-1]
    indices = indices + tf.reshape(starts, tf.concat([tf.shape(indices)[:-1], [1]], 0))
    return tf.gather_nd(tf.reshape(x, [-1]), tf.expand_dims(indices, -1))


FIRST_BEST_FROM = 1 << 23
"""Inputs of at least this many entries (of a size known when traced) take `_first_best` at
k = 1; smaller ones ``tf.math.top_k``. Measured, xloss / ``tf.math.top_k`` eager, with
``tf.math.top_k`` inside against with ``argmax``: 8 x 10 2.7x against 6.6x (one op against
three), 1024 x 4096 0.92x against 1.05x, 2048 x 8192 1.19x against 0.67-0.89x."""


def _first_best(tf: Any, x: Any, largest: bool) -> tuple[Any, Any]:
    """The best entry of each row (last axis) by ``tf.math.argmax``/``argmin``: on the CPU
    Eigen's reducers return the first occurrence of the best value (documented there; -0.0 ties
    with 0.0), and take a third of ``tf.math.top_k``'s time on large inputs (2048 x 8192
    float32: 2.4-3.5 ms against 7.6-9.3 ms). They start from the dtype's lowest value
    (highest for argmin) at index 0, so a row whose best is that value (or an infinity past
    it) can report index 0 wrongly: callers check `_at_extreme`. NaN is not ordered: callers
    exclude it first."""
    last = x.shape.rank - 1
    pick = tf.math.argmax if largest else tf.math.argmin
    indices = tf.expand_dims(pick(x, axis=last), last)
    return tf.gather(x, indices, axis=last, batch_dims=last), indices


def _at_extreme(values: Any, dtype: Any, largest: bool) -> Any:
    """Where best ``values`` (NumPy or TF) are at ``dtype``'s lowest or past it (highest, for
    the smallest): there `_first_best` cannot be trusted."""
    return values <= dtype.min if largest else values >= dtype.max


def _native_top_k(tf: Any, key: Any, k: int) -> tuple[Any, Any]:
    """``tf.math.top_k``'s op with its indices cast to int64, as raw ops (the same ops and
    gradients without the Python of ``tf.math.top_k`` and ``tf.cast``: 8 x 10, 36 us -> 30 us
    a call). Not ``index_type=tf.int64``: the op's registered gradient adds int32 offsets to
    the indices, and fails on int64 ones."""
    raw = tf.raw_ops
    values, indices = raw.TopKV2(input=key, k=k)
    return values, raw.Cast(x=indices, DstT=tf.int64)


HOST_NAN_CHECK = 1 << 16
"""Up to this many entries NumPy looks for NaN in a readable tensor faster than a TensorFlow
op's call; above, one TF reduction (two threads) does."""


def _holds_nan(tf: Any, x: Any) -> bool:
    """Whether the readable ``x`` holds a NaN (above `HOST_NAN_CHECK` entries, also when its sum
    is ``inf - inf``: the exact path then runs needlessly, still exactly)."""
    if x.shape.num_elements() <= HOST_NAN_CHECK:
        import numpy as np

        return bool(np.isnan(_host(x)).any())
    return bool(tf.math.is_nan(tf.reduce_sum(x)))


def _host(x: Any) -> Any:
    """A readable tensor's values as NumPy: a view on the CPU (bfloat16 as ml_dtypes').

    Through ``__array__``, the view ``np.asarray`` ends at: it first tries the buffer protocol,
    which has no bfloat16, then attributes that go through the tensor's Python ``__getattr__``
    (for bfloat16, 2.8 us against 0.5)."""
    return x.__array__()


def _sortable_key(tf: Any, x: Any) -> Any:
    """Integers ordered like ``x``'s values: NaN above +inf (all NaNs equal), -0.0 == 0.0."""
    if not x.dtype.is_floating:
        return x
    int_type = {2: tf.int16, 4: tf.int32, 8: tf.int64}[x.dtype.size]
    top = tf.constant(int_type.max, int_type)
    # -0.0 becomes 0.0 (not with x + 0: compilers fold that away)
    bits = tf.bitcast(tf.where(x == 0, tf.zeros_like(x), x), int_type)
    key = tf.where(bits < 0, tf.bitwise.bitwise_xor(bits, top), bits)
    return tf.where(tf.math.is_nan(x), top, key)


def check_rng(rng: Any, like: Any) -> None:
    """``rng`` (not an int seed) must be a ``tf.random.Generator``."""
    tf = sys.modules["tensorflow"]
    if not isinstance(rng, tf.random.Generator):
        raise TypeError(
            f"`rng` must be an int seed or a tf.random.Generator for TensorFlow logits; "
            f"received {type(rng).__module__}.{type(rng).__qualname__}."
        )


def random_uniform(rng: Any, shape: tuple[Any, ...], dtype: Any, like: Any) -> Any:
    """Uniforms from the random bits of the given ``tf.random.Generator`` (it advances), or for
    an int seed the bits ``tf.random.stateless_uniform(shape, seed=(seed, 0), minval=None,
    maxval=None, dtype=tf.uint64, alg="philox")`` draws, in its raw ops: no ``tf.Variable``, so
    it works inside ``tf.function``. (Not ``tf.random.Generator.from_seed(seed)``'s: it puts the
    seed in Philox's counter, so that seed ``s + 1`` draws the stream of ``s`` two 64-bit words
    on, four float32 uniforms: rows of four logits were drawn as the previous seed's next row.)

    ``None`` entries of ``shape`` (unknown while tracing) are ``like``'s runtime sizes at the
    same position counted from the end.
    """
    import contextlib

    tf = sys.modules["tensorflow"]
    if any(d is None for d in shape):
        runtime, offset = tf.shape(like), len(shape) - like.shape.rank
        shape = tf.stack([runtime[i - offset] if d is None else d for i, d in enumerate(shape)])
    where = device(like)
    with tf.device(where) if where else contextlib.nullcontext():
        if not isinstance(rng, int):
            bits = rng.uniform_full_int(shape, dtype=tf.uint64)
        else:
            key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(
                seed=tf.constant([rng, 0], tf.int64)
            )  # the seed scrambled into Philox's key and counter
            bits = tf.raw_ops.StatelessRandomUniformFullIntV2(
                shape=shape, key=key, counter=counter, alg=1, dtype=tf.uint64
            )
        # 53 random bits (`xloss.adapters`): TensorFlow's own float64 uniforms have none below
        # 2**-24 (measured: 0 of 24 expected in 4e8 draws), as few as its float32 ones.
        top = tf.raw_ops.RightShift(x=bits, y=tf.constant(11, tf.uint64))
        u = tf.raw_ops.Cast(x=top, DstT=tf.float64) * 2.0**-53
        return u if dtype == tf.float64 else tf.raw_ops.Cast(x=u, DstT=dtype)
