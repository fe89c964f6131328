"""TensorFlow's fused kernels, used where they give the generic body's answer.

``tf.nn.softmax``/``log_softmax``, ``tf.reduce_logsumexp`` and ``tf.math.softplus`` (whose
registered gradient is ``sigmoid(x)``: exact at 0, unlike a ``max``/``abs`` formulation). Each
kernel takes the generic body's arguments and returns its result, or ``None`` to decline.

Some call ``tf.raw_ops`` directly: the same ops (and registered gradients) as the ``tf.nn`` and
``tf.math`` functions, without those functions' Python, which eagerly costs 1-20 us a call
(on 8 x 10: ``tf.gather`` 18 us against 7 us for ``GatherV2``, ``tf.clip_by_value`` 19 us
against 10 us for ``Maximum`` and ``Minimum``, ``tf.nn.sparse_softmax_cross_entropy_with_logits``
27 us against 7 us). Scalars are passed as Python numbers after a tensor operand, whose dtype
the op's type attribute then takes (traced too; first, a Python float would make it float32):
``tf.constant`` costs 2 us an eager call, the conversion 0.2 us.

Large inputs on the CPU of the categorical and binary losses and the sparse loss from
probabilities (eager, or traced where no tape may differentiate them), and of ``softmax`` and
``log_softmax`` where half precision is upcast (eager), take the generic body compiled by XLA
(`XLA_FROM`), its reductions read apart (`_reductions_apart`): one fused program where eager
ops make one pass, and one fresh logits-sized array, each. Where the CPU allocator
gives each array fresh pages, the row-wise reductions that write a logits-sized temporary, and
the upcast ``softmax`` and ``log_softmax``, run by slices of rows (`_by_row_slices`).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

from xloss.adapters.tensorflow import ints, on_cpu, watched

from xloss._losses import EPSILON
from xloss._validation import to_compute


def _softmax(x: Any, *, axis: int, generic: Any, xp: Any, **_: Any) -> Any:
    """Takes bfloat16 as is on the CPUs where TensorFlow's kernel computes it in float32 and
    rounds once, bit for bit what upcasting first gives (checked, -inf masks included), without
    two conversion passes (`_bfloat16_softmax_rounds_once`). Its float16 path rounds
    differently, so float16 is upcast (`_upcast`).

    Its registered gradient, though, computes in bfloat16 (each product and the row sum
    rounded: 5% off the float32 gradient in a test): where a gradient may be taken, the
    bfloat16 op takes `_bfloat16_softmax`'s float32 gradient instead. A forward-mode
    accumulator does not use that gradient (it differentiates the bfloat16 op: 12-33% off
    the float32 JVP, rounded, where the tangent has a large common part): where one may
    watch ``x`` (`watched`), bfloat16 is upcast."""
    tf = sys.modules["tensorflow"]
    upcast = x.dtype == tf.bfloat16 and (
        not on_cpu(tf, x) or watched(x, forward=True) or not _bfloat16_softmax_rounds_once()
    )
    if x.dtype == tf.float16 or upcast:
        return _upcast(tf, x, axis, generic, xp, _native_softmax)
    if x.dtype == tf.bfloat16 and _may_record(tf):
        return _bfloat16_softmax(axis)(x)
    return _native_softmax(tf, x, axis)


@functools.cache
def _bfloat16_softmax_rounds_once() -> bool:
    """Whether this CPU's bfloat16 ``Softmax`` kernel gives the float32 softmax rounded once,
    asked once per process on rows of logits from 0.01 to 30 in scale. It depends on the CPU:
    it did on the machines of most of this project's measurements; on an AMD EPYC with AVX2
    (no AVX-512) it rounds along the way, and 84% of the entries of a 256 x 1000 test were an
    ulp or more off."""
    import numpy as np

    tf = sys.modules["tensorflow"]
    scale = np.array([0.01, 1.0, 3.0, 30.0], np.float32)[:, None]
    probe = np.sin(np.arange(4 * 1000, dtype=np.float32)).reshape(4, 1000) * scale
    with tf.init_scope(), tf.device("/CPU:0"):
        half = tf.constant(probe, tf.bfloat16)
        kernel = tf.raw_ops.Softmax(logits=half)
        wide = tf.raw_ops.Softmax(logits=tf.cast(half, tf.float32))
        return bool(tf.reduce_all(kernel == tf.cast(wide, tf.bfloat16)))


def _native_softmax(tf: Any, x: Any, axis: int) -> Any:
    if axis == x.shape.rank - 1:  # what tf.nn.softmax calls for the last axis
        return tf.raw_ops.Softmax(logits=x)
    return tf.nn.softmax(x, axis=axis)


def _may_record(tf: Any) -> bool:
    """Whether a gradient of this op could be taken: while tracing (a tape may wrap the
    function), or eagerly while a tape is active. ``tf.custom_gradient`` costs 77 us an eager
    call (8 x 10), TensorFlow's own check of its tapes 0.1 us; where that private check is
    missing, always."""
    if not tf.executing_eagerly():
        return True
    record = sys.modules.get("tensorflow.python.eager.record")
    return record is None or record.could_possibly_record()


@functools.cache
def _bfloat16_softmax(axis: int) -> Callable[[Any], Any]:
    """TensorFlow's bfloat16 softmax, with the gradient of the float32 softmax of the widened
    input, rounded once: ``(g - sum(g s)) s`` in float32."""
    tf = sys.modules["tensorflow"]

    @tf.custom_gradient
    def softmax(x: Any) -> Any:
        def gradient(g: Any) -> Any:
            s = _native_softmax(tf, tf.cast(x, tf.float32), axis)
            g = tf.cast(g, tf.float32)
            return tf.cast((g - tf.reduce_sum(g * s, axis, keepdims=True)) * s, x.dtype)

        return _native_softmax(tf, x, axis), gradient

    return softmax


def _log_softmax(x: Any, *, axis: int, generic: Any, xp: Any, **_: Any) -> Any:
    """Half precision upcast (`_upcast`): TensorFlow's bfloat16 ``LogSoftmax`` is not the
    float32 result rounded (up to 0.06 apart)."""
    tf = sys.modules["tensorflow"]
    if x.dtype in (tf.float16, tf.bfloat16):
        return _upcast(tf, x, axis, generic, xp, _native_log_softmax)
    return _native_log_softmax(tf, x, axis)


def _native_log_softmax(tf: Any, x: Any, axis: int) -> Any:
    if axis == x.shape.rank - 1:  # what tf.nn.log_softmax calls for the last axis
        return tf.raw_ops.LogSoftmax(logits=x)
    return tf.nn.log_softmax(x, axis=axis)


def _upcast(
    tf: Any, x: Any, axis: int, generic: Any, xp: Any, native: Callable[[Any, Any, int], Any]
) -> Any:
    """A half-precision ``softmax``/``log_softmax`` computed in float32. Along the last axis
    of a static shape, where each array is fresh memory (`_in_slices`), by slices of rows
    (`_upcast_by_slices`; eager calls in a graph, `_sliced_graph`). Otherwise on large eager
    CPU inputs (`_by_xla`) the generic body compiled by XLA with both conversions, its result
    rounded to ``x``'s dtype inside the program (one program and one fresh array, where the
    eager ``Cast``, kernel and ``Cast`` back write three); otherwise ``x`` converted and
    ``native``'s float32 result, which the caller rounds. Traced calls are not compiled by
    XLA: inside the caller's graph, bfloat16 ``log_softmax`` on 2048 x 8192 measured 1.51x
    against 1.53x the native (no gain), and an activation may end up in a served model's
    graph."""
    if axis == x.shape.rank - 1 and x.shape.rank > 1 and _in_slices(tf, x, _width(x)):
        if tf.executing_eagerly():
            graph, shapes = _sliced_graph(native)
            if _worth_compiling((tuple(x.shape), x.dtype), shapes):
                return graph(x)
        return _upcast_by_slices(tf, x, native)
    options = {"axis": axis, "dtype": x.dtype}
    rounded = _by_xla_or_none(_rounded(generic), xp, options, x, traced=False)
    return rounded if rounded is not None else native(tf, to_compute(xp, x), axis)


def _upcast_by_slices(tf: Any, x: Any, native: Callable[[Any, Any, int], Any]) -> Any:
    """``native``'s float32 result rounded to ``x``'s dtype, each slice of rows converted,
    computed and rounded apart (`_by_row_slices`): no logits-sized float32 array in fresh
    memory, where the whole-input ops write two (traced, 2048 x 8192 bfloat16 on an AVX2 CPU,
    against TensorFlow's bfloat16 kernel: ``softmax`` 1.57x -> 0.91x, ``log_softmax`` 1.68x ->
    0.98x). Each entry is the float32 kernel's, rounded, bit for bit."""
    raw = tf.raw_ops

    def rounded(part: Any) -> Any:
        return raw.Cast(x=native(tf, raw.Cast(x=part, DstT=tf.float32), 1), DstT=x.dtype)

    rows = raw.Reshape(tensor=x, shape=ints((-1, x.shape[-1])))
    return raw.Reshape(tensor=_by_row_slices(tf, rows, rounded, _width(x)), shape=ints(x.shape))


@functools.cache
def _sliced_graph(native: Callable[[Any, Any, int], Any]) -> tuple[Any, set[Any]]:
    """`_upcast_by_slices` of ``native`` as a ``tf.function`` (traced once per shape, at most
    `XLA_SHAPES`), for eager calls, with the set of shapes it was run on (`_worth_compiling`):
    TensorFlow's executor runs the slices' ops without a Python dispatch each and overlaps
    them. 2048 x 8192 bfloat16 on an AVX2 CPU, against TensorFlow's bfloat16 kernel: ``softmax``
    1.46x (XLA's program) -> 1.16x (eager slices) -> 0.98x, ``log_softmax`` 1.39x -> 1.18x ->
    1.02x."""
    tf = sys.modules["tensorflow"]

    def sliced(x: Any) -> Any:
        return _upcast_by_slices(tf, x, native)

    return tf.function(sliced, autograph=False), set()


@functools.cache
def _rounded(generic: Callable[..., Any]) -> Callable[..., Any]:
    """``generic(xp, x, **options)`` rounded to ``dtype``."""

    def body(xp: Any, x: Any, *, dtype: Any, **options: Any) -> Any:
        return xp.astype(generic(xp, x, **options), dtype)

    return body


def _logsumexp(x: Any, *, axis: int, keepdims: bool, **_: Any) -> Any:
    return sys.modules["tensorflow"].reduce_logsumexp(x, axis=axis, keepdims=keepdims)


XLA_FROM = 1 << 16
"""CPU inputs of at least this many entries run the categorical and binary losses and the
sparse loss from probabilities (eager, or traced where no tape may differentiate them:
`_by_xla`), and eager half-precision
``softmax``/``log_softmax`` where upcast (`_upcast`), as the generic body compiled by XLA
(``tf.function(jit_compile=True)``, once per shape and dtype, as JAX's eager calls are):
the conversion of half precision, the elementwise steps and the row reductions fuse into one
pass. Measured against the eager ops, compiled / eager: 2048 x 8192 categorical from
probabilities 0.39x (bfloat16 0.34x), binary from probabilities 0.24x (0.14x); 64 x 1024 the
categorical loss from probabilities 0.93x, from logits 0.52x, the binary loss 0.60x; 32 x 256
1.55x, 0.97x and 0.96x. The losses agree to 4e-7 relative. A new shape costs a compilation
(70 ms on 2048 x 8192; the first call of a body 400 ms). Traced, against the graph's ops
(2048 x 8192 in ``tf.function``, the AVX2 machine): binary from probabilities 1.11x -> 0.34x
the native (bfloat16 1.91x -> 0.65x), from logits 0.96x -> 0.39x (1.89x -> 1.02x),
categorical from probabilities 0.95x -> 0.83x (1.72x -> 1.59x; with the reductions read
apart, 0.21-0.24x and 0.77-0.79x). The sparse loss from probabilities, compiled against its
eager kernel, xloss / native: 64 x 1024 1.27x -> 1.00x, 2048 x 8192 1.05x -> 1.01x
(bfloat16 1.27x -> 1.21x and 4.55x -> 0.88x)."""

XLA_SHAPES = 32
"""The most shapes compiled per body, options and ranks (XLA keeps each program, about 0.4
MiB): a stream of inputs of ever new lengths compiled at every call, 100 ms a call, and grew
without bound (600 shapes: 220 MiB). Past this many, new shapes run the eager kernels (the same
numbers to rounding). A shape takes one path for all its calls, so that calls repeated give
the same bits (compiling from a shape's second call gave its first call the eager kernels'
rounding)."""


def _by_xla(tf: Any, arrays: tuple[Any, ...], traced: bool) -> bool:
    """Whether `XLA_FROM` sends this call (``arrays[-1]`` the floating input, of a size known
    when traced) to the compiled generic body: eager calls on the CPU, and with ``traced``
    calls traced for the CPU where no tape or forward-mode accumulator may differentiate any
    of ``arrays`` (`watched`): the compiled body is then a function call in the caller's
    graph, which XLA compiles when the graph first runs."""
    x = arrays[-1]
    size = x.shape.num_elements()
    if size is None or size < XLA_FROM or not on_cpu(tf, x):
        return False
    if tf.executing_eagerly():
        return True
    return traced and not any(watched(a) for a in arrays if a is not None)


def _worth_compiling(key: tuple[Any, ...], compiled: set[Any]) -> bool:
    """Whether to run the compiled body for ``key``'s shapes: already compiled, or fewer than
    `XLA_SHAPES` compiled so far (then it is compiled now)."""
    if key in compiled:
        return True
    if len(compiled) >= XLA_SHAPES:
        return False
    compiled.add(key)
    return True


@functools.cache
def _compiled(
    generic: Callable[..., Any],
    xp: Any,
    options: tuple[tuple[str, Any], ...],
    apart: bool,
    ranks: tuple[int | None, ...],
) -> tuple[Any, set[Any]]:
    """``generic(xp, *arrays, **options)`` upcast and compiled by XLA, with ``apart`` its
    reductions read apart (`_reductions_apart`), one function per body, static options,
    ``apart`` and the arrays' ``ranks`` (``reduce_retracing`` generalises the shapes after a
    few, and shapes of two ranks to an unknown rank, along which no gather can be placed),
    with the set of shapes it was run on (`_worth_compiling`)."""
    tf = sys.modules["tensorflow"]
    static = dict(options)
    ns = _reductions_apart(xp) if apart else xp

    def body(*arrays: Any) -> Any:
        return generic(ns, *arrays[:-1], to_compute(ns, arrays[-1]), **static)

    return tf.function(body, jit_compile=True, reduce_retracing=True), set()


class _Namespace:
    """``xp`` with some of its functions replaced (``replaced``, by name)."""

    def __init__(self, xp: Any, replaced: dict[str, Callable[..., Any]]) -> None:
        self.__dict__.update(replaced)
        self._xp = xp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._xp, name)


@functools.cache
def _reductions_apart(xp: Any) -> Any:
    """``xp`` whose reductions (``sum``, ``mean``, ``max``, ``min``) read their operand, in the
    dtype they reduce in, through XLA's ``OptimizationBarrier`` (differentiated as the
    identity), for the bodies compiled by XLA. TensorFlow's XLA CPU compiler writes a row
    reduction that its YNNPACK fusion does not take (its operand a conversion of half precision,
    or a select, as the clip's) as a ``reduce-window`` of 32 entries over a written logits-sized
    operand, then a reduction of the windows; a reduction whose operand comes through a barrier
    is left one loop, its operand's operations fused into it (XLA removes the barriers after its
    simplification passes). 2048 x 8192 on an AVX2 CPU: the float32 sum of bfloat16 41 ms -> 2.2
    ms (TensorFlow's own bfloat16 sum: 1.9 ms); the compiled categorical loss from probabilities
    50.5 -> 13.4 ms (float32, the same bits) and 54.4 -> 12.0 ms (bfloat16), from logits 56 ->
    49 ms; the binary losses, ``softmax`` and ``log_softmax`` within 8%."""

    tf = sys.modules["tensorflow"]
    from tensorflow.compiler.tf2xla.python import xla

    @tf.custom_gradient  # the op has no registered gradient: the identity's, reverse and forward
    def barrier(x: Any) -> Any:
        return xla.optimization_barrier(x)[0], lambda upstream: upstream

    def apart(reduce: Callable[..., Any]) -> Callable[..., Any]:
        def run(x: Any, /, *, dtype: Any = None, **options: Any) -> Any:
            if dtype is not None:  # converted before the barrier, or it reads half precision
                x = xp.astype(x, dtype)
            return reduce(barrier(x), **options)

        return run

    return _Namespace(
        xp, {name: apart(getattr(xp, name)) for name in ("sum", "mean", "max", "min")}
    )


def _or_xla(kernel: Callable[..., Any]) -> Callable[..., Any]:
    """``kernel`` (a loss's, with targets and predictions), but large CPU calls (`_by_xla`:
    eager, or traced where no tape may differentiate them) run the generic body compiled by
    XLA."""

    def run(
        targets: Any,
        x: Any,
        *,
        axis: int,
        from_logits: bool,
        label_smoothing: float,
        generic: Callable[..., Any],
        xp: Any,
        **rest: Any,
    ) -> Any:
        options = {"axis": axis, "from_logits": from_logits, "label_smoothing": label_smoothing}
        compiled = _by_xla_or_none(generic, xp, options, targets, x)
        return compiled if compiled is not None else kernel(targets, x, xp=xp, **options, **rest)

    run.__doc__ = kernel.__doc__
    return run


def _by_xla_or_none(
    generic: Callable[..., Any],
    xp: Any,
    options: dict[str, Any],
    *arrays: Any,
    traced: bool = True,
    apart_watched: bool = False,
) -> Any | None:
    """``generic(xp, *arrays, **options)`` compiled by XLA (``arrays[-1]`` the floating
    input; ``None`` entries pass as they are), or ``None`` where `_by_xla` (told whether
    ``traced`` calls may take it) or `_worth_compiling` declines. Its reductions are read
    apart (`_reductions_apart`) where no tape or forward-mode accumulator may differentiate
    the arrays, and with ``apart_watched`` where one may too: under a tape, the apart program
    of the categorical loss from logits and its gradient took 1.42-1.49x the native's time
    against 1.23x (float32; bfloat16 1.23-1.27x against 1.03x), where the sparse loss's from
    probabilities took 0.47-0.49x against its eager kernel's 0.98-1.50x (2048 x 8192)."""
    if not _by_xla(sys.modules["tensorflow"], arrays, traced):
        return None
    apart = apart_watched or not any(watched(a) for a in arrays if a is not None)
    static = tuple(options.items())
    ranks = tuple(None if a is None else a.shape.rank for a in arrays)
    compiled, shapes = _compiled(generic, xp, static, apart, ranks)
    key = (generic, static, *(None if a is None else (tuple(a.shape), a.dtype) for a in arrays))
    return compiled(*arrays) if _worth_compiling(key, shapes) else None


def _elementwise(*arrays: Any, generic: Any, xp: Any, total: bool = False, **_: Any) -> Any:
    """The compat profiles' elementwise binary losses (``arrays[-1]`` the logits: see
    `xloss.compat._common.logistic`, `xloss.compat.optax.sigmoid_binary_cross_entropy`,
    `xloss.compat.tensorflow.sigmoid_cross_entropy_with_logits`): large CPU calls (`_by_xla`)
    compiled by XLA, one fused pass where the eager body makes up to a dozen, else ``None``.
    ``total`` is summed eagerly, as the generic body sums: XLA's CPU sum of 2M float32 losses
    was 2e-5 off (relative; the eager sum 5e-8)."""
    loss = _by_xla_or_none(generic, xp, {}, *arrays)
    return xp.sum(loss) if loss is not None and total else loss


def _binary(
    z: Any, x: Any, *, axis: int, from_logits: bool, label_smoothing: float, xp: Any, **_: Any
) -> tuple[Any, None] | None:
    """From logits, ``mean((max(x, 0) - x z) + log1p(exp(-|x|)))``: the generic body's order
    (`xloss._activations.binary_logits_xp`), exact where ``x z`` cancels ``max(x, 0)``
    (``softplus(x) - x z`` gives 0 at ``x = 17``, ``z = 1``, where the loss is 4.1e-8)."""
    if not from_logits or label_smoothing:
        return None
    tf = sys.modules["tensorflow"]
    x = to_compute(xp, x)
    # -|x| by a select, as the generic body builds it, and Relu (whose gradient at 0 is 0,
    # the select's): the derivative is sigmoid(x) - z at 0 too. log1p(exp(-|x|)) in two ops:
    # TensorFlow's Softplus op is slower on the CPU (2048 x 8192 in tf.function: 1.24x
    # tf.nn.sigmoid_cross_entropy_with_logits, against 1.04x).
    small = tf.math.log1p(tf.math.exp(tf.where(x > 0, -x, x)))
    return tf.reduce_mean((tf.nn.relu(x) - x * z) + small, axis=axis), None


SMALL = 1 << 16
"""Below this many logits ``tf.nn.sparse_softmax_cross_entropy_with_logits`` (one op) beats
the gather form on call overhead; above, the gather form wins (the native op also computes
and writes the gradient, a second logits-sized array), unless a tape may take that gradient:
then the native op's is the cheap one (the gather form's backward is a reduction's mask and a
scatter of the gather's slices; 2048 x 8192 float32, the loss and its gradient under a
``GradientTape``: 2.84x -> 1.0x the native's time, 2.44x -> 1.0x inside ``tf.function``)."""


def _sparse(
    labels: Any,
    x: Any,
    *,
    axis: int,
    from_logits: bool,
    ignore_class: int | None,
    checked: bool,
    generic: Callable[..., Any],
    xp: Any,
    **_: Any,
) -> tuple[Any, Any] | None:
    """From logits ``lse(x - m) - (x - m)[label]`` with one batched ``tf.gather`` (large
    inputs by slices where fresh memory costs: `_sparse_by_slices`), from probabilities
    the generic body compiled by XLA where `_by_xla` takes it (its row total of half precision
    is one reduction loop over the input, where the eager ops convert it first), else
    `_sparse_probabilities`; class axis last. Labels not checked (traced) are gathered where
    in range and give nan elsewhere, as in the generic body.

    Takes ``x`` in the caller's dtype and upcasts it after reading its shape, which the
    validation has made the tensor cache (a new tensor builds its ``TensorShape`` in Python,
    1-2 us)."""
    tf = sys.modules["tensorflow"]
    if not from_logits:
        options = {"axis": axis, "from_logits": False, "ignore_class": ignore_class}
        compiled = _by_xla_or_none(generic, xp, options, labels, x, apart_watched=True)
        if compiled is not None:
            return compiled
    shape = x.shape
    last = shape.rank - 1
    if axis != last:
        return None
    valid = None if ignore_class is None else tf.not_equal(labels, ignore_class)
    small = sliced = False
    if from_logits:
        size = shape.num_elements()
        small = (size is not None and size <= SMALL) or watched(x)
        sliced = not small and _in_slices(tf, x, _width(x))
        if not sliced:  # by slices, half precision is converted slice by slice
            x = to_compute(xp, x)
        if checked and valid is None and small:
            return _native_sparse(tf, labels, x, last), None
    if checked:  # in range, or ignored
        index = labels if valid is None else tf.raw_ops.SelectV2(condition=valid, t=labels, e=0)
    else:
        num_classes = shape[-1]
        if num_classes is None:  # unknown while tracing (a static size needs no slicing op)
            num_classes = tf.shape(x, out_type=labels.dtype)[-1]
        in_range = tf.logical_and(labels >= 0, labels < num_classes)
        index = tf.where(in_range, labels, tf.zeros_like(labels))
    if not from_logits:
        loss = _sparse_probabilities(tf, index, x, last, xp)
    elif small:  # the native op raises on a label outside [0, C): it gets 0 there
        loss = _native_sparse(tf, index, x, last)
    elif sliced:
        loss = _sparse_by_slices(tf, index, x, last, xp)
    else:
        shifted = x - tf.reduce_max(x, axis=-1, keepdims=True)
        lse = tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=-1))
        loss = lse - tf.gather(shifted, index, axis=last, batch_dims=last)
    if not checked:  # a label outside [0, C) gives nan, as in the generic body
        wrong = tf.logical_not(in_range) if valid is None else ~in_range & valid
        loss = tf.where(wrong, tf.constant(float("nan"), loss.dtype), loss)
    if valid is not None:
        loss = tf.where(valid, loss, tf.zeros_like(loss))
    return loss, valid


def _sparse_by_slices(tf: Any, index: Any, x: Any, last: int, xp: Any) -> Any:
    """``lse(x - m) - (x[label] - m)``, the maximum ``m`` and the sum of exponentials by slices
    of rows (`_by_row_slices`; half precision converted per slice), the labels' logits
    gathered from ``x``: the whole-input form writes two fresh logits-sized arrays (2048 x 8192
    float32 on an AVX2 CPU: 0.88x ``tf.nn.sparse_softmax_cross_entropy_with_logits`` eagerly,
    0.28-0.38x by slices)."""
    raw = tf.raw_ops

    def reduce(part: Any) -> Any:
        part = to_compute(xp, part)
        top = raw.Max(input=part, axis=-1, keep_dims=True)
        total = raw.Sum(input=raw.Exp(x=raw.Sub(x=part, y=top)), axis=-1, keep_dims=True)
        return raw.ConcatV2(values=[raw.Log(x=total), top], axis=-1)

    rows = raw.Reshape(tensor=x, shape=ints((-1, x.shape[-1])))
    lse, top = raw.Unpack(value=_by_row_slices(tf, rows, reduce, _width(x)), num=2, axis=1)
    picked = to_compute(xp, raw.GatherV2(params=x, indices=index, axis=last, batch_dims=last))
    shape = ints(x.shape[:-1])
    return raw.Sub(
        x=raw.Reshape(tensor=lse, shape=shape), y=picked - raw.Reshape(tensor=top, shape=shape)
    )


def _width(x: Any) -> int:
    """The bytes an entry of ``x`` takes in its compute dtype (float32, or float64)."""
    return max(x.dtype.size, 4)


def _native_sparse(tf: Any, labels: Any, x: Any, last: int) -> Any:
    """The native op's loss: raw for 2-D logits on the CPU (what the ``tf.nn`` function calls
    there; on a GPU with op determinism on, it computes another way), ``tf.nn`` otherwise."""
    if last == 1 and on_cpu(tf, x):
        return tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(features=x, labels=labels)[0]
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, x)


def _sparse_probabilities(tf: Any, index: Any, p: Any, last: int, xp: Any) -> Any:
    """The picked probability over the row total (1 for an all-zero row), clipped, as Keras;
    ``index`` the labels, in range. Half precision comes as is: converted whole, or where
    `_by_row_slices` would slice it, the picked entries converted and the row totals summed
    in float32 by slices (`_converted_sum`), unless a tape may differentiate ``p``: through
    one conversion its gradient is rounded to half precision once, as the generic body's (the
    two parts' gradients, rounded apart, differed by an ulp)."""
    raw = tf.raw_ops
    if watched(p) or not _in_slices(tf, p, _width(p)):
        p = to_compute(xp, p)
    picked = to_compute(xp, raw.GatherV2(params=p, indices=index, axis=last, batch_dims=last))
    total = _row_total(tf, p, last, dtype=picked.dtype)
    return raw.Neg(x=raw.Log(x=_clip(tf, raw.RealDiv(x=picked, y=total))))


def _categorical(
    y: Any, p: Any, *, axis: int, from_logits: bool, label_smoothing: float, xp: Any, **_: Any
) -> tuple[Any, None] | None:
    """From logits: ``-sum(y where(kept, log_softmax(x), 0))``, the generic body's select
    (`xloss._losses.categorical_xp`: a zero target's ``-inf`` or nan entry counts 0) after
    TensorFlow's ``LogSoftmax`` op, whose gradient is one fused op too: the generic body's
    ``log_softmax`` differentiates its maximum, a term of rounding size that costs a mask
    over the logits and its count. From probabilities: ``-sum(y log(clip(p / total)))``,
    the generic body's formula in raw ops (smoothing is applied before kernels run)."""
    if label_smoothing:
        return None
    tf = sys.modules["tensorflow"]
    raw = tf.raw_ops
    if from_logits:
        log_p = _native_log_softmax(tf, to_compute(xp, p), axis)
        kept = raw.LogicalOr(x=raw.NotEqual(x=y, y=0.0), y=raw.Greater(x=log_p, y=-math.inf))
        terms = raw.Mul(x=y, y=raw.SelectV2(condition=kept, t=log_p, e=0.0))
        return raw.Neg(x=raw.Sum(input=terms, axis=axis)), None
    p = to_compute(xp, p)
    total = _row_total(tf, p, axis, keep_dims=True)
    terms = raw.Mul(x=y, y=raw.Log(x=_clip(tf, raw.RealDiv(x=p, y=total))))
    return raw.Neg(x=raw.Sum(input=terms, axis=axis)), None


def _row_total(
    tf: Any, p: Any, axis: int, keep_dims: bool = False, dtype: Any | None = None
) -> Any:
    """The sum along ``axis``, 1 for an all-zero row (its probabilities then clip to 1e-7);
    with ``dtype``, half-precision ``p`` summed in it along the last axis (`_converted_sum`)."""
    raw = tf.raw_ops
    if dtype is None or p.dtype == dtype:
        total = raw.Sum(input=p, axis=axis, keep_dims=keep_dims)
    else:
        total = _converted_sum(tf, p, dtype)
    return raw.SelectV2(condition=raw.NotEqual(x=total, y=0.0), t=total, e=1.0)


def _converted_sum(tf: Any, p: Any, dtype: Any) -> Any:
    """The sum of half-precision ``p`` along its last axis in ``dtype``, by slices of rows
    where fresh memory costs (`_by_row_slices`: 2048 x 8192 bfloat16 on an AVX2 CPU, 37 ms
    whole, 10 ms by slices of 8 MiB; the native bfloat16 sum takes 3 ms)."""
    raw = tf.raw_ops

    def total(part: Any) -> Any:
        return raw.Sum(input=raw.Cast(x=part, DstT=dtype), axis=-1)

    rows = raw.Reshape(tensor=p, shape=ints((-1, p.shape[-1])))
    return raw.Reshape(tensor=_by_row_slices(tf, rows, total, dtype.size), shape=ints(p.shape[:-1]))


def _clip(tf: Any, p: Any) -> Any:
    """``p`` clipped to ``[EPSILON, 1 - EPSILON]`` (nan stays nan), as Keras. Not with
    ``ClipByValue``: under ``tf.function`` Grappler fuses ``Maximum`` and ``Minimum`` better
    (categorical loss from probabilities on 2048 x 8192: 1.04x native with it, 0.98x without)."""
    return tf.raw_ops.Minimum(x=tf.raw_ops.Maximum(x=p, y=EPSILON), y=1.0 - EPSILON)


def _gumbel_argmax(
    u: Any, x: Any, *, block: int | None, xp: Any, shifted: bool = False, **_: Any
) -> Any:
    """`sample`'s Gumbel-max draw (``xloss._sampling.gumbel_argmax_xp``) in raw ops: eagerly
    the generic body's Python costs about 1 ms a call in two levels, more than the draw of 8 x
    32000 logits, and 40 us of 110 us in one level on 8 x 10. One level gives the generic
    body's draws, bit for bit; two give them but where two blocks' noisy masses come within
    rounding of each other (see the softmax below)."""
    tf = sys.modules["tensorflow"]
    raw = tf.raw_ops
    info = xp.finfo(u.dtype)
    u = raw.Minimum(x=raw.Maximum(x=u, y=float(info.smallest_normal)), y=1.0 - float(info.eps))
    neg_noise = raw.Log(x=raw.Neg(x=raw.Log1p(x=raw.Neg(x=u))))  # as `_neg_gumbel`
    if block is None:
        if not shifted:  # by the row's maximum, as `shift_xp`
            top = raw.Max(input=x, axis=-1, keep_dims=True)
            x = raw.Sub(x=x, y=raw.SelectV2(condition=raw.IsFinite(x=top), t=top, e=0.0))
        return raw.ArgMax(input=raw.Sub(x=x, y=neg_noise), dimension=-1)
    *batch, vocabulary = x.shape
    blocks, rows, n = vocabulary // block, math.prod(batch), u.shape[0]
    neg_noise = raw.Reshape(tensor=neg_noise, shape=ints((n, rows, -1)))
    first, second = raw.SplitV(value=neg_noise, size_splits=[blocks, block], axis=-1, num_split=2)
    x = raw.Reshape(tensor=x, shape=ints((rows, vocabulary)))
    total = _block_totals(tf, x, blocks)
    # A row with +inf, nan or only -inf has a nan softmax: its totals are the generic body's.
    finite = raw.IsFinite(x=raw.Sum(input=total, axis=-1, keep_dims=True))  # (rows, 1)
    total = tf.cond(
        raw.All(input=finite, axis=ints([0, 1])),
        lambda: total,
        lambda: raw.SelectV2(condition=finite, t=total, e=_exact_totals(tf, x, rows, blocks)),
    )
    some = raw.Greater(x=total, y=tf.zeros_like(total))
    mass = raw.Log(x=raw.SelectV2(condition=some, t=total, e=tf.ones_like(total)))
    mass = raw.SelectV2(condition=some, t=mass, e=tf.constant(-math.inf, mass.dtype))
    chosen = raw.ArgMax(input=raw.Sub(x=mass, y=first), dimension=-1)  # (n, rows)
    picked = raw.GatherV2(  # (rows, n, block): each draw's block
        params=raw.Reshape(tensor=x, shape=ints((rows, blocks, block))),
        indices=raw.Transpose(x=chosen, perm=ints([1, 0])),
        axis=1,
        batch_dims=1,
    )
    top = raw.Max(input=picked, axis=-1, keep_dims=True)  # shifted by the block's maximum
    picked = raw.Sub(
        x=picked, y=raw.SelectV2(condition=raw.IsFinite(x=top), t=top, e=tf.zeros_like(top))
    )
    second = raw.Transpose(x=second, perm=ints([1, 0, 2]))
    within = raw.Transpose(x=raw.ArgMax(input=raw.Sub(x=picked, y=second), dimension=-1),
                           perm=ints([1, 0]))  # fmt: skip
    drawn = raw.AddV2(x=raw.Mul(x=chosen, y=tf.constant(block, chosen.dtype)), y=within)
    return raw.Reshape(tensor=drawn, shape=ints((n, *batch)))


SLICE_BYTES = 8 << 20
"""Where TensorFlow's CPU allocator gives each array fresh pages (`_fresh_pages`), a row-wise
reduction that writes a logits-sized temporary runs on slices of rows whose temporaries take
at most this many bytes (at least a row each; see `_by_row_slices`)."""


def _by_row_slices(tf: Any, x: Any, reduce: Callable[[Any], Any], width: int) -> Any:
    """``reduce(x)`` for 2-D ``x`` and a ``reduce`` of its rows, whose temporaries take
    ``width`` bytes an entry of ``x``: on slices of rows of `SLICE_BYTES`, concatenated, where
    each array is fresh memory (`_fresh_pages`), whose pages fault when first written: the
    allocator reuses the slices' temporaries (2048 x 8192 float32 on an AVX2 CPU: `sample`'s
    blocks' totals took 54 ms whole and 16,385 page faults a call; 31 ms by slices of 8 MiB,
    none). Where the allocator keeps freed buffers, the whole input in one op is faster (20 ms
    against 35 ms)."""
    if not _in_slices(tf, x, width):
        return reduce(x)
    rows, columns = x.shape
    step = max(1, SLICE_BYTES // (columns * width))
    sizes = [min(step, rows - start) for start in range(0, rows, step)]
    # slices of the first axis share the input's memory
    slices = tf.raw_ops.SplitV(value=x, size_splits=ints(sizes), axis=0, num_split=len(sizes))
    return tf.raw_ops.ConcatV2(values=[reduce(part) for part in slices], axis=0)


def _in_slices(tf: Any, x: Any, width: int) -> bool:
    """Whether `_by_row_slices` computes on slices of ``x`` (with ``width`` bytes an entry)."""
    size = x.shape.num_elements()
    return size is not None and size * width > SLICE_BYTES and _fresh_pages() and on_cpu(tf, x)


def _block_totals(tf: Any, x: Any, blocks: int) -> Any:
    """The totals of ``blocks`` equal blocks of each row of ``softmax(x)``: the totals of
    ``exp(x - max)`` but for a common factor per row, which no argmax sees, and rounding. One
    fused ``Softmax`` op where the generic body's subtraction, ``exp`` and sum make three
    passes (2048 x 8192: 6 ms against 11 ms on an AVX-512 CPU), by slices where fresh memory
    costs (`_by_row_slices`)."""
    raw = tf.raw_ops

    def totals(part: Any) -> Any:
        probs = raw.Reshape(
            tensor=raw.Softmax(logits=part), shape=ints((-1, blocks, x.shape[1] // blocks))
        )
        return raw.Sum(input=probs, axis=-1)

    return _by_row_slices(tf, x, totals, x.dtype.size)


@functools.cache
def _fresh_pages() -> bool:
    """Whether TensorFlow's CPU allocator gives each large array fresh memory from the
    operating system. It keeps freed buffers where oneDNN is on (its pool allocator comes with
    it), which TensorFlow decides when loaded: on by default on CPUs with AVX512-VNNI,
    AVX512-BF16, AVX-VNNI or AMX, or as ``TF_ENABLE_ONEDNN_OPTS`` says. Read from TensorFlow's
    own answer, a private function (``IsMklEnabled``); where that is missing, the allocator is
    assumed to keep freed buffers (the whole-input ops: xloss's choice before it asked)."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return not _pywrap_util_port.IsMklEnabled()
    except (ImportError, AttributeError):
        return False


def _exact_totals(tf: Any, x: Any, rows: int, blocks: int) -> Any:
    """The generic body's block totals of ``exp(x - shift)`` (`xloss._activations.shift_xp`: a
    non-finite row maximum shifts by 0), for the rows whose softmax is ``nan``."""
    raw = tf.raw_ops
    top = raw.Max(input=x, axis=-1, keep_dims=True)
    shift = raw.SelectV2(condition=raw.IsFinite(x=top), t=top, e=tf.zeros_like(top))
    e = raw.Reshape(tensor=raw.Exp(x=raw.Sub(x=x, y=shift)), shape=ints((rows, blocks, -1)))
    return raw.Sum(input=e, axis=-1)


KERNELS: dict[str, Callable[..., Any]] = {
    "gumbel_argmax": _gumbel_argmax,
    "sparse": _sparse,
    "categorical": _or_xla(_categorical),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "logsumexp": _logsumexp,
    "binary": _or_xla(_binary),
    "logistic": _elementwise,
    "sigmoid_pair": _elementwise,
    "sigmoid_cross_entropy": _elementwise,
}
