"""JAX arrays and tracers (under ``jit``, ``grad``, ``vmap``), computed with ``jax.numpy``."""

from __future__ import annotations

import functools
import sys
from typing import Any

NAME = "jax"
TAKES_HALF = ("*",)  # its kernel is the generic body under jit: the upcast fuses in
HALF_TARGETS_FROM = 1 << 20
"""Half-precision targets of at least this many entries are converted inside the compiled body
too (see ``loss_inputs``), smaller ones eagerly first. Measured, eager, bfloat16 targets and
logits, converted inside / eagerly: 2048 x 8192 0.74x (categorical), 0.88x (binary); 1024 x
1024 0.99x and 0.76x; 64 x 1024 0.99x and 0.89x; 8 x 10 2.3x and 0.70x (XLA's CPU program for
the categorical body with bfloat16 targets takes 80 us there: measured, not understood)."""
DRAWS_IN_KERNEL = True  # `sample`'s uniforms are drawn inside that body: XLA fuses them in


def owns(x: Any) -> bool:
    # Tracers are not subclasses of jax.Array, but isinstance() recognises them.
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.Array)


def namespace(x: Any) -> Any:
    import jax.numpy as jnp

    return jnp


def device(x: Any) -> Any:
    # A tracer has no committed device; under jit, new arrays follow the computation's placement.
    # An array over several devices gives its Sharding, which fits only arrays of its rank: new
    # arrays stay uncommitted there, and JAX moves them to the sharded array they meet.
    if _is_tracer(x):
        return None
    place = x.device
    return place if isinstance(place, sys.modules["jax"].Device) else None


def readable(x: Any) -> Any:
    if _is_tracer(x) or not _top_level() or any(d.platform != "cpu" for d in x.devices()):
        return None
    return x


def _top_level() -> bool:
    """Whether no JAX transformation (``jit``, ``vmap``, ``grad``, ``scan``, ...) is tracing.
    Under ``jit`` even operations on concrete arrays are traced, so a check computing on a
    concrete array (the predictions, captured by a function of the targets) would meet a
    tracer. JAX's own test of its trace state is private (0.1 us); where it is missing, a
    probe: whether a new array is a tracer (a few us)."""
    clean = getattr(sys.modules.get("jax._src.core"), "trace_state_clean", None)
    if clean is not None:
        return bool(clean())
    return not _is_tracer(sys.modules["jax"].numpy.zeros(()))


def host_rows(x: Any, index: tuple[slice, ...]) -> Any:
    """``x[index]`` as a NumPy array, half precision widened to float32, for the value checks:
    sliced by a compiled program (an eager slice costs about four times its dispatch), since
    converting the whole array would copy it."""
    import numpy as np

    bounds = tuple((s.start, s.stop) for s in index)
    return np.asarray(_jitted(_rows, ("bounds",))(x, bounds=bounds))


def _rows(x: Any, *, bounds: tuple[tuple[Any, Any], ...]) -> Any:
    jnp = sys.modules["jax"].numpy
    rows = x[tuple(slice(start, stop) for start, stop in bounds)]
    return rows if rows.dtype in (jnp.float32, jnp.float64) else rows.astype(jnp.float32)


def _is_tracer(x: Any) -> bool:
    return isinstance(x, sys.modules["jax"].core.Tracer)


def kernel(name: str, generic: Any, xp: Any, *args: Any, **options: Any) -> Any:
    """The generic body under ``jax.jit``: one fused XLA computation instead of one dispatch
    per operation when called eagerly (under the caller's own ``jit`` it is inlined). Options
    are static, but for those `TRACED` names: arguments of the program, so that a new value
    runs the program compiled for the last; ``readable``/``checked`` are not the body's."""
    options.pop("readable", None)
    options.pop("checked", None)
    body = _NATIVE.get(name, generic)
    if name == "gumbel_sample" and isinstance(args[0], int):  # a seed: its key, made here
        args = (sys.modules["jax"].random.key(args[0]), *args[1:])
    fused = name == "categorical" and options["from_logits"] and not options["label_smoothing"]
    if fused and args[-1].size >= FUSED_TERMS_FROM:
        body = _categorical_from_logits
    if name in CLIPS:
        body = _clipping(body)
    run = _upcast_then_back if name in LIKE_INPUT else _upcast_then
    if name in NORMALISES and not options["from_logits"] and args[-1].dtype.itemsize == 2:
        run = _targets_upcast_then
        options["normalise"] = _normalised_apart
    if name == "sparse":
        run = _as_given
        options["maximum"] = _constant_maximum
        if args[-1].dtype.itemsize == 2:
            options["take"] = _take_bits
    static = tuple(sorted(_static(TRACED.get(name, ()), options)))
    return _jitted(run, static, 2)(body, xp, *args, **options)


TRACED = {
    "top_p": ("p", "fill_value"),
    "min_p": ("p", "fill_value"),
    "binary_focal": ("gamma",),
    "categorical_focal": ("alpha", "gamma"),
}
"""Per computation, the float options that are arguments of its program rather than constants
compiled into it: with a constant, each new value was a new program, compiled (50-350 ms a
call) and kept for good (top-p over 100 distinct ``p``: 390 ms a call, +280 MiB). As
arguments they are weakly typed scalars: they take the dtype of the arrays they meet, as the
Python float did, and with the same rounding, so the same values (to an ulp: XLA compiles an
argument into other code than a constant, 1 ulp in some float32 focal losses), since each meets
an array first (``mass_above >= p``, ``p * max``, ``alpha * terms``, ``full_like(x, fill_value)``).
Their bodies never branch on them in Python.

Static, for those bits, stay: options combined with other numbers before they meet an array
(the binary focal loss's ``1 - alpha``: computed in double precision from a Python float, in
float32 from an argument; label smoothing is applied before the kernels), and the values
`_static` names. A caller's traced hyperparameter (an argument of its own ``jit``, or what its
``grad`` differentiates) is an argument of the program whatever the option (`_is_array`): it
has no value to compile in. The bodies take it as they take these arguments."""


def _static(traced: tuple[str, ...], options: dict[str, Any]) -> list[str]:
    """The names of ``options`` compiled into the program: those not in ``traced`` (but for the
    caller's traced values, `_is_array`), and the Python values XLA simplifies as constants,
    into other bits than the argument's (measured):

    - ``gamma`` at multiples of 0.5. 0 is no focal factor at all (the body tests it); XLA
      rewrites ``x ** c`` for a constant 0.5, 2 or 3 into ``sqrt`` and products (1-ulp
      differences from ``pow`` in 0.1% of the entries, 25% at 3), and the derivatives take
      ``x ** (c - 1)``, ``x ** (c - 2)``..., multiples of 0.5 too.
    - ``alpha`` (categorical) of 1, every weight: XLA drops the product, and with label
      smoothing sums the rest in another order (1-ulp differences in a third of the losses).

    Other values (a schedule, a search) share one program."""
    static = [
        k for k, v in options.items() if k not in traced and (type(v) in _PLAIN or not _is_array(v))
    ]
    if "gamma" in traced:
        gamma = options["gamma"]
        if not _is_array(gamma) and float(2.0 * gamma).is_integer():
            static.append("gamma")
    if "alpha" in traced and not _is_array(options["alpha"]):
        alpha = options["alpha"]
        if all(a == 1.0 for a in (alpha if isinstance(alpha, tuple) else (alpha,))):
            static.append("alpha")
    return static


_PLAIN = frozenset({bool, int, float, str, type(None)})
"""Option types that are never a JAX array: `_static` asks `_is_array` about the others only
(0.3 us an option, four or five a loss call)."""


def _is_array(value: Any) -> bool:
    """Whether an option is a JAX array, or a tuple holding one: the caller's traced
    hyperparameter (`xloss._validation.as_number`), which is never static (it has no value,
    and no hash), whatever `TRACED` says."""
    values = value if isinstance(value, tuple) else (value,)
    return any(isinstance(v, sys.modules["jax"].Array) for v in values)


# jax.nn's own, where they compute what the generic bodies compute (x - max, exp, sum, log):
# the same numbers, in the fusions XLA knows best.
def _softmax(xp: Any, x: Any, *, axis: int) -> Any:
    return sys.modules["jax"].nn.softmax(x, axis=axis)


def _log_softmax(xp: Any, x: Any, *, axis: int) -> Any:
    return sys.modules["jax"].nn.log_softmax(x, axis=axis)


def _logsumexp(xp: Any, x: Any, *, axis: int, keepdims: bool) -> Any:
    return sys.modules["jax"].nn.logsumexp(x, axis=axis, keepdims=keepdims)


_NATIVE = {"softmax": _softmax, "log_softmax": _log_softmax, "logsumexp": _logsumexp}


FUSED_TERMS_FROM = 1 << 16
"""Logits of at least this many entries take `_categorical_from_logits`. On smaller ones its
program, run after the eager conversion of the targets, took 50-60 us against the generic
body's 17 us (8 x 10; measured, not understood); from 64 x 1000 on it is faster."""


def _categorical_from_logits(xp: Any, y: Any, x: Any, *, axis: int, **_: Any) -> Any:
    """The generic body's terms, ``y log_softmax(x)``, 0 where a zero target meets a ``-inf``
    logit, selected after the product too: XLA then converts half-precision targets inside the
    product instead of writing out a float32 copy of them (2048 x 8192 bfloat16 under
    ``jit``: 1.47x -> 0.98x optax; float32 compiles to as many arrays either way). The inner
    select keeps the gradient for those targets 0 (not ``0 * -inf = nan``); elsewhere a
    target's gradient is log_softmax's entry, also where the target is 0."""
    jnp = sys.modules["jax"].numpy
    log_p = _log_softmax(xp, x, axis=axis)
    kept = (y != 0) | (log_p > -jnp.inf)
    terms = jnp.where(kept, y * jnp.where(kept, log_p, 0.0), 0.0)
    return -jnp.sum(terms, axis=axis), None


def _as_given(generic: Any, xp: Any, *args: Any, **options: Any) -> Any:
    """The sparse loss takes half precision as given: its generic body gathers it
    (`_take_bits`), and widens it only where it sums it in float32 (the maximum of the logits
    is exact in half precision). Each widened reader otherwise shares one widened copy that
    XLA writes out: 2048 x 8192 bfloat16 from logits under ``jit``, 1.16-1.18x -> 0.28-0.33x
    optax's time; from probabilities (below) 20-25 ms -> 0.9 ms."""
    return generic(xp, *args, **options)


def _constant_maximum(x: Any, axis: int) -> Any:
    """The row maximum the sparse loss from logits is shifted by, a constant for
    differentiation, as in ``jax.nn.logsumexp``: the loss does not depend on it, so its
    derivative through the maximum is 0 in exact arithmetic; computed, it is a term of rounding
    size that costs XLA passes over the logits (an equality mask, a count, a product):
    ``jit(grad)`` of the mean loss on 2048 x 8192 float32, against optax's, 2.03x -> 0.87x."""
    jax = sys.modules["jax"]
    return jax.lax.stop_gradient(jax.numpy.max(x, axis=axis, keepdims=True))


def _take_bits(x: Any, index: Any, *, axis: int) -> Any:
    """``take_along_axis`` of 16-bit floats through their bits. XLA's CPU compiler computes
    16-bit float operations in float32: a gather from ``x`` becomes a gather from a widened
    copy, which the row sum beside it then shares, and XLA writes that copy out (2048 x 8192
    bfloat16: 20-25 ms against 0.9 ms; the native ``jnp.take_along_axis`` with ``p.sum(-1)``
    takes 20 ms under ``jit`` too). Integers are not widened: the same values, exactly.
    Differentiable as ``take_along_axis`` is (a bitcast alone has no gradient: 0)."""
    return _differentiable_take_bits()(x, index, axis)


@functools.cache
def _differentiable_take_bits() -> Any:
    jax = sys.modules["jax"]
    jnp = jax.numpy

    @functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
    def take(x: Any, index: Any, axis: int) -> Any:
        bits = jax.lax.bitcast_convert_type(x, jnp.uint16)
        return jax.lax.bitcast_convert_type(jnp.take_along_axis(bits, index, axis=axis), x.dtype)

    @take.defjvp
    def _(axis: int, primals: Any, tangents: Any) -> Any:
        (x, index), (dx, _) = primals, tangents
        return take(x, index, axis), jnp.take_along_axis(dx, index, axis=axis)

    return take


CLIPS = ("categorical", "binary", "categorical_focal", "binary_focal")
"""The computations whose bodies clip logits-sized probabilities: with `_clip_kept_apart`."""


@functools.cache
def _clipping(body: Any) -> Any:
    """``body`` with `_clip_kept_apart` for its clip: one object per body, so that the compiled
    program it is a static argument of is found again."""
    return functools.partial(body, clip=_clip_kept_apart)


def _clip_kept_apart(xp: Any, p: Any) -> Any:
    """`xloss._losses._clip_probabilities`, the same values and gradients, in a form that XLA's
    CPU compiler fuses into the loss. The ``where``s compile to compares and selects, and a
    maximum and minimum by constants to a ``clamp``: XLA's CPU fusions of the logs and the row
    sum take neither, so the clipped probabilities were written out as a logits-sized array and
    read back. Here the bounds pass an optimisation barrier: no longer constants to XLA, they
    stay a maximum and a minimum, which those fusions take (XLA drops the barrier after its
    simplification). 2048 x 8192 under ``jit``, against the native expressions (``jnp.clip``,
    whose float32 clamp is written out too): the binary loss 0.98x -> 0.49-0.59x, bfloat16
    2.23x -> 1.08-1.11x; the categorical loss 0.97x -> 0.42-0.50x. Differentiated as the
    ``where``s are: the whole gradient at a bound (``jnp.clip`` gives half of it there) and
    through ``nan``."""
    return _differentiable_clip()(p)


@functools.cache
def _differentiable_clip() -> Any:
    from xloss._losses import EPSILON

    jax = sys.modules["jax"]
    jnp = jax.numpy
    high = 1.0 - EPSILON

    @jax.custom_jvp
    def clip(p: Any) -> Any:
        low_bound, high_bound = jax.lax.optimization_barrier(
            (jnp.asarray(EPSILON, p.dtype), jnp.asarray(high, p.dtype))
        )
        # Inside XLA's CPU fusions a maximum or minimum whose second operand is not nan drops
        # a nan first operand (against XLA's own semantics and its unfused code): the nan is
        # put back, 0 * sign(p) being 0 for every other p, infinities included (3 ms of the
        # 22 ms bfloat16 binary loss above).
        return jnp.minimum(jnp.maximum(p, low_bound), high_bound) + 0.0 * jnp.sign(p)

    @clip.defjvp
    def _(primals: Any, tangents: Any) -> Any:
        (p,), (dp,) = primals, tangents
        outside = (p < EPSILON) | (p > high)
        return clip(p), jnp.where(outside, jnp.zeros_like(dp), dp)

    return clip


NORMALISES = ("categorical", "categorical_focal")
"""The computations whose bodies divide probabilities by their row total: half precision is
given to them as it is (`_targets_upcast_then`), with `_normalised_apart` for the division."""


def _normalised_apart(xp: Any, p: Any, axis: int) -> Any:
    """`xloss._losses._normalised` of half-precision ``p``: ``p`` widened to float32 and
    divided by its total, the total read through an optimisation barrier. The body reads ``p``
    twice, for the total and for the division, each widened; XLA merged the two conversions
    into one and wrote that widened copy out for both readers (a logits-sized float32 array,
    as the native program does). Behind the barrier they are two, each fused into its reader.
    2048 x 8192 bfloat16 under ``jit``, the categorical loss from probabilities against the
    native expression: 1.01-1.19x -> 0.35-0.46x. The same values (the conversion is exact);
    differentiated as the body of the widened input is, so that the gradient is rounded to
    half precision once, not once per reader."""
    return _differentiable_normalised(axis)(p)


@functools.cache
def _differentiable_normalised(axis: int) -> Any:
    from xloss._losses import _normalised, _row_total
    from xloss._validation import to_compute

    jax = sys.modules["jax"]
    jnp = jax.numpy

    def widened(p: Any) -> Any:  # the generic body's: converted first
        return _normalised(jnp, to_compute(jnp, p), axis)

    @jax.custom_jvp
    def normalised(p: Any) -> Any:
        return p / _row_total(jnp, jax.lax.optimization_barrier(p), axis)

    @normalised.defjvp
    def _(primals: Any, tangents: Any) -> Any:
        return jax.jvp(widened, primals, tangents)

    return normalised


def _targets_upcast_then(generic: Any, xp: Any, *args: Any, **options: Any) -> Any:
    """The body with half-precision targets upcast (as `_upcast_then`) and the probabilities
    as given: widened where the body divides them by their total (`_normalised_apart`)."""
    from xloss._validation import to_compute

    return generic(xp, to_compute(xp, args[0]), *args[1:], **options)


def _upcast_then(generic: Any, xp: Any, *args: Any, **options: Any) -> Any:
    from xloss._fast import upcast

    return generic(xp, *upcast(xp, args, targets=True), **options)


LIKE_INPUT = ("softmax", "log_softmax", "logsumexp")
"""Computations whose results are returned in their input's dtype (the caller's: see
`xloss._activations`). `_upcast_then_back` converts half precision back inside the compiled
body, where an eager conversion after it would be a dispatch of its own, and on large inputs
a written float32 array: bfloat16, xloss / ``jax.nn``'s eager, 8 x 10 ``log_softmax`` 4.6x ->
2.1x, ``softmax`` 0.71x -> 0.31x; 2048 x 8192 0.99x -> 0.95x and 0.89x -> 0.82x. The same
bits: the conversion rounds as the eager one does."""


def _upcast_then_back(generic: Any, xp: Any, *args: Any, **options: Any) -> Any:
    return _upcast_then(generic, xp, *args, **options).astype(args[-1].dtype)


@functools.cache
def _jitted(fn: Any, static: tuple[str, ...], leading_static: int = 0) -> Any:
    """``fn`` under ``jax.jit`` with the named and the first ``leading_static`` positional
    arguments static (the generic body and the namespace)."""
    jit = sys.modules["jax"].jit
    return jit(fn, static_argnums=tuple(range(leading_static)), static_argnames=static)


def top_k(x: Any, k: int, axis: int, largest: bool) -> tuple[Any, Any]:
    """``jax.lax.top_k``: stable on ties, NaN first; zeros made one (it orders -0.0 below 0.0).
    16-bit floats are selected in float32, integers at k = 1 by ``argmax`` (`_top_k`).

    For the smallest entries of a float array the key is ``-x`` with NaN as ``-inf``, exact
    unless a row holds both NaN and +inf; ``lax.cond`` sends such calls to order-preserving
    integer keys (slower: XLA's fast TopK is for floats). Compiled once per shape and options:
    eagerly, ``lax.cond``'s fresh closures would otherwise be traced and compiled every call.
    """
    return _jitted(_top_k, ("axis", "k", "largest"))(x, k=k, axis=axis, largest=largest)


def _top_k(x: Any, *, k: int, axis: int, largest: bool) -> tuple[Any, Any]:
    jax = sys.modules["jax"]
    jnp, lax = jax.numpy, jax.lax
    last = x.ndim - 1
    moved = jnp.moveaxis(x, axis, last) if axis != last else x
    if x.dtype.itemsize == 2 and jnp.issubdtype(x.dtype, jnp.floating):
        # Selected in float32, which holds 16-bit floats exactly (order, ties, -0.0 and NaN
        # kept); the values are gathered from x. XLA's CPU TopK on 16-bit floats takes up to
        # 70x its float32 time with the conversion (2048 x 8192 bfloat16: 2.6 s at any k,
        # against 38 ms at k = 1 and 470 ms at k = 1000; 64 x 1024, k = 1: 8.8 ms, 0.09 ms).
        moved = moved.astype(jnp.float32)

    def select(key: Any) -> Any:
        return lax.top_k(key, k)[1]

    if not jnp.issubdtype(x.dtype, jnp.floating):
        key = moved if largest else ~moved  # ~ reverses integers' order exactly
        # XLA's CPU TopK is slow on integers: at k = 1 argmax (the first of tied entries) is
        # one reduction (2048 x 8192 int32: 0.005x the time)
        indices = jnp.argmax(key, axis=-1, keepdims=True) if k == 1 else select(key)
    elif largest:
        # lax.top_k orders -0.0 below 0.0: that matters only when a zero is among the K best
        # (zeros tie with nothing else), and only then are the zeros made one.
        best, fast = lax.top_k(moved, k)
        indices = lax.cond(
            jnp.any(best == 0),
            lambda: select(jnp.where(moved == 0, jnp.zeros_like(moved), moved)),
            lambda: fast,
        )
    else:
        nan = jnp.isnan(moved)
        fast = jnp.where(nan, -jnp.inf, -jnp.where(moved == 0, jnp.zeros_like(moved), moved))
        both = jnp.any(nan) & jnp.any(moved == jnp.inf)
        indices = lax.cond(both, lambda: select(~_sortable_key(jax, moved)), lambda: select(fast))
    indices = jnp.moveaxis(indices, last, axis) if axis != last else indices
    indices = indices.astype(jnp.__array_namespace_info__().default_dtypes()["indexing"])
    return jnp.take_along_axis(x, indices, axis=axis), indices


def _sortable_key(jax: Any, x: Any) -> Any:
    """Integers ordered like ``x``'s values: NaN above +inf (all NaNs equal), -0.0 == 0.0."""
    jnp = jax.numpy
    int_type = jnp.dtype(f"int{x.dtype.itemsize * 8}")
    top = jnp.iinfo(int_type).max
    # -0.0 becomes 0.0 (not with x + 0: compilers fold that away)
    bits = jax.lax.bitcast_convert_type(jnp.where(x == 0, jnp.zeros_like(x), x), int_type)
    key = jnp.where(bits < 0, bits ^ top, bits)
    return jnp.where(jnp.isnan(x), top, key)


def check_rng(rng: Any, like: Any) -> None:
    """``rng`` (not an int seed) must be one JAX PRNG key: typed (``jax.random.key``) or a legacy
    raw ``uint32`` key (``jax.random.PRNGKey``); tracers of either under ``jit`` included."""
    jax = sys.modules["jax"]
    if isinstance(rng, jax.Array):
        if jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key) and rng.ndim == 0:
            return
        if rng.dtype == jax.numpy.uint32 and rng.ndim == 1:
            return
    described = f"{type(rng).__module__}.{type(rng).__qualname__}"
    if isinstance(rng, jax.Array):
        described += f" of dtype {rng.dtype} and shape {tuple(rng.shape)}"
    raise TypeError(
        f"`rng` must be an int seed or a single JAX PRNG key (jax.random.key(seed) or "
        f"jax.random.PRNGKey(seed)) for JAX logits; received {described}."
    )


def random_uniform(rng: Any, shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """Uniforms from the key as given (never split), or ``jax.random.key(seed)``: float64's
    ``jax.random.uniform``; for float32, 64 random bits (`xloss.adapters`: its float32 draws
    hold 23), ``hi / 2**32 + lo / 2**64`` rounded to float32 (without x64 there is no
    float64 to draw)."""
    jax = sys.modules["jax"]
    key = jax.random.key(rng) if isinstance(rng, int) else rng
    if dtype == jax.numpy.float64:
        u = jax.random.uniform(key, shape, dtype)
    else:
        bits = jax.random.bits(key, (2, *shape), jax.numpy.uint32).astype(dtype)
        u = bits[0] * 2.0**-32 + bits[1] * 2.0**-64
    place = device(like)
    if place is not None and not _is_tracer(u) and u.device != place:
        u = jax.device_put(u, place)
    return u
